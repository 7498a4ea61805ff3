package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/postgres"
	"github.com/jackc/pgx/v5"
)

// benchBatch is the ingest batch size: a support conversation's worth of
// messages for a handful of subjects.
const benchBatch = 100

func benchMessages(i int) []vault.NewMessage {
	msgs := make([]vault.NewMessage, benchBatch)
	for j := range msgs {
		// 1000 subjects in rotation: after the first rounds, most exist.
		sub := fmt.Sprintf("customer-%04d", (i*benchBatch+j)%1000)
		msgs[j] = vault.NewMessage{
			Subject: sub, Purpose: "answer_support_request", Channel: "chat",
			Text:   fmt.Sprintf("Bonjour, ma commande %d n'est pas arrivée, pouvez-vous vérifier ? Merci, Jeanne", i*benchBatch+j),
			Fields: map[string]string{"user.contact.email": fmt.Sprintf("client%d@example.fr", j)},
		}
	}
	return msgs
}

type benchEnv struct {
	db   *postgres.DB
	svc  *app.Service
	tn   gardetest.Tenant
	rows []garde.Message // sealed rows the service wrote, to replay raw
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	ctx := context.Background()
	db, _, _ := openDB(b)
	svc := app.New(db, gardetest.MasterKeys(b), gardetest.NewClock(time.Now()))
	e := &benchEnv{db: db, svc: svc, tn: gardetest.NewTenant(b, svc, "Bench SAS")}
	// Warm up: create the subjects, and keep one batch of sealed rows
	// exactly as the service stores them.
	for i := range 10 {
		if _, err := svc.Vault.Ingest(ctx, e.tn.Service, benchMessages(i)); err != nil {
			b.Fatal(err)
		}
	}
	rows, err := db.Pool().Query(ctx, `SELECT tenant_id, subject_id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields FROM messages LIMIT $1`, benchBatch)
	if err != nil {
		b.Fatal(err)
	}
	e.rows, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (garde.Message, error) {
		var m garde.Message
		var tenant string
		err := r.Scan(&tenant, &m.SubjectID, &m.Purpose, &m.Channel, &m.CreatedAt, &m.ExpiresAt, &m.SealedText, &m.SealedFields)
		m.Tenant = garde.TenantID(tenant)
		return m, err
	})
	if err != nil || len(e.rows) != benchBatch {
		b.Fatalf("sample rows: %d, %v", len(e.rows), err)
	}
	return e
}

var columns = []string{"tenant_id", "id", "subject_id", "purpose", "channel", "created_at", "expires_at", "sealed_text", "sealed_fields"}

// copyBatch writes the sample rows, with fresh ids, with COPY in one
// transaction: the floor for storing the same bytes.
func (e *benchEnv) copyBatch(ctx context.Context) error {
	now := time.Now()
	return pgx.BeginFunc(ctx, e.db.Pool(), func(tx pgx.Tx) error {
		src := make([][]any, len(e.rows))
		for i, m := range e.rows {
			src[i] = []any{string(m.Tenant), garde.NewID("msg_", now), m.SubjectID, m.Purpose, m.Channel, m.CreatedAt, m.ExpiresAt, m.SealedText, m.SealedFields}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"messages"}, columns, pgx.CopyFromRows(src))
		return err
	})
}

