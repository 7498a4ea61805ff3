// The checkpoint store (garde.CheckpointStore): the signed checkpoints and
// ledger epochs recorded apart from the data, in the key store's file.

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	"github.com/garde-privacy/garde"
	"golang.org/x/mod/sumdb/tlog"
)

// CheckpointStore is garde.CheckpointStore on an SQLite database apart
// from the data store (DATA-DIR/keys.db, beside the master key), so that
// restoring garde.db from a backup does not roll back the record of what
// garde signed. It owns its two tables and creates them at open.
type CheckpointStore struct{ db *sql.DB }

var _ garde.CheckpointStore = (*CheckpointStore)(nil)

const checkpointSchema = `
CREATE TABLE IF NOT EXISTS ledger_signed (
	tenant_id  TEXT NOT NULL,
	origin     TEXT NOT NULL,
	size       INTEGER NOT NULL,
	root       BLOB NOT NULL,
	note       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	pending    INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, origin, size)
) STRICT;
CREATE TABLE IF NOT EXISTS ledger_epochs (
	tenant_id       TEXT NOT NULL,
	number          INTEGER NOT NULL,
	origin          TEXT NOT NULL,
	verifier        TEXT NOT NULL,
	sealed_signer   BLOB NOT NULL,
	key_version     INTEGER NOT NULL,
	prev_origin     TEXT NOT NULL,
	prev_verifier   TEXT NOT NULL,
	prev_checkpoint BLOB,
	prev_closed     INTEGER NOT NULL,
	start_size      INTEGER NOT NULL,
	created_at      INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, number)
) STRICT;`

// OpenKeysDB opens (creating if needed) the SQLite file at path for the
// stores kept apart from the data store, with one writer connection, WAL
// and synchronous=FULL: a recorded checkpoint must survive a power loss,
// since it is what stops garde from signing a second history.
func OpenKeysDB(path string) (*sql.DB, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "secure_delete(ON)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// NewCheckpointStore returns the checkpoint store on db (see OpenKeysDB),
// creating its tables.
func NewCheckpointStore(ctx context.Context, db *sql.DB) (*CheckpointStore, error) {
	if _, err := db.ExecContext(ctx, checkpointSchema); err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	return &CheckpointStore{db: db}, nil
}

func (s *CheckpointStore) RecordCheckpoint(ctx context.Context, tenant garde.TenantID, c garde.RecordedCheckpoint) (bool, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, translate(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO ledger_signed (tenant_id, origin, size, root, note, created_at, pending) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, origin, size) DO NOTHING`, string(tenant), c.Origin, c.Size, c.Root[:], c.Note, micros(c.CreatedAt), c.Pending)
	if err != nil {
		return false, translate(err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return true, translate(tx.Commit())
	}
	var root []byte
	if err := tx.QueryRowContext(ctx, `SELECT root FROM ledger_signed WHERE tenant_id = ? AND origin = ? AND size = ?`, string(tenant), c.Origin, c.Size).Scan(&root); err != nil {
		return false, translate(err)
	}
	if string(root) != string(c.Root[:]) {
		return false, garde.Errorf(garde.ErrConflict, "log %s already has a recorded checkpoint of size %d with another root", c.Origin, c.Size)
	}
	return false, nil
}

func (s *CheckpointStore) ForgetCheckpoint(ctx context.Context, tenant garde.TenantID, origin string, size int64, root tlog.Hash) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM ledger_signed WHERE tenant_id = ? AND origin = ? AND size = ? AND root = ? AND pending = 1`, string(tenant), origin, size, root[:])
	return translate(err)
}

