package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
)

// tx implements garde.Tx. Every statement names its tenant.
type tx struct {
	tx *cachedTx
}

func (t *tx) close() { t.tx.close() }

// stmt returns a prepared statement bound to the transaction.
func (t *tx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, q)
}

// collect reads every row of a query with scan; err is the query's error.
func collect[T any](rows *sql.Rows, err error, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *tx) exec(ctx context.Context, what, q string, args ...any) error {
	if _, err := t.tx.ExecContext(ctx, q, args...); err != nil {
		return translate(fmt.Errorf("%s: %w", what, err))
	}
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return garde.Errorf(garde.ErrNotFound, "%s not found", what)
	}
	return translate(fmt.Errorf("%s: %w", what, err))
}

func (t *tx) CreateTenant(ctx context.Context, tn garde.Tenant) error {
	return t.exec(ctx, "create tenant", `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`,
		string(tn.ID), tn.Name, micros(tn.CreatedAt))
}

func (t *tx) Tenant(ctx context.Context, id garde.TenantID) (garde.Tenant, error) {
	var tn garde.Tenant
	var at int64
	err := t.tx.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, string(id)).Scan(&tn.ID, &tn.Name, &at)
	if err != nil {
		return garde.Tenant{}, notFound(err, "tenant")
	}
	tn.CreatedAt = fromMicros(at)
	return tn, nil
}

func (t *tx) Tenants(ctx context.Context) ([]garde.Tenant, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.Tenant
	for rows.Next() {
		var tn garde.Tenant
		var at int64
		if err := rows.Scan(&tn.ID, &tn.Name, &at); err != nil {
			return nil, err
		}
		tn.CreatedAt = fromMicros(at)
		out = append(out, tn)
	}
	return out, rows.Err()
}

func (t *tx) CreateAPIKey(ctx context.Context, k garde.APIKey) error {
	return t.exec(ctx, "create api key", `INSERT INTO api_keys (tenant_id, id, prefix, hash, role, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		string(k.Tenant), k.ID, k.Prefix, k.Hash, string(k.Role), micros(k.CreatedAt), k.CreatedBy, nullMicros(k.RevokedAt))
}

const apiKeyColumns = `tenant_id, id, prefix, hash, role, created_at, created_by, revoked_at`

func scanAPIKey(s interface{ Scan(...any) error }) (garde.APIKey, error) {
	var k garde.APIKey
	var at int64
	var revoked sql.NullInt64
	if err := s.Scan(&k.Tenant, &k.ID, &k.Prefix, &k.Hash, &k.Role, &at, &k.CreatedBy, &revoked); err != nil {
		return garde.APIKey{}, err
	}
	k.CreatedAt = fromMicros(at)
	if revoked.Valid {
		k.RevokedAt = fromMicros(revoked.Int64)
	}
	return k, nil
}

func (t *tx) APIKeyByPrefix(ctx context.Context, prefix string) (garde.APIKey, error) {
	k, err := scanAPIKey(t.tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if err != nil {
		return garde.APIKey{}, notFound(err, "api key")
	}
	return k, nil
}

func (t *tx) APIKeys(ctx context.Context, tenant garde.TenantID) ([]garde.APIKey, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = ? ORDER BY id`, string(tenant))
	return collect(rows, err, scanAPIKey)
}

func (t *tx) RevokeAPIKey(ctx context.Context, tenant garde.TenantID, id string, at time.Time) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND id = ?`, micros(at), string(tenant), id)
	if err != nil {
		return translate(fmt.Errorf("revoke api key: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return garde.Errorf(garde.ErrNotFound, "api key %s not found", id)
	}
	return nil
}

func (t *tx) PutRegister(ctx context.Context, tenant garde.TenantID, r garde.RegisterVersion) error {
	return t.exec(ctx, "put register", `INSERT INTO registers (tenant_id, version, applied_at, applied_by, document, source) VALUES (?, ?, ?, ?, ?, ?)`,
		string(tenant), r.Version, micros(r.AppliedAt), r.AppliedBy, r.Document, r.Source)
}

func (t *tx) Register(ctx context.Context, tenant garde.TenantID, v int) (garde.RegisterVersion, error) {
	q := `SELECT version, applied_at, applied_by, document, source FROM registers WHERE tenant_id = ? AND version = ?`
	args := []any{string(tenant), v}
	if v == 0 {
		q = `SELECT version, applied_at, applied_by, document, source FROM registers WHERE tenant_id = ? ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	var r garde.RegisterVersion
	var at int64
	if err := t.tx.QueryRowContext(ctx, q, args...).Scan(&r.Version, &at, &r.AppliedBy, &r.Document, &r.Source); err != nil {
		return garde.RegisterVersion{}, notFound(err, "register version")
	}
	r.AppliedAt = fromMicros(at)
	return r, nil
}

