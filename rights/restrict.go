package rights

import (
	"context"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/keyring"
)

// Restriction and objection (Art. 18, 21): the blocks a request puts on a
// subject, lifting a restriction, and closing a subject's other requests
// once it is erased.

// applyBlock records a restriction or an objection and completes it.
func (s *Service) applyBlock(ctx context.Context, r garde.RightsRequest) (garde.RightsRequest, error) {
	now := s.Now()
	err := s.Update(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.Request(ctx, r.Tenant, r.ID)
		if err != nil || !r.Open() {
			return err
		}
		b := garde.SubjectBlock{Tenant: r.Tenant, Index: r.SubjectIndex, Kind: garde.BlockRestricted, Since: now, RequestID: r.ID}
		if r.Type == garde.RequestObjection {
			b.Kind, b.Purpose = garde.BlockObjection, r.Purpose
		}
		if err := tx.PutSubjectBlock(ctx, b); err != nil {
			return err
		}
		r.Status, r.StartedAt, r.CompletedAt, r.UpdatedAt = garde.StatusCompleted, now, now, now
		r.Outcome = b.Kind
		if err := tx.UpdateRequest(ctx, r); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: r.Tenant, At: now, Actor: "rights", Action: garde.ActionRestrictionApply, Purpose: b.Purpose, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Reason: b.Kind}})
	})
	return r, err
}

// LiftRestriction ends a subject's restriction of processing (Art. 18(3):
// the controller tells the subject before lifting it).
func (s *Service) LiftRestriction(ctx context.Context, p garde.Principal, subject string) error {
	if _, err := garde.Enter(p, garde.OpRestrictionLift); err != nil {
		return err
	}
	if err := garde.ValidateSubjectID("subject", subject); err != nil {
		return err
	}
	now := s.Now()
	return s.Update(ctx, func(tx garde.Tx) error {
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		if err := tx.DeleteSubjectBlocks(ctx, p.Tenant, keyring.MAC(tk.Blind, []byte(subject)), garde.BlockRestricted); err != nil {
			return err
		}
		ref, err := s.SubjectRef(ctx, tx, tk, p.Tenant, subject, nil)
		if err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionRestrictionApply, SubjectRef: ref, Outcome: garde.OutcomeOK, Reason: "lifted"}})
	})
}

// clearSubjectRequests drops the identifier from every other request of
// an erased subject (same blind index): an erasure that left it sealed in
// the subject's earlier access or restriction requests would keep the
// person identifiable under a tenant key that is never destroyed. An open
// request is closed, since nothing is held any more to answer it with: it
// completes with the erasure named in its outcome and its verification
// link stops working. An erasure whose key is already destroyed is left
// to finish (and clear itself) on its own. Each closure is audited.
func clearSubjectRequests(ctx context.Context, tx garde.Tx, erasure garde.RightsRequest, now time.Time) error {
	rs, err := tx.RequestsBySubject(ctx, erasure.Tenant, erasure.SubjectIndex)
	if err != nil {
		return err
	}
	var events []garde.AuditEvent
	for _, r := range rs {
		if r.ID == erasure.ID || (r.Type == garde.RequestErasure && !r.KeyDestroyedAt.IsZero() && r.Open()) {
			continue
		}
		if r.SealedSubject == nil && !r.Open() {
			continue
		}
		r.SealedSubject, r.TokenHash, r.UpdatedAt = nil, nil, now
		if r.Open() {
			r.Status, r.CompletedAt = garde.StatusCompleted, now
			if r.StartedAt.IsZero() {
				r.StartedAt = now
			}
			r.Outcome = "subject_erased by=" + erasure.ID
			if r.Type == garde.RequestErasure {
				r.Outcome = SameAsPrefix + erasure.ID // answered by that erasure (erasure.go)
			}
			events = append(events, garde.AuditEvent{Tenant: r.Tenant, At: now, Actor: "rights", Action: garde.ActionRequestChange, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Reason: "subject_erased"})
		}
		if err := tx.UpdateRequest(ctx, r); err != nil {
			return err
		}
	}
	if len(events) == 0 {
		return nil
	}
	return tx.AppendAudit(ctx, events)
}
