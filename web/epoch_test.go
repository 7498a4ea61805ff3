package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/ledger"
	"github.com/garde-privacy/garde/postgres"
	"github.com/garde-privacy/garde/postgres/postgrestest"
	"github.com/garde-privacy/garde/sqlite"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestLedgerForkProblem: when the checkpoint store holds a checkpoint the
// log is now behind (a restored backup), the API refuses to sign with a
// 409 problem that names the ledger and what to run, not a 500.
func TestLedgerForkProblem(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	cs := newCheckpointStore(t)
	e.svc.SetCheckpointStore(cs)
	key := e.a.Keys[garde.RoleDPO]
	r := e.do(key, "GET", "/v1/ledger/checkpoint", "", 200)
	c, err := ledger.PeekCheckpoint(r.body)
	if err != nil {
		t.Fatalf("checkpoint: %v\n%s", err, r.body)
	}
	// What a lost branch leaves in the store: a larger checkpoint of this
	// identity, published.
	if _, err := cs.RecordCheckpoint(ctx, e.a.ID, garde.RecordedCheckpoint{Origin: c.Origin, Size: c.Size + 5, Root: c.Hash, Note: r.body}); err != nil {
		t.Fatal(err)
	}
	e.do(e.a.Keys[garde.RoleService], "POST", "/v1/messages", `{"subject":"kim","purpose":"answer_support_request","text":"bonjour"}`, 201)
	r = e.do(key, "GET", "/v1/ledger/checkpoint", "", 409)
	p := r.json(t)
	if detail, _ := p["detail"].(string); !strings.Contains(detail, c.Origin) || !strings.Contains(detail, "new-epoch") || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("409 problem = %s (%s), want the log named and garde ledger new-epoch", r.body, r.header.Get("Content-Type"))
	}
}

// newCheckpointStore is a checkpoint store apart from the data store of
// dashtest.OpenStore's backend.
func newCheckpointStore(t *testing.T) garde.CheckpointStore {
	t.Helper()
	ctx := context.Background()
	var cs garde.CheckpointStore
	var err error
	if os.Getenv("GARDE_TEST_STORE") == "postgres" {
		dsn := postgrestest.DSN(t)
		pool, perr := pgxpool.New(ctx, dsn)
		if perr != nil {
			t.Fatal(perr)
		}
		t.Cleanup(pool.Close)
		cs, err = postgres.NewCheckpointStore(ctx, pool, postgrestest.NewSchema(t, dsn))
	} else {
		kdb, oerr := sqlite.OpenKeysDB(filepath.Join(t.TempDir(), "keys.db"))
		if oerr != nil {
			t.Fatal(oerr)
		}
		t.Cleanup(func() { kdb.Close() })
		cs, err = sqlite.NewCheckpointStore(ctx, kdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestDashboardShowsEpochs: after a new ledger epoch the overview lists
// both identities, the log still verifies, and the page says so.
func TestDashboardShowsEpochs(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.svc.SetCheckpointStore(newCheckpointStore(t))
	e.do(e.a.Keys[garde.RoleService], "POST", "/v1/messages", `{"subject":"kim","purpose":"answer_support_request","text":"bonjour"}`, 201)
	e.do(e.a.Keys[garde.RoleDPO], "GET", "/v1/ledger/checkpoint", "", 200)
	if _, err := e.svc.Trail.NewLedgerEpoch(ctx, e.a.ID); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e.ts)
	b.signIn(e.a.Keys[garde.RoleDPO])
	r := b.get("/dashboard/overview")
	body := string(r.body)
	if r.status != 200 || !strings.Contains(body, `id="ledger-epochs"`) || !strings.Contains(body, trail.EpochOrigin(e.a.ID, 1)+"</code>") ||
		!strings.Contains(body, trail.EpochOrigin(e.a.ID, 2)+"</code>") || !strings.Contains(body, `class="ok" id="ledger-status"`) {
		t.Fatalf("overview = %d, want both epochs listed and the ledger verified\n%s", r.status, body)
	}
}
