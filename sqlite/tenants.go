// Tenants and their API keys (garde.Tx).

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/garde-privacy/garde"
)

func (t *tx) CreateTenant(ctx context.Context, tn garde.Tenant) error {
	return t.exec(ctx, "create tenant", `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`,
		string(tn.ID), tn.Name, micros(tn.CreatedAt))
}

func (t *tx) Tenant(ctx context.Context, id garde.TenantID) (garde.Tenant, error) {
	var tn garde.Tenant
	var at int64
	err := t.tx.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, string(id)).Scan(&tn.ID, &tn.Name, &at)
	if err != nil {
		return garde.Tenant{}, notFound(err, "tenant")
	}
	tn.CreatedAt = fromMicros(at)
	return tn, nil
}

func (t *tx) Tenants(ctx context.Context) ([]garde.Tenant, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT id, name, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.Tenant
	for rows.Next() {
		var tn garde.Tenant
		var at int64
		if err := rows.Scan(&tn.ID, &tn.Name, &at); err != nil {
			return nil, err
		}
		tn.CreatedAt = fromMicros(at)
		out = append(out, tn)
	}
	return out, rows.Err()
}

func (t *tx) CreateAPIKey(ctx context.Context, k garde.APIKey) error {
	return t.exec(ctx, "create api key", `INSERT INTO api_keys (tenant_id, id, prefix, hash, role, created_at, created_by, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		string(k.Tenant), k.ID, k.Prefix, k.Hash, string(k.Role), micros(k.CreatedAt), k.CreatedBy, nullMicros(k.RevokedAt))
}

const apiKeyColumns = `tenant_id, id, prefix, hash, role, created_at, created_by, revoked_at`

func scanAPIKey(s interface{ Scan(...any) error }) (garde.APIKey, error) {
	var k garde.APIKey
	var at int64
	var revoked sql.NullInt64
	if err := s.Scan(&k.Tenant, &k.ID, &k.Prefix, &k.Hash, &k.Role, &at, &k.CreatedBy, &revoked); err != nil {
		return garde.APIKey{}, err
	}
	k.CreatedAt = fromMicros(at)
	if revoked.Valid {
		k.RevokedAt = fromMicros(revoked.Int64)
	}
	return k, nil
}

func (t *tx) APIKeyByPrefix(ctx context.Context, prefix string) (garde.APIKey, error) {
	k, err := scanAPIKey(t.tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if err != nil {
		return garde.APIKey{}, notFound(err, "api key")
	}
	return k, nil
}

func (t *tx) APIKeys(ctx context.Context, tenant garde.TenantID) ([]garde.APIKey, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE tenant_id = ? ORDER BY id`, string(tenant))
	return collect(rows, err, scanAPIKey)
}

func (t *tx) RevokeAPIKey(ctx context.Context, tenant garde.TenantID, id string, at time.Time) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE tenant_id = ? AND id = ?`, micros(at), string(tenant), id)
	if err != nil {
		return translate(fmt.Errorf("revoke api key: %w", err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return garde.Errorf(garde.ErrNotFound, "api key %s not found", id)
	}
	return nil
}
