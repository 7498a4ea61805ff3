package gardetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

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
	s := garde.NewService(st, MasterKeys(t), NewClock(epoch))
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
	_, err := s.Ingest(ctx, tn.Service, []garde.NewMessage{{Subject: "customer-1", Purpose: "marketing", Text: "hi"}})
	if !errors.Is(err, garde.ErrForbidden) {
		t.Fatalf("Ingest(purpose not in register, client gone) = %v, want ErrForbidden", err)
	}
	if got := count(tn.ID, garde.ActionMessageWrite, "purpose_not_in_register"); got != 1 {
		t.Errorf("message.write refusals audited after a hang-up = %d, want 1", got)
	}

	// A lock-out recorded after the client is gone.
	ctx, cancel = context.WithCancel(bg)
	cancel()
	s.RecordLockout(ctx, "addr_test", 20, epoch.Add(5*time.Minute))
	if got := count(garde.OperatorTenant, garde.ActionAuthLockout, "locked_until "+epoch.Add(5*time.Minute).Format(time.RFC3339)); got != 1 {
		t.Errorf("auth.lockout rows recorded under a cancelled context = %d, want 1", got)
	}
}

