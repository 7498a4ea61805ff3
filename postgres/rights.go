// The storage of data-subject rights (garde.RightsStore): requests, blocks and
// restrictions, deliveries, alarms and leases. Statements only: the clock, the workflow and every rule live
// in package garde.

package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
)

const requestColumns = `tenant_id, id, type, status, subject_index, subject_ref, sealed_subject, key_version, purpose, source,
	external_id, callback_urls, filed_by, received_at, due_at, verified_at, started_at, completed_at, extended_at,
	extension, reason, legal_hold, token_hash, token_expires, key_destroyed_at, certificate, outcome, updated_at`

func requestArgs(r garde.RightsRequest) []any {
	urls := r.CallbackURLs
	if urls == nil {
		urls = []string{}
	}
	return []any{string(r.Tenant), r.ID, r.Type, r.Status, r.SubjectIndex, r.SubjectRef, r.SealedSubject, int64(r.KeyVersion), r.Purpose, r.Source,
		nullString(r.ExternalID), urls, r.FiledBy, r.ReceivedAt, r.DueAt, nullTime(r.VerifiedAt), nullTime(r.StartedAt), nullTime(r.CompletedAt), nullTime(r.ExtendedAt),
		r.Extension, r.Reason, r.LegalHold, r.TokenHash, nullTime(r.TokenExpires), nullTime(r.KeyDestroyedAt), r.Certificate, r.Outcome, r.UpdatedAt}
}

func scanRequest(row pgx.Row) (garde.RightsRequest, error) {
	var r garde.RightsRequest
	var tenant string
	var keyVersion int64
	var external *string
	var verified, started, completed, extended, tokenExpires, destroyed *time.Time
	err := row.Scan(&tenant, &r.ID, &r.Type, &r.Status, &r.SubjectIndex, &r.SubjectRef, &r.SealedSubject, &keyVersion, &r.Purpose, &r.Source,
		&external, &r.CallbackURLs, &r.FiledBy, &r.ReceivedAt, &r.DueAt, &verified, &started, &completed, &extended,
		&r.Extension, &r.Reason, &r.LegalHold, &r.TokenHash, &tokenExpires, &destroyed, &r.Certificate, &r.Outcome, &r.UpdatedAt)
	if err != nil {
		return garde.RightsRequest{}, err
	}
	r.Tenant, r.KeyVersion = garde.TenantID(tenant), uint32(keyVersion)
	if external != nil {
		r.ExternalID = *external
	}
	if len(r.CallbackURLs) == 0 {
		r.CallbackURLs = nil
	}
	r.ReceivedAt, r.DueAt, r.UpdatedAt = utc(r.ReceivedAt), utc(r.DueAt), utc(r.UpdatedAt)
	r.VerifiedAt, r.StartedAt, r.CompletedAt, r.ExtendedAt = fromNull(verified), fromNull(started), fromNull(completed), fromNull(extended)
	r.TokenExpires, r.KeyDestroyedAt = fromNull(tokenExpires), fromNull(destroyed)
	return r, nil
}

