package garde

import (
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/garde-privacy/garde/keyring"
)

// Audit actions.
const (
	ActionAuthFail       = "auth.fail"
	ActionTenantCreate   = "tenant.create"
	ActionKeyCreate      = "key.create"
	ActionKeyRevoke      = "key.revoke"
	ActionKeyRecover     = "key.recover_admin"
	ActionKeysRotate     = "keys.rotate"
	ActionRegisterApply  = "register.apply"
	ActionMessageWrite   = "message.write"
	ActionMessageRead    = "message.read"
	ActionSubjectKeyDrop = "subject.key_destroy"
	ActionAuditRead      = "audit.read"
)

// AuditAction describes one action of the audit trail, for whoever reads
// the trail: the dashboard's filter, the API documentation.
type AuditAction struct {
	Action   string
	Label    string // English
	LabelFR  string // French
	Operator bool   // recorded only in the operator's trail, which no tenant reads
}

// AuditActions lists every action the trail records, once. A test parses
// the package for Action constants and fails on any missing here, and
// checks the dashboard's filter and docs/api.md against this list.
var AuditActions = []AuditAction{
	{ActionAuthFail, "authentication failed", "échec d'authentification", false},
	{ActionAuthLockout, "client address locked out", "adresse cliente bloquée", true},
	{ActionTenantCreate, "tenant created", "organisation créée", false},
	{ActionTenantOffboard, "tenant off-boarded", "organisation sortie", false},
	{ActionKeyCreate, "API key created", "clé d'API créée", false},
	{ActionKeyRecover, "admin key recovered by the operator", "clé d'administration rétablie par l'opérateur", false},
	{ActionKeyRevoke, "API key revoked", "clé d'API révoquée", false},
	{ActionKeysRotate, "keys rotated", "clés renouvelées", false},
	{ActionRegisterApply, "register applied", "registre appliqué", false},
	{ActionMessageWrite, "message written", "message enregistré", false},
	{ActionMessageRead, "messages read", "messages lus", false},
	{ActionMessageRectify, "message rectified", "message rectifié", false},
	{ActionMessageErase, "message erased", "message effacé", false},
	{ActionMessageAnonymize, "message anonymised", "message anonymisé", false},
	{ActionSubjectKeyDrop, "subject key destroyed", "clé de la personne détruite", false},
	{ActionSubjectErase, "subject erased", "personne effacée", false},
	{ActionSubjectExport, "subject's data exported", "données de la personne exportées", false},
	{ActionRestrictionApply, "processing restricted", "traitement limité", false},
	{ActionAuditRead, "audit trail read", "journal d'audit lu", false},
	{ActionNoticePublish, "consent notice published", "notice de consentement publiée", false},
	{ActionConsentGrant, "consent granted", "consentement donné", false},
	{ActionConsentWithdraw, "consent withdrawn", "consentement retiré", false},
	{ActionConsentRead, "consent read", "consentement consulté", false},
	{ActionRequestFile, "request filed", "demande déposée", false},
	{ActionRequestVerify, "request identity verified", "identité de la demande vérifiée", false},
	{ActionRequestChange, "request changed", "demande modifiée", false},
	{ActionRequestAlarm, "request deadline alarm", "alerte d'échéance de demande", false},
	{ActionRecipientNotify, "recipient notified", "destinataire notifié", false},
	{ActionRetentionPurge, "retention purge", "purge de conservation", false},
	{ActionBreachCreate, "breach entered", "violation enregistrée", false},
	{ActionBreachUpdate, "breach updated", "violation mise à jour", false},
	{ActionBreachImpact, "breach impact computed", "impact de la violation calculé", false},
}

// Audit outcomes.
const (
	OutcomeOK     = "ok"
	OutcomeDenied = "denied"
)

// AuditEvent records one access or change. It holds no personal data: the
// subject is a keyed hash of its identifier, and Reason is a fixed code.
type AuditEvent struct {
	Tenant     TenantID
	Seq        int64 // assigned by the store, increasing
	At         time.Time
	Actor      string // API key id, or "cli" for the command line
	Action     string
	Purpose    string
	SubjectRef string
	Outcome    string
	Count      int // records read or written
	Reason     string
}

// AuditFilter selects audit events. Zero fields do not filter.
type AuditFilter struct {
	Since, Until time.Time
	Action       string
	Actor        string
	Purpose      string
	AfterSeq     int64
	Limit        int
}

// MaxAuditPage bounds one page of audit events.
const MaxAuditPage = 1000

// The audit trail names a subject by a reference: a keyed hash that lets
// an auditor follow one subject across events and a breach investigation
// count subjects, without the trail ever holding the identifier. The key
// is the subject's own data key (subjectKeyRef): once an erasure destroyed
// it, nothing can tell which events were that person's. An identifier garde
// holds nothing for (a refused first write, a request about an unknown
// subject) has no data key: its reference is keyed by the tenant's audit
// key (tenantSubjectRef), which says no more than that the same unknown
// identifier came twice.

