// The key store (garde.KeyStore): tenant and subject keys and the journal
// of their destruction, in a schema of its own reached through a pool of
// its own, and the setup of that schema when the database opens.

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// KeyStore is garde's key store on PostgreSQL: a schema of its own
// (garde_keys by default), apart from the data schema, reached through a
// pool of its own. See garde.KeyStore for the design.
//
// Why a schema and a pool: a dump of the data (pg_dump --schema of the
// data, or --exclude-schema of the keys; `garde backup --db` does the
// latter) then holds no key at all, and the key schema can be given other
// backups, another tablespace, or, with --keys-db, another database. Its
// own pool means a data transaction that needs a key never waits for a
// connection held by another data transaction.
//
// Residue, stated in docs/security.md: a deleted key row stays as a dead
// tuple until VACUUM (Scrub runs one on the key tables after each
// destruction) and in the WAL until its segments are recycled (bounded by
// max_wal_size and wal_keep_size, and by the WAL archive's retention where
// one is kept); a physical replica replays the deletion and the vacuum.
type KeyStore struct {
	pool   *pgxpool.Pool
	schema string
}

var _ garde.KeyStore = (*KeyStore)(nil)

// keyStoreTables creates the key store's tables in schema %[1]s.
const keyStoreTables = `
CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[1]s.tenant_keys (
	tenant_id      text NOT NULL,
	kind           text NOT NULL,
	version        bigint NOT NULL,
	wrapped        bytea NOT NULL,
	master_version bigint NOT NULL,
	created_at     timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, kind, version)
);
CREATE TABLE IF NOT EXISTS %[1]s.subject_keys (
	tenant_id   text NOT NULL,
	subject_id  text NOT NULL,
	wrapped     bytea NOT NULL,
	key_version bigint NOT NULL,
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, subject_id)
);
CREATE TABLE IF NOT EXISTS %[1]s.journal (
	seq         bigserial PRIMARY KEY,
	kind        text NOT NULL,
	tenant_id   text NOT NULL,
	subject_id  text NOT NULL DEFAULT '',
	blind_index bytea,
	purpose     text NOT NULL DEFAULT '',
	request_id  text NOT NULL DEFAULT '',
	at          timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_by_operation ON %[1]s.journal (tenant_id, kind, subject_id, request_id);
`

// ensureKeyStore creates the key schema and tables, under the migration
// lock of that schema so that nodes starting together do it once, then
// the checkpoint store's tables in it (which take that same lock
// themselves, so after it is released).
func (db *DB) ensureKeyStore(ctx context.Context) error {
	if err := db.ensureKeyTables(ctx); err != nil {
		return err
	}
	var err error
	db.cps, err = NewCheckpointStore(ctx, db.keys.pool, db.keys.schema)
	return err
}

func (db *DB) ensureKeyTables(ctx context.Context) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("key store: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, migrationLock, db.keys.schema); err != nil {
		return fmt.Errorf("key store: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, migrationLock, db.keys.schema)
	ks := pgx.Identifier{db.keys.schema}.Sanitize()
	if _, err := conn.Exec(ctx, fmt.Sprintf(keyStoreTables, ks)); err != nil {
		return fmt.Errorf("key store schema: %w", translate(err))
	}
	return db.moveKeys(ctx, conn, ks)
}

// moveKeys moves the keys that garde kept in the data schema before the
// key store existed (tenant_keys, subjects.wrapped_key) into the key
// schema, in one transaction, and wipes them from the data schema. A key
// whose subject is tombstoned or journalled as erased, or whose tenant is
// journalled as off-boarded, is wiped without being moved: a restored old
// dump must not bring back a key an erasure destroyed since.
func (db *DB) moveKeys(ctx context.Context, conn *pgxpool.Conn, ks string) error {
	var n int64
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM tenant_keys) + (SELECT count(*) FROM subjects WHERE wrapped_key IS NOT NULL)`).Scan(&n)
	if err != nil || n == 0 {
		return translate(err)
	}
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, q := range []string{
			`INSERT INTO ` + ks + `.tenant_keys SELECT t.tenant_id, t.kind, t.version, t.wrapped, t.master_version, t.created_at FROM tenant_keys t
				WHERE NOT EXISTS (SELECT 1 FROM ` + ks + `.journal j WHERE j.tenant_id = t.tenant_id AND j.kind = 'offboard') ON CONFLICT DO NOTHING`,
			`INSERT INTO ` + ks + `.subject_keys SELECT s.tenant_id, s.id, s.wrapped_key, s.key_version, s.created_at FROM subjects s
				WHERE s.wrapped_key IS NOT NULL
				AND NOT EXISTS (SELECT 1 FROM subject_blocks b WHERE b.tenant_id = s.tenant_id AND b.blind_index = s.blind_index AND b.kind = 'erased')
				AND NOT EXISTS (SELECT 1 FROM ` + ks + `.journal j WHERE j.tenant_id = s.tenant_id AND ((j.kind = 'erase' AND j.subject_id = s.id) OR j.kind = 'offboard'))
				ON CONFLICT DO NOTHING`,
			`DELETE FROM tenant_keys`,
			`UPDATE subjects SET wrapped_key = NULL WHERE wrapped_key IS NOT NULL`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return translate(fmt.Errorf("move keys: %w", err))
			}
		}
		return nil
	})
}

// keySchema is the key store's schema for these options.
func keySchema(opts Options) string {
	switch {
	case opts.KeySchema != "":
		return opts.KeySchema
	case opts.Schema != "":
		return opts.Schema + "_keys"
	}
	return "garde_keys"
}

func (ks *KeyStore) write(ctx context.Context, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, ks.pool, fn)
	if err != nil {
		return translate(fmt.Errorf("key store: %w", err))
	}
	return nil
}

// AddTenantKeys inserts tenant key versions, all or none.
func (ks *KeyStore) AddTenantKeys(ctx context.Context, keys []garde.TenantKey) error {
	return ks.write(ctx, func(tx pgx.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `INSERT INTO tenant_keys (tenant_id, kind, version, wrapped, master_version, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
				string(k.Tenant), k.Kind, int64(k.Version), k.Wrapped, int64(k.MasterVersion), k.CreatedAt); err != nil {
				return err
			}
		}
		return nil
	})
}

