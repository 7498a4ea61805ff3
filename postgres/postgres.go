// Package postgres stores garde's data in PostgreSQL (pgx, pgxpool): the
// production backend, shared by any number of stateless garde nodes.
//
// Read-write transactions are SERIALIZABLE, so that a use case sees the
// same semantics as on SQLite, where one writer runs at a time: two nodes
// rotating a tenant key, or creating the same subject, cannot both succeed
// on a stale read. Serialization failures and deadlocks are retried by
// running the transaction function again, as are transactions cut by a
// lost connection (a database failover) before they reached COMMIT. A
// COMMIT whose outcome is unknown is never retried.
//
// Read-only transactions are REPEATABLE READ: one consistent snapshot,
// never a serialization failure.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a garde store on a PostgreSQL database.
type DB struct {
	pool     *pgxpool.Pool
	keys     *KeyStore
	cps      *CheckpointStore
	retryFor time.Duration
	retries  atomic.Int64
	queues   sync.Map // tenant id → chan struct{} (capacity 1): see tx.begin
}

// queue returns the tenant's slot in this process: writers of one tenant
// wait for it before they take a connection.
func (db *DB) queue(tenant string) chan struct{} {
	if ch, ok := db.queues.Load(tenant); ok {
		return ch.(chan struct{})
	}
	ch, _ := db.queues.LoadOrStore(tenant, make(chan struct{}, 1))
	return ch.(chan struct{})
}

var _ garde.Store = (*DB)(nil)

// Options tune the store.
type Options struct {
	// Schema, when set, is the only schema on the search path: garde's
	// tables live there. It must exist. Tests use one schema each.
	Schema string
	// KeySchema is the key store's schema (default garde_keys, or
	// Schema_keys when Schema is set), created when missing.
	KeySchema string
	// MaxConns bounds the pool (default: pgxpool's, or pool_max_conns in
	// the URL).
	MaxConns int32
	// RetryFor bounds how long a transaction is retried after
	// serialization failures, deadlocks and lost connections (default 30s:
	// long enough to ride out a failover of pg_auto_failover or Patroni).
	// Negative disables retries.
	RetryFor time.Duration
	// NoMigrate opens the database without applying pending migrations:
	// for nodes that must not change the schema, when `garde migrate` is
	// run as a separate deployment step. Open then fails if the schema is
	// behind.
	NoMigrate bool
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string; several hosts may be listed, with target_session_attrs=read-write
// to find the primary) and applies pending migrations.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	db, err := Connect(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	if opts.NoMigrate {
		v, err := db.Version(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if n := LatestVersion(); v < n {
			db.Close()
			return nil, fmt.Errorf("postgres: schema version %d, this garde needs %d: run garde migrate", v, n)
		}
	} else if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.ensureKeyStore(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Connect opens the pool without touching the schema, for `garde migrate`
// and tools. Connections are made lazily: Connect does not fail when the
// server is down.
func Connect(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may repeat the URL, password included.
		return nil, errors.New("postgres: invalid connection string")
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "garde"
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// After a failover every idle connection points at a dead or demoted
	// server: ping a connection that sat idle before handing it out.
	cfg.ShouldPing = func(_ context.Context, p pgxpool.ShouldPingParams) bool { return p.IdleDuration > time.Second }
	cfg.PingTimeout = 5 * time.Second
	kcfg := cfg.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	// The key store's own pool, on its own schema (keys.go).
	ks := keySchema(opts)
	kcfg.ConnConfig.RuntimeParams["search_path"] = ks
	kcfg.MaxConns = 4
	kpool, err := pgxpool.NewWithConfig(ctx, kcfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: key store: %w", err)
	}
	db := &DB{pool: pool, keys: &KeyStore{pool: kpool, schema: ks}, retryFor: opts.RetryFor}
	if db.retryFor == 0 {
		db.retryFor = 30 * time.Second
	}
	return db, nil
}

// CheckpointStore is the signed-checkpoint record kept in the key schema.
func (db *DB) CheckpointStore() garde.CheckpointStore {
	if db.cps == nil {
		return nil // Connect without Open: no key schema was ensured
	}
	return db.cps
}

// KeyStore is the key store that comes with the database.
func (db *DB) KeyStore() garde.KeyStore { return db.keys }

// LatestVersion is the schema version this build migrates to.
func LatestVersion() int { return len(migrationNames()) }

// Pool is the connection pool, for tools and benchmarks that need raw
// access (never for business logic).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Retries is how many times a transaction was run again (serialization
// failures, deadlocks, lost connections) since Open: a metric.
func (db *DB) Retries() int64 { return db.retries.Load() }

// Close closes the pool.
func (db *DB) Close() error {
	db.keys.Close()
	db.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres ping: %w", err)
	}
	return nil
}

// Update runs fn in a serializable read-write transaction, retried as the
// package documentation says.
func (db *DB) Update(ctx context.Context, fn func(garde.Tx) error) error {
	return db.run(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadWrite}, fn)
}

