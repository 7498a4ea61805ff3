package gardetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/garde-privacy/garde/breach"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde"
)

// testBreachStore checks the contract of garde.BreachTx: rows per scope,
// the unique detector key, per-scope event sequences, and escalation
// claims with their lease.
func testBreachStore(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	b := NewTenant(t, s, "B")
	at := epoch
	rec := garde.BreachRecord{Tenant: garde.OperatorTenant, ID: "brc_1", Owner: garde.OperatorTenant, Tenants: []garde.TenantID{a.ID}, CreatedAt: at, CreatedBy: "cli", DetectorKey: "auth_burst::x"}
	k := garde.EscalationKey{BreachID: "brc_1", Point: 24 * time.Hour, Channel: breach.ChannelEmail}
	// Each step is one transaction; a step that expects a constraint
	// violation returns it, since PostgreSQL aborts the transaction.
	steps := []struct {
		name string
		fn   func(tx garde.Tx) error
		want error
	}{
		{"create", func(tx garde.Tx) error {
			if err := tx.CreateBreach(ctx, rec); err != nil {
				return err
			}
			later := rec
			later.ID, later.CreatedAt, later.DetectorKey, later.Tenants = "brc_2", at.Add(time.Second), "", nil
			return tx.CreateBreach(ctx, later)
		}, nil},
		{"detector key is unique per owner", func(tx garde.Tx) error {
			dup := rec
			dup.ID = "brc_3"
			return tx.CreateBreach(ctx, dup)
		}, garde.ErrConflict},
		{"rows per scope", func(tx garde.Tx) error {
			own, err := tx.Breach(ctx, garde.OperatorTenant, "brc_1")
			if err != nil {
				return err
			}
			if own.Owner != garde.OperatorTenant || !slices.Equal(own.Tenants, []garde.TenantID{a.ID}) || own.DetectorKey != "auth_burst::x" || !own.CreatedAt.Equal(at) || own.CreatedBy != "cli" {
				return fmt.Errorf("Breach(owner) = %+v", own)
			}
			mine, err := tx.Breach(ctx, a.ID, "brc_1")
			if err != nil {
				return err
			}
			if mine.Tenant != a.ID || mine.Owner != garde.OperatorTenant || len(mine.Tenants) != 0 {
				return fmt.Errorf("Breach(affected) = %+v", mine)
			}
			if _, err := tx.Breach(ctx, b.ID, "brc_1"); !errors.Is(err, garde.ErrNotFound) {
				return fmt.Errorf("Breach(unaffected) = %v, want ErrNotFound", err)
			}
			list, err := tx.Breaches(ctx, garde.OperatorTenant)
			if err != nil {
				return err
			}
			if len(list) != 2 || list[0].ID != "brc_2" || list[1].ID != "brc_1" {
				return fmt.Errorf("Breaches(operator) = %+v, want brc_2 then brc_1", list)
			}
			if list, err := tx.Breaches(ctx, b.ID); err != nil || len(list) != 0 {
				return fmt.Errorf("Breaches(B) = %d rows, %v; want none", len(list), err)
			}
			return nil
		}, nil},
		{"add tenants", func(tx garde.Tx) error {
			if err := tx.AddBreachTenants(ctx, garde.OperatorTenant, "brc_1", []garde.TenantID{a.ID, b.ID}); err != nil {
				return err
			}
			own, err := tx.Breach(ctx, garde.OperatorTenant, "brc_1")
			if err != nil || len(own.Tenants) != 2 {
				return fmt.Errorf("after AddBreachTenants: %+v, %v", own, err)
			}
			if _, err := tx.Breach(ctx, b.ID, "brc_1"); err != nil {
				return fmt.Errorf("Breach(B) after AddBreachTenants = %v", err)
			}
			if err := tx.AddBreachTenants(ctx, garde.OperatorTenant, "brc_missing", nil); !errors.Is(err, garde.ErrNotFound) {
				return fmt.Errorf("AddBreachTenants(missing) = %v, want ErrNotFound", err)
			}
			return nil
		}, nil},
		{"events per scope", func(tx garde.Tx) error {
			for _, e := range []garde.BreachEvent{
				{Tenant: garde.OperatorTenant, BreachID: "brc_1", Seq: 1, At: at, Actor: "cli", Kind: breach.BreachEventCreate, Body: []byte(`{"status":"open"}`)},
				{Tenant: garde.OperatorTenant, BreachID: "brc_1", Seq: 2, At: at.Add(time.Minute), Actor: "cli", Kind: breach.BreachEventUpdate, Body: []byte(`{}`)},
				{Tenant: a.ID, BreachID: "brc_1", Seq: 1, At: at.Add(time.Minute), Actor: a.DPO.KeyID, Kind: breach.BreachEventUpdate, Body: []byte(`{"decision":"notify"}`)},
			} {
				if err := tx.AppendBreachEvent(ctx, e); err != nil {
					return err
				}
			}
			ops, err := tx.BreachEvents(ctx, garde.OperatorTenant, "brc_1")
			if err != nil || len(ops) != 2 || ops[0].Seq != 1 || ops[1].Seq != 2 || string(ops[0].Body) != `{"status":"open"}` || !ops[1].At.Equal(at.Add(time.Minute)) {
				return fmt.Errorf("BreachEvents(operator) = %+v, %v", ops, err)
			}
			mine, err := tx.BreachEvents(ctx, a.ID, "brc_1")
			if err != nil || len(mine) != 1 || mine[0].Tenant != a.ID || mine[0].Actor != a.DPO.KeyID {
				return fmt.Errorf("BreachEvents(A) = %+v, %v", mine, err)
			}
			if none, err := tx.BreachEvents(ctx, b.ID, "brc_1"); err != nil || len(none) != 0 {
				return fmt.Errorf("BreachEvents(B) = %d, %v; want none", len(none), err)
			}
			return nil
		}, nil},
		{"event seq is unique per scope", func(tx garde.Tx) error {
			return tx.AppendBreachEvent(ctx, garde.BreachEvent{Tenant: a.ID, BreachID: "brc_1", Seq: 1, At: at, Actor: "x", Kind: breach.BreachEventUpdate, Body: []byte(`{}`)})
		}, garde.ErrConflict},
		{"first claim", func(tx garde.Tx) error {
			ok, err := tx.ClaimEscalation(ctx, a.ID, k, "n1", at, at.Add(5*time.Minute))
			if err != nil || !ok {
				return fmt.Errorf("ClaimEscalation(new) = %v, %v; want true", ok, err)
			}
			return nil
		}, nil},
		{"claim within the lease", func(tx garde.Tx) error {
			ok, err := tx.ClaimEscalation(ctx, a.ID, k, "n2", at.Add(time.Minute), at.Add(6*time.Minute))
			if err != nil || ok {
				return fmt.Errorf("ClaimEscalation(leased) = %v, %v; want false", ok, err)
			}
			// The same key for another tenant is another escalation.
			ok, err = tx.ClaimEscalation(ctx, b.ID, k, "n2", at.Add(time.Minute), at.Add(6*time.Minute))
			if err != nil || !ok {
				return fmt.Errorf("ClaimEscalation(other tenant) = %v, %v; want true", ok, err)
			}
			return nil
		}, nil},
		{"claim after the lease", func(tx garde.Tx) error {
			ok, err := tx.ClaimEscalation(ctx, a.ID, k, "n2", at.Add(10*time.Minute), at.Add(15*time.Minute))
			if err != nil || !ok {
				return fmt.Errorf("ClaimEscalation(expired) = %v, %v; want true", ok, err)
			}
			return tx.CompleteEscalation(ctx, a.ID, k, at.Add(11*time.Minute))
		}, nil},
		{"sent is final", func(tx garde.Tx) error {
			ok, err := tx.ClaimEscalation(ctx, a.ID, k, "n3", at.Add(time.Hour), at.Add(2*time.Hour))
			if err != nil || ok {
				return fmt.Errorf("ClaimEscalation(sent) = %v, %v; want false", ok, err)
			}
			rs, err := tx.Escalations(ctx, a.ID, "brc_1")
			if err != nil || len(rs) != 1 {
				return fmt.Errorf("Escalations(A) = %+v, %v", rs, err)
			}
			r := rs[0]
			if r.Key != k || r.Node != "n2" || r.Attempts != 2 || !r.SentAt.Equal(at.Add(11*time.Minute)) || !r.LeaseUntil.Equal(at.Add(15*time.Minute)) {
				return fmt.Errorf("Escalations(A)[0] = %+v", r)
			}
			if err := tx.CompleteEscalation(ctx, a.ID, garde.EscalationKey{BreachID: "brc_9", Channel: "email"}, at); !errors.Is(err, garde.ErrNotFound) {
				return fmt.Errorf("CompleteEscalation(missing) = %v, want ErrNotFound", err)
			}
			return nil
		}, nil},
	}
	for _, step := range steps {
		err := st.Update(ctx, step.fn)
		if step.want == nil && err != nil || step.want != nil && !errors.Is(err, step.want) {
			t.Fatalf("%s: %v, want %v", step.name, err, step.want)
		}
	}
}

