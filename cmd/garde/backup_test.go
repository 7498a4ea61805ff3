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

// TestBackupStaysErased: back up while garde is open, erase a subject,
// restore the backup, open garde again — the erased subject's data cannot
// be read (the backup never held its key, the journal purges its rows
// again), every other subject's can, and no file holds the erased
// subject's wrapped key.
func TestBackupStaysErased(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := dataFlags{dataDir: dir, sqliteSync: "NORMAL"}
	svc, db, _, err := d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := gardetest.NewTenant(t, svc, "A")
	for _, m := range []vault.NewMessage{
		{Subject: "alice@example.org", Purpose: "answer_support_request", Text: "texte très secret d'Alice"},
		{Subject: "bob@example.org", Purpose: "answer_support_request", Text: "message de Bob"},
	} {
		if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{m}); err != nil {
			t.Fatal(err)
		}
	}
	var wrapped [][]byte
	subjectKeys, _ := db.(garde.KeyStoreProvider).KeyStore().ListSubjectKeys(ctx, a.ID, "", 10)
	for _, k := range subjectKeys {
		wrapped = append(wrapped, k.Wrapped)
	}
	if len(wrapped) != 2 {
		t.Fatalf("%d subject keys, want 2", len(wrapped))
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	var out bytes.Buffer
	if err := run(ctx, []string{"backup", "--data-dir", dir, backup}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatalf("garde backup: %v", err)
	}
	r, err := svc.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "alice@example.org", Type: garde.RequestErasure})
	if err != nil || r.Request.Status != garde.StatusCompleted {
		t.Fatalf("erasure = %v, %v", r.Request.Status, err)
	}
	db.Close()

	raw, _ := os.ReadFile(backup)
	held := 0
	for _, w := range wrapped {
		if bytes.Contains(raw, w) {
			held++
		}
	}
	if held != 0 {
		t.Fatalf("the backup holds %d wrapped keys, want none: keys live in the key store", held)
	}
	if err := run(ctx, []string{"restore", "--data-dir", dir, backup}, func(string) string { return "" }, nil, &out, io.Discard); err != nil {
		t.Fatalf("garde restore: %v", err)
	}
	// Start garde again on the restored directory.
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alice, err := svc.Vault.SubjectMessages(ctx, a.Service, "alice@example.org", "answer_support_request")
	if err != nil || len(alice) != 0 {
		t.Fatalf("erased subject after restore: %d messages, %v", len(alice), err)
	}
	bob, err := svc.Vault.SubjectMessages(ctx, a.Service, "bob@example.org", "answer_support_request")
	if err != nil || len(bob) != 1 || bob[0].Text != "message de Bob" {
		t.Fatalf("other subject after restore: %+v, %v", bob, err)
	}
	if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "alice@example.org", Purpose: "answer_support_request", Text: "late"}}); err == nil || !strings.Contains(err.Error(), "erased") {
		t.Fatalf("late write after restore = %v, want refused", err)
	}
	db.Close()
	for _, f := range []string{"garde.db", "garde.db-wal", "keys.db", "keys.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		for _, secret := range []string{"alice@example.org", "texte très secret", "Alice"} {
			if bytes.Contains(b, []byte(secret)) {
				t.Fatalf("%s holds %q in plaintext", f, secret)
			}
		}
		erasedKeys := 0
		for _, w := range wrapped {
			if bytes.Contains(b, w) {
				erasedKeys++
			}
		}
		if want := map[string]int{"keys.db": 1}[f]; f != "keys.db-wal" && erasedKeys != want {
			t.Fatalf("%s holds %d wrapped keys, want %d (bob's in the key store only)", f, erasedKeys, want)
		}
	}
}

func TestVerifyCertificateCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := dataFlags{dataDir: dir, sqliteSync: "NORMAL"}
	svc, db, _, err := d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := gardetest.NewTenant(t, svc, "A")
	if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "s", Purpose: "answer_support_request", Text: "x"}}); err != nil {
		t.Fatal(err)
	}
	f, err := svc.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "s", Type: garde.RequestErasure})
	if err != nil {
		t.Fatal(err)
	}
	key, err := svc.Trail.LedgerVerifierKey(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(t.TempDir(), "erasure.cert")
	os.WriteFile(cert, f.Request.Certificate, 0o600)
	var out bytes.Buffer
	env := func(string) string { return "" }
	if err := run(ctx, []string{"verify", "certificate", cert, "--key", key}, env, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "valid: subject_erasure") {
		t.Fatalf("verify certificate = %v\n%s", err, out.String())
	}
	os.WriteFile(cert, bytes.Replace(f.Request.Certificate, []byte(`"messages":1`), []byte(`"messages":0`), 1), 0o600)
	err = run(ctx, []string{"verify", "certificate", cert, "--key", key}, env, nil, &out, io.Discard)
	var ec exitCode
	if !asExit(err, &ec) || ec.code != 1 {
		t.Fatalf("tampered certificate = %v, want exit 1", err)
	}
}

func asExit(err error, ec *exitCode) bool {
	e, ok := err.(exitCode)
	if ok {
		*ec = e
	}
	return ok
}

func TestTenantOffboardCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := dataFlags{dataDir: dir, sqliteSync: "NORMAL"}
	svc, db, _, err := d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a := gardetest.NewTenant(t, svc, "A")
	if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "s1", Purpose: "answer_support_request", Text: "un"}, {Subject: "s2", Purpose: "answer_support_request", Text: "deux"}}); err != nil {
		t.Fatal(err)
	}
	key, _ := svc.Trail.LedgerVerifierKey(ctx, a.DPO)
	db.Close()
	out := filepath.Join(t.TempDir(), "export.jsonl")
	env := func(string) string { return "" }
	var stdout bytes.Buffer
	if err := run(ctx, []string{"tenant", "offboard", string(a.ID), "--out", out, "--data-dir", dir}, env, nil, &stdout, io.Discard); err != nil {
		t.Fatalf("tenant offboard: %v", err)
	}
	export, _ := os.ReadFile(out)
	if n := bytes.Count(export, []byte("\n")); n != 2 || !bytes.Contains(export, []byte(`"Text":"deux"`)) {
		t.Fatalf("export (%d lines):\n%s", n, export)
	}
	stdout.Reset()
	if err := run(ctx, []string{"verify", "certificate", out + ".certificate", "--key", key}, env, nil, &stdout, io.Discard); err != nil || !strings.Contains(stdout.String(), "tenant_offboarding") {
		t.Fatalf("verify certificate = %v\n%s", err, stdout.String())
	}
	svc, db, _, err = d.open(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := svc.Authenticate(ctx, a.Keys[garde.RoleService]); err == nil {
		t.Fatal("an off-boarded tenant's key still authenticates")
	}
}
