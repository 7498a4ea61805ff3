package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/postgres"
	"github.com/jackc/pgx/v5"
)

// testDSN returns the URL of the test server: GARDE_TEST_POSTGRES. Without
// it the test is skipped, unless GARDE_TEST_POSTGRES_REQUIRED=1 (CI), where
// a missing or unreachable server is a failure.
func testDSN(t testing.TB) string {
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
		dsn = withParam(dsn, "synchronous_commit", "off")
	}
	return dsn
}

// withParam adds a run-time parameter to a URL or key=value connection
// string.
func withParam(dsn, key, value string) string {
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

// newSchema creates an empty schema for one test and drops it when the test
// ends, so that tests are independent and may run in parallel.
func newSchema(t testing.TB, dsn string) string {
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
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

func openDB(t testing.TB) (*postgres.DB, string, string) {
	t.Helper()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	db, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn, schema
}

func open(t *testing.T) garde.Store {
	t.Helper()
	db, _, _ := openDB(t)
	return db
}

func TestConformance(t *testing.T) {
	testDSN(t) // skip (or fail) once, not once per subtest
	t.Parallel()
	gardetest.Run(t, open)
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, dsn, schema := openDB(t)
	want := postgres.LatestVersion()
	if v, err := db.Version(ctx); err != nil || v != want {
		t.Fatalf("Version = %d, %v; want %d", v, err, want)
	}
	// Several nodes starting at once: the advisory lock lets one migrate
	// and the others find nothing to do.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	applied := make([][]int, 3)
	for i := range 3 {
		wg.Go(func() {
			db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema, NoMigrate: true})
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			applied[i], errs[i] = db.Migrate(ctx)
		})
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil || len(applied[i]) != 0 {
			t.Errorf("second Migrate = %v, %v; want nothing applied", applied[i], errs[i])
		}
	}
}

func TestMigrateConcurrentFresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Go(func() {
			db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("three nodes opening a fresh database: %v", err)
	}
}

func TestNoMigrateRefusesOldSchema(t *testing.T) {
	t.Parallel()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	_, err := postgres.Open(context.Background(), dsn, postgres.Options{Schema: schema, NoMigrate: true})
	if err == nil {
		t.Fatal("Open(NoMigrate) on an empty schema = nil, want an error asking for garde migrate")
	}
}

func TestInvalidDSNHidesPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cret@host:notaport/db", postgres.Options{})
	if err == nil {
		t.Fatal("Open(bad URL) = nil")
	}
	if got := err.Error(); contains(got, "s3cret") {
		t.Fatalf("Open(bad URL) = %q: leaks the password", got)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestMigrationNumbers keeps the embedded migrations numbered 1, 2, 3…
// with no gap: Migrate applies what is above the highest applied number.
func TestMigrationNumbers(t *testing.T) {
	entries, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if want := fmt.Sprintf("%04d_", i+1); !strings.HasPrefix(e.Name(), want) {
			t.Errorf("migration %d is %s, want a name starting with %s", i+1, e.Name(), want)
		}
	}
	if len(entries) != postgres.LatestVersion() {
		t.Errorf("LatestVersion = %d, want %d", postgres.LatestVersion(), len(entries))
	}
}