func (t *tx) RegisterVersionNumber(ctx context.Context, tenant garde.TenantID) (int, error) {
	var v int
	err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM registers WHERE tenant_id = ?`, string(tenant)).Scan(&v)
	return v, translate(err)
}

const subjectColumns = `tenant_id, id, blind_index, sealed_ref, created_at`

func scanSubject(s interface{ Scan(...any) error }) (garde.SubjectRecord, error) {
	var r garde.SubjectRecord
	var at int64
	if err := s.Scan(&r.Tenant, &r.ID, &r.Index, &r.SealedRef, &at); err != nil {
		return garde.SubjectRecord{}, err
	}
	r.CreatedAt = fromMicros(at)
	return r, nil
}

func (t *tx) SubjectByIndex(ctx context.Context, tenant garde.TenantID, index []byte) (garde.SubjectRecord, error) {
	s, err := t.stmt(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE tenant_id = ? AND blind_index = ?`)
	if err != nil {
		return garde.SubjectRecord{}, translate(err)
	}
	r, err := scanSubject(s.QueryRowContext(ctx, string(tenant), index))
	if err != nil {
		return garde.SubjectRecord{}, notFound(err, "subject")
	}
	return r, nil
}

func (t *tx) SubjectsByIndex(ctx context.Context, tenant garde.TenantID, indexes [][]byte) ([]garde.SubjectRecord, error) {
	return byIndexes(ctx, t, tenant, indexes, `SELECT `+subjectColumns+` FROM subjects`, scanSubject)
}

