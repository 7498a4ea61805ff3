// Package sqlite stores garde's data in one SQLite file (modernc.org/sqlite,
// pure Go, WAL mode): the embedded default that needs nothing installed.
//
// Writes go through a single connection, as SQLite allows one writer at a
// time; BEGIN IMMEDIATE takes the write lock up front so that two garde
// processes on the same file queue instead of failing mid-transaction.
// Reads use a pool of read-only connections and never block the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/garde-privacy/garde"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a garde store on one SQLite file.
type DB struct {
	path   string
	writer *sql.DB
	reader *sql.DB
	// Prepared statements, per pool.
	writerStmts, readerStmts *stmtCache
	keys                     *KeyStore
	checkpoints              *CheckpointStore
}

var _ garde.Store = (*DB)(nil)

// Options tune the database.
type Options struct {
	// Synchronous is SQLite's synchronous setting: "NORMAL" (the default:
	// in WAL mode a committed transaction survives a crash of the process,
	// and the last ones may be lost on power failure) or "FULL" (an fsync
	// per commit: survives power failure, slower).
	Synchronous string
	// KeyStorePath is the key store's file (default: KeyStorePath(path)).
	// A restore opens the backup being restored with the live key store.
	KeyStorePath string
}

// Open opens (creating if needed) the database at path and applies pending
// migrations.
func Open(ctx context.Context, path string, opts Options) (*DB, error) {
	sync := strings.ToUpper(opts.Synchronous)
	if sync == "" {
		sync = "NORMAL"
	}
	if sync != "NORMAL" && sync != "FULL" {
		return nil, fmt.Errorf("sqlite synchronous mode %q: want NORMAL or FULL", opts.Synchronous)
	}
	dsn := func(extra string) string {
		q := url.Values{}
		// secure_delete zeroes what a DELETE or UPDATE frees: an erased
		// subject's wrapped key must not linger in a free page (rights).
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(" + sync + ")", "foreign_keys(1)", "temp_store(MEMORY)", "wal_autocheckpoint(8192)", "secure_delete(ON)"} {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode() + extra
	}
	writer, err := sql.Open("sqlite", dsn("&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	reader, err := sql.Open("sqlite", dsn("&mode=ro"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0)*2)
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	db := &DB{path: path, writer: writer, reader: reader, writerStmts: newStmtCache(writer), readerStmts: newStmtCache(reader)}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	ksPath := opts.KeyStorePath
	if ksPath == "" {
		ksPath = KeyStorePath(path)
	}
	if db.keys, err = OpenKeyStore(ctx, ksPath); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.moveKeys(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if db.checkpoints, err = NewCheckpointStore(ctx, db.keys.db); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// CheckpointStore is the signed-checkpoint record kept in the key store's
// file.
func (db *DB) CheckpointStore() garde.CheckpointStore { return db.checkpoints }

// KeyStore is the key store opened with the database.
func (db *DB) KeyStore() garde.KeyStore { return db.keys }

// Path is the database file.
func (db *DB) Path() string { return db.path }

// Close closes both pools. In WAL mode the last close checkpoints the WAL
// into the main file.
func (db *DB) Close() error {
	db.writerStmts.close()
	db.readerStmts.close()
	var kerr error
	if db.keys != nil {
		kerr = db.keys.Close()
	}
	return errors.Join(db.reader.Close(), db.writer.Close(), kerr)
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	return db.reader.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Version is the schema version after migrations.
func (db *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := db.writer.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// migrate applies each embedded migration newer than PRAGMA user_version,
// each in its own transaction together with the version bump. A
// migration's version is the number its file name starts with
// (0002_consent.sql is version 2); numbers must increase and never change.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	current, err := db.Version(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	last := 0
	for _, name := range names {
		num, _, _ := strings.Cut(strings.TrimPrefix(name, "migrations/"), "_")
		v, err := strconv.Atoi(num)
		if err != nil || v <= last {
			return fmt.Errorf("migration %s: file names must start with increasing numbers", name)
		}
		last = v
		if v <= current {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.writer.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	if current > last {
		return fmt.Errorf("database schema version %d is newer than this garde (%d): upgrade garde", current, last)
	}
	return nil
}

// Update runs fn in a write transaction.
func (db *DB) Update(ctx context.Context, fn func(garde.Tx) error) error {
	return db.run(ctx, db.writer, db.writerStmts, fn)
}

// View runs fn in a read transaction (a consistent snapshot).
func (db *DB) View(ctx context.Context, fn func(garde.Tx) error) error {
	return db.run(ctx, db.reader, db.readerStmts, fn)
}

func (db *DB) run(ctx context.Context, pool *sql.DB, stmts *stmtCache, fn func(garde.Tx) error) error {
	sqlTx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return translate(fmt.Errorf("begin: %w", err))
	}
	t := &tx{tx: &cachedTx{tx: sqlTx, cache: stmts}}
	defer t.close()
	if err := fn(t); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return translate(fmt.Errorf("commit: %w", err))
	}
	return nil
}
