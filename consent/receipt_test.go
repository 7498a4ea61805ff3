package consent_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
)

// fixtureReceipt makes a real receipt (as POST /v1/consents returns it)
// and its tenant's verifier key.
func fixtureReceipt(tb testing.TB) ([]byte, string) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	svc := app.New(db, gardetest.MasterKeys(tb), gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	tn := gardetest.ConsentTenant(tb, svc, "Fuzz SAS")
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		if _, err := svc.Consent.RecordConsent(ctx, tn.Service, gardetest.Grant(s, "newsletter")); err != nil {
			tb.Fatal(err)
		}
	}
	in := gardetest.Grant("jeanne@example.fr", "improve_replies")
	in.Evidence = []byte(`{"form":"x"}`)
	res, err := svc.Consent.RecordConsent(ctx, tn.Service, in)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := svc.Trail.LedgerVerifierKey(ctx, tn.DPO)
	if err != nil {
		tb.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"id": res.ID, "receipt": res.Receipt})
	return body, key
}

func TestFixtureReceiptVerifies(t *testing.T) {
	body, key := fixtureReceipt(t)
	r, err := consent.ParseReceipt(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := consent.VerifyReceipt(r, key); err != nil {
		t.Fatal(err)
	}
}

// FuzzReceipt changes one byte of a valid receipt: parsing and verifying
// never panic, and a changed receipt that still verifies says exactly what
// the original said (the byte was JSON-insignificant).
func FuzzReceipt(f *testing.F) {
	body, key := fixtureReceipt(f)
	orig, err := consent.ParseReceipt(body)
	if err != nil {
		f.Fatal(err)
	}
	for _, pos := range []uint{0, 100, 500, 900, 1300, 1700, 2100, 2400} {
		f.Add(pos, byte(1))
	}
	f.Fuzz(func(t *testing.T, pos uint, x byte) {
		if x == 0 {
			return
		}
		b := append([]byte(nil), body...)
		b[pos%uint(len(b))] ^= x
		r, err := consent.ParseReceipt(b)
		if err != nil {
			return
		}
		if consent.VerifyReceipt(r, key) != nil {
			return
		}
		if !reflect.DeepEqual(normal(r), normal(orig)) {
			t.Fatalf("a changed receipt verifies: byte %d ^= %#x", pos%uint(len(b)), x)
		}
	})
}

// normal drops what JSON decoding may legitimately vary (time zone form).
func normal(r garde.Receipt) garde.Receipt {
	r.ConsentTimestamp = r.ConsentTimestamp.UTC()
	return r
}
