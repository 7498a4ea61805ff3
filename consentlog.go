package garde

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// This file keeps each tenant's append-only Merkle log (package ledger) in
// the database: consent events and the audit trail are its leaves.
//
// The log of a tenant is three tables: a head row (its size), its leaves
// (one salted commitment each) and the RFC 6962 stored hashes. An append
// reads the head, computes the new stored hashes and writes leaves, hashes
// and the new head in the same transaction, with a compare-and-swap on the
// head: two nodes can never both append leaf n, so the log cannot fork.

// Ledger leaf kinds.
const (
	LeafConsent = "consent"
	LeafAudit   = "audit"
)

// ledgerStore puts the audit trail on the ledger: every audit event a use
// case appends inside a write transaction also becomes a leaf of its
// tenant's log, in that same transaction. Nothing can be audited without
// being committed to the log.
type ledgerStore struct{ Store }

func (l ledgerStore) Update(ctx context.Context, fn func(Tx) error) error {
	// A backend may run fn again after a failed attempt (PostgreSQL retries
	// serialisation failures): an attempt that starts means the previous
	// one did not commit, so its records outside the data store are undone.
	var lt *ledgerTx
	undo := func() {
		if lt != nil {
			for _, f := range lt.aborts {
				f(context.WithoutCancel(ctx))
			}
		}
	}
	err := l.Store.Update(ctx, func(tx Tx) error {
		undo()
		lt = &ledgerTx{Tx: tx}
		return fn(lt)
	})
	if err != nil {
		undo()
		return err
	}
	for _, f := range lt.commits {
		if err := f(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("after commit: %w", err)
		}
	}
	return nil
}

// ledgerTx is a write transaction that knows the logs it appended to.
type ledgerTx struct {
	Tx
	logs map[TenantID]*logState
	// aborts undo what the transaction recorded outside the data store
	// (epoch.go) if it does not commit.
	aborts  []func(context.Context)
	commits []func(context.Context) error
}

// logState is one tenant's log as this transaction sees it: its size and
// every stored hash it wrote or read.
type logState struct {
	size  int64
	cache map[int64]tlog.Hash
}

// auditContent is the canonical form of an audit event on the ledger.
type auditContent struct {
	V          int    `json:"v"`
	At         string `json:"at"`
	Actor      string `json:"actor"`
	Action     string `json:"action"`
	Purpose    string `json:"purpose,omitempty"`
	SubjectRef string `json:"subject_ref,omitempty"`
	Outcome    string `json:"outcome"`
	Count      int    `json:"count"`
	Reason     string `json:"reason,omitempty"`
}

func auditLeaf(e AuditEvent) (LedgerLeaf, error) {
	// Stores keep times to the microsecond: commit to what is stored, so
	// that the audit table can be checked against the log.
	e.At = e.At.Truncate(time.Microsecond)
	c, err := auditContentOf(e)
	if err != nil {
		return LedgerLeaf{}, err
	}
	content, salt, rec, err := commitContent(c)
	if err != nil {
		return LedgerLeaf{}, err
	}
	return LedgerLeaf{Kind: LeafAudit, Record: rec, Salt: salt, Content: content, CreatedAt: e.At}, nil
}

// commitContent is the canonical JSON of a leaf's content, a fresh salt,
// and the salted commitment the log stores for them.
func commitContent(v any) (content, salt, rec []byte, err error) {
	if content, err = json.Marshal(v); err != nil {
		return nil, nil, nil, err
	}
	if salt, err = ledger.NewSalt(); err != nil {
		return nil, nil, nil, err
	}
	rec, err = ledger.Commit(salt, content)
	return content, salt, rec, err
}

// AppendAudit appends the events to the audit table and to their tenants'
// logs. The operator's own events (tenant "") have no log: the operator
// scope has no tenant key to sign with.
func (t *ledgerTx) AppendAudit(ctx context.Context, events []AuditEvent) error {
	if err := t.Tx.AppendAudit(ctx, events); err != nil {
		return err
	}
	var order []TenantID
	byTenant := map[TenantID][]LedgerLeaf{}
	for _, e := range events {
		if e.Tenant == OperatorTenant {
			continue
		}
		l, err := auditLeaf(e)
		if err != nil {
			return err
		}
		if byTenant[e.Tenant] == nil {
			order = append(order, e.Tenant)
		}
		byTenant[e.Tenant] = append(byTenant[e.Tenant], l)
	}
	for _, tn := range order {
		if _, err := appendLeaves(ctx, t, tn, byTenant[tn]); err != nil {
			return fmt.Errorf("audit to ledger: %w", err)
		}
	}
	return nil
}