func (s *CheckpointStore) MarkPublished(ctx context.Context, tenant garde.TenantID, origin string, size int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE ledger_signed SET pending = 0 WHERE tenant_id = ? AND origin = ? AND size = ?`, string(tenant), origin, size)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return garde.Errorf(garde.ErrNotFound, "no recorded checkpoint of log %s at size %d", origin, size)
	}
	return nil
}

func (s *CheckpointStore) PendingCheckpoints(ctx context.Context, tenant garde.TenantID, origin string) ([]garde.RecordedCheckpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT size, root, note, created_at FROM ledger_signed WHERE tenant_id = ? AND origin = ? AND pending = 1 ORDER BY size`, string(tenant), origin)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.RecordedCheckpoint
	for rows.Next() {
		c, err := scanRecorded(rows, origin)
		if err != nil {
			return nil, err
		}
		c.Pending = true
		out = append(out, c)
	}
	return out, rows.Err()
}

func scanRecorded(row interface{ Scan(...any) error }, origin string) (garde.RecordedCheckpoint, error) {
	c := garde.RecordedCheckpoint{Origin: origin}
	var root []byte
	var at int64
	if err := row.Scan(&c.Size, &root, &c.Note, &at); err != nil {
		return garde.RecordedCheckpoint{}, err
	}
	if len(root) != tlog.HashSize {
		return garde.RecordedCheckpoint{}, fmt.Errorf("recorded checkpoint of log %s at size %d: root of %d bytes", origin, c.Size, len(root))
	}
	c.Root, c.CreatedAt = tlog.Hash(root), fromMicros(at)
	return c, nil
}

func (s *CheckpointStore) LatestRecorded(ctx context.Context, tenant garde.TenantID, origin string) (garde.RecordedCheckpoint, error) {
	c, err := scanRecorded(s.db.QueryRowContext(ctx, `SELECT size, root, note, created_at FROM ledger_signed WHERE tenant_id = ? AND origin = ? AND pending = 0 ORDER BY size DESC LIMIT 1`,
		string(tenant), origin), origin)
	if errors.Is(err, sql.ErrNoRows) {
		return garde.RecordedCheckpoint{}, garde.Errorf(garde.ErrNotFound, "no recorded checkpoint of log %s", origin)
	}
	return c, translate(err)
}

func (s *CheckpointStore) RecordedTenants(ctx context.Context) ([]garde.TenantID, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT tenant_id FROM ledger_signed ORDER BY tenant_id`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.TenantID
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, garde.TenantID(t))
	}
	return out, rows.Err()
}

func (s *CheckpointStore) PutEpoch(ctx context.Context, e garde.LedgerEpoch) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO ledger_epochs (tenant_id, number, origin, verifier, sealed_signer, key_version, prev_origin, prev_verifier, prev_checkpoint, prev_closed, start_size, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, string(e.Tenant), e.Number, e.Origin, e.Verifier, e.SealedSigner, e.KeyVersion,
		e.PrevOrigin, e.PrevVerifier, e.PrevCheckpoint, e.PrevClosed, e.StartSize, micros(e.CreatedAt))
	return translate(err)
}

func (s *CheckpointStore) ForgetEpoch(ctx context.Context, tenant garde.TenantID, number int) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM ledger_epochs WHERE tenant_id = ? AND number = ?`, string(tenant), number)
	return translate(err)
}

func (s *CheckpointStore) Epochs(ctx context.Context, tenant garde.TenantID) ([]garde.LedgerEpoch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT number, origin, verifier, sealed_signer, key_version, prev_origin, prev_verifier, prev_checkpoint, prev_closed, start_size, created_at
		FROM ledger_epochs WHERE tenant_id = ? ORDER BY number`, string(tenant))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.LedgerEpoch
	for rows.Next() {
		e := garde.LedgerEpoch{Tenant: tenant}
		var at int64
		if err := rows.Scan(&e.Number, &e.Origin, &e.Verifier, &e.SealedSigner, &e.KeyVersion, &e.PrevOrigin, &e.PrevVerifier, &e.PrevCheckpoint, &e.PrevClosed, &e.StartSize, &at); err != nil {
			return nil, err
		}
		e.CreatedAt = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
