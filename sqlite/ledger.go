// The per-tenant ledger (garde.LedgerStore): leaves, stored hashes, the head,
// signed checkpoints and the signing key. Plain reads and writes: the Merkle
// arithmetic and the rules are in package garde.

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/garde-privacy/garde"
	"golang.org/x/mod/sumdb/tlog"
)

func (t *tx) LedgerHead(ctx context.Context, tenant garde.TenantID) (int64, error) {
	var size int64
	err := t.tx.QueryRowContext(ctx, `SELECT size FROM ledger_heads WHERE tenant_id = ?`, string(tenant)).Scan(&size)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return size, translate(err)
}

func (t *tx) AppendLedger(ctx context.Context, tenant garde.TenantID, oldSize int64, leaves []garde.LedgerLeaf, hashes []tlog.Hash) error {
	if len(leaves) == 0 {
		return nil
	}
	updated := leaves[len(leaves)-1].CreatedAt
	// Compare-and-swap on the head: the upsert changes a row only if the
	// head is still at oldSize (or absent and oldSize is 0).
	res, err := t.tx.ExecContext(ctx, `INSERT INTO ledger_heads (tenant_id, size, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (tenant_id) DO UPDATE SET size = excluded.size, updated_at = excluded.updated_at WHERE ledger_heads.size = ?`,
		string(tenant), oldSize+int64(len(leaves)), micros(updated), oldSize)
	if err != nil {
		return translate(fmt.Errorf("ledger head: %w", err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return garde.Errorf(garde.ErrConflict, "ledger of tenant %s moved past size %d", tenant, oldSize)
	}
	err = t.multiInsert(ctx, "append ledger leaves", `INSERT INTO ledger_leaves (tenant_id, idx, kind, record, salt, content, created_at) VALUES `, 7, len(leaves),
		func(i int, dst []any) []any {
			l := leaves[i]
			return append(dst, string(tenant), l.Index, l.Kind, l.Record, l.Salt, l.Content, micros(l.CreatedAt))
		})
	if err != nil {
		return err
	}
	base := tlog.StoredHashIndex(0, oldSize)
	return t.multiInsert(ctx, "append ledger hashes", `INSERT INTO ledger_hashes (tenant_id, idx, hash) VALUES `, 3, len(hashes),
		func(i int, dst []any) []any {
			return append(dst, string(tenant), base+int64(i), hashes[i][:])
		})
}

func (t *tx) LedgerHashes(ctx context.Context, tenant garde.TenantID, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	if len(indexes) == 0 {
		return out, nil
	}
	found := make(map[int64]tlog.Hash, len(indexes))
	scan := func(rows *sql.Rows) error {
		defer rows.Close()
		for rows.Next() {
			var idx int64
			var b []byte
			if err := rows.Scan(&idx, &b); err != nil {
				return err
			}
			if len(b) != tlog.HashSize {
				return fmt.Errorf("ledger hash %d: %d bytes", idx, len(b))
			}
			found[idx] = tlog.Hash(b)
		}
		return rows.Err()
	}
	lo, hi := indexes[0], indexes[0]
	for _, x := range indexes {
		lo, hi = min(lo, x), max(hi, x)
	}
	if hi-lo < int64(len(indexes))*4 {
		// Dense (verification reads runs of consecutive hashes): one range.
		rows, err := t.tx.QueryContext(ctx, `SELECT idx, hash FROM ledger_hashes WHERE tenant_id = ? AND idx BETWEEN ? AND ?`, string(tenant), lo, hi)
		if err != nil {
			return nil, translate(err)
		}
		if err := scan(rows); err != nil {
			return nil, translate(err)
		}
	} else {
		for start := 0; start < len(indexes); start += 500 {
			chunk := indexes[start:min(start+500, len(indexes))]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, string(tenant))
			for _, x := range chunk {
				args = append(args, x)
			}
			rows, err := t.tx.QueryContext(ctx, `SELECT idx, hash FROM ledger_hashes WHERE tenant_id = ? AND idx IN (?`+strings.Repeat(",?", len(chunk)-1)+`)`, args...)
			if err != nil {
				return nil, translate(err)
			}
			if err := scan(rows); err != nil {
				return nil, translate(err)
			}
		}
	}
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, garde.Errorf(garde.ErrNotFound, "ledger stored hash %d not found", x)
		}
		out[i] = h
	}
	return out, nil
}

