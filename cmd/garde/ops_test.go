package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/jackc/pgx/v5"
)

// backends runs fn on SQLite (a fresh data directory) and, when
// GARDE_TEST_POSTGRES is set, on PostgreSQL in a schema of its own; env
// is what the commands read (GARDE_DATA_DIR, GARDE_DB).
func backends(t *testing.T, fn func(t *testing.T, env map[string]string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, map[string]string{"GARDE_DATA_DIR": filepath.Join(t.TempDir(), "garde-data")})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, map[string]string{"GARDE_DATA_DIR": filepath.Join(t.TempDir(), "garde-data"), "GARDE_DB": pgSchema(t)})
	})
}

// pgSchema returns GARDE_TEST_POSTGRES pointed at a fresh schema, dropped
// after the test, or skips.
func pgSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("GARDE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("GARDE_TEST_POSTGRES_REQUIRED") == "1" {
			t.Fatal("GARDE_TEST_POSTGRES_REQUIRED=1 but GARDE_TEST_POSTGRES is not set")
		}
		t.Skip("GARDE_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "garde_test_ops_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// gardeCmd runs the command line in-process and returns its stdout; a
// failure's error carries stderr.
func gardeCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, nil, &stdout, &stderr)
	if err != nil {
		err = fmt.Errorf("%w (stderr: %s)", err, stderr.String())
	}
	return stdout.String(), err
}

// TestTenantRecoverAdmin: a tenant whose admins lost their keys gets a new
// one from whoever holds the master key; the old ones keep working, the
// new one is an admin key of that tenant, the recovery is audited.
func TestTenantRecoverAdmin(t *testing.T) {
	backends(t, func(t *testing.T, env map[string]string) {
		out, err := gardeCmd(t, env, "tenant", "create", "Lost Keys SAS", "--json")
		if err != nil {
			t.Fatalf("tenant create: %v\n%s", err, out)
		}
		var created struct{ Tenant, Key string }
		if err := json.Unmarshal([]byte(out), &created); err != nil {
			t.Fatalf("tenant create printed %q: %v", out, err)
		}
		out, err = gardeCmd(t, env, "tenant", "recover-admin", created.Tenant, "--json")
		if err != nil {
			t.Fatalf("tenant recover-admin: %v\n%s", err, out)
		}
		var rec struct{ Tenant, ID, Key string }
		if err := json.Unmarshal([]byte(out), &rec); err != nil || rec.Key == "" || rec.Key == created.Key {
			t.Fatalf("tenant recover-admin printed %q (%v), want a new key", out, err)
		}
		if _, err := gardeCmd(t, env, "tenant", "recover-admin", "tn_missing"); err == nil {
			t.Error("tenant recover-admin tn_missing succeeded")
		}

		d := dataFlags{db: env["GARDE_DB"], dataDir: env["GARDE_DATA_DIR"], sqliteSync: "NORMAL"}
		svc, db, _, err := d.open(context.Background(), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ctx := context.Background()
		p, err := svc.Authenticate(ctx, rec.Key)
		if err != nil || p.Role != garde.RoleAdmin || string(p.Tenant) != created.Tenant || p.KeyID != rec.ID {
			t.Fatalf("Authenticate(recovered key) = %+v, %v", p, err)
		}
		evs, err := svc.Audit(ctx, p, garde.AuditFilter{Action: garde.ActionKeyRecover})
		if err != nil || len(evs) != 1 || evs[0].Reason != rec.ID {
			t.Fatalf("audit of the recovery = %+v, %v", evs, err)
		}
	})
}
