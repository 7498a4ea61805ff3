package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/sqlite"
)

// TestErasureForensics takes every copy an attacker holding the master key
// could have — the data directory's files and a `garde backup` taken
// before the erasure, the data directory after it, and the key store after
// it — and tries to open the erased subject with each: every slice of every
// data-store copy is tried as the subject's wrapped key under every tenant
// data key, and the key store's files are searched for it. None opens.
// The other subject's key is still in the key store (the test would
// otherwise prove nothing), and no plaintext is in any file.
func TestErasureForensics(t *testing.T) {
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
	for _, s := range []string{"erased@example.org", "kept@example.org"} {
		if _, err := svc.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: s, Purpose: "answer_support_request", Text: "texte secret de " + s,
			Fields: map[string]string{"user.contact.phone_number": "+33 6 98 76 54 32"}}}); err != nil {
			t.Fatal(err)
		}
	}
	ks := db.KeyStore()
	subjectKeys, err := ks.ListSubjectKeys(ctx, a.ID, "", 10)
	if err != nil || len(subjectKeys) != 2 {
		t.Fatalf("subject keys = %d, %v", len(subjectKeys), err)
	}
	tenantKeys, _ := ks.TenantKeys(ctx, a.ID)
	// Copies taken before the erasure.
	before := filepath.Join(t.TempDir(), "before.db")
	if err := db.Backup(ctx, before); err != nil {
		t.Fatal(err)
	}
	copies := map[string][]byte{"backup before": read(t, before)}
	for _, f := range []string{"garde.db", "garde.db-wal"} {
		copies[f+" before"] = read(t, filepath.Join(dir, f))
	}
	f, err := svc.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "erased@example.org", Type: garde.RequestErasure})
	if err != nil || f.Request.Status != garde.StatusCompleted {
		t.Fatalf("erasure = %v, %v", f.Request.Status, err)
	}
	for _, f := range []string{"garde.db", "garde.db-wal"} {
		copies[f+" after"] = read(t, filepath.Join(dir, f))
	}
	keyStoreAfter := append(read(t, filepath.Join(dir, "keys.db")), read(t, filepath.Join(dir, "keys.db-wal"))...)

	var victim, kept garde.SubjectKey
	for _, k := range subjectKeys {
		if bytes.Contains([]byte(f.Request.Outcome), []byte(k.Subject)) {
			victim = k
		} else {
			kept = k
		}
	}
	if victim.Subject == "" {
		t.Fatalf("outcome %q names neither subject", f.Request.Outcome)
	}
	// The tenant data keys, as the attacker with the master key gets them.
	var sealers []*keyring.Sealer
	for _, tk := range tenantKeys {
		if tk.Kind != garde.TenantKeyData {
			continue
		}
		mv, _ := mk.Version(tk.MasterVersion)
		k, err := keyring.Unwrap(mv, tk.Wrapped, keyring.AD{Tenant: string(a.ID), Field: fmt.Sprintf("tenant-key/%s/%d", tk.Kind, tk.Version)})
		if err != nil {
			t.Fatal(err)
		}
		sl, _ := keyring.NewSealer(k, tk.Version)
		sealers = append(sealers, sl)
	}
	// The AD garde binds a subject key to (keys.go subjectKeyAD).
	ad := keyring.AD{Tenant: string(a.ID), Subject: victim.Subject, Field: "subject-key"}
	if _, err := keyring.Unwrap(sealers[0], victim.Wrapped, ad); err != nil {
		t.Fatalf("the attack cannot open the key it knows: %v", err)
	}
	for name, b := range copies {
		for _, k := range subjectKeys {
			if bytes.Contains(b, k.Wrapped) {
				t.Errorf("%s holds a wrapped subject key", name)
			}
		}
		n := len(victim.Wrapped)
		for i := 0; i+n <= len(b); i++ {
			for _, sl := range sealers {
				if _, err := keyring.Unwrap(sl, b[i:i+n], ad); err == nil {
					t.Fatalf("%s: bytes at %d open as the erased subject's key", name, i)
				}
			}
		}
		for _, s := range []string{"erased@example.org", "texte secret", "+33 6 98"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds %q", name, s)
			}
		}
	}
	if bytes.Contains(keyStoreAfter, victim.Wrapped) {
		t.Error("the key store's files still hold the erased subject's wrapped key")
	}
	if !bytes.Contains(keyStoreAfter, kept.Wrapped) {
		t.Error("the key store's files lack the other subject's key: the search proves nothing")
	}
	db.Close()
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}