// View runs fn in a read-only transaction on one snapshot.
func (db *DB) View(ctx context.Context, fn func(garde.Tx) error) error {
	return db.run(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (db *DB) run(ctx context.Context, opts pgx.TxOptions, fn func(garde.Tx) error) error {
	start := time.Now()
	var prelock []string
	for attempt := 0; ; attempt++ {
		touched, err := db.attempt(ctx, opts, prelock, fn)
		if err == nil || !errors.Is(err, errRetryable) || db.retryFor < 0 || time.Since(start) > db.retryFor || ctx.Err() != nil {
			return err
		}
		db.retries.Add(1)
		// The next attempt locks, before it begins, every tenant this one
		// wrote to: it then runs on a snapshot that no writer of those
		// tenants can make stale.
		prelock = append(prelock, touched...)
		// Exponential backoff from 1ms to 1s, with full jitter so that
		// nodes that collided do not collide again.
		d := min(time.Second, time.Millisecond<<min(attempt, 10))
		d = time.Duration(rand.Int64N(int64(d))) + time.Millisecond
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// errRetryable marks a transaction that certainly did not commit and may
// be run again.
var errRetryable = errors.New("transaction may be retried")

type retryable struct{ err error }

func (e retryable) Error() string   { return e.err.Error() }
func (e retryable) Unwrap() []error { return []error{e.err, errRetryable} }

// attempt runs fn once. The transaction begins lazily, at fn's first
// statement (see tx.begin), and reports the tenants it wrote to.
func (db *DB) attempt(ctx context.Context, opts pgx.TxOptions, prelock []string, fn func(garde.Tx) error) (touched []string, err error) {
	t := &tx{db: db, opts: opts, readOnly: opts.AccessMode == pgx.ReadOnly, prelock: prelock}
	defer t.release(ctx)
	err = fn(t)
	for tn := range t.heads {
		touched = append(touched, tn)
	}
	if err != nil {
		// A transaction rolled back by the server (serialization failure,
		// deadlock) or cut by a lost connection did not commit: run it
		// again. The rollback of a lost connection fails; ignore that.
		lost := t.lost()
		if t.tx != nil {
			t.tx.Rollback(context.WithoutCancel(ctx))
		}
		if ctx.Err() == nil && (transient(err) || lost || connectionLost(err) || (!t.readOnly && demoted(err))) {
			return touched, retryable{err}
		}
		return touched, err
	}
	if t.tx == nil {
		return touched, nil // fn ran no statement
	}
	if err := t.tx.Commit(ctx); err != nil {
		err = translate(fmt.Errorf("commit: %w", err))
		// A serialization failure at commit is a certain rollback. A lost
		// connection here leaves the outcome unknown: not retried.
		if transient(err) {
			return touched, retryable{err}
		}
		return touched, err
	}
	return touched, nil
}

// SQLSTATE codes garde acts on.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeCheckViolation       = "23514"
	codeNotNullViolation     = "23502"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeReadOnlyTransaction  = "25006"
	codeAdminShutdown        = "57P01"
	codeCrashShutdown        = "57P02"
	codeCannotConnectNow     = "57P03"
	codeTooManyConnections   = "53300"
)

// transient reports a server-side rollback that a new attempt may avoid.
func transient(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return false
}

// connectionLost reports an error of the connection rather than of the
// statement: the server is down or restarting.
func connectionLost(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeAdminShutdown, codeCrashShutdown, codeCannotConnectNow, codeTooManyConnections:
			return true
		}
		return strings.HasPrefix(pe.Code, "08") // connection_exception
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.SafeToRetry(err)
}

// demoted reports a write refused because the server is (now) a standby:
// after a failover, a pooled connection may still point at the old primary.
// In a read-write transaction that is worth a retry on a new connection.
func demoted(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == codeReadOnlyTransaction
}

func migrationNames() []string {
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	slices.Sort(names)
	return names
}

// migrationLock is the first key of the session advisory lock held while
// migrating; the second is a hash of the schema, so that tests migrating
// their own schemas in parallel do not wait for each other.
const migrationLock = 0x67617264 // "gard"

// Version is the schema version: the highest applied migration, 0 for an
// empty database.
func (db *DB) Version(ctx context.Context) (int, error) {
	var v int
	err := db.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// Migrate applies every embedded migration not yet applied, each in its own
// transaction together with its row in schema_migrations, under an
// advisory lock so that nodes starting together migrate once. It returns
// the versions it applied.
func (db *DB) Migrate(ctx context.Context) ([]int, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext(current_schema()))`, migrationLock); err != nil {
		return nil, fmt.Errorf("migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext(current_schema()))`, migrationLock)
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	names := migrationNames()
	if current > len(names) {
		return nil, fmt.Errorf("database schema version %d is newer than this garde (%d): upgrade garde", current, len(names))
	}
	var applied []int
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return applied, fmt.Errorf("migration %s: name must start with its number", base)
		}
		if v <= current {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return applied, err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, v, base)
			return err
		})
		if err != nil {
			return applied, fmt.Errorf("migration %s: %w", base, err)
		}
		applied = append(applied, v)
	}
	return applied, nil
}
