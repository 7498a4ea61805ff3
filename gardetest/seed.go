package gardetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
)

// SeedPersonalData ingests messages full of known personal data (emails,
// phone numbers, names, subject identifiers) into a new tenant of a fresh
// Service on st, reads one back, and returns the values, plus the fragments
// common to them, that must never appear in clear at rest. Each backend's
// "no plaintext at rest" test searches its raw storage for them.
func SeedPersonalData(t testing.TB, st garde.Store) []string {
	t.Helper()
	ctx := context.Background()
	svc := app.New(st, MasterKeys(t), NewClock(time.Now()))
	tn := NewTenant(t, svc, "Plaintext SAS")
	var secrets []string
	var msgs []vault.NewMessage
	for i := range 50 {
		email := fmt.Sprintf("jeanne.martin%02d@example.fr", i)
		phone := fmt.Sprintf("+33 6 12 34 56 %02d", i)
		name := fmt.Sprintf("Jeanne Martin-Dupont%02d", i)
		subject := fmt.Sprintf("client-subject-%02d@crm.example", i)
		secrets = append(secrets, email, phone, name, subject)
		msgs = append(msgs, vault.NewMessage{
			Subject: subject, Purpose: "answer_support_request",
			Text:   fmt.Sprintf("Bonjour, je m'appelle %s, joignable au %s", name, phone),
			Fields: map[string]string{"user.contact.email": email, "user.name": name},
		})
	}
	if _, err := svc.Vault.Ingest(ctx, tn.Service, msgs); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Vault.SubjectMessages(ctx, tn.Service, msgs[7].Subject, "answer_support_request")
	if err != nil || len(got) != 1 || got[0].Fields["user.contact.email"] != "jeanne.martin07@example.fr" {
		t.Fatalf("read back = %+v, %v", got, err)
	}
	// A rectification stores its text as an ingest does: the IBAN and the
	// NIR the purpose does not allow are replaced before sealing.
	text := leakyText
	if _, err := svc.Vault.RectifyMessage(ctx, tn.DPO, msgs[7].Subject, got[0].ID, &text, nil); err != nil {
		t.Fatalf("RectifyMessage = %v", err)
	}
	secrets = append(secrets, leakyValues...)
	return append(secrets, "Jeanne", "example.fr", "crm.example")
}
