// Package gardetest holds the conformance suite that every storage backend
// passes, and fixtures shared by the tests of other packages.
package gardetest

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/keyring"
)

// ExampleRegister is a small register valid for tests: a contract purpose
// that takes free text, email and phone, and a consent purpose.
const ExampleRegister = `
controller: {name: Example SAS, address: "1 rue de la Paix, 75002 Paris", contact: privacy@example.com}
dpo: {name: Camille Durand, email: dpo@example.com}
region: eu-west-3
purposes:
  - id: answer_support_request
    description: Answer the end user's support request
    legal_basis: contract
    data_subjects: [customer]
    categories: [user.contact.email, user.contact.phone_number, user.name, user.content.private]
    retention: 365d
    recipients: [{name: Helpdesk SaaS, country: FR, role: processor}]
    anonymize: {user.contact.email: pseudonymize}
  - id: improve_replies
    legal_basis: consent
    categories: [user.content.private]
    retention: 90d
    on_withdrawal: erase
`

// Clock is a settable clock for tests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t.UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// MasterKeys returns a fresh master key file under t.TempDir().
func MasterKeys(t testing.TB) *keyring.FileKeys {
	t.Helper()
	mk, _, err := keyring.LoadOrCreateFile(filepath.Join(t.TempDir(), "master.key"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return mk
}

// Operator is the principal the command line acts as.
var Operator = garde.Principal{KeyID: "cli", Role: garde.RoleOperator}

// Tenant creates a tenant with the example register applied and returns
// principals for each of its roles.
type Tenant struct {
	ID      garde.TenantID
	Admin   garde.Principal
	Service garde.Principal
	DPO     garde.Principal
	// Keys holds the API key texts by role.
	Keys map[garde.Role]string
}

// NewTenant creates a tenant, applies ExampleRegister and creates one key
// per role.
func NewTenant(t testing.TB, s *app.Service, name string) Tenant {
	t.Helper()
	ctx := context.Background()
	tn, adminText, err := s.Tenancy.CreateTenant(ctx, Operator, name)
	if err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	admin, err := s.Authenticate(ctx, adminText)
	if err != nil {
		t.Fatalf("Authenticate(admin): %v", err)
	}
	if _, err := s.Tenancy.ApplyRegister(ctx, admin, []byte(ExampleRegister)); err != nil {
		t.Fatalf("ApplyRegister: %v", err)
	}
	out := Tenant{ID: tn.ID, Admin: admin, Keys: map[garde.Role]string{garde.RoleAdmin: adminText}}
	for _, role := range garde.TenantRoles {
		if role == garde.RoleAdmin {
			continue // the tenant's first key, above
		}
		_, text, err := s.Tenancy.CreateAPIKey(ctx, admin, string(role))
		if err != nil {
			t.Fatalf("CreateAPIKey(%s): %v", role, err)
		}
		p, err := s.Authenticate(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		out.Keys[role] = text
		if role == garde.RoleService {
			out.Service = p
		} else {
			out.DPO = p
		}
	}
	return out
}
