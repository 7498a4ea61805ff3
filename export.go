package garde

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// Access (Art. 15) and portability (Art. 20): everything garde holds on a
// subject, decrypted — the register's purposes with their legal bases,
// recipients, retention and transfers, the consent history with receipts,
// the requests, and every message — streamed so that a subject with a
// hundred thousand messages never sits in memory at once.

// SubjectExport is the head of an export: everything but the messages,
// which follow one by one.
type SubjectExport struct {
	Subject     string
	Tenant      TenantID
	GeneratedAt time.Time
	Controller  register.Party
	DPO         register.Party
	Purposes    []register.Purpose
	Consents    []ConsentView
	Receipts    []Receipt
	Requests    []RightsRequest
	Blocks      []SubjectBlock
	// Erased is true when the subject's data was erased: nothing else is
	// held.
	Erased bool
}

// exportPage is how many messages one read transaction of an export opens.
const exportPage = 1000

// ExportRequest streams the export of an access or portability request's
// subject: head first, then each message. It is audited.
func (s *Service) ExportRequest(ctx context.Context, p Principal, id string, head func(SubjectExport) error, message func(MessageView) error) error {
	if err := authorize(p, permSubjectExport); err != nil {
		return err
	}
	var subject string
	err := s.store.View(ctx, func(tx Tx) error {
		r, err := tx.Request(ctx, p.Tenant, id)
		if err != nil {
			return err
		}
		if r.Type != RequestAccess && r.Type != RequestPortability {
			return Errorf(ErrConflict, "only an access or portability request has an export")
		}
		if r.Status == StatusReceived {
			return Errorf(ErrConflict, "the subject's identity is not verified yet")
		}
		if r.Status == StatusRejected || r.Status == StatusCancelled {
			return Errorf(ErrConflict, "request is %s", r.Status)
		}
		subject, err = s.requestSubject(ctx, tx, r)
		return err
	})
	if err != nil {
		return err
	}
	n, ref, err := s.exportSubject(ctx, p.Tenant, subject, head, message)
	outcome := OutcomeOK
	if err != nil {
		outcome = OutcomeDenied
	}
	now := s.clock.Now()
	if aerr := s.store.Update(ctx, func(tx Tx) error {
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: ActionSubjectExport, SubjectRef: ref, Outcome: outcome, Count: n}})
	}); aerr != nil && err == nil {
		err = fmt.Errorf("audit export: %w", aerr)
	}
	return err
}

// exportSubject streams one subject's export and returns how many
// messages it held.
func (s *Service) exportSubject(ctx context.Context, tenant TenantID, subject string, head func(SubjectExport) error, message func(MessageView) error) (int, string, error) {
	h := SubjectExport{Subject: subject, Tenant: tenant, GeneratedAt: s.clock.Now()}
	var rec SubjectRecord
	var ref string
	var sl *keyring.Sealer
	err := s.store.View(ctx, func(tx Tx) error {
		tk, err := s.tenantKeys(ctx, tx, tenant, 0)
		if err != nil {
			return err
		}
		if ref, err = s.subjectRef(ctx, tx, tk, tenant, subject, nil); err != nil {
			return err
		}
		idx := keyring.MAC(tk.blind, []byte(subject))
		if reg, _, err := s.currentRegister(ctx, tx, tenant); err == nil {
			h.Controller, h.DPO, h.Purposes = reg.Controller, reg.DPO, reg.Purposes
		} else if !errors.Is(err, ErrForbidden) {
			return err
		}
		if h.Requests, err = tx.RequestsBySubject(ctx, tenant, idx); err != nil {
			return err
		}
		if h.Blocks, err = tx.SubjectBlocks(ctx, tenant, [][]byte{idx}); err != nil {
			return err
		}
		for _, b := range h.Blocks {
			h.Erased = h.Erased || b.Kind == BlockErased
		}
		if h.Erased {
			return nil // erasure decided: nothing is exported, even before the key is gone
		}
		rec, err = tx.SubjectByIndex(ctx, tenant, idx)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sl, err = s.subjectSealer(ctx, tx, tenant, rec); err != nil {
			if errors.Is(err, ErrSubjectErased) {
				h.Erased = true
				return nil
			}
			return err
		}
		return s.exportConsents(ctx, tx, tenant, subject, rec, sl, &h)
	})
	if err != nil {
		return 0, ref, err
	}
	if err := head(h); err != nil {
		return 0, ref, err
	}
	if sl == nil {
		return 0, ref, nil
	}
	n, after := 0, ""
	for {
		var page []MessageView
		err := s.store.View(ctx, func(tx Tx) error {
			rows, err := tx.SubjectMessages(ctx, tenant, rec.ID, after, exportPage)
			if err != nil {
				return err
			}
			page = make([]MessageView, 0, len(rows))
			for _, r := range rows {
				after = r.ID
				v, err := openMessage(sl, tenant, rec.ID, subject, r)
				if err != nil {
					return err
				}
				page = append(page, v)
			}
			return nil
		})
		if err != nil {
			return n, ref, err
		}
		for _, v := range page {
			if err := message(v); err != nil {
				return n, ref, err
			}
		}
		n += len(page)
		if len(page) < exportPage {
			return n, ref, nil
		}
	}
}

