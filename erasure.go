package garde

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/note"
)

// Erasure (Art. 17) in three steps:
//
//  1. The subject's id goes onto the erasure journal (a deny-list kept
//     outside the database, beside the master key), then its data key is
//     destroyed and a tombstone written, in one transaction: from that
//     commit nothing sealed for the subject can be opened — here, on a
//     replica, or in any backup (the backup still holds the wrapped key,
//     but restoring it replays the journal, which destroys the key again).
//  2. The rows are purged in batches: messages (with their sealed span
//     records), consent rows (their ledger leaves, salted commitments,
//     stay: the log keeps verifying), restrictions, the subject row and
//     its blind index. The tombstone, a keyed hash of the identifier,
//     stays, so that a late write for the subject is refused (and
//     audited as subject_erased) instead of silently re-creating it.
//  3. A certificate is signed with the tenant's ledger key over a fresh
//     checkpoint that includes the erasure's audit entry, and erasure
//     notices are queued for every recipient of the register that has an
//     endpoint (Art. 19).

// ErasedKey is one entry of the erasure journal: a destroyed subject key
// (Subject set) or a destroyed tenant (Subject empty). It holds no
// personal data: ids are opaque and Index is a keyed hash.
type ErasedKey struct {
	Tenant  TenantID
	Subject string
	Index   []byte
	At      time.Time
}

// ErasureJournal records destroyed keys outside the database, so that
// restoring an older backup cannot bring an erased subject back: the
// journal is replayed at startup and at restore (ReplayErasures). The
// default implementation is keyring.DenyList, a file beside the master
// key.
type ErasureJournal interface {
	Append(entries []ErasedKey) error
	Entries() ([]ErasedKey, error)
}

// rightsState is the per-Service state of rights.
type rightsState struct {
	mu      sync.Mutex
	journal ErasureJournal
}

// SetErasureJournal sets where destroyed keys are recorded. Without one,
// erasure still destroys keys, but a restored backup would hold the
// erased subjects' wrapped keys again.
func (s *Service) SetErasureJournal(j ErasureJournal) {
	s.rights.mu.Lock()
	s.rights.journal = j
	s.rights.mu.Unlock()
}

func (s *Service) journal() ErasureJournal {
	s.rights.mu.Lock()
	defer s.rights.mu.Unlock()
	return s.rights.journal
}

// purgeBatch is how many messages one purge transaction deletes.
const purgeBatch = 5000

