package consent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"github.com/garde-privacy/garde/register"
)

// Reads of consent: a subject's consents, a consent's proof, the consents
// an export holds, and the dashboard's trend.

// ConsentState is the current state of one purpose for a subject.
type ConsentState struct {
	Purpose   string
	Granted   bool
	Since     time.Time
	Notice    int
	LeafIndex int64
}

// SubjectConsentsView is a subject's consents: the state per purpose and
// the whole history, oldest first.
type SubjectConsentsView struct {
	Current []ConsentState
	History []garde.ConsentView
}

// SubjectConsents returns a subject's current consent per purpose and its
// history. Reading it is audited like any read of a subject's data.
func (s *Service) SubjectConsents(ctx context.Context, p garde.Principal, subject string) (SubjectConsentsView, error) {
	if _, err := garde.Enter(p, garde.OpConsentRead); err != nil {
		return SubjectConsentsView{}, err
	}
	if err := garde.ValidateSubjectID("subject", subject); err != nil {
		return SubjectConsentsView{}, err
	}
	now := s.Now()
	var out SubjectConsentsView
	var ref string
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var rec garde.SubjectRecord
		var sl *keyring.Sealer
		var rows []garde.ConsentRecord
		var err error
		var found bool
		ref, rec, sl, rows, found, err = s.subjectConsentRows(ctx, tx, p.Tenant, subject)
		if err != nil || !found {
			return err
		}
		current := map[string]int{}
		for _, r := range rows {
			_, _, c, err := openConsent(sl, p.Tenant, rec.ID, r)
			if err != nil {
				return err
			}
			out.History = append(out.History, c.view(r))
			st := ConsentState{Purpose: r.Purpose, Granted: r.Action == garde.ConsentGrant, Since: r.At, Notice: c.Notice, LeafIndex: r.LeafIndex}
			if i, ok := current[r.Purpose]; ok {
				out.Current[i] = st
			} else {
				current[r.Purpose] = len(out.Current)
				out.Current = append(out.Current, st)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, garde.ErrSubjectErased) {
			s.RecordDenied(ctx, garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionConsentRead, SubjectRef: ref, Reason: "erased"})
		}
		return SubjectConsentsView{}, err
	}
	if err := s.Store.Update(ctx, func(tx garde.Tx) error {
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionConsentRead, SubjectRef: ref, Outcome: garde.OutcomeOK, Count: len(out.History)}})
	}); err != nil {
		return SubjectConsentsView{}, fmt.Errorf("audit read: %w", err)
	}
	return out, nil
}

// ConsentProofView is what a controller shows to demonstrate a consent
// (Art. 7(1)): the event's receipt, its proof renewed against the latest
// checkpoint, and the evidence document recorded with it (nil if none).
type ConsentProofView struct {
	Receipt  garde.Receipt
	Evidence []byte
}

// ConsentProof re-issues the receipt of one of a subject's consent events,
// proved against the latest signed checkpoint, with its sealed evidence.
// The controller, DPO and purpose come from the register version the
// consent was given under. Audited as a read of the subject's data.
func (s *Service) ConsentProof(ctx context.Context, p garde.Principal, subject, id string) (ConsentProofView, error) {
	if _, err := garde.Enter(p, garde.OpConsentRead); err != nil {
		return ConsentProofView{}, err
	}
	if err := garde.ValidateSubjectID("subject", subject); err != nil {
		return ConsentProofView{}, err
	}
	now := s.Now()
	notFound := garde.Errorf(garde.ErrNotFound, "consent %s of this subject not found", id)
	var out ConsentProofView
	var ref string
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var rec garde.SubjectRecord
		var sl *keyring.Sealer
		var rows []garde.ConsentRecord
		var err error
		var found bool
		ref, rec, sl, rows, found, err = s.subjectConsentRows(ctx, tx, p.Tenant, subject)
		if err != nil {
			return err
		}
		if !found {
			return notFound
		}
		i := slices.IndexFunc(rows, func(r garde.ConsentRecord) bool { return r.ID == id })
		if i < 0 {
			return notFound
		}
		row := rows[i]
		salt, content, c, err := openConsent(sl, p.Tenant, rec.ID, row)
		if err != nil {
			return err
		}
		if row.SealedEvidence != nil {
			if out.Evidence, err = sl.Open(row.SealedEvidence, consentAD(p.Tenant, rec.ID, row.ID, "consent-evidence")); err != nil {
				return fmt.Errorf("open consent %s evidence: %w", row.ID, err)
			}
		}
		// The receipt shows the register as it was when consent was given.
		terms, err := s.receiptTerms(ctx, tx, p.Tenant, c)
		if err != nil {
			return err
		}
		cp, err := tx.LatestCheckpoint(ctx, p.Tenant)
		if err != nil {
			return err
		}
		r := trail.NewHashReader(ctx, tx, p.Tenant, trail.NewLogState())
		ev, err := ledger.NewEvidence(row.LeafIndex, salt, content, cp.Note, r)
		if err != nil {
			return err
		}
		in := ConsentInput{Subject: c.Subject, Purpose: c.Purpose, Action: c.Action, Method: c.Method, Channel: c.Channel}
		out.Receipt = buildReceipt(terms, in, row, c, ev)
		return nil
	})
	if err != nil {
		return ConsentProofView{}, err
	}
	if err := s.Store.Update(ctx, func(tx garde.Tx) error {
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionConsentRead, SubjectRef: ref, Outcome: garde.OutcomeOK, Count: 1, Reason: "proof"}})
	}); err != nil {
		return ConsentProofView{}, fmt.Errorf("audit read: %w", err)
	}
	return out, nil
}

