// Storage of data-subject rights (garde.RightsStore): requests, blocks and
// restrictions, deliveries, alarms and leases. Every statement names its tenant except RequestByToken and
// AcquireLease.

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
)

const requestColumns = `tenant_id, id, type, status, subject_index, subject_ref, sealed_subject, key_version, purpose, source, external_id,
	callback_urls, filed_by, received_at, due_at, verified_at, started_at, completed_at, extended_at, extension, reason, legal_hold,
	token_hash, token_expires, key_destroyed_at, certificate, outcome, updated_at`

func requestArgs(r garde.RightsRequest) ([]any, error) {
	urls, err := json.Marshal(r.CallbackURLs)
	if err != nil {
		return nil, err
	}
	if r.CallbackURLs == nil {
		urls = []byte("[]")
	}
	return []any{string(r.Tenant), r.ID, r.Type, r.Status, r.SubjectIndex, r.SubjectRef, r.SealedSubject, r.KeyVersion, r.Purpose, r.Source, nullString(r.ExternalID),
		string(urls), r.FiledBy, micros(r.ReceivedAt), micros(r.DueAt), nullMicros(r.VerifiedAt), nullMicros(r.StartedAt), nullMicros(r.CompletedAt), nullMicros(r.ExtendedAt),
		r.Extension, r.Reason, r.LegalHold, r.TokenHash, nullMicros(r.TokenExpires), nullMicros(r.KeyDestroyedAt), r.Certificate, r.Outcome, micros(r.UpdatedAt)}, nil
}

func scanRequest(s interface{ Scan(...any) error }) (garde.RightsRequest, error) {
	var r garde.RightsRequest
	var ext sql.NullString
	var urls string
	var received, due, updated int64
	var verified, started, completed, extended, tokenExp, destroyed sql.NullInt64
	if err := s.Scan(&r.Tenant, &r.ID, &r.Type, &r.Status, &r.SubjectIndex, &r.SubjectRef, &r.SealedSubject, &r.KeyVersion, &r.Purpose, &r.Source, &ext,
		&urls, &r.FiledBy, &received, &due, &verified, &started, &completed, &extended, &r.Extension, &r.Reason, &r.LegalHold,
		&r.TokenHash, &tokenExp, &destroyed, &r.Certificate, &r.Outcome, &updated); err != nil {
		return garde.RightsRequest{}, err
	}
	r.ExternalID = ext.String
	if err := json.Unmarshal([]byte(urls), &r.CallbackURLs); err != nil {
		return garde.RightsRequest{}, fmt.Errorf("request %s callback urls: %w", r.ID, err)
	}
	if len(r.CallbackURLs) == 0 {
		r.CallbackURLs = nil
	}
	r.ReceivedAt, r.DueAt, r.UpdatedAt = fromMicros(received), fromMicros(due), fromMicros(updated)
	for _, p := range []struct {
		dst *time.Time
		v   sql.NullInt64
	}{{&r.VerifiedAt, verified}, {&r.StartedAt, started}, {&r.CompletedAt, completed}, {&r.ExtendedAt, extended}, {&r.TokenExpires, tokenExp}, {&r.KeyDestroyedAt, destroyed}} {
		if p.v.Valid {
			*p.dst = fromMicros(p.v.Int64)
		}
	}
	return r, nil
}

func (t *tx) InsertRequest(ctx context.Context, r garde.RightsRequest) error {
	args, err := requestArgs(r)
	if err != nil {
		return err
	}
	return t.exec(ctx, "insert request", `INSERT INTO requests (`+requestColumns+`) VALUES (`+strings.Repeat("?, ", len(args)-1)+`?)`, args...)
}

func (t *tx) UpdateRequest(ctx context.Context, r garde.RightsRequest) error {
	args, err := requestArgs(r)
	if err != nil {
		return err
	}
	res, err := t.tx.ExecContext(ctx, `UPDATE requests SET status = ?, sealed_subject = ?, callback_urls = ?, due_at = ?, verified_at = ?, started_at = ?,
		completed_at = ?, extended_at = ?, extension = ?, reason = ?, legal_hold = ?, token_hash = ?, token_expires = ?, key_destroyed_at = ?,
		certificate = ?, outcome = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
		args[3], args[6], args[11], args[14], args[15], args[16], args[17], args[18], args[19], args[20], args[21], args[22], args[23], args[24],
		args[25], args[26], args[27], args[0], args[1])
	if err != nil {
		return translate(fmt.Errorf("update request: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return garde.Errorf(garde.ErrNotFound, "request %s not found", r.ID)
	}
	return nil
}

func (t *tx) queryRequest(ctx context.Context, what, where string, args ...any) (garde.RightsRequest, error) {
	r, err := scanRequest(t.tx.QueryRowContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE `+where, args...))
	if err != nil {
		return garde.RightsRequest{}, notFound(err, what)
	}
	return r, nil
}

