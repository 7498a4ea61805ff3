package gardetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/keyring"
)

// Open returns a fresh, empty store for one test.
type Open func(t *testing.T) garde.Store

// Run is the conformance suite: every backend must pass it unchanged. It
// exercises the store through the use cases (where the business rules
// live) and directly (for the contract of each Tx method).
func Run(t *testing.T, open Open) {
	// Aggregate by aggregate, as the kernel's store interfaces are cut
	// (store.go); OnePolicy crosses them.
	type test struct {
		name string
		fn   func(*testing.T, Open)
	}
	groups := []struct {
		name  string
		tests []test
	}{
		{"Tenants", []test{ // TenantStore, RegisterStore
			{"TenantsAndKeys", testTenantsAndKeys},
			{"APIKeyIsolation", testAPIKeyIsolation},
			{"LastAdminKey", testLastAdminKey},
			{"TenantIsolation", testTenantIsolation},
			{"RegisterVersions", testRegisterVersions},
		}},
		{"Messages", []test{ // MessageStore
			{"IngestAndRead", testIngestAndRead},
			{"IngestRefusals", testIngestRefusals},
			{"DetectionAtIngest", testDetectionAtIngest},
			{"IngestGroupCommit", testIngestGroupCommit},
			{"BatchAllOrNothing", testBatchAllOrNothing},
			{"SubjectUniqueIndex", testSubjectUniqueIndex},
			{"RollbackLeavesNothing", testRollback},
		}},
		{"Audit", []test{ // AuditStore
			{"AuditFilters", testAuditFilters},
			{"AuditSequencePerTenant", testAuditSequencePerTenant},
			{"DenialsOutliveHangUp", testDenialsOutliveHangUp}, // gardetest/ops.go
		}},
		{"Keys", []test{ // KeyStore
			{"TenantKeyRotation", testTenantKeyRotation},
			{"MasterKeyRotation", testMasterKeyRotation},
			{"KeyDestruction", testKeyDestruction},
		}},
		{"Consent", []test{{"", testConsent}}},     // ConsentStore, LedgerStore (gardetest/consent.go)
		{"Rights", []test{{"", testRights}}},       // RightsStore (gardetest/rights.go)
		{"Breach", []test{{"", testBreach}}},       // BreachStore (gardetest/breach.go)
		{"OnePolicy", []test{{"", testOnePolicy}}}, // gardetest/policy.go
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tt := range g.tests {
				if tt.name == "" {
					tt.fn(t, open) // the group is one test with its own subtests
					continue
				}
				t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
			}
		})
	}
}

var epoch = time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)

// keys is the key store that comes with a store.
func keys(st garde.Store) garde.KeyStore { return st.(garde.KeyStoreProvider).KeyStore() }

func newService(t *testing.T, open Open) (*app.Service, garde.Store, *Clock) {
	t.Helper()
	st := open(t)
	clk := NewClock(epoch)
	return app.New(st, MasterKeys(t), clk), st, clk
}

