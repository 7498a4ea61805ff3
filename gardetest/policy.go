package gardetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/breach"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

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
		{"ErasureClearsTheSubjectsRequests", testErasureClearsRequests},
		{"OperatorBreachSplitPerTenant", testOperatorBreachSplit},
		{"AnonymiseOnWithdrawalUnlinks", testAnonymiseUnlinks},
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
	ref, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "ines", Purpose: "answer_support_request", Text: leakyText}})
	if err != nil {
		t.Fatal(err)
	}
	want := ref[0].Text
	if want == leakyText {
		t.Fatalf("the ingest kept the text unchanged: the fixture no longer tests anything")
	}
	ms, err := s.Vault.SubjectMessages(ctx, a.Service, "ines", "answer_support_request")
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
	v, err := s.Vault.RectifyMessage(ctx, a.DPO, "ines", target, &text, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v.Text != want {
		t.Errorf("RectifyMessage stored %q, want what an ingest stores: %q", v.Text, want)
	}
	if len(v.Detections) != len(ref[0].Detections) {
		t.Errorf("RectifyMessage detections = %+v, want %+v", v.Detections, ref[0].Detections)
	}
	ms, err = s.Vault.SubjectMessages(ctx, a.Service, "ines", "answer_support_request")
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
	v, err = s.Vault.RectifyMessage(ctx, a.DPO, "ines", target, nil, map[string]string{"user.contact.email": "ines@example.org"})
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
	if _, err := s.Vault.RectifyMessage(ctx, a.DPO, "ines", target, nil, map[string]string{"user.financial.bank_account": "x"}); !errors.Is(err, garde.ErrForbidden) {
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

// testErasureClearsRequests gives a subject open and closed requests, then
// erases it: none of its requests keeps the sealed identifier, the open
// ones are closed and their link no longer works, and another tenant's
// request about the same identifier is untouched.
func testErasureClearsRequests(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a, b := NewTenant(t, s, "A"), NewTenant(t, s, "B")
	ingest(t, s, a.Service, "kim", "bonjour")
	access := file(t, s, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestAccess}).Request
	rect := file(t, s, a.Service, rights.NewRequest{Subject: "kim", Type: garde.RequestRectification})
	port := file(t, s, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestPortability}).Request
	if _, err := s.Rights.ChangeRequest(ctx, a.DPO, port.ID, rights.RequestChange{Action: rights.ActComplete}); err != nil {
		t.Fatal(err)
	}
	other := file(t, s, b.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestAccess}).Request
	er := file(t, s, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestErasure}).Request
	if er.Status != garde.StatusCompleted {
		t.Fatalf("erasure: %s", er.Status)
	}
	rs, err := s.Rights.Requests(ctx, a.DPO, garde.RequestFilter{}, "kim")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 4 {
		t.Fatalf("the subject has %d requests, want 4", len(rs))
	}
	for _, r := range rs {
		if r.SealedSubject != nil {
			t.Errorf("request %s (%s, %s) keeps the sealed identifier after the erasure", r.ID, r.Type, r.Status)
		}
		if r.Open() {
			t.Errorf("request %s (%s) is still %s after the erasure", r.ID, r.Type, r.Status)
		}
		if r.TokenHash != nil {
			t.Errorf("request %s keeps a verification token", r.ID)
		}
		if (r.ID == access.ID || r.ID == rect.Request.ID) && !strings.Contains(r.Outcome, er.ID) {
			t.Errorf("request %s closed with outcome %q, want it to name the erasure", r.ID, r.Outcome)
		}
	}
	if _, err := s.Rights.VerifyRequest(ctx, rect.Token); !errors.Is(err, garde.ErrNotFound) {
		t.Errorf("the link of a request closed by the erasure = %v, want it dead", err)
	}
	if err := s.Rights.ExportRequest(ctx, a.DPO, access.ID, func(rights.SubjectExport) error { return nil }, func(garde.MessageView) error { return nil }); err == nil {
		t.Errorf("an export of the erased subject's access request succeeded")
	}
	ob, err := s.Rights.Request(ctx, b.DPO, other.ID)
	if err != nil || ob.SealedSubject == nil || !ob.Open() {
		t.Errorf("tenant B's request about the same identifier: %+v, %v; want it untouched", ob, err)
	}
	evs, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionRequestChange})
	closed := 0
	for _, e := range evs {
		if e.Reason == "subject_erased" {
			closed++
		}
	}
	if closed != 2 {
		t.Errorf("%d closures audited, want 2", closed)
	}
}

// noticeLine returns the value of one field of a notice draft.
func noticeLine(md, label string) string {
	for _, l := range strings.Split(md, "\n") {
		if i := strings.Index(l, label); i >= 0 {
			return strings.Trim(l[i+len(label):], " :*")
		}
	}
	return ""
}