// exportConsents opens the subject's consent events and rebuilds the
// receipt of each, with a proof against the latest signed checkpoint.
func (s *Service) exportConsents(ctx context.Context, tx Tx, tenant TenantID, subject string, rec SubjectRecord, sl *keyring.Sealer, h *SubjectExport) error {
	rows, err := tx.SubjectConsents(ctx, tenant, rec.ID)
	if err != nil || len(rows) == 0 {
		return err
	}
	reg, _, err := s.currentRegister(ctx, tx, tenant)
	if err != nil {
		return err
	}
	cp, err := tx.LatestCheckpoint(ctx, tenant)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	st := &logState{cache: map[int64]tlog.Hash{}}
	for _, r := range rows {
		salt, content, c, err := openConsent(sl, tenant, rec.ID, r)
		if err != nil {
			return err
		}
		h.Consents = append(h.Consents, c.view(r))
		pp, ok := reg.Purpose(r.Purpose)
		if !ok || cp.Note == nil || r.LeafIndex >= cp.Size {
			continue
		}
		ev, err := ledger.NewEvidence(r.LeafIndex, salt, content, cp.Note, &hashReader{ctx: ctx, tx: tx, tenant: tenant, st: st})
		if err != nil {
			return fmt.Errorf("consent %s evidence: %w", r.ID, err)
		}
		in := ConsentInput{Subject: subject, Purpose: r.Purpose, Action: r.Action, Method: c.Method, Channel: c.Channel}
		h.Receipts = append(h.Receipts, newReceipt(reg, pp, in, r, c, ev))
	}
	return nil
}

// RectifyMessage replaces a message's text and/or fields (Art. 16), on a
// rectification request or a DPO's decision. The new content goes through
// what an ingest does (sealContent: the scan, the purpose's anonymisation,
// the span record, sealing) so that a correction cannot store what an
// ingest would not; a refusal is audited like an ingest's. Nil text or
// fields keep them: kept text is stored as it was, with its span record.
func (s *Service) RectifyMessage(ctx context.Context, p Principal, subject, messageID string, text *string, fields map[string]string) (MessageView, error) {
	out, err := s.rectifyMessage(ctx, p, subject, messageID, text, fields)
	var re *RefusedError
	if errors.As(err, &re) {
		s.recordDenied(ctx, AuditEvent{Tenant: p.Tenant, Actor: p.KeyID, Action: ActionMessageRectify, Reason: re.Code})
	}
	return out, err
}

