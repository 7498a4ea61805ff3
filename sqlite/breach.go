// The breach register's storage and its escalations (garde.BreachStore).
// Statements only: the rules (who sees what, what is due) live in package
// garde.

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
)

func joinTenants(ts []garde.TenantID) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, " ")
}

func splitTenants(s string) []garde.TenantID {
	var out []garde.TenantID
	for _, f := range strings.Fields(s) {
		out = append(out, garde.TenantID(f))
	}
	return out
}

func (t *tx) CreateBreach(ctx context.Context, r garde.BreachRecord) error {
	if err := t.exec(ctx, "create breach", `INSERT INTO breaches (tenant_id, id, owner_id, tenants, created_at, created_by, detector_key) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		string(r.Owner), r.ID, string(r.Owner), joinTenants(r.Tenants), micros(r.CreatedAt), r.CreatedBy, nullString(r.DetectorKey)); err != nil {
		return err
	}
	for _, tn := range r.Tenants {
		if tn == r.Owner {
			continue
		}
		if err := t.exec(ctx, "create breach", `INSERT INTO breaches (tenant_id, id, owner_id, created_at, created_by) VALUES (?, ?, ?, ?, ?)`,
			string(tn), r.ID, string(r.Owner), micros(r.CreatedAt), r.CreatedBy); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) AddBreachTenants(ctx context.Context, owner garde.TenantID, id string, tenants []garde.TenantID) error {
	var created int64
	var by string
	err := t.tx.QueryRowContext(ctx, `SELECT created_at, created_by FROM breaches WHERE tenant_id = ? AND id = ? AND owner_id = ?`, string(owner), id, string(owner)).Scan(&created, &by)
	if err != nil {
		return notFound(err, "breach")
	}
	if err := t.exec(ctx, "add breach tenants", `UPDATE breaches SET tenants = ? WHERE tenant_id = ? AND id = ?`, joinTenants(tenants), string(owner), id); err != nil {
		return err
	}
	for _, tn := range tenants {
		if tn == owner {
			continue
		}
		if err := t.exec(ctx, "add breach tenants", `INSERT INTO breaches (tenant_id, id, owner_id, created_at, created_by) VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, id) DO NOTHING`,
			string(tn), id, string(owner), created, by); err != nil {
			return err
		}
	}
	return nil
}

const breachColumns = `tenant_id, id, owner_id, tenants, created_at, created_by, coalesce(detector_key, '')`

func scanBreach(s interface{ Scan(...any) error }) (garde.BreachRecord, error) {
	var r garde.BreachRecord
	var tenants string
	var at int64
	if err := s.Scan(&r.Tenant, &r.ID, &r.Owner, &tenants, &at, &r.CreatedBy, &r.DetectorKey); err != nil {
		return garde.BreachRecord{}, err
	}
	r.Tenants = splitTenants(tenants)
	r.CreatedAt = fromMicros(at)
	return r, nil
}

func (t *tx) Breach(ctx context.Context, tenant garde.TenantID, id string) (garde.BreachRecord, error) {
	r, err := scanBreach(t.tx.QueryRowContext(ctx, `SELECT `+breachColumns+` FROM breaches WHERE tenant_id = ? AND id = ?`, string(tenant), id))
	if err != nil {
		return garde.BreachRecord{}, notFound(err, "breach")
	}
	return r, nil
}

func (t *tx) Breaches(ctx context.Context, tenant garde.TenantID) ([]garde.BreachRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+breachColumns+` FROM breaches WHERE tenant_id = ? ORDER BY created_at DESC, id DESC`, string(tenant))
	return collect(rows, err, scanBreach)
}

func (t *tx) AppendBreachEvent(ctx context.Context, e garde.BreachEvent) error {
	return t.exec(ctx, "append breach event", `INSERT INTO breach_events (tenant_id, breach_id, seq, at, actor, kind, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		string(e.Tenant), e.BreachID, e.Seq, micros(e.At), e.Actor, e.Kind, e.Body)
}

func (t *tx) BreachEvents(ctx context.Context, tenant garde.TenantID, id string) ([]garde.BreachEvent, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT seq, at, actor, kind, body FROM breach_events WHERE tenant_id = ? AND breach_id = ? ORDER BY seq`, string(tenant), id)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.BreachEvent
	for rows.Next() {
		e := garde.BreachEvent{Tenant: tenant, BreachID: id}
		var at int64
		if err := rows.Scan(&e.Seq, &at, &e.Actor, &e.Kind, &e.Body); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *tx) ClaimEscalation(ctx context.Context, tenant garde.TenantID, k garde.EscalationKey, node string, now, leaseUntil time.Time) (bool, error) {
	res, err := t.tx.ExecContext(ctx, `INSERT INTO breach_escalations (tenant_id, breach_id, point, channel, node, claimed_at, lease_until, attempts)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (tenant_id, breach_id, point, channel) DO UPDATE
		SET node = excluded.node, claimed_at = excluded.claimed_at, lease_until = excluded.lease_until, attempts = attempts + 1
		WHERE sent_at IS NULL AND lease_until < excluded.claimed_at`,
		string(tenant), k.BreachID, int64(k.Point/time.Second), k.Channel, node, micros(now), micros(leaseUntil))
	if err != nil {
		return false, translate(fmt.Errorf("claim escalation: %w", err))
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (t *tx) CompleteEscalation(ctx context.Context, tenant garde.TenantID, k garde.EscalationKey, sentAt time.Time) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE breach_escalations SET sent_at = ? WHERE tenant_id = ? AND breach_id = ? AND point = ? AND channel = ?`,
		micros(sentAt), string(tenant), k.BreachID, int64(k.Point/time.Second), k.Channel)
	if err != nil {
		return translate(fmt.Errorf("complete escalation: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return garde.Errorf(garde.ErrNotFound, "escalation not found")
	}
	return nil
}

func (t *tx) Escalations(ctx context.Context, tenant garde.TenantID, id string) ([]garde.EscalationRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT point, channel, node, claimed_at, lease_until, attempts, sent_at FROM breach_escalations
		WHERE tenant_id = ? AND breach_id = ? ORDER BY point, channel`, string(tenant), id)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.EscalationRecord
	for rows.Next() {
		r := garde.EscalationRecord{Tenant: tenant, Key: garde.EscalationKey{BreachID: id}}
		var point, claimed, lease int64
		var sent sql.NullInt64
		if err := rows.Scan(&point, &r.Key.Channel, &r.Node, &claimed, &lease, &r.Attempts, &sent); err != nil {
			return nil, err
		}
		r.Key.Point = time.Duration(point) * time.Second
		r.ClaimedAt, r.LeaseUntil = fromMicros(claimed), fromMicros(lease)
		if sent.Valid {
			r.SentAt = fromMicros(sent.Int64)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