// SubjectKeyRef is the reference of a subject with a data key.
func SubjectKeyRef(dk keyring.Key, subjectID string) string {
	k := keyring.Derive(dk, "audit-subject-ref")
	defer clear(k[:])
	return hex.EncodeToString(keyring.MAC(k, []byte(subjectID))[:16])
}

// TenantSubjectRef is the reference of an identifier garde holds no key for.
func TenantSubjectRef(tk *TenantKeys, subject string) string {
	return hex.EncodeToString(keyring.MAC(tk.Audit, []byte(subject))[:16])
}

// SubjectRef returns the audit reference of subject, looking the subject
// up when rec is nil.
func (s *Kernel) SubjectRef(ctx context.Context, tx Tx, tk *TenantKeys, tenant TenantID, subject string, rec *SubjectRecord) (string, error) {
	if rec == nil {
		r, err := tx.SubjectByIndex(ctx, tenant, keyring.MAC(tk.Blind, []byte(subject)))
		if errors.Is(err, ErrNotFound) {
			return TenantSubjectRef(tk, subject), nil
		}
		if err != nil {
			return "", err
		}
		rec = &r
	}
	opened, err := s.openSubjects(ctx, tx, tenant, []string{rec.ID})
	if errors.Is(err, ErrSubjectErased) {
		return TenantSubjectRef(tk, subject), nil
	}
	if err != nil {
		return "", err
	}
	return opened[rec.ID].ref, nil
}

// Audit returns audit events of the caller's tenant (admin and DPO).
func (s *Kernel) Audit(ctx context.Context, p Principal, f AuditFilter) ([]AuditEvent, error) {
	if _, err := Enter(p, OpAuditRead); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > MaxAuditPage {
		f.Limit = MaxAuditPage
	}
	if !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, Invalid("until", "is before since")
	}
	var events []AuditEvent
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		events, err = tx.Audit(ctx, p.Tenant, f)
		return err
	})
	return events, err
}

// RecordDenied writes the audit event of a refused call in its own
// transaction: the refused work was rolled back, its trace must not be.
func (s *Kernel) RecordDenied(ctx context.Context, e AuditEvent) {
	e.Outcome = OutcomeDenied
	if e.At.IsZero() {
		e.At = s.Now()
	}
	// The refusal is audited even when the client has hung up: the
	// request's context is cancelled then, and a write under it would
	// vanish (a guesser that disconnects must not leave no trace). So the
	// write runs under a context detached from the request, bounded so
	// that a stuck database cannot hold the handler for ever.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deniedAuditTimeout)
	defer cancel()
	// An audit write that fails here has nowhere better to go than the
	// error the caller already returns; the store logs its own failures.
	_ = s.Store.Update(dctx, func(tx Tx) error {
		return tx.AppendAudit(dctx, []AuditEvent{e})
	})
}

// deniedAuditTimeout bounds the audit write of a refusal, which outlives
// the request's own context.
const deniedAuditTimeout = 10 * time.Second

// Audit actions of the breach register; the event's Reason is the breach
// id. An impact computation also leaves an audit.read event in the trail
// of every tenant it searched.
const (
	ActionBreachCreate = "breach.create"
	ActionBreachUpdate = "breach.update"
	ActionBreachImpact = "breach.impact"
)

// Audit actions of consent.
const (
	ActionNoticePublish    = "notice.publish"
	ActionConsentGrant     = "consent.grant"
	ActionConsentWithdraw  = "consent.withdraw"
	ActionConsentRead      = "consent.read"
	ActionMessageErase     = "message.erase"
	ActionMessageAnonymize = "message.anonymize"
)

// Audit actions of rights.
const (
	ActionRequestFile      = "request.file"
	ActionRequestVerify    = "request.verify"
	ActionRequestChange    = "request.change"
	ActionRequestAlarm     = "request.alarm"
	ActionSubjectErase     = "subject.erase"
	ActionSubjectExport    = "subject.export"
	ActionMessageRectify   = "message.rectify"
	ActionRetentionPurge   = "retention.purge"
	ActionTenantOffboard   = "tenant.offboard"
	ActionRecipientNotify  = "recipient.notify"
	ActionRestrictionApply = "subject.restrict"
)

// RecentPurges returns the latest retention purges of the caller's
// tenant, newest first, at most limit.
func (s *Kernel) RecentPurges(ctx context.Context, p Principal, since time.Time, limit int) ([]AuditEvent, error) {
	events, err := s.Audit(ctx, p, AuditFilter{Since: since, Action: ActionRetentionPurge})
	if err != nil {
		return nil, err
	}
	slices.Reverse(events)
	if len(events) > limit {
		events = events[:limit]
	}
	return events, nil
}

// RightsCounters are process-wide counters of rights work, for /metrics.
// They carry no tenant and no subject.
type RightsCounters struct {
	AlarmsDueSoon, AlarmsOverdue         atomic.Int64
	Erasures                             atomic.Int64
	PurgedMessages, PurgeRuns            atomic.Int64
	DeliveriesOK, DeliveriesFailed, Dead atomic.Int64
	RequestsFiled                        atomic.Int64
}

// RightsMetrics are the counters of this process.
var RightsMetrics RightsCounters
