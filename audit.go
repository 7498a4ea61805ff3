package garde

import (
	"context"
	"encoding/hex"
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

// subjectRef is the audit trail's name for a subject: a keyed hash of the
// tenant's identifier for it. It lets an auditor follow one subject across
// events, and lets a breach investigation count subjects, without the
// trail ever holding the identifier.
func subjectRef(tk *tenantKeys, subject string) string {
	return hex.EncodeToString(keyring.MAC(tk.audit, []byte(subject))[:16])
}

// Audit returns audit events of the caller's tenant (admin and DPO).
func (s *Service) Audit(ctx context.Context, p Principal, f AuditFilter) ([]AuditEvent, error) {
	if err := authorize(p, permAuditRead); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > MaxAuditPage {
		f.Limit = MaxAuditPage
	}
	if !f.Until.IsZero() && f.Until.Before(f.Since) {
		return nil, Invalid("until", "is before since")
	}
	var events []AuditEvent
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		events, err = tx.Audit(ctx, p.Tenant, f)
		return err
	})
	return events, err
}

// recordDenied writes the audit event of a refused call in its own
// transaction: the refused work was rolled back, its trace must not be.
func (s *Service) recordDenied(ctx context.Context, e AuditEvent) {
	e.Outcome = OutcomeDenied
	if e.At.IsZero() {
		e.At = s.clock.Now()
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
	_ = s.store.Update(dctx, func(tx Tx) error {
		return tx.AppendAudit(dctx, []AuditEvent{e})
	})
}

// deniedAuditTimeout bounds the audit write of a refusal, which outlives
// the request's own context.
const deniedAuditTimeout = 10 * time.Second
