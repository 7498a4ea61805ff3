package rights

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/note"
)

// Erasure (Art. 17) in three steps:
//
//  1. The data store commits the decision: a tombstone (a keyed hash of
//     the identifier) that refuses every later write for the subject, and
//     the request moved to in_progress. Then the key store destroys the
//     subject's data key and journals the destruction, in one transaction
//     of its own (destroySubject). From that commit nothing sealed for the
//     subject opens: the key was never in the data store, so no copy of
//     it — backup, replica, dump, WAL, freed page — holds it either.
//  2. The rows are purged in batches: messages (with their sealed span
//     records), consent rows (their ledger leaves, salted commitments,
//     stay: the log keeps verifying), restrictions, the subject row and
//     its blind index. The tombstone stays, so that a late write for the
//     subject is refused (and audited as subject_erased) instead of
//     silently re-creating it.
//  3. A certificate is signed with the tenant's ledger key over a fresh
//     checkpoint that includes the erasure's audit entry, and erasure
//     notices are queued for every recipient of the register that has an
//     endpoint (Art. 19).
//
// One subject is erased once: a second erasure request of a subject
// already being (or already) erased completes as "same_as" the first, with
// no second destruction and no second certificate.

// destroyedSubject is what destroySubject did.
type destroyedSubject struct {
	subject string // opaque id; "" when no subject had the identifier
	version uint32 // the tenant data key version that wrapped its key
	at      time.Time
	done    bool // false when decide declined
}

// destroySubject is the one door to a subject key's destruction. In one
// data-store transaction it finds the subject by its blind index, calls
// decide (which checks and records the caller's own state; returning false
// stops here) and writes the tombstone; after that commit, the key store
// destroys the key and journals it (KeyStore.Record). A crash between the
// two commits leaves the tombstone and the decision, and the next run of
// the caller (the request is in_progress) destroys the key.
func (s *Service) destroySubject(ctx context.Context, tenant garde.TenantID, index []byte, requestID string, decide func(tx garde.Tx, now time.Time, rec *garde.SubjectRecord, version uint32) (bool, error)) (destroyedSubject, error) {
	var d destroyedSubject
	err := s.Update(ctx, func(tx garde.Tx) error {
		d = destroyedSubject{at: s.Now()}
		var rec *garde.SubjectRecord
		r, err := tx.SubjectByIndex(ctx, tenant, index)
		switch {
		case err == nil:
			rec, d.subject = &r, r.ID
			keys, err := s.KeyStore.SubjectKeys(ctx, tenant, []string{r.ID})
			if err != nil {
				return err
			}
			if len(keys) == 1 {
				d.version = keys[0].Version
			}
		case !errors.Is(err, garde.ErrNotFound):
			return err
		}
		ok, err := decide(tx, d.at, rec, d.version)
		if err != nil || !ok {
			return err
		}
		d.done = true
		return tx.PutSubjectBlock(ctx, garde.SubjectBlock{Tenant: tenant, Index: index, Kind: garde.BlockErased, Since: d.at, RequestID: requestID})
	})
	if err != nil || !d.done {
		return d, err
	}
	return d, s.KeyStore.Record(context.WithoutCancel(ctx), []garde.JournalEntry{{Kind: garde.JournalErase, Tenant: tenant, Subject: d.subject, Index: index, Request: requestID, At: d.at}})
}

