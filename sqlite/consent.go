package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
	"golang.org/x/mod/sumdb/tlog"
)

// The storage of notices, consent events and the per-tenant ledger
// (garde.ConsentTx). Plain reads and writes: the Merkle arithmetic and the
// rules are in package garde.

func (t *tx) PutNotice(ctx context.Context, n garde.Notice) error {
	return t.exec(ctx, "put notice", `INSERT INTO notices (tenant_id, purpose, language, version, text, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		string(n.Tenant), n.Purpose, n.Language, n.Version, n.Text, n.Hash, micros(n.CreatedAt), n.CreatedBy)
}

func (t *tx) Notices(ctx context.Context, tenant garde.TenantID, purpose string) ([]garde.Notice, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT language, version, text, hash, created_at, created_by FROM notices
		WHERE tenant_id = ? AND purpose = ? ORDER BY language, version`, string(tenant), purpose)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.Notice
	for rows.Next() {
		n := garde.Notice{Tenant: tenant, Purpose: purpose}
		var at int64
		if err := rows.Scan(&n.Language, &n.Version, &n.Text, &n.Hash, &at, &n.CreatedBy); err != nil {
			return nil, err
		}
		n.CreatedAt = fromMicros(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

func (t *tx) InsertConsents(ctx context.Context, cs []garde.ConsentRecord) error {
	return t.multiInsert(ctx, "insert consents",
		`INSERT INTO consents (tenant_id, id, subject_id, purpose, action, at, leaf_index, sealed, sealed_evidence) VALUES `, 9, len(cs),
		func(i int, dst []any) []any {
			c := cs[i]
			return append(dst, string(c.Tenant), c.ID, c.SubjectID, c.Purpose, c.Action, micros(c.At), c.LeafIndex, c.Sealed, c.SealedEvidence)
		})
}

const consentColumns = `id, subject_id, purpose, action, at, leaf_index, sealed, sealed_evidence`

func scanConsent(tenant garde.TenantID, s interface{ Scan(...any) error }) (garde.ConsentRecord, error) {
	c := garde.ConsentRecord{Tenant: tenant}
	var at int64
	if err := s.Scan(&c.ID, &c.SubjectID, &c.Purpose, &c.Action, &at, &c.LeafIndex, &c.Sealed, &c.SealedEvidence); err != nil {
		return garde.ConsentRecord{}, err
	}
	c.At = fromMicros(at)
	return c, nil
}

func (t *tx) SubjectConsents(ctx context.Context, tenant garde.TenantID, subjectID string) ([]garde.ConsentRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE tenant_id = ? AND subject_id = ? ORDER BY leaf_index`, string(tenant), subjectID)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.ConsentRecord
	for rows.Next() {
		c, err := scanConsent(tenant, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) LatestConsent(ctx context.Context, tenant garde.TenantID, subjectID, purpose string) (garde.ConsentRecord, error) {
	s, err := t.stmt(ctx, `SELECT `+consentColumns+` FROM consents WHERE tenant_id = ? AND subject_id = ? AND purpose = ? ORDER BY leaf_index DESC LIMIT 1`)
	if err != nil {
		return garde.ConsentRecord{}, translate(err)
	}
	c, err := scanConsent(tenant, s.QueryRowContext(ctx, string(tenant), subjectID, purpose))
	if err != nil {
		return garde.ConsentRecord{}, notFound(err, "consent")
	}
	return c, nil
}

func (t *tx) DeleteMessages(ctx context.Context, tenant garde.TenantID, subjectID, purpose string) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM messages WHERE tenant_id = ? AND subject_id = ? AND purpose = ?`, string(tenant), subjectID, purpose)
	if err != nil {
		return 0, translate(fmt.Errorf("delete messages: %w", err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) DeleteMessagesBefore(ctx context.Context, tenant garde.TenantID, subjectID, purpose string, before time.Time) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM messages WHERE tenant_id = ? AND subject_id = ? AND purpose = ? AND created_at <= ?`, string(tenant), subjectID, purpose, micros(before))
	if err != nil {
		return 0, translate(fmt.Errorf("delete messages: %w", err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) UpdateMessage(ctx context.Context, tenant garde.TenantID, id string, sealedText, sealedFields, sealedSpans []byte) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE messages SET sealed_text = ?, sealed_fields = ?, sealed_spans = ? WHERE tenant_id = ? AND id = ?`, sealedText, sealedFields, sealedSpans, string(tenant), id)
	if err != nil {
		return translate(fmt.Errorf("update message: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return garde.Errorf(garde.ErrNotFound, "message %s not found", id)
	}
	return nil
}

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
