package gardetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// ConsentRegister extends ExampleRegister with a consent purpose for each
// on_withdrawal action: improve_replies (erase), train_assistant
// (anonymize) and newsletter (stop).
const ConsentRegister = ExampleRegister + `  - id: train_assistant
    legal_basis: consent
    categories: [user.content.private, user.contact.email, user.contact.phone_number, user.name]
    retention: 180d
    on_withdrawal: anonymize
  - id: newsletter
    legal_basis: consent
    categories: [user.content.private, user.contact.email]
    retention: 30d
    on_withdrawal: stop
`

// ConsentTenant is a tenant with ConsentRegister applied and a notice
// published for each consent purpose, in French.
func ConsentTenant(t testing.TB, s *app.Service, name string) Tenant {
	t.Helper()
	ctx := context.Background()
	tn := NewTenant(t, s, name)
	if _, err := s.Tenancy.ApplyRegister(ctx, tn.Admin, []byte(ConsentRegister)); err != nil {
		t.Fatalf("ApplyRegister: %v", err)
	}
	for _, p := range []string{"improve_replies", "train_assistant", "newsletter"} {
		if _, err := s.Consent.PublishNotice(ctx, tn.Admin, p, "fr", "Nous utilisons vos messages pour "+p+". Vous pouvez retirer votre consentement à tout moment."); err != nil {
			t.Fatalf("PublishNotice(%s): %v", p, err)
		}
	}
	return tn
}

// Grant records a grant by the web form.
func Grant(subject, purpose string) consent.ConsentInput {
	return consent.ConsentInput{Subject: subject, Purpose: purpose, Action: garde.ConsentGrant, Method: "web", UserAgent: "Mozilla/5.0", IP: "192.0.2.7"}
}

// Withdraw records a withdrawal by the web form.
func Withdraw(subject, purpose string) consent.ConsentInput {
	in := Grant(subject, purpose)
	in.Action = garde.ConsentWithdraw
	return in
}

func consentTests() []struct {
	name string
	fn   func(*testing.T, Open)
} {
	return []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Notices", testNotices},
		{"ConsentReceipt", testConsentReceipt},
		{"ConsentGatedWrites", testConsentGatedWrites},
		{"WithdrawalErase", testWithdrawalErase},
		{"WithdrawalAnonymize", testWithdrawalAnonymize},
		{"WithdrawalStop", testWithdrawalStop},
		{"ConsentHistory", testConsentHistory},
		{"ConsentAfterErasure", testConsentAfterErasure},
		{"LedgerProofs", testLedgerProofs},
		{"AuditOnLedger", testAuditOnLedger},
		{"LedgerHeadCompareAndSwap", testLedgerHeadCAS},
		{"LedgerConcurrentNodes", testLedgerConcurrentNodes},
		{"LedgerTenantIsolation", testLedgerTenantIsolation},
		{"GroupCommit", testGroupCommit},
		{"ConsentProof", testConsentProof},
	}
}