// testBreachUseCases runs the breach register through the use cases: an
// operator breach seen by its affected tenant only, and its clock.
func testBreachUseCases(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a := NewTenant(t, s, "A")
	b := NewTenant(t, s, "B")
	aware := clk.Now()
	desc := "Platform incident"
	br, err := s.Breach.CreateBreach(ctx, Operator, breach.NewBreach{
		BreachChange: breach.BreachChange{AwareAt: &aware, Nature: []string{breach.NatureAvailability}, Description: &desc},
		Tenants:      []garde.TenantID{a.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !br.NotifyBy.Equal(aware.Add(breach.BreachDeadline)) {
		t.Fatalf("notify by %v, want aware + %v", br.NotifyBy, breach.BreachDeadline)
	}
	if _, err := s.Breach.Breach(ctx, b.DPO, br.ID); !errors.Is(err, garde.ErrNotFound) {
		t.Fatalf("B reading A's breach = %v, want ErrNotFound", err)
	}
	got, err := s.Breach.Breach(ctx, a.DPO, br.ID)
	if err != nil || !slices.Equal(got.Tenants, []garde.TenantID{a.ID}) {
		t.Fatalf("A's view = %+v, %v", got, err)
	}
	var sent []string
	n := notifierFunc(func(ctx context.Context, e breach.Escalation) error {
		sent = append(sent, fmt.Sprintf("%s %s %s", e.Tenant, e.DPO.Email, e.Point))
		return nil
	})
	c := breach.BreachClock{Email: n, OperatorDPO: register.Party{Name: "Operator DPO", Email: "dpo@operator.example"}}
	for range 2 {
		if _, err := s.Breach.EscalateBreaches(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{" dpo@operator.example 0s", string(a.ID) + " dpo@example.com 0s"}
	if !slices.Equal(sent, want) {
		t.Fatalf("escalations = %q, want %q", sent, want)
	}
}

type notifierFunc func(ctx context.Context, e breach.Escalation) error

func (f notifierFunc) Notify(ctx context.Context, e breach.Escalation) error { return f(ctx, e) }

// testBreach is the breach register's part of the suite.
func testBreach(t *testing.T, open Open) {
	t.Run("Store", func(t *testing.T) { testBreachStore(t, open) })
	t.Run("UseCases", func(t *testing.T) { testBreachUseCases(t, open) })
}
