package consent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
)

// Consent that can be proved (GDPR Art. 7(1)): versioned notices, grant and
// withdrawal events committed to the tenant's Merkle log, receipts the
// person keeps, and writes refused without a current grant.

// How a consent was collected.
var consentMethods = []string{"chat", "web", "email", "paper", "api"}

// Limits on consent input.
const (
	MaxNoticeLen     = 64 << 10
	MaxEvidenceLen   = 64 << 10
	MaxUserAgentLen  = 512
	MaxConsentBatch  = 10000
	consentSaltBytes = ledger.SaltSize
)

var languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$`)

func consentAD(t garde.TenantID, subjectID, id, field string) keyring.AD {
	return keyring.AD{Tenant: string(t), Subject: subjectID, Record: id, Field: field}
}

// consentContent is the canonical content of a consent event: the bytes
// the ledger commits to and a receipt carries. Field order is fixed by the
// struct, so the same event always encodes to the same bytes.
type consentContent struct {
	V            int    `json:"v"`
	Tenant       string `json:"tenant"`
	ID           string `json:"id"`
	Subject      string `json:"subject"`
	Purpose      string `json:"purpose"`
	Action       string `json:"action"`
	Notice       int    `json:"notice_version"`
	Language     string `json:"language"`
	NoticeHash   string `json:"notice_hash"`
	Method       string `json:"method"`
	Channel      string `json:"channel,omitempty"`
	At           string `json:"at"`
	RecordedBy   string `json:"recorded_by"`
	IPHash       string `json:"ip_hash,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	EvidenceHash string `json:"evidence_hash,omitempty"`
	// RegisterVersion and TermsHash pin the register as the receipt shows
	// it (controller, DPO, purpose): see receiptTerms.
	RegisterVersion int    `json:"register_version"`
	TermsHash       string `json:"terms_hash"`
}

// consentPurpose returns the purpose if it is in the register with consent
// as its legal basis.
func consentPurpose(pass garde.Pass, reg *register.Register, purpose, field string) (*register.Purpose, error) {
	if purpose == "" {
		return nil, garde.Invalid(field, "is required")
	}
	pp, err := pass.Purpose(reg, purpose, field)
	if err != nil {
		return nil, err
	}
	if pp.LegalBasis != "consent" {
		return nil, garde.Invalid(field, "purpose %q has legal basis %s, not consent: there is no consent to record for it", purpose, pp.LegalBasis)
	}
	return pp, nil
}

// ConsentInput is one consent event to record.
type ConsentInput struct {
	Subject string
	Purpose string
	Action  string // grant or withdraw
	// Notice is the notice version the person saw; 0 means the latest in
	// Language.
	Notice int
	// Language of the notice; may be left empty when only one language
	// has that version.
	Language string
	Method   string // chat, web, email, paper, api
	Channel  string // optional, as for messages
	// UserAgent and IP are where the person acted from. The IP address is
	// recorded only as a keyed hash.
	UserAgent string
	IP        string
	// Evidence is an optional JSON document (a signed form, a chat
	// transcript reference), sealed under the subject's key; the ledger
	// commits to its hash.
	Evidence []byte
}

// ConsentResult is what recording one consent event produced.
type ConsentResult struct {
	ID      string
	Receipt garde.Receipt
	// Withdrawal is what a withdrawal did to the data already stored
	// (zero for a grant).
	Withdrawal WithdrawalEffect
}

