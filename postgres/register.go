// The versions of a tenant's processing register (garde.Tx).

package postgres

import (
	"context"
	"fmt"

	"github.com/garde-privacy/garde"
)

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
