// The audit trail (garde.Tx): appending events and reading them back.

package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/garde-privacy/garde"
)

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
