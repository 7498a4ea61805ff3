package garde_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/register"
	"github.com/garde-privacy/garde/sqlite"
)

func newDashboardService(t *testing.T) (*app.Service, *gardetest.Clock, gardetest.Tenant, gardetest.Tenant) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := gardetest.NewClock(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))
	svc := app.New(db, gardetest.MasterKeys(t), clk)
	return svc, clk, gardetest.NewTenant(t, svc, "A"), gardetest.NewTenant(t, svc, "B")
}

func TestConsentTrend(t *testing.T) {
	ctx := context.Background()
	svc, clk, a, b := newDashboardService(t)
	if _, err := svc.Consent.PublishNotice(ctx, a.Admin, "improve_replies", "en", "notice"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Consent.PublishNotice(ctx, b.Admin, "improve_replies", "en", "notice"); err != nil {
		t.Fatal(err)
	}
	record := func(p garde.Principal, subject, action string) {
		t.Helper()
		if _, err := svc.Consent.RecordConsent(ctx, p, consent.ConsentInput{Subject: subject, Purpose: "improve_replies", Action: action, Method: "web"}); err != nil {
			t.Fatalf("RecordConsent: %v", err)
		}
	}
	day0 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	record(a.Service, "s1", garde.ConsentGrant)
	record(a.Service, "s2", garde.ConsentGrant)
	record(a.Service, "s3", garde.ConsentGrant)
	record(a.Service, "s1", garde.ConsentWithdraw)
	record(b.Service, "s9", garde.ConsentWithdraw) // B's: never in A's trend
	clk.Advance(48 * time.Hour)
	record(a.Service, "s4", garde.ConsentGrant)

	days, err := svc.Consent.ConsentTrend(ctx, a.DPO, day0, day0.AddDate(0, 0, 3))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range days {
		got = append(got, fmt.Sprintf("%s %s %d/%d %.2f", d.Purpose, d.Day.Format("01-02"), d.Grants, d.Events(), d.Rate()))
	}
	want := []string{"improve_replies 03-02 3/4 0.75", "improve_replies 03-03 0/0 0.00", "improve_replies 03-04 1/1 1.00"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("ConsentTrend =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if _, err := svc.Consent.ConsentTrend(ctx, a.Service, day0, day0.AddDate(0, 0, 1)); !errors.Is(err, garde.ErrForbidden) {
		t.Errorf("ConsentTrend as service = %v, want ErrForbidden", err)
	}
	if _, err := svc.Consent.ConsentTrend(ctx, a.DPO, day0, day0); !errors.Is(err, garde.ErrInvalid) {
		t.Errorf("ConsentTrend over no day = %v, want ErrInvalid", err)
	}
	if _, err := svc.Consent.ConsentTrend(ctx, a.DPO, day0.AddDate(-2, 0, 0), day0); !errors.Is(err, garde.ErrInvalid) {
		t.Errorf("ConsentTrend over two years = %v, want ErrInvalid", err)
	}
}

func TestLedgerHealth(t *testing.T) {
	ctx := context.Background()
	svc, _, a, _ := newDashboardService(t)
	if _, err := svc.Consent.PublishNotice(ctx, a.Admin, "improve_replies", "en", "notice"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Consent.RecordConsent(ctx, a.Service, consent.ConsentInput{Subject: "s1", Purpose: "improve_replies", Action: garde.ConsentGrant, Method: "web"}); err != nil {
		t.Fatal(err)
	}
	h, err := svc.Trail.LedgerHealth(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Verified || h.Size == 0 || h.Checkpoint.Size == 0 || h.Problem != "" {
		t.Errorf("LedgerHealth = %+v", h)
	}
	if _, err := svc.Trail.LedgerHealth(ctx, a.Service); !errors.Is(err, garde.ErrForbidden) {
		t.Errorf("LedgerHealth as service = %v, want ErrForbidden", err)
	}
}

func TestArt30AndDiff(t *testing.T) {
	ctx := context.Background()
	svc, clk, a, b := newDashboardService(t)
	clk.Advance(24 * time.Hour)
	v2 := strings.Replace(gardetest.ExampleRegister, "retention: 90d", "retention: 60d", 1) + `  - id: fraud_detection
    description: Detect fraudulent accounts
    legal_basis: legitimate_interests
    categories: [user.contact.email]
    retention: 30d
`
	if _, err := svc.Tenancy.ApplyRegister(ctx, a.Admin, []byte(v2)); err != nil {
		t.Fatal(err)
	}
	rec, err := svc.Tenancy.Art30(ctx, a.DPO, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Version != 2 || rec.Controller.Name != "Example SAS" || rec.DPO.Name != "Camille Durand" || len(rec.Activities) != 3 {
		t.Fatalf("Art30 = v%d %q %q, %d activities", rec.Version, rec.Controller.Name, rec.DPO.Name, len(rec.Activities))
	}
	day1, day2 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC), time.Date(2026, 3, 3, 8, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		ref              string
		created, updated time.Time
		retention        string
	}{
		{"answer_support_request", day1, day1, "365d"},
		{"improve_replies", day1, day2, "60d"},
		{"fraud_detection", day2, day2, "30d"},
	} {
		var got *register.Art30Activity
		for i := range rec.Activities {
			if rec.Activities[i].Ref == tt.ref {
				got = &rec.Activities[i]
			}
		}
		if got == nil || !got.CreatedAt.Equal(tt.created) || !got.UpdatedAt.Equal(tt.updated) || got.Retention != tt.retention {
			t.Errorf("activity %s = %+v, want created %v, updated %v, retention %s", tt.ref, got, tt.created, tt.updated, tt.retention)
		}
	}
	if got := strings.Join(rec.Processor.SubProcessors, ";"); got != "Helpdesk SaaS (FR)" {
		t.Errorf("sub-processors = %q", got)
	}
	if len(rec.Processor.Categories) != 3 {
		t.Errorf("processor categories = %q", rec.Processor.Categories)
	}
	old, err := svc.Tenancy.Art30(ctx, a.DPO, 1)
	if err != nil || old.Version != 1 || len(old.Activities) != 2 {
		t.Errorf("Art30(v1) = v%d, %d activities, %v", old.Version, len(old.Activities), err)
	}
	// Tenant B's record is B's own.
	if rb, err := svc.Tenancy.Art30(ctx, b.DPO, 0); err != nil || rb.Version != 1 || len(rb.Activities) != 2 {
		t.Errorf("B's Art30 = v%d, %d activities, %v", rb.Version, len(rb.Activities), err)
	}

	d, err := svc.Tenancy.DiffRegister(ctx, a.DPO, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	var plus, minus []string
	for _, l := range d.Lines {
		switch l.Op {
		case '+':
			plus = append(plus, strings.TrimSpace(l.Text))
		case '-':
			minus = append(minus, strings.TrimSpace(l.Text))
		}
	}
	if strings.Join(minus, "|") != "retention: 90d" || len(plus) != 6 || plus[0] != "retention: 60d" || plus[1] != "- id: fraud_detection" {
		t.Errorf("DiffRegister: -%q +%q", minus, plus)
	}
	if _, err := svc.Tenancy.DiffRegister(ctx, a.DPO, 1, 9); !errors.Is(err, garde.ErrNotFound) {
		t.Errorf("DiffRegister to a missing version = %v, want ErrNotFound", err)
	}
}
