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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestRestoreRefusedWhileServing runs the real binary: with two garde
// serve processes on one data directory (they share the serve lock),
// garde restore is refused, naming the lock, and the database is
// untouched — a message written after the backup is still served; once
// both servers have stopped, the restore goes through.
func TestRestoreRefusedWhileServing(t *testing.T) {
	bin := gardeBin(t)
	dataDir := filepath.Join(t.TempDir(), "garde-data")
	out, err := exec.Command(bin, "tenant", "create", "Example SAS", "--data-dir", dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	var tenant struct{ Tenant, Key string }
	json.Unmarshal(out, &tenant)
	backup := filepath.Join(t.TempDir(), "backup.db")
	if out, err := exec.Command(bin, "backup", "--data-dir", dataDir, backup).CombinedOutput(); err != nil {
		t.Fatalf("garde backup: %v\n%s", err, out)
	}
	srv := startServer(t, bin, dataDir)
	srv2 := startServer(t, bin, dataDir) // a second node on the same directory still starts
	// A key made after the backup: the restore would lose it.
	code, body := call(t, "POST", srv.url+"/v1/keys", tenant.Key, `{"role":"admin"}`)
	var k struct{ Key string }
	if json.Unmarshal(body, &k); code != 201 {
		t.Fatalf("POST /v1/keys = %d %s", code, body)
	}

	out, err = exec.Command(bin, "restore", "--data-dir", dataDir, backup).CombinedOutput()
	if err == nil {
		t.Fatalf("garde restore while garde serves succeeded:\n%s", out)
	}
	for _, want := range []string{"garde restore refused", "a garde serve holds", serveLockFile, "stop every garde serve"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("refusal %q does not say %q", out, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dataDir, "garde.db.restoring")); !os.IsNotExist(err) {
		t.Errorf("a refused restore left garde.db.restoring: %v", err)
	}
	for _, s := range []*server{srv, srv2} {
		if code, _ := call(t, "GET", s.url+"/v1/keys", k.Key, ""); code != 200 {
			t.Fatalf("the key made after the backup after a refused restore = %d, want 200", code)
		}
	}

	srv.stop(t)
	if out, err := exec.Command(bin, "restore", "--data-dir", dataDir, backup).CombinedOutput(); err == nil {
		t.Fatalf("garde restore with one server left succeeded:\n%s", out)
	}
	srv2.stop(t)
	if out, err := exec.Command(bin, "restore", "--data-dir", dataDir, backup).CombinedOutput(); err != nil {
		t.Fatalf("garde restore after the servers stopped: %v\n%s", err, out)
	}
	// The restore happened: the key made after the backup is gone.
	srv = startServer(t, bin, dataDir)
	defer srv.stop(t)
	if code, _ := call(t, "GET", srv.url+"/v1/keys", k.Key, ""); code != 401 {
		t.Fatalf("the key made after the backup, after the restore = %d, want 401", code)
	}
}

// TestServeLock: on both backends, servers share the serve lock, a
// command that must run alone is refused while one holds it (and names
// what holds it), and gets it once they have stopped; a server does not
// start while such a command runs. On PostgreSQL the server is the real
// binary; the lock dies with its process, however it ends.
func TestServeLock(t *testing.T) {
	backends(t, func(t *testing.T, env map[string]string) {
		ctx := context.Background()
		d := dataFlags{db: env["GARDE_DB"], dataDir: env["GARDE_DATA_DIR"]}
		a, err := d.lockServe(ctx, io.Discard)
		if err != nil {
			t.Fatalf("first server's lock: %v", err)
		}
		b, err := d.lockServe(ctx, io.Discard)
		if err != nil {
			t.Fatalf("second server's lock: %v", err)
		}
		if _, err := d.lockAlone(ctx, "garde restore", io.Discard); err == nil || !strings.Contains(err.Error(), "a garde serve holds") {
			t.Fatalf("exclusive lock while two servers hold it = %v, want a refusal naming the holder", err)
		}
		a()
		if _, err := d.lockAlone(ctx, "garde restore", io.Discard); err == nil {
			t.Fatal("exclusive lock while one server holds it succeeded")
		}
		b()
		alone, err := d.lockAlone(ctx, "garde restore", io.Discard)
		if err != nil {
			t.Fatalf("exclusive lock after the servers stopped: %v", err)
		}
		var stderr bytes.Buffer
		err = run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, nil, io.Discard, &stderr)
		if err == nil || !strings.Contains(err.Error(), "garde restore") {
			t.Fatalf("garde serve while restore runs = %v, want a refusal", err)
		}
		alone()

		// The real binary; SIGKILL leaves no stale lock.
		bin := gardeBin(t)
		var extra []string
		if d.db != "" {
			extra = []string{"--db", d.db}
		}
		srv := startServer(t, bin, d.dataDir, extra...)
		if _, err := d.lockAlone(ctx, "garde restore", io.Discard); err == nil {
			t.Fatal("exclusive lock while garde serve runs succeeded")
		}
		srv.cmd.Process.Kill()
		<-srv.done
		var release func()
		for range 50 { // PostgreSQL notices the dropped session within moments
			if release, err = d.lockAlone(ctx, "garde restore", io.Discard); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("exclusive lock after garde serve was killed: %v", err)
		}
		release()
	})
}
