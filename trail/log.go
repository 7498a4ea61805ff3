package trail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/garde-privacy/garde"

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

// ledgeredStore puts the audit trail on the ledger: every audit event a use
// case appends inside a write transaction also becomes a leaf of its
// tenant's log, in that same transaction. Nothing can be audited without
// being committed to the log.
type ledgeredStore struct{ garde.Store }

// OnLedger wraps a storage backend so that the audit trail goes onto the
// ledger; the kernel accepts no other store (garde.AuditLedger).
func OnLedger(st garde.Store) garde.Store { return ledgeredStore{st} }

// AuditsOnLedger marks the store as one the kernel accepts.
func (ledgeredStore) AuditsOnLedger() {}

// Unwrap returns the backend.
func (l ledgeredStore) Unwrap() garde.Store { return l.Store }

// KeyStore is the backend's key store (nil if it has none).
func (l ledgeredStore) KeyStore() garde.KeyStore {
	if kp, ok := l.Store.(garde.KeyStoreProvider); ok {
		return kp.KeyStore()
	}
	return nil
}

// CheckpointStore is the backend's checkpoint store (nil if it has none).
func (l ledgeredStore) CheckpointStore() garde.CheckpointStore {
	if cp, ok := l.Store.(garde.CheckpointStoreProvider); ok {
		return cp.CheckpointStore()
	}
	return nil
}

func (l ledgeredStore) Update(ctx context.Context, fn func(garde.Tx) error) error {
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
	err := l.Store.Update(ctx, func(tx garde.Tx) error {
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
	garde.Tx
	logs map[garde.TenantID]*LogState
	// aborts undo what the transaction recorded outside the data store
	// (epoch.go) if it does not commit.
	aborts  []func(context.Context)
	commits []func(context.Context) error
}

// LogState is one tenant's log as this transaction sees it: its size and
// every stored hash it wrote or read.
type LogState struct {
	size  int64
	cache map[int64]tlog.Hash
}

// NewLogState returns an empty cache of a log's hashes, for proofs.
func NewLogState() *LogState { return &LogState{cache: map[int64]tlog.Hash{}} }

// AuditContent is the canonical form of an audit event on the ledger.
type AuditContent struct {
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

func auditLeaf(e garde.AuditEvent) (garde.LedgerLeaf, error) {
	// Stores keep times to the microsecond: commit to what is stored, so
	// that the audit table can be checked against the log.
	e.At = e.At.Truncate(time.Microsecond)
	c, err := AuditContentOf(e)
	if err != nil {
		return garde.LedgerLeaf{}, err
	}
	content, salt, rec, err := CommitContent(c)
	if err != nil {
		return garde.LedgerLeaf{}, err
	}
	return garde.LedgerLeaf{Kind: LeafAudit, Record: rec, Salt: salt, Content: content, CreatedAt: e.At}, nil
}

// CommitContent is the canonical JSON of a leaf's content, a fresh salt,
// and the salted commitment the log stores for them.
func CommitContent(v any) (content, salt, rec []byte, err error) {
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
func (t *ledgerTx) AppendAudit(ctx context.Context, events []garde.AuditEvent) error {
	if err := t.Tx.AppendAudit(ctx, events); err != nil {
		return err
	}
	var order []garde.TenantID
	byTenant := map[garde.TenantID][]garde.LedgerLeaf{}
	for _, e := range events {
		if e.Tenant == garde.OperatorTenant {
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
		if _, err := AppendLeaves(ctx, t, tn, byTenant[tn]); err != nil {
			return fmt.Errorf("audit to ledger: %w", err)
		}
	}
	return nil
}

// LogFor returns the transaction's view of a tenant's log, reading (and,
// on PostgreSQL, locking) its head the first time.
func LogFor(ctx context.Context, tx garde.Tx, tenant garde.TenantID) (*LogState, error) {
	lt, _ := tx.(*ledgerTx)
	if lt != nil && lt.logs[tenant] != nil {
		return lt.logs[tenant], nil
	}
	size, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return nil, err
	}
	st := &LogState{size: size, cache: map[int64]tlog.Hash{}}
	if lt != nil {
		if lt.logs == nil {
			lt.logs = map[garde.TenantID]*LogState{}
		}
		lt.logs[tenant] = st
	}
	return st, nil
}

// AppendLeaves appends leaves to the tenant's log and returns the index of
// the first. It sets each leaf's Index.
func AppendLeaves(ctx context.Context, tx garde.Tx, tenant garde.TenantID, leaves []garde.LedgerLeaf) (int64, error) {
	if len(leaves) == 0 {
		return 0, nil
	}
	st, err := LogFor(ctx, tx, tenant)
	if err != nil {
		return 0, err
	}
	r := NewHashReader(ctx, tx, tenant, st)
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
		if errors.Is(err, garde.ErrConflict) {
			return 0, garde.ErrRetry
		}
		return 0, err
	}
	st.size = first + int64(len(leaves))
	return first, nil
}

// HashReader reads a tenant's stored hashes through a transaction, keeping
// what it read or wrote, so that a batch of appends and proofs asks the
// database for each hash at most once.
type HashReader struct {
	ctx    context.Context
	tx     garde.Tx
	tenant garde.TenantID
	st     *LogState
}

// NewHashReader reads the tenant's stored hashes in tx, caching them in st
// (tlog.HashReader, for ledger.NewEvidence).
func NewHashReader(ctx context.Context, tx garde.Tx, tenant garde.TenantID, st *LogState) *HashReader {
	return &HashReader{ctx: ctx, tx: tx, tenant: tenant, st: st}
}

func (r *HashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
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

// OnCommit registers fn to run once the write transaction tx committed,
// before its caller gets anything: an error from fn is the caller's.
func OnCommit(tx garde.Tx, fn func(context.Context) error) {
	if lt, ok := tx.(*ledgerTx); ok {
		lt.commits = append(lt.commits, fn)
	}
}

// OnAbort registers fn to run if the write transaction tx does not commit.
// Without a ledgerTx (never, in practice) the record stays: a refusal to
// sign later errs on the safe side.
func OnAbort(tx garde.Tx, fn func(context.Context)) {
	if lt, ok := tx.(*ledgerTx); ok {
		lt.aborts = append(lt.aborts, fn)
	}
}

// AuditContentOf is the ledger content of a stored audit event, at the
// table's precision (microseconds).
func AuditContentOf(e garde.AuditEvent) (AuditContent, error) {
	return AuditContent{V: 1, At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action, Purpose: e.Purpose,
		SubjectRef: e.SubjectRef, Outcome: e.Outcome, Count: e.Count, Reason: e.Reason}, nil
}