// logFor returns the transaction's view of a tenant's log, reading (and,
// on PostgreSQL, locking) its head the first time.
func logFor(ctx context.Context, tx Tx, tenant TenantID) (*logState, error) {
	lt, _ := tx.(*ledgerTx)
	if lt != nil && lt.logs[tenant] != nil {
		return lt.logs[tenant], nil
	}
	size, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return nil, err
	}
	st := &logState{size: size, cache: map[int64]tlog.Hash{}}
	if lt != nil {
		if lt.logs == nil {
			lt.logs = map[TenantID]*logState{}
		}
		lt.logs[tenant] = st
	}
	return st, nil
}

// appendLeaves appends leaves to the tenant's log and returns the index of
// the first. It sets each leaf's Index.
func appendLeaves(ctx context.Context, tx Tx, tenant TenantID, leaves []LedgerLeaf) (int64, error) {
	if len(leaves) == 0 {
		return 0, nil
	}
	st, err := logFor(ctx, tx, tenant)
	if err != nil {
		return 0, err
	}
	r := &hashReader{ctx: ctx, tx: tx, tenant: tenant, st: st}
	first := st.size
	var hashes []tlog.Hash
	for i := range leaves {
		n := first + int64(i)
		leaves[i].Index = n
		hs, err := ledger.AppendHashes(n, leaves[i].Record, r)
		if err != nil {
			return 0, err
		}
		base := tlog.StoredHashIndex(0, n)
		for j, h := range hs {
			st.cache[base+int64(j)] = h
		}
		hashes = append(hashes, hs...)
	}
	if err := tx.AppendLedger(ctx, tenant, first, leaves, hashes); err != nil {
		if errors.Is(err, ErrConflict) {
			return 0, errRetry
		}
		return 0, err
	}
	st.size = first + int64(len(leaves))
	return first, nil
}

// hashReader reads a tenant's stored hashes through a transaction, keeping
// what it read or wrote, so that a batch of appends and proofs asks the
// database for each hash at most once.
type hashReader struct {
	ctx    context.Context
	tx     Tx
	tenant TenantID
	st     *logState
}

