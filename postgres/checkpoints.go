// The checkpoint store (garde.CheckpointStore): the signed checkpoints and
// ledger epochs recorded apart from the data, in the key schema.

package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"
)

// CheckpointStore is garde.CheckpointStore in its own schema (garde_keys
// by default, beside the key store), apart from the data store's schema:
// restoring the data schema from a dump does not roll back the record of
// what garde signed. It owns its tables and creates them at open.
type CheckpointStore struct {
	pool *pgxpool.Pool
	// signed and epochs are the schema-qualified, quoted table names.
	signed, epochs string
}

var _ garde.CheckpointStore = (*CheckpointStore)(nil)

// KeySchema is the default schema of the stores kept apart from the data.
const KeySchema = "garde_keys"

// NewCheckpointStore returns the checkpoint store on pool in schema (""
// for KeySchema), creating the schema and its tables.
func NewCheckpointStore(ctx context.Context, pool *pgxpool.Pool, schema string) (*CheckpointStore, error) {
	if schema == "" {
		schema = KeySchema
	}
	s := &CheckpointStore{pool: pool,
		signed: pgx.Identifier{schema, "checkpoints"}.Sanitize(),
		epochs: pgx.Identifier{schema, "epochs"}.Sanitize()}
	ddl := strings.NewReplacer("$schema", pgx.Identifier{schema}.Sanitize(), "$signed", s.signed, "$epochs", s.epochs).Replace(`
CREATE SCHEMA IF NOT EXISTS $schema;
CREATE TABLE IF NOT EXISTS $signed (
	tenant_id  text NOT NULL,
	origin     text NOT NULL,
	size       bigint NOT NULL,
	root       bytea NOT NULL,
	note       bytea NOT NULL,
	created_at timestamptz NOT NULL,
	pending    boolean NOT NULL,
	PRIMARY KEY (tenant_id, origin, size)
);
CREATE TABLE IF NOT EXISTS $epochs (
	tenant_id       text NOT NULL,
	number          integer NOT NULL,
	origin          text NOT NULL,
	verifier        text NOT NULL,
	sealed_signer   bytea NOT NULL,
	key_version     bigint NOT NULL,
	prev_origin     text NOT NULL,
	prev_verifier   text NOT NULL,
	prev_checkpoint bytea,
	prev_closed     boolean NOT NULL,
	start_size      bigint NOT NULL,
	created_at      timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, number)
);`)
	// Nodes starting together race on CREATE … IF NOT EXISTS (a unique
	// violation on the catalog): the same advisory lock as migrations.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, migrationLock, schema); err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, migrationLock, schema)
	if _, err := conn.Exec(ctx, ddl); err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	return s, nil
}

func (s *CheckpointStore) RecordCheckpoint(ctx context.Context, tenant garde.TenantID, c garde.RecordedCheckpoint) (bool, error) {
	var inserted bool
	err := s.pool.QueryRow(ctx, `INSERT INTO `+s.signed+` (tenant_id, origin, size, root, note, created_at, pending) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT DO NOTHING RETURNING true`, string(tenant), c.Origin, c.Size, c.Root[:], c.Note, c.CreatedAt, c.Pending).Scan(&inserted)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return false, translate(err)
	}
	var root []byte
	if err := s.pool.QueryRow(ctx, `SELECT root FROM `+s.signed+` WHERE tenant_id = $1 AND origin = $2 AND size = $3`, string(tenant), c.Origin, c.Size).Scan(&root); err != nil {
		return false, translate(err)
	}
	if string(root) != string(c.Root[:]) {
		return false, garde.Errorf(garde.ErrConflict, "log %s already has a recorded checkpoint of size %d with another root", c.Origin, c.Size)
	}
	return false, nil
}

func (s *CheckpointStore) ForgetCheckpoint(ctx context.Context, tenant garde.TenantID, origin string, size int64, root tlog.Hash) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM `+s.signed+` WHERE tenant_id = $1 AND origin = $2 AND size = $3 AND root = $4 AND pending`, string(tenant), origin, size, root[:])
	return translate(err)
}

func (s *CheckpointStore) MarkPublished(ctx context.Context, tenant garde.TenantID, origin string, size int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE `+s.signed+` SET pending = false WHERE tenant_id = $1 AND origin = $2 AND size = $3`, string(tenant), origin, size)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return garde.Errorf(garde.ErrNotFound, "no recorded checkpoint of log %s at size %d", origin, size)
	}
	return nil
}