func (in *ConsentInput) validate(prefix string, ve *garde.ValidationError) {
	if err := garde.ValidateSubjectID(prefix+"subject", in.Subject); err != nil {
		ve.Problems = append(ve.Problems, err.(*garde.ValidationError).Problems...)
	}
	if in.Purpose == "" {
		ve.Add(prefix+"purpose", "is required")
	}
	if in.Action != garde.ConsentGrant && in.Action != garde.ConsentWithdraw {
		ve.Add(prefix+"action", "must be grant or withdraw")
	}
	if !slices.Contains(consentMethods, in.Method) {
		ve.Add(prefix+"method", "must be one of %s", strings.Join(consentMethods, ", "))
	}
	if in.Channel != "" && !slices.Contains(garde.Channels, in.Channel) {
		ve.Add(prefix+"channel", "must be one of %s", strings.Join(garde.Channels, ", "))
	}
	if in.Notice < 0 {
		ve.Add(prefix+"notice", "must be a notice version (1, 2, …), or omitted for the latest")
	}
	if in.Language != "" && !languagePattern.MatchString(in.Language) {
		ve.Add(prefix+"language", "must be a BCP 47 language tag such as fr or en-GB")
	}
	if len(in.UserAgent) > MaxUserAgentLen || !utf8.ValidString(in.UserAgent) {
		ve.Add(prefix+"user_agent", "must be valid UTF-8 of at most %d bytes", MaxUserAgentLen)
	}
	if in.IP != "" {
		if _, err := netip.ParseAddr(in.IP); err != nil {
			ve.Add(prefix+"ip", "is not an IP address")
		}
	}
	if len(in.Evidence) > 0 {
		if len(in.Evidence) > MaxEvidenceLen {
			ve.Add(prefix+"evidence", "is longer than %d bytes", MaxEvidenceLen)
		} else if !json.Valid(in.Evidence) {
			ve.Add(prefix+"evidence", "is not valid JSON")
		}
	}
}

// RecordConsent records one consent event (see RecordConsents).
//
// Concurrent calls by the same credential are committed together (group
// commit): the first caller leads and records, in one transaction under
// one signed checkpoint, every event queued meanwhile; each caller gets its
// own receipt. A batch that fails is retried event by event, so that each
// caller gets its own error. This is what lets single events, one per HTTP
// request, reach the throughput of batches.
func (s *Service) RecordConsent(ctx context.Context, p garde.Principal, in ConsentInput) (ConsentResult, error) {
	if _, err := garde.Enter(p, garde.OpConsentRecord); err != nil {
		return ConsentResult{}, err
	}
	ve := &garde.ValidationError{}
	in.validate("", ve)
	if err := ve.Err(); err != nil {
		return ConsentResult{}, err
	}
	return s.queue.Do(ctx, p, in, garde.GroupOps[ConsentInput, ConsentResult]{
		Batch: s.recordConsents,
		Alone: func(ctx context.Context, p garde.Principal, in ConsentInput) (ConsentResult, error) {
			out, err := s.RecordConsents(ctx, p, []ConsentInput{in})
			if err != nil {
				return ConsentResult{}, err
			}
			return out[0], nil
		},
		Field: "consents",
	})
}

// RecordConsents records consent events, all or nothing, in one
// transaction: each becomes a leaf of the tenant's log (a salted commitment
// to its canonical content, which is sealed under the subject's key), one
// checkpoint covering them all is signed, and each gets a receipt with its
// inclusion proof. A withdrawal then applies the purpose's on_withdrawal to
// the subject's stored messages, in the same transaction.
func (s *Service) RecordConsents(ctx context.Context, p garde.Principal, ins []ConsentInput) ([]ConsentResult, error) {
	out, err := s.recordConsents(ctx, p, ins)
	if err != nil {
		s.auditRefusal(ctx, p, ins, err)
		return nil, err
	}
	return out, nil
}

// auditRefusal records a consent write the register refused.
func (s *Service) auditRefusal(ctx context.Context, p garde.Principal, ins []ConsentInput, err error) {
	var re *garde.RefusedError
	if !errors.As(err, &re) {
		return
	}
	action := garde.ActionConsentGrant
	if len(ins) == 1 && ins[0].Action == garde.ConsentWithdraw {
		action = garde.ActionConsentWithdraw
	}
	s.RecordDenied(ctx, garde.AuditEvent{Tenant: p.Tenant, Actor: p.KeyID, Action: action, Reason: re.Code})
}

