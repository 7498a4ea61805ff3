package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
)

// keyTimer is a store that notes when the transaction destroying a
// subject key commits: the moment the subject becomes unreadable.
type keyTimer struct {
	*sqlite.DB
	destroyed atomic.Int64 // UnixNano of the key store's commit
}

// keyTimerStore notes when the key store destroyed a key.
type keyTimerStore struct {
	garde.KeyStore
	k *keyTimer
}

func (t keyTimerStore) Record(ctx context.Context, es []garde.JournalEntry) error {
	err := t.KeyStore.Record(ctx, es)
	if err == nil {
		t.k.destroyed.Store(time.Now().UnixNano())
	}
	return err
}

func (k *keyTimer) KeyStore() garde.KeyStore { return keyTimerStore{k.DB.KeyStore(), k} }

// seedSubject gives subject n messages: one through Ingest (which creates
// the subject and its key), the rest inserted as rows of the same shape.
func seedSubject(b *testing.B, svc *app.Service, db *sqlite.DB, tn gardetest.Tenant, subject string, n int, expires time.Time) {
	b.Helper()
	ctx := context.Background()
	v, err := svc.Vault.Ingest(ctx, tn.Service, []vault.NewMessage{{Subject: subject, Purpose: "answer_support_request", Text: benchText}})
	if err != nil {
		b.Fatal(err)
	}
	var subjectID string
	var sealed []byte
	db.View(ctx, func(tx garde.Tx) error {
		m, err := tx.MessageByID(ctx, tn.ID, v[0].ID)
		subjectID, sealed = m.SubjectID, m.SealedText
		return err
	})
	now := time.Now()
	for start := 1; start < n; start += 10000 {
		rows := make([]garde.Message, 0, 10000)
		for i := start; i < min(n, start+10000); i++ {
			rows = append(rows, garde.Message{Tenant: tn.ID, ID: fmt.Sprintf("msg_%s_%07d", subject, i), SubjectID: subjectID, Purpose: "answer_support_request",
				Channel: "chat", CreatedAt: now, ExpiresAt: expires, SealedText: sealed})
		}
		if err := db.Update(ctx, func(tx garde.Tx) error { return tx.InsertMessages(ctx, rows) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkErasure erases a subject holding N messages: "unreadable" is
// the time from the request until the key-destroying transaction commits
// (flat in N: one key deletion), "purged" until every row is gone and the
// certificate signed.
func BenchmarkErasure(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			kt := &keyTimer{DB: db}
			svc := app.New(kt, gardetest.MasterKeys(b), garde.SystemClock{})
			tn := gardetest.NewTenant(b, svc, "Bench")
			var unreadable, purged time.Duration
			i := 0
			for b.Loop() {
				b.StopTimer()
				subject := fmt.Sprintf("subject-%d", i)
				i++
				seedSubject(b, svc, db, tn, subject, n, time.Now().Add(time.Hour))
				db.Scrub(ctx) // checkpoint the seeding now, not inside the measured commit
				b.StartTimer()
				start := time.Now()
				f, err := svc.Rights.FileRequest(ctx, tn.DPO, rights.NewRequest{Subject: subject, Type: garde.RequestErasure})
				if err != nil || f.Request.Status != garde.StatusCompleted {
					b.Fatalf("erasure: %v %v", f.Request.Status, err)
				}
				purged += time.Since(start)
				unreadable += time.Unix(0, kt.destroyed.Load()).Sub(start)
			}
			b.ReportMetric(float64(unreadable.Microseconds())/1000/float64(b.N), "ms-unreadable")
			b.ReportMetric(float64(purged.Microseconds())/1000/float64(b.N), "ms-purged")
		})
	}
}

// BenchmarkExport streams the export of a subject with 10,000 sealed
// messages as JSON to io.Discard.
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := app.New(db, gardetest.MasterKeys(b), garde.SystemClock{})
	svc.SetScanner(nil)
	tn := gardetest.NewTenant(b, svc, "Bench")
	const n = 10000
	msgs := make([]vault.NewMessage, n)
	for i := range msgs {
		msgs[i] = vault.NewMessage{Subject: "big", Purpose: "answer_support_request", Text: benchText, Fields: map[string]string{"user.contact.email": "jeanne@example.fr"}}
	}
	if _, err := svc.Vault.Ingest(ctx, tn.Service, msgs); err != nil {
		b.Fatal(err)
	}
	f, err := svc.Rights.FileRequest(ctx, tn.DPO, rights.NewRequest{Subject: "big", Type: garde.RequestAccess})
	if err != nil {
		b.Fatal(err)
	}
	enc := json.NewEncoder(io.Discard)
	total := 0
	for b.Loop() {
		err := svc.Rights.ExportRequest(ctx, tn.DPO, f.Request.ID, func(h rights.SubjectExport) error { return enc.Encode(h) },
			func(m garde.MessageView) error { total++; return enc.Encode(m) })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "msg/s")
}

// BenchmarkRetentionPurge deletes 100,000 expired messages in batches of
// 1,000, with one audit event per purpose and batch.
func BenchmarkRetentionPurge(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := app.New(db, gardetest.MasterKeys(b), garde.SystemClock{})
	tn := gardetest.NewTenant(b, svc, "Bench")
	const n = 100000
	rows := 0
	i := 0
	for b.Loop() {
		b.StopTimer()
		seedSubject(b, svc, db, tn, fmt.Sprintf("old-%d", i), n, time.Now().Add(-time.Hour))
		i++
		b.StartTimer()
		got, err := svc.Vault.PurgeExpired(ctx, 1000)
		if err != nil || got < n-1 {
			b.Fatalf("PurgeExpired = %d, %v", got, err)
		}
		rows += got
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
