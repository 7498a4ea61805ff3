package rights

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
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
	Tenant      garde.TenantID
	GeneratedAt time.Time
	Controller  register.Party
	DPO         register.Party
	Purposes    []register.Purpose
	Consents    []garde.ConsentView
	Receipts    []garde.Receipt
	Requests    []garde.RightsRequest
	Blocks      []garde.SubjectBlock
	// Erased is true when the subject's data was erased: nothing else is
	// held.
	Erased bool
}

// exportPage is how many messages one read transaction of an export opens.
const exportPage = 1000

// ExportRequest streams the export of an access or portability request's
// subject: head first, then each message. It is audited.
func (s *Service) ExportRequest(ctx context.Context, p garde.Principal, id string, head func(SubjectExport) error, message func(garde.MessageView) error) error {
	if _, err := garde.Enter(p, garde.OpSubjectExport); err != nil {
		return err
	}
	var subject string
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		r, err := tx.Request(ctx, p.Tenant, id)
		if err != nil {
			return err
		}
		if r.Type != garde.RequestAccess && r.Type != garde.RequestPortability {
			return garde.Errorf(garde.ErrConflict, "only an access or portability request has an export")
		}
		if r.Status == garde.StatusReceived {
			return garde.Errorf(garde.ErrConflict, "the subject's identity is not verified yet")
		}
		if r.Status == garde.StatusRejected || r.Status == garde.StatusCancelled {
			return garde.Errorf(garde.ErrConflict, "request is %s", r.Status)
		}
		subject, err = s.requestSubject(ctx, tx, r)
		return err
	})
	if err != nil {
		return err
	}
	n, ref, err := s.exportSubject(ctx, p.Tenant, subject, head, message)
	outcome := garde.OutcomeOK
	if err != nil {
		outcome = garde.OutcomeDenied
	}
	now := s.Now()
	if aerr := s.Store.Update(ctx, func(tx garde.Tx) error {
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionSubjectExport, SubjectRef: ref, Outcome: outcome, Count: n}})
	}); aerr != nil && err == nil {
		err = fmt.Errorf("audit export: %w", aerr)
	}
	return err
}

// exportSubject streams one subject's export and returns how many
// messages it held.
func (s *Service) exportSubject(ctx context.Context, tenant garde.TenantID, subject string, head func(SubjectExport) error, message func(garde.MessageView) error) (int, string, error) {
	h := SubjectExport{Subject: subject, Tenant: tenant, GeneratedAt: s.Now()}
	var rec garde.SubjectRecord
	var ref string
	var sl *keyring.Sealer
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		tk, err := s.TenantKeys(ctx, tx, tenant, 0)
		if err != nil {
			return err
		}
		if ref, err = s.SubjectRef(ctx, tx, tk, tenant, subject, nil); err != nil {
			return err
		}
		idx := keyring.MAC(tk.Blind, []byte(subject))
		if reg, _, err := s.CurrentRegister(ctx, tx, tenant); err == nil {
			h.Controller, h.DPO, h.Purposes = reg.Controller, reg.DPO, reg.Purposes
		} else if !errors.Is(err, garde.ErrForbidden) {
			return err
		}
		if h.Requests, err = tx.RequestsBySubject(ctx, tenant, idx); err != nil {
			return err
		}
		if h.Blocks, err = tx.SubjectBlocks(ctx, tenant, [][]byte{idx}); err != nil {
			return err
		}
		for _, b := range h.Blocks {
			h.Erased = h.Erased || b.Kind == garde.BlockErased
		}
		if h.Erased {
			return nil // erasure decided: nothing is exported, even before the key is gone
		}
		rec, err = tx.SubjectByIndex(ctx, tenant, idx)
		if errors.Is(err, garde.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if sl, err = s.SubjectSealer(ctx, tx, tenant, rec); err != nil {
			if errors.Is(err, garde.ErrSubjectErased) {
				h.Erased = true
				return nil
			}
			return err
		}
		h.Consents, h.Receipts, err = s.consents.ExportConsents(ctx, tx, tenant, subject, rec, sl)
		return err
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
		var page []garde.MessageView
		err := s.Store.View(ctx, func(tx garde.Tx) error {
			rows, err := tx.SubjectMessages(ctx, tenant, rec.ID, after, exportPage)
			if err != nil {
				return err
			}
			page = make([]garde.MessageView, 0, len(rows))
			for _, r := range rows {
				after = r.ID
				v, err := garde.OpenMessage(sl, tenant, rec.ID, subject, r)
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

// OffboardTenant ends a tenant's contract (Art. 28(3)(g)): every subject's
// data is exported through head and message (to be returned to the
// controller), then the tenant's keys are destroyed — every sealed byte of
// the tenant becomes unreadable at once — its API keys revoked, and a
// certificate signed. Only the operator may do it.
func (s *Service) OffboardTenant(ctx context.Context, p garde.Principal, tenant garde.TenantID, head func(SubjectExport) error, message func(garde.MessageView) error) ([]byte, error) {
	if _, err := garde.Enter(p, garde.OpTenantOffboard); err != nil {
		return nil, err
	}
	subjects, messages, after := 0, 0, ""
	for {
		var recs []garde.SubjectRecord
		var ids []string
		err := s.Store.View(ctx, func(tx garde.Tx) error {
			var err error
			if recs, err = tx.Subjects(ctx, tenant, after, 500); err != nil {
				return err
			}
			for _, rec := range recs {
				if rec.SealedRef == nil {
					continue // the holder of anonymised messages (consent.go): nobody's export
				}
				sl, err := s.SubjectSealer(ctx, tx, tenant, rec)
				if errors.Is(err, garde.ErrSubjectErased) {
					continue
				}
				if err != nil {
					return err
				}
				id, err := sl.Open(rec.SealedRef, garde.SubjectRefAD(tenant, rec.ID))
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
	now := s.Now()
	var cert []byte
	err := s.Update(ctx, func(tx garde.Tx) error {
		keys, err := s.KeyStore.TenantKeys(ctx, tenant)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return garde.Errorf(garde.ErrNotFound, "tenant has no keys (unknown or already off-boarded)")
		}
		if err := tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: tenant, At: now, Actor: p.KeyID, Action: garde.ActionTenantOffboard, Outcome: garde.OutcomeOK, Count: subjects}}); err != nil {
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
		err = s.KeyStore.Record(context.WithoutCancel(ctx), []garde.JournalEntry{{Kind: garde.JournalOffboard, Tenant: tenant, At: now}})
	}
	s.ForgetTenantKeys(tenant)
	if err != nil {
		return nil, err
	}
	return cert, nil
}

// String redacts the personal data.
func (SubjectExport) String() string { return "subject export (content redacted)" }

// LogValue redacts the personal data in structured logs.
func (SubjectExport) LogValue() slog.Value {
	return slog.StringValue("subject export (content redacted)")
}