func testTenantsAndKeys(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	tn, text, err := s.Tenancy.CreateTenant(ctx, Operator, "Acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, text)
	if err != nil {
		t.Fatalf("Authenticate(first admin key) = %v", err)
	}
	if p.Tenant != tn.ID || p.Role != garde.RoleAdmin {
		t.Fatalf("Authenticate = %+v, want admin of %s", p, tn.ID)
	}
	err = st.View(ctx, func(tx garde.Tx) error {
		got, err := tx.Tenant(ctx, tn.ID)
		if err != nil {
			return err
		}
		if got.Name != "Acme" || !got.CreatedAt.Equal(epoch) {
			return fmt.Errorf("Tenant = %+v", got)
		}
		if _, err := tx.Tenant(ctx, "tn_missing"); !errors.Is(err, garde.ErrNotFound) {
			return fmt.Errorf("Tenant(missing) = %v, want ErrNotFound", err)
		}
		keys, err := keys(st).TenantKeys(ctx, tn.ID)
		if err != nil {
			return err
		}
		if len(keys) != 2 {
			return fmt.Errorf("TenantKeys = %d rows, want 2 (data, secret)", len(keys))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The key text is never stored: only its hash.
	err = st.View(ctx, func(tx garde.Tx) error {
		keys, err := tx.APIKeys(ctx, tn.ID)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if bytes.Contains([]byte(text), k.Hash) || bytes.Equal(k.Hash, []byte(text)) {
				return fmt.Errorf("api key stored in clear")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_, svcText, err := s.Tenancy.CreateAPIKey(ctx, p, "service")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := s.Authenticate(ctx, svcText)
	if err != nil || svc.Role != garde.RoleService {
		t.Fatalf("Authenticate(service) = %+v, %v", svc, err)
	}
	if err := s.Tenancy.RevokeAPIKey(ctx, p, svc.KeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, svcText); !errors.Is(err, garde.ErrUnauthenticated) {
		t.Fatalf("Authenticate(revoked) = %v, want ErrUnauthenticated", err)
	}
	if _, err := s.Authenticate(ctx, svcText[:len(svcText)-1]+"x"); !errors.Is(err, garde.ErrUnauthenticated) {
		t.Fatalf("Authenticate(wrong secret) = %v, want ErrUnauthenticated", err)
	}
	if _, _, err := s.Tenancy.CreateAPIKey(ctx, svc, "admin"); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("service creating a key = %v, want ErrForbidden", err)
	}
}

func testAPIKeyIsolation(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	b := NewTenant(t, s, "B")
	if err := s.Tenancy.RevokeAPIKey(ctx, a.Admin, b.Service.KeyID); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("A revoking B's key = %v, want ErrNotFound", err)
	}
	if _, err := s.Authenticate(ctx, b.Keys[garde.RoleService]); err != nil {
		t.Fatalf("B's key stopped working after A's attempt: %v", err)
	}
	keys, err := s.Tenancy.APIKeys(ctx, a.Admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.Tenant != a.ID {
			t.Fatalf("A's key list holds a key of %s", k.Tenant)
		}
	}
	if len(keys) != 3 {
		t.Fatalf("A has %d keys, want 3", len(keys))
	}
}

func testRegisterVersions(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	rv, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte(ExampleRegister+"\nsecurity_measures: [encryption at rest]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rv.Version != 2 {
		t.Fatalf("second apply = version %d, want 2", rv.Version)
	}
	latest, err := s.Tenancy.Register(ctx, a.DPO, 0)
	if err != nil || latest.Version != 2 {
		t.Fatalf("Register(latest) = %d, %v; want 2", latest.Version, err)
	}
	first, err := s.Tenancy.Register(ctx, a.DPO, 1)
	if err != nil || first.Version != 1 || string(first.Source) != ExampleRegister {
		t.Fatalf("Register(1) = %d, %v; want the first source back", first.Version, err)
	}
	if _, err := s.Tenancy.Register(ctx, a.DPO, 3); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("Register(3) = %v, want ErrNotFound", err)
	}
	b := NewTenant(t, s, "B")
	bv, err := s.Tenancy.Register(ctx, b.DPO, 0)
	if err != nil || bv.Version != 1 {
		t.Fatalf("B's register = %d, %v; want its own version 1", bv.Version, err)
	}
	if _, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte("controller: {name: X}\n")); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("invalid register = %v, want ErrInvalid", err)
	}
	if _, err := s.Tenancy.ApplyRegister(ctx, a.DPO, []byte(ExampleRegister)); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("dpo applying = %v, want ErrForbidden", err)
	}
}

func testIngestAndRead(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a := NewTenant(t, s, "A")
	out, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{
		Subject: "customer-42", Purpose: "answer_support_request", Text: "Bonjour, je m'appelle Jeanne",
		Fields: map[string]string{"user.contact.email": "jeanne@example.fr"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].ID == "" || !out[0].ExpiresAt.Equal(epoch.Add(365*24*time.Hour)) {
		t.Fatalf("Ingest = %+v", out)
	}
	clk.Advance(time.Second)
	if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "customer-42", Purpose: "answer_support_request", Channel: "email", Text: "second"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Vault.SubjectMessages(ctx, a.Service, "customer-42", "answer_support_request")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Text != "Bonjour, je m'appelle Jeanne" || got[0].Fields["user.contact.email"] != "jeanne@example.fr" || got[1].Text != "second" || got[1].Channel != "email" {
		t.Fatalf("SubjectMessages = %+v", got)
	}
	if none, err := s.Vault.SubjectMessages(ctx, a.Service, "someone-else", "answer_support_request"); err != nil || len(none) != 0 {
		t.Fatalf("SubjectMessages(unknown) = %v, %v; want none", none, err)
	}
	if _, err := s.Vault.SubjectMessages(ctx, a.Service, "customer-42", ""); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("read without purpose = %v, want ErrInvalid", err)
	}
	if _, err := s.Vault.SubjectMessages(ctx, a.Service, "customer-42", "marketing"); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("read for a purpose outside the register = %v, want ErrForbidden", err)
	}
	if _, err := s.Vault.SubjectMessages(ctx, a.Admin, "customer-42", "answer_support_request"); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("admin reading messages = %v, want ErrForbidden", err)
	}
	events, err := s.Audit(ctx, a.DPO, garde.AuditFilter{Action: garde.ActionMessageRead})
	if err != nil {
		t.Fatal(err)
	}
	var ok, denied int
	for _, e := range events {
		if e.SubjectRef == "customer-42" {
			t.Fatal("audit holds the subject identifier in clear")
		}
		switch e.Outcome {
		case garde.OutcomeOK:
			ok++
		case garde.OutcomeDenied:
			denied++
		}
	}
	if ok != 2 || denied != 1 {
		t.Fatalf("audit reads: %d ok, %d denied; want 2 and 1 (%+v)", ok, denied, events)
	}
}

