// The key store (garde.KeyStore): tenant and subject keys and the journal
// of their destruction, in a SQLite file of its own beside the data store.

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
)

// KeyStore is garde's key store on SQLite: a file of its own beside the
// master key (DATA-DIR/keys.db), never inside the data file, so that no
// copy of garde.db (a backup, a WAL, a freed page) holds a key that opens
// anything. See garde.KeyStore for the design.
//
// The file is opened with secure_delete on (SQLite zeroes the bytes a
// DELETE frees) and synchronous FULL (a destroyed key is destroyed on disk
// when Record returns). After each destruction Scrub checkpoints the WAL
// and truncates it, retried until no reader holds an old snapshot, so that
// no page image of a destroyed key outlives it in keys.db-wal.
type KeyStore struct {
	path string
	db   *sql.DB // the writer: one connection
	// reader serves the reads every read and write of personal data makes
	// (a subject's key), in parallel and on a prepared statement.
	reader *sql.DB
	oneKey *sql.Stmt
}

var _ garde.KeyStore = (*KeyStore)(nil)

// KeyStorePath is where the key store of the data file at path lives:
// keys.db beside garde.db, or NAME.keys.db beside any other NAME.db.
func KeyStorePath(path string) string {
	if filepath.Base(path) == "garde.db" {
		return filepath.Join(filepath.Dir(path), "keys.db")
	}
	return strings.TrimSuffix(path, ".db") + ".keys.db"
}

const keyStoreSchema = `
CREATE TABLE IF NOT EXISTS tenant_keys (
	tenant_id      TEXT NOT NULL,
	kind           TEXT NOT NULL,
	version        INTEGER NOT NULL,
	wrapped        BLOB NOT NULL,
	master_version INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, kind, version)
) STRICT;
CREATE TABLE IF NOT EXISTS subject_keys (
	tenant_id   TEXT NOT NULL,
	subject_id  TEXT NOT NULL,
	wrapped     BLOB NOT NULL,
	key_version INTEGER NOT NULL,
	created_at  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, subject_id)
) STRICT;
CREATE TABLE IF NOT EXISTS journal (
	seq         INTEGER PRIMARY KEY AUTOINCREMENT,
	kind        TEXT NOT NULL,
	tenant_id   TEXT NOT NULL,
	subject_id  TEXT NOT NULL DEFAULT '',
	blind_index BLOB,
	purpose     TEXT NOT NULL DEFAULT '',
	request_id  TEXT NOT NULL DEFAULT '',
	at          INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS journal_by_operation ON journal (tenant_id, kind, subject_id, request_id);
`

// OpenKeyStore opens (creating if needed) the key store at path.
func OpenKeyStore(ctx context.Context, path string) (*KeyStore, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "secure_delete(ON)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode()+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open key store: %w", err)
	}
	// One connection: the key store is small and its writes are rare next
	// to the data store's; one connection also means one writer.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	if _, err := db.ExecContext(ctx, keyStoreSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("key store schema: %w", translate(err))
	}
	reader, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode()+"&mode=ro")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open key store: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	oneKey, err := reader.PrepareContext(ctx, `SELECT subject_id, wrapped, key_version, created_at FROM subject_keys WHERE tenant_id = ? AND subject_id = ?`)
	if err != nil {
		reader.Close()
		db.Close()
		return nil, fmt.Errorf("key store: %w", translate(err))
	}
	return &KeyStore{path: path, db: db, reader: reader, oneKey: oneKey}, nil
}

// Path is the key store's file.
func (ks *KeyStore) Path() string { return ks.path }

// Close closes the key store.
func (ks *KeyStore) Close() error {
	return errors.Join(ks.oneKey.Close(), ks.reader.Close(), ks.db.Close())
}

func (ks *KeyStore) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := ks.db.BeginTx(ctx, nil)
	if err != nil {
		return translate(fmt.Errorf("key store: begin: %w", err))
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return translate(err)
	}
	if err := tx.Commit(); err != nil {
		return translate(fmt.Errorf("key store: commit: %w", err))
	}
	return nil
}