// erase carries out a verified erasure request; each step is idempotent.
func (s *Service) erase(ctx context.Context, r RightsRequest) (RightsRequest, error) {
	var rec SubjectRecord
	found := false
	if r.KeyDestroyedAt.IsZero() {
		err := s.store.View(ctx, func(tx Tx) error {
			var err error
			rec, err = tx.SubjectByIndex(ctx, r.Tenant, r.SubjectIndex)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			found = err == nil
			return err
		})
		if err != nil {
			return r, err
		}
		now := s.clock.Now()
		if j := s.journal(); j != nil {
			e := ErasedKey{Tenant: r.Tenant, Index: r.SubjectIndex, At: now}
			if found {
				e.Subject = rec.ID
			}
			if err := j.Append([]ErasedKey{e}); err != nil {
				return r, fmt.Errorf("erasure journal: %w", err)
			}
		}
		err = s.update(ctx, func(tx Tx) error {
			var err error
			r, err = tx.Request(ctx, r.Tenant, r.ID)
			if err != nil {
				return err
			}
			if !r.Open() || !r.KeyDestroyedAt.IsZero() || r.LegalHold != "" {
				return nil
			}
			if found && rec.WrappedKey != nil {
				if err := tx.DestroySubjectKey(ctx, r.Tenant, rec.ID); err != nil && !errors.Is(err, ErrNotFound) {
					return err
				}
			}
			if err := tx.PutSubjectBlock(ctx, SubjectBlock{Tenant: r.Tenant, Index: r.SubjectIndex, Kind: BlockErased, Since: now, RequestID: r.ID}); err != nil {
				return err
			}
			r.Status, r.StartedAt, r.KeyDestroyedAt, r.UpdatedAt = StatusInProgress, now, now, now
			if found {
				r.Outcome = "key=" + rec.ID + "/" + fmt.Sprint(rec.KeyVersion)
			} else {
				r.Outcome = "key=none"
			}
			if err := tx.UpdateRequest(ctx, r); err != nil {
				return err
			}
			return tx.AppendAudit(ctx, []AuditEvent{{Tenant: r.Tenant, At: now, Actor: "rights", Action: ActionSubjectKeyDrop, SubjectRef: r.SubjectRef, Outcome: OutcomeOK, Count: btoi(found), Reason: "erasure"}})
		})
		if err != nil {
			return r, err
		}
		if r.KeyDestroyedAt.IsZero() || r.Status != StatusInProgress {
			return r, nil
		}
		RightsMetrics.Erasures.Add(1)
	}
	return s.purgeErased(ctx, r)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// purgeErased removes an erased subject's rows, signs the certificate and
// queues the notices to recipients.
func (s *Service) purgeErased(ctx context.Context, r RightsRequest) (RightsRequest, error) {
	subjectID, keyVersion := "", ""
	if id, ok := strings.CutPrefix(r.Outcome, "key="); ok && id != "none" {
		subjectID, keyVersion, _ = strings.Cut(id, "/")
	}
	messages := 0
	for subjectID != "" {
		var n int
		if err := s.store.Update(ctx, func(tx Tx) error {
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
	now := s.clock.Now()
	err := s.update(ctx, func(tx Tx) error {
		var err error
		r, err = tx.Request(ctx, r.Tenant, r.ID)
		if err != nil || r.Status != StatusInProgress {
			return err
		}
		consents := 0
		if subjectID != "" {
			if consents, err = tx.DeleteSubjectConsents(ctx, r.Tenant, subjectID); err != nil {
				return err
			}
			if err := tx.DeleteSubject(ctx, r.Tenant, subjectID); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		for _, kind := range []string{BlockRestricted, BlockObjection} {
			if err := tx.DeleteSubjectBlocks(ctx, r.Tenant, r.SubjectIndex, kind); err != nil {
				return err
			}
		}
		if err := tx.AppendAudit(ctx, []AuditEvent{{Tenant: r.Tenant, At: now, Actor: "rights", Action: ActionSubjectErase, SubjectRef: r.SubjectRef, Outcome: OutcomeOK, Count: messages, Reason: "purged"}}); err != nil {
			return err
		}
		reg, _, err := s.currentRegister(ctx, tx, r.Tenant)
		if err != nil && !errors.Is(err, ErrForbidden) {
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
		r.Certificate, r.SealedSubject = signed, nil
		r.Status, r.CompletedAt, r.UpdatedAt = StatusCompleted, now, now
		r.Outcome = fmt.Sprintf("key=%s messages=%d consents=%d", orDefault(subjectID, "none"), messages, consents)
		return tx.UpdateRequest(ctx, r)
	})
	if err == nil {
		s.scrub(ctx)
	}
	return r, err
}

// Scrubber is a store that can wipe what its write-ahead log still holds
// of deleted rows (package sqlite). Erasure calls it once done.
type Scrubber interface {
	Scrub(ctx context.Context) error
}

func (s *Service) scrub(ctx context.Context) {
	st := s.store
	if ls, ok := st.(ledgerStore); ok {
		st = ls.Store
	}
	if sc, ok := st.(Scrubber); ok {
		_ = sc.Scrub(ctx) // best effort: the next checkpoint does it anyway
	}
}

var erasureWhere = []string{
	"primary database: subject data key destroyed, rows purged",
	"replicas and backups: unreadable (the wrapped key alone cannot be opened once destroyed; restore replays the erasure journal)",
	"erasure journal: the opaque subject id and keyed index are kept, no personal data",
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
func (s *Service) recipientNotices(ctx context.Context, tx Tx, reg *Register, r RightsRequest, subject string, now time.Time) ([]Delivery, []string, error) {
	if reg == nil {
		return nil, nil, nil
	}
	tk, err := s.tenantKeys(ctx, tx, r.Tenant, 0)
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
	var out []Delivery
	var names []string
	for i, t := range targets {
		body, err := json.Marshal(recipientNotice{Type: "erasure", Tenant: string(r.Tenant), Request: r.ID, Subject: subject, Purposes: t.purposes, ReceivedAt: r.ReceivedAt, ErasedAt: r.KeyDestroyedAt})
		if err != nil {
			return nil, nil, err
		}
		d := Delivery{Tenant: r.Tenant, RequestID: r.ID, Seq: i + 1, Kind: DeliveryRecipient, Recipient: t.name, Endpoint: t.endpoint, KeyVersion: tk.current, Status: DeliveryPending, NextAt: now}
		if d.SealedBody, err = tk.data[tk.current].Seal(body, deliveryAD(r.Tenant, r.ID, d.Seq)); err != nil {
			return nil, nil, err
		}
		out = append(out, d)
		names = append(names, t.name)
	}
	return out, names, nil
}

func deliveryAD(t TenantID, requestID string, seq int) keyring.AD {
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
	Version        int            `json:"v"`
	Kind           string         `json:"kind"`
	Tenant         string         `json:"tenant"`
	Request        string         `json:"request,omitempty"`
	SubjectRef     string         `json:"subject_ref,omitempty"`
	ReceivedAt     time.Time      `json:"received_at"`
	KeyDestroyedAt time.Time      `json:"key_destroyed_at"`
	CompletedAt    time.Time      `json:"completed_at"`
	KeysDestroyed  []CertKey      `json:"keys_destroyed"`
	Purged         map[string]int `json:"purged"`
	Where          []string       `json:"where"`
	Recipients     []string       `json:"recipients_notified"`
	Ledger         CertLedger     `json:"ledger"`
	Entry          *CertEntry     `json:"entry,omitempty"`
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
func (s *Service) signCertificate(ctx context.Context, tx Tx, tenant TenantID, c ErasureCertificate) ([]byte, error) {
	cp, err := s.signCheckpoint(ctx, tx, tenant)
	if err != nil {
		return nil, fmt.Errorf("certificate checkpoint: %w", err)
	}
	c.Version = 2
	c.Ledger = CertLedger{Origin: cp.Origin, Size: cp.Size, Checkpoint: string(cp.Note)}
	action := map[string]string{CertSubjectErasure: ActionSubjectErase, CertTenantOffboarded: ActionTenantOffboard}[c.Kind]
	// The caller appended the entry in tx, just before: it is among the
	// last leaves; take the latest that matches.
	ls, err := tx.LedgerLeaves(ctx, tenant, max(0, cp.Size-64), 64)
	if err != nil {
		return nil, err
	}
	var leaf *LedgerLeaf
	for i := len(ls) - 1; i >= 0 && leaf == nil; i-- {
		var ac auditContent
		if ls[i].Index < cp.Size && ls[i].Kind == LeafAudit && json.Unmarshal(ls[i].Content, &ac) == nil && ac.Action == action && ac.SubjectRef == c.SubjectRef {
			leaf = &ls[i]
		}
	}
	if leaf == nil {
		return nil, fmt.Errorf("certificate: no %s audit entry in the last leaves of the log", action)
	}
	st, err := logFor(ctx, tx, tenant)
	if err != nil {
		return nil, err
	}
	ev, err := ledger.NewEvidence(leaf.Index, leaf.Salt, leaf.Content, cp.Note, &hashReader{ctx: ctx, tx: tx, tenant: tenant, st: st})
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	c.Entry = &CertEntry{Index: ev.Index, Salt: ev.Salt, Content: ev.Content, Proof: ev.Proof}
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
func (s *Service) ledgerSigner(ctx context.Context, tx Tx, tenant TenantID) ([]byte, error) {
	id, err := s.logIdentity(ctx, tx, tenant, true)
	if err != nil {
		return nil, err
	}
	return s.openSigner(ctx, tx, tenant, id)
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
	if originEpoch(c.Tenant, c.Ledger.Origin) == 0 || c.Ledger.Origin != v.Name() {
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
	var ac auditContent
	edec := json.NewDecoder(bytes.NewReader(c.Entry.Content))
	edec.DisallowUnknownFields()
	want := map[string]string{CertSubjectErasure: ActionSubjectErase, CertTenantOffboarded: ActionTenantOffboard}[c.Kind]
	if err := edec.Decode(&ac); err != nil || ac.V != 1 || ac.Action != want || ac.SubjectRef != c.SubjectRef || ac.Outcome != OutcomeOK {
		return ErasureCertificate{}, fmt.Errorf("%w: audit entry %d is not the %s of this certificate", ErrCertificate, c.Entry.Index, want)
	}
	if c.CompletedAt.Before(c.KeyDestroyedAt) {
		return ErasureCertificate{}, fmt.Errorf("%w: completed before the key was destroyed", ErrCertificate)
	}
	return c, nil
}

// ReplayErasures applies the erasure journal to the database: every
// subject key it lists that the database still holds (an older backup was
// restored) is destroyed again, its rows purged and its tombstone
// re-written; every tenant it lists as off-boarded loses its keys again.
// garde runs it at startup and `garde restore` before swapping the file
// in. It returns how many keys it destroyed.
func (s *Service) ReplayErasures(ctx context.Context) (int, error) {
	j := s.journal()
	if j == nil {
		return 0, nil
	}
	entries, err := j.Entries()
	if err != nil {
		return 0, fmt.Errorf("erasure journal: %w", err)
	}
	destroyed := 0
	now := s.clock.Now()
	entries, err = s.pendingReplays(ctx, entries)
	if err != nil {
		return 0, fmt.Errorf("erasure journal: %w", err)
	}
	for _, e := range entries {
		err := s.store.Update(ctx, func(tx Tx) error {
			if e.Subject == "" && e.Index == nil {
				keys, err := tx.TenantKeys(ctx, e.Tenant)
				if err != nil || len(keys) == 0 {
					return err
				}
				destroyed++
				return tx.DeleteTenantKeys(ctx, e.Tenant)
			}
			if e.Index != nil {
				if err := tx.PutSubjectBlock(ctx, SubjectBlock{Tenant: e.Tenant, Index: e.Index, Kind: BlockErased, Since: e.At}); err != nil {
					return err
				}
			}
			if e.Subject == "" {
				return nil
			}
			rec, err := tx.SubjectByIndex(ctx, e.Tenant, e.Index)
			if errors.Is(err, ErrNotFound) || (err == nil && rec.ID != e.Subject) {
				return nil
			}
			if err != nil {
				return err
			}
			if rec.WrappedKey != nil {
				destroyed++
			}
			for {
				n, err := tx.DeleteSubjectMessages(ctx, e.Tenant, e.Subject, purgeBatch)
				if err != nil {
					return err
				}
				if n < purgeBatch {
					break
				}
			}
			if _, err := tx.DeleteSubjectConsents(ctx, e.Tenant, e.Subject); err != nil {
				return err
			}
			if err := tx.DeleteSubject(ctx, e.Tenant, e.Subject); err != nil {
				return err
			}
			return tx.AppendAudit(ctx, []AuditEvent{{Tenant: e.Tenant, At: now, Actor: "restore", Action: ActionSubjectKeyDrop, Outcome: OutcomeOK, Count: 1, Reason: "journal_replay"}})
		})
		if err != nil {
			return destroyed, fmt.Errorf("replay erasure of %s in tenant %s: %w", e.Subject, e.Tenant, err)
		}
	}
	s.mu.Lock()
	clear(s.keys)
	s.mu.Unlock()
	if destroyed > 0 {
		s.scrub(ctx)
	}
	return destroyed, nil
}

// pendingReplays keeps the journal entries the database does not reflect
// yet — a tenant that has keys again, a subject row back, a tombstone
// missing — reading each tenant's subjects and tombstones in one query
// each, so that a start with a long journal and nothing to do costs a
// few reads, not a transaction per entry.
func (s *Service) pendingReplays(ctx context.Context, entries []ErasedKey) ([]ErasedKey, error) {
	byTenant := map[TenantID][]ErasedKey{}
	var order []TenantID
	for _, e := range entries {
		if byTenant[e.Tenant] == nil {
			order = append(order, e.Tenant)
		}
		byTenant[e.Tenant] = append(byTenant[e.Tenant], e)
	}
	var out []ErasedKey
	err := s.store.View(ctx, func(tx Tx) error {
		for _, t := range order {
			var indexes [][]byte
			for _, e := range byTenant[t] {
				if e.Index != nil {
					indexes = append(indexes, e.Index)
				}
			}
			subjects, err := tx.SubjectsByIndex(ctx, t, indexes)
			if err != nil {
				return err
			}
			blocks, err := tx.SubjectBlocks(ctx, t, indexes)
			if err != nil {
				return err
			}
			live, tomb := map[string]bool{}, map[string]bool{}
			for _, r := range subjects {
				live[string(r.Index)] = true
			}
			for _, b := range blocks {
				if b.Kind == BlockErased {
					tomb[string(b.Index)] = true
				}
			}
			keys, err := tx.TenantKeys(ctx, t)
			if err != nil {
				return err
			}
			for _, e := range byTenant[t] {
				switch {
				case e.Index == nil:
					if len(keys) > 0 {
						out = append(out, e)
					}
				case live[string(e.Index)] || !tomb[string(e.Index)]:
					out = append(out, e)
				}
			}
		}
		return nil
	})
	return out, err
}
