// Subjects and their messages (garde.MessageStore): writes, reads, updates
// and purges.

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
)

const subjectColumns = `tenant_id, id, blind_index, sealed_ref, created_at`

func scanSubject(s pgx.Row) (garde.SubjectRecord, error) {
	var r garde.SubjectRecord
	var tenant string
	if err := s.Scan(&tenant, &r.ID, &r.Index, &r.SealedRef, &r.CreatedAt); err != nil {
		return garde.SubjectRecord{}, err
	}
	r.Tenant, r.CreatedAt = garde.TenantID(tenant), utc(r.CreatedAt)
	return r, nil
}

func (t *tx) SubjectByIndex(ctx context.Context, tenant garde.TenantID, index []byte) (garde.SubjectRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.SubjectRecord{}, err
	}
	r, err := scanSubject(t.tx.QueryRow(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE tenant_id = $1 AND blind_index = $2`, string(tenant), index))
	if err != nil {
		return garde.SubjectRecord{}, notFound(err, "subject")
	}
	return r, nil
}

func (t *tx) SubjectsByIndex(ctx context.Context, tenant garde.TenantID, indexes [][]byte) ([]garde.SubjectRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE tenant_id = $1 AND blind_index = ANY($2::bytea[])`, string(tenant), indexes)
	return collect(rows, err, "subjects by index", func(r pgx.Rows) (garde.SubjectRecord, error) { return scanSubject(r) })
}

func (t *tx) CreateSubject(ctx context.Context, r garde.SubjectRecord) error {
	if err := t.begin(ctx, r.Tenant); err != nil {
		return err
	}
	return t.insert(ctx, "create subject", 1, `INSERT INTO subjects (`+subjectColumns+`, key_version) VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT DO NOTHING`,
		string(r.Tenant), r.ID, r.Index, r.SealedRef, r.CreatedAt)
}

func (t *tx) Subjects(ctx context.Context, tenant garde.TenantID, after string, limit int) ([]garde.SubjectRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3`, string(tenant), after, limit)
	return collect(rows, err, "subjects", func(r pgx.Rows) (garde.SubjectRecord, error) { return scanSubject(r) })
}

// InsertMessages inserts the batch in one statement (arrays unnested
// server-side: one round trip whatever the batch size).
func (t *tx) InsertMessages(ctx context.Context, ms []garde.Message) error {
	if err := t.begin(ctx, tenantsOf(ms, func(m garde.Message) garde.TenantID { return m.Tenant })...); err != nil {
		return err
	}
	if len(ms) == 0 {
		return nil
	}
	n := len(ms)
	tenants, ids, subjects, purposes, channels := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created, expires := make([]time.Time, n), make([]time.Time, n)
	texts, fields, spans := make([][]byte, n), make([][]byte, n), make([][]byte, n)
	for i, m := range ms {
		tenants[i], ids[i], subjects[i], purposes[i], channels[i] = string(m.Tenant), m.ID, m.SubjectID, m.Purpose, m.Channel
		created[i], expires[i], texts[i], fields[i], spans[i] = m.CreatedAt, m.ExpiresAt, m.SealedText, m.SealedFields, m.SealedSpans
	}
	return t.insert(ctx, "insert messages", int64(n), `INSERT INTO messages (tenant_id, id, subject_id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields, sealed_spans)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::bytea[], $9::bytea[], $10::bytea[])
		ON CONFLICT DO NOTHING`,
		tenants, ids, subjects, purposes, channels, created, expires, texts, fields, spans)
}

func (t *tx) Messages(ctx context.Context, tenant garde.TenantID, subjectID, purpose string) ([]garde.Message, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT id, channel, created_at, expires_at, sealed_text, sealed_fields, sealed_spans FROM messages
		WHERE tenant_id = $1 AND subject_id = $2 AND purpose = $3 ORDER BY id`, string(tenant), subjectID, purpose)
	return collect(rows, err, "messages", func(r pgx.Rows) (garde.Message, error) {
		m := garde.Message{Tenant: tenant, SubjectID: subjectID, Purpose: purpose}
		err := r.Scan(&m.ID, &m.Channel, &m.CreatedAt, &m.ExpiresAt, &m.SealedText, &m.SealedFields, &m.SealedSpans)
		m.CreatedAt, m.ExpiresAt = utc(m.CreatedAt), utc(m.ExpiresAt)
		return m, err
	})
}

