package postgres_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/jackc/pgx/v5"
)

// TestErasureForensics: a pg_dump of the data schema taken before an
// erasure holds no subject key at all (keys live in the key schema), so
// with the master key it opens nothing once the key store lost the key;
// after the erasure the key schema, read row by row and dumped, no longer
// holds the erased subject's key while it still holds the other's. What
// PostgreSQL keeps below the rows (a vacuumed tuple's bytes, the WAL) is
// the residue docs/security.md states.
func TestErasureForensics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _, schema := openDB(t)
	svc := app.New(db, gardetest.MasterKeys(t), gardetest.NewClock(time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)))
	a := gardetest.NewTenant(t, svc, "A")
	for _, s := range []string{"erased@example.org", "kept@example.org"} {
		if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: s, Purpose: "answer_support_request", Text: "texte de " + s}}); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := db.KeyStore().ListSubjectKeys(ctx, a.ID, "", 10)
	if err != nil || len(keys) != 2 {
		t.Fatalf("subject keys = %d, %v", len(keys), err)
	}
	dump := func(schema string) []byte {
		t.Helper()
		path, err := exec.LookPath("pg_dump")
		if err != nil {
			t.Skip("pg_dump not installed")
		}
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, path, "--dbname", os.Getenv("GARDE_TEST_POSTGRES"), "--schema", schema, "--no-owner")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Skipf("pg_dump failed (%v: %s)", err, bytes.TrimSpace(stderr.Bytes()))
		}
		return out
	}
	holds := func(b []byte, k garde.SubjectKey) bool {
		return bytes.Contains(b, k.Wrapped) || bytes.Contains(b, []byte(hex.EncodeToString(k.Wrapped)))
	}
	before := dump(schema)
	if !bytes.Contains(before, []byte("messages_p00")) {
		t.Fatal("the data dump does not hold the schema's tables")
	}
	for _, k := range keys {
		if holds(before, k) {
			t.Errorf("the data dump holds subject %s's wrapped key", k.Subject)
		}
	}
	f, err := svc.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "erased@example.org", Type: garde.RequestErasure})
	if err != nil || f.Request.Status != garde.StatusCompleted {
		t.Fatalf("erasure = %v, %v", f.Request.Status, err)
	}
	var victim, kept garde.SubjectKey
	for _, k := range keys {
		if bytes.Contains([]byte(f.Request.Outcome), []byte(k.Subject)) {
			victim = k
		} else {
			kept = k
		}
	}
	// Every bytea of the key schema, and its dump.
	var raw []byte
	rows, err := db.Pool().Query(ctx, `SELECT wrapped FROM `+pgx.Identifier{schema + "_keys", "subject_keys"}.Sanitize()+` UNION ALL SELECT wrapped FROM `+pgx.Identifier{schema + "_keys", "tenant_keys"}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		raw = append(raw, b...)
	}
	rows.Close()
	for what, b := range map[string][]byte{"key schema rows": raw, "key schema dump": dump(schema + "_keys"), "data dump after": dump(schema)} {
		if holds(b, victim) {
			t.Errorf("%s hold the erased subject's wrapped key", what)
		}
		if what != "data dump after" && !holds(b, kept) {
			t.Errorf("%s lack the other subject's key: the search proves nothing", what)
		}
	}
}
