package garde_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/notify"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/register"
	"github.com/garde-privacy/garde/sqlite"
)

func TestCheckDeployment(t *testing.T) {
	eu, err := register.ParseRegister([]byte(gardetest.ExampleRegister))
	if err != nil {
		t.Fatal(err)
	}
	us, err := register.ParseRegister([]byte(gardetest.ExampleRegister + "transfers: [{country: US, safeguard: scc, reference: SCC 2021/914 module 3}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		reg    *register.Register
		region string
		ok     bool
	}{
		{eu, "", true},
		{eu, "eu-west-3", true},
		{eu, "DE", true},
		{eu, "NO", true}, // EEA
		{eu, "us-east-1", false},
		{eu, "CH", false}, // adequacy is a safeguard to record, not a default
		{eu, "atlantis-1", false},
		{us, "us-east-1", true},
		{us, "ap-southeast-1", false},
	}
	for _, tt := range tests {
		err := tt.reg.CheckDeployment(tt.region)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, garde.ErrForbidden)) {
			t.Errorf("CheckDeployment(%q) with %d transfers = %v, want ok=%v", tt.region, len(tt.reg.Transfers), err, tt.ok)
		}
	}
}

func TestCheckRecipient(t *testing.T) {
	reg, err := register.ParseRegister([]byte(strings.Replace(gardetest.ExampleRegister,
		"recipients: [{name: Helpdesk SaaS, country: FR, role: processor}]",
		"recipients: [{name: Helpdesk SaaS, country: FR, role: processor, endpoint: 'https://helpdesk.example/erase?t=1'}, {name: Analytics, country: US, role: processor, endpoint: 'https://us.example/hook'}]\n    transfers: [{country: US, recipient: Analytics, safeguard: scc}]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	for endpoint, ok := range map[string]bool{
		"https://helpdesk.example/erase?t=1": true,
		"HTTPS://Helpdesk.Example/erase?t=1": true,
		"https://us.example/hook":            true, // transfer recorded
		"https://helpdesk.example/erase?t=2": false,
		"https://helpdesk.example/erase":     false,
		"https://evil.example/erase?t=1":     false,
		"http://helpdesk.example/erase?t=1":  false,
		"":                                   false,
	} {
		if err := reg.CheckRecipient(endpoint); (err == nil) != ok {
			t.Errorf("CheckRecipient(%q) = %v, want ok=%v", endpoint, err, ok)
		}
	}
}

func newResidencyService(t *testing.T) (*app.Service, *gardetest.Clock) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	return app.New(db, gardetest.MasterKeys(t), clk), clk
}

func TestCheckResidency(t *testing.T) {
	ctx := context.Background()
	s, _ := newResidencyService(t)
	if err := s.Tenancy.CheckResidency(ctx, "us-east-1"); err == nil {
		t.Error("a US deployment with no tenant (no transfer anywhere) starts")
	}
	if err := s.Tenancy.CheckResidency(ctx, "eu-west-3"); err != nil {
		t.Errorf("an EU deployment with no tenant: %v", err)
	}
	a := gardetest.NewTenant(t, s, "A")
	b := gardetest.NewTenant(t, s, "B")
	if err := s.Tenancy.CheckResidency(ctx, "eu-central-1"); err != nil {
		t.Errorf("EU deployment, EU registers: %v", err)
	}
	if _, err := s.Tenancy.ApplyRegister(ctx, b.Admin, []byte(gardetest.ExampleRegister+"transfers: [{country: US, safeguard: scc}]\n")); err != nil {
		t.Fatal(err)
	}
	err := s.Tenancy.CheckResidency(ctx, "us-east-1")
	if err == nil || !strings.Contains(err.Error(), string(a.ID)) || strings.Contains(err.Error(), string(b.ID)) {
		t.Errorf("US deployment, only B records a transfer: %v, want a refusal naming A only", err)
	}
	if _, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte(gardetest.ExampleRegister+"transfers: [{country: US, safeguard: adequacy, reference: EU-US DPF}]\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Tenancy.CheckResidency(ctx, "us-east-1"); err != nil {
		t.Errorf("US deployment, every register records a transfer: %v", err)
	}
	if err := s.Tenancy.CheckResidency(ctx, "nowhere"); !errors.Is(err, garde.ErrInvalid) {
		t.Errorf("unknown region: %v, want ErrInvalid", err)
	}
}

type countingSender struct{ n atomic.Int32 }

func (c *countingSender) Send(ctx context.Context, w notify.Hook) error {
	c.n.Add(1)
	return nil
}

// TestNoDeliveryOutsideRegister: an erasure notice queued for a recipient
// that the register no longer lists when it is due is never sent.
func TestNoDeliveryOutsideRegister(t *testing.T) {
	ctx := context.Background()
	s, _ := newResidencyService(t)
	a := gardetest.NewTenant(t, s, "A")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hook.Close()
	with := strings.Replace(gardetest.ExampleRegister, "recipients: [{name: Helpdesk SaaS, country: FR, role: processor}]",
		"recipients: [{name: Helpdesk SaaS, country: FR, role: processor, endpoint: '"+hook.URL+"/erase'}]", 1)
	if _, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte(with)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "kim", Purpose: "answer_support_request", Text: "bonjour"}}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestErasure})
	if err != nil {
		t.Fatal(err)
	}
	// The recipient is struck off the register before the notice leaves.
	if _, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte(gardetest.ExampleRegister)); err != nil {
		t.Fatal(err)
	}
	sender := &countingSender{}
	if _, err := s.Rights.SendDeliveries(ctx, rights.RightsJobs{Sender: sender}); err != nil {
		t.Fatal(err)
	}
	if n := sender.n.Load(); n != 0 {
		t.Fatalf("%d notices sent to a recipient the register does not list", n)
	}
	ds, err := s.Rights.RequestDeliveries(ctx, a.DPO, r.Request.ID)
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	if d := ds[0]; d.Status != garde.DeliveryDead || d.LastError != "not_in_register" {
		t.Fatalf("delivery = %+v, want dead with not_in_register", d)
	}
}
