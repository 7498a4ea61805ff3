// Package postgrestest opens PostgreSQL stores for tests: one fresh schema
// per test, dropped when it ends, on the server GARDE_TEST_POSTGRES names.
// Without that variable the test is skipped — unless
// GARDE_TEST_POSTGRES_REQUIRED=1 (CI), where a missing or unreachable
// server fails it.
package postgrestest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/postgres"
	"github.com/jackc/pgx/v5"
)

// DSN returns the URL of the test server, or skips (fails in CI).
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("GARDE_TEST_POSTGRES")
	required := os.Getenv("GARDE_TEST_POSTGRES_REQUIRED") == "1"
	if dsn == "" {
		if required {
			t.Fatal("GARDE_TEST_POSTGRES_REQUIRED=1 but GARDE_TEST_POSTGRES is not set")
		}
		t.Skip("PostgreSQL tests skipped: set GARDE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run them")
	}
	if err := reachable(dsn); err != nil {
		if required {
			t.Fatalf("GARDE_TEST_POSTGRES is unreachable: %v", err)
		}
		t.Skipf("PostgreSQL tests skipped: GARDE_TEST_POSTGRES is unreachable: %v", err)
	}
	if _, bench := t.(*testing.B); !bench {
		// Tests do not test durability: skip the WAL flush at each commit
		// (a session setting; the schema and every statement are the same).
		// Benchmarks keep the server's setting.
		dsn = WithParam(dsn, "synchronous_commit", "off")
	}
	return dsn
}

// WithParam adds a run-time parameter to a URL or key=value connection
// string.
func WithParam(dsn, key, value string) string {
	if strings.Contains(dsn, "://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + key + "=" + value
	}
	return dsn + " " + key + "=" + value
}

var reach struct {
	sync.Once
	err error
}

func reachable(dsn string) error {
	reach.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			reach.err = err
			return
		}
		reach.err = conn.Ping(ctx)
		conn.Close(ctx)
	})
	return reach.err
}

// NewSchema creates an empty schema for one test and drops it when the
// test ends (kept when GARDE_TEST_POSTGRES_KEEP is set), so that tests are
// independent and may run in parallel.
func NewSchema(t testing.TB, dsn string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "garde_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("GARDE_TEST_POSTGRES_KEEP") != "" {
			t.Logf("kept schema %s", schema)
			return
		}
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		// The key store's schema goes with it (postgres keySchema).
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE; DROP SCHEMA IF EXISTS "+schema+"_keys CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Open opens a migrated store in a fresh schema, closed when the test
// ends, and returns it with the URL and the schema.
func Open(t testing.TB) (*postgres.DB, string, string) {
	t.Helper()
	dsn := DSN(t)
	schema := NewSchema(t, dsn)
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn, schema
}
