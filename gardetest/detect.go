package gardetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
)

// testDetectionAtIngest checks that personal data found in free text is
// handled as the register says before it is stored: kept when the
// purpose lists its category, transformed by the purpose's anonymize rule,
// replaced by default otherwise — and that the span record is stored
// sealed beside the message.
func testDetectionAtIngest(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	text := "Bonjour, écrivez-moi à jeanne.martin@example.fr ou au 06 12 34 56 78. Mon IBAN : FR76 3000 6000 0112 3456 7890 189."
	out, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "s", Purpose: "answer_support_request", Text: text}})
	if err != nil {
		t.Fatal(err)
	}
	stored := out[0].Text
	// Email: the purpose pseudonymises it.
	if strings.Contains(stored, "jeanne.martin@example.fr") || !strings.Contains(stored, "<EMAIL_ADDRESS_") {
		t.Errorf("email not pseudonymised: %q", stored)
	}
	// Phone: listed by the purpose, no rule: kept.
	if !strings.Contains(stored, "06 12 34 56 78") {
		t.Errorf("phone number (allowed) not kept: %q", stored)
	}
	// IBAN: not listed: replaced by default.
	if strings.Contains(stored, "3000 6000") || !strings.Contains(stored, "<IBAN_CODE>") {
		t.Errorf("IBAN (not allowed) not replaced: %q", stored)
	}
	ops := map[string]string{}
	for _, d := range out[0].Detections {
		ops[d.Type] = d.Operator
		if d.RuneEnd <= d.RuneStart || d.Category == "" {
			t.Errorf("detection %+v", d)
		}
	}
	want := map[string]string{"EMAIL_ADDRESS": "pseudonymize", "PHONE_NUMBER": "keep", "IBAN_CODE": "replace"}
	for typ, op := range want {
		if ops[typ] != op {
			t.Errorf("detection %s: operator %q, want %q (all: %v)", typ, ops[typ], op, ops)
		}
	}
	got, err := s.Vault.SubjectMessages(ctx, a.Service, "s", "answer_support_request")
	if err != nil || len(got) != 1 || got[0].Text != stored {
		t.Fatalf("read back %+v, %v; want the anonymised text", got, err)
	}
	// The same email in another tenant gets another pseudonym.
	b := NewTenant(t, s, "B")
	outB, err := s.Vault.Ingest(ctx, b.Service, []vault.NewMessage{{Subject: "s", Purpose: "answer_support_request", Text: text}})
	if err != nil {
		t.Fatal(err)
	}
	token := func(s string) string {
		i := strings.Index(s, "<EMAIL_ADDRESS_")
		return s[i : i+strings.Index(s[i:], ">")+1]
	}
	if token(stored) == token(outB[0].Text) {
		t.Errorf("same pseudonym in two tenants: %s", token(stored))
	}
	// And the same one again within the tenant.
	again, _ := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "t", Purpose: "answer_support_request", Text: text}})
	if token(again[0].Text) != token(stored) {
		t.Errorf("pseudonym not stable within a tenant: %s vs %s", token(again[0].Text), token(stored))
	}
	// The span record is stored, sealed.
	st.View(ctx, func(tx garde.Tx) error {
		subs, _ := tx.Subjects(ctx, a.ID, "", 10)
		for _, sub := range subs {
			ms, err := tx.Messages(ctx, a.ID, sub.ID, "answer_support_request")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if len(m.SealedSpans) == 0 {
					t.Errorf("message %s has no span record", m.ID)
				}
				if bytes.Contains(m.SealedSpans, []byte("IBAN")) {
					t.Errorf("span record stored in clear")
				}
			}
		}
		return nil
	})
}

// testIngestGroupCommit sends many single messages at once, one of them
// refused: every caller gets its own answer, the refused one its own
// error naming its field (not a batch index), and every accepted message
// is stored.
func testIngestGroupCommit(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	const n = 60
	type result struct {
		id  string
		err error
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			m := vault.NewMessage{Subject: fmt.Sprintf("gc-%d", i%7), Purpose: "answer_support_request", Text: fmt.Sprintf("message %d", i)}
			if i == 17 {
				m.Purpose = "marketing"
			}
			v, err := s.Vault.IngestOne(ctx, a.Service, m)
			results <- result{v.ID, err}
		}()
	}
	ids := map[string]bool{}
	refused := 0
	for range n {
		r := <-results
		switch {
		case r.err == nil:
			ids[r.id] = true
		case errorField(r.err) == "purpose":
			refused++
		default:
			t.Errorf("IngestOne = %v (field %q)", r.err, errorField(r.err))
		}
	}
	if refused != 1 || len(ids) != n-1 {
		t.Fatalf("%d refused, %d stored; want 1 and %d", refused, len(ids), n-1)
	}
	stored := 0
	for sub := range 7 {
		got, err := s.Vault.SubjectMessages(ctx, a.Service, fmt.Sprintf("gc-%d", sub), "answer_support_request")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range got {
			if !ids[m.ID] {
				t.Errorf("stored message %s was not acknowledged", m.ID)
			}
			stored++
		}
	}
	if stored != n-1 {
		t.Fatalf("%d messages stored, want %d", stored, n-1)
	}
}