// RunConsent runs the consent and ledger part of the conformance suite.
func RunConsent(t *testing.T, open Open) {
	for _, tt := range consentTests() {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

func testConsent(t *testing.T, open Open) { RunConsent(t, open) }

func testNotices(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	n2, err := s.Consent.PublishNotice(ctx, a.Admin, "improve_replies", "fr", "Version 2")
	if err != nil {
		t.Fatal(err)
	}
	if n2.Version != 2 || n2.Hash != garde.NoticeHash("Version 2") || !strings.HasPrefix(n2.Hash, "sha256:") {
		t.Fatalf("PublishNotice = %+v, want version 2 with the text's hash", n2)
	}
	en, err := s.Consent.PublishNotice(ctx, a.Admin, "improve_replies", "en", "Version 1 in English")
	if err != nil || en.Version != 1 {
		t.Fatalf("PublishNotice(en) = %+v, %v; want version 1", en, err)
	}
	list, err := s.Consent.Notices(ctx, a.DPO, "improve_replies")
	if err != nil || len(list) != 3 {
		t.Fatalf("Notices = %d, %v; want 3", len(list), err)
	}
	tests := []struct {
		name    string
		p       garde.Principal
		purpose string
		lang    string
		text    string
		kind    error
	}{
		{"service may not publish", a.Service, "improve_replies", "fr", "x", garde.ErrForbidden},
		{"not a consent purpose", a.Admin, "answer_support_request", "fr", "x", garde.ErrInvalid},
		{"not in register", a.Admin, "marketing", "fr", "x", garde.ErrForbidden},
		{"bad language", a.Admin, "improve_replies", "French", "x", garde.ErrInvalid},
		{"empty text", a.Admin, "improve_replies", "fr", " ", garde.ErrInvalid},
	}
	for _, tt := range tests {
		if _, err := s.Consent.PublishNotice(ctx, tt.p, tt.purpose, tt.lang, tt.text); !errors.Is(err, tt.kind) {
			t.Errorf("%s: PublishNotice = %v, want %v", tt.name, err, tt.kind)
		}
	}
	// A consent without a language when two languages have that version.
	in := Grant("s", "improve_replies")
	in.Notice = 1
	if _, err := s.Consent.RecordConsent(ctx, a.Service, in); !errors.Is(err, garde.ErrInvalid) || errorField(err) != "language" {
		t.Fatalf("ambiguous notice = %v (field %q), want ErrInvalid on language", err, errorField(err))
	}
	in.Language = "en"
	r, err := s.Consent.RecordConsent(ctx, a.Service, in)
	if err != nil || r.Receipt.Notice.Hash != en.Hash || r.Receipt.Language != "en" {
		t.Fatalf("RecordConsent(en v1) = %+v, %v", r.Receipt.Notice, err)
	}
	in = Grant("s", "improve_replies")
	in.Language = "fr"
	if r, err := s.Consent.RecordConsent(ctx, a.Service, in); err != nil || r.Receipt.Notice.Version != 2 {
		t.Fatalf("RecordConsent(latest fr) = %+v, %v; want version 2", r.Receipt.Notice, err)
	}
}

func testConsentReceipt(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	in := Grant("jeanne@example.fr", "improve_replies")
	in.Evidence = []byte(`{"form":"signup","checkbox":"checked"}`)
	res, err := s.Consent.RecordConsent(ctx, a.Service, in)
	if err != nil {
		t.Fatal(err)
	}
	key, err := s.Trail.LedgerVerifierKey(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, ledger.TenantOrigin(string(a.ID))+"+") {
		t.Fatalf("verifier key %q does not name the tenant's log", key)
	}
	r := res.Receipt
	if err := consent.VerifyReceipt(r, key); err != nil {
		t.Fatalf("VerifyReceipt = %v", err)
	}
	if r.ConsentReceiptID != res.ID || r.PIIPrincipalID != "jeanne@example.fr" || r.Action != "grant" || r.ConsentStatus != "active" || r.CollectionMethod != "web" ||
		r.Notice.Version != 1 || r.PIIControllers[0].Name != "Example SAS" || r.Services[0].Purposes[0].Purpose != "improve_replies" {
		t.Fatalf("receipt = %+v", r)
	}
	content := string(r.Evidence.Content)
	if strings.Contains(content, "192.0.2.7") || !strings.Contains(content, `"ip_hash":"hmac-sha256:`) || !strings.Contains(content, `"evidence_hash":"sha256:`) {
		t.Fatalf("committed content %s: want the IP only as a keyed hash and the evidence hash", content)
	}
	// A receipt whose shown fields were changed, or checked under another
	// key, does not verify.
	changed := r
	changed.Action = "withdraw"
	if err := consent.VerifyReceipt(changed, key); !errors.Is(err, consent.ErrReceipt) {
		t.Fatalf("VerifyReceipt(changed action) = %v, want ErrReceipt", err)
	}
	changed = r
	changed.Services = []garde.ReceiptService{{Service: "x", Purposes: []garde.ReceiptPurpose{{Purpose: "newsletter"}}}}
	if err := consent.VerifyReceipt(changed, key); !errors.Is(err, consent.ErrReceipt) {
		t.Fatalf("VerifyReceipt(changed purpose) = %v, want ErrReceipt", err)
	}
	// What the receipt shows of the register is committed too.
	for name, change := range map[string]func(*garde.Receipt){
		"controller": func(r *garde.Receipt) { r.PIIControllers = []register.Party{{Name: "Other SAS"}} },
		"dpo":        func(r *garde.Receipt) { r.DPO.Email = "someone@else.example" },
		"retention": func(r *garde.Receipt) {
			p := r.Services[0].Purposes[0]
			p.Termination = "9999d"
			r.Services = []garde.ReceiptService{{Service: r.Services[0].Service, Purposes: []garde.ReceiptPurpose{p}}}
		},
		"sensitive": func(r *garde.Receipt) { r.Sensitive = true },
	} {
		changed := r
		change(&changed)
		if err := consent.VerifyReceipt(changed, key); !errors.Is(err, consent.ErrReceipt) {
			t.Errorf("VerifyReceipt(changed %s) = %v, want ErrReceipt", name, err)
		}
	}
	b := ConsentTenant(t, s, "B")
	bkey, _ := s.Trail.LedgerVerifierKey(ctx, b.DPO)
	if err := consent.VerifyReceipt(r, bkey); !errors.Is(err, consent.ErrReceipt) {
		t.Fatalf("VerifyReceipt(other tenant's key) = %v, want ErrReceipt", err)
	}
	// Refusals.
	bad := []struct {
		name  string
		p     garde.Principal
		in    consent.ConsentInput
		kind  error
		field string
	}{
		{"dpo may not record", a.DPO, Grant("s", "improve_replies"), garde.ErrForbidden, ""},
		{"bad action", a.Service, consent.ConsentInput{Subject: "s", Purpose: "improve_replies", Action: "maybe", Method: "web"}, garde.ErrInvalid, "action"},
		{"bad method", a.Service, consent.ConsentInput{Subject: "s", Purpose: "improve_replies", Action: "grant", Method: "pigeon"}, garde.ErrInvalid, "method"},
		{"bad ip", a.Service, consent.ConsentInput{Subject: "s", Purpose: "improve_replies", Action: "grant", Method: "web", IP: "near"}, garde.ErrInvalid, "ip"},
		{"bad evidence", a.Service, consent.ConsentInput{Subject: "s", Purpose: "improve_replies", Action: "grant", Method: "web", Evidence: []byte("{")}, garde.ErrInvalid, "evidence"},
		{"contract purpose", a.Service, Grant("s", "answer_support_request"), garde.ErrInvalid, "purpose"},
		{"not in register", a.Service, Grant("s", "marketing"), garde.ErrForbidden, "purpose"},
		{"unknown notice", a.Service, consent.ConsentInput{Subject: "s", Purpose: "improve_replies", Action: "grant", Method: "web", Notice: 9}, garde.ErrInvalid, "notice"},
	}
	for _, tt := range bad {
		if _, err := s.Consent.RecordConsent(ctx, tt.p, tt.in); !errors.Is(err, tt.kind) || (tt.field != "" && errorField(err) != tt.field) {
			t.Errorf("%s: RecordConsent = %v (field %q), want %v on %q", tt.name, err, errorField(err), tt.kind, tt.field)
		}
	}
	if rep, err := trail.VerifyLedger(ctx, st, a.ID, key); err != nil || rep.Consents != 1 {
		t.Fatalf("VerifyLedger = %+v, %v; want 1 consent entry", rep, err)
	}
}

func msg(subject, purpose, text string) []vault.NewMessage {
	return []vault.NewMessage{{Subject: subject, Purpose: purpose, Text: text}}
}

func testConsentGatedWrites(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s1", "improve_replies", "x")); !errors.Is(err, garde.ErrNoConsent) {
		t.Fatalf("Ingest before consent = %v, want ErrNoConsent", err)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("s1", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s1", "improve_replies", "x")); err != nil {
		t.Fatalf("Ingest after grant = %v", err)
	}
	// The grant is for s1 and improve_replies only.
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s2", "improve_replies", "x")); !errors.Is(err, garde.ErrNoConsent) {
		t.Fatalf("Ingest for another subject = %v, want ErrNoConsent", err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s1", "train_assistant", "x")); !errors.Is(err, garde.ErrNoConsent) {
		t.Fatalf("Ingest for another purpose = %v, want ErrNoConsent", err)
	}
	// A batch with one message lacking consent stores nothing and names it.
	batch := append(msg("s1", "improve_replies", "ok"), msg("s2", "improve_replies", "no")...)
	if _, err := s.Vault.Ingest(ctx, a.Service, batch); !errors.Is(err, garde.ErrNoConsent) || errorField(err) != "messages[1].purpose" {
		t.Fatalf("batch = %v (field %q), want ErrNoConsent on messages[1].purpose", err, errorField(err))
	}
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "s1", "improve_replies"); err != nil || len(got) != 1 {
		t.Fatalf("messages after refused batch = %d, %v; want 1", len(got), err)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Withdraw("s1", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s1", "improve_replies", "x")); !errors.Is(err, garde.ErrNoConsent) {
		t.Fatalf("Ingest after withdrawal = %v, want ErrNoConsent", err)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("s1", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s1", "improve_replies", "again")); err != nil {
		t.Fatalf("Ingest after a new grant = %v", err)
	}
	events, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionMessageWrite})
	denied := 0
	for _, e := range events {
		if e.Outcome == garde.OutcomeDenied && e.Reason == "no_consent" {
			denied++
		}
	}
	if denied != 5 {
		t.Fatalf("%d denied writes audited with no_consent, want 5", denied)
	}
}

func testWithdrawalErase(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	for _, sub := range []string{"gone", "kept"} {
		if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant(sub, "improve_replies")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Vault.Ingest(ctx, a.Service, append(msg(sub, "improve_replies", "one"), msg(sub, "improve_replies", "two")...)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("gone", "answer_support_request", "contract message")); err != nil {
		t.Fatal(err)
	}
	res, err := s.Consent.RecordConsent(ctx, a.Service, Withdraw("gone", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Withdrawal != (consent.WithdrawalEffect{Action: "erase", Messages: 2}) {
		t.Fatalf("withdrawal effect = %+v, want erase of 2", res.Withdrawal)
	}
	if res.Receipt.ConsentStatus != "withdrawn" {
		t.Fatalf("receipt status = %q", res.Receipt.ConsentStatus)
	}
	// Grant again: the erased messages are gone for good.
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("gone", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "gone", "improve_replies"); err != nil || len(got) != 0 {
		t.Fatalf("messages after erase = %d, %v; want 0", len(got), err)
	}
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "gone", "answer_support_request"); err != nil || len(got) != 1 {
		t.Fatalf("other purpose after erase = %d, %v; want 1", len(got), err)
	}
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "kept", "improve_replies"); err != nil || len(got) != 2 {
		t.Fatalf("other subject after erase = %d, %v; want 2", len(got), err)
	}
	events, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionMessageErase})
	if len(events) != 1 || events[0].Count != 2 {
		t.Fatalf("erase audit = %+v", events)
	}
}

