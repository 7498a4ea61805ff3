package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/ledger"
	"github.com/garde-privacy/garde/sqlite"
	"golang.org/x/mod/sumdb/tlog"
)

func benchConsentService(b *testing.B) (*app.Service, gardetest.Tenant, *sqlite.DB) {
	b.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	svc := app.New(db, gardetest.MasterKeys(b), gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	return svc, gardetest.ConsentTenant(b, svc, "Bench SAS"), db
}

// BenchmarkConsentAppend records consent events on SQLite (WAL,
// synchronous=NORMAL), each a new subject, in batches: every event is
// sealed under its subject's new key, committed as a leaf, audited (one
// more leaf), and gets a receipt with its inclusion proof under the batch's
// signed checkpoint.
//
//	go test ./sqlite -run '^$' -bench ConsentAppend -benchtime 20x
func BenchmarkConsentAppend(b *testing.B) {
	for _, batch := range []int{1, 100, 1000} {
		for _, known := range []bool{false, true} {
			name := fmt.Sprintf("batch=%d/subjects=new", batch)
			if known {
				name = fmt.Sprintf("batch=%d/subjects=known", batch)
			}
			b.Run(name, func(b *testing.B) {
				ctx := context.Background()
				svc, tn, _ := benchConsentService(b)
				ins := make([]consent.ConsentInput, batch)
				n, round := 0, 0
				start := time.Now()
				for b.Loop() {
					for j := range ins {
						subject := fmt.Sprintf("subject-%d-%d", round, j)
						if known {
							subject = fmt.Sprintf("subject-%d", j)
						}
						ins[j] = gardetest.Grant(subject, "improve_replies")
					}
					round++
					if _, err := svc.Consent.RecordConsents(ctx, tn.Service, ins); err != nil {
						b.Fatal(err)
					}
					n += batch
				}
				b.ReportMetric(float64(n)/time.Since(start).Seconds(), "consents/s")
			})
		}
	}
}

// BenchmarkConsentSingle records single consent events (RecordConsent,
// as one POST /v1/consents per event) from many concurrent callers, which
// group commit gathers into shared transactions.
//
//	go test ./sqlite -run '^$' -bench ConsentSingle -benchtime 20x
func BenchmarkConsentSingle(b *testing.B) {
	for _, callers := range []int{1, 16, 64, 256} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			ctx := context.Background()
			svc, tn, _ := benchConsentService(b)
			n, round := 0, 0
			start := time.Now()
			for b.Loop() {
				var wg sync.WaitGroup
				for c := range callers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if _, err := svc.Consent.RecordConsent(ctx, tn.Service, gardetest.Grant(fmt.Sprintf("s-%d-%d", round, c), "improve_replies")); err != nil {
							b.Error(err)
						}
					}()
				}
				wg.Wait()
				round++
				n += callers
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "consents/s")
		})
	}
}

// BenchmarkReceipt reports the size of a receipt (JSON, as POST
// /v1/consents returns it) and the time to parse and verify it offline, at
// several log sizes. As issued, a receipt proves a leaf at the right edge of
// the tree, so its proof is short; "refreshed" is the first consent's
// receipt with its proof renewed against the latest checkpoint
// (GET /v1/ledger/proof/inclusion), the longest proof at that size.
//
//	go test ./sqlite -run '^$' -bench Receipt -benchtime 200x
func BenchmarkReceipt(b *testing.B) {
	ctx := context.Background()
	svc, tn, _ := benchConsentService(b)
	key, err := svc.Trail.LedgerVerifierKey(ctx, tn.DPO)
	if err != nil {
		b.Fatal(err)
	}
	first, err := svc.Consent.RecordConsent(ctx, tn.Service, gardetest.Grant("first@example.fr", "improve_replies"))
	if err != nil {
		b.Fatal(err)
	}
	size := int64(0)
	for _, target := range []int64{1_000, 100_000} {
		for size < target {
			ins := make([]consent.ConsentInput, min(5000, int(target-size)/2+1))
			for j := range ins {
				ins[j] = gardetest.Grant(fmt.Sprintf("s-%d-%d", size, j), "improve_replies")
			}
			if _, err := svc.Consent.RecordConsents(ctx, tn.Service, ins); err != nil {
				b.Fatal(err)
			}
			cp, err := svc.Trail.LedgerCheckpoint(ctx, tn.DPO)
			if err != nil {
				b.Fatal(err)
			}
			size = cp.Size
		}
		res, err := svc.Consent.RecordConsent(ctx, tn.Service, gardetest.Grant("jeanne.martin@example.fr", "improve_replies"))
		if err != nil {
			b.Fatal(err)
		}
		issued, _ := json.Marshal(map[string]any{"id": res.ID, "receipt": res.Receipt})
		pr, err := svc.Trail.LedgerInclusion(ctx, tn.DPO, first.Receipt.LeafIndex, 0)
		if err != nil {
			b.Fatal(err)
		}
		refreshedReceipt := first.Receipt
		refreshedReceipt.Evidence.Proof, refreshedReceipt.Evidence.Checkpoint = pr.Proof, pr.Checkpoint
		refreshed, _ := json.Marshal(map[string]any{"id": first.ID, "receipt": refreshedReceipt})
		for _, c := range []struct {
			name   string
			body   []byte
			hashes int
		}{{"issued", issued, len(res.Receipt.Evidence.Proof)}, {"refreshed", refreshed, len(pr.Proof)}} {
			b.Run(fmt.Sprintf("log=%d/%s", pr.Size, c.name), func(b *testing.B) {
				for b.Loop() {
					r, err := consent.ParseReceipt(c.body)
					if err != nil {
						b.Fatal(err)
					}
					if err := consent.VerifyReceipt(r, key); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(c.body)), "receipt-bytes")
				b.ReportMetric(float64(c.hashes), "proof-hashes")
			})
		}
	}
}

