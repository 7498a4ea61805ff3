package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestMigratePostgres runs `garde migrate` against PostgreSQL in a schema
// of its own (named by search_path in the URL): status, migrate, migrate
// again, status. Skipped unless GARDE_TEST_POSTGRES is set.
func TestMigratePostgres(t *testing.T) {
	dsn := os.Getenv("GARDE_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("GARDE_TEST_POSTGRES_REQUIRED") == "1" {
			t.Fatal("GARDE_TEST_POSTGRES_REQUIRED=1 but GARDE_TEST_POSTGRES is not set")
		}
		t.Skip("set GARDE_TEST_POSTGRES to run garde migrate against PostgreSQL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "garde_test_cmd_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	env := map[string]string{"GARDE_DB": u.String()}
	getenv := func(k string) string { return env[k] }
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := runMigrate(ctx, args, getenv, &stdout, &stderr); err != nil {
			t.Fatalf("garde migrate %q: %v (%s)", args, err, stderr.String())
		}
		return stdout.String()
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--status"}, "postgres schema at version 0;"},
		{nil, "postgres schema migrated from version 0 to "},
		{nil, "postgres schema up to date at version "},
		{[]string{"--status"}, "(0 pending)"},
	} {
		if got := run(tt.args...); !strings.Contains(got, tt.want) {
			t.Errorf("garde migrate %q = %q, want %q", tt.args, got, tt.want)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'messages'`, schema).Scan(&n); err != nil || n != 1 {
		t.Fatalf("messages table in %s: %d, %v", schema, n, err)
	}
	var stderr bytes.Buffer
	err = runMigrate(ctx, []string{"--db", "mysql://x"}, getenv, &bytes.Buffer{}, &stderr)
	if err == nil {
		t.Fatal("garde migrate --db mysql://x = nil, want a usage error")
	}
}