func (s *Service) rectifyMessage(ctx context.Context, p Principal, subject, messageID string, text *string, fields map[string]string) (MessageView, error) {
	if err := authorize(p, permRequestManage); err != nil {
		return MessageView{}, err
	}
	if err := validateSubjectID("subject", subject); err != nil {
		return MessageView{}, err
	}
	if text == nil && fields == nil {
		return MessageView{}, Invalid("text", "give text, fields or both")
	}
	now := s.clock.Now()
	var out MessageView
	err := s.update(ctx, func(tx Tx) error {
		tk, err := s.tenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		rec, err := tx.SubjectByIndex(ctx, p.Tenant, keyring.MAC(tk.blind, []byte(subject)))
		if err != nil {
			return err
		}
		auditRef, err := s.subjectRef(ctx, tx, tk, p.Tenant, subject, &rec)
		if err != nil {
			return err
		}
		m, err := tx.MessageByID(ctx, p.Tenant, messageID)
		if err != nil || m.SubjectID != rec.ID {
			return Errorf(ErrNotFound, "message %s not found for this subject", messageID)
		}
		reg, _, err := s.currentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		nm := NewMessage{Subject: subject, Purpose: m.Purpose, Channel: m.Channel}
		sl, err := s.subjectSealer(ctx, tx, p.Tenant, rec)
		if err != nil {
			return err
		}
		cur, err := openMessage(sl, p.Tenant, rec.ID, subject, m)
		if err != nil {
			return err
		}
		nm.Text, nm.Fields = cur.Text, cur.Fields
		if text != nil {
			nm.Text = *text
		}
		if fields != nil {
			nm.Fields = fields
		}
		ve := &ValidationError{}
		pp, ref := nm.validate(reg, "", ve)
		if ref.code != "" && len(ve.Problems) == 0 {
			return &RefusedError{Field: ref.field, Code: ref.code, Detail: ref.msg}
		}
		if err := ve.Err(); err != nil {
			return err
		}
		scanned := nm.Text
		if text == nil {
			// The kept text was anonymised when it was stored; scanning it
			// again would replace its span record with one about the
			// anonymised text.
			scanned = ""
		}
		c, err := s.sealContent(pp, tk, sl, p.Tenant, rec.ID, m.ID, scanned, nm.Fields)
		if err != nil {
			return err
		}
		if text == nil {
			c.stored, c.text, c.spans = cur.Text, m.SealedText, m.SealedSpans
		}
		if err := tx.UpdateMessage(ctx, p.Tenant, m.ID, c.text, c.fields, c.spans); err != nil {
			return err
		}
		out = MessageView{ID: m.ID, Subject: subject, Purpose: m.Purpose, Channel: m.Channel, Text: c.stored, Fields: nm.Fields, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt, Detections: c.found, Special: c.special}
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: ActionMessageRectify, Purpose: m.Purpose, SubjectRef: auditRef, Outcome: OutcomeOK, Count: 1}})
	})
	return out, err
}

// PurgeExpired deletes, tenant by tenant and in batches of batch rows,
// every message whose purpose's retention has run out (messages carry
// their expires_at from ingest). Each batch is one transaction with one
// audit event per purpose. It returns how many messages it deleted.
func (s *Service) PurgeExpired(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	total := 0
	RightsMetrics.PurgeRuns.Add(1)
	err := s.forEachTenant(ctx, func(tenant TenantID) (err error) {
		purged, cutoff := 0, time.Time{}
		// Journalled after the batches committed, even when a later batch
		// failed: a restore of an older data store deletes them again
		// before serving (ReplayJournal).
		defer func() {
			if purged > 0 {
				err = errors.Join(err, s.ks.Record(context.WithoutCancel(ctx), []JournalEntry{{Kind: JournalRetentionPurge, Tenant: tenant, At: cutoff}}))
			}
		}()
		for {
			now := s.clock.Now()
			n := 0
			err := s.store.Update(ctx, func(tx Tx) error {
				counts, err := tx.DeleteExpiredMessages(ctx, tenant, now, batch)
				if err != nil || len(counts) == 0 {
					return err
				}
				var events []AuditEvent
				for _, purpose := range slices.Sorted(maps.Keys(counts)) {
					n += counts[purpose]
					events = append(events, AuditEvent{Tenant: tenant, At: now, Actor: "retention", Action: ActionRetentionPurge, Purpose: purpose, Outcome: OutcomeOK, Count: counts[purpose], Reason: "retention_expired"})
				}
				return tx.AppendAudit(ctx, events)
			})
			if err != nil {
				return err
			}
			total += n
			if n > 0 {
				purged, cutoff = purged+n, now
			}
			RightsMetrics.PurgedMessages.Add(int64(n))
			if n < batch {
				return nil
			}
		}
	})
	return total, err
}