func (t *tx) InsertRequest(ctx context.Context, r garde.RightsRequest) error {
	if err := t.begin(ctx, r.Tenant); err != nil {
		return err
	}
	return t.insert(ctx, "insert request", 1, `INSERT INTO requests (`+requestColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)
		ON CONFLICT DO NOTHING`, requestArgs(r)...)
}

func (t *tx) UpdateRequest(ctx context.Context, r garde.RightsRequest) error {
	if err := t.begin(ctx, r.Tenant); err != nil {
		return err
	}
	// The mutable fields only, as on SQLite: type, subject, source and the
	// filing never change.
	a := requestArgs(r)
	tag, err := t.tx.Exec(ctx, `UPDATE requests SET status = $3, sealed_subject = $4, callback_urls = $5, due_at = $6, verified_at = $7,
		started_at = $8, completed_at = $9, extended_at = $10, extension = $11, reason = $12, legal_hold = $13, token_hash = $14,
		token_expires = $15, key_destroyed_at = $16, certificate = $17, outcome = $18, updated_at = $19
		WHERE tenant_id = $1 AND id = $2`,
		a[0], a[1], a[3], a[6], a[11], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23], a[24], a[25], a[26], a[27])
	if err != nil {
		return translate(fmt.Errorf("update request: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return garde.Errorf(garde.ErrNotFound, "request %s not found", r.ID)
	}
	return nil
}

func (t *tx) request(ctx context.Context, q string, args ...any) (garde.RightsRequest, error) {
	r, err := scanRequest(t.tx.QueryRow(ctx, `SELECT `+requestColumns+` FROM requests WHERE `+q, args...))
	if err != nil {
		return garde.RightsRequest{}, notFound(err, "request")
	}
	return r, nil
}

func (t *tx) Request(ctx context.Context, tenant garde.TenantID, id string) (garde.RightsRequest, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.RightsRequest{}, err
	}
	return t.request(ctx, `tenant_id = $1 AND id = $2`, string(tenant), id)
}

func (t *tx) RequestByExternalID(ctx context.Context, tenant garde.TenantID, externalID string) (garde.RightsRequest, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.RightsRequest{}, err
	}
	return t.request(ctx, `tenant_id = $1 AND external_id = $2`, string(tenant), externalID)
}

// RequestByToken is one of the two look-ups that start from no tenant: the
// token is what names the request (and so its tenant).
func (t *tx) RequestByToken(ctx context.Context, tokenHash []byte) (garde.RightsRequest, error) {
	if err := t.begin(ctx); err != nil {
		return garde.RightsRequest{}, err
	}
	return t.request(ctx, `token_hash = $1`, tokenHash)
}

// notClosed selects the requests still open, from garde.ClosedStatuses. It
// is spelt exactly as the predicate of the partial index
// requests_open_by_due (migration 0006), so that the planner can prove the
// index applies; TestOpenStatusesMatchIndex keeps the two equal.
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
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	var where strings.Builder
	where.WriteString(`tenant_id = $1 AND id > $2`)
	args := []any{string(tenant), f.After}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		where.WriteString(` AND status = ` + arg(f.Status))
	}
	if f.Type != "" {
		where.WriteString(` AND type = ` + arg(f.Type))
	}
	// A deadline only matters for a request still open.
	if f.OpenOnly || !f.DueBefore.IsZero() {
		where.WriteString(` AND ` + notClosed)
	}
	if !f.DueBefore.IsZero() {
		where.WriteString(` AND due_at < ` + arg(f.DueBefore))
	}
	rows, err := t.tx.Query(ctx, `SELECT `+requestColumns+` FROM requests WHERE `+where.String()+` ORDER BY id LIMIT `+arg(f.Limit), args...)
	return collect(rows, err, "requests", func(r pgx.Rows) (garde.RightsRequest, error) { return scanRequest(r) })
}

func (t *tx) RequestsBySubject(ctx context.Context, tenant garde.TenantID, index []byte) ([]garde.RightsRequest, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+requestColumns+` FROM requests WHERE tenant_id = $1 AND subject_index = $2 ORDER BY id`, string(tenant), index)
	return collect(rows, err, "requests by subject", func(r pgx.Rows) (garde.RightsRequest, error) { return scanRequest(r) })
}

func (t *tx) PutSubjectBlock(ctx context.Context, b garde.SubjectBlock) error {
	if err := t.begin(ctx, b.Tenant); err != nil {
		return err
	}
	return t.exec(ctx, "put subject block", `INSERT INTO subject_blocks (tenant_id, blind_index, kind, purpose, since, request_id)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (tenant_id, blind_index, kind, purpose) DO UPDATE SET since = excluded.since, request_id = excluded.request_id`,
		string(b.Tenant), b.Index, b.Kind, b.Purpose, b.Since, b.RequestID)
}

func (t *tx) DeleteSubjectBlocks(ctx context.Context, tenant garde.TenantID, index []byte, kind string) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	return t.exec(ctx, "delete subject blocks", `DELETE FROM subject_blocks WHERE tenant_id = $1 AND blind_index = $2 AND kind = $3`, string(tenant), index, kind)
}

func (t *tx) SubjectBlocks(ctx context.Context, tenant garde.TenantID, indexes [][]byte) ([]garde.SubjectBlock, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT blind_index, kind, purpose, since, request_id FROM subject_blocks
		WHERE tenant_id = $1 AND blind_index = ANY($2::bytea[]) ORDER BY blind_index, kind, purpose`, string(tenant), indexes)
	return collect(rows, err, "subject blocks", func(r pgx.Rows) (garde.SubjectBlock, error) {
		b := garde.SubjectBlock{Tenant: tenant}
		err := r.Scan(&b.Index, &b.Kind, &b.Purpose, &b.Since, &b.RequestID)
		b.Since = utc(b.Since)
		return b, err
	})
}

const deliveryColumns = `tenant_id, request_id, seq, kind, recipient, endpoint, sealed_body, key_version, status, attempts, next_at, last_error, delivered_at`

func scanDelivery(row pgx.Row) (garde.Delivery, error) {
	var d garde.Delivery
	var tenant string
	var seq, keyVersion, attempts int64
	var delivered *time.Time
	err := row.Scan(&tenant, &d.RequestID, &seq, &d.Kind, &d.Recipient, &d.Endpoint, &d.SealedBody, &keyVersion, &d.Status, &attempts, &d.NextAt, &d.LastError, &delivered)
	d.Tenant, d.Seq, d.KeyVersion, d.Attempts = garde.TenantID(tenant), int(seq), uint32(keyVersion), int(attempts)
	d.NextAt, d.DeliveredAt = utc(d.NextAt), fromNull(delivered)
	return d, err
}