func (t *tx) Request(ctx context.Context, tenant garde.TenantID, id string) (garde.RightsRequest, error) {
	return t.queryRequest(ctx, "request", `tenant_id = ? AND id = ?`, string(tenant), id)
}

func (t *tx) RequestByExternalID(ctx context.Context, tenant garde.TenantID, externalID string) (garde.RightsRequest, error) {
	return t.queryRequest(ctx, "request", `tenant_id = ? AND external_id = ?`, string(tenant), externalID)
}

func (t *tx) RequestByToken(ctx context.Context, tokenHash []byte) (garde.RightsRequest, error) {
	return t.queryRequest(ctx, "request", `token_hash = ?`, tokenHash)
}

func (t *tx) listRequests(ctx context.Context, where string, args ...any) ([]garde.RightsRequest, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+requestColumns+` FROM requests WHERE `+where, args...)
	return collect(rows, err, scanRequest)
}

// notClosed selects the requests still open, from garde.ClosedStatuses. It
// is spelt exactly as the predicate of the partial index
// requests_open_by_due (migration 0030), so that SQLite uses the index;
// TestOpenStatusesMatchIndex keeps the two equal.
var notClosed = `status NOT IN ` + sqlStrings(garde.ClosedStatuses)

// sqlStrings is a list of SQL string literals: ('a', 'b').
func sqlStrings(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	return "(" + strings.Join(q, ", ") + ")"
}

func (t *tx) Requests(ctx context.Context, tenant garde.TenantID, f garde.RequestFilter) ([]garde.RightsRequest, error) {
	var where strings.Builder
	where.WriteString(`tenant_id = ? AND id > ?`)
	args := []any{string(tenant), f.After}
	if f.Status != "" {
		where.WriteString(` AND status = ?`)
		args = append(args, f.Status)
	}
	if f.Type != "" {
		where.WriteString(` AND type = ?`)
		args = append(args, f.Type)
	}
	if f.OpenOnly || !f.DueBefore.IsZero() {
		where.WriteString(` AND ` + notClosed)
	}
	if !f.DueBefore.IsZero() {
		where.WriteString(` AND due_at < ?`)
		args = append(args, micros(f.DueBefore))
	}
	where.WriteString(` ORDER BY id LIMIT ?`)
	args = append(args, f.Limit)
	return t.listRequests(ctx, where.String(), args...)
}

func (t *tx) RequestsBySubject(ctx context.Context, tenant garde.TenantID, index []byte) ([]garde.RightsRequest, error) {
	return t.listRequests(ctx, `tenant_id = ? AND subject_index = ? ORDER BY id`, string(tenant), index)
}

func (t *tx) PutSubjectBlock(ctx context.Context, b garde.SubjectBlock) error {
	return t.exec(ctx, "put subject block", `INSERT INTO subject_blocks (tenant_id, blind_index, kind, purpose, since, request_id) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, blind_index, kind, purpose) DO UPDATE SET since = excluded.since, request_id = excluded.request_id`,
		string(b.Tenant), b.Index, b.Kind, b.Purpose, micros(b.Since), b.RequestID)
}

func (t *tx) DeleteSubjectBlocks(ctx context.Context, tenant garde.TenantID, index []byte, kind string) error {
	return t.exec(ctx, "delete subject blocks", `DELETE FROM subject_blocks WHERE tenant_id = ? AND blind_index = ? AND kind = ?`, string(tenant), index, kind)
}

func (t *tx) SubjectBlocks(ctx context.Context, tenant garde.TenantID, indexes [][]byte) ([]garde.SubjectBlock, error) {
	return byIndexes(ctx, t, tenant, indexes, `SELECT blind_index, kind, purpose, since, request_id FROM subject_blocks`,
		func(r interface{ Scan(...any) error }) (garde.SubjectBlock, error) {
			b := garde.SubjectBlock{Tenant: tenant}
			var since int64
			if err := r.Scan(&b.Index, &b.Kind, &b.Purpose, &since, &b.RequestID); err != nil {
				return b, err
			}
			b.Since = fromMicros(since)
			return b, nil
		})
}

