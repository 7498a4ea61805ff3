package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
)

// TestKeyStoreLostAndRestored: the key store is backed up, a subject is
// erased, then the key store is lost (its files deleted) and restored from
// the backup, which still holds the erased subject's key. The data store's
// record of the erasure destroys it again: the other subject reads, the
// erased one does not, and no file of the data directory holds its key.
func TestKeyStoreLostAndRestored(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := func(string) string { return "" }
	d := dataFlags{dataDir: dir, sqliteSync: "NORMAL"}
	svc, db, _, err := d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := gardetest.NewTenant(t, svc, "A")
	for _, m := range []vault.NewMessage{
		{Subject: "alice@example.org", Purpose: "answer_support_request", Text: "texte d'Alice"},
		{Subject: "bob@example.org", Purpose: "answer_support_request", Text: "message de Bob"},
	} {
		if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{m}); err != nil {
			t.Fatal(err)
		}
	}
	keys, _ := db.(garde.KeyStoreProvider).KeyStore().ListSubjectKeys(ctx, a.ID, "", 10)
	backup := filepath.Join(t.TempDir(), "keys.backup")
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "backup", "--data-dir", dir, backup}, env, nil, &out, io.Discard); err != nil {
		t.Fatalf("garde keys backup: %v", err)
	}
	raw, _ := os.ReadFile(backup)
	for _, k := range keys {
		if bytes.Contains(raw, k.Wrapped) {
			t.Fatal("the key store backup holds a wrapped key in clear: it is not sealed")
		}
	}
	f, err := svc.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "alice@example.org", Type: garde.RequestErasure})
	if err != nil || f.Request.Status != garde.StatusCompleted {
		t.Fatalf("erasure = %v, %v", f.Request.Status, err)
	}
	db.Close()
	// The key store is lost.
	for _, name := range []string{"keys.db", "keys.db-wal", "keys.db-shm"} {
		os.Remove(filepath.Join(dir, name))
	}
	if err := run(ctx, []string{"keys", "restore", "--data-dir", dir, backup}, env, nil, &out, io.Discard); err != nil {
		t.Fatalf("garde keys restore: %v\n%s", err, out.String())
	}
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if ms, err := svc.Vault.SubjectMessages(ctx, a.Service, "bob@example.org", "answer_support_request"); err != nil || len(ms) != 1 || ms[0].Text != "message de Bob" {
		t.Fatalf("bob after the key store restore: %+v, %v", ms, err)
	}
	if ms, err := svc.Vault.SubjectMessages(ctx, a.Service, "alice@example.org", "answer_support_request"); err != nil || len(ms) != 0 {
		t.Fatalf("the erased subject after the key store restore: %+v, %v", ms, err)
	}
	if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "alice@example.org", Purpose: "answer_support_request", Text: "late"}}); err == nil || !strings.Contains(err.Error(), "erased") {
		t.Fatalf("a write for the erased subject = %v, want refused", err)
	}
	var victim []byte
	for _, k := range keys {
		if strings.Contains(f.Request.Outcome, k.Subject) {
			victim = k.Wrapped
		}
	}
	for _, name := range []string{"garde.db", "garde.db-wal", "keys.db", "keys.db-wal"} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); bytes.Contains(b, victim) {
			t.Errorf("%s holds the erased subject's wrapped key after the restore", name)
		}
	}
}

// TestOffboardSurvivesKeyRestore: a tenant off-boarded after a key store
// backup stays off-boarded when the key store is lost and restored from
// that backup: the data store's audit trail records the off-boarding, and
// the restore destroys the tenant's keys again.
func TestOffboardSurvivesKeyRestore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := func(string) string { return "" }
	d := dataFlags{dataDir: dir, sqliteSync: "NORMAL"}
	svc, db, _, err := d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := gardetest.NewTenant(t, svc, "A")
	if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "bob@example.org", Purpose: "answer_support_request", Text: "message de Bob"}}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "keys.backup")
	var out bytes.Buffer
	if err := run(ctx, []string{"keys", "backup", "--data-dir", dir, backup}, env, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Rights.OffboardTenant(ctx, cliOperator, a.ID, func(rights.SubjectExport) error { return nil }, func(garde.MessageView) error { return nil }); err != nil {
		t.Fatalf("offboard: %v", err)
	}
	db.Close()
	for _, name := range []string{"keys.db", "keys.db-wal", "keys.db-shm"} {
		os.Remove(filepath.Join(dir, name))
	}
	if err := run(ctx, []string{"keys", "restore", "--data-dir", dir, backup}, env, nil, &out, io.Discard); err != nil {
		t.Fatalf("restore: %v\n%s", err, out.String())
	}
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ks := db.(garde.KeyStoreProvider).KeyStore()
	tks, _ := ks.TenantKeys(ctx, a.ID)
	sks, _ := ks.ListSubjectKeys(ctx, a.ID, "", 10)
	if len(tks) > 0 || len(sks) > 0 {
		t.Fatalf("off-boarded tenant back after a key store restore: %d tenant keys, %d subject keys", len(tks), len(sks))
	}
	if _, err := svc.Vault.SubjectMessages(ctx, a.Service, "bob@example.org", "answer_support_request"); err == nil {
		t.Fatal("an off-boarded tenant's messages read after a key store restore")
	}
}
