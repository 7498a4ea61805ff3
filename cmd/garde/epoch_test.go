package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/postgres/postgrestest"
	"github.com/jackc/pgx/v5"
)

// TestRestoreNewEpoch is the attack of issue #13 through the commands:
// back up, sign more consents, restore. garde must then refuse to sign
// (at start it names the tenant; a consent is refused), verify ledger must
// say the log went back, and restore --new-epoch must give the log a new
// identity under which it signs again, while every receipt handed out
// still verifies with the key it was signed with.
func TestRestoreNewEpoch(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	noenv := func(string) string { return "" }
	d := dataFlags{dataDir: dir, sqliteSync: "NORMAL"}
	svc, db, _, err := d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := gardetest.ConsentTenant(t, svc, "A")
	kept, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("kim", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	key1, err := svc.Trail.LedgerVerifierKey(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := run(ctx, []string{"backup", "--data-dir", dir, backup}, noenv, nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	lost, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("lou", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	var out bytes.Buffer
	if err := run(ctx, []string{"restore", "--data-dir", dir, backup}, noenv, nil, &out, io.Discard); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if !strings.Contains(out.String(), string(a.ID)) || !strings.Contains(out.String(), "refuse to sign") {
		t.Fatalf("restore output does not name the tenant whose log went back:\n%s", out.String())
	}
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	if err := reportForks(ctx, svc, slog.New(slog.NewJSONHandler(&logs, nil))); err != nil || !strings.Contains(logs.String(), string(a.ID)) {
		t.Fatalf("serve start did not log the tenant it refuses to sign for (%v):\n%s", err, logs.String())
	}
	if _, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("max", "improve_replies")); !errors.Is(err, trail.ErrLedgerFork) {
		t.Fatalf("RecordConsent after restore = %v, want ErrLedgerFork", err)
	}
	db.Close()

	keyFile := filepath.Join(t.TempDir(), "pinned.keys")
	os.WriteFile(keyFile, []byte("# tenant A\n"+key1+"\n"), 0o644)
	verify := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"verify", "ledger", "--data-dir", dir}, args...), noenv, nil, &out, io.Discard)
		return out.String(), err
	}
	var ec exitCode
	if out, err := verify("--key", keyFile); !errors.As(err, &ec) || ec.code != 1 || !strings.Contains(out, "went back") {
		t.Fatalf("verify ledger after restore = %v, want exit 1 saying the log went back\n%s", err, out)
	}
	var ue usageError
	if out, err := verify(); !errors.As(err, &ue) || !strings.Contains(ue.msg, "/v1/ledger/key") {
		t.Fatalf("verify ledger without --key = %v, want a usage error saying how to pin the key\n%s", err, out)
	}

	out.Reset()
	if err := run(ctx, []string{"restore", "--data-dir", dir, "--new-epoch", backup}, noenv, nil, &out, io.Discard); err != nil {
		t.Fatalf("restore --new-epoch: %v", err)
	}
	if !strings.Contains(out.String(), "ledger epoch 2") {
		t.Fatalf("restore --new-epoch output:\n%s", out.String())
	}
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	now, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("max", "improve_replies"))
	if err != nil {
		t.Fatalf("RecordConsent in the new epoch = %v", err)
	}
	key2, _ := svc.Trail.LedgerVerifierKey(ctx, a.DPO)
	db.Close()
	if err := consent.VerifyReceipt(now.Receipt, key2); err != nil {
		t.Fatal(err)
	}
	for _, r := range []garde.Receipt{kept.Receipt, lost.Receipt} {
		if err := consent.VerifyReceipt(r, key1); err != nil {
			t.Fatalf("old receipt, old key: %v", err)
		}
	}
	os.WriteFile(keyFile, []byte(key1+"\n"+key2+"\n"), 0o644)
	out2, err := verify("--key", keyFile)
	if err != nil || !strings.Contains(out2, "epoch 1: log "+trail.EpochOrigin(a.ID, 1)+" (closed)") || !strings.Contains(out2, "lost with a restore") ||
		!strings.Contains(out2, "epoch 2: log "+trail.EpochOrigin(a.ID, 2)+" (current)") {
		t.Fatalf("verify ledger with both keys = %v\n%s", err, out2)
	}
	if out, err := verify("--key", key2); err == nil {
		t.Fatalf("verify ledger with the new key only = ok, want the old epoch's key asked for\n%s", out)
	}
}