// pipelineBatch writes the same rows as one pgx.Batch of INSERTs (one
// round trip, one statement per row).
func (e *benchEnv) pipelineBatch(ctx context.Context) error {
	now := time.Now()
	return pgx.BeginFunc(ctx, e.db.Pool(), func(tx pgx.Tx) error {
		var batch pgx.Batch
		for _, m := range e.rows {
			batch.Queue(`INSERT INTO messages (tenant_id, id, subject_id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				string(m.Tenant), garde.NewID("msg_", now), m.SubjectID, m.Purpose, m.Channel, m.CreatedAt, m.ExpiresAt, m.SealedText, m.SealedFields)
		}
		return tx.SendBatch(ctx, &batch).Close()
	})
}

func reportRate(b *testing.B, msgs int) {
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
}

// BenchmarkIngest compares ingest through garde.Service (validation
// against the register, detection, sealing per subject, subject look-up,
// audit, serializable transaction) with raw pgx writes of the same sealed
// rows. Run with GARDE_TEST_POSTGRES set; see docs/postgres.md.
func BenchmarkIngest(b *testing.B) {
	ctx := context.Background()
	b.Run("service", func(b *testing.B) {
		e := newBenchEnv(b)
		i := 0
		for b.Loop() {
			if _, err := e.svc.Vault.Ingest(ctx, e.tn.Service, benchMessages(i)); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportRate(b, i*benchBatch)
	})
	b.Run("copyfrom", func(b *testing.B) {
		e := newBenchEnv(b)
		n := 0
		for b.Loop() {
			if err := e.copyBatch(ctx); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportRate(b, n*benchBatch)
	})
	b.Run("batch", func(b *testing.B) {
		e := newBenchEnv(b)
		n := 0
		for b.Loop() {
			if err := e.pipelineBatch(ctx); err != nil {
				b.Fatal(err)
			}
			n++
		}
		reportRate(b, n*benchBatch)
	})
}

// BenchmarkIngestRatio interleaves a service batch and a COPY of the same
// rows in every iteration, so that both see the same machine and database
// state, and reports service time over COPY time.
func BenchmarkIngestRatio(b *testing.B) {
	ctx := context.Background()
	e := newBenchEnv(b)
	var svc, raw time.Duration
	i := 0
	for b.Loop() {
		t0 := time.Now()
		if _, err := e.svc.Vault.Ingest(ctx, e.tn.Service, benchMessages(i)); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := e.copyBatch(ctx); err != nil {
			b.Fatal(err)
		}
		svc, raw = svc+t1.Sub(t0), raw+time.Since(t1)
		i++
	}
	b.ReportMetric(float64(svc.Nanoseconds())/float64(i*benchBatch), "service-ns/msg")
	b.ReportMetric(float64(raw.Nanoseconds())/float64(i*benchBatch), "copy-ns/msg")
	b.ReportMetric(float64(svc)/float64(raw), "service/copy")
}

// BenchmarkIngestNodes runs 1 or 3 garde nodes (a Service and a pool each,
// as separate processes would have) on one database, each ingesting one
// batch per iteration for its own tenant, or all for the same tenant.
func BenchmarkIngestNodes(b *testing.B) {
	ctx := context.Background()
	for _, nodes := range []int{1, 3} {
		for _, shared := range []bool{false, true} {
			name := fmt.Sprintf("nodes=%d/tenants=%d", nodes, nodes)
			if shared {
				if nodes == 1 {
					continue
				}
				name = fmt.Sprintf("nodes=%d/tenants=1", nodes)
			}
			b.Run(name, func(b *testing.B) {
				dsn := testDSN(b)
				schema := newSchema(b, dsn)
				mk := gardetest.MasterKeys(b)
				svcs := make([]*app.Service, nodes)
				for n := range svcs {
					db, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema, MaxConns: 4})
					if err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { db.Close() })
					svcs[n] = app.New(db, mk, garde.SystemClock{})
				}
				tenants := make([]gardetest.Tenant, nodes)
				for n := range tenants {
					if n == 0 || !shared {
						tenants[n] = gardetest.NewTenant(b, svcs[0], fmt.Sprintf("Node %d SAS", n))
					} else {
						tenants[n] = tenants[0]
					}
				}
				i := 0
				for b.Loop() {
					var wg sync.WaitGroup
					errs := make([]error, nodes)
					for n := range nodes {
						wg.Go(func() {
							_, errs[n] = svcs[n].Vault.Ingest(ctx, tenants[n].Service, benchMessages(i*nodes+n))
						})
					}
					wg.Wait()
					for _, err := range errs {
						if err != nil {
							b.Fatal(err)
						}
					}
					i++
				}
				reportRate(b, i*nodes*benchBatch)
			})
		}
	}
}