func testIngestRefusals(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	tests := []struct {
		name  string
		msg   vault.NewMessage
		kind  error
		field string
	}{
		{"purpose not in register", vault.NewMessage{Subject: "s", Purpose: "marketing", Text: "x"}, garde.ErrForbidden, "purpose"},
		{"category not allowed", vault.NewMessage{Subject: "s", Purpose: "answer_support_request", Fields: map[string]string{"user.financial.credit_card": "4970101234567890"}}, garde.ErrForbidden, "fields.user.financial.credit_card"},
		{"not a category", vault.NewMessage{Subject: "s", Purpose: "answer_support_request", Fields: map[string]string{"email": "x"}}, garde.ErrInvalid, "fields.email"},
		{"no consent", vault.NewMessage{Subject: "s", Purpose: "improve_replies", Text: "x"}, garde.ErrNoConsent, "purpose"},
		{"no subject", vault.NewMessage{Purpose: "answer_support_request", Text: "x"}, garde.ErrInvalid, "subject"},
		{"bad channel", vault.NewMessage{Subject: "s", Purpose: "answer_support_request", Channel: "pigeon", Text: "x"}, garde.ErrInvalid, "channel"},
		{"empty", vault.NewMessage{Subject: "s", Purpose: "answer_support_request"}, garde.ErrInvalid, "text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{tt.msg})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Ingest = %v, want %v", err, tt.kind)
			}
			if field := errorField(err); field != tt.field {
				t.Fatalf("Ingest error names field %q, want %q", field, tt.field)
			}
		})
	}
	got, err := s.Vault.SubjectMessages(ctx, a.Service, "s", "answer_support_request")
	if err != nil || len(got) != 0 {
		t.Fatalf("after refusals: %d messages stored, %v; want 0", len(got), err)
	}
}

func errorField(err error) string {
	var ve *garde.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		return ve.Problems[0].Field
	}
	var re *garde.RefusedError
	if errors.As(err, &re) {
		return re.Field
	}
	return ""
}

