package sqlite_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
)

// TestNoPlaintextAtRest ingests messages full of known personal data and
// searches the raw bytes of the database file and its WAL for each value:
// none may appear.
func TestNoPlaintextAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "garde.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc := garde.NewService(db, gardetest.MasterKeys(t), gardetest.NewClock(time.Now()))
	tn := gardetest.NewTenant(t, svc, "Plaintext SAS")
	secrets := []string{}
	var msgs []garde.NewMessage
	for i := range 50 {
		email := fmt.Sprintf("jeanne.martin%02d@example.fr", i)
		phone := fmt.Sprintf("+33 6 12 34 56 %02d", i)
		name := fmt.Sprintf("Jeanne Martin-Dupont%02d", i)
		subject := fmt.Sprintf("client-subject-%02d@crm.example", i)
		secrets = append(secrets, email, phone, name, subject)
		msgs = append(msgs, garde.NewMessage{
			Subject: subject, Purpose: "answer_support_request",
			Text:   fmt.Sprintf("Bonjour, je m'appelle %s, joignable au %s", name, phone),
			Fields: map[string]string{"user.contact.email": email, "user.name": name},
		})
	}
	if _, err := svc.Ingest(ctx, tn.Service, msgs); err != nil {
		t.Fatal(err)
	}
	got, err := svc.SubjectMessages(ctx, tn.Service, msgs[7].Subject, "answer_support_request")
	if err != nil || len(got) != 1 || got[0].Text != msgs[7].Text {
		t.Fatalf("read back = %+v, %v", got, err)
	}
	check := func(when string) {
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			b, err := os.ReadFile(f)
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range append(secrets, "Jeanne", "example.fr", "crm.example") {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: %s contains %q", when, filepath.Base(f), s)
				}
			}
		}
	}
	check("while open")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	check("after close")
}