func testWithdrawalAnonymize(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("s", "train_assistant")); err != nil {
		t.Fatal(err)
	}
	text := "Bonjour, écrivez-moi à jeanne.martin@example.fr ou au 06 12 34 56 78."
	in := msg("s", "train_assistant", text)
	in[0].Fields = map[string]string{"user.contact.email": "jeanne.martin@example.fr"}
	if _, err := s.Vault.Ingest(ctx, a.Service, in); err != nil {
		t.Fatal(err)
	}
	// The purpose allows these categories: they are stored as sent.
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "s", "train_assistant"); err != nil || len(got) != 1 || got[0].Text != text {
		t.Fatalf("before withdrawal: %v, %v", got, err)
	}
	res, err := s.Consent.RecordConsent(ctx, a.Service, Withdraw("s", "train_assistant"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Withdrawal != (consent.WithdrawalEffect{Action: "anonymize", Messages: 1}) {
		t.Fatalf("withdrawal effect = %+v", res.Withdrawal)
	}
	// What is left is linked to nobody: the subject has no message for
	// the purpose any more (see testAnonymiseUnlinks, gardetest/policy.go,
	// for the rows themselves).
	got, err := s.Vault.SubjectMessages(ctx, a.Service, "s", "train_assistant")
	if err != nil || len(got) != 0 {
		t.Fatalf("the subject's messages after anonymisation = %d, %v; want none", len(got), err)
	}
	// Nothing of the original is left in the rows: no fields, no sealed
	// span record (which may hold sealed originals).
	st.View(ctx, func(tx garde.Tx) error {
		subs, _ := tx.Subjects(ctx, a.ID, "", 10)
		n := 0
		for _, sub := range subs {
			ms, _ := tx.Messages(ctx, a.ID, sub.ID, "train_assistant")
			for _, m := range ms {
				n++
				if m.SealedFields != nil || m.SealedSpans != nil {
					t.Errorf("message %s keeps sealed fields or spans after anonymisation", m.ID)
				}
			}
		}
		if n != 1 {
			t.Errorf("%d anonymised rows, want 1", n)
		}
		return nil
	})
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s", "train_assistant", "x")); !errors.Is(err, garde.ErrNoConsent) {
		t.Fatalf("Ingest after withdrawal = %v, want ErrNoConsent", err)
	}
}

