// The per-tenant ledger (garde.LedgerStore): the head row and its lock,
// leaves, stored hashes, signed checkpoints and the signing key. Plain
// reads and writes: the Merkle arithmetic and the rules are in package
// garde.

package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"
)

// lockHeads locks the ledger head row of each tenant (creating it at size
// 0 if missing), in tenant order so that two transactions locking the same
// tenants cannot deadlock, in one statement, and remembers the sizes. A
// write transaction that appends to a tenant's log or audit trail holds
// this lock to its end: appends to one tenant are serialised across nodes.
func (t *tx) lockHeads(ctx context.Context, tenants []string) error {
	var todo []string
	for _, tn := range tenants {
		if _, ok := t.heads[tn]; !ok {
			todo = append(todo, tn)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	slices.Sort(todo)
	todo = slices.Compact(todo)
	// The INSERT holds the lock of a row it creates; FOR UPDATE takes the
	// lock of a row that existed (the SELECT does not see the CTE's rows).
	rows, err := t.tx.Query(ctx, `WITH created AS (
			INSERT INTO ledger_heads (tenant_id, size, updated_at)
			SELECT u, 0, now() FROM unnest($1::text[]) AS u ORDER BY u
			ON CONFLICT DO NOTHING
			RETURNING tenant_id, size),
		locked AS (
			SELECT tenant_id, size FROM ledger_heads WHERE tenant_id = ANY($1::text[]) ORDER BY tenant_id FOR UPDATE)
		SELECT tenant_id, size FROM created
		UNION ALL
		SELECT tenant_id, size FROM locked`, todo)
	type head struct {
		tenant string
		size   int64
	}
	got, err := collect(rows, err, "lock ledger head", func(r pgx.Rows) (head, error) {
		var h head
		err := r.Scan(&h.tenant, &h.size)
		return h, err
	})
	if err != nil {
		return err
	}
	if t.heads == nil {
		t.heads = map[string]int64{}
	}
	for _, h := range got {
		t.heads[h.tenant] = h.size
	}
	for _, tn := range todo {
		if _, ok := t.heads[tn]; !ok {
			// Neither created nor found: a concurrent transaction created
			// it after our snapshot. Serializable fails the insert in that
			// case; should it not, fail the same way, to be retried.
			return &pgconn.PgError{Severity: "ERROR", Code: codeSerializationFailure, Message: "ledger head created concurrently"}
		}
	}
	return nil
}

func (t *tx) LedgerHead(ctx context.Context, tenant garde.TenantID) (int64, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return 0, err
	}
	if !t.readOnly {
		// Locked (and read) once per transaction; AppendLedger keeps the
		// size current.
		if err := t.lockHeads(ctx, []string{string(tenant)}); err != nil {
			return 0, err
		}
		return t.heads[string(tenant)], nil
	}
	var size int64
	err := t.tx.QueryRow(ctx, `SELECT size FROM ledger_heads WHERE tenant_id = $1`, string(tenant)).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, translate(fmt.Errorf("ledger head: %w", err))
	}
	return size, nil
}

// AppendLedger sends its three statements in one round trip: the
// compare-and-swap of the head, then the leaves and the stored hashes,
// each inserted only if the head now holds the new size — so that when
// the swap fails nothing at all is written.
func (t *tx) AppendLedger(ctx context.Context, tenant garde.TenantID, oldSize int64, leaves []garde.LedgerLeaf, hashes []tlog.Hash) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	if len(leaves) == 0 {
		return nil
	}
	if err := t.lockHeads(ctx, []string{string(tenant)}); err != nil {
		return err
	}
	newSize := oldSize + int64(len(leaves))
	at := leaves[len(leaves)-1].CreatedAt
	n := len(leaves)
	idx, kinds, ats := make([]int64, n), make([]string, n), make([]time.Time, n)
	records, salts, contents := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i, l := range leaves {
		idx[i], kinds[i], ats[i], records[i], salts[i], contents[i] = l.Index, l.Kind, l.CreatedAt, l.Record, l.Salt, l.Content
	}
	base := tlog.StoredHashIndex(0, oldSize)
	hidx, hs := make([]int64, len(hashes)), make([][]byte, len(hashes))
	for i := range hashes {
		hidx[i], hs[i] = base+int64(i), hashes[i][:]
	}
	var b pgx.Batch
	b.Queue(`UPDATE ledger_heads SET size = $1, updated_at = $2 WHERE tenant_id = $3 AND size = $4`, newSize, at, string(tenant), oldSize)
	b.Queue(`INSERT INTO ledger_leaves (tenant_id, idx, kind, record, salt, content, created_at)
		SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::bytea[], $5::bytea[], $6::bytea[], $7::timestamptz[])
		WHERE EXISTS (SELECT 1 FROM ledger_heads WHERE tenant_id = $1 AND size = $8)
		ON CONFLICT DO NOTHING`, string(tenant), idx, kinds, records, salts, contents, ats, newSize)
	b.Queue(`INSERT INTO ledger_hashes (tenant_id, idx, hash)
		SELECT $1, * FROM unnest($2::bigint[], $3::bytea[])
		WHERE EXISTS (SELECT 1 FROM ledger_heads WHERE tenant_id = $1 AND size = $4)
		ON CONFLICT DO NOTHING`, string(tenant), hidx, hs, newSize)
	br := t.tx.SendBatch(ctx, &b)
	want := []int64{1, int64(n), int64(len(hashes))}
	short := -1
	for i := range want {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return translate(fmt.Errorf("append ledger: %w", err))
		}
		if tag.RowsAffected() != want[i] && short < 0 {
			short = i
		}
	}
	if err := br.Close(); err != nil {
		return translate(fmt.Errorf("append ledger: %w", err))
	}
	switch short {
	case -1:
		t.heads[string(tenant)] = newSize
		return nil
	case 0:
		return garde.Errorf(garde.ErrConflict, "append ledger: the log's head moved")
	}
	return garde.Errorf(garde.ErrConflict, "append ledger: an entry at that index exists")
}