// OffboardTenant ends a tenant's contract (Art. 28(3)(g)): every subject's
// data is exported through head and message (to be returned to the
// controller), then the tenant's keys are destroyed — every sealed byte of
// the tenant becomes unreadable at once — its API keys revoked, and a
// certificate signed. Only the operator may do it.
func (s *Service) OffboardTenant(ctx context.Context, p Principal, tenant TenantID, head func(SubjectExport) error, message func(MessageView) error) ([]byte, error) {
	if err := authorize(p, permTenantCreate); err != nil {
		return nil, err
	}
	subjects, messages, after := 0, 0, ""
	for {
		var recs []SubjectRecord
		var ids []string
		err := s.store.View(ctx, func(tx Tx) error {
			var err error
			if recs, err = tx.Subjects(ctx, tenant, after, 500); err != nil {
				return err
			}
			for _, rec := range recs {
				if rec.SealedRef == nil {
					continue // the holder of anonymised messages (consent.go): nobody's export
				}
				sl, err := s.subjectSealer(ctx, tx, tenant, rec)
				if errors.Is(err, ErrSubjectErased) {
					continue
				}
				if err != nil {
					return err
				}
				id, err := sl.Open(rec.SealedRef, subjectRefAD(tenant, rec.ID))
				if err != nil {
					return fmt.Errorf("open subject %s: %w", rec.ID, err)
				}
				ids = append(ids, string(id))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			n, _, err := s.exportSubject(ctx, tenant, id, head, message)
			if err != nil {
				return nil, err
			}
			subjects++
			messages += n
		}
		if len(recs) < 500 {
			break
		}
		after = recs[len(recs)-1].ID
	}
	now := s.clock.Now()
	var cert []byte
	err := s.update(ctx, func(tx Tx) error {
		keys, err := s.ks.TenantKeys(ctx, tenant)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return Errorf(ErrNotFound, "tenant has no keys (unknown or already off-boarded)")
		}
		if err := tx.AppendAudit(ctx, []AuditEvent{{Tenant: tenant, At: now, Actor: p.KeyID, Action: ActionTenantOffboard, Outcome: OutcomeOK, Count: subjects}}); err != nil {
			return err
		}
		c := ErasureCertificate{Version: 1, Kind: CertTenantOffboarded, Tenant: string(tenant), ReceivedAt: now, KeyDestroyedAt: now, CompletedAt: now,
			Purged: map[string]int{"subjects_exported": subjects, "messages_exported": messages}, Where: erasureWhere}
		for _, k := range keys {
			c.KeysDestroyed = append(c.KeysDestroyed, CertKey{ID: fmt.Sprintf("%s/%s/%d", tenant, k.Kind, k.Version), Kind: "tenant-" + k.Kind + "-key", WrappedBy: fmt.Sprintf("master/%d", k.MasterVersion)})
		}
		if cert, err = s.signCertificate(ctx, tx, tenant, c); err != nil {
			return err
		}
		apiKeys, err := tx.APIKeys(ctx, tenant)
		if err != nil {
			return err
		}
		for _, k := range apiKeys {
			if k.RevokedAt.IsZero() {
				if err := tx.RevokeAPIKey(ctx, tenant, k.ID, now); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err == nil {
		// The decision committed (API keys revoked, certificate signed):
		// now the keys go, journalled in the same key store transaction.
		// Should this fail, running the off-boarding again finishes it.
		err = s.ks.Record(context.WithoutCancel(ctx), []JournalEntry{{Kind: JournalOffboard, Tenant: tenant, At: now}})
	}
	s.forgetTenantKeys(tenant)
	if err != nil {
		return nil, err
	}
	return cert, nil
}