func (s *CheckpointStore) PendingCheckpoints(ctx context.Context, tenant garde.TenantID, origin string) ([]garde.RecordedCheckpoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT size, root, note, created_at FROM `+s.signed+` WHERE tenant_id = $1 AND origin = $2 AND pending ORDER BY size`, string(tenant), origin)
	return collect(rows, err, "pending checkpoints", func(r pgx.Rows) (garde.RecordedCheckpoint, error) {
		c, err := scanRecorded(r, origin)
		c.Pending = true
		return c, err
	})
}

func scanRecorded(row pgx.Row, origin string) (garde.RecordedCheckpoint, error) {
	c := garde.RecordedCheckpoint{Origin: origin}
	var root []byte
	if err := row.Scan(&c.Size, &root, &c.Note, &c.CreatedAt); err != nil {
		return garde.RecordedCheckpoint{}, err
	}
	if len(root) != tlog.HashSize {
		return garde.RecordedCheckpoint{}, fmt.Errorf("recorded checkpoint of log %s at size %d: root of %d bytes", origin, c.Size, len(root))
	}
	c.Root, c.CreatedAt = tlog.Hash(root), utc(c.CreatedAt)
	return c, nil
}

func (s *CheckpointStore) LatestRecorded(ctx context.Context, tenant garde.TenantID, origin string) (garde.RecordedCheckpoint, error) {
	c, err := scanRecorded(s.pool.QueryRow(ctx, `SELECT size, root, note, created_at FROM `+s.signed+` WHERE tenant_id = $1 AND origin = $2 AND NOT pending ORDER BY size DESC LIMIT 1`,
		string(tenant), origin), origin)
	if errors.Is(err, pgx.ErrNoRows) {
		return garde.RecordedCheckpoint{}, garde.Errorf(garde.ErrNotFound, "no recorded checkpoint of log %s", origin)
	}
	return c, translate(err)
}

func (s *CheckpointStore) RecordedTenants(ctx context.Context) ([]garde.TenantID, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT tenant_id FROM `+s.signed+` ORDER BY tenant_id`)
	return collect(rows, err, "recorded tenants", func(r pgx.Rows) (garde.TenantID, error) {
		var t string
		err := r.Scan(&t)
		return garde.TenantID(t), err
	})
}

func (s *CheckpointStore) PutEpoch(ctx context.Context, e garde.LedgerEpoch) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO `+s.epochs+` (tenant_id, number, origin, verifier, sealed_signer, key_version, prev_origin, prev_verifier, prev_checkpoint, prev_closed, start_size, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, string(e.Tenant), e.Number, e.Origin, e.Verifier, e.SealedSigner, int64(e.KeyVersion),
		e.PrevOrigin, e.PrevVerifier, e.PrevCheckpoint, e.PrevClosed, e.StartSize, e.CreatedAt)
	return translate(err)
}

func (s *CheckpointStore) ForgetEpoch(ctx context.Context, tenant garde.TenantID, number int) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM `+s.epochs+` WHERE tenant_id = $1 AND number = $2`, string(tenant), number)
	return translate(err)
}

func (s *CheckpointStore) Epochs(ctx context.Context, tenant garde.TenantID) ([]garde.LedgerEpoch, error) {
	rows, err := s.pool.Query(ctx, `SELECT number, origin, verifier, sealed_signer, key_version, prev_origin, prev_verifier, prev_checkpoint, prev_closed, start_size, created_at
		FROM `+s.epochs+` WHERE tenant_id = $1 ORDER BY number`, string(tenant))
	return collect(rows, err, "ledger epochs", func(r pgx.Rows) (garde.LedgerEpoch, error) {
		e := garde.LedgerEpoch{Tenant: tenant}
		var kv int64
		var at time.Time
		err := r.Scan(&e.Number, &e.Origin, &e.Verifier, &e.SealedSigner, &kv, &e.PrevOrigin, &e.PrevVerifier, &e.PrevCheckpoint, &e.PrevClosed, &e.StartSize, &at)
		e.KeyVersion, e.CreatedAt = uint32(kv), utc(at)
		return e, err
	})
}