func (t *tx) InsertDeliveries(ctx context.Context, ds []garde.Delivery) error {
	if err := t.begin(ctx, tenantsOf(ds, func(d garde.Delivery) garde.TenantID { return d.Tenant })...); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	var b pgx.Batch
	for _, d := range ds {
		b.Queue(`INSERT INTO deliveries (`+deliveryColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING`,
			string(d.Tenant), d.RequestID, d.Seq, d.Kind, d.Recipient, d.Endpoint, d.SealedBody, int64(d.KeyVersion), d.Status, d.Attempts, d.NextAt, d.LastError, nullTime(d.DeliveredAt))
	}
	br := t.tx.SendBatch(ctx, &b)
	conflict := false
	for range ds {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return translate(fmt.Errorf("insert deliveries: %w", err))
		}
		conflict = conflict || tag.RowsAffected() != 1
	}
	if err := br.Close(); err != nil {
		return translate(fmt.Errorf("insert deliveries: %w", err))
	}
	if conflict {
		return garde.Errorf(garde.ErrConflict, "insert deliveries: already exists")
	}
	return nil
}

func (t *tx) UpdateDelivery(ctx context.Context, d garde.Delivery) error {
	if err := t.begin(ctx, d.Tenant); err != nil {
		return err
	}
	return t.exec(ctx, "update delivery", `UPDATE deliveries SET sealed_body = $4, status = $5, attempts = $6, next_at = $7, last_error = $8, delivered_at = $9
		WHERE tenant_id = $1 AND request_id = $2 AND seq = $3`,
		string(d.Tenant), d.RequestID, d.Seq, d.SealedBody, d.Status, d.Attempts, d.NextAt, d.LastError, nullTime(d.DeliveredAt))
}

func (t *tx) Deliveries(ctx context.Context, tenant garde.TenantID, requestID string) ([]garde.Delivery, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE tenant_id = $1 AND request_id = $2 ORDER BY seq`, string(tenant), requestID)
	return collect(rows, err, "deliveries", func(r pgx.Rows) (garde.Delivery, error) { return scanDelivery(r) })
}

func (t *tx) DueDeliveries(ctx context.Context, tenant garde.TenantID, now time.Time, limit int) ([]garde.Delivery, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE tenant_id = $1 AND status = 'pending' AND next_at <= $2
		ORDER BY next_at, request_id, seq LIMIT $3`, string(tenant), now, limit)
	return collect(rows, err, "due deliveries", func(r pgx.Rows) (garde.Delivery, error) { return scanDelivery(r) })
}

// ClaimRequestAlarm is one statement, like ClaimEscalation: two nodes never
// both hold a live claim.
func (t *tx) ClaimRequestAlarm(ctx context.Context, tenant garde.TenantID, requestID, kind, node string, now, leaseUntil time.Time) (bool, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return false, err
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO request_alarms AS a (tenant_id, request_id, kind, node, claimed_at, lease_until, attempts)
		VALUES ($1, $2, $3, $4, $5, $6, 1)
		ON CONFLICT (tenant_id, request_id, kind) DO UPDATE
		SET node = excluded.node, claimed_at = excluded.claimed_at, lease_until = excluded.lease_until, attempts = a.attempts + 1
		WHERE a.sent_at IS NULL AND a.lease_until <= excluded.claimed_at`,
		string(tenant), requestID, kind, node, now, leaseUntil)
	if err != nil {
		return false, translate(fmt.Errorf("claim request alarm: %w", err))
	}
	return tag.RowsAffected() > 0, nil
}

func (t *tx) CompleteRequestAlarm(ctx context.Context, tenant garde.TenantID, requestID, kind string, sentAt time.Time) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	return t.exec(ctx, "complete request alarm", `UPDATE request_alarms SET sent_at = $1 WHERE tenant_id = $2 AND request_id = $3 AND kind = $4`,
		sentAt, string(tenant), requestID, kind)
}

// AcquireLease is the other look-up that starts from no tenant: a lease
// belongs to the deployment. One statement; a lease is taken when free,
// expired at now, or already the node's (a renewal).
func (t *tx) AcquireLease(ctx context.Context, name, node string, now, until time.Time) (bool, error) {
	if err := t.begin(ctx); err != nil {
		return false, err
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO leases AS l (name, node, until) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET node = excluded.node, until = excluded.until
		WHERE l.node = excluded.node OR l.until <= $4`, name, node, until, now)
	if err != nil {
		return false, translate(fmt.Errorf("acquire lease: %w", err))
	}
	return tag.RowsAffected() > 0, nil
}
