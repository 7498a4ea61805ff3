package breach_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/breach"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

var start = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

type world struct {
	svc   *app.Service
	db    *sqlite.DB
	clock *gardetest.Clock
	a, b  gardetest.Tenant
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := gardetest.NewClock(start)
	w := &world{svc: app.New(db, gardetest.MasterKeys(t), clk), db: db, clock: clk}
	w.a = gardetest.NewTenant(t, w.svc, "A")
	w.b = gardetest.NewTenant(t, w.svc, "B")
	return w
}

func ptr[T any](v T) *T { return &v }

func change(aware time.Time, desc string, nature ...string) breach.BreachChange {
	return breach.BreachChange{AwareAt: &aware, Nature: nature, Description: &desc}
}

func TestBreachRegister(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	aware := start.Add(-2 * time.Hour)
	b, err := w.svc.Breach.CreateBreach(ctx, gardetest.Operator, breach.NewBreach{
		BreachChange: change(aware, "A backup of the message store was copied to an unprotected bucket.", breach.NatureConfidentiality),
		Tenants:      []garde.TenantID{w.a.ID, w.b.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !b.NotifyBy.Equal(aware.Add(72*time.Hour)) || b.Status != breach.BreachOpen || b.Phase != breach.PhaseInitial {
		t.Fatalf("CreateBreach = notify by %v, status %q, phase %q", b.NotifyBy, b.Status, b.Phase)
	}
	if !slices.Equal(b.Tenants, []garde.TenantID{w.a.ID, w.b.ID}) && !slices.Equal(b.Tenants, []garde.TenantID{w.b.ID, w.a.ID}) {
		t.Fatalf("operator sees tenants %v", b.Tenants)
	}

	// A sees the breach, as affecting itself only.
	ab, err := w.svc.Breach.Breach(ctx, w.a.DPO, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ab.Tenants, []garde.TenantID{w.a.ID}) {
		t.Fatalf("A sees tenants %v, want only itself", ab.Tenants)
	}
	// A records its own decision; B does not see it.
	if _, err := w.svc.Breach.UpdateBreach(ctx, w.a.DPO, b.ID, breach.BreachChange{Decision: ptr(breach.DecisionNotify), DecisionReason: ptr("A's own reason")}); err != nil {
		t.Fatal(err)
	}
	bb, err := w.svc.Breach.Breach(ctx, w.b.DPO, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if bb.Decision != "" || bb.DecisionReason != "" {
		t.Fatalf("B sees A's decision %q %q", bb.Decision, bb.DecisionReason)
	}
	ab, _ = w.svc.Breach.Breach(ctx, w.a.Admin, b.ID)
	if ab.Decision != breach.DecisionNotify || ab.Description == "" {
		t.Fatalf("A's view = decision %q, description %q", ab.Decision, ab.Description)
	}
	// The facts belong to the owner.
	if _, err := w.svc.Breach.UpdateBreach(ctx, w.a.DPO, b.ID, breach.BreachChange{Description: ptr("rewritten")}); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("affected tenant changing the description = %v, want ErrForbidden", err)
	}
	// A tenant's own breach is invisible to the other tenant and to the
	// operator.
	own, err := w.svc.Breach.CreateBreach(ctx, w.a.Admin, breach.NewBreach{BreachChange: change(start, "Laptop lost", breach.NatureAvailability)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []garde.Principal{w.b.DPO, gardetest.Operator} {
		if _, err := w.svc.Breach.Breach(ctx, p, own.ID); !errors.Is(err, garde.ErrNotFound) {
			t.Fatalf("%s reading A's own breach = %v, want ErrNotFound", p.Role, err)
		}
	}
	if _, err := w.svc.Breach.CreateBreach(ctx, w.a.Admin, breach.NewBreach{BreachChange: change(start, "x", breach.NatureAvailability), Tenants: []garde.TenantID{w.b.ID}}); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("tenant naming another tenant = %v, want ErrInvalid", err)
	}
	list, err := w.svc.Breach.Breaches(ctx, w.a.DPO)
	if err != nil || len(list) != 2 {
		t.Fatalf("A lists %d breaches, %v; want 2", len(list), err)
	}
	list, _ = w.svc.Breach.Breaches(ctx, w.b.DPO)
	if len(list) != 1 || list[0].ID != b.ID {
		t.Fatalf("B lists %d breaches, want the operator's only", len(list))
	}
	// A service key handles no breach.
	if _, err := w.svc.Breach.Breaches(ctx, w.a.Service); !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("service listing breaches = %v, want ErrForbidden", err)
	}
	// Closing keeps the breach in the register.
	if _, err := w.svc.Breach.UpdateBreach(ctx, gardetest.Operator, b.ID, breach.BreachChange{Status: ptr(breach.BreachClosed)}); err != nil {
		t.Fatal(err)
	}
	list, _ = w.svc.Breach.Breaches(ctx, gardetest.Operator)
	if len(list) != 1 || list[0].Status != breach.BreachClosed || len(list[0].Events) != 2 {
		t.Fatalf("operator lists %+v", list)
	}
}

func TestBreachValidation(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	_, err := w.svc.Breach.CreateBreach(ctx, w.a.DPO, breach.NewBreach{BreachChange: breach.BreachChange{Nature: []string{"secrecy"}}})
	var ve *garde.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("CreateBreach(empty) = %v, want a ValidationError", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	if want := []string{"aware_at", "description", "nature[0]"}; !slices.Equal(fields, want) {
		t.Fatalf("problems on %v, want %v", fields, want)
	}
	b, err := w.svc.Breach.CreateBreach(ctx, w.a.DPO, breach.NewBreach{BreachChange: change(start, "x", breach.NatureIntegrity)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Breach.UpdateBreach(ctx, w.a.DPO, b.ID, breach.BreachChange{Decision: ptr(breach.DecisionNoNotify)}); errorField(err) != "decision_reason" {
		t.Fatalf("decision without reason = %v, want a problem on decision_reason", err)
	}
	// Notifying the authority late needs the reason for the delay.
	w.clock.Advance(80 * time.Hour)
	late := w.clock.Now()
	if _, err := w.svc.Breach.UpdateBreach(ctx, w.a.DPO, b.ID, breach.BreachChange{AuthorityNotifiedAt: &late}); errorField(err) != "delay_reason" {
		t.Fatalf("late notification without reason = %v, want a problem on delay_reason", err)
	}
	if _, err := w.svc.Breach.BreachNotice(ctx, w.a.DPO, b.ID, breach.NoticeAuthority, "fr", ""); errorField(err) != "delay_reason" {
		t.Fatalf("late authority notice without reason = %v, want a problem on delay_reason", err)
	}
	got, err := w.svc.Breach.UpdateBreach(ctx, w.a.DPO, b.ID, breach.BreachChange{AuthorityNotifiedAt: &late, DelayReason: ptr("The breach was found on a Friday night and its extent took a weekend to establish.")})
	if err != nil || !got.Late(late) {
		t.Fatalf("late notification with reason = %v, late %v", err, got.Late(late))
	}
}

func errorField(err error) string {
	var ve *garde.ValidationError
	if errors.As(err, &ve) && len(ve.Problems) > 0 {
		return ve.Problems[0].Field
	}
	return fmt.Sprint(err)
}

// seedImpact writes a known history: A's service key writes four
// messages for three subjects at start; an hour later (the window) it
// reads s1 twice-over and s2, and tries a purpose outside the register;
// after the window it reads s3. B's key reads B's subjects meanwhile.
func seedImpact(t *testing.T, w *world) (since, until time.Time) {
	t.Helper()
	ctx := context.Background()
	in := []vault.NewMessage{
		{Subject: "s1", Purpose: "answer_support_request", Text: "one"},
		{Subject: "s1", Purpose: "answer_support_request", Text: "two"},
		{Subject: "s2", Purpose: "answer_support_request", Text: "three"},
		{Subject: "s3", Purpose: "answer_support_request", Text: "four"},
	}
	if _, err := w.svc.Vault.Ingest(ctx, w.a.Service, in); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Vault.Ingest(ctx, w.b.Service, in); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Hour)
	since = w.clock.Now()
	for _, s := range []string{"s1", "s2"} {
		if _, err := w.svc.Vault.SubjectMessages(ctx, w.a.Service, s, "answer_support_request"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Vault.SubjectMessages(ctx, w.b.Service, s, "answer_support_request"); err != nil {
			t.Fatal(err)
		}
	}
	w.svc.Vault.SubjectMessages(ctx, w.a.Service, "s3", "marketing")
	w.clock.Advance(time.Hour)
	until = w.clock.Now()
	if _, err := w.svc.Vault.SubjectMessages(ctx, w.a.Service, "s3", "answer_support_request"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Minute)
	return since, until
}

func TestBreachImpact(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	since, until := seedImpact(t, w)
	b, err := w.svc.Breach.CreateBreach(ctx, gardetest.Operator, breach.NewBreach{BreachChange: change(w.clock.Now(), "A service key was published in a public repository.", breach.NatureConfidentiality)})
	if err != nil {
		t.Fatal(err)
	}
	b, err = w.svc.Breach.ComputeImpact(ctx, gardetest.Operator, b.ID, breach.ImpactQuery{Actor: w.a.Service.KeyID, Since: since, Until: until})
	if err != nil {
		t.Fatal(err)
	}
	cats := []string{"user.contact.email", "user.contact.phone_number", "user.content.private", "user.name"}
	want := &breach.Impact{
		Actor: w.a.Service.KeyID, Since: since, Until: until, ComputedAt: w.clock.Now(),
		Tenants:  []breach.TenantImpact{{Tenant: w.a.ID, Subjects: 2, RecordsRead: 3, DeniedReads: 1, Purposes: []string{"answer_support_request"}, Categories: cats, Actors: []string{w.a.Service.KeyID}}},
		Subjects: 2, RecordsRead: 3, DeniedReads: 1, Categories: cats, ReadInClear: true,
		Evidence: "3 records were read through the API with this credential and returned decrypted",
	}
	if diff := cmp.Diff(want, b.Impact); diff != "" {
		t.Fatalf("impact (-want +got):\n%s", diff)
	}
	// The impact fills the breach and names the affected tenant.
	if !slices.Equal(b.Tenants, []garde.TenantID{w.a.ID}) || b.SubjectsApprox != 2 || b.RecordsApprox != 3 || !slices.Equal(b.Categories, cats) {
		t.Fatalf("breach after impact: tenants %v, subjects %d, records %d, categories %v", b.Tenants, b.SubjectsApprox, b.RecordsApprox, b.Categories)
	}
	if _, err := w.svc.Breach.Breach(ctx, w.a.DPO, b.ID); err != nil {
		t.Fatalf("A cannot see the breach found to affect it: %v", err)
	}
	if _, err := w.svc.Breach.Breach(ctx, w.b.DPO, b.ID); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("B sees a breach that does not affect it: %v", err)
	}
	// Each searched tenant's trail shows the search, naming the breach.
	for _, tn := range []gardetest.Tenant{w.a, w.b} {
		evs, err := w.svc.Audit(ctx, tn.DPO, garde.AuditFilter{Action: garde.ActionAuditRead})
		if err != nil || len(evs) != 1 || evs[0].Reason != b.ID || evs[0].Actor != gardetest.Operator.KeyID {
			t.Fatalf("audit.read in %s's trail = %+v, %v; want one naming %s", tn.ID, evs, err, b.ID)
		}
	}
	// A recomputation that finds less never replaces the recorded impact.
	if _, err := w.svc.Breach.ComputeImpact(ctx, gardetest.Operator, b.ID, breach.ImpactQuery{Actor: w.a.Service.KeyID, Since: start, Until: since}); !errors.Is(err, garde.ErrConflict) {
		t.Fatalf("recomputing a smaller impact over a recorded one = %v, want ErrConflict", err)
	}
	if got, _ := w.svc.Breach.Breach(ctx, gardetest.Operator, b.ID); got.Impact.RecordsRead != 3 {
		t.Fatalf("recorded impact after the refused recomputation: %+v", got.Impact)
	}
	// Writes only (on a breach of its own): nothing left in clear,
	// evidence for Art. 34(3)(a).
	b, err = w.svc.Breach.CreateBreach(ctx, gardetest.Operator, breach.NewBreach{BreachChange: change(w.clock.Now(), "A service key was published again.", breach.NatureConfidentiality)})
	if err != nil {
		t.Fatal(err)
	}
	b, err = w.svc.Breach.ComputeImpact(ctx, gardetest.Operator, b.ID, breach.ImpactQuery{Actor: w.a.Service.KeyID, Since: start, Until: since})
	if err != nil {
		t.Fatal(err)
	}
	if imp := b.Impact; imp.Subjects != 3 || imp.RecordsWritten != 4 || imp.RecordsRead != 0 || !imp.SealedUnderSafeKeys {
		t.Fatalf("write-only impact = %+v", imp)
	}
	if b.Severity.NotifySubjects || b.Severity.EI != 0.25 {
		t.Fatalf("sealed data: severity %+v, want EI 0.25 and no notice to subjects", b.Severity)
	}
	// A tenant computes within its own trail only.
	ab, err := w.svc.Breach.CreateBreach(ctx, w.a.DPO, breach.NewBreach{BreachChange: change(w.clock.Now(), "x", breach.NatureConfidentiality)})
	if err != nil {
		t.Fatal(err)
	}
	// B's key is no actor of A's scope: refused, naming the field, rather
	// than recorded as an empty impact.
	_, err = w.svc.Breach.ComputeImpact(ctx, w.a.DPO, ab.ID, breach.ImpactQuery{Actor: w.b.Service.KeyID, Since: start, Until: until})
	if !errors.Is(err, garde.ErrInvalid) || !strings.Contains(err.Error(), "actor") {
		t.Fatalf("A computing B's key = %v; want ErrInvalid naming actor", err)
	}
	for _, actor := range []string{"key_does_not_exist", "CLI"} {
		if _, err := w.svc.Breach.ComputeImpact(ctx, gardetest.Operator, b.ID, breach.ImpactQuery{Actor: actor, Since: start, Until: until}); !errors.Is(err, garde.ErrInvalid) {
			t.Fatalf("impact of unknown actor %q = %v, want ErrInvalid", actor, err)
		}
	}
	ab, err = w.svc.Breach.ComputeImpact(ctx, w.a.DPO, ab.ID, breach.ImpactQuery{Actor: "retention", Since: start, Until: until})
	if err != nil || ab.Impact.Subjects != 0 {
		t.Fatalf("impact of a system actor = %+v, %v", ab.Impact, err)
	}
}

func TestSeverity(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name       string
		b          breach.Breach
		score      float64
		level      string
		auth, subj bool
	}{
		{"contact details disclosed by mistake", breach.Breach{Nature: []string{"confidentiality"}, Categories: []string{"user.contact.email"}}, 1.25, breach.SeverityLow, false, false},
		{"support conversations stolen", breach.Breach{Nature: []string{"confidentiality"}, Categories: []string{"user.content.private", "user.name"}, Assessment: breach.Assessment{Malicious: ptr(true)}}, 3, breach.SeverityHigh, true, true},
		{"health data, malicious", breach.Breach{Nature: []string{"confidentiality", "integrity"}, Categories: []string{"user.health_and_medical"}, Assessment: breach.Assessment{Malicious: ptr(true), EaseOfIdentification: "significant"}}, 4.25, breach.SeverityVeryHigh, true, true},
		{"financial data, limited identification", breach.Breach{Nature: []string{"availability"}, Categories: []string{"user.financial.bank_account"}, Assessment: breach.Assessment{EaseOfIdentification: "limited", Availability: f(0.5)}}, 2, breach.SeverityMedium, true, false},
		{"sealed under safe keys", breach.Breach{Nature: []string{"confidentiality"}, Categories: []string{"user.health_and_medical"}, Impact: &breach.Impact{SealedUnderSafeKeys: true}, Assessment: breach.Assessment{Malicious: ptr(true), DPC: f(4)}}, 2, breach.SeverityMedium, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := breach.Assess(&tt.b)
			if s.Score != tt.score || s.Level != tt.level || s.NotifyAuthority != tt.auth || s.NotifySubjects != tt.subj {
				t.Fatalf("Assess = score %v %s, authority %v, subjects %v; want %v %s, %v, %v\n%+v", s.Score, s.Level, s.NotifyAuthority, s.NotifySubjects, tt.score, tt.level, tt.auth, tt.subj, s)
			}
		})
	}
}

// recorder is a Notifier that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	sent []breach.Escalation
}

func (r *recorder) Notify(ctx context.Context, e breach.Escalation) error {
	r.mu.Lock()
	r.sent = append(r.sent, e)
	r.mu.Unlock()
	return nil
}

func (r *recorder) points() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.sent {
		out = append(out, fmt.Sprintf("%s@%s", e.DPO.Email, e.Point))
	}
	return out
}

func TestBreachClockTwoNodes(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	// A second node on the same database, with the same clock.
	other := app.New(w.db, gardetest.MasterKeys(t), w.clock)
	_ = other // its master keys differ; it only escalates, which needs no key
	b, err := w.svc.Breach.CreateBreach(ctx, w.a.DPO, breach.NewBreach{BreachChange: change(start, "Misdirected export", breach.NatureConfidentiality)})
	if err != nil {
		t.Fatal(err)
	}
	email, hook := &recorder{}, &recorder{}
	clock := breach.BreachClock{Email: email, Webhook: hook}
	tick := func() {
		var wg sync.WaitGroup
		for i, s := range []*app.Service{w.svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := clock
				c.Node = fmt.Sprint("node", i)
				if _, err := s.Breach.EscalateBreaches(ctx, c); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	for _, step := range []time.Duration{0, time.Hour, 23 * time.Hour, 24 * time.Hour, 18 * time.Hour, 5 * time.Hour} {
		w.clock.Advance(step)
		tick()
		tick()
	}
	want := []string{"dpo@example.com@0s", "dpo@example.com@24h0m0s", "dpo@example.com@48h0m0s", "dpo@example.com@66h0m0s"}
	if got := email.points(); !slices.Equal(got, want) {
		t.Fatalf("emails = %v, want %v", got, want)
	}
	if got := len(hook.points()); got != 4 {
		t.Fatalf("webhooks = %d, want 4", got)
	}
	recs, err := w.svc.Breach.BreachEscalations(ctx, w.a.DPO, b.ID)
	if err != nil || len(recs) != 8 {
		t.Fatalf("escalation records = %d, %v; want 8", len(recs), err)
	}
	for _, r := range recs {
		if r.SentAt.IsZero() || r.Attempts != 1 {
			t.Fatalf("escalation %+v: want sent once", r)
		}
	}
	// Deciding stops the reminders.
	b2, _ := w.svc.Breach.CreateBreach(ctx, w.a.DPO, breach.NewBreach{BreachChange: change(w.clock.Now(), "Second", breach.NatureIntegrity)})
	tick()
	if _, err := w.svc.Breach.UpdateBreach(ctx, w.a.DPO, b2.ID, breach.BreachChange{Decision: ptr(breach.DecisionNoNotify), DecisionReason: ptr("Integrity restored from backup within the hour; no risk.")}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(30 * time.Hour)
	tick()
	if got := len(email.points()); got != 5 {
		t.Fatalf("emails after decision = %d, want 5 (the new breach's first only)", got)
	}
}

// failing fails its first n calls.
type failing struct {
	recorder
	n int
}

func (f *failing) Notify(ctx context.Context, e breach.Escalation) error {
	f.mu.Lock()
	if f.n > 0 {
		f.n--
		f.mu.Unlock()
		return errors.New("smtp: 451 try again")
	}
	f.mu.Unlock()
	return f.recorder.Notify(ctx, e)
}

func TestBreachClockRetriesAfterLease(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if _, err := w.svc.Breach.CreateBreach(ctx, w.a.DPO, breach.NewBreach{BreachChange: change(start, "x", breach.NatureConfidentiality)}); err != nil {
		t.Fatal(err)
	}
	f := &failing{n: 1}
	c := breach.BreachClock{Email: f, Lease: 5 * time.Minute}
	if n, err := w.svc.Breach.EscalateBreaches(ctx, c); n != 0 || err == nil {
		t.Fatalf("first tick = %d, %v; want 0 and the error", n, err)
	}
	if n, _ := w.svc.Breach.EscalateBreaches(ctx, c); n != 0 {
		t.Fatalf("tick within the lease sent %d, want 0", n)
	}
	w.clock.Advance(6 * time.Minute)
	if n, err := w.svc.Breach.EscalateBreaches(ctx, c); n != 1 || err != nil {
		t.Fatalf("tick after the lease = %d, %v; want 1", n, err)
	}
}

func TestDetectors(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for range 25 {
		w.svc.Authenticate(ctx, "garde_nope_nope")
	}
	for range 3 {
		w.svc.Vault.SubjectMessages(ctx, w.a.Service, "s1", "marketing")
	}
	var in []vault.NewMessage
	for i := range 60 {
		in = append(in, vault.NewMessage{Subject: fmt.Sprint("p", i), Purpose: "answer_support_request", Text: "x"})
	}
	if _, err := w.svc.Vault.Ingest(ctx, w.b.Service, in); err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		if _, err := w.svc.Vault.SubjectMessages(ctx, w.b.Service, fmt.Sprint("p", i), "answer_support_request"); err != nil {
			t.Fatal(err)
		}
	}
	w.clock.Advance(time.Minute)
	opened, err := w.svc.Breach.DetectBreaches(ctx, breach.Detectors{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range opened {
		if b.Status != breach.BreachDraft || b.Owner != garde.OperatorTenant {
			t.Fatalf("detector opened %+v, want an operator draft", b)
		}
		got = append(got, fmt.Sprintf("%s %v", b.Detector, b.Tenants))
	}
	slices.Sort(got)
	want := []string{
		"auth_burst []",
		fmt.Sprintf("purpose_outside_register [%s]", w.a.ID),
		fmt.Sprintf("read_rate [%s]", w.b.ID),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("drafts = %v, want %v", got, want)
	}
	// Once per finding.
	if again, err := w.svc.Breach.DetectBreaches(ctx, breach.Detectors{}); err != nil || len(again) != 0 {
		t.Fatalf("second run opened %d, %v; want 0", len(again), err)
	}
	// Drafts do not escalate.
	rec := &recorder{}
	if n, _ := w.svc.Breach.EscalateBreaches(ctx, breach.BreachClock{Email: rec}); n != 0 {
		t.Fatalf("drafts escalated %d times", n)
	}
	// B sees its draft; A does not see B's.
	la, _ := w.svc.Breach.Breaches(ctx, w.a.DPO)
	lb, _ := w.svc.Breach.Breaches(ctx, w.b.DPO)
	if len(la) != 1 || len(lb) != 1 || la[0].ID == lb[0].ID {
		t.Fatalf("A sees %d drafts, B %d; want one each, different", len(la), len(lb))
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "breach", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestBreachNotices(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	since, until := seedImpact(t, w)
	aware := w.clock.Now()
	b, err := w.svc.Breach.CreateBreach(ctx, gardetest.Operator, breach.NewBreach{BreachChange: breach.BreachChange{
		AwareAt: &aware, Nature: []string{breach.NatureConfidentiality},
		Description:       ptr("An API key of the support integration was published in a public code repository and used from an unknown address."),
		SubjectCategories: []string{"customers"},
		Consequences:      ptr("The content of support conversations may be read by a third party; risk of phishing using that context."),
		MeasuresTaken:     []string{"The key was revoked.", "Every other key of the integration was rotated."},
		MeasuresProposed:  []string{"Secret scanning on the integration's repositories."},
		Assessment:        &breach.Assessment{Malicious: ptr(true)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Breach.ComputeImpact(ctx, gardetest.Operator, b.ID, breach.ImpactQuery{Actor: w.a.Service.KeyID, Since: since, Until: until}); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(3 * time.Hour)
	if _, err := w.svc.Breach.UpdateBreach(ctx, w.a.DPO, b.ID, breach.BreachChange{NotifySubjects: ptr(true), Decision: ptr(breach.DecisionNotify), DecisionReason: ptr("Private conversations of customers were read by an attacker.")}); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{breach.NoticeController, breach.NoticeAuthority, breach.NoticeSubjects} {
		for _, lang := range []string{"en", "fr"} {
			n, err := w.svc.Breach.BreachNotice(ctx, gardetest.Operator, b.ID, kind, lang, w.a.ID)
			if err != nil {
				t.Fatalf("%s/%s: %v", kind, lang, err)
			}
			md := strings.ReplaceAll(n.Markdown, b.ID, "BREACH")
			md = strings.ReplaceAll(md, string(w.a.ID), "TENANT")
			if !strings.Contains(md, "Camille Durand") || !strings.Contains(md, "dpo@example.com") {
				t.Errorf("%s/%s notice lacks the DPO contact from the register", kind, lang)
			}
			golden(t, kind+"."+lang+".md", []byte(md))
			// The tenant drafts the same notice for itself.
			mine, err := w.svc.Breach.BreachNotice(ctx, w.a.DPO, b.ID, kind, lang, "")
			if err != nil || mine.Markdown != n.Markdown {
				t.Errorf("%s/%s: tenant's own draft differs from the operator's (%v)", kind, lang, err)
			}
		}
	}
	if _, err := w.svc.Breach.BreachNotice(ctx, w.b.DPO, b.ID, breach.NoticeAuthority, "en", ""); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("B drafting a notice of a breach not affecting it = %v, want ErrNotFound", err)
	}
	if _, err := w.svc.Breach.BreachNotice(ctx, gardetest.Operator, b.ID, breach.NoticeAuthority, "en", w.b.ID); errorField(err) != "tenant" {
		t.Fatalf("operator drafting for an unaffected tenant = %v, want a problem on tenant", err)
	}
}

// TestRunBreachClock runs the escalator's loop on fake time: over 73
// hours it sends the four reminders, once each, then stops with ctx.
func TestRunBreachClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		svc := app.New(db, gardetest.MasterKeys(t), garde.SystemClock{})
		a := gardetest.NewTenant(t, svc, "A")
		if _, err := svc.Breach.CreateBreach(ctx, a.DPO, breach.NewBreach{BreachChange: change(time.Now(), "x", breach.NatureConfidentiality)}); err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		done := make(chan error, 1)
		go func() {
			done <- svc.Breach.RunBreachClock(ctx, breach.BreachClock{Email: rec, Interval: 30 * time.Minute})
		}()
		time.Sleep(73 * time.Hour)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("RunBreachClock = %v, want context.Canceled", err)
		}
		want := []string{"dpo@example.com@0s", "dpo@example.com@24h0m0s", "dpo@example.com@48h0m0s", "dpo@example.com@66h0m0s"}
		if got := rec.points(); !slices.Equal(got, want) {
			t.Fatalf("sent %v, want %v", got, want)
		}
	})
}

// TestReadRateBaseline: a key that usually reads this many subjects opens
// no draft; the same reads from a key with no history do.
func TestReadRateBaseline(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var in []vault.NewMessage
	for i := range 60 {
		in = append(in, vault.NewMessage{Subject: fmt.Sprint("p", i), Purpose: "answer_support_request", Text: "x"})
	}
	if _, err := w.svc.Vault.Ingest(ctx, w.b.Service, in); err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		for i := range 60 {
			if _, err := w.svc.Vault.SubjectMessages(ctx, w.b.Service, fmt.Sprint("p", i), "answer_support_request"); err != nil {
				t.Fatal(err)
			}
		}
	}
	d := breach.Detectors{Window: 10 * time.Minute, Baseline: 20 * time.Minute}
	readAll()
	w.clock.Advance(15 * time.Minute)
	readAll()
	w.clock.Advance(time.Minute)
	if opened, err := w.svc.Breach.DetectBreaches(ctx, d); err != nil || len(opened) != 0 {
		t.Fatalf("usual rate opened %d drafts, %v; want none", len(opened), err)
	}
	w.clock.Advance(2 * time.Hour)
	readAll()
	w.clock.Advance(time.Minute)
	if opened, err := w.svc.Breach.DetectBreaches(ctx, d); err != nil || len(opened) != 1 || opened[0].Detector != breach.DetectorReadRate {
		t.Fatalf("unusual rate opened %d drafts, %v; want one read_rate", len(opened), err)
	}
}
