package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// tx implements garde.Tx. Every statement names its tenant, and every
// insert that can hit a unique key uses ON CONFLICT DO NOTHING and reports
// garde.ErrConflict itself: unlike a unique violation, that leaves the
// transaction usable, as it is on SQLite, so a use case may go on after a
// conflict.
type tx struct {
	db       *DB
	conn     *pgxpool.Conn // nil until the first statement (see begin)
	opts     pgx.TxOptions
	tx       pgx.Tx // nil until the first statement
	readOnly bool
	// prelock lists tenants to lock before BEGIN: those a failed attempt
	// of the same function wrote to.
	prelock []string
	// local holds this process's queue slots, advisory is set once
	// session advisory locks may be held: release drops both.
	local    []chan struct{}
	advisory bool
	// heads holds the tenants whose ledger head row this transaction has
	// locked, with the log's size.
	heads map[string]int64
}

// tenantLock is the first key of the session advisory lock a write
// transaction takes, before it begins, on the first tenant it names (the
// second key is a hash of the tenant id).
const tenantLock = 0x74656e74 // "tent"

// begin runs before every statement. The first time, it begins the
// transaction. A write transaction first queues behind the other writers
// of the tenants the statement names (and of those a failed attempt wrote
// to): in this process, on a channel, without holding a connection, so that
// a busy tenant cannot take the whole pool from the others; across nodes,
// on a session advisory lock. Taken before BEGIN, the lock makes the
// transaction's snapshot later than the commit of the tenant's previous
// writer, so that writers of one tenant run one after the other, as on
// SQLite, instead of aborting each other on the tenant's ledger head row.
// Every tenant a write transaction names then has its ledger head row
// locked (lockHeads), the lock that serialises appends to its log and
// audit trail.
func (t *tx) begin(ctx context.Context, tenants ...garde.TenantID) error {
	names := make([]string, 0, len(tenants))
	for _, tn := range tenants {
		names = append(names, string(tn))
	}
	if t.tx == nil {
		var pre []string
		if !t.readOnly {
			pre = append(slices.Clone(t.prelock), names...)
			slices.Sort(pre)
			pre = slices.Compact(pre)
			for _, tn := range pre {
				ch := t.db.queue(tn)
				select {
				case ch <- struct{}{}:
					t.local = append(t.local, ch)
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		conn, err := t.db.pool.Acquire(ctx)
		if err != nil {
			return translate(fmt.Errorf("connect: %w", err))
		}
		t.conn = conn
		if len(pre) > 0 {
			t.advisory = true
			if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext(u)) FROM (SELECT u FROM unnest($2::text[]) AS u ORDER BY u) AS s`, tenantLock, pre); err != nil {
				return translate(fmt.Errorf("lock tenant: %w", err))
			}
		}
		ptx, err := conn.BeginTx(ctx, t.opts)
		if err != nil {
			return translate(fmt.Errorf("begin: %w", err))
		}
		t.tx = ptx
	}
	if t.readOnly || len(names) == 0 {
		return nil
	}
	return t.lockHeads(ctx, names)
}

// lost reports whether the transaction's connection broke.
func (t *tx) lost() bool { return t.conn != nil && t.conn.Conn().IsClosed() }

// release drops the session advisory locks, hands the connection back and
// frees the queue slots. A connection that cannot drop its locks is
// closed, never reused.
func (t *tx) release(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if t.conn != nil {
		if t.advisory && !t.conn.Conn().IsClosed() {
			if _, err := t.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
				t.conn.Conn().Close(ctx)
			}
		}
		t.conn.Release()
	}
	for _, ch := range t.local {
		<-ch
	}
}

// tenantsOf lists the tenants of records.
func tenantsOf[T any](xs []T, tenant func(T) garde.TenantID) []garde.TenantID {
	out := make([]garde.TenantID, len(xs))
	for i, x := range xs {
		out[i] = tenant(x)
	}
	return out
}

func (t *tx) exec(ctx context.Context, what, q string, args ...any) error {
	if _, err := t.tx.Exec(ctx, q, args...); err != nil {
		return translate(fmt.Errorf("%s: %w", what, err))
	}
	return nil
}

// insert runs an INSERT … ON CONFLICT DO NOTHING and turns "no row
// inserted" into ErrConflict.
func (t *tx) insert(ctx context.Context, what string, want int64, q string, args ...any) error {
	tag, err := t.tx.Exec(ctx, q, args...)
	if err != nil {
		return translate(fmt.Errorf("%s: %w", what, err))
	}
	if tag.RowsAffected() != want {
		return garde.Errorf(garde.ErrConflict, "%s: already exists", what)
	}
	return nil
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return garde.Errorf(garde.ErrNotFound, "%s not found", what)
	}
	return translate(fmt.Errorf("%s: %w", what, err))
}

// utc normalises a time read from timestamptz, which pgx returns in the
// local zone.
func utc(t time.Time) time.Time { return t.UTC() }

func (t *tx) CreateTenant(ctx context.Context, tn garde.Tenant) error {
	if err := t.begin(ctx, tn.ID); err != nil {
		return err
	}
	return t.insert(ctx, "create tenant", 1, `INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		string(tn.ID), tn.Name, tn.CreatedAt)
}

func (t *tx) Tenant(ctx context.Context, id garde.TenantID) (garde.Tenant, error) {
	if err := t.begin(ctx, id); err != nil {
		return garde.Tenant{}, err
	}
	var tn garde.Tenant
	err := t.tx.QueryRow(ctx, `SELECT id, name, created_at FROM tenants WHERE id = $1`, string(id)).Scan(&tn.ID, &tn.Name, &tn.CreatedAt)
	if err != nil {
		return garde.Tenant{}, notFound(err, "tenant")
	}
	tn.CreatedAt = utc(tn.CreatedAt)
	return tn, nil
}

// collect reads every row with scan, translating errors.
func collect[T any](rows pgx.Rows, err error, what string, scan func(pgx.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, translate(fmt.Errorf("%s: %w", what, err))
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, translate(fmt.Errorf("%s: %w", what, err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, translate(fmt.Errorf("%s: %w", what, err))
	}
	return out, nil
}

func (t *tx) Tenants(ctx context.Context) ([]garde.Tenant, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT id, name, created_at FROM tenants ORDER BY id`)
	return collect(rows, err, "tenants", func(r pgx.Rows) (garde.Tenant, error) {
		var tn garde.Tenant
		err := r.Scan(&tn.ID, &tn.Name, &tn.CreatedAt)
		tn.CreatedAt = utc(tn.CreatedAt)
		return tn, err
	})
}

func (t *tx) CreateAPIKey(ctx context.Context, k garde.APIKey) error {
	if err := t.begin(ctx, k.Tenant); err != nil {
		return err
	}
	var revoked *time.Time
	if !k.RevokedAt.IsZero() {
		revoked = &k.RevokedAt
	}
	return t.insert(ctx, "create api key", 1, `INSERT INTO api_keys (tenant_id, id, prefix, hash, role, created_at, created_by, revoked_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		string(k.Tenant), k.ID, k.Prefix, k.Hash, string(k.Role), k.CreatedAt, k.CreatedBy, revoked)
}

const apiKeyColumns = `tenant_id, id, prefix, hash, role, created_at, created_by, revoked_at`

func scanAPIKey(s pgx.Row) (garde.APIKey, error) {
	var k garde.APIKey
	var tenant, role string
	var revoked *time.Time
	if err := s.Scan(&tenant, &k.ID, &k.Prefix, &k.Hash, &role, &k.CreatedAt, &k.CreatedBy, &revoked); err != nil {
		return garde.APIKey{}, err
	}
	k.Tenant, k.Role, k.CreatedAt = garde.TenantID(tenant), garde.Role(role), utc(k.CreatedAt)
	if revoked != nil {
		k.RevokedAt = utc(*revoked)
	}
	return k, nil
}

func (t *tx) APIKeyByPrefix(ctx context.Context, prefix string) (garde.APIKey, error) {
	if err := t.begin(ctx); err != nil {
		return garde.APIKey{}, err
	}
	k, err := scanAPIKey(t.tx.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if err != nil {
		return garde.APIKey{}, notFound(err, "api key")
	}
	return k, nil
}

func (t *tx) APIKeys(ctx context.Context, tenant garde.TenantID) ([]garde.APIKey, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = $1 ORDER BY id`, string(tenant))
	return collect(rows, err, "api keys", func(r pgx.Rows) (garde.APIKey, error) { return scanAPIKey(r) })
}

func (t *tx) RevokeAPIKey(ctx context.Context, tenant garde.TenantID, id string, at time.Time) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	tag, err := t.tx.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, $1) WHERE tenant_id = $2 AND id = $3`, at, string(tenant), id)
	if err != nil {
		return translate(fmt.Errorf("revoke api key: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return garde.Errorf(garde.ErrNotFound, "api key %s not found", id)
	}
	return nil
}

func (t *tx) PutRegister(ctx context.Context, tenant garde.TenantID, r garde.RegisterVersion) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	return t.insert(ctx, "put register", 1, `INSERT INTO registers (tenant_id, version, applied_at, applied_by, document, source)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		string(tenant), r.Version, r.AppliedAt, r.AppliedBy, r.Document, r.Source)
}

func (t *tx) Register(ctx context.Context, tenant garde.TenantID, v int) (garde.RegisterVersion, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.RegisterVersion{}, err
	}
	q := `SELECT version, applied_at, applied_by, document, source FROM registers WHERE tenant_id = $1 AND version = $2`
	args := []any{string(tenant), v}
	if v == 0 {
		q = `SELECT version, applied_at, applied_by, document, source FROM registers WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	var r garde.RegisterVersion
	if err := t.tx.QueryRow(ctx, q, args...).Scan(&r.Version, &r.AppliedAt, &r.AppliedBy, &r.Document, &r.Source); err != nil {
		return garde.RegisterVersion{}, notFound(err, "register version")
	}
	r.AppliedAt = utc(r.AppliedAt)
	return r, nil
}

func (t *tx) RegisterVersionNumber(ctx context.Context, tenant garde.TenantID) (int, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return 0, err
	}
	var v int
	if err := t.tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM registers WHERE tenant_id = $1`, string(tenant)).Scan(&v); err != nil {
		return 0, translate(fmt.Errorf("register version: %w", err))
	}
	return v, nil
}

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

func (t *tx) AppendAudit(ctx context.Context, events []garde.AuditEvent) error {
	if err := t.begin(ctx, tenantsOf(events, func(e garde.AuditEvent) garde.TenantID { return e.Tenant })...); err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	n := len(events)
	tenants, actors, actions, purposes, refs, outcomes, reasons := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats, counts := make([]time.Time, n), make([]int64, n)
	for i, e := range events {
		tenants[i], actors[i], actions[i], purposes[i], refs[i], outcomes[i], reasons[i] = string(e.Tenant), e.Actor, e.Action, e.Purpose, e.SubjectRef, e.Outcome, e.Reason
		ats[i], counts[i] = e.At, int64(e.Count)
	}
	// Audit appends of a tenant are serialised by its ledger head row, the
	// lock its log appends take too (one lock, so no lock-order deadlock):
	// within a tenant, seq order is then commit order, and paging by seq
	// never skips a row committed late.
	if err := t.lockHeads(ctx, tenants); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	// Sequence numbers are per tenant: the tenant's last one (under the
	// head row lock just taken) plus the event's rank in this batch.
	return t.exec(ctx, "append audit", `INSERT INTO audit (tenant_id, seq, at, actor, action, purpose, subject_ref, outcome, count, reason)
		SELECT e.tenant_id,
			coalesce((SELECT max(a.seq) FROM audit a WHERE a.tenant_id = e.tenant_id), 0) + row_number() OVER (PARTITION BY e.tenant_id ORDER BY e.n),
			e.at, e.actor, e.action, e.purpose, e.subject_ref, e.outcome, e.count, e.reason
		FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[])
			WITH ORDINALITY AS e(tenant_id, at, actor, action, purpose, subject_ref, outcome, count, reason, n)`,
		tenants, ats, actors, actions, purposes, refs, outcomes, counts, reasons)
}

func (t *tx) Audit(ctx context.Context, tenant garde.TenantID, f garde.AuditFilter) ([]garde.AuditEvent, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	var where strings.Builder
	where.WriteString(`tenant_id = $1 AND seq > $2`)
	args := []any{string(tenant), f.AfterSeq}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !f.Since.IsZero() {
		where.WriteString(` AND at >= ` + arg(f.Since))
	}
	if !f.Until.IsZero() {
		where.WriteString(` AND at < ` + arg(f.Until))
	}
	for _, c := range []struct{ col, v string }{{"action", f.Action}, {"actor", f.Actor}, {"purpose", f.Purpose}} {
		if c.v != "" {
			where.WriteString(` AND ` + c.col + ` = ` + arg(c.v))
		}
	}
	limit := arg(f.Limit)
	rows, err := t.tx.Query(ctx, `SELECT seq, at, actor, action, purpose, subject_ref, outcome, count, reason FROM audit WHERE `+where.String()+` ORDER BY seq LIMIT `+limit, args...)
	return collect(rows, err, "audit", func(r pgx.Rows) (garde.AuditEvent, error) {
		e := garde.AuditEvent{Tenant: tenant}
		var count int64
		err := r.Scan(&e.Seq, &e.At, &e.Actor, &e.Action, &e.Purpose, &e.SubjectRef, &e.Outcome, &count, &e.Reason)
		e.At, e.Count = utc(e.At), int(count)
		return e, err
	})
}