func testWithdrawalStop(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("s", "newsletter")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s", "newsletter", "keep me")); err != nil {
		t.Fatal(err)
	}
	res, err := s.Consent.RecordConsent(ctx, a.Service, Withdraw("s", "newsletter"))
	if err != nil || res.Withdrawal != (consent.WithdrawalEffect{Action: "stop"}) {
		t.Fatalf("withdrawal = %+v, %v; want stop", res.Withdrawal, err)
	}
	// Kept, but no longer processed for the purpose: reads are refused.
	if _, err := s.Vault.SubjectMessages(ctx, a.Service, "s", "newsletter"); !errors.Is(err, garde.ErrNoConsent) {
		t.Fatalf("read after stop = %v, want ErrNoConsent", err)
	}
	n := 0
	st.View(ctx, func(tx garde.Tx) error {
		subs, _ := tx.Subjects(ctx, a.ID, "", 10)
		for _, sub := range subs {
			ms, _ := tx.Messages(ctx, a.ID, sub.ID, "newsletter")
			n += len(ms)
		}
		return nil
	})
	if n != 1 {
		t.Fatalf("%d stored messages after stop, want 1 kept", n)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("s", "newsletter")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "s", "newsletter"); err != nil || len(got) != 1 || got[0].Text != "keep me" {
		t.Fatalf("read after a new grant = %v, %v", got, err)
	}
}

