package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
)

// TestMoveLegacyKeys plays an upgrade: a data file written by garde before
// the key store holds its tenant and subject keys itself. Opening it moves
// them into a new key store and wipes them from the data file — except
// the key of a subject the data file tombstones as erased, which is wiped
// and never moved.
func TestMoveLegacyKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "garde.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mk := gardetest.MasterKeys(t)
	svc := app.New(db, mk, gardetest.NewClock(time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)))
	a := gardetest.NewTenant(t, svc, "A")
	for _, s := range []string{"kept", "erased"} {
		if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: s, Purpose: "answer_support_request", Text: "texte de " + s}}); err != nil {
			t.Fatal(err)
		}
	}
	ks := db.KeyStore()
	tks, _ := ks.TenantKeys(ctx, a.ID)
	sks, _ := ks.ListSubjectKeys(ctx, a.ID, "", 10)
	f, err := svc.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "erased", Type: garde.RequestErasure})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// Write the keys back where an older garde kept them, as if the
	// erasure had happened before the upgrade: the erased subject's row
	// and key back too, its tombstone kept.
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range tks {
		if _, err := raw.Exec(`INSERT INTO tenant_keys (tenant_id, kind, version, wrapped, master_version, created_at) VALUES (?, ?, ?, ?, ?, 0)`, string(k.Tenant), k.Kind, k.Version, k.Wrapped, k.MasterVersion); err != nil {
			t.Fatal(err)
		}
	}
	var erasedID string
	for _, k := range sks {
		if _, err := raw.Exec(`UPDATE subjects SET wrapped_key = ?, key_version = ? WHERE tenant_id = ? AND id = ?`, k.Wrapped, k.Version, string(k.Tenant), k.Subject); err != nil {
			t.Fatal(err)
		}
		var n int
		raw.QueryRow(`SELECT count(*) FROM subjects WHERE id = ?`, k.Subject).Scan(&n)
		if n == 0 {
			erasedID = k.Subject
			if _, err := raw.Exec(`INSERT INTO subjects (tenant_id, id, blind_index, wrapped_key, key_version, created_at) VALUES (?, ?, (SELECT blind_index FROM subject_blocks WHERE tenant_id = ? AND request_id = ?), ?, ?, 0)`,
				string(k.Tenant), k.Subject, string(k.Tenant), f.Request.ID, k.Wrapped, k.Version); err != nil {
				t.Fatal(err)
			}
		}
	}
	raw.Close()
	if erasedID == "" {
		t.Fatal("the erased subject's row was not found purged: the test proves nothing")
	}
	for _, name := range []string{"keys.db", "keys.db-wal", "keys.db-shm"} {
		os.Remove(filepath.Join(dir, name))
	}
	db, err = sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	moved, _ := db.KeyStore().ListSubjectKeys(ctx, a.ID, "", 10)
	if len(moved) != 1 || moved[0].Subject == erasedID {
		t.Fatalf("moved subject keys = %+v, want the kept subject's only", moved)
	}
	if got, _ := db.KeyStore().TenantKeys(ctx, a.ID); len(got) != len(tks) {
		t.Fatalf("moved %d tenant keys, want %d", len(got), len(tks))
	}
	svc = app.New(db, mk, gardetest.NewClock(time.Date(2026, 1, 31, 11, 0, 0, 0, time.UTC)))
	if ms, err := svc.Vault.SubjectMessages(ctx, a.Service, "kept", "answer_support_request"); err != nil || len(ms) != 1 {
		t.Fatalf("the kept subject after the upgrade: %d messages, %v", len(ms), err)
	}
	raw, _ = sql.Open("sqlite", "file:"+path)
	defer raw.Close()
	var left int
	raw.QueryRow(`SELECT (SELECT count(*) FROM tenant_keys) + (SELECT count(*) FROM subjects WHERE wrapped_key IS NOT NULL)`).Scan(&left)
	if left != 0 {
		t.Fatalf("%d keys left in the data file after the move", left)
	}
}