// AddTenantKeys inserts tenant key versions, all or none.
func (ks *KeyStore) AddTenantKeys(ctx context.Context, keys []garde.TenantKey) error {
	return ks.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_keys (tenant_id, kind, version, wrapped, master_version, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
				string(k.Tenant), k.Kind, k.Version, k.Wrapped, k.MasterVersion, micros(k.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// RewrapTenantKeys replaces the wrapping of existing tenant key versions.
func (ks *KeyStore) RewrapTenantKeys(ctx context.Context, keys []garde.TenantKey) error {
	return ks.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `UPDATE tenant_keys SET wrapped = ?, master_version = ? WHERE tenant_id = ? AND kind = ? AND version = ?`,
				k.Wrapped, k.MasterVersion, string(k.Tenant), k.Kind, k.Version); err != nil {
				return err
			}
		}
		return nil
	})
}

// TenantKeys returns every key version of a tenant.
func (ks *KeyStore) TenantKeys(ctx context.Context, tenant garde.TenantID) ([]garde.TenantKey, error) {
	rows, err := ks.reader.QueryContext(ctx, `SELECT kind, version, wrapped, master_version, created_at FROM tenant_keys WHERE tenant_id = ? ORDER BY kind, version`, string(tenant))
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.TenantKey
	for rows.Next() {
		k := garde.TenantKey{Tenant: tenant}
		var at int64
		if err := rows.Scan(&k.Kind, &k.Version, &k.Wrapped, &k.MasterVersion, &at); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMicros(at)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddSubjectKeys inserts subject keys, all or none.
func (ks *KeyStore) AddSubjectKeys(ctx context.Context, keys []garde.SubjectKey) error {
	return ks.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subject_keys (tenant_id, subject_id, wrapped, key_version, created_at) VALUES (?, ?, ?, ?, ?)`,
				string(k.Tenant), k.Subject, k.Wrapped, k.Version, micros(k.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SubjectKeys returns the keys of the given subjects that exist.
func (ks *KeyStore) SubjectKeys(ctx context.Context, tenant garde.TenantID, ids []string) ([]garde.SubjectKey, error) {
	if len(ids) == 1 {
		rows, err := ks.oneKey.QueryContext(ctx, string(tenant), ids[0])
		return scanSubjectKeys(rows, err, tenant)
	}
	var out []garde.SubjectKey
	for start := 0; start < len(ids); start += insertChunk {
		chunk := ids[start:min(start+insertChunk, len(ids))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, string(tenant))
		for _, id := range chunk {
			args = append(args, id)
		}
		keys, err := ks.subjectKeys(ctx, `SELECT subject_id, wrapped, key_version, created_at FROM subject_keys WHERE tenant_id = ? AND subject_id IN (?`+strings.Repeat(", ?", len(chunk)-1)+`)`, tenant, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
	}
	return out, nil
}

// ListSubjectKeys lists a tenant's subject keys after a subject id.
func (ks *KeyStore) ListSubjectKeys(ctx context.Context, tenant garde.TenantID, after string, limit int) ([]garde.SubjectKey, error) {
	return ks.subjectKeys(ctx, `SELECT subject_id, wrapped, key_version, created_at FROM subject_keys WHERE tenant_id = ? AND subject_id > ? ORDER BY subject_id LIMIT ?`, tenant, string(tenant), after, limit)
}

func (ks *KeyStore) subjectKeys(ctx context.Context, query string, tenant garde.TenantID, args ...any) ([]garde.SubjectKey, error) {
	rows, err := ks.reader.QueryContext(ctx, query, args...)
	return scanSubjectKeys(rows, err, tenant)
}

func scanSubjectKeys(rows *sql.Rows, err error, tenant garde.TenantID) ([]garde.SubjectKey, error) {
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.SubjectKey
	for rows.Next() {
		k := garde.SubjectKey{Tenant: tenant}
		var at int64
		if err := rows.Scan(&k.Subject, &k.Wrapped, &k.Version, &at); err != nil {
			return nil, err
		}
		k.CreatedAt = fromMicros(at)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RewrapSubjectKeys replaces the wrapping of existing subject keys.
func (ks *KeyStore) RewrapSubjectKeys(ctx context.Context, keys []garde.SubjectKey) error {
	return ks.write(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `UPDATE subject_keys SET wrapped = ?, key_version = ? WHERE tenant_id = ? AND subject_id = ?`,
				k.Wrapped, k.Version, string(k.Tenant), k.Subject); err != nil {
				return err
			}
		}
		return nil
	})
}

// Record journals entries and destroys the keys they name, in one
// transaction; then scrubs the WAL.
func (ks *KeyStore) Record(ctx context.Context, entries []garde.JournalEntry) error {
	destroyed := false
	err := ks.write(ctx, func(tx *sql.Tx) error {
		destroyed = false // write may not run fn twice, but keep it exact
		for _, e := range entries {
			switch e.Kind {
			case garde.JournalErase:
				if e.Subject != "" {
					if _, err := tx.ExecContext(ctx, `DELETE FROM subject_keys WHERE tenant_id = ? AND subject_id = ?`, string(e.Tenant), e.Subject); err != nil {
						return err
					}
				}
				destroyed = true
			case garde.JournalOffboard:
				for _, q := range []string{`DELETE FROM subject_keys WHERE tenant_id = ?`, `DELETE FROM tenant_keys WHERE tenant_id = ?`} {
					if _, err := tx.ExecContext(ctx, q, string(e.Tenant)); err != nil {
						return err
					}
				}
				destroyed = true
			}
			if e.Kind == garde.JournalErase || e.Kind == garde.JournalOffboard {
				var one int
				err := tx.QueryRowContext(ctx, `SELECT 1 FROM journal WHERE tenant_id = ? AND kind = ? AND subject_id = ? AND request_id = ? AND blind_index IS ?`,
					string(e.Tenant), e.Kind, e.Subject, e.Request, e.Index).Scan(&one)
				if err == nil {
					continue // journalled already: the keys are destroyed again above
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			if e.Kind == garde.JournalRetentionPurge {
				// The latest purge of a tenant covers the earlier ones.
				if _, err := tx.ExecContext(ctx, `DELETE FROM journal WHERE tenant_id = ? AND kind = ?`, string(e.Tenant), e.Kind); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO journal (kind, tenant_id, subject_id, blind_index, purpose, request_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				e.Kind, string(e.Tenant), e.Subject, e.Index, e.Purpose, e.Request, micros(e.At)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !destroyed {
		return err
	}
	// Bounded, since callers record under a context they cannot cancel: a
	// scrub that gives up fails Record, whose caller runs it again (the
	// destruction is idempotent), and so the scrub is retried until it
	// succeeds.
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return ks.Scrub(sctx)
}

// Journal lists the entries after seq.
func (ks *KeyStore) Journal(ctx context.Context, after int64) ([]garde.JournalEntry, error) {
	rows, err := ks.db.QueryContext(ctx, `SELECT seq, kind, tenant_id, subject_id, blind_index, purpose, request_id, at FROM journal WHERE seq > ? ORDER BY seq`, after)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []garde.JournalEntry
	for rows.Next() {
		var e garde.JournalEntry
		var tenant string
		var at int64
		if err := rows.Scan(&e.Seq, &e.Kind, &tenant, &e.Subject, &e.Index, &e.Purpose, &e.Request, &at); err != nil {
			return nil, err
		}
		e.Tenant, e.At = garde.TenantID(tenant), fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Scrub checkpoints the key store's WAL into its file and truncates it,
// retrying while a reader holds an old snapshot (a busy checkpoint
// reports busy=1 instead of failing): until it succeeds, the WAL may
// still hold a page image of a destroyed key. secure_delete has zeroed
// the key in the page that the checkpoint writes back.
func (ks *KeyStore) Scrub(ctx context.Context) error {
	delay := time.Millisecond
	for {
		var busy, logFrames, checkpointed int
		err := ks.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed)
		if err != nil {
			return translate(fmt.Errorf("key store checkpoint: %w", err))
		}
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("key store checkpoint: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}