const messageColumns = `id, subject_id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields, sealed_spans`

func scanMessage(tenant garde.TenantID, r pgx.Row) (garde.Message, error) {
	m := garde.Message{Tenant: tenant}
	err := r.Scan(&m.ID, &m.SubjectID, &m.Purpose, &m.Channel, &m.CreatedAt, &m.ExpiresAt, &m.SealedText, &m.SealedFields, &m.SealedSpans)
	m.CreatedAt, m.ExpiresAt = utc(m.CreatedAt), utc(m.ExpiresAt)
	return m, err
}

func (t *tx) DeleteMessages(ctx context.Context, tenant garde.TenantID, subjectID, purpose string) (int, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return 0, err
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM messages WHERE tenant_id = $1 AND subject_id = $2 AND purpose = $3`, string(tenant), subjectID, purpose)
	if err != nil {
		return 0, translate(fmt.Errorf("delete messages: %w", err))
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) DeleteMessagesBefore(ctx context.Context, tenant garde.TenantID, subjectID, purpose string, before time.Time) (int, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return 0, err
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM messages WHERE tenant_id = $1 AND subject_id = $2 AND purpose = $3 AND created_at <= $4`, string(tenant), subjectID, purpose, before)
	if err != nil {
		return 0, translate(fmt.Errorf("delete messages: %w", err))
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) UpdateMessage(ctx context.Context, tenant garde.TenantID, id string, sealedText, sealedFields, sealedSpans []byte) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	tag, err := t.tx.Exec(ctx, `UPDATE messages SET sealed_text = $1, sealed_fields = $2, sealed_spans = $3 WHERE tenant_id = $4 AND id = $5`, sealedText, sealedFields, sealedSpans, string(tenant), id)
	if err != nil {
		return translate(fmt.Errorf("update message: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return garde.Errorf(garde.ErrNotFound, "message %s not found", id)
	}
	return nil
}

func (t *tx) SubjectMessages(ctx context.Context, tenant garde.TenantID, subjectID, after string, limit int) ([]garde.Message, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = $1 AND subject_id = $2 AND id > $3 ORDER BY id LIMIT $4`,
		string(tenant), subjectID, after, limit)
	return collect(rows, err, "subject messages", func(r pgx.Rows) (garde.Message, error) { return scanMessage(tenant, r) })
}

func (t *tx) MessageByID(ctx context.Context, tenant garde.TenantID, id string) (garde.Message, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.Message{}, err
	}
	m, err := scanMessage(tenant, t.tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE tenant_id = $1 AND id = $2`, string(tenant), id))
	if err != nil {
		return garde.Message{}, notFound(err, "message")
	}
	return m, nil
}

func (t *tx) DeleteSubjectMessages(ctx context.Context, tenant garde.TenantID, subjectID string, limit int) (int, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return 0, err
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM messages WHERE tenant_id = $1 AND id IN (
		SELECT id FROM messages WHERE tenant_id = $1 AND subject_id = $2 ORDER BY id LIMIT $3)`, string(tenant), subjectID, limit)
	if err != nil {
		return 0, translate(fmt.Errorf("delete subject messages: %w", err))
	}
	return int(tag.RowsAffected()), nil
}

func (t *tx) DeleteSubject(ctx context.Context, tenant garde.TenantID, subjectID string) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM subjects WHERE tenant_id = $1 AND id = $2`, string(tenant), subjectID)
	if err != nil {
		return translate(fmt.Errorf("delete subject: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return garde.Errorf(garde.ErrNotFound, "subject %s not found", subjectID)
	}
	return nil
}

func (t *tx) DeleteExpiredMessages(ctx context.Context, tenant garde.TenantID, now time.Time, limit int) (map[string]int, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `DELETE FROM messages WHERE tenant_id = $1 AND id IN (
		SELECT id FROM messages WHERE tenant_id = $1 AND expires_at < $2 ORDER BY expires_at, id LIMIT $3)
		RETURNING purpose`, string(tenant), now, limit)
	purposes, err := collect(rows, err, "delete expired messages", func(r pgx.Rows) (string, error) {
		var p string
		err := r.Scan(&p)
		return p, err
	})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, p := range purposes {
		out[p]++
	}
	return out, nil
}