// byIndexes runs query (a SELECT with no WHERE) for the rows of a tenant
// whose blind_index is one of indexes, insertChunk indexes per statement.
func byIndexes[T any](ctx context.Context, t *tx, tenant garde.TenantID, indexes [][]byte, query string, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	var out []T
	for start := 0; start < len(indexes); start += insertChunk {
		chunk := indexes[start:min(start+insertChunk, len(indexes))]
		s, err := t.stmt(ctx, query+` WHERE tenant_id = ? AND blind_index IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`)
		if err != nil {
			return nil, translate(err)
		}
		args := make([]any, 0, len(chunk)+1)
		args = append(args, string(tenant))
		for _, idx := range chunk {
			args = append(args, idx)
		}
		rows, err := s.QueryContext(ctx, args...)
		got, err := collect(rows, err, scan)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func (t *tx) CreateSubject(ctx context.Context, r garde.SubjectRecord) error {
	return t.exec(ctx, "create subject", `INSERT INTO subjects (`+subjectColumns+`, key_version) VALUES (?, ?, ?, ?, ?, 0)`,
		string(r.Tenant), r.ID, r.Index, r.SealedRef, micros(r.CreatedAt))
}

func (t *tx) Subjects(ctx context.Context, tenant garde.TenantID, after string, limit int) ([]garde.SubjectRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`, string(tenant), after, limit)
	return collect(rows, err, scanSubject)
}

// insertChunk is how many rows one multi-row INSERT carries: one statement
// per chunk instead of per row divides the per-statement cost of the
// driver, which dominates batch ingest.
const insertChunk = 64

// multiInsert inserts rows in chunks with prepared multi-row statements.
func (t *tx) multiInsert(ctx context.Context, what, head string, cols, n int, args func(i int, dst []any) []any) error {
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	var buf []any
	for start := 0; start < n; start += insertChunk {
		end := min(start+insertChunk, n)
		q := head + strings.Repeat(row+", ", end-start-1) + row
		st, err := t.stmt(ctx, q)
		if err != nil {
			return translate(fmt.Errorf("%s: %w", what, err))
		}
		buf = buf[:0]
		for i := start; i < end; i++ {
			buf = args(i, buf)
		}
		if _, err := st.ExecContext(ctx, buf...); err != nil {
			return translate(fmt.Errorf("%s: %w", what, err))
		}
	}
	return nil
}

func (t *tx) InsertMessages(ctx context.Context, ms []garde.Message) error {
	return t.multiInsert(ctx, "insert messages",
		`INSERT INTO messages (tenant_id, id, subject_id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields, sealed_spans) VALUES `, 10, len(ms),
		func(i int, dst []any) []any {
			m := ms[i]
			return append(dst, string(m.Tenant), m.ID, m.SubjectID, m.Purpose, m.Channel, micros(m.CreatedAt), micros(m.ExpiresAt), m.SealedText, m.SealedFields, m.SealedSpans)
		})
}

func (t *tx) Messages(ctx context.Context, tenant garde.TenantID, subjectID, purpose string) ([]garde.Message, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, channel, created_at, expires_at, sealed_text, sealed_fields, sealed_spans FROM messages
		WHERE tenant_id = ? AND subject_id = ? AND purpose = ? ORDER BY id`, string(tenant), subjectID, purpose)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.Message
	for rows.Next() {
		m := garde.Message{Tenant: tenant, SubjectID: subjectID, Purpose: purpose}
		var created, expires int64
		if err := rows.Scan(&m.ID, &m.Channel, &created, &expires, &m.SealedText, &m.SealedFields, &m.SealedSpans); err != nil {
			return nil, err
		}
		m.CreatedAt, m.ExpiresAt = fromMicros(created), fromMicros(expires)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) AppendAudit(ctx context.Context, events []garde.AuditEvent) error {
	// Sequence numbers are per tenant. The write transaction holds SQLite's
	// only write lock, so reading the last one and adding to it is safe.
	next := map[garde.TenantID]int64{}
	seqs := make([]int64, len(events))
	for i, e := range events {
		n, ok := next[e.Tenant]
		if !ok {
			if err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM audit WHERE tenant_id = ?`, string(e.Tenant)).Scan(&n); err != nil {
				return translate(fmt.Errorf("append audit: %w", err))
			}
		}
		n++
		next[e.Tenant], seqs[i] = n, n
	}
	return t.multiInsert(ctx, "append audit",
		`INSERT INTO audit (tenant_id, seq, at, actor, action, purpose, subject_ref, outcome, count, reason) VALUES `, 10, len(events),
		func(i int, dst []any) []any {
			e := events[i]
			return append(dst, string(e.Tenant), seqs[i], micros(e.At), e.Actor, e.Action, e.Purpose, e.SubjectRef, e.Outcome, e.Count, e.Reason)
		})
}

func (t *tx) Audit(ctx context.Context, tenant garde.TenantID, f garde.AuditFilter) ([]garde.AuditEvent, error) {
	var where strings.Builder
	where.WriteString(`tenant_id = ? AND seq > ?`)
	args := []any{string(tenant), f.AfterSeq}
	if !f.Since.IsZero() {
		where.WriteString(` AND at >= ?`)
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		where.WriteString(` AND at < ?`)
		args = append(args, micros(f.Until))
	}
	for _, c := range []struct{ col, v string }{{"action", f.Action}, {"actor", f.Actor}, {"purpose", f.Purpose}} {
		if c.v != "" {
			where.WriteString(` AND ` + c.col + ` = ?`)
			args = append(args, c.v)
		}
	}
	args = append(args, f.Limit)
	rows, err := t.tx.QueryContext(ctx, `SELECT seq, at, actor, action, purpose, subject_ref, outcome, count, reason FROM audit WHERE `+where.String()+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.AuditEvent
	for rows.Next() {
		e := garde.AuditEvent{Tenant: tenant}
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.Purpose, &e.SubjectRef, &e.Outcome, &e.Count, &e.Reason); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
