// The breach register's storage and its escalations (garde.BreachStore).
// Statements only: the rules (who sees what, what is due) live in package
// garde.

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
)

func tenantStrings(ts []garde.TenantID) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = string(t)
	}
	return out
}

func (t *tx) CreateBreach(ctx context.Context, r garde.BreachRecord) error {
	if err := t.begin(ctx, append([]garde.TenantID{r.Owner}, r.Tenants...)...); err != nil {
		return err
	}
	if err := t.insert(ctx, "create breach", 1, `INSERT INTO breaches (tenant_id, id, owner_id, tenants, created_at, created_by, detector_key)
		VALUES ($1, $2, $1, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
		string(r.Owner), r.ID, tenantStrings(r.Tenants), r.CreatedAt, r.CreatedBy, nullString(r.DetectorKey)); err != nil {
		return err
	}
	var others []string
	for _, tn := range r.Tenants {
		if tn != r.Owner {
			others = append(others, string(tn))
		}
	}
	if len(others) == 0 {
		return nil
	}
	return t.insert(ctx, "create breach", int64(len(others)), `INSERT INTO breaches (tenant_id, id, owner_id, created_at, created_by)
		SELECT u, $2, $3, $4, $5 FROM unnest($1::text[]) AS u ON CONFLICT DO NOTHING`,
		others, r.ID, string(r.Owner), r.CreatedAt, r.CreatedBy)
}

func (t *tx) AddBreachTenants(ctx context.Context, owner garde.TenantID, id string, tenants []garde.TenantID) error {
	if err := t.begin(ctx, append([]garde.TenantID{owner}, tenants...)...); err != nil {
		return err
	}
	var created time.Time
	var by string
	err := t.tx.QueryRow(ctx, `UPDATE breaches SET tenants = $1 WHERE tenant_id = $2 AND id = $3 AND owner_id = $2 RETURNING created_at, created_by`,
		tenantStrings(tenants), string(owner), id).Scan(&created, &by)
	if err != nil {
		return notFound(err, "breach")
	}
	var others []string
	for _, tn := range tenants {
		if tn != owner {
			others = append(others, string(tn))
		}
	}
	if len(others) == 0 {
		return nil
	}
	return t.exec(ctx, "add breach tenants", `INSERT INTO breaches (tenant_id, id, owner_id, created_at, created_by)
		SELECT u, $2, $3, $4, $5 FROM unnest($1::text[]) AS u ON CONFLICT (tenant_id, id) DO NOTHING`,
		others, id, string(owner), created, by)
}

const breachColumns = `tenant_id, id, owner_id, tenants, created_at, created_by, coalesce(detector_key, '')`

func scanBreach(s pgx.Row) (garde.BreachRecord, error) {
	var r garde.BreachRecord
	var tenant, owner string
	var tenants []string
	if err := s.Scan(&tenant, &r.ID, &owner, &tenants, &r.CreatedAt, &r.CreatedBy, &r.DetectorKey); err != nil {
		return garde.BreachRecord{}, err
	}
	r.Tenant, r.Owner, r.CreatedAt = garde.TenantID(tenant), garde.TenantID(owner), utc(r.CreatedAt)
	for _, tn := range tenants {
		r.Tenants = append(r.Tenants, garde.TenantID(tn))
	}
	return r, nil
}

func (t *tx) Breach(ctx context.Context, tenant garde.TenantID, id string) (garde.BreachRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.BreachRecord{}, err
	}
	r, err := scanBreach(t.tx.QueryRow(ctx, `SELECT `+breachColumns+` FROM breaches WHERE tenant_id = $1 AND id = $2`, string(tenant), id))
	if err != nil {
		return garde.BreachRecord{}, notFound(err, "breach")
	}
	return r, nil
}

func (t *tx) Breaches(ctx context.Context, tenant garde.TenantID) ([]garde.BreachRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+breachColumns+` FROM breaches WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC`, string(tenant))
	return collect(rows, err, "breaches", func(r pgx.Rows) (garde.BreachRecord, error) { return scanBreach(r) })
}

func (t *tx) AppendBreachEvent(ctx context.Context, e garde.BreachEvent) error {
	if err := t.begin(ctx, e.Tenant); err != nil {
		return err
	}
	return t.insert(ctx, "append breach event", 1, `INSERT INTO breach_events (tenant_id, breach_id, seq, at, actor, kind, body)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		string(e.Tenant), e.BreachID, e.Seq, e.At, e.Actor, e.Kind, e.Body)
}

