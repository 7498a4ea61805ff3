package gardetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/garde-privacy/garde"
)

// testOnePolicy checks that every path that stores, shows or links
// personal data applies the one policy an ingest applies (issue #13,
// point 5).
func testOnePolicy(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"RectifyAnonymisesLikeIngest", testRectifyAnonymises},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// leakyText holds what answer_support_request does not allow in clear: an
// IBAN and a NIR (not listed: replaced) and an email (pseudonymised by
// the purpose's rule).
const leakyText = "Corrigez : mon IBAN est FR76 3000 6000 0112 3456 7890 189, mon numéro de sécurité sociale 2 84 12 75 108 432 76, écrivez à lea.petit@example.fr."

var leakyValues = []string{"FR76 3000 6000 0112 3456 7890 189", "3000 6000 0112", "2 84 12 75 108 432 76", "lea.petit@example.fr"}

// testRectifyAnonymises rectifies a message with text an ingest would
// anonymise: the stored text is exactly what an ingest of the same text
// stores, the span record is stored beside it, no value is readable, and a
// refused rectification is audited as refused.
func testRectifyAnonymises(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	ingest(t, s, a.Service, "ines", "bonjour")
	ref, err := s.Ingest(ctx, a.Service, []garde.NewMessage{{Subject: "ines", Purpose: "answer_support_request", Text: leakyText}})
	if err != nil {
		t.Fatal(err)
	}
	want := ref[0].Text
	if want == leakyText {
		t.Fatalf("the ingest kept the text unchanged: the fixture no longer tests anything")
	}
	ms, err := s.SubjectMessages(ctx, a.Service, "ines", "answer_support_request")
	if err != nil {
		t.Fatal(err)
	}
	var target string
	for _, m := range ms {
		if m.Text == "bonjour" {
			target = m.ID
		}
	}
	text := leakyText
	v, err := s.RectifyMessage(ctx, a.DPO, "ines", target, &text, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Text != want {
		t.Errorf("RectifyMessage stored %q, want what an ingest stores: %q", v.Text, want)
	}
	if len(v.Detections) != len(ref[0].Detections) {
		t.Errorf("RectifyMessage detections = %+v, want %+v", v.Detections, ref[0].Detections)
	}
	ms, err = s.SubjectMessages(ctx, a.Service, "ines", "answer_support_request")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		for _, secret := range leakyValues {
			if strings.Contains(m.Text, secret) {
				t.Errorf("message %s reads back %q in clear", m.ID, secret)
			}
		}
		if m.ID == target && m.Text != want {
			t.Errorf("rectified message reads back %q, want %q", m.Text, want)
		}
	}
	// The span record of the new text is stored, sealed, as an ingest
	// stores it; no value is in the stored bytes.
	st.View(ctx, func(tx garde.Tx) error {
		m, err := tx.MessageByID(ctx, a.ID, target)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.SealedSpans) == 0 {
			t.Errorf("rectified message has no span record")
		}
		for _, b := range [][]byte{m.SealedText, m.SealedSpans, m.SealedFields} {
			for _, secret := range leakyValues {
				if strings.Contains(string(b), secret) {
					t.Errorf("stored message holds %q", secret)
				}
			}
		}
		return nil
	})
	// Changing only the fields keeps the text and its span record.
	v, err = s.RectifyMessage(ctx, a.DPO, "ines", target, nil, map[string]string{"user.contact.email": "ines@example.org"})
	if err != nil || v.Text != want {
		t.Fatalf("fields-only rectification = %q, %v; want the text kept", v.Text, err)
	}
	st.View(ctx, func(tx garde.Tx) error {
		m, _ := tx.MessageByID(ctx, a.ID, target)
		if len(m.SealedSpans) == 0 {
			t.Errorf("fields-only rectification dropped the span record")
		}
		return nil
	})
	// A rectification the register forbids is refused and audited as an
	// ingest's refusal is.
	if _, err := s.RectifyMessage(ctx, a.DPO, "ines", target, nil, map[string]string{"user.financial.bank_account": "x"}); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("rectification with a category the purpose lacks = %v, want ErrForbidden", err)
	}
	evs, err := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionMessageRectify})
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, e := range evs {
		if e.Outcome == garde.OutcomeDenied && e.Reason == "category_not_allowed" {
			denied++
		}
	}
	if denied != 1 {
		t.Errorf("refused rectification audited %d times, want 1: %+v", denied, evs)
	}
}

