// The audit trail (garde.Tx): appending events and reading them back.

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
