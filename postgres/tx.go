// The transaction type and the helpers its methods share: beginning the
// transaction behind the tenants' locks, releasing it, row collection,
// error translation and time conversions. The methods of garde.Tx and the
// interfaces it embeds are in the file of their aggregate.

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

// translate maps SQLSTATE codes (never message texts) to garde's error
// kinds. The driver's message is kept for operators, but pgx's Detail
// (which may quote a row's values) is never part of Error().
func translate(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case codeUniqueViolation:
		return fmt.Errorf("%w: %w", garde.ErrConflict, err)
	case codeForeignKeyViolation, codeCheckViolation, codeNotNullViolation:
		return fmt.Errorf("%w: %w", garde.ErrInvalid, err)
	}
	return err
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// utc normalises a time read from timestamptz, which pgx returns in the
// local zone.
func utc(t time.Time) time.Time { return t.UTC() }

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromNull reads a nullable timestamptz back to the zero time or UTC.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}
