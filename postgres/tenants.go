// Tenants and their API keys (garde.Tx).

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
)

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