// erase carries out a verified erasure request; each step is idempotent.
func (s *Service) erase(ctx context.Context, r garde.RightsRequest) (garde.RightsRequest, error) {
	if r.KeyDestroyedAt.IsZero() {
		claimed := false
		_, err := s.destroySubject(ctx, r.Tenant, r.SubjectIndex, r.ID, func(tx garde.Tx, now time.Time, rec *garde.SubjectRecord, version uint32) (bool, error) {
			var err error
			claimed = false // the store may run this function again
			if r, err = tx.Request(ctx, r.Tenant, r.ID); err != nil {
				return false, err
			}
			if !r.Open() || !r.KeyDestroyedAt.IsZero() || r.LegalHold != "" {
				return false, nil
			}
			if first, err := erasedBy(ctx, tx, r); err != nil || first != "" {
				if err != nil {
					return false, err
				}
				return false, s.completeAsSameAs(ctx, tx, &r, first, now)
			}
			r.Status, r.StartedAt, r.KeyDestroyedAt, r.UpdatedAt = garde.StatusInProgress, now, now, now
			r.Outcome = "key=none"
			if rec != nil {
				r.Outcome = fmt.Sprintf("key=%s/%d", rec.ID, version)
			}
			if err := tx.UpdateRequest(ctx, r); err != nil {
				return false, err
			}
			claimed = true
			return true, tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: r.Tenant, At: now, Actor: "rights", Action: garde.ActionSubjectKeyDrop, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Count: btoi(rec != nil), Reason: "erasure"}})
		})
		if err != nil || !claimed {
			return r, err
		}
		garde.RightsMetrics.Erasures.Add(1)
		return s.purgeErased(ctx, r, s.Now())
	} else if r.Status == garde.StatusInProgress {
		// Resumed after a crash or a failed key store write between the
		// decision and the destruction: destroy (again: idempotent).
		subjectID, _ := erasedSubjectKey(r)
		if err := s.KeyStore.Record(context.WithoutCancel(ctx), []garde.JournalEntry{{Kind: garde.JournalErase, Tenant: r.Tenant, Subject: subjectID, Index: r.SubjectIndex, Request: r.ID, At: r.KeyDestroyedAt}}); err != nil {
			return r, err
		}
		return s.purgeErased(ctx, r, s.Now())
	}
	return r, nil
}

// erasedBy returns the id of another erasure request that erased (or is
// erasing) the same subject, from the subject's tombstone.
func erasedBy(ctx context.Context, tx garde.Tx, r garde.RightsRequest) (string, error) {
	blocks, err := tx.SubjectBlocks(ctx, r.Tenant, [][]byte{r.SubjectIndex})
	if err != nil {
		return "", err
	}
	for _, b := range blocks {
		if b.Kind == garde.BlockErased && b.RequestID != "" && b.RequestID != r.ID {
			return b.RequestID, nil
		}
	}
	return "", nil
}

// SameAsPrefix starts the outcome of an erasure request that found its
// subject already erased by another request: "same_as=rq_…". That request
// holds the one certificate.
const SameAsPrefix = "same_as="

// completeAsSameAs completes r as answered by the erasure request first.
func (s *Service) completeAsSameAs(ctx context.Context, tx garde.Tx, r *garde.RightsRequest, first string, now time.Time) error {
	r.Status, r.CompletedAt, r.UpdatedAt = garde.StatusCompleted, now, now
	r.Outcome, r.SealedSubject = SameAsPrefix+first, nil
	if err := tx.UpdateRequest(ctx, *r); err != nil {
		return err
	}
	return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: r.Tenant, At: now, Actor: "rights", Action: garde.ActionSubjectErase, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Reason: "same_as_earlier_request"}})
}

// erasedSubjectKey reads the destroyed key's subject id and wrapping
// version from an erasure request's outcome ("key=sub_…/3").
func erasedSubjectKey(r garde.RightsRequest) (subjectID, keyVersion string) {
	// In progress: "key=sub_…/3"; completed: "key=sub_… messages=… consents=…".
	if id, ok := strings.CutPrefix(r.Outcome, "key="); ok {
		id, _, _ = strings.Cut(id, " ")
		if id != "none" {
			subjectID, keyVersion, _ = strings.Cut(id, "/")
		}
	}
	return subjectID, keyVersion
}

