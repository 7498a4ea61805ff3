package gardetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
)

// hangUpStore is a real store that plays a client hanging up: once armed,
// it cancels the request's context as soon as the next transaction ends —
// the moment a use case has decided to refuse and goes on to audit the
// refusal. Nothing is faked: every statement runs on the real database.
type hangUpStore struct {
	garde.Store
	mu     sync.Mutex
	cancel context.CancelFunc
}

// KeyStore and CheckpointStore are the wrapped store's.
func (h *hangUpStore) KeyStore() garde.KeyStore {
	return h.Store.(garde.KeyStoreProvider).KeyStore()
}

func (h *hangUpStore) CheckpointStore() garde.CheckpointStore {
	if cp, ok := h.Store.(garde.CheckpointStoreProvider); ok {
		return cp.CheckpointStore()
	}
	return nil
}

func (h *hangUpStore) arm(cancel context.CancelFunc) {
	h.mu.Lock()
	h.cancel = cancel
	h.mu.Unlock()
}

func (h *hangUpStore) hangUp() {
	h.mu.Lock()
	c := h.cancel
	h.cancel = nil
	h.mu.Unlock()
	if c != nil {
		c()
	}
}

func (h *hangUpStore) Update(ctx context.Context, fn func(garde.Tx) error) error {
	defer h.hangUp()
	return h.Store.Update(ctx, fn)
}

func (h *hangUpStore) View(ctx context.Context, fn func(garde.Tx) error) error {
	defer h.hangUp()
	return h.Store.View(ctx, fn)
}