func (t *tx) LedgerHashes(ctx context.Context, tenant garde.TenantID, indexes []int64) ([]tlog.Hash, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT idx, hash FROM ledger_hashes WHERE tenant_id = $1 AND idx = ANY($2::bigint[])`, string(tenant), indexes)
	type row struct {
		idx  int64
		hash []byte
	}
	got, err := collect(rows, err, "ledger hashes", func(r pgx.Rows) (row, error) {
		var x row
		err := r.Scan(&x.idx, &x.hash)
		return x, err
	})
	if err != nil {
		return nil, err
	}
	byIdx := make(map[int64]tlog.Hash, len(got))
	for _, x := range got {
		if len(x.hash) != len(tlog.Hash{}) {
			return nil, fmt.Errorf("ledger hash %d: %d bytes", x.idx, len(x.hash))
		}
		byIdx[x.idx] = tlog.Hash(x.hash)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, ok := byIdx[x]
		if !ok {
			return nil, garde.Errorf(garde.ErrNotFound, "ledger hash %d not found", x)
		}
		out[i] = h
	}
	return out, nil
}

func (t *tx) LedgerLeaves(ctx context.Context, tenant garde.TenantID, from int64, limit int) ([]garde.LedgerLeaf, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT idx, kind, record, salt, content, created_at FROM ledger_leaves
		WHERE tenant_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, string(tenant), from, limit)
	return collect(rows, err, "ledger leaves", func(r pgx.Rows) (garde.LedgerLeaf, error) {
		var l garde.LedgerLeaf
		err := r.Scan(&l.Index, &l.Kind, &l.Record, &l.Salt, &l.Content, &l.CreatedAt)
		l.CreatedAt = utc(l.CreatedAt)
		return l, err
	})
}

func (t *tx) PutCheckpoint(ctx context.Context, tenant garde.TenantID, c garde.SignedCheckpoint) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	return t.exec(ctx, "put checkpoint", `INSERT INTO ledger_checkpoints (tenant_id, size, note, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
		string(tenant), c.Size, c.Note, c.CreatedAt)
}

func (t *tx) checkpoint(ctx context.Context, q string, args ...any) (garde.SignedCheckpoint, error) {
	var c garde.SignedCheckpoint
	if err := t.tx.QueryRow(ctx, q, args...).Scan(&c.Size, &c.Note, &c.CreatedAt); err != nil {
		return garde.SignedCheckpoint{}, notFound(err, "checkpoint")
	}
	c.CreatedAt = utc(c.CreatedAt)
	return c, nil
}

func (t *tx) LatestCheckpoint(ctx context.Context, tenant garde.TenantID) (garde.SignedCheckpoint, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.SignedCheckpoint{}, err
	}
	return t.checkpoint(ctx, `SELECT size, note, created_at FROM ledger_checkpoints WHERE tenant_id = $1 ORDER BY size DESC LIMIT 1`, string(tenant))
}

func (t *tx) CheckpointAt(ctx context.Context, tenant garde.TenantID, size int64) (garde.SignedCheckpoint, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.SignedCheckpoint{}, err
	}
	return t.checkpoint(ctx, `SELECT size, note, created_at FROM ledger_checkpoints WHERE tenant_id = $1 AND size = $2`, string(tenant), size)
}

func (t *tx) Checkpoints(ctx context.Context, tenant garde.TenantID) ([]garde.SignedCheckpoint, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT size, note, created_at FROM ledger_checkpoints WHERE tenant_id = $1 ORDER BY size`, string(tenant))
	return collect(rows, err, "checkpoints", func(r pgx.Rows) (garde.SignedCheckpoint, error) {
		var c garde.SignedCheckpoint
		err := r.Scan(&c.Size, &c.Note, &c.CreatedAt)
		c.CreatedAt = utc(c.CreatedAt)
		return c, err
	})
}

func (t *tx) PutLedgerKey(ctx context.Context, k garde.LedgerKey) error {
	if err := t.begin(ctx, k.Tenant); err != nil {
		return err
	}
	return t.insert(ctx, "put ledger key", 1, `INSERT INTO ledger_keys (tenant_id, verifier, sealed_signer, key_version, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		string(k.Tenant), k.Verifier, k.SealedSigner, int64(k.KeyVersion), k.CreatedAt)
}

func (t *tx) LedgerKey(ctx context.Context, tenant garde.TenantID) (garde.LedgerKey, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.LedgerKey{}, err
	}
	k := garde.LedgerKey{Tenant: tenant}
	var v int64
	err := t.tx.QueryRow(ctx, `SELECT verifier, sealed_signer, key_version, created_at FROM ledger_keys WHERE tenant_id = $1`, string(tenant)).
		Scan(&k.Verifier, &k.SealedSigner, &v, &k.CreatedAt)
	if err != nil {
		return garde.LedgerKey{}, notFound(err, "ledger key")
	}
	k.KeyVersion, k.CreatedAt = uint32(v), utc(k.CreatedAt)
	return k, nil
}