// purgeBatch is how many messages one purge transaction deletes.
const purgeBatch = 5000

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// purgeErased removes an erased subject's rows, signs the certificate and
// queues the notices to recipients; destroyedAt is when the key store's
// destruction of the key was known to have committed.
func (s *Service) purgeErased(ctx context.Context, r garde.RightsRequest, destroyedAt time.Time) (garde.RightsRequest, error) {
	subjectID, keyVersion := erasedSubjectKey(r)
	messages := 0
	for subjectID != "" {
		var n int
		if err := s.Store.Update(ctx, func(tx garde.Tx) error {
			var err error
			n, err = tx.DeleteSubjectMessages(ctx, r.Tenant, subjectID, purgeBatch)
			return err
		}); err != nil {
			return r, err
		}
		messages += n
		if n < purgeBatch {
			break
		}
	}
	now := s.Now()
	err := s.Update(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.Request(ctx, r.Tenant, r.ID)
		if err != nil || r.Status != garde.StatusInProgress {
			return err
		}
		// Until now KeyDestroyedAt was the decision's time; the certificate
		// states when the key store's destruction had committed.
		r.KeyDestroyedAt = destroyedAt
		consents := 0
		if subjectID != "" {
			if consents, err = tx.DeleteSubjectConsents(ctx, r.Tenant, subjectID); err != nil {
				return err
			}
			if err := tx.DeleteSubject(ctx, r.Tenant, subjectID); err != nil && !errors.Is(err, garde.ErrNotFound) {
				return err
			}
		}
		for _, kind := range []string{garde.BlockRestricted, garde.BlockObjection} {
			if err := tx.DeleteSubjectBlocks(ctx, r.Tenant, r.SubjectIndex, kind); err != nil {
				return err
			}
		}
		if err := tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: r.Tenant, At: now, Actor: "rights", Action: garde.ActionSubjectErase, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Count: messages, Reason: "purged"}}); err != nil {
			return err
		}
		reg, _, err := s.CurrentRegister(ctx, tx, r.Tenant)
		if err != nil && !errors.Is(err, garde.ErrForbidden) {
			return err
		}
		subject, err := s.requestSubject(ctx, tx, r)
		if err != nil {
			return err
		}
		deliveries, names, err := s.recipientNotices(ctx, tx, reg, r, subject, now)
		if err != nil {
			return err
		}
		cert := ErasureCertificate{
			Version: 1, Kind: CertSubjectErasure, Tenant: string(r.Tenant), Request: r.ID, SubjectRef: r.SubjectRef,
			ReceivedAt: r.ReceivedAt, KeyDestroyedAt: r.KeyDestroyedAt, CompletedAt: now,
			Purged:     map[string]int{"messages": messages, "consents": consents, "subjects": btoi(subjectID != "")},
			Where:      erasureWhere,
			Recipients: names,
		}
		if subjectID != "" {
			cert.KeysDestroyed = []CertKey{{ID: subjectID, Kind: "subject-data-key", WrappedBy: "tenant-data-key/" + keyVersion}}
		}
		signed, err := s.signCertificate(ctx, tx, r.Tenant, cert)
		if err != nil {
			return err
		}
		if err := tx.InsertDeliveries(ctx, deliveries); err != nil {
			return err
		}
		if err := clearSubjectRequests(ctx, tx, r, now); err != nil { // rights.go
			return err
		}
		r.Certificate, r.SealedSubject = signed, nil
		r.Status, r.CompletedAt, r.UpdatedAt = garde.StatusCompleted, now, now
		r.Outcome = fmt.Sprintf("key=%s messages=%d consents=%d", cmp.Or(subjectID, "none"), messages, consents)
		return tx.UpdateRequest(ctx, r)
	})
	if err == nil {
		s.ScrubDeleted(ctx)
	}
	return r, err
}

// erasureWhere is what a certificate states holds, and from when.
var erasureWhere = []string{
	"key store: the subject data key destroyed and journalled at key_destroyed_at; its file scrubbed (SQLite: secure_delete, WAL checkpointed and truncated; PostgreSQL: key tables vacuumed)",
	"data store, its replicas, dumps and backups, whenever taken: they never held the key, so nothing sealed for the subject opens with the master key from key_destroyed_at on",
	"primary data store: rows purged at completed_at; a restored older copy has them purged again from the journal before it serves",
	"key store backups made before key_destroyed_at: sealed under the master key version of their day, restorable until their stated expiry, unreadable once that version is retired after it; a restore of one destroys this key again from the data store's record of this request",
}