func (s *Service) recordConsents(ctx context.Context, p garde.Principal, ins []ConsentInput) ([]ConsentResult, error) {
	pass, err := garde.Enter(p, garde.OpConsentRecord)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, garde.Invalid("consents", "at least one consent is required")
	}
	if len(ins) > MaxConsentBatch {
		return nil, garde.Invalid("consents", "at most %d consents per batch", MaxConsentBatch)
	}
	prefixes := make([]string, len(ins))
	ve := &garde.ValidationError{}
	for i := range ins {
		if len(ins) > 1 {
			prefixes[i] = fmt.Sprintf("consents[%d].", i)
		}
		ins[i].validate(prefixes[i], ve)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	// Times are stored to the microsecond: commit to what is stored.
	now := s.Now().UTC().Truncate(time.Microsecond)
	var results []ConsentResult
	var done []withdrawalDone
	err = s.Update(ctx, func(tx garde.Tx) error {
		results = make([]ConsentResult, len(ins))
		reg, regVersion, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		ipKey := keyring.Derive(tk.Audit, "consent-ip")
		type subj struct {
			id     string
			sealer *keyring.Sealer
			ref    string
		}
		subjects := map[string]*subj{}
		var order []string
		for _, in := range ins {
			if subjects[in.Subject] == nil {
				subjects[in.Subject] = &subj{}
				order = append(order, in.Subject)
			}
		}
		// An erased subject gets no new consent (the gate; SubjectsForWrite
		// would refuse to bring it back too).
		uses := make([]garde.Use, len(order))
		for i, subject := range order {
			uses[i] = garde.Use{Subject: subject, Field: "subject"}
		}
		if err := pass.Blocks(ctx, tx, tk, p.Tenant, uses); err != nil {
			return err
		}
		handles, err := s.SubjectsForWrite(ctx, tx, tk, p.Tenant, order, now)
		if err != nil {
			return err
		}
		for i, subject := range order {
			subjects[subject].id, subjects[subject].sealer, subjects[subject].ref = handles[i].ID, handles[i].Sealer, handles[i].Ref
		}
		notices := map[string][]garde.Notice{}
		purposes := make([]*register.Purpose, len(ins))
		terms := make([]receiptTerms, len(ins))
		termsHash := map[string]string{} // by purpose
		contents := make([][]byte, len(ins))
		events := make([]consentContent, len(ins))
		salts := make([][]byte, len(ins))
		leaves := make([]garde.LedgerLeaf, len(ins))
		records := make([]garde.ConsentRecord, len(ins))
		type auditKey struct{ ref, purpose, action string }
		var auditOrder []auditKey
		auditCount := map[auditKey]int{}
		for i, in := range ins {
			pp, err := consentPurpose(pass, reg, in.Purpose, prefixes[i]+"purpose")
			if err != nil {
				return err
			}
			purposes[i], terms[i] = pp, termsFor(reg, pp)
			if termsHash[pp.ID] == "" {
				termsHash[pp.ID] = terms[i].hash()
			}
			ns, ok := notices[in.Purpose]
			if !ok {
				if ns, err = tx.Notices(ctx, p.Tenant, in.Purpose); err != nil {
					return err
				}
				notices[in.Purpose] = ns
			}
			n, err := findNotice(ns, in.Notice, in.Language, prefixes[i])
			if err != nil {
				return err
			}
			sb := subjects[in.Subject]
			c := consentContent{V: 1, Tenant: string(p.Tenant), ID: garde.NewID("cns_", now), Subject: in.Subject, Purpose: in.Purpose, Action: in.Action,
				Notice: n.Version, Language: n.Language, NoticeHash: n.Hash, Method: in.Method, Channel: in.Channel,
				At: now.Format(time.RFC3339Nano), RecordedBy: p.KeyID, UserAgent: in.UserAgent,
				RegisterVersion: regVersion, TermsHash: termsHash[pp.ID]}
			if in.IP != "" {
				ip, _ := netip.ParseAddr(in.IP)
				c.IPHash = "hmac-sha256:" + hex.EncodeToString(keyring.MAC(ipKey, []byte(ip.Unmap().String()))[:16])
			}
			rec := garde.ConsentRecord{Tenant: p.Tenant, ID: c.ID, SubjectID: sb.id, Purpose: in.Purpose, Action: in.Action, At: now}
			if len(in.Evidence) > 0 {
				sum := sha256.Sum256(in.Evidence)
				c.EvidenceHash = "sha256:" + hex.EncodeToString(sum[:])
				if rec.SealedEvidence, err = sb.sealer.Seal(in.Evidence, consentAD(p.Tenant, sb.id, c.ID, "consent-evidence")); err != nil {
					return err
				}
			}
			content, salt, leaf, err := trail.CommitContent(c)
			if err != nil {
				return err
			}
			if rec.Sealed, err = sb.sealer.Seal(append(append(make([]byte, 0, len(salt)+len(content)), salt...), content...), consentAD(p.Tenant, sb.id, c.ID, "consent")); err != nil {
				return err
			}
			contents[i], salts[i], events[i] = content, salt, c
			leaves[i] = garde.LedgerLeaf{Kind: trail.LeafConsent, Record: leaf, CreatedAt: now}
			records[i] = rec
			results[i].ID = c.ID
			k := auditKey{sb.ref, in.Purpose, in.Action}
			if auditCount[k] == 0 {
				auditOrder = append(auditOrder, k)
			}
			auditCount[k]++
		}
		audit := make([]garde.AuditEvent, 0, len(auditOrder))
		for _, k := range auditOrder {
			action := garde.ActionConsentGrant
			if k.action == garde.ConsentWithdraw {
				action = garde.ActionConsentWithdraw
			}
			audit = append(audit, garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: action, Purpose: k.purpose, SubjectRef: k.ref, Outcome: garde.OutcomeOK, Count: auditCount[k]})
		}
		if err := tx.AppendAudit(ctx, audit); err != nil {
			return err
		}
		if _, err := trail.AppendLeaves(ctx, tx, p.Tenant, leaves); err != nil {
			return err
		}
		for i := range records {
			records[i].LeafIndex = leaves[i].Index
		}
		if err := tx.InsertConsents(ctx, records); err != nil {
			return err
		}
		// What a withdrawal does to stored data, once per subject and
		// purpose whose last event in the batch is a withdrawal.
		last := map[[2]string]int{}
		for i, in := range ins {
			last[[2]string{in.Subject, in.Purpose}] = i
		}
		var effects []garde.AuditEvent
		done = done[:0] // the store may run this function again
		for i, in := range ins {
			if in.Action != garde.ConsentWithdraw || last[[2]string{in.Subject, in.Purpose}] != i {
				continue
			}
			sb := subjects[in.Subject]
			eff, err := s.applyWithdrawal(ctx, tx, tk, p.Tenant, purposes[i], sb.id, sb.sealer, now)
			if err != nil {
				return err
			}
			results[i].Withdrawal = eff
			if eff.Messages > 0 {
				done = append(done, withdrawalDone{subject: sb.id, purpose: in.Purpose, action: eff.Action})
				action := garde.ActionMessageErase
				if eff.Action == "anonymize" {
					action = garde.ActionMessageAnonymize
				}
				effects = append(effects, garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: action, Purpose: in.Purpose, SubjectRef: sb.ref, Outcome: garde.OutcomeOK, Count: eff.Messages, Reason: "consent_withdrawn"})
			}
		}
		if len(effects) > 0 {
			if err := tx.AppendAudit(ctx, effects); err != nil {
				return err
			}
		}
		cp, err := s.SignCheckpoint(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		st, err := trail.LogFor(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		r := trail.NewHashReader(ctx, tx, p.Tenant, st)
		for i, in := range ins {
			ev, err := ledger.NewEvidence(leaves[i].Index, salts[i], contents[i], cp.Note, r)
			if err != nil {
				return err
			}
			results[i].Receipt = buildReceipt(terms[i], in, records[i], events[i], ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// After the commit: what the withdrawals did to stored messages goes
	// onto the journal, so that a restored data store does it again.
	if err := s.recordWithdrawals(ctx, p.Tenant, now, done); err != nil {
		return nil, fmt.Errorf("journal the withdrawal: %w", err)
	}
	return results, nil
}

// String redacts the personal data.
func (c ConsentInput) String() string {
	return "consent for purpose " + c.Purpose + " (subject redacted)"
}

// LogValue redacts the personal data in structured logs.
func (c ConsentInput) LogValue() slog.Value {
	return slog.GroupValue(slog.String("purpose", c.Purpose))
}