// BenchmarkLedgerProof generates inclusion and consistency proofs from a
// tenant's log stored in SQLite (every hash read through the database, as
// GET /v1/ledger/proof/... does) and verifies them, at 1k, 100k and 1M
// entries; and verifies the whole log from the database as garde verify
// ledger does.
//
//	go test ./sqlite -run '^$' -bench LedgerProof -benchtime 2000x
func BenchmarkLedgerProof(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := app.New(db, gardetest.MasterKeys(b), nil)
	p := garde.Principal{KeyID: "key_bench", Tenant: "tn_bench", Role: garde.RoleDPO}
	var mem ledger.MemoryStore
	grow := func(to int64) {
		for mem.Size() < to {
			from := mem.Size()
			n := min(to-from, 20000)
			leaves := make([]garde.LedgerLeaf, n)
			for i := range leaves {
				rec, _ := ledger.Commit(make([]byte, 32), fmt.Appendf(nil, "event %d", from+int64(i)))
				leaves[i] = garde.LedgerLeaf{Index: from + int64(i), Kind: trail.LeafConsent, Record: rec, CreatedAt: time.Now()}
				mem.Append(rec)
			}
			lo, hi := tlog.StoredHashIndex(0, from), tlog.StoredHashIndex(0, from+n)
			idx := make([]int64, hi-lo)
			for i := range idx {
				idx[i] = lo + int64(i)
			}
			hashes, _ := mem.ReadHashes(idx)
			if err := db.Update(ctx, func(tx garde.Tx) error { return tx.AppendLedger(ctx, p.Tenant, from, leaves, hashes) }); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, size := range []int64{1_000, 100_000, 1_000_000} {
		grow(size)
		tree, err := ledger.NewCheckpoint(ledger.TenantOrigin(string(p.Tenant)), size, &mem)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("inclusion/log=%d", size), func(b *testing.B) {
			k, hashes := int64(0), 0
			for b.Loop() {
				index := k * 7919 % size
				k++
				pr, err := svc.Trail.LedgerInclusion(ctx, p, index, size)
				if err != nil {
					b.Fatal(err)
				}
				if err := ledger.VerifyInclusion(tree, index, pr.LeafHash, pr.Proof); err != nil {
					b.Fatal(err)
				}
				hashes = len(pr.Proof)
			}
			b.ReportMetric(float64(hashes), "proof-hashes")
		})
		b.Run(fmt.Sprintf("consistency/log=%d", size), func(b *testing.B) {
			k, hashes := int64(0), 0
			for b.Loop() {
				old := 1 + k*7919%(size-1)
				k++
				older, err := ledger.NewCheckpoint(tree.Origin, old, &mem)
				if err != nil {
					b.Fatal(err)
				}
				pr, err := svc.Trail.LedgerConsistency(ctx, p, old, size)
				if err != nil {
					b.Fatal(err)
				}
				if err := ledger.VerifyConsistency(older, tree, pr.Proof); err != nil {
					b.Fatal(err)
				}
				hashes = len(pr.Proof)
			}
			b.ReportMetric(float64(hashes), "proof-hashes")
		})
		b.Run(fmt.Sprintf("verify-ledger/log=%d", size), func(b *testing.B) {
			for b.Loop() {
				rep, err := trail.VerifyLedger(ctx, db, p.Tenant, "")
				if err != nil || rep.Size != size {
					b.Fatalf("VerifyLedger = %+v, %v", rep, err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/entry")
		})
	}
}