// RewrapTenantKeys replaces the wrapping of existing tenant key versions.
func (ks *KeyStore) RewrapTenantKeys(ctx context.Context, keys []garde.TenantKey) error {
	return ks.write(ctx, func(tx pgx.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `UPDATE tenant_keys SET wrapped = $1, master_version = $2 WHERE tenant_id = $3 AND kind = $4 AND version = $5`,
				k.Wrapped, int64(k.MasterVersion), string(k.Tenant), k.Kind, int64(k.Version)); err != nil {
				return err
			}
		}
		return nil
	})
}

// TenantKeys returns every key version of a tenant.
func (ks *KeyStore) TenantKeys(ctx context.Context, tenant garde.TenantID) ([]garde.TenantKey, error) {
	rows, err := ks.pool.Query(ctx, `SELECT kind, version, wrapped, master_version, created_at FROM tenant_keys WHERE tenant_id = $1 ORDER BY kind, version`, string(tenant))
	return collect(rows, err, "tenant keys", func(r pgx.Rows) (garde.TenantKey, error) {
		k := garde.TenantKey{Tenant: tenant}
		var v, mv int64
		err := r.Scan(&k.Kind, &v, &k.Wrapped, &mv, &k.CreatedAt)
		k.Version, k.MasterVersion, k.CreatedAt = uint32(v), uint32(mv), utc(k.CreatedAt)
		return k, err
	})
}

// AddSubjectKeys inserts subject keys, all or none.
func (ks *KeyStore) AddSubjectKeys(ctx context.Context, keys []garde.SubjectKey) error {
	if len(keys) == 0 {
		return nil
	}
	return ks.write(ctx, func(tx pgx.Tx) error {
		rows := make([][]any, len(keys))
		for i, k := range keys {
			rows[i] = []any{string(k.Tenant), k.Subject, k.Wrapped, int64(k.Version), k.CreatedAt}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"subject_keys"}, []string{"tenant_id", "subject_id", "wrapped", "key_version", "created_at"}, pgx.CopyFromRows(rows))
		return err
	})
}

func scanSubjectKey(tenant garde.TenantID) func(pgx.Rows) (garde.SubjectKey, error) {
	return func(r pgx.Rows) (garde.SubjectKey, error) {
		k := garde.SubjectKey{Tenant: tenant}
		var v int64
		err := r.Scan(&k.Subject, &k.Wrapped, &v, &k.CreatedAt)
		k.Version, k.CreatedAt = uint32(v), utc(k.CreatedAt)
		return k, err
	}
}

// SubjectKeys returns the keys of the given subjects that exist.
func (ks *KeyStore) SubjectKeys(ctx context.Context, tenant garde.TenantID, ids []string) ([]garde.SubjectKey, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := ks.pool.Query(ctx, `SELECT subject_id, wrapped, key_version, created_at FROM subject_keys WHERE tenant_id = $1 AND subject_id = ANY($2::text[])`, string(tenant), ids)
	return collect(rows, err, "subject keys", scanSubjectKey(tenant))
}

