// The storage of notices and consent events (garde.ConsentStore). Plain reads
// and writes: the rules are in package garde.

package sqlite

import (
	"context"
	"fmt"

	"github.com/garde-privacy/garde"
)

func (t *tx) PutNotice(ctx context.Context, n garde.Notice) error {
	return t.exec(ctx, "put notice", `INSERT INTO notices (tenant_id, purpose, language, version, text, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		string(n.Tenant), n.Purpose, n.Language, n.Version, n.Text, n.Hash, micros(n.CreatedAt), n.CreatedBy)
}

func (t *tx) Notices(ctx context.Context, tenant garde.TenantID, purpose string) ([]garde.Notice, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT language, version, text, hash, created_at, created_by FROM notices
		WHERE tenant_id = ? AND purpose = ? ORDER BY language, version`, string(tenant), purpose)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.Notice
	for rows.Next() {
		n := garde.Notice{Tenant: tenant, Purpose: purpose}
		var at int64
		if err := rows.Scan(&n.Language, &n.Version, &n.Text, &n.Hash, &at, &n.CreatedBy); err != nil {
			return nil, err
		}
		n.CreatedAt = fromMicros(at)
		out = append(out, n)
	}
	return out, rows.Err()
}

func (t *tx) InsertConsents(ctx context.Context, cs []garde.ConsentRecord) error {
	return t.multiInsert(ctx, "insert consents",
		`INSERT INTO consents (tenant_id, id, subject_id, purpose, action, at, leaf_index, sealed, sealed_evidence) VALUES `, 9, len(cs),
		func(i int, dst []any) []any {
			c := cs[i]
			return append(dst, string(c.Tenant), c.ID, c.SubjectID, c.Purpose, c.Action, micros(c.At), c.LeafIndex, c.Sealed, c.SealedEvidence)
		})
}

const consentColumns = `id, subject_id, purpose, action, at, leaf_index, sealed, sealed_evidence`

func scanConsent(tenant garde.TenantID, s interface{ Scan(...any) error }) (garde.ConsentRecord, error) {
	c := garde.ConsentRecord{Tenant: tenant}
	var at int64
	if err := s.Scan(&c.ID, &c.SubjectID, &c.Purpose, &c.Action, &at, &c.LeafIndex, &c.Sealed, &c.SealedEvidence); err != nil {
		return garde.ConsentRecord{}, err
	}
	c.At = fromMicros(at)
	return c, nil
}

func (t *tx) SubjectConsents(ctx context.Context, tenant garde.TenantID, subjectID string) ([]garde.ConsentRecord, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+consentColumns+` FROM consents WHERE tenant_id = ? AND subject_id = ? ORDER BY leaf_index`, string(tenant), subjectID)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.ConsentRecord
	for rows.Next() {
		c, err := scanConsent(tenant, rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) LatestConsent(ctx context.Context, tenant garde.TenantID, subjectID, purpose string) (garde.ConsentRecord, error) {
	s, err := t.stmt(ctx, `SELECT `+consentColumns+` FROM consents WHERE tenant_id = ? AND subject_id = ? AND purpose = ? ORDER BY leaf_index DESC LIMIT 1`)
	if err != nil {
		return garde.ConsentRecord{}, translate(err)
	}
	c, err := scanConsent(tenant, s.QueryRowContext(ctx, string(tenant), subjectID, purpose))
	if err != nil {
		return garde.ConsentRecord{}, notFound(err, "consent")
	}
	return c, nil
}

func (t *tx) DeleteSubjectConsents(ctx context.Context, tenant garde.TenantID, subjectID string) (int, error) {
	res, err := t.tx.ExecContext(ctx, `DELETE FROM consents WHERE tenant_id = ? AND subject_id = ?`, string(tenant), subjectID)
	if err != nil {
		return 0, translate(fmt.Errorf("delete subject consents: %w", err))
	}
	n, err := res.RowsAffected()
	return int(n), err
}