const deliveryColumns = `tenant_id, request_id, seq, kind, recipient, endpoint, sealed_body, key_version, status, attempts, next_at, last_error, delivered_at`

func (t *tx) InsertDeliveries(ctx context.Context, ds []garde.Delivery) error {
	return t.multiInsert(ctx, "insert deliveries", `INSERT INTO deliveries (`+deliveryColumns+`) VALUES `, 13, len(ds),
		func(i int, dst []any) []any {
			d := ds[i]
			return append(dst, string(d.Tenant), d.RequestID, d.Seq, d.Kind, d.Recipient, d.Endpoint, d.SealedBody, d.KeyVersion, d.Status, d.Attempts,
				micros(d.NextAt), d.LastError, nullMicros(d.DeliveredAt))
		})
}

func (t *tx) UpdateDelivery(ctx context.Context, d garde.Delivery) error {
	return t.exec(ctx, "update delivery", `UPDATE deliveries SET sealed_body = ?, status = ?, attempts = ?, next_at = ?, last_error = ?, delivered_at = ?
		WHERE tenant_id = ? AND request_id = ? AND seq = ?`,
		d.SealedBody, d.Status, d.Attempts, micros(d.NextAt), d.LastError, nullMicros(d.DeliveredAt), string(d.Tenant), d.RequestID, d.Seq)
}

func (t *tx) listDeliveries(ctx context.Context, where string, args ...any) ([]garde.Delivery, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+where, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.Delivery
	for rows.Next() {
		var d garde.Delivery
		var next int64
		var delivered sql.NullInt64
		if err := rows.Scan(&d.Tenant, &d.RequestID, &d.Seq, &d.Kind, &d.Recipient, &d.Endpoint, &d.SealedBody, &d.KeyVersion, &d.Status, &d.Attempts,
			&next, &d.LastError, &delivered); err != nil {
			return nil, err
		}
		d.NextAt = fromMicros(next)
		if delivered.Valid {
			d.DeliveredAt = fromMicros(delivered.Int64)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (t *tx) Deliveries(ctx context.Context, tenant garde.TenantID, requestID string) ([]garde.Delivery, error) {
	return t.listDeliveries(ctx, `tenant_id = ? AND request_id = ? ORDER BY seq`, string(tenant), requestID)
}

func (t *tx) DueDeliveries(ctx context.Context, tenant garde.TenantID, now time.Time, limit int) ([]garde.Delivery, error) {
	return t.listDeliveries(ctx, `tenant_id = ? AND status = 'pending' AND next_at <= ? ORDER BY next_at, request_id, seq LIMIT ?`, string(tenant), micros(now), limit)
}

func (t *tx) ClaimRequestAlarm(ctx context.Context, tenant garde.TenantID, requestID, kind, node string, now, leaseUntil time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO request_alarms (tenant_id, request_id, kind, node, claimed_at, lease_until, attempts) VALUES (?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (tenant_id, request_id, kind) DO UPDATE SET node = excluded.node, claimed_at = excluded.claimed_at, lease_until = excluded.lease_until,
		attempts = request_alarms.attempts + 1 WHERE request_alarms.sent_at IS NULL AND request_alarms.lease_until <= ?`,
		string(tenant), requestID, kind, node, micros(now), micros(leaseUntil), micros(now))
	if err != nil {
		return false, translate(fmt.Errorf("claim request alarm: %w", err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (t *tx) CompleteRequestAlarm(ctx context.Context, tenant garde.TenantID, requestID, kind string, sentAt time.Time) error {
	return t.exec(ctx, "complete request alarm", `UPDATE request_alarms SET sent_at = ? WHERE tenant_id = ? AND request_id = ? AND kind = ?`,
		micros(sentAt), string(tenant), requestID, kind)
}

func (t *tx) AcquireLease(ctx context.Context, name, node string, now, until time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO leases (name, node, until) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET node = excluded.node, until = excluded.until WHERE leases.until <= ? OR leases.node = excluded.node`,
		name, node, micros(until), micros(now))
	if err != nil {
		return false, translate(fmt.Errorf("acquire lease: %w", err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
