// Subjects and their messages (garde.MessageStore): writes, reads, updates
// and purges.

package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/garde-privacy/garde"
)

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

func (t *tx) CreateSubject(ctx context.Context, r garde.SubjectRecord) error {
	return t.exec(ctx, "create subject", `INSERT INTO subjects (`+subjectColumns+`, key_version) VALUES (?, ?, ?, ?, ?, 0)`,
		string(r.Tenant), r.ID, r.Index, r.SealedRef, micros(r.CreatedAt))
}

func (t *tx) Subjects(ctx context.Context, tenant garde.TenantID, after string, limit int) ([]garde.SubjectRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+subjectColumns+` FROM subjects WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`, string(tenant), after, limit)
	return collect(rows, err, scanSubject)
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

func (t *tx) SubjectMessages(ctx context.Context, tenant garde.TenantID, subjectID, after string, limit int) ([]garde.Message, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields, sealed_spans FROM messages
		WHERE tenant_id = ? AND subject_id = ? AND id > ? ORDER BY id LIMIT ?`, string(tenant), subjectID, after, limit)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.Message
	for rows.Next() {
		m := garde.Message{Tenant: tenant, SubjectID: subjectID}
		var created, expires int64
		if err := rows.Scan(&m.ID, &m.Purpose, &m.Channel, &created, &expires, &m.SealedText, &m.SealedFields, &m.SealedSpans); err != nil {
			return nil, err
		}
		m.CreatedAt, m.ExpiresAt = fromMicros(created), fromMicros(expires)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (t *tx) MessageByID(ctx context.Context, tenant garde.TenantID, id string) (garde.Message, error) {
	m := garde.Message{Tenant: tenant, ID: id}
	var created, expires int64
	err := t.tx.QueryRowContext(ctx, `SELECT subject_id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields, sealed_spans FROM messages
		WHERE tenant_id = ? AND id = ?`, string(tenant), id).Scan(&m.SubjectID, &m.Purpose, &m.Channel, &created, &expires, &m.SealedText, &m.SealedFields, &m.SealedSpans)
	if err != nil {
		return garde.Message{}, notFound(err, "message")
	}
	m.CreatedAt, m.ExpiresAt = fromMicros(created), fromMicros(expires)
	return m, nil
}

func (t *tx) DeleteSubjectMessages(ctx context.Context, tenant garde.TenantID, subjectID string, limit int) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM messages WHERE rowid IN (SELECT rowid FROM messages WHERE tenant_id = ? AND subject_id = ? LIMIT ?)`, string(tenant), subjectID, limit)
	if err != nil {
		return 0, translate(fmt.Errorf("delete subject messages: %w", err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (t *tx) DeleteSubject(ctx context.Context, tenant garde.TenantID, subjectID string) error {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM subjects WHERE tenant_id = ? AND id = ?`, string(tenant), subjectID)
	if err != nil {
		return translate(fmt.Errorf("delete subject: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return garde.Errorf(garde.ErrNotFound, "subject %s not found", subjectID)
	}
	return nil
}

func (t *tx) DeleteExpiredMessages(ctx context.Context, tenant garde.TenantID, now time.Time, limit int) (map[string]int, error) {
	rows, err := t.tx.QueryContext(ctx, `DELETE FROM messages WHERE rowid IN
		(SELECT rowid FROM messages WHERE tenant_id = ? AND expires_at < ? ORDER BY expires_at LIMIT ?) RETURNING purpose`, string(tenant), micros(now), limit)
	if err != nil {
		return nil, translate(fmt.Errorf("delete expired messages: %w", err))
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		out[p]++
	}
	return out, rows.Err()
}