// TestLedgerNewEpochPostgres: on PostgreSQL, where a restore is a
// pg_restore outside garde, `garde ledger new-epoch --db` is the
// operator's way out, and the checkpoint store is the garde_keys schema.
// The data schema is backed up and restored by copying its tables.
func TestLedgerNewEpochPostgres(t *testing.T) {
	base := os.Getenv("GARDE_TEST_POSTGRES")
	if base == "" {
		t.Skip("GARDE_TEST_POSTGRES is not set")
	}
	ctx := context.Background()
	noenv := func(string) string { return "" }
	schema := postgrestest.NewSchema(t, base)
	dsn := postgrestest.WithParam(base, "search_path", schema)
	dir := t.TempDir()
	d := dataFlags{db: dsn, dataDir: dir, sqliteSync: "NORMAL"}
	svc, db, _, err := d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := gardetest.ConsentTenant(t, svc, "A")
	kept, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("kim", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	key1, _ := svc.Trail.LedgerVerifierKey(ctx, a.DPO)
	restore := copySchema(t, base, schema)
	lost, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("lou", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	restore(t)
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("max", "improve_replies")); !errors.Is(err, trail.ErrLedgerFork) {
		t.Fatalf("RecordConsent after the restore = %v, want ErrLedgerFork", err)
	}
	db.Close()
	var out bytes.Buffer
	if err := run(ctx, []string{"ledger", "new-epoch", "--db", dsn, "--data-dir", dir}, noenv, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ledger epoch 2") {
		t.Fatalf("ledger new-epoch = %v\n%s", err, out.String())
	}
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Consent.RecordConsent(ctx, a.Service, gardetest.Grant("max", "improve_replies"))
	key2, _ := svc.Trail.LedgerVerifierKey(ctx, a.DPO)
	db.Close()
	if err != nil || consent.VerifyReceipt(r.Receipt, key2) != nil || consent.VerifyReceipt(kept.Receipt, key1) != nil || consent.VerifyReceipt(lost.Receipt, key1) != nil {
		t.Fatalf("consent in epoch 2 = %v, or a receipt does not verify with its epoch's key", err)
	}
	out.Reset()
	err = run(ctx, []string{"verify", "ledger", "--db", dsn, "--key", key1, "--key", key2}, noenv, nil, &out, io.Discard)
	if err != nil || !strings.Contains(out.String(), "lost with a restore") || !strings.Contains(out.String(), "epoch 2: log "+trail.EpochOrigin(a.ID, 2)+" (current)") {
		t.Fatalf("verify ledger --db = %v\n%s", err, out.String())
	}
}

// copySchema copies every table of schema into a new one and returns the
// restore: empty the tables and copy them back (foreign-key triggers off;
// the test role is a superuser), as restoring a pg_dump of the schema.
func copySchema(t *testing.T, dsn, schema string) func(*testing.T) {
	t.Helper()
	ctx := context.Background()
	bk := postgrestest.NewSchema(t, dsn)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`, schema)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		if _, err := conn.Exec(ctx, `CREATE TABLE `+pgx.Identifier{bk, tb}.Sanitize()+` AS SELECT * FROM `+pgx.Identifier{schema, tb}.Sanitize()); err != nil {
			t.Fatal(err)
		}
	}
	return func(t *testing.T) {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			dst, src := pgx.Identifier{schema, tb}.Sanitize(), pgx.Identifier{bk, tb}.Sanitize()
			if _, err := tx.Exec(ctx, `DELETE FROM `+dst); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+dst+` OVERRIDING SYSTEM VALUE SELECT * FROM `+src); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
}