// testOperatorBreachSplit: an operator breach reaches two tenants through
// two credentials. The operator sees both lines and their total; each
// tenant sees, and drafts its authority notice with, its own figures only;
// computing one credential's impact never drops the other's.
func testOperatorBreachSplit(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a, b := NewTenant(t, s, "A"), NewTenant(t, s, "B")
	since := clk.Now()
	clk.Advance(time.Minute)
	seed := func(tn Tenant, n int) {
		for i := range n {
			ingest(t, s, tn.Service, fmt.Sprintf("%s-%d", tn.ID, i), "bonjour")
		}
		if _, err := s.Vault.SubjectMessages(ctx, tn.Service, string(tn.ID)+"-0", "answer_support_request"); err != nil {
			t.Fatal(err)
		}
	}
	seed(a, 2) // A: 2 subjects, 2 written, 1 read
	seed(b, 7) // B: 7 subjects, 7 written, 1 read
	clk.Advance(time.Minute)
	aware := clk.Now()
	desc := "A credential store of the platform was copied."
	br, err := s.Breach.CreateBreach(ctx, Operator, breach.NewBreach{BreachChange: breach.BreachChange{AwareAt: &aware, Nature: []string{breach.NatureConfidentiality}, Description: &desc}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range []Tenant{a, b} {
		if br, err = s.Breach.ComputeImpact(ctx, Operator, br.ID, breach.ImpactQuery{Actor: tn.Service.KeyID, Since: since, Until: clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	// The operator: both lines (the second computation kept the first)
	// and the total.
	if imp := br.Impact; len(imp.Tenants) != 2 || imp.Subjects != 9 || imp.RecordsRead != 2 || imp.RecordsWritten != 9 {
		t.Fatalf("operator's impact = %+v, want A's and B's lines, 9 subjects, 2 read, 9 written", imp)
	}
	want := map[garde.TenantID][2]int{a.ID: {2, 3}, b.ID: {7, 8}} // subjects, records
	for _, tn := range []Tenant{a, b} {
		v, err := s.Breach.Breach(ctx, tn.DPO, br.ID)
		if err != nil {
			t.Fatal(err)
		}
		w := want[tn.ID]
		if len(v.Tenants) != 1 || v.Tenants[0] != tn.ID {
			t.Errorf("%s sees affected tenants %v", tn.ID, v.Tenants)
		}
		if v.Impact == nil || len(v.Impact.Tenants) != 1 || v.Impact.Tenants[0].Tenant != tn.ID || v.Impact.Subjects != w[0] || v.Impact.RecordsRead+v.Impact.RecordsWritten != w[1] {
			t.Errorf("%s sees impact %+v, want only its own line (%d subjects, %d records)", tn.ID, v.Impact, w[0], w[1])
		}
		if v.SubjectsApprox != w[0] || v.RecordsApprox != w[1] {
			t.Errorf("%s sees %d people and %d records, want its own %d and %d", tn.ID, v.SubjectsApprox, v.RecordsApprox, w[0], w[1])
		}
		other := b.Service.KeyID
		if tn.ID == b.ID {
			other = a.Service.KeyID
		}
		if v.Impact != nil && (v.Impact.Actor != tn.Service.KeyID || strings.Contains(v.Impact.Actor, other)) {
			t.Errorf("%s's impact names actor %q, want its own key only", tn.ID, v.Impact.Actor)
		}
		if v.Impact != nil && strings.Contains(v.Impact.Evidence, "2 records") {
			t.Errorf("%s's evidence quotes the platform's total: %q", tn.ID, v.Impact.Evidence)
		}
		for _, drafted := range []garde.Principal{tn.DPO, Operator} {
			target := garde.TenantID("")
			if drafted.Tenant == garde.OperatorTenant {
				target = tn.ID
			}
			n, err := s.Breach.BreachNotice(ctx, drafted, br.ID, breach.NoticeAuthority, "en", target)
			if err != nil {
				t.Fatal(err)
			}
			if got := noticeLine(n.Markdown, "Approximate number of people"); got != fmt.Sprint(w[0]) {
				t.Errorf("%s's authority notice (drafted by %s) gives %q people, want %d", tn.ID, drafted.Role, got, w[0])
			}
			if got := noticeLine(n.Markdown, "Approximate number of records"); got != fmt.Sprint(w[1]) {
				t.Errorf("%s's authority notice (drafted by %s) gives %q records, want %d", tn.ID, drafted.Role, got, w[1])
			}
		}
		// Nor do the events it gets back carry the platform's figures.
		for _, ev := range v.Events {
			if ev.Tenant == garde.OperatorTenant && (bytes.Contains(ev.Body, []byte(`"subjects":9`)) || bytes.Contains(ev.Body, []byte(`"records_written":9`)) || bytes.Contains(ev.Body, []byte(other))) {
				t.Errorf("%s gets an operator event with the platform's figures: %s", tn.ID, ev.Body)
			}
		}
		// The tenant's own breach list shows the same.
		list, err := s.Breach.Breaches(ctx, tn.DPO)
		if err != nil || len(list) != 1 || list[0].SubjectsApprox != w[0] {
			t.Errorf("%s's breach list = %v, %v", tn.ID, list, err)
		}
	}
}

// testAnonymiseUnlinks withdraws a consent whose purpose anonymises on
// withdrawal, then erases the subject: the anonymised row carries no
// subject id, blind index, identifier or message id of the subject, is
// sealed under a key that is not the subject's (it survives the erasure),
// keeps its retention, and is in no export of the subject.
func testAnonymiseUnlinks(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("sam", "train_assistant")); err != nil {
		t.Fatal(err)
	}
	in := msg("sam", "train_assistant", "Bonjour, écrivez-moi à sam.roux@example.fr.")
	in[0].Fields = map[string]string{"user.contact.email": "sam.roux@example.fr"}
	out, err := s.Vault.Ingest(ctx, a.Service, in)
	if err != nil {
		t.Fatal(err)
	}
	orig := out[0]
	var subject garde.SubjectRecord
	st.View(ctx, func(tx garde.Tx) error {
		subs, err := tx.Subjects(ctx, a.ID, "", 10)
		if err != nil || len(subs) != 1 {
			t.Fatalf("subjects before withdrawal = %d, %v", len(subs), err)
		}
		subject = subs[0]
		return nil
	})
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Withdraw("sam", "train_assistant")); err != nil {
		t.Fatal(err)
	}
	// holder returns the rows of train_assistant and whom they hang on.
	holder := func(when string) (garde.SubjectRecord, garde.Message) {
		var h garde.SubjectRecord
		var rows []garde.Message
		st.View(ctx, func(tx garde.Tx) error {
			subs, _ := tx.Subjects(ctx, a.ID, "", 10)
			for _, sub := range subs {
				ms, _ := tx.Messages(ctx, a.ID, sub.ID, "train_assistant")
				if len(ms) > 0 {
					h = sub
				}
				rows = append(rows, ms...)
			}
			return nil
		})
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows for the purpose, want the one anonymised row", when, len(rows))
		}
		return h, rows[0]
	}
	h, row := holder("after withdrawal")
	switch {
	case h.ID == subject.ID:
		t.Errorf("the anonymised row still hangs on the subject %s", subject.ID)
	case bytes.Equal(h.Index, subject.Index):
		t.Errorf("the anonymised row's holder has the subject's blind index")
	case h.SealedRef != nil:
		t.Errorf("the anonymised row's holder seals an identifier")
	case row.ID == orig.ID:
		t.Errorf("the anonymised row keeps the message id handed out with the subject's identifier")
	case row.SealedFields != nil || row.SealedSpans != nil:
		t.Errorf("the anonymised row keeps fields or spans")
	case !row.ExpiresAt.Equal(orig.ExpiresAt):
		t.Errorf("the anonymised row expires at %s, want the original retention %s", row.ExpiresAt, orig.ExpiresAt)
	}
	for _, v := range []string{"sam.roux@example.fr", "sam"} {
		if bytes.Contains(row.SealedText, []byte(v)) || bytes.Contains(h.Index, []byte(v)) {
			t.Errorf("the anonymised row holds %q", v)
		}
	}
	// An export of the subject does not contain it.
	acc := file(t, s, a.DPO, rights.NewRequest{Subject: "sam", Type: garde.RequestAccess}).Request
	n := 0
	if err := s.Rights.ExportRequest(ctx, a.DPO, acc.ID, func(rights.SubjectExport) error { return nil }, func(m garde.MessageView) error {
		if m.Purpose == "train_assistant" {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the subject's export holds %d anonymised messages", n)
	}
	// Erasing the subject destroys its key; the anonymised row, sealed
	// under its holder's key, is untouched.
	if r := file(t, s, a.DPO, rights.NewRequest{Subject: "sam", Type: garde.RequestErasure}).Request; r.Status != garde.StatusCompleted {
		t.Fatalf("erasure: %s", r.Status)
	}
	h2, row2 := holder("after the erasure")
	hk, _ := keys(st).SubjectKeys(ctx, a.ID, []string{h2.ID})
	if h2.ID != h.ID || len(hk) != 1 || row2.ID != row.ID || !bytes.Equal(row2.SealedText, row.SealedText) {
		t.Errorf("the erasure of the subject reached the anonymised row: holder %s key %v, row %s", h2.ID, len(hk) == 1, row2.ID)
	}
}
