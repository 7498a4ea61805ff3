package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/trail"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/postgres"
)

// TestSeveralNodes runs three garde nodes (a Service and a connection pool
// each, as three processes would have) on one database, all writing to the
// same tenant at once: messages, consents and checkpoints. Afterwards every
// acknowledged write is there, the tenant's log verifies (no fork: one leaf
// per index, every checkpoint consistent), and the audit trail has one
// entry per acknowledged write.
func TestSeveralNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	first, dsn, schema := openDB(t)
	mk := gardetest.MasterKeys(t)
	const nodes = 3
	svcs := make([]*app.Service, nodes)
	dbs := []*postgres.DB{first}
	svcs[0] = app.New(first, mk, garde.SystemClock{})
	for i := 1; i < nodes; i++ {
		db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
		svcs[i] = app.New(db, mk, garde.SystemClock{})
	}
	tn := gardetest.NewTenant(t, svcs[0], "Nodes SAS")
	if _, err := svcs[0].Consent.PublishNotice(ctx, tn.Admin, "improve_replies", "fr", "Nous utilisons vos messages pour améliorer nos réponses."); err != nil {
		t.Fatal(err)
	}

	const rounds = 15
	type ack struct {
		subject string
		ids     []string
	}
	var mu sync.Mutex
	var acks []ack
	consents := 0
	var wg sync.WaitGroup
	errs := make(chan error, nodes*rounds*3)
	for n := range nodes {
		wg.Go(func() {
			s := svcs[n]
			for r := range rounds {
				subject := fmt.Sprintf("node%d-subject%d", n, r%4)
				var msgs []vault.NewMessage
				for j := range 3 {
					msgs = append(msgs, vault.NewMessage{Subject: subject, Purpose: "answer_support_request", Text: fmt.Sprintf("node %d round %d message %d", n, r, j)})
				}
				out, err := s.Vault.Ingest(ctx, tn.Service, msgs)
				if err != nil {
					errs <- fmt.Errorf("node %d ingest: %w", n, err)
					continue
				}
				a := ack{subject: subject}
				for _, m := range out {
					a.ids = append(a.ids, m.ID)
				}
				mu.Lock()
				acks = append(acks, a)
				mu.Unlock()
				if r%3 == 0 {
					if _, err := s.Consent.RecordConsent(ctx, tn.Service, consent.ConsentInput{Subject: subject, Purpose: "improve_replies", Action: garde.ConsentGrant, Language: "fr", Method: "chat"}); err != nil {
						errs <- fmt.Errorf("node %d consent: %w", n, err)
					} else {
						mu.Lock()
						consents++
						mu.Unlock()
					}
				}
				if r%5 == 0 {
					if _, err := s.Trail.LedgerCheckpoint(ctx, tn.DPO); err != nil {
						errs <- fmt.Errorf("node %d checkpoint: %w", n, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// No lost write: every acknowledged message is there, once.
	total := 0
	for _, a := range acks {
		total += len(a.ids)
	}
	seen := map[string]bool{}
	for n := range nodes {
		for r := range 4 {
			subject := fmt.Sprintf("node%d-subject%d", n, r)
			got, err := svcs[(n+1)%nodes].Vault.SubjectMessages(ctx, tn.Service, subject, "answer_support_request")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got {
				if seen[m.ID] {
					t.Errorf("message %s stored twice", m.ID)
				}
				seen[m.ID] = true
			}
		}
	}
	for _, a := range acks {
		for _, id := range a.ids {
			if !seen[id] {
				t.Errorf("acknowledged message %s is missing", id)
			}
		}
	}
	if len(seen) != total {
		t.Errorf("%d messages stored, %d acknowledged", len(seen), total)
	}

	// No fork: the whole log verifies against the published key.
	key, err := svcs[2].Trail.LedgerVerifierKey(ctx, tn.DPO)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svcs[1].Trail.LedgerCheckpoint(ctx, tn.DPO); err != nil {
		t.Fatal(err)
	}
	rep, err := trail.VerifyLedger(ctx, first, tn.ID, key)
	if err != nil {
		t.Fatalf("VerifyLedger after concurrent appends from %d nodes: %v", nodes, err)
	}
	if rep.Consents != consents {
		t.Errorf("log holds %d consent entries, %d were acknowledged", rep.Consents, consents)
	}
	if rep.Signed != rep.Size || rep.Checkpoints < 2 {
		t.Errorf("log report %+v: want every leaf signed, several checkpoints", rep)
	}

	// One audit entry per acknowledged write, in a strictly increasing seq.
	events, err := svcs[0].Audit(ctx, tn.DPO, garde.AuditFilter{Action: garde.ActionMessageWrite, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for i, e := range events {
		count += e.Count
		if i > 0 && e.Seq <= events[i-1].Seq {
			t.Fatalf("audit seq not increasing: %d after %d", e.Seq, events[i-1].Seq)
		}
	}
	if count != total {
		t.Errorf("audit counts %d messages written, %d acknowledged", count, total)
	}
	retries := int64(0)
	for _, db := range dbs {
		retries += db.Retries()
	}
	t.Logf("%d nodes: %d messages, %d consents, log of %d leaves, %d checkpoints, %d transactions retried", nodes, total, consents, rep.Size, rep.Checkpoints, retries)
}

// TestBusyTenantLeavesConnections holds a write transaction of tenant A
// open while more writers of A queue behind it than the pool has
// connections: a writer of tenant B still gets a connection and commits at
// once, because writers queue for their tenant before they take one.
func TestBusyTenantLeavesConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tenant := func(id garde.TenantID) garde.Tenant {
		return garde.Tenant{ID: id, Name: string(id), CreatedAt: time.Now()}
	}
	hold, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		db.Update(ctx, func(tx garde.Tx) error {
			if err := tx.CreateTenant(ctx, tenant("tn_a")); err != nil {
				return err
			}
			close(held)
			<-hold
			return nil
		})
	})
	<-held
	for i := range 5 {
		wg.Go(func() {
			db.Update(ctx, func(tx garde.Tx) error {
				return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: "tn_a", At: time.Now(), Actor: fmt.Sprint(i), Action: "x", Outcome: "ok"}})
			})
		})
	}
	time.Sleep(200 * time.Millisecond) // let them queue
	start := time.Now()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = db.Update(bctx, func(tx garde.Tx) error { return tx.CreateTenant(bctx, tenant("tn_b")) })
	cancel()
	if err != nil {
		t.Fatalf("tenant B's write while A's writers queue: %v (after %v)", err, time.Since(start))
	}
	close(hold)
	wg.Wait()
	var events []garde.AuditEvent
	db.View(ctx, func(tx garde.Tx) error {
		events, err = tx.Audit(ctx, "tn_a", garde.AuditFilter{Limit: 100})
		return err
	})
	if len(events) != 5 {
		t.Fatalf("A's queued writers wrote %d events, want 5", len(events))
	}
}