// openConsent opens a stored consent event: the salt of its ledger leaf,
// its canonical content (what the leaf commits to) and that content
// decoded.
func openConsent(sl *keyring.Sealer, tenant garde.TenantID, subjectID string, r garde.ConsentRecord) (salt, content []byte, c consentContent, err error) {
	plain, err := sl.Open(r.Sealed, consentAD(tenant, subjectID, r.ID, "consent"))
	if err != nil {
		return nil, nil, c, fmt.Errorf("open consent %s: %w", r.ID, err)
	}
	if len(plain) < consentSaltBytes {
		return nil, nil, c, fmt.Errorf("consent %s: sealed content too short", r.ID)
	}
	salt, content = plain[:consentSaltBytes], plain[consentSaltBytes:]
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, nil, c, fmt.Errorf("decode consent %s: %w", r.ID, err)
	}
	return salt, content, c, nil
}

// view is the consent event as garde shows it.
func (c consentContent) view(r garde.ConsentRecord) garde.ConsentView {
	return garde.ConsentView{ID: r.ID, Purpose: r.Purpose, Action: r.Action, At: r.At, Notice: c.Notice, Language: c.Language,
		NoticeHash: c.NoticeHash, Method: c.Method, Channel: c.Channel, RecordedBy: c.RecordedBy, LeafIndex: r.LeafIndex}
}

// subjectConsentRows finds a subject by its identifier and returns its
// audit reference, its record, its opened data key and its stored consent
// events; found is false when garde never held anything on it (the
// reference is set even then, for the audit of the read). An erased
// subject is an error (ErrSubjectErased), not an unknown one.
func (s *Service) subjectConsentRows(ctx context.Context, tx garde.Tx, tenant garde.TenantID, subject string) (ref string, rec garde.SubjectRecord, sl *keyring.Sealer, rows []garde.ConsentRecord, found bool, err error) {
	tk, err := s.TenantKeys(ctx, tx, tenant, 0)
	if err != nil {
		return "", rec, nil, nil, false, err
	}
	ref = garde.TenantSubjectRef(tk, subject)
	idx := keyring.MAC(tk.Blind, []byte(subject))
	blocks, err := tx.SubjectBlocks(ctx, tenant, [][]byte{idx})
	if err != nil {
		return ref, rec, nil, nil, false, err
	}
	for _, b := range blocks {
		if b.Kind == garde.BlockErased {
			return ref, rec, nil, nil, false, nil // erasure decided: nothing to show
		}
	}
	rec, err = tx.SubjectByIndex(ctx, tenant, idx)
	if errors.Is(err, garde.ErrNotFound) {
		return ref, rec, nil, nil, false, nil
	}
	if err != nil {
		return ref, rec, nil, nil, false, err
	}
	if ref, err = s.SubjectRef(ctx, tx, tk, tenant, subject, &rec); err != nil {
		return ref, rec, nil, nil, false, err
	}
	if sl, err = s.SubjectSealer(ctx, tx, tenant, rec); err != nil {
		return ref, rec, nil, nil, false, err
	}
	rows, err = tx.SubjectConsents(ctx, tenant, rec.ID)
	return ref, rec, sl, rows, err == nil, err
}

