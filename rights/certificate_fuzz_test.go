package rights_test

import (
	"bytes"
	"context"
	"errors"
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

// FuzzVerifyCertificate feeds mutated erasure certificates to the offline
// verifier: it must never panic, must fail with ErrCertificate, and may
// accept only a certificate that says exactly what the signed one says
// (a mutation outside the signed text, such as a second signature line of
// an unknown key, is harmless).
func FuzzVerifyCertificate(f *testing.F) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	s := app.New(db, gardetest.MasterKeys(f), gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	a := gardetest.NewTenant(f, s, "A")
	if _, err = s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "kim", Purpose: "answer_support_request", Text: "bonjour"}}); err != nil {
		f.Fatal(err)
	}
	r, err := s.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestErasure})
	if err != nil {
		f.Fatal(err)
	}
	key, err := s.Trail.LedgerVerifierKey(ctx, a.DPO)
	if err != nil {
		f.Fatal(err)
	}
	cert := r.Request.Certificate
	want, err := rights.VerifyCertificate(cert, key)
	if err != nil {
		f.Fatalf("the genuine certificate does not verify: %v", err)
	}
	f.Add(cert)
	f.Add(bytes.Replace(cert, []byte(`"kind"`), []byte(`"kind" `), 1))
	f.Add([]byte("garde erasure certificate v1\n{}\n\n— x AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := rights.VerifyCertificate(data, key)
		if err != nil {
			if !errors.Is(err, rights.ErrCertificate) {
				t.Fatalf("VerifyCertificate error %v is not ErrCertificate", err)
			}
			return
		}
		if c.Tenant != want.Tenant || c.Kind != want.Kind || c.Ledger != want.Ledger || !c.KeyDestroyedAt.Equal(want.KeyDestroyedAt) {
			t.Fatalf("a mutated certificate verifies and says %+v, the signed one %+v", c, want)
		}
	})
}