func testConsentHistory(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a := ConsentTenant(t, s, "A")
	steps := []consent.ConsentInput{Grant("s", "improve_replies"), Grant("s", "newsletter"), Withdraw("s", "improve_replies")}
	for _, in := range steps {
		clk.Advance(60e9)
		if _, err := s.Consent.RecordConsent(ctx, a.Service, in); err != nil {
			t.Fatal(err)
		}
	}
	v, err := s.Consent.SubjectConsents(ctx, a.DPO, "s")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.History) != 3 || v.History[0].Action != "grant" || v.History[2].Action != "withdraw" || v.History[0].Method != "web" || v.History[0].NoticeHash == "" {
		t.Fatalf("history = %+v", v.History)
	}
	state := map[string]bool{}
	for _, c := range v.Current {
		state[c.Purpose] = c.Granted
	}
	if len(state) != 2 || state["improve_replies"] || !state["newsletter"] {
		t.Fatalf("current = %+v, want improve_replies withdrawn and newsletter granted", v.Current)
	}
	if _, err := s.Consent.SubjectConsents(ctx, a.Admin, "s"); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("admin reading consents = %v, want ErrForbidden", err)
	}
	if v, err := s.Consent.SubjectConsents(ctx, a.Service, "nobody"); err != nil || len(v.History) != 0 {
		t.Fatalf("unknown subject = %+v, %v", v, err)
	}
	b := ConsentTenant(t, s, "B")
	if v, err := s.Consent.SubjectConsents(ctx, b.DPO, "s"); err != nil || len(v.History) != 0 {
		t.Fatalf("B sees A's subject's consents: %+v, %v", v, err)
	}
	events, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionConsentRead})
	if len(events) != 2 {
		t.Fatalf("%d consent reads audited, want 2", len(events))
	}
}