func (t *tx) BreachEvents(ctx context.Context, tenant garde.TenantID, id string) ([]garde.BreachEvent, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT seq, at, actor, kind, body FROM breach_events WHERE tenant_id = $1 AND breach_id = $2 ORDER BY seq`, string(tenant), id)
	return collect(rows, err, "breach events", func(r pgx.Rows) (garde.BreachEvent, error) {
		e := garde.BreachEvent{Tenant: tenant, BreachID: id}
		err := r.Scan(&e.Seq, &e.At, &e.Actor, &e.Kind, &e.Body)
		e.At = utc(e.At)
		return e, err
	})
}

// ClaimEscalation is one statement: it inserts the claim, or takes over an
// unsent claim whose lease expired. Two nodes claiming at once: one
// inserts or updates, the other waits for it, and (serializable) is aborted
// and retried, then finds a live lease and claims nothing.
func (t *tx) ClaimEscalation(ctx context.Context, tenant garde.TenantID, k garde.EscalationKey, node string, now, leaseUntil time.Time) (bool, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return false, err
	}
	tag, err := t.tx.Exec(ctx, `INSERT INTO breach_escalations AS e (tenant_id, breach_id, point, channel, node, claimed_at, lease_until, attempts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
		ON CONFLICT (tenant_id, breach_id, point, channel) DO UPDATE
		SET node = excluded.node, claimed_at = excluded.claimed_at, lease_until = excluded.lease_until, attempts = e.attempts + 1
		WHERE e.sent_at IS NULL AND e.lease_until < excluded.claimed_at`,
		string(tenant), k.BreachID, int64(k.Point/time.Second), k.Channel, node, now, leaseUntil)
	if err != nil {
		return false, translate(fmt.Errorf("claim escalation: %w", err))
	}
	return tag.RowsAffected() > 0, nil
}

func (t *tx) CompleteEscalation(ctx context.Context, tenant garde.TenantID, k garde.EscalationKey, sentAt time.Time) error {
	if err := t.begin(ctx, tenant); err != nil {
		return err
	}
	tag, err := t.tx.Exec(ctx, `UPDATE breach_escalations SET sent_at = $1 WHERE tenant_id = $2 AND breach_id = $3 AND point = $4 AND channel = $5`,
		sentAt, string(tenant), k.BreachID, int64(k.Point/time.Second), k.Channel)
	if err != nil {
		return translate(fmt.Errorf("complete escalation: %w", err))
	}
	if tag.RowsAffected() == 0 {
		return garde.Errorf(garde.ErrNotFound, "escalation not found")
	}
	return nil
}

func (t *tx) Escalations(ctx context.Context, tenant garde.TenantID, id string) ([]garde.EscalationRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT point, channel, node, claimed_at, lease_until, attempts, sent_at FROM breach_escalations
		WHERE tenant_id = $1 AND breach_id = $2 ORDER BY point, channel`, string(tenant), id)
	return collect(rows, err, "escalations", func(r pgx.Rows) (garde.EscalationRecord, error) {
		e := garde.EscalationRecord{Tenant: tenant, Key: garde.EscalationKey{BreachID: id}}
		var point, attempts int64
		var sent *time.Time
		err := r.Scan(&point, &e.Key.Channel, &e.Node, &e.ClaimedAt, &e.LeaseUntil, &attempts, &sent)
		e.Key.Point = time.Duration(point) * time.Second
		e.ClaimedAt, e.LeaseUntil, e.Attempts = utc(e.ClaimedAt), utc(e.LeaseUntil), int(attempts)
		if sent != nil {
			e.SentAt = utc(*sent)
		}
		return e, err
	})
}