func testBatchAllOrNothing(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	batch := []vault.NewMessage{
		{Subject: "s1", Purpose: "answer_support_request", Text: "ok"},
		{Subject: "s2", Purpose: "answer_support_request", Text: "ok"},
		{Subject: "s3", Purpose: "nope", Text: "refused"},
	}
	_, err := s.Vault.Ingest(ctx, a.Service, batch)
	if !errors.Is(err, garde.ErrForbidden) || errorField(err) != "messages[2].purpose" {
		t.Fatalf("Ingest(batch with a refused message) = %v (field %q)", err, errorField(err))
	}
	for _, sub := range []string{"s1", "s2"} {
		got, err := s.Vault.SubjectMessages(ctx, a.Service, sub, "answer_support_request")
		if err != nil || len(got) != 0 {
			t.Fatalf("%s has %d messages after a refused batch, want 0 (%v)", sub, len(got), err)
		}
	}
	out, err := s.Vault.Ingest(ctx, a.Service, batch[:2])
	if err != nil || len(out) != 2 {
		t.Fatalf("Ingest(valid batch) = %d, %v", len(out), err)
	}
}

func testTenantIsolation(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	b := NewTenant(t, s, "B")
	if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "same-id", Purpose: "answer_support_request", Text: "A's secret"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, b.Service, []vault.NewMessage{{Subject: "same-id", Purpose: "answer_support_request", Text: "B's secret"}}); err != nil {
		t.Fatal(err)
	}
	ga, _ := s.Vault.SubjectMessages(ctx, a.Service, "same-id", "answer_support_request")
	gb, _ := s.Vault.SubjectMessages(ctx, b.Service, "same-id", "answer_support_request")
	if len(ga) != 1 || ga[0].Text != "A's secret" || len(gb) != 1 || gb[0].Text != "B's secret" {
		t.Fatalf("same subject id in two tenants: A sees %+v, B sees %+v", ga, gb)
	}
	// The same identifier has a different blind index in each tenant.
	err := st.View(ctx, func(tx garde.Tx) error {
		sa, err := tx.Subjects(ctx, a.ID, "", 10)
		if err != nil {
			return err
		}
		sb, err := tx.Subjects(ctx, b.ID, "", 10)
		if err != nil {
			return err
		}
		if len(sa) != 1 || len(sb) != 1 || bytes.Equal(sa[0].Index, sb[0].Index) {
			return fmt.Errorf("blind indexes shared across tenants")
		}
		// A's subject id asked under B's tenant finds nothing.
		if ms, err := tx.Messages(ctx, b.ID, sa[0].ID, "answer_support_request"); err != nil || len(ms) != 0 {
			return fmt.Errorf("Messages(B, A's subject) = %d, %v", len(ms), err)
		}
		if _, err := tx.SubjectByIndex(ctx, b.ID, sa[0].Index); !errors.Is(err, garde.ErrNotFound) {
			return fmt.Errorf("SubjectByIndex(B, A's index) = %v", err)
		}
		ea, err := tx.Audit(ctx, a.ID, garde.AuditFilter{Limit: 1000})
		if err != nil {
			return err
		}
		for _, e := range ea {
			if e.Tenant != a.ID || e.Actor == b.Service.KeyID {
				return fmt.Errorf("audit of tenant A holds B's event %+v", e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func testSubjectUniqueIndex(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	rec := garde.SubjectRecord{Tenant: "tn_a", ID: "sub_1", Index: []byte("idx"), CreatedAt: epoch}
	if err := st.Update(ctx, func(tx garde.Tx) error { return tx.CreateSubject(ctx, rec) }); err != nil {
		t.Fatal(err)
	}
	rec.ID = "sub_2"
	err := st.Update(ctx, func(tx garde.Tx) error { return tx.CreateSubject(ctx, rec) })
	if !errors.Is(err, garde.ErrConflict) {
		t.Fatalf("second subject with the same blind index = %v, want ErrConflict", err)
	}
	rec.Tenant = "tn_b"
	if err := st.Update(ctx, func(tx garde.Tx) error { return tx.CreateSubject(ctx, rec) }); err != nil {
		t.Fatalf("same index in another tenant = %v, want nil", err)
	}
}

func testRollback(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx garde.Tx) error {
		if err := tx.CreateTenant(ctx, garde.Tenant{ID: "tn_x", Name: "X", CreatedAt: epoch}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	err = st.View(ctx, func(tx garde.Tx) error {
		_, err := tx.Tenant(ctx, "tn_x")
		return err
	})
	if !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("tenant after rollback: %v, want ErrNotFound", err)
	}
}

func testAuditFilters(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	var events []garde.AuditEvent
	for i := range 10 {
		events = append(events, garde.AuditEvent{Tenant: "tn_a", At: epoch.Add(time.Duration(i) * time.Minute), Actor: fmt.Sprintf("key_%d", i%2), Action: []string{"message.write", "message.read"}[i%2], Purpose: "p", Outcome: "ok", Count: i})
	}
	events = append(events, garde.AuditEvent{Tenant: "tn_b", At: epoch, Actor: "key_0", Action: "message.write", Outcome: "ok"})
	if err := st.Update(ctx, func(tx garde.Tx) error { return tx.AppendAudit(ctx, events) }); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		f    garde.AuditFilter
		want int
	}{
		{garde.AuditFilter{Limit: 100}, 10},
		{garde.AuditFilter{Limit: 3}, 3},
		{garde.AuditFilter{Action: "message.read", Limit: 100}, 5},
		{garde.AuditFilter{Actor: "key_0", Limit: 100}, 5},
		{garde.AuditFilter{Since: epoch.Add(5 * time.Minute), Limit: 100}, 5},
		{garde.AuditFilter{Since: epoch.Add(2 * time.Minute), Until: epoch.Add(4 * time.Minute), Limit: 100}, 2},
		{garde.AuditFilter{Purpose: "other", Limit: 100}, 0},
	}
	for _, tt := range tests {
		var got []garde.AuditEvent
		err := st.View(ctx, func(tx garde.Tx) error {
			var err error
			got, err = tx.Audit(ctx, "tn_a", tt.f)
			return err
		})
		if err != nil || len(got) != tt.want {
			t.Errorf("Audit(%+v) = %d events, %v; want %d", tt.f, len(got), err, tt.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Errorf("Audit(%+v) not in sequence order", tt.f)
			}
		}
	}
	// Paging by sequence.
	var page []garde.AuditEvent
	st.View(ctx, func(tx garde.Tx) error {
		first, _ := tx.Audit(ctx, "tn_a", garde.AuditFilter{Limit: 4})
		page, _ = tx.Audit(ctx, "tn_a", garde.AuditFilter{AfterSeq: first[3].Seq, Limit: 100})
		return nil
	})
	if len(page) != 6 {
		t.Errorf("second page = %d events, want 6", len(page))
	}
}

func testTenantKeyRotation(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	for i := range 3 {
		if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: fmt.Sprintf("s%d", i), Purpose: "answer_support_request", Text: fmt.Sprintf("text %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	v, n, err := s.Tenancy.RotateTenantKey(ctx, a.ID)
	if err != nil || v != 2 || n != 3 {
		t.Fatalf("RotateTenantKey = %d, %d, %v; want version 2, 3 subjects", v, n, err)
	}
	subs, _ := keys(st).ListSubjectKeys(ctx, a.ID, "", 10)
	if len(subs) != 3 {
		t.Errorf("%d subject keys after rotation, want 3", len(subs))
	}
	for _, sub := range subs {
		if sub.Version != 2 {
			t.Errorf("subject %s still wrapped under version %d", sub.Subject, sub.Version)
		}
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "s3", Purpose: "answer_support_request", Text: "after"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		got, err := s.Vault.SubjectMessages(ctx, a.Service, fmt.Sprintf("s%d", i), "answer_support_request")
		if err != nil || len(got) != 1 {
			t.Fatalf("after rotation, s%d: %d messages, %v", i, len(got), err)
		}
	}
}

func testMasterKeyRotation(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	mk := MasterKeys(t)
	s := app.New(st, mk, NewClock(epoch))
	a := NewTenant(t, s, "A")
	if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "s", Purpose: "answer_support_request", Text: "before"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := mk.Rotate(epoch); err != nil {
		t.Fatal(err)
	}
	n, err := s.Tenancy.RewrapTenantKeys(ctx)
	if err != nil || n != 2 {
		t.Fatalf("RewrapTenantKeys = %d, %v; want 2", n, err)
	}
	if err := mk.Retire(1); err != nil {
		t.Fatal(err)
	}
	// A fresh service (another node, or a restart) reads everything with
	// only the new master key version.
	s2 := app.New(st, mk, NewClock(epoch))
	got, err := s2.Vault.SubjectMessages(ctx, a.Service, "s", "answer_support_request")
	if err != nil || len(got) != 1 || got[0].Text != "before" {
		t.Fatalf("after master rotation and retirement: %+v, %v", got, err)
	}
	if _, err := mk.Version(1); !errors.Is(err, keyring.ErrUnknownVersion) {
		t.Fatalf("retired version still usable: %v", err)
	}
}

// testKeyDestruction: an erasure destroys the subject's key in the key
// store, journals it and purges the rows; the only way to destroy a
// subject key is this one (no other door).
func testKeyDestruction(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	for _, sub := range []string{"gone", "kept"} {
		if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: sub, Purpose: "answer_support_request", Text: "hello " + sub}}); err != nil {
			t.Fatal(err)
		}
	}
	file(t, s, a.DPO, rights.NewRequest{Subject: "gone", Type: garde.RequestErasure})
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "gone", "answer_support_request"); err != nil || len(got) != 0 {
		t.Fatalf("reading an erased subject = %d messages, %v; want none (purged with the key)", len(got), err)
	}
	if got, err := s.Vault.SubjectMessages(ctx, a.Service, "kept", "answer_support_request"); err != nil || len(got) != 1 {
		t.Fatalf("other subject after erasure: %d, %v", len(got), err)
	}
	// The key is gone from the key store, journalled, and the rows purged.
	left, _ := keys(st).ListSubjectKeys(ctx, a.ID, "", 10)
	if len(left) != 1 {
		t.Errorf("%d subject keys left, want 1", len(left))
	}
	journal, _ := keys(st).Journal(ctx, 0)
	if len(journal) != 1 || journal[0].Kind != garde.JournalErase || journal[0].Tenant != a.ID {
		t.Errorf("journal = %+v, want one erasure", journal)
	}
	st.View(ctx, func(tx garde.Tx) error {
		if subs, _ := tx.Subjects(ctx, a.ID, "", 10); len(subs) != 1 {
			t.Errorf("%d subject rows, want 1", len(subs))
		}
		return nil
	})
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("gone", "answer_support_request", "again")); refusal(err) != "subject_erased" {
		t.Errorf("a write after the key's destruction = %v, want subject_erased", err)
	}
}

// testAuditSequencePerTenant checks that audit sequence numbers count each
// tenant's events alone: a gap would tell a tenant how busy the others are.
func testAuditSequencePerTenant(t *testing.T, open Open) {
	ctx := context.Background()
	st := open(t)
	events := []garde.AuditEvent{
		{Tenant: "tn_a", At: epoch, Actor: "k", Action: "message.write", Outcome: "ok"},
		{Tenant: "tn_b", At: epoch, Actor: "k", Action: "message.write", Outcome: "ok"},
		{Tenant: "tn_a", At: epoch, Actor: "k", Action: "message.write", Outcome: "ok"},
	}
	for range 2 {
		if err := st.Update(ctx, func(tx garde.Tx) error { return tx.AppendAudit(ctx, events) }); err != nil {
			t.Fatal(err)
		}
	}
	for tenant, want := range map[garde.TenantID][]int64{"tn_a": {1, 2, 3, 4}, "tn_b": {1, 2}} {
		var got []int64
		st.View(ctx, func(tx garde.Tx) error {
			es, err := tx.Audit(ctx, tenant, garde.AuditFilter{Limit: 100})
			for _, e := range es {
				got = append(got, e.Seq)
			}
			return err
		})
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("audit sequence of %s = %v, want %v", tenant, got, want)
		}
	}
}