func testConsentAfterErasure(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	res, err := s.Consent.RecordConsent(ctx, a.Service, Grant("gone", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("kept", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	key, _ := s.Trail.LedgerVerifierKey(ctx, a.DPO)
	file(t, s, a.DPO, rights.NewRequest{Subject: "gone", Type: garde.RequestErasure})
	// The ledger still verifies; the subject's events cannot be read.
	if _, err := trail.VerifyLedger(ctx, st, a.ID, key); err != nil {
		t.Fatalf("VerifyLedger after erasure = %v", err)
	}
	if v, err := s.Consent.SubjectConsents(ctx, a.DPO, "gone"); err != nil || len(v.History) != 0 {
		t.Fatalf("consents of an erased subject = %+v, %v; want none (purged with the key)", v, err)
	}
	if v, err := s.Consent.SubjectConsents(ctx, a.DPO, "kept"); err != nil || len(v.History) != 1 {
		t.Fatalf("other subject = %+v, %v", v, err)
	}
	// The leaf is only a commitment: nothing of the event is in the log.
	st.View(ctx, func(tx garde.Tx) error {
		leaves, _ := tx.LedgerLeaves(ctx, a.ID, res.Receipt.LeafIndex, 1)
		if len(leaves) != 1 || leaves[0].Kind != trail.LeafConsent || leaves[0].Content != nil || leaves[0].Salt != nil {
			t.Errorf("consent leaf = %+v, want a bare commitment", leaves)
		}
		return nil
	})
	// The person's own receipt still verifies: it is their copy.
	if err := consent.VerifyReceipt(res.Receipt, key); err != nil {
		t.Fatalf("receipt after erasure = %v", err)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("gone", "improve_replies")); refusal(err) != "subject_erased" {
		t.Fatalf("consent for an erased subject = %v, want refused as subject_erased", err)
	}
}

func testLedgerProofs(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	first, err := s.Consent.RecordConsent(ctx, a.Service, Grant("s1", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := ledger.OpenCheckpoint(first.Receipt.Evidence.Checkpoint, mustKey(t, s, a))
	if err != nil {
		t.Fatal(err)
	}
	var ins []consent.ConsentInput
	for i := range 20 {
		ins = append(ins, Grant(fmt.Sprintf("s%d", i), "newsletter"))
	}
	if _, err := s.Consent.RecordConsents(ctx, a.Service, ins); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("x", "answer_support_request", "audit leaf")); err != nil {
		t.Fatal(err)
	}
	cp, err := s.Trail.LedgerCheckpoint(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, s, a)
	c, err := ledger.OpenCheckpoint(cp.Note, key)
	if err != nil {
		t.Fatal(err)
	}
	if c.Size <= old.Size+20 {
		t.Fatalf("checkpoint size %d, want more than %d (the audit entries too)", c.Size, old.Size+20)
	}
	again, _ := s.Trail.LedgerCheckpoint(ctx, a.DPO)
	if again.Size != cp.Size {
		t.Fatalf("checkpoint without new entries moved from %d to %d", cp.Size, again.Size)
	}
	p, err := s.Trail.LedgerInclusion(ctx, a.Service, first.Receipt.LeafIndex, 0)
	if err != nil {
		t.Fatal(err)
	}
	leaf := ledger.LeafHash(mustCommit(t, first.Receipt.Evidence))
	if p.Size != c.Size || p.LeafHash != leaf {
		t.Fatalf("inclusion proof at %d for leaf %v, want %d and %v", p.Size, p.LeafHash, c.Size, leaf)
	}
	if err := ledger.VerifyInclusion(c, p.Index, leaf, p.Proof); err != nil {
		t.Fatalf("VerifyInclusion = %v", err)
	}
	cons, err := s.Trail.LedgerConsistency(ctx, a.DPO, old.Size, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ledger.VerifyConsistency(old, c, cons.Proof); err != nil {
		t.Fatalf("VerifyConsistency = %v", err)
	}
	if cons.OldCheckpoint == nil || cons.NewCheckpoint == nil {
		t.Fatal("consistency proof without the signed checkpoints of both sizes")
	}
	for _, bad := range [][2]int64{{-1, 0}, {c.Size, 0}, {0, c.Size + 1}} {
		if _, err := s.Trail.LedgerInclusion(ctx, a.DPO, bad[0], bad[1]); !errors.Is(err, garde.ErrInvalid) {
			t.Errorf("LedgerInclusion(%d, %d) = %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
	if _, err := s.Trail.LedgerConsistency(ctx, a.DPO, c.Size+1, 0); !errors.Is(err, garde.ErrInvalid) {
		t.Errorf("LedgerConsistency past the size = %v, want ErrInvalid", err)
	}
	if _, err := s.Trail.LedgerCheckpoint(ctx, Operator); !errors.Is(err, garde.ErrForbidden) {
		t.Errorf("operator reading a tenant checkpoint = %v, want ErrForbidden", err)
	}
}

func mustKey(t *testing.T, s *app.Service, tn Tenant) string {
	t.Helper()
	k, err := s.Trail.LedgerVerifierKey(context.Background(), tn.DPO)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCommit(t *testing.T, e ledger.Evidence) []byte {
	t.Helper()
	rec, err := ledger.Commit(e.Salt, e.Content)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func testAuditOnLedger(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("s", "answer_support_request", "hello")); err != nil {
		t.Fatal(err)
	}
	s.Vault.SubjectMessages(ctx, a.Service, "s", "answer_support_request")
	s.Vault.SubjectMessages(ctx, a.Service, "s", "marketing") // denied, audited
	events, err := s.Audit(ctx, a.DPO, garde.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var leaves []garde.LedgerLeaf
	st.View(ctx, func(tx garde.Tx) error {
		leaves, err = tx.LedgerLeaves(ctx, a.ID, 0, 1000)
		return err
	})
	var audit []string
	for _, l := range leaves {
		if l.Kind == trail.LeafAudit {
			audit = append(audit, string(l.Content))
		}
	}
	if len(audit) != len(events) {
		t.Fatalf("%d audit entries on the ledger, %d audit events", len(audit), len(events))
	}
	for i, e := range events {
		if !strings.Contains(audit[i], `"action":"`+e.Action+`"`) || !strings.Contains(audit[i], `"outcome":"`+e.Outcome+`"`) {
			t.Fatalf("ledger entry %d = %s, audit event %+v", i, audit[i], e)
		}
	}
	if _, err := trail.VerifyLedger(ctx, st, a.ID, ""); err != nil {
		t.Fatalf("VerifyLedger = %v", err)
	}
}

func testLedgerHeadCAS(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	leaf := func(i int64) garde.LedgerLeaf {
		rec := make([]byte, ledger.RecordSize)
		rec[0] = byte(i)
		return garde.LedgerLeaf{Index: i, Kind: trail.LeafAudit, Record: rec, CreatedAt: epoch}
	}
	var mem ledger.MemoryStore
	var hashes [][]tlog.Hash
	for i := range int64(3) {
		before := tlog.StoredHashIndex(0, i)
		if _, err := mem.Append(leaf(i).Record); err != nil {
			t.Fatal(err)
		}
		after := tlog.StoredHashIndex(0, i+1)
		var hs []tlog.Hash
		for x := before; x < after; x++ {
			h, _ := mem.ReadHashes([]int64{x})
			hs = append(hs, h[0])
		}
		hashes = append(hashes, hs)
	}
	tn := garde.TenantID("tn_cas")
	err := st.Update(ctx, func(tx garde.Tx) error {
		if n, err := tx.LedgerHead(ctx, tn); err != nil || n != 0 {
			return fmt.Errorf("LedgerHead(empty) = %d, %v", n, err)
		}
		if err := tx.AppendLedger(ctx, tn, 0, []garde.LedgerLeaf{leaf(0), leaf(1)}, append(append([]tlog.Hash{}, hashes[0]...), hashes[1]...)); err != nil {
			return err
		}
		if n, err := tx.LedgerHead(ctx, tn); err != nil || n != 2 {
			return fmt.Errorf("LedgerHead = %d, %v; want 2", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A writer that read size 1 (stale) must fail and write nothing.
	err = st.Update(ctx, func(tx garde.Tx) error {
		return tx.AppendLedger(ctx, tn, 1, []garde.LedgerLeaf{leaf(1)}, hashes[1])
	})
	if !errors.Is(err, garde.ErrConflict) {
		t.Fatalf("AppendLedger from a stale head = %v, want ErrConflict", err)
	}
	st.View(ctx, func(tx garde.Tx) error {
		got, err := tx.LedgerHashes(ctx, tn, []int64{2, 0})
		want, _ := mem.ReadHashes([]int64{2, 0})
		if err != nil || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("LedgerHashes = %v, %v; want %v", got, err, want)
		}
		if _, err := tx.LedgerHashes(ctx, tn, []int64{99}); !errors.Is(err, garde.ErrNotFound) {
			t.Errorf("LedgerHashes(missing) = %v, want ErrNotFound", err)
		}
		if _, err := tx.LedgerHashes(ctx, "tn_other", []int64{0}); !errors.Is(err, garde.ErrNotFound) {
			t.Errorf("LedgerHashes(other tenant) = %v, want ErrNotFound", err)
		}
		if n, _ := tx.LedgerHead(ctx, "tn_other"); n != 0 {
			t.Errorf("LedgerHead(other tenant) = %d", n)
		}
		if _, err := tx.LatestCheckpoint(ctx, tn); !errors.Is(err, garde.ErrNotFound) {
			t.Errorf("LatestCheckpoint(none) = %v, want ErrNotFound", err)
		}
		if _, err := tx.LedgerKey(ctx, tn); !errors.Is(err, garde.ErrNotFound) {
			t.Errorf("LedgerKey(none) = %v, want ErrNotFound", err)
		}
		return nil
	})
}

// testLedgerConcurrentNodes runs two Services (two nodes) on one store,
// appending to the same tenant's log at once: the log never forks, and
// its size is the sum of what both appended.
func testLedgerConcurrentNodes(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	mk := MasterKeys(t)
	clk := NewClock(epoch)
	n1, n2 := app.New(st, mk, clk), app.New(st, mk, clk)
	a := ConsentTenant(t, n1, "A")
	before, err := n1.Trail.LedgerCheckpoint(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	const perNode, batch = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	for node, s := range []*app.Service{n1, n2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perNode {
				var ins []consent.ConsentInput
				for j := range batch {
					ins = append(ins, Grant(fmt.Sprintf("n%d-%d-%d", node, i, j), "improve_replies"))
				}
				if _, err := s.Consent.RecordConsents(ctx, a.Service, ins); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	key := mustKey(t, n2, a)
	rep, err := trail.VerifyLedger(ctx, st, a.ID, key)
	if err != nil {
		t.Fatalf("VerifyLedger = %v", err)
	}
	// Each RecordConsents appends its consents and one audit entry per
	// subject (every subject here is new).
	if want := before.Size + 2*perNode*batch*2; rep.Size != want {
		t.Fatalf("log size %d, want %d", rep.Size, want)
	}
	if rep.Consents != 2*perNode*batch {
		t.Fatalf("%d consent entries, want %d", rep.Consents, 2*perNode*batch)
	}
}

func testLedgerTenantIsolation(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	b := ConsentTenant(t, s, "B")
	ra, err := s.Consent.RecordConsent(ctx, a.Service, Grant("shared", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	cpb, err := s.Trail.LedgerCheckpoint(ctx, b.DPO)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.OpenCheckpoint(cpb.Note, mustKey(t, s, a)); err == nil {
		t.Fatal("B's checkpoint opens under A's key")
	}
	// A's consent leaves nothing in B's log: B's proof for A's index is
	// about B's own leaf, if any.
	pb, err := s.Trail.LedgerInclusion(ctx, b.DPO, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if pb.LeafHash == ledger.LeafHash(mustCommit(t, ra.Receipt.Evidence)) {
		t.Fatal("B's log holds A's consent")
	}
	if _, err := s.Vault.Ingest(ctx, b.Service, msg("shared", "improve_replies", "x")); !errors.Is(err, garde.ErrNoConsent) {
		t.Fatalf("A's grant lets B write: %v", err)
	}
	for _, tn := range []garde.TenantID{a.ID, b.ID} {
		if _, err := trail.VerifyLedger(ctx, st, tn, ""); err != nil {
			t.Fatalf("VerifyLedger(%s) = %v", tn, err)
		}
	}
}

// testGroupCommit records single consents from many goroutines at once:
// each caller gets its own receipt (which verifies) or its own error, even
// when its event was committed in a group with others.
func testGroupCommit(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	key := mustKey(t, s, a)
	const n = 40
	type result struct {
		res consent.ConsentResult
		err error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := Grant(fmt.Sprintf("g%d", i), "improve_replies")
			if i%10 == 7 {
				in.Notice = 42 // no such notice: this one alone fails
			}
			r, err := s.Consent.RecordConsent(ctx, a.Service, in)
			results[i] = result{r, err}
		}()
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, r := range results {
		if i%10 == 7 {
			if !errors.Is(r.err, garde.ErrInvalid) || errorField(r.err) != "notice" {
				t.Errorf("call %d = %v, want its own ErrInvalid on notice", i, r.err)
			}
			continue
		}
		if r.err != nil {
			t.Errorf("call %d = %v", i, r.err)
			continue
		}
		if r.res.Receipt.PIIPrincipalID != fmt.Sprintf("g%d", i) || seen[r.res.Receipt.LeafIndex] {
			t.Errorf("call %d got receipt for %q at leaf %d", i, r.res.Receipt.PIIPrincipalID, r.res.Receipt.LeafIndex)
		}
		seen[r.res.Receipt.LeafIndex] = true
		if err := consent.VerifyReceipt(r.res.Receipt, key); err != nil {
			t.Errorf("call %d: receipt: %v", i, err)
		}
	}
	rep, err := trail.VerifyLedger(ctx, st, a.ID, key)
	if err != nil || rep.Consents != n-n/10 {
		t.Fatalf("VerifyLedger = %+v, %v; want %d consents", rep, err, n-n/10)
	}
	t.Logf("%d single consents committed under %d checkpoints", rep.Consents, rep.Checkpoints)
}

// testConsentProof demonstrates a consent long after it was recorded: the
// receipt is re-issued against the latest checkpoint, with the evidence.
func testConsentProof(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	in := Grant("jeanne", "newsletter")
	in.Method, in.Evidence = "paper", []byte(`{"form":"scan-0042.pdf"}`)
	first, err := s.Consent.RecordConsent(ctx, a.Service, in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant(fmt.Sprintf("other%d", i), "newsletter")); err != nil {
			t.Fatal(err)
		}
	}
	// The register changes after the consent: the demonstrated receipt
	// still shows (and proves) the terms the person agreed to.
	if _, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte(strings.Replace(ConsentRegister, "retention: 30d", "retention: 60d", 1))); err != nil {
		t.Fatal(err)
	}
	v, err := s.Consent.ConsentProof(ctx, a.DPO, "jeanne", first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Receipt.Services[0].Purposes[0].Termination; got != "30d" {
		t.Fatalf("re-issued receipt shows retention %s, want the 30d agreed to", got)
	}
	key := mustKey(t, s, a)
	if err := consent.VerifyReceipt(v.Receipt, key); err != nil {
		t.Fatalf("re-issued receipt: %v", err)
	}
	c, _ := ledger.OpenCheckpoint(v.Receipt.Evidence.Checkpoint, key)
	old, _ := ledger.OpenCheckpoint(first.Receipt.Evidence.Checkpoint, key)
	if c.Size <= old.Size || v.Receipt.LeafIndex != first.Receipt.LeafIndex || string(v.Evidence) != `{"form":"scan-0042.pdf"}` || v.Receipt.CollectionMethod != "paper" {
		t.Fatalf("re-issued receipt at size %d (first %d), leaf %d, evidence %s", c.Size, old.Size, v.Receipt.LeafIndex, v.Evidence)
	}
	if _, err := s.Consent.ConsentProof(ctx, a.DPO, "other0", first.ID); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("consent under another subject = %v, want ErrNotFound", err)
	}
	b := ConsentTenant(t, s, "B")
	if _, err := s.Consent.ConsentProof(ctx, b.DPO, "jeanne", first.ID); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("consent through another tenant = %v, want ErrNotFound", err)
	}
	if _, err := s.Consent.ConsentProof(ctx, a.Admin, "jeanne", first.ID); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("admin = %v, want ErrForbidden", err)
	}
	file(t, s, a.DPO, rights.NewRequest{Subject: "jeanne", Type: garde.RequestErasure})
	if _, err := s.Consent.ConsentProof(ctx, a.DPO, "jeanne", first.ID); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("consent of an erased subject = %v, want ErrNotFound", err)
	}
}