// ListSubjectKeys lists a tenant's subject keys after a subject id.
func (ks *KeyStore) ListSubjectKeys(ctx context.Context, tenant garde.TenantID, after string, limit int) ([]garde.SubjectKey, error) {
	rows, err := ks.pool.Query(ctx, `SELECT subject_id, wrapped, key_version, created_at FROM subject_keys WHERE tenant_id = $1 AND subject_id > $2 ORDER BY subject_id LIMIT $3`, string(tenant), after, limit)
	return collect(rows, err, "subject keys", scanSubjectKey(tenant))
}

// RewrapSubjectKeys replaces the wrapping of existing subject keys.
func (ks *KeyStore) RewrapSubjectKeys(ctx context.Context, keys []garde.SubjectKey) error {
	return ks.write(ctx, func(tx pgx.Tx) error {
		for _, k := range keys {
			if _, err := tx.Exec(ctx, `UPDATE subject_keys SET wrapped = $1, key_version = $2 WHERE tenant_id = $3 AND subject_id = $4`,
				k.Wrapped, int64(k.Version), string(k.Tenant), k.Subject); err != nil {
				return err
			}
		}
		return nil
	})
}

// Record journals entries and destroys the keys they name, in one
// transaction, then vacuums the key tables.
func (ks *KeyStore) Record(ctx context.Context, entries []garde.JournalEntry) error {
	destroyed := false
	err := ks.write(ctx, func(tx pgx.Tx) error {
		destroyed = false
		for _, e := range entries {
			var deletes [][]any
			switch e.Kind {
			case garde.JournalErase:
				deletes = [][]any{{`DELETE FROM subject_keys WHERE tenant_id = $1 AND subject_id = $2`, string(e.Tenant), e.Subject}}
			case garde.JournalOffboard:
				deletes = [][]any{{`DELETE FROM subject_keys WHERE tenant_id = $1`, string(e.Tenant)}, {`DELETE FROM tenant_keys WHERE tenant_id = $1`, string(e.Tenant)}}
			}
			for _, d := range deletes {
				if _, err := tx.Exec(ctx, d[0].(string), d[1:]...); err != nil {
					return err
				}
				destroyed = true
			}
			if len(deletes) > 0 {
				var one int
				err := tx.QueryRow(ctx, `SELECT 1 FROM journal WHERE tenant_id = $1 AND kind = $2 AND subject_id = $3 AND request_id = $4 AND blind_index IS NOT DISTINCT FROM $5 LIMIT 1`,
					string(e.Tenant), e.Kind, e.Subject, e.Request, e.Index).Scan(&one)
				if err == nil {
					continue // journalled already: the keys are destroyed again above
				}
				if !errors.Is(err, pgx.ErrNoRows) {
					return err
				}
			}
			if e.Kind == garde.JournalRetentionPurge {
				// The latest purge of a tenant covers the earlier ones.
				if _, err := tx.Exec(ctx, `DELETE FROM journal WHERE tenant_id = $1 AND kind = $2`, string(e.Tenant), e.Kind); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO journal (kind, tenant_id, subject_id, blind_index, purpose, request_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				e.Kind, string(e.Tenant), e.Subject, e.Index, e.Purpose, e.Request, e.At); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || !destroyed {
		return err
	}
	return ks.Scrub(ctx)
}

// Journal lists the entries after seq.
func (ks *KeyStore) Journal(ctx context.Context, after int64) ([]garde.JournalEntry, error) {
	rows, err := ks.pool.Query(ctx, `SELECT seq, kind, tenant_id, subject_id, blind_index, purpose, request_id, at FROM journal WHERE seq > $1 ORDER BY seq`, after)
	return collect(rows, err, "journal", func(r pgx.Rows) (garde.JournalEntry, error) {
		var e garde.JournalEntry
		var tenant string
		err := r.Scan(&e.Seq, &e.Kind, &tenant, &e.Subject, &e.Index, &e.Purpose, &e.Request, &e.At)
		e.Tenant, e.At = garde.TenantID(tenant), utc(e.At)
		return e, err
	})
}

// Scrub vacuums the key tables, so that the dead tuples of destroyed keys
// are reclaimed rather than left for autovacuum. VACUUM marks their space
// free; the bytes stay in the page until overwritten, and in the WAL until
// its segments are recycled (docs/security.md).
func (ks *KeyStore) Scrub(ctx context.Context) error {
	for _, table := range []string{"subject_keys", "tenant_keys"} {
		if _, err := ks.pool.Exec(ctx, `VACUUM `+table); err != nil {
			return translate(fmt.Errorf("key store vacuum: %w", err))
		}
	}
	return nil
}

// Close closes the key store's pool.
func (ks *KeyStore) Close() { ks.pool.Close() }