// recipientNotice is the body of an erasure notice to a recipient.
type recipientNotice struct {
	Type       string    `json:"type"`
	Tenant     string    `json:"tenant"`
	Request    string    `json:"request"`
	Subject    string    `json:"subject"`
	Purposes   []string  `json:"purposes"`
	ReceivedAt time.Time `json:"received_at"`
	ErasedAt   time.Time `json:"erased_at"`
}

// recipientNotices builds one delivery per recipient endpoint of the
// register (Art. 19). garde does not know what each recipient received,
// so every recipient of every purpose that has an endpoint is told.
func (s *Service) recipientNotices(ctx context.Context, tx garde.Tx, reg *register.Register, r garde.RightsRequest, subject string, now time.Time) ([]garde.Delivery, []string, error) {
	if reg == nil {
		return nil, nil, nil
	}
	tk, err := s.TenantKeys(ctx, tx, r.Tenant, 0)
	if err != nil {
		return nil, nil, err
	}
	type target struct {
		name, endpoint string
		purposes       []string
	}
	var targets []*target
	byEndpoint := map[string]*target{}
	for _, p := range reg.Purposes {
		for _, rc := range p.Recipients {
			if rc.Endpoint == "" {
				continue
			}
			t := byEndpoint[rc.Endpoint]
			if t == nil {
				t = &target{name: rc.Name, endpoint: rc.Endpoint}
				byEndpoint[rc.Endpoint] = t
				targets = append(targets, t)
			}
			t.purposes = append(t.purposes, p.ID)
		}
	}
	var out []garde.Delivery
	var names []string
	for i, t := range targets {
		body, err := json.Marshal(recipientNotice{Type: "erasure", Tenant: string(r.Tenant), Request: r.ID, Subject: subject, Purposes: t.purposes, ReceivedAt: r.ReceivedAt, ErasedAt: r.KeyDestroyedAt})
		if err != nil {
			return nil, nil, err
		}
		d := garde.Delivery{Tenant: r.Tenant, RequestID: r.ID, Seq: i + 1, Kind: garde.DeliveryRecipient, Recipient: t.name, Endpoint: t.endpoint, KeyVersion: tk.Current, Status: garde.DeliveryPending, NextAt: now}
		if d.SealedBody, err = tk.Data[tk.Current].Seal(body, deliveryAD(r.Tenant, r.ID, d.Seq)); err != nil {
			return nil, nil, err
		}
		out = append(out, d)
		names = append(names, t.name)
	}
	return out, names, nil
}

func deliveryAD(t garde.TenantID, requestID string, seq int) keyring.AD {
	return keyring.AD{Tenant: string(t), Record: requestID, Field: fmt.Sprintf("delivery/%d", seq)}
}

// Certificate kinds.
const (
	CertSubjectErasure   = "subject_erasure"
	CertTenantOffboarded = "tenant_offboarding"
)

// certificateHeader is the first line of a certificate's note text.
const certificateHeader = "garde erasure certificate v1"

// ErasureCertificate says what was erased, where, when, which keys were
// destroyed, and the tenant's log at a size that includes the erasure's
// audit entry. It is signed as a note with the tenant's ledger key, so
// `garde verify certificate FILE --key KEY` checks it with the same
// public key as receipts and checkpoints. It holds no personal data: the
// subject is named by its audit reference.
type ErasureCertificate struct {
	Version        int              `json:"v"`
	Kind           string           `json:"kind"`
	Tenant         string           `json:"tenant"`
	Request        string           `json:"request,omitempty"`
	SubjectRef     string           `json:"subject_ref,omitempty"`
	ReceivedAt     time.Time        `json:"received_at"`
	KeyDestroyedAt time.Time        `json:"key_destroyed_at"`
	CompletedAt    time.Time        `json:"completed_at"`
	KeysDestroyed  []CertKey        `json:"keys_destroyed"`
	Purged         map[string]int   `json:"purged"`
	Where          []string         `json:"where"`
	Recipients     []string         `json:"recipients_notified"`
	Ledger         CertLedger       `json:"ledger"`
	Entry          *trail.CertEntry `json:"entry,omitempty"`
}

