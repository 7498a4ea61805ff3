package postgres_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/garde-privacy/garde/gardetest"
	"github.com/jackc/pgx/v5"
)

// TestNoPlaintextAtRest ingests messages full of known personal data, then
// looks for each value everywhere PostgreSQL keeps it: every text and bytea
// column of every table of the schema (as raw bytes), pg_dump's output of
// the schema, and — when the server's files are on this machine — the
// tables' heap files and the WAL written meanwhile. None may hold it.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, dsn, schema := openDB(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var walStart string
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&walStart); err != nil {
		t.Logf("WAL position unknown (%v): WAL not checked", err)
	}

	secrets := gardetest.SeedPersonalData(t, db)
	// Every secret contains one of these markers: searching megabytes of
	// files and WAL for the markers alone finds any of them, 40 times
	// faster than searching for each.
	markers := []string{"Jeanne", "Martin-Dupont", "example.fr", "crm.example", "+33 6 12 34 56", "client-subject-"}
	searchFor := func(where string, b []byte, needles []string) {
		t.Helper()
		for _, s := range needles {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains %q", where, s)
			}
			// pg_dump and COPY write bytea as hex.
			if bytes.Contains(b, []byte(hex.EncodeToString([]byte(s)))) {
				t.Errorf("%s contains %q, hex-encoded", where, s)
			}
		}
	}
	search := func(where string, b []byte) { t.Helper(); searchFor(where, b, secrets) }
	searchBulk := func(where string, b []byte) { t.Helper(); searchFor(where, b, markers) }

	// 1. Every value of every text-like and bytea column, as raw bytes.
	rows, err := conn.Query(ctx, `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE'
		AND c.data_type IN ('text', 'bytea', 'character varying', 'character', 'json', 'jsonb', 'xml', 'ARRAY', 'USER-DEFINED')`, schema)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.table, &c.column, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) < 20 {
		t.Fatalf("found %d text/bytea columns in schema %s: the query is wrong", len(cols), schema)
	}
	values := 0
	for _, c := range cols {
		id, name := pgx.Identifier{schema, c.table}.Sanitize(), pgx.Identifier{c.column}.Sanitize()
		// A bytea's text form is hex: read bytea as it is, the rest as the
		// bytes of its text form.
		expr := "convert_to(" + name + "::text, 'UTF8')"
		if c.typ == "bytea" {
			expr = name
		}
		q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL`, expr, id, name)
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s.%s: %v", c.table, c.column, err)
		}
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			values++
			search(fmt.Sprintf("column %s.%s", c.table, c.column), b)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if values < 100 {
		t.Fatalf("read %d values: the ingest did not land in schema %s", values, schema)
	}

	// 2. pg_dump's output, if pg_dump is installed.
	dumped := false
	if path, err := exec.LookPath("pg_dump"); err == nil {
		// The URL as given: libpq does not take pgx's run-time parameters.
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, path, "--dbname", os.Getenv("GARDE_TEST_POSTGRES"), "--schema", schema, "--no-owner")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			// An older pg_dump refuses a newer server: not this test's
			// business.
			t.Logf("pg_dump failed (%v: %s): dump not checked", err, bytes.TrimSpace(stderr.Bytes()))
		} else {
			dumped = true
			if !bytes.Contains(out, []byte("messages_p00")) {
				t.Fatalf("pg_dump output does not hold the schema's tables")
			}
			searchBulk("pg_dump output", out)
		}
	} else {
		t.Log("pg_dump not installed: dump not checked")
	}

	// 3. The files on disk: heap, TOAST and index files of every relation
	// of the schema, and the WAL segments written since the test started.
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		t.Logf("CHECKPOINT: %v: files not checked", err)
		return
	}
	var dataDir string
	if err := conn.QueryRow(ctx, `SHOW data_directory`).Scan(&dataDir); err != nil {
		t.Logf("data directory unknown (%v): files not checked", err)
		return
	}
	if _, err := os.Stat(dataDir); err != nil {
		t.Logf("data directory not on this machine: files not checked")
		return
	}
	rows, err = conn.Query(ctx, `SELECT pg_relation_filepath(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND pg_relation_filepath(c.oid) IS NOT NULL
		UNION SELECT pg_relation_filepath(c.reltoastrelid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.reltoastrelid <> 0`, schema)
	if err != nil {
		t.Fatal(err)
	}
	files, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	read := 0
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dataDir, f))
		if err != nil {
			continue
		}
		read++
		searchBulk("file "+f, b)
	}
	t.Logf("searched %d columns (%d values), %d relation files, the dump: %v", len(cols), values, read, dumped)
	if walStart == "" {
		return
	}
	var walEnd string
	if err := conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_current_wal_lsn())`).Scan(&walEnd); err != nil {
		return
	}
	segs, _ := filepath.Glob(filepath.Join(dataDir, "pg_wal", "0*"))
	for _, seg := range segs {
		name := filepath.Base(seg)
		if len(name) != 24 || name < walStart || name > walEnd {
			continue
		}
		b, err := os.ReadFile(seg)
		if err != nil {
			continue
		}
		searchBulk("WAL segment "+name, b)
	}
}
