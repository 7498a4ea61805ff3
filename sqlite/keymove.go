// The upgrade that moves the keys earlier versions kept in the data file
// into the key store, at every open.

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/garde-privacy/garde"
)

// moveKeys moves the keys that garde kept in the data file before the key
// store existed (tenant_keys, subjects.wrapped_key) into the key store, and
// wipes them from the data file. It runs at every open, so that a data file
// restored from an old backup gives its keys up before anything reads it;
// with no key left in the data file it costs one read.
//
// A key is not moved, only wiped, when its subject is tombstoned in the
// data file or journalled as erased in the key store, or its tenant is
// journalled as off-boarded: an old backup must not bring back a key that
// an erasure destroyed since.
func (db *DB) moveKeys(ctx context.Context) error {
	var n int
	if err := db.writer.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM tenant_keys) + (SELECT count(*) FROM subjects WHERE wrapped_key IS NOT NULL)`).Scan(&n); err != nil {
		return translate(fmt.Errorf("move keys: %w", err))
	}
	if n == 0 {
		return nil
	}
	journal, err := db.keys.Journal(ctx, 0)
	if err != nil {
		return err
	}
	erased, offboarded := map[[2]string]bool{}, map[string]bool{}
	for _, e := range journal {
		switch e.Kind {
		case garde.JournalErase:
			erased[[2]string{string(e.Tenant), e.Subject}] = true
		case garde.JournalOffboard:
			offboarded[string(e.Tenant)] = true
		}
	}
	var tks []garde.TenantKey
	rows, err := db.writer.QueryContext(ctx, `SELECT tenant_id, kind, version, wrapped, master_version, created_at FROM tenant_keys`)
	if err != nil {
		return translate(err)
	}
	for rows.Next() {
		var k garde.TenantKey
		var at int64
		if err := rows.Scan(&k.Tenant, &k.Kind, &k.Version, &k.Wrapped, &k.MasterVersion, &at); err != nil {
			rows.Close()
			return err
		}
		k.CreatedAt = fromMicros(at)
		if !offboarded[string(k.Tenant)] {
			tks = append(tks, k)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	var sks []garde.SubjectKey
	rows, err = db.writer.QueryContext(ctx, `SELECT s.tenant_id, s.id, s.wrapped_key, s.key_version, s.created_at FROM subjects s
		WHERE s.wrapped_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM subject_blocks b WHERE b.tenant_id = s.tenant_id AND b.blind_index = s.blind_index AND b.kind = ?)`, garde.BlockErased)
	if err != nil {
		return translate(err)
	}
	for rows.Next() {
		var k garde.SubjectKey
		var at int64
		if err := rows.Scan(&k.Tenant, &k.Subject, &k.Wrapped, &k.Version, &at); err != nil {
			rows.Close()
			return err
		}
		k.CreatedAt = fromMicros(at)
		if !offboarded[string(k.Tenant)] && !erased[[2]string{string(k.Tenant), k.Subject}] {
			sks = append(sks, k)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if err := db.keys.importKeys(ctx, tks, sks); err != nil {
		return err
	}
	tx, err := db.writer.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	for _, q := range []string{`DELETE FROM tenant_keys`, `UPDATE subjects SET wrapped_key = NULL WHERE wrapped_key IS NOT NULL`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			tx.Rollback()
			return translate(fmt.Errorf("move keys: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return translate(fmt.Errorf("move keys: %w", err))
	}
	// secure_delete zeroed the freed bytes in the pages; the WAL still
	// holds their old images until it is checkpointed and truncated.
	return db.Scrub(ctx)
}

// importKeys inserts keys moved from a data file, keeping any the key
// store already has (its wrapping may be newer).
func (ks *KeyStore) importKeys(ctx context.Context, tks []garde.TenantKey, sks []garde.SubjectKey) error {
	return ks.write(ctx, func(tx *sql.Tx) error {
		for _, k := range tks {
			if _, err := tx.ExecContext(ctx, `INSERT INTO tenant_keys (tenant_id, kind, version, wrapped, master_version, created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				string(k.Tenant), k.Kind, k.Version, k.Wrapped, k.MasterVersion, micros(k.CreatedAt)); err != nil {
				return err
			}
		}
		for _, k := range sks {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subject_keys (tenant_id, subject_id, wrapped, key_version, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
				string(k.Tenant), k.Subject, k.Wrapped, k.Version, micros(k.CreatedAt)); err != nil {
				return err
			}
		}
		return nil
	})
}
