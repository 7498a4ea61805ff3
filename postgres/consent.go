// The storage of notices and consent events (garde.ConsentStore). Plain reads
// and writes: the rules are in package garde.

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
)

func (t *tx) PutNotice(ctx context.Context, n garde.Notice) error {
	if err := t.begin(ctx, n.Tenant); err != nil {
		return err
	}
	return t.insert(ctx, "put notice", 1, `INSERT INTO notices (tenant_id, purpose, language, version, text, hash, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		string(n.Tenant), n.Purpose, n.Language, n.Version, n.Text, n.Hash, n.CreatedAt, n.CreatedBy)
}

func (t *tx) Notices(ctx context.Context, tenant garde.TenantID, purpose string) ([]garde.Notice, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT language, version, text, hash, created_at, created_by FROM notices
		WHERE tenant_id = $1 AND purpose = $2 ORDER BY language, version`, string(tenant), purpose)
	return collect(rows, err, "notices", func(r pgx.Rows) (garde.Notice, error) {
		n := garde.Notice{Tenant: tenant, Purpose: purpose}
		err := r.Scan(&n.Language, &n.Version, &n.Text, &n.Hash, &n.CreatedAt, &n.CreatedBy)
		n.CreatedAt = utc(n.CreatedAt)
		return n, err
	})
}

func (t *tx) InsertConsents(ctx context.Context, cs []garde.ConsentRecord) error {
	if err := t.begin(ctx, tenantsOf(cs, func(c garde.ConsentRecord) garde.TenantID { return c.Tenant })...); err != nil {
		return err
	}
	if len(cs) == 0 {
		return nil
	}
	n := len(cs)
	tenants, ids, subjects, purposes, actions := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	ats, leaves := make([]time.Time, n), make([]int64, n)
	sealed, evidence := make([][]byte, n), make([][]byte, n)
	for i, c := range cs {
		tenants[i], ids[i], subjects[i], purposes[i], actions[i] = string(c.Tenant), c.ID, c.SubjectID, c.Purpose, c.Action
		ats[i], leaves[i], sealed[i], evidence[i] = c.At, c.LeafIndex, c.Sealed, c.SealedEvidence
	}
	return t.insert(ctx, "insert consents", int64(n), `INSERT INTO consents (tenant_id, id, subject_id, purpose, action, at, leaf_index, sealed, sealed_evidence)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bigint[], $8::bytea[], $9::bytea[])
		ON CONFLICT DO NOTHING`,
		tenants, ids, subjects, purposes, actions, ats, leaves, sealed, evidence)
}

const consentColumns = `id, subject_id, purpose, action, at, leaf_index, sealed, sealed_evidence`

func scanConsent(tenant garde.TenantID, r pgx.Row) (garde.ConsentRecord, error) {
	c := garde.ConsentRecord{Tenant: tenant}
	err := r.Scan(&c.ID, &c.SubjectID, &c.Purpose, &c.Action, &c.At, &c.LeafIndex, &c.Sealed, &c.SealedEvidence)
	c.At = utc(c.At)
	return c, err
}

func (t *tx) SubjectConsents(ctx context.Context, tenant garde.TenantID, subjectID string) ([]garde.ConsentRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return nil, err
	}
	rows, err := t.tx.Query(ctx, `SELECT `+consentColumns+` FROM consents WHERE tenant_id = $1 AND subject_id = $2 ORDER BY leaf_index`, string(tenant), subjectID)
	return collect(rows, err, "subject consents", func(r pgx.Rows) (garde.ConsentRecord, error) { return scanConsent(tenant, r) })
}

func (t *tx) LatestConsent(ctx context.Context, tenant garde.TenantID, subjectID, purpose string) (garde.ConsentRecord, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return garde.ConsentRecord{}, err
	}
	c, err := scanConsent(tenant, t.tx.QueryRow(ctx, `SELECT `+consentColumns+` FROM consents
		WHERE tenant_id = $1 AND subject_id = $2 AND purpose = $3 ORDER BY leaf_index DESC LIMIT 1`, string(tenant), subjectID, purpose))
	if err != nil {
		return garde.ConsentRecord{}, notFound(err, "consent")
	}
	return c, nil
}

func (t *tx) DeleteSubjectConsents(ctx context.Context, tenant garde.TenantID, subjectID string) (int, error) {
	if err := t.begin(ctx, tenant); err != nil {
		return 0, err
	}
	tag, err := t.tx.Exec(ctx, `DELETE FROM consents WHERE tenant_id = $1 AND subject_id = $2`, string(tenant), subjectID)
	if err != nil {
		return 0, translate(fmt.Errorf("delete subject consents: %w", err))
	}
	return int(tag.RowsAffected()), nil
}
