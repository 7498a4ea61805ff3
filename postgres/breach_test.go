package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/postgres"
)

// TestEscalationClaimedOnce has five nodes claim the same escalation at
// the same instant: exactly one gets it. Once its lease has expired
// unsent, another node takes it over; once sent, nobody claims it again.
func TestEscalationClaimedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, dsn, schema := openDB(t)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	k := garde.EscalationKey{BreachID: "br_1", Point: 48 * time.Hour, Channel: "email"}
	claim := func(db *postgres.DB, node string, at time.Time) (bool, error) {
		var ok bool
		err := db.Update(ctx, func(tx garde.Tx) error {
			var err error
			ok, err = tx.ClaimEscalation(ctx, "tn_a", k, node, at, at.Add(time.Minute))
			return err
		})
		return ok, err
	}
	dbs := []*postgres.DB{first}
	for range 4 {
		db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema, MaxConns: 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	var won atomic.Int32
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() {
			ok, err := claim(db, fmt.Sprintf("node-%d", i), now)
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if n := won.Load(); n != 1 {
		t.Fatalf("%d nodes claimed the escalation, want 1", n)
	}
	if ok, err := claim(first, "late", now.Add(30*time.Second)); err != nil || ok {
		t.Fatalf("claim under a live lease = %v, %v; want false", ok, err)
	}
	if ok, err := claim(dbs[1], "takeover", now.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("claim after the lease expired = %v, %v; want true", ok, err)
	}
	err := first.Update(ctx, func(tx garde.Tx) error { return tx.CompleteEscalation(ctx, "tn_a", k, now.Add(2*time.Minute)) })
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := claim(dbs[2], "after-sent", now.Add(time.Hour)); err != nil || ok {
		t.Fatalf("claim after sending = %v, %v; want false", ok, err)
	}
	var recs []garde.EscalationRecord
	first.View(ctx, func(tx garde.Tx) error {
		var err error
		recs, err = tx.Escalations(ctx, "tn_a", "br_1")
		return err
	})
	if len(recs) != 1 || recs[0].Attempts != 2 || recs[0].Node != "takeover" || recs[0].SentAt.IsZero() || recs[0].Key.Point != 48*time.Hour {
		t.Fatalf("Escalations = %+v", recs)
	}
}
