// The transaction type and the helpers its methods share: statement
// preparation, row collection, error translation, time conversions and
// the chunked multi-row statements. The methods of garde.Tx and the
// interfaces it embeds are in the file of their aggregate.

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
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

// translate maps SQLite result codes (not message texts) to garde's error
// kinds.
func translate(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w: %w", garde.ErrConflict, err)
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return fmt.Errorf("database busy: %w", err)
	}
	return err
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
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
