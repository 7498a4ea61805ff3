package sqlite_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
)

// TestErasureLeavesNoKeyOnDisk checks the raw files after an erasure: the
// erased subject's wrapped key is in neither garde.db nor its WAL (secure
// delete, WAL scrubbed), the other subject's still is, and no plaintext
// was ever there.
func TestErasureLeavesNoKeyOnDisk(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "garde.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := garde.NewService(db, gardetest.MasterKeys(t), gardetest.NewClock(time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)))
	a := gardetest.NewTenant(t, svc, "A")
	for _, s := range []string{"erased@example.org", "kept@example.org"} {
		if _, err := svc.Ingest(ctx, a.Service, []garde.NewMessage{{Subject: s, Purpose: "answer_support_request", Text: "texte secret de " + s,
			Fields: map[string]string{"user.contact.phone_number": "+33 6 98 76 54 32"}}}); err != nil {
			t.Fatal(err)
		}
	}
	keys := map[string][]byte{}
	if err := db.View(ctx, func(tx garde.Tx) error {
		recs, err := tx.Subjects(ctx, a.ID, "", 10)
		for _, r := range recs {
			keys[r.ID] = r.WrappedKey
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	f, err := svc.FileRequest(ctx, a.DPO, garde.NewRequest{Subject: "erased@example.org", Type: garde.RequestErasure})
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for _, suffix := range []string{"", "-wal"} {
		b, _ := os.ReadFile(path + suffix)
		raw = append(raw, b...)
	}
	for id, k := range keys {
		erased := bytes.Contains([]byte(f.Request.Outcome), []byte(id))
		if bytes.Contains(raw, k) == erased {
			t.Errorf("subject %s (erased %v): wrapped key on disk %v", id, erased, !erased)
		}
	}
	for _, s := range []string{"erased@example.org", "texte secret", "+33 6 98"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("raw database holds %q", s)
		}
	}
	db.Close()
}
