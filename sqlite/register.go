// The versions of a tenant's processing register (garde.Tx).

package sqlite

import (
	"context"

	"github.com/garde-privacy/garde"
)

func (t *tx) PutRegister(ctx context.Context, tenant garde.TenantID, r garde.RegisterVersion) error {
	return t.exec(ctx, "put register", `INSERT INTO registers (tenant_id, version, applied_at, applied_by, document, source) VALUES (?, ?, ?, ?, ?, ?)`,
		string(tenant), r.Version, micros(r.AppliedAt), r.AppliedBy, r.Document, r.Source)
}

func (t *tx) Register(ctx context.Context, tenant garde.TenantID, v int) (garde.RegisterVersion, error) {
	q := `SELECT version, applied_at, applied_by, document, source FROM registers WHERE tenant_id = ? AND version = ?`
	args := []any{string(tenant), v}
	if v == 0 {
		q = `SELECT version, applied_at, applied_by, document, source FROM registers WHERE tenant_id = ? ORDER BY version DESC LIMIT 1`
		args = args[:1]
	}
	var r garde.RegisterVersion
	var at int64
	if err := t.tx.QueryRowContext(ctx, q, args...).Scan(&r.Version, &at, &r.AppliedBy, &r.Document, &r.Source); err != nil {
		return garde.RegisterVersion{}, notFound(err, "register version")
	}
	r.AppliedAt = fromMicros(at)
	return r, nil
}

func (t *tx) RegisterVersionNumber(ctx context.Context, tenant garde.TenantID) (int, error) {
	var v int
	err := t.tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM registers WHERE tenant_id = ?`, string(tenant)).Scan(&v)
	return v, translate(err)
}