// CertKey is one destroyed key.
type CertKey struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	WrappedBy string `json:"wrapped_by,omitempty"`
}

// CertLedger pins the tenant's log: its origin, size, and the signed
// checkpoint of that size.
type CertLedger struct {
	Origin     string `json:"origin"`
	Size       int64  `json:"size"`
	Checkpoint string `json:"checkpoint"`
}

// signCertificate signs a checkpoint of the tenant's log in tx and then the
// certificate over it, with the inclusion proof of the certificate's own
// audit entry (the erasure or off-boarding the caller appended in tx) in
// that checkpoint: the certificate proves it is on the log, not only that
// the log existed.
func (s *Service) signCertificate(ctx context.Context, tx garde.Tx, tenant garde.TenantID, c ErasureCertificate) ([]byte, error) {
	cp, err := s.SignCheckpoint(ctx, tx, tenant)
	if err != nil {
		return nil, fmt.Errorf("certificate checkpoint: %w", err)
	}
	c.Version = 2
	c.Ledger = CertLedger{Origin: cp.Origin, Size: cp.Size, Checkpoint: string(cp.Note)}
	action := map[string]string{CertSubjectErasure: garde.ActionSubjectErase, CertTenantOffboarded: garde.ActionTenantOffboard}[c.Kind]
	// The caller appended the entry in tx, just before: it is among the
	// last leaves; take the latest that matches.
	ls, err := tx.LedgerLeaves(ctx, tenant, max(0, cp.Size-64), 64)
	if err != nil {
		return nil, err
	}
	var leaf *garde.LedgerLeaf
	for i := len(ls) - 1; i >= 0 && leaf == nil; i-- {
		var ac trail.AuditContent
		if ls[i].Index < cp.Size && ls[i].Kind == trail.LeafAudit && json.Unmarshal(ls[i].Content, &ac) == nil && ac.Action == action && ac.SubjectRef == c.SubjectRef {
			leaf = &ls[i]
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("certificate: no %s audit entry in the last leaves of the log", action)
	}
	st, err := trail.LogFor(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	ev, err := ledger.NewEvidence(leaf.Index, leaf.Salt, leaf.Content, cp.Note, trail.NewHashReader(ctx, tx, tenant, st))
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	c.Entry = &trail.CertEntry{Index: ev.Index, Salt: ev.Salt, Content: ev.Content, Proof: ev.Proof}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	signer, err := s.ledgerSigner(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	defer clear(signer)
	ns, err := note.NewSigner(string(signer))
	if err != nil {
		return nil, errors.New("certificate: ledger signer key is malformed")
	}
	if ns.Name() != cp.Origin {
		return nil, fmt.Errorf("certificate: signer %s is not the identity of checkpoint %s", ns.Name(), cp.Origin)
	}
	return note.Sign(&note.Note{Text: certificateHeader + "\n" + string(body) + "\n"}, ns)
}

// ledgerSigner opens the signer key of the tenant's current log identity
// (note signer format).
func (s *Service) ledgerSigner(ctx context.Context, tx garde.Tx, tenant garde.TenantID) ([]byte, error) {
	id, err := s.LogIdentity(ctx, tx, tenant, true)
	if err != nil {
		return nil, err
	}
	return s.OpenSigner(ctx, tx, tenant, id)
}

// ErrCertificate marks a certificate that does not verify.
var ErrCertificate = errors.New("certificate does not verify")

// VerifyCertificate checks a signed erasure certificate offline against the
// tenant's ledger verifier key: the signature over the certificate, and
// the embedded checkpoint (same key, same origin, the size it claims).
func VerifyCertificate(data []byte, verifierKey string) (ErasureCertificate, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return ErasureCertificate{}, fmt.Errorf("%w: malformed verifier key", ErrCertificate)
	}
	n, err := note.Open(data, note.VerifierList(v))
	if err != nil {
		return ErasureCertificate{}, fmt.Errorf("%w: no valid signature by key %s: %v", ErrCertificate, v.Name(), err)
	}
	for _, sig := range n.Sigs {
		if _, err := base64.StdEncoding.Strict().DecodeString(sig.Base64); err != nil {
			return ErasureCertificate{}, fmt.Errorf("%w: signature is not canonical base64", ErrCertificate)
		}
	}
	head, body, ok := strings.Cut(n.Text, "\n")
	if !ok || head != certificateHeader {
		return ErasureCertificate{}, fmt.Errorf("%w: not a garde erasure certificate", ErrCertificate)
	}
	var c ErasureCertificate
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return ErasureCertificate{}, fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	if c.Version == 1 {
		return ErasureCertificate{}, fmt.Errorf("%w: version 1 carries no inclusion proof of its audit entry", ErrCertificate)
	}
	if c.Version != 2 || (c.Kind != CertSubjectErasure && c.Kind != CertTenantOffboarded) {
		return ErasureCertificate{}, fmt.Errorf("%w: unknown version or kind", ErrCertificate)
	}
	if trail.OriginEpoch(c.Tenant, c.Ledger.Origin) == 0 || c.Ledger.Origin != v.Name() {
		return ErasureCertificate{}, fmt.Errorf("%w: certificate of tenant %s signed by key %s", ErrCertificate, c.Tenant, v.Name())
	}
	cp, err := ledger.OpenCheckpoint([]byte(c.Ledger.Checkpoint), verifierKey)
	if err != nil {
		return ErasureCertificate{}, fmt.Errorf("%w: embedded checkpoint: %v", ErrCertificate, err)
	}
	if cp.Size != c.Ledger.Size {
		return ErasureCertificate{}, fmt.Errorf("%w: checkpoint size %d, certificate says %d", ErrCertificate, cp.Size, c.Ledger.Size)
	}
	// The certificate's own entry must be in that checkpoint's tree, and
	// say what the certificate says.
	if c.Entry == nil {
		return ErasureCertificate{}, fmt.Errorf("%w: no audit entry with inclusion proof", ErrCertificate)
	}
	if _, err := ledger.VerifyEvidence(ledger.Evidence{Index: c.Entry.Index, Salt: c.Entry.Salt, Content: c.Entry.Content, Proof: c.Entry.Proof, Checkpoint: []byte(c.Ledger.Checkpoint)}, verifierKey); err != nil {
		return ErasureCertificate{}, fmt.Errorf("%w: audit entry %d: %v", ErrCertificate, c.Entry.Index, err)
	}
	var ac trail.AuditContent
	edec := json.NewDecoder(bytes.NewReader(c.Entry.Content))
	edec.DisallowUnknownFields()
	want := map[string]string{CertSubjectErasure: garde.ActionSubjectErase, CertTenantOffboarded: garde.ActionTenantOffboard}[c.Kind]
	if err := edec.Decode(&ac); err != nil || ac.V != 1 || ac.Action != want || ac.SubjectRef != c.SubjectRef || ac.Outcome != garde.OutcomeOK {
		return ErasureCertificate{}, fmt.Errorf("%w: audit entry %d is not the %s of this certificate", ErrCertificate, c.Entry.Index, want)
	}
	if c.CompletedAt.Before(c.KeyDestroyedAt) {
		return ErasureCertificate{}, fmt.Errorf("%w: completed before the key was destroyed", ErrCertificate)
	}
	return c, nil
}