// ExportConsents opens the subject's consent events and rebuilds the
// receipt of each, with a proof against the latest signed checkpoint.
func (s *Service) ExportConsents(ctx context.Context, tx garde.Tx, tenant garde.TenantID, subject string, rec garde.SubjectRecord, sl *keyring.Sealer) (views []garde.ConsentView, receipts []garde.Receipt, err error) {
	rows, err := tx.SubjectConsents(ctx, tenant, rec.ID)
	if err != nil || len(rows) == 0 {
		return nil, nil, err
	}
	reg, _, err := s.CurrentRegister(ctx, tx, tenant)
	if err != nil {
		return nil, nil, err
	}
	cp, err := tx.LatestCheckpoint(ctx, tenant)
	if err != nil && !errors.Is(err, garde.ErrNotFound) {
		return nil, nil, err
	}
	st := trail.NewLogState()
	for _, r := range rows {
		salt, content, c, err := openConsent(sl, tenant, rec.ID, r)
		if err != nil {
			return nil, nil, err
		}
		views = append(views, c.view(r))
		pp, ok := reg.Purpose(r.Purpose)
		if !ok || cp.Note == nil || r.LeafIndex >= cp.Size {
			continue
		}
		ev, err := ledger.NewEvidence(r.LeafIndex, salt, content, cp.Note, trail.NewHashReader(ctx, tx, tenant, st))
		if err != nil {
			return nil, nil, fmt.Errorf("consent %s evidence: %w", r.ID, err)
		}
		in := ConsentInput{Subject: subject, Purpose: r.Purpose, Action: r.Action, Method: c.Method, Channel: c.Channel}
		receipts = append(receipts, newReceipt(reg, pp, in, r, c, ev))
	}
	return views, receipts, nil
}

// maxTrendEvents bounds how many audit events one ConsentTrend reads.
const maxTrendEvents = 50 * garde.MaxAuditPage

// ConsentDay is one purpose's consent events on one UTC day.
type ConsentDay struct {
	Purpose     string
	Day         time.Time // midnight UTC
	Grants      int
	Withdrawals int
}

// Rate is the share of grants among the day's consent events, in [0, 1];
// a day without events has rate 0 and Events 0.
func (d ConsentDay) Rate() float64 {
	if n := d.Events(); n > 0 {
		return float64(d.Grants) / float64(n)
	}
	return 0
}

// Events is the number of grants and withdrawals.
func (d ConsentDay) Events() int { return d.Grants + d.Withdrawals }

// ConsentTrend counts, per purpose and per UTC day in [since, until), the
// consent grants and withdrawals the register accepted, from the audit
// trail (which records every accepted consent event with its purpose and
// no personal data). Every purpose of the current register has a row for
// every day, so a chart shows gaps as gaps.
func (s *Service) ConsentTrend(ctx context.Context, p garde.Principal, since, until time.Time) ([]ConsentDay, error) {
	if _, err := garde.Enter(p, garde.OpConsentTrend); err != nil {
		return nil, err
	}
	since, until = truncDay(since), truncDay(until)
	if !until.After(since) {
		return nil, garde.Invalid("until", "must be at least a day after since")
	}
	if until.Sub(since) > 366*24*time.Hour {
		return nil, garde.Invalid("since", "the range is at most a year")
	}
	type key struct {
		purpose string
		day     time.Time
	}
	counts := map[key]*ConsentDay{}
	purposes := map[string]bool{}
	var reg *register.Register
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		reg, _, err = s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil && !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		for _, action := range []string{garde.ActionConsentGrant, garde.ActionConsentWithdraw} {
			f := garde.AuditFilter{Since: since, Until: until, Action: action, Limit: garde.MaxAuditPage}
			read := 0
			for read < maxTrendEvents {
				events, err := tx.Audit(ctx, p.Tenant, f)
				if err != nil {
					return err
				}
				for _, e := range events {
					if e.Outcome != garde.OutcomeOK || e.Purpose == "" {
						continue
					}
					k := key{e.Purpose, truncDay(e.At)}
					d := counts[k]
					if d == nil {
						d = &ConsentDay{Purpose: k.purpose, Day: k.day}
						counts[k] = d
					}
					n := max(e.Count, 1)
					if action == garde.ActionConsentGrant {
						d.Grants += n
					} else {
						d.Withdrawals += n
					}
					purposes[e.Purpose] = true
				}
				read += len(events)
				if len(events) < f.Limit {
					break
				}
				f.AfterSeq = events[len(events)-1].Seq
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reg != nil {
		for _, pu := range reg.Purposes {
			if pu.LegalBasis == "consent" {
				purposes[pu.ID] = true
			}
		}
	}
	ids := make([]string, 0, len(purposes))
	for id := range purposes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []ConsentDay
	for _, id := range ids {
		for d := since; d.Before(until); d = d.AddDate(0, 0, 1) {
			if c := counts[key{id, d}]; c != nil {
				out = append(out, *c)
			} else {
				out = append(out, ConsentDay{Purpose: id, Day: d})
			}
		}
	}
	return out, nil
}

func truncDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}