// testDenialsOutliveHangUp: a refusal is audited even when the client
// disconnected between the refusal and its audit row (the request's
// context is cancelled by then), so that hanging up erases no trace.
func testDenialsOutliveHangUp(t *testing.T, open Open) {
	bg := context.Background()
	st := &hangUpStore{Store: open(t)}
	s := app.New(st, MasterKeys(t), NewClock(epoch))
	tn := NewTenant(t, s, "Acme")

	count := func(tenant garde.TenantID, action, reason string) int {
		t.Helper()
		var n int
		err := st.Store.View(bg, func(tx garde.Tx) error {
			evs, err := tx.Audit(bg, tenant, garde.AuditFilter{Action: action, Limit: garde.MaxAuditPage})
			for _, e := range evs {
				if e.Outcome == garde.OutcomeDenied && e.Reason == reason {
					n++
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// A wrong secret for a key that exists: the look-up succeeds, the
	// client hangs up, the failure is still on the tenant's trail.
	wrong := tn.Keys[garde.RoleService][:len(tn.Keys[garde.RoleService])-1] + "x"
	if tn.Keys[garde.RoleService] == wrong {
		wrong = wrong[:len(wrong)-1] + "y"
	}
	before := count(tn.ID, garde.ActionAuthFail, "wrong_secret")
	ctx, cancel := context.WithCancel(bg)
	st.arm(cancel)
	if _, err := s.Authenticate(ctx, wrong); !errors.Is(err, garde.ErrUnauthenticated) {
		t.Fatalf("Authenticate(wrong secret, client gone) = %v, want ErrUnauthenticated", err)
	}
	if ctx.Err() == nil {
		t.Fatal("the client did not hang up: the test proves nothing")
	}
	if got := count(tn.ID, garde.ActionAuthFail, "wrong_secret"); got != before+1 {
		t.Errorf("auth.fail wrong_secret rows after a hang-up = %d, want %d", got, before+1)
	}

	// A write the register refuses, the client gone when the refusal is
	// decided.
	ctx, cancel = context.WithCancel(bg)
	st.arm(cancel)
	_, err := s.Vault.Ingest(ctx, tn.Service, []vault.NewMessage{{Subject: "customer-1", Purpose: "marketing", Text: "hi"}})
	if !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("Ingest(purpose not in register, client gone) = %v, want ErrForbidden", err)
	}
	if got := count(tn.ID, garde.ActionMessageWrite, "purpose_not_in_register"); got != 1 {
		t.Errorf("message.write refusals audited after a hang-up = %d, want 1", got)
	}

	// A lock-out recorded after the client is gone.
	ctx, cancel = context.WithCancel(bg)
	cancel()
	s.RecordLockout(ctx, garde.OperatorTenant, "addr_test", "addr", 20, epoch.Add(5*time.Minute))
	if got := count(garde.OperatorTenant, garde.ActionAuthLockout, "addr locked_until "+epoch.Add(5*time.Minute).Format(time.RFC3339)); got != 1 {
		t.Errorf("auth.lockout rows recorded under a cancelled context = %d, want 1", got)
	}
}

// testLastAdminKey: a tenant's last valid admin key cannot be revoked, even
// by two revocations racing for the last two; the master key's holder can
// issue a new one.
func testLastAdminKey(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	tn := NewTenant(t, s, "Acme")

	if err := s.Tenancy.RevokeAPIKey(ctx, tn.Admin, tn.Admin.KeyID); !errors.Is(err, garde.ErrLastAdminKey) || !errors.Is(err, garde.ErrConflict) {
		t.Fatalf("RevokeAPIKey(last admin key) = %v, want ErrLastAdminKey (a conflict)", err)
	}
	if _, err := s.Authenticate(ctx, tn.Keys[garde.RoleAdmin]); err != nil {
		t.Fatalf("the last admin key stopped working after a refused revocation: %v", err)
	}
	// Other roles' keys are no one's last resort.
	if err := s.Tenancy.RevokeAPIKey(ctx, tn.Admin, tn.Service.KeyID); err != nil {
		t.Fatalf("RevokeAPIKey(service key) = %v", err)
	}

	newAdmin := func() garde.Principal {
		t.Helper()
		_, text, err := s.Tenancy.CreateAPIKey(ctx, tn.Admin, "admin")
		if err != nil {
			t.Fatal(err)
		}
		p, err := s.Authenticate(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := func() int {
		t.Helper()
		n := 0
		err := st.View(ctx, func(tx garde.Tx) error {
			keys, err := tx.APIKeys(ctx, tn.ID)
			for _, k := range keys {
				if k.Role == garde.RoleAdmin && k.RevokedAt.IsZero() {
					n++
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Two admins revoking each other at the same moment: at most one
	// revocation may succeed, whatever the interleaving.
	cur := tn.Admin
	for round := range 8 {
		other := newAdmin()
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, pair := range [][2]garde.Principal{{cur, other}, {other, cur}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = s.Tenancy.RevokeAPIKey(ctx, pair[0], pair[1].KeyID)
			}()
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, garde.ErrLastAdminKey):
				t.Fatalf("round %d: concurrent revocation = %v, want nil or ErrLastAdminKey", round, err)
			}
		}
		if ok != 1 || valid() != 1 {
			t.Fatalf("round %d: %d of 2 concurrent revocations succeeded, %d admin keys left; want 1 and 1", round, ok, valid())
		}
		if errs[0] == nil { // cur revoked other
			continue
		}
		cur = other
	}

	// Recovery: whoever holds the master key issues a new admin key.
	k, text, err := s.Tenancy.RecoverAdminKey(ctx, tn.ID)
	if err != nil {
		t.Fatalf("RecoverAdminKey = %v", err)
	}
	p, err := s.Authenticate(ctx, text)
	if err != nil || p.Tenant != tn.ID || p.Role != garde.RoleAdmin || p.KeyID != k.ID {
		t.Fatalf("Authenticate(recovered key) = %+v, %v, want admin %s of %s", p, err, k.ID, tn.ID)
	}
	evs, err := s.Audit(ctx, p, garde.AuditFilter{Action: garde.ActionKeyRecover})
	if err != nil || len(evs) != 1 || evs[0].Reason != k.ID || evs[0].Actor != "cli" {
		t.Fatalf("audit of the recovery = %+v, %v, want one %s event naming %s", evs, err, garde.ActionKeyRecover, k.ID)
	}
	if _, _, err := s.Tenancy.RecoverAdminKey(ctx, "tn_missing"); !errors.Is(err, garde.ErrNotFound) {
		t.Errorf("RecoverAdminKey(unknown tenant) = %v, want ErrNotFound", err)
	}
	if _, err := s.Rights.OffboardTenant(ctx, Operator, tn.ID, func(rights.SubjectExport) error { return nil }, func(garde.MessageView) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Tenancy.RecoverAdminKey(ctx, tn.ID); !errors.Is(err, garde.ErrConflict) {
		t.Errorf("RecoverAdminKey(off-boarded tenant) = %v, want ErrConflict", err)
	}
}