func (r *hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, x := range indexes {
		h, ok := r.st.cache[x]
		if !ok {
			missing = append(missing, x)
			continue
		}
		out[i] = h
	}
	if len(missing) == 0 {
		return out, nil
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	got, err := r.tx.LedgerHashes(r.ctx, r.tenant, missing)
	if err != nil {
		return nil, err
	}
	if len(got) != len(missing) {
		return nil, fmt.Errorf("read %d stored hashes, got %d", len(missing), len(got))
	}
	for i, x := range missing {
		r.st.cache[x] = got[i]
	}
	for i, x := range indexes {
		out[i] = r.st.cache[x]
	}
	return out, nil
}

func ledgerSignerAD(t TenantID) keyring.AD {
	return keyring.AD{Tenant: string(t), Field: "ledger-signer"}
}

// ledgerKey returns the tenant's ledger key, creating it on first use
// (only in a write transaction).
func (s *Service) ledgerKey(ctx context.Context, tx Tx, tenant TenantID, create bool) (LedgerKey, error) {
	k, err := tx.LedgerKey(ctx, tenant)
	if err == nil || !errors.Is(err, ErrNotFound) || !create {
		return k, err
	}
	tk, err := s.tenantKeys(ctx, tx, tenant, 0)
	if err != nil {
		return LedgerKey{}, err
	}
	signer, verifier, err := ledger.GenerateKey(ledger.TenantOrigin(string(tenant)))
	if err != nil {
		return LedgerKey{}, err
	}
	sealed, err := tk.data[tk.current].Seal([]byte(signer), ledgerSignerAD(tenant))
	if err != nil {
		return LedgerKey{}, err
	}
	k = LedgerKey{Tenant: tenant, Verifier: verifier, SealedSigner: sealed, KeyVersion: tk.current, CreatedAt: s.clock.Now()}
	if err := tx.PutLedgerKey(ctx, k); err != nil {
		if errors.Is(err, ErrConflict) {
			return LedgerKey{}, errRetry // another node created it: start again and use theirs
		}
		return LedgerKey{}, err
	}
	return k, nil
}

// signCheckpoint signs and stores the checkpoint of the tenant's log at its
// current size in this transaction, under the log's current identity.
func (s *Service) signCheckpoint(ctx context.Context, tx Tx, tenant TenantID) (SignedCheckpoint, error) {
	id, err := s.logIdentity(ctx, tx, tenant, true)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	return s.signCheckpointAs(ctx, tx, tenant, id)
}

// openSigner opens the signer key of a log identity.
func (s *Service) openSigner(ctx context.Context, tx Tx, tenant TenantID, id logIdentity) ([]byte, error) {
	tk, err := s.tenantKeys(ctx, tx, tenant, id.keyVersion)
	if err != nil {
		return nil, err
	}
	signer, err := tk.data[id.keyVersion].Open(id.sealed, id.ad)
	if err != nil {
		return nil, fmt.Errorf("open ledger key: %w", err)
	}
	return signer, nil
}

// signCheckpointAs signs the checkpoint under identity id. With a
// checkpoint store, it first refuses a tree the store's largest checkpoint
// of that origin is not a prefix of, and records the checkpoint there
// before it is stored or returned: no checkpoint is published that the
// store does not hold.
func (s *Service) signCheckpointAs(ctx context.Context, tx Tx, tenant TenantID, id logIdentity) (SignedCheckpoint, error) {
	st, err := logFor(ctx, tx, tenant)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	r := &hashReader{ctx: ctx, tx: tx, tenant: tenant, st: st}
	if cs := s.checkpointStore(); cs != nil {
		if err := checkLineage(ctx, cs, tx, tenant, id.origin, st.size, r, true); err != nil {
			return SignedCheckpoint{}, err
		}
	}
	signer, err := s.openSigner(ctx, tx, tenant, id)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	defer clear(signer)
	c, err := ledger.NewCheckpoint(id.origin, st.size, r)
	if err != nil {
		return SignedCheckpoint{}, err
	}
	msg, err := ledger.SignCheckpoint(c, string(signer))
	if err != nil {
		return SignedCheckpoint{}, err
	}
	if err := s.record(ctx, tx, tenant, c, msg); err != nil {
		return SignedCheckpoint{}, err
	}
	sc := SignedCheckpoint{Size: st.size, Note: msg, CreatedAt: s.clock.Now(), Origin: id.origin}
	return sc, tx.PutCheckpoint(ctx, tenant, sc)
}

// LedgerCheckpoint returns the latest signed checkpoint of the caller's
// log, signing a new one first if entries were appended since the last.
func (s *Service) LedgerCheckpoint(ctx context.Context, p Principal) (SignedCheckpoint, error) {
	if err := authorize(p, permLedgerRead); err != nil {
		return SignedCheckpoint{}, err
	}
	var out SignedCheckpoint
	stored := false
	err := s.update(ctx, func(tx Tx) error {
		size, err := tx.LedgerHead(ctx, p.Tenant)
		if err != nil {
			return err
		}
		latest, err := tx.LatestCheckpoint(ctx, p.Tenant)
		if err == nil && latest.Size == size {
			out, stored = latest, true
			return nil
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		out, err = s.signCheckpoint(ctx, tx, p.Tenant)
		return err
	})
	if err == nil && stored {
		err = s.published(ctx, p.Tenant, out.Note)
	}
	if err != nil {
		return SignedCheckpoint{}, err
	}
	return out, nil
}

// LedgerVerifierKey returns the caller's log verifier key, in the note
// verifier format: the one thing besides a receipt that checking it
// offline needs.
func (s *Service) LedgerVerifierKey(ctx context.Context, p Principal) (string, error) {
	if err := authorize(p, permLedgerRead); err != nil {
		return "", err
	}
	var out string
	err := s.update(ctx, func(tx Tx) error {
		id, err := s.logIdentity(ctx, tx, p.Tenant, true)
		out = id.verifier
		return err
	})
	return out, err
}

// InclusionProof proves that leaf Index is in the tree of Size leaves.
type InclusionProof struct {
	Index, Size int64
	LeafHash    tlog.Hash
	Proof       tlog.RecordProof
	// Checkpoint is the signed checkpoint of that size, when there is one.
	Checkpoint []byte
}

// ConsistencyProof proves that the tree of New leaves extends the tree of
// Old leaves.
type ConsistencyProof struct {
	Old, New int64
	Proof    tlog.TreeProof
	// OldCheckpoint and NewCheckpoint are the signed checkpoints of those
	// sizes, when there are.
	OldCheckpoint, NewCheckpoint []byte
}

// proofSize resolves a requested tree size: 0 means the latest signed
// checkpoint's size.
func proofSize(ctx context.Context, tx Tx, tenant TenantID, size int64, field string) (int64, []byte, error) {
	head, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return 0, nil, err
	}
	if size == 0 {
		c, err := tx.LatestCheckpoint(ctx, tenant)
		if errors.Is(err, ErrNotFound) {
			return 0, nil, Errorf(ErrNotFound, "the log has no signed checkpoint yet: GET /v1/ledger/checkpoint first")
		}
		return c.Size, c.Note, err
	}
	if size < 0 || size > head {
		return 0, nil, Invalid(field, "must be between 1 and the log's size, %d", head)
	}
	c, err := tx.CheckpointAt(ctx, tenant, size)
	if errors.Is(err, ErrNotFound) {
		return size, nil, nil
	}
	return size, c.Note, err
}

// LedgerInclusion returns the proof that leaf index is in the caller's log
// at size (0: the latest signed checkpoint).
func (s *Service) LedgerInclusion(ctx context.Context, p Principal, index, size int64) (InclusionProof, error) {
	if err := authorize(p, permLedgerRead); err != nil {
		return InclusionProof{}, err
	}
	var out InclusionProof
	err := s.store.View(ctx, func(tx Tx) error {
		sz, note, err := proofSize(ctx, tx, p.Tenant, size, "size")
		if err != nil {
			return err
		}
		if index < 0 || index >= sz {
			return Invalid("index", "must be a leaf index below the tree size %d", sz)
		}
		st := &logState{cache: map[int64]tlog.Hash{}}
		r := &hashReader{ctx: ctx, tx: tx, tenant: p.Tenant, st: st}
		proof, err := ledger.ProveInclusion(index, sz, r)
		if err != nil {
			return err
		}
		lh, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
		if err != nil {
			return err
		}
		out = InclusionProof{Index: index, Size: sz, LeafHash: lh[0], Proof: proof, Checkpoint: note}
		return nil
	})
	if err == nil {
		err = s.published(ctx, p.Tenant, out.Checkpoint)
	}
	if err != nil {
		return InclusionProof{}, err
	}
	return out, nil
}

// LedgerConsistency returns the proof that the caller's log at newSize (0:
// the latest signed checkpoint) extends the log at oldSize.
func (s *Service) LedgerConsistency(ctx context.Context, p Principal, oldSize, newSize int64) (ConsistencyProof, error) {
	if err := authorize(p, permLedgerRead); err != nil {
		return ConsistencyProof{}, err
	}
	var out ConsistencyProof
	err := s.store.View(ctx, func(tx Tx) error {
		nsz, nnote, err := proofSize(ctx, tx, p.Tenant, newSize, "new")
		if err != nil {
			return err
		}
		if oldSize < 1 || oldSize > nsz {
			return Invalid("old", "must be between 1 and the newer size %d", nsz)
		}
		_, onote, err := proofSize(ctx, tx, p.Tenant, oldSize, "old")
		if err != nil {
			return err
		}
		r := &hashReader{ctx: ctx, tx: tx, tenant: p.Tenant, st: &logState{cache: map[int64]tlog.Hash{}}}
		proof, err := ledger.ProveConsistency(oldSize, nsz, r)
		if err != nil {
			return err
		}
		out = ConsistencyProof{Old: oldSize, New: nsz, Proof: proof, OldCheckpoint: onote, NewCheckpoint: nnote}
		return nil
	})
	if err == nil {
		err = errors.Join(s.published(ctx, p.Tenant, out.OldCheckpoint), s.published(ctx, p.Tenant, out.NewCheckpoint))
	}
	if err != nil {
		return ConsistencyProof{}, err
	}
	return out, nil
}
