package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustSealer(t testing.TB, version uint32) (*Sealer, Key) {
	t.Helper()
	k, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(k, version)
	if err != nil {
		t.Fatal(err)
	}
	return s, k
}

func TestSealOpen(t *testing.T) {
	s, _ := mustSealer(t, 3)
	other, _ := mustSealer(t, 3)
	ad := AD{Tenant: "tn_a", Subject: "sub_1", Record: "msg_1", Field: "text"}
	ct, err := s.Seal([]byte("Jeanne Martin, 06 12 34 56 78"), ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("Jeanne")) {
		t.Fatal("ciphertext contains the plaintext")
	}
	if v, err := KeyVersion(ct); err != nil || v != 3 {
		t.Fatalf("KeyVersion = %d, %v; want 3", v, err)
	}
	pt, err := s.Open(ct, ad)
	if err != nil || string(pt) != "Jeanne Martin, 06 12 34 56 78" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	tests := []struct {
		name string
		s    *Sealer
		ad   AD
	}{
		{"another subject's key", other, ad},
		{"another tenant", s, AD{Tenant: "tn_b", Subject: "sub_1", Record: "msg_1", Field: "text"}},
		{"another subject", s, AD{Tenant: "tn_a", Subject: "sub_2", Record: "msg_1", Field: "text"}},
		{"another record", s, AD{Tenant: "tn_a", Subject: "sub_1", Record: "msg_2", Field: "text"}},
		{"another field", s, AD{Tenant: "tn_a", Subject: "sub_1", Record: "msg_1", Field: "fields"}},
		// Length prefixes keep ("ab","c") and ("a","bc") apart.
		{"shifted boundary", s, AD{Tenant: "tn_a", Subject: "sub_1", Record: "msg_1t", Field: "ext"}},
	}
	for _, tt := range tests {
		if _, err := tt.s.Open(ct, tt.ad); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open = %v, want ErrOpen", tt.name, err)
		}
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := s.Open(bad, ad); err == nil {
			t.Fatalf("Open succeeded with byte %d flipped", i)
		}
	}
	if _, err := s.Open(ct[:10], ad); !errors.Is(err, ErrFormat) {
		t.Fatalf("Open(truncated) = %v, want ErrFormat", err)
	}
}

func TestSealIsRandomised(t *testing.T) {
	s, _ := mustSealer(t, 1)
	a, _ := s.Seal([]byte("same"), AD{})
	b, _ := s.Seal([]byte("same"), AD{})
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
}

func TestWrapUnwrap(t *testing.T) {
	kek, _ := mustSealer(t, 1)
	dek, _ := Generate()
	ad := AD{Tenant: "tn_a", Subject: "sub_1", Field: "subject-key"}
	w, err := Wrap(kek, dek, ad)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unwrap(kek, w, ad)
	if err != nil || got != dek {
		t.Fatalf("Unwrap = %v, %v", got, err)
	}
	if _, err := Unwrap(kek, w, AD{Tenant: "tn_a", Subject: "sub_2", Field: "subject-key"}); !errors.Is(err, ErrOpen) {
		t.Fatalf("Unwrap for another subject = %v, want ErrOpen", err)
	}
}

func TestKeyRedacted(t *testing.T) {
	k, _ := Generate()
	for _, s := range []string{k.String(), k.GoString()} {
		if !strings.Contains(s, "redacted") {
			t.Fatalf("Key formats as %q", s)
		}
	}
}

func TestDeriveSeparatesLabels(t *testing.T) {
	k, _ := Generate()
	a1, a2, b := Derive(k, "a"), Derive(k, "a"), Derive(k, "b")
	if a1 == b || a1 != a2 {
		t.Fatal("Derive is not a function of its label")
	}
}

func TestMasterFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk, created, err := LoadOrCreateFile(path, now)
	if err != nil || !created {
		t.Fatalf("LoadOrCreateFile = %v, %v", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	ct, _ := mk.Current().Seal([]byte("tenant key"), AD{})

	again, created, err := LoadOrCreateFile(path, now)
	if err != nil || created {
		t.Fatalf("reopen = %v, %v", created, err)
	}
	if pt, err := again.Current().Open(ct, AD{}); err != nil || string(pt) != "tenant key" {
		t.Fatalf("reopened key does not open: %v", err)
	}

	v, err := mk.Rotate(now)
	if err != nil || v != 2 || mk.Current().Version() != 2 {
		t.Fatalf("Rotate = %d, %v", v, err)
	}
	old, err := mk.Version(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Open(ct, AD{}); err != nil {
		t.Fatalf("version 1 unreadable after rotation: %v", err)
	}
	// Another process (the server) sees the rotation without a restart.
	if again.Current().Version() != 2 {
		t.Fatalf("other instance still on version %d", again.Current().Version())
	}
	if err := mk.Retire(2); err == nil {
		t.Fatal("retired the current version")
	}
	if err := mk.Retire(1); err != nil {
		t.Fatal(err)
	}
	if _, err := mk.Version(1); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("Version(retired) = %v", err)
	}
	b, _ := os.ReadFile(path)
	if strings.Count(string(b), `"key": ""`) != 1 {
		t.Fatalf("retired key bytes still in the file:\n%s", b)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateFile(path, now); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file accepted: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	s, _ := mustSealer(f, 1)
	ct, _ := s.Seal([]byte("hello"), AD{Tenant: "t"})
	f.Add(ct, "t")
	f.Add([]byte{1, 0, 0, 0, 1}, "")
	f.Fuzz(func(t *testing.T, b []byte, tenant string) {
		pt, err := s.Open(b, AD{Tenant: tenant})
		if err == nil && !(bytes.Equal(b, ct) && tenant == "t" && string(pt) == "hello") {
			t.Fatalf("Open accepted a forged ciphertext")
		}
	})
}

func FuzzSealOpen(f *testing.F) {
	s, _ := mustSealer(f, 7)
	f.Add([]byte("x"), "a", "b", "c", "d")
	f.Fuzz(func(t *testing.T, pt []byte, a, b, c, d string) {
		ad := AD{a, b, c, d}
		ct, err := s.Seal(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Open(ct, ad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("Open(Seal(x)) = %q, %v", got, err)
		}
	})
}

func BenchmarkSeal(b *testing.B) {
	s, _ := mustSealer(b, 1)
	msg := []byte(strings.Repeat("Bonjour, mon numéro est le 06 12 34 56 78. ", 6))
	ad := AD{Tenant: "tn_01jabcdefghjkmnpqrstvwxyz0", Subject: "sub_01jabcdefghjkmnpqrstvwxyz0", Record: "msg_01jabcdefghjkmnpqrstvwxyz0", Field: "text"}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(msg, ad); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s, _ := mustSealer(b, 1)
	msg := []byte(strings.Repeat("Bonjour, mon numéro est le 06 12 34 56 78. ", 6))
	ad := AD{Tenant: "tn_01jabcdefghjkmnpqrstvwxyz0", Subject: "sub_01jabcdefghjkmnpqrstvwxyz0", Record: "msg_01jabcdefghjkmnpqrstvwxyz0", Field: "text"}
	ct, _ := s.Seal(msg, ad)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(ct, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnwrapAndSeal is the per-message cost at ingest: unwrap the
// subject key, build its AEAD, seal.
func BenchmarkUnwrapAndSeal(b *testing.B) {
	kek, _ := mustSealer(b, 1)
	dek, _ := Generate()
	ad := AD{Tenant: "tn", Subject: "sub", Field: "subject-key"}
	w, _ := Wrap(kek, dek, ad)
	msg := []byte(strings.Repeat("Bonjour, mon numéro est le 06 12 34 56 78. ", 6))
	b.ReportAllocs()
	for b.Loop() {
		k, err := Unwrap(kek, w, ad)
		if err != nil {
			b.Fatal(err)
		}
		s, _ := NewSealer(k, 1)
		if _, err := s.Seal(msg, AD{Tenant: "tn", Subject: "sub", Record: "msg", Field: "text"}); err != nil {
			b.Fatal(err)
		}
	}
}
