package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

func TestNewSalt(t *testing.T) {
	a, err := ledger.NewSalt()
	if err != nil {
		t.Fatal(err)
	}
	b, err := ledger.NewSalt()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != ledger.SaltSize || len(b) != ledger.SaltSize {
		t.Fatalf("NewSalt lengths %d, %d, want %d", len(a), len(b), ledger.SaltSize)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two NewSalt calls returned the same salt")
	}
}

func TestCommit(t *testing.T) {
	salt := testSalt(1)
	content := []byte(`{"action":"grant"}`)
	base, err := ledger.Commit(salt, content)
	if err != nil {
		t.Fatal(err)
	}
	if len(base) != ledger.RecordSize {
		t.Fatalf("len(Commit) = %d, want %d", len(base), ledger.RecordSize)
	}
	plain := sha256.Sum256(append(append([]byte(nil), salt...), content...))
	if bytes.Equal(base, plain[:]) {
		t.Error("Commit = SHA-256(salt || content): no domain separation")
	}
	again, _ := ledger.Commit(salt, content)
	if !bytes.Equal(base, again) {
		t.Error("Commit is not deterministic")
	}

	tests := []struct {
		name          string
		salt, content []byte
	}{
		{"other salt", testSalt(2), content},
		{"other content", salt, []byte(`{"action":"withdraw"}`)},
		{"one byte moved from content to salt", append(append([]byte(nil), salt...), content[0]), content[1:]},
		{"one byte moved from salt to content", salt[:len(salt)-1], append([]byte{salt[len(salt)-1]}, content...)},
		{"empty content", salt, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ledger.Commit(tt.salt, tt.content)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, base) {
				t.Errorf("Commit(%s) = Commit(original)", tt.name)
			}
		})
	}

	for _, n := range []int{0, 1, ledger.MinSaltSize - 1} {
		if _, err := ledger.Commit(make([]byte, n), content); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("Commit(salt of %d bytes) error = %v, want ErrMalformed", n, err)
		}
	}
	if _, err := ledger.Commit(make([]byte, ledger.MinSaltSize), content); err != nil {
		t.Errorf("Commit(salt of %d bytes) = %v", ledger.MinSaltSize, err)
	}
}

// TestRFC6962Vectors pins the hashing to the RFC's: the empty tree and the empty leaf.
func TestRFC6962Vectors(t *testing.T) {
	empty, err := ledger.TreeHash(0, new(ledger.MemoryStore))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString(empty[:]), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("TreeHash(0) = %s, want %s", got, want)
	}
	leaf := ledger.LeafHash(nil)
	if got, want := hex.EncodeToString(leaf[:]), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"; got != want {
		t.Errorf("LeafHash(empty) = %s, want %s", got, want)
	}
}

// TestMemoryStoreRoots checks every prefix root against the naive RFC 6962 definition.
func TestMemoryStoreRoots(t *testing.T) {
	l := newTestLog(t, 70)
	for size := int64(0); size <= 70; size++ {
		got, err := ledger.TreeHash(size, l.store)
		if err != nil {
			t.Fatal(err)
		}
		if want := rfc6962Root(l.records[:size]); got != want {
			t.Errorf("TreeHash(%d) = %v, want %v", size, got, want)
		}
	}
	if got := l.store.Size(); got != 70 {
		t.Errorf("Size() = %d, want 70", got)
	}
	if got, want := len(mustRead(t, l.store, 0, tlog.StoredHashCount(70))), int(tlog.StoredHashCount(70)); got != want {
		t.Errorf("stored hashes = %d, want %d", got, want)
	}
	if _, err := l.store.ReadHashes([]int64{tlog.StoredHashCount(70)}); err == nil {
		t.Error("ReadHashes past the end succeeded")
	}
}

func TestAppendHashesErrors(t *testing.T) {
	s := new(ledger.MemoryStore)
	if _, err := s.Append(make([]byte, 31)); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("Append(31 bytes) error = %v, want ErrMalformed", err)
	}
	if _, err := ledger.AppendHashes(-1, make([]byte, 32), s); !errors.Is(err, ledger.ErrMalformed) {
		t.Errorf("AppendHashes(-1) error = %v, want ErrMalformed", err)
	}
	if _, err := ledger.AppendHashes(3, make([]byte, 32), s); err == nil {
		t.Error("AppendHashes(3) on an empty store succeeded")
	}
}

func mustRead(t *testing.T, r tlog.HashReader, lo, hi int64) []tlog.Hash {
	t.Helper()
	var idx []int64
	for i := lo; i < hi; i++ {
		idx = append(idx, i)
	}
	h, err := r.ReadHashes(idx)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestMemoryStoreConcurrent appends and proves at once; run with -race.
func TestMemoryStoreConcurrent(t *testing.T) {
	s := new(ledger.MemoryStore)
	record, _ := ledger.Commit(testSalt(0), []byte("event"))
	done := make(chan error)
	for range 4 {
		go func() {
			for range 200 {
				if _, err := s.Append(record); err != nil {
					done <- err
					return
				}
				if size := s.Size(); size > 0 {
					if _, err := ledger.ProveInclusion(size-1, size, s); err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Size(); got != 800 {
		t.Errorf("Size() = %d after 800 appends", got)
	}
}