func (t *tx) LedgerLeaves(ctx context.Context, tenant garde.TenantID, from int64, limit int) ([]garde.LedgerLeaf, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT idx, kind, record, salt, content, created_at FROM ledger_leaves WHERE tenant_id = ? AND idx >= ? ORDER BY idx LIMIT ?`, string(tenant), from, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.LedgerLeaf
	for rows.Next() {
		var l garde.LedgerLeaf
		var at int64
		if err := rows.Scan(&l.Index, &l.Kind, &l.Record, &l.Salt, &l.Content, &at); err != nil {
			return nil, err
		}
		l.CreatedAt = fromMicros(at)
		out = append(out, l)
	}
	return out, rows.Err()
}

func (t *tx) PutCheckpoint(ctx context.Context, tenant garde.TenantID, c garde.SignedCheckpoint) error {
	return t.exec(ctx, "put checkpoint", `INSERT INTO ledger_checkpoints (tenant_id, size, note, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id, size) DO NOTHING`,
		string(tenant), c.Size, c.Note, micros(c.CreatedAt))
}

func (t *tx) checkpoint(ctx context.Context, q string, args ...any) (garde.SignedCheckpoint, error) {
	var c garde.SignedCheckpoint
	var at int64
	if err := t.tx.QueryRowContext(ctx, q, args...).Scan(&c.Size, &c.Note, &at); err != nil {
		return garde.SignedCheckpoint{}, notFound(err, "checkpoint")
	}
	c.CreatedAt = fromMicros(at)
	return c, nil
}

func (t *tx) LatestCheckpoint(ctx context.Context, tenant garde.TenantID) (garde.SignedCheckpoint, error) {
	return t.checkpoint(ctx, `SELECT size, note, created_at FROM ledger_checkpoints WHERE tenant_id = ? ORDER BY size DESC LIMIT 1`, string(tenant))
}

func (t *tx) CheckpointAt(ctx context.Context, tenant garde.TenantID, size int64) (garde.SignedCheckpoint, error) {
	return t.checkpoint(ctx, `SELECT size, note, created_at FROM ledger_checkpoints WHERE tenant_id = ? AND size = ?`, string(tenant), size)
}

func (t *tx) Checkpoints(ctx context.Context, tenant garde.TenantID) ([]garde.SignedCheckpoint, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT size, note, created_at FROM ledger_checkpoints WHERE tenant_id = ? ORDER BY size`, string(tenant))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.SignedCheckpoint
	for rows.Next() {
		var c garde.SignedCheckpoint
		var at int64
		if err := rows.Scan(&c.Size, &c.Note, &at); err != nil {
			return nil, err
		}
		c.CreatedAt = fromMicros(at)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) PutLedgerKey(ctx context.Context, k garde.LedgerKey) error {
	return t.exec(ctx, "put ledger key", `INSERT INTO ledger_keys (tenant_id, verifier, sealed_signer, key_version, created_at) VALUES (?, ?, ?, ?, ?)`,
		string(k.Tenant), k.Verifier, k.SealedSigner, k.KeyVersion, micros(k.CreatedAt))
}

func (t *tx) LedgerKey(ctx context.Context, tenant garde.TenantID) (garde.LedgerKey, error) {
	k := garde.LedgerKey{Tenant: tenant}
	var at int64
	err := t.tx.QueryRowContext(ctx, `SELECT verifier, sealed_signer, key_version, created_at FROM ledger_keys WHERE tenant_id = ?`, string(tenant)).Scan(&k.Verifier, &k.SealedSigner, &k.KeyVersion, &at)
	if err != nil {
		return garde.LedgerKey{}, notFound(err, "ledger key")
	}
	k.CreatedAt = fromMicros(at)
	return k, nil
}
