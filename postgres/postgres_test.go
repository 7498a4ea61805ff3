package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/postgres"
	"github.com/garde-privacy/garde/postgres/postgrestest"
)

// The helpers of package postgrestest, under the names these tests use.
var (
	testDSN   = postgrestest.DSN
	newSchema = postgrestest.NewSchema
	openDB    = postgrestest.Open
)

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
