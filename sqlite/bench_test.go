package sqlite_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
)

const benchText = "Bonjour, je n'ai toujours pas reçu ma commande n° 4521-889, pouvez-vous vérifier ? Merci, Jeanne"

// BenchmarkIngest measures ingest through the use-case layer (register
// check, blind index, key unwrap, sealing, audit) against inserting the
// same rows and bytes straight into SQLite, in the same run. The ratio
// garde/raw is the headline figure in docs/benchmarks.md.
func BenchmarkIngest(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("garde/batch=%d", batch), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			svc := garde.NewService(db, gardetest.MasterKeys(b), garde.SystemClock{})
			tn := gardetest.NewTenant(b, svc, "Bench")
			msgs := make([]garde.NewMessage, batch)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				for j := range msgs {
					msgs[j] = garde.NewMessage{Subject: fmt.Sprintf("subject-%d", i%1000), Purpose: "answer_support_request", Text: benchText}
					i++
				}
				if _, err := svc.Ingest(ctx, tn.Service, msgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msg/s")
		})
		b.Run(fmt.Sprintf("raw/batch=%d", batch), func(b *testing.B) {
			benchRawInsert(b, batch)
		})
	}
}

// benchRawInsert writes what garde writes for a message — a subject look-up
// by blind index, the message row with a sealed text of the same size, and
// an audit row — with plain database/sql on the same pragmas, one
// transaction per batch.
func benchRawInsert(b *testing.B, batch int) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "raw.db")
	// Open through garde once so the schema is the same, then write raw.
	gdb, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	gdb.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	sealed := make([]byte, len(benchText)+33)
	rand.Read(sealed)
	for s := range 1000 {
		idx := make([]byte, 32)
		rand.Read(idx)
		if _, err := db.Exec(`INSERT INTO subjects (tenant_id, id, blind_index, sealed_ref, wrapped_key, key_version, created_at) VALUES ('tn_bench', ?, ?, ?, ?, 1, 0)`,
			fmt.Sprintf("sub_%04d", s), idx, sealed[:40], sealed[:65]); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		for range batch {
			var key []byte
			if err := tx.QueryRow(`SELECT wrapped_key FROM subjects WHERE tenant_id = 'tn_bench' AND id = ?`, fmt.Sprintf("sub_%04d", i%1000)).Scan(&key); err != nil {
				b.Fatal(err)
			}
			now := time.Now().UnixMicro()
			if _, err := tx.Exec(`INSERT INTO messages (tenant_id, id, subject_id, purpose, channel, created_at, expires_at, sealed_text, sealed_fields) VALUES ('tn_bench', ?, ?, 'answer_support_request', 'chat', ?, ?, ?, NULL)`,
				garde.NewID("msg_", time.Now()), fmt.Sprintf("sub_%04d", i%1000), now, now, sealed); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(`INSERT INTO audit (tenant_id, at, actor, action, purpose, subject_ref, outcome, count, reason) VALUES ('tn_bench', ?, 'key_x', 'message.write', 'answer_support_request', '0123456789abcdef0123456789abcdef', 'ok', 1, '')`, now); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msg/s")
}

func BenchmarkReadSubjectMessages(b *testing.B) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := garde.NewService(db, gardetest.MasterKeys(b), garde.SystemClock{})
	tn := gardetest.NewTenant(b, svc, "Bench")
	msgs := make([]garde.NewMessage, 20)
	for j := range msgs {
		msgs[j] = garde.NewMessage{Subject: "reader", Purpose: "answer_support_request", Text: benchText}
	}
	if _, err := svc.Ingest(ctx, tn.Service, msgs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := svc.SubjectMessages(ctx, tn.Service, "reader", "answer_support_request")
		if err != nil || len(got) != 20 {
			b.Fatal(len(got), err)
		}
	}
}

// BenchmarkIngestDetection measures ingest with personal-data detection on
// and off, in the same run, over text dense in personal data.
func BenchmarkIngestDetection(b *testing.B) {
	text := "Bonjour, je m'appelle Jeanne Martin, écrivez-moi à jeanne.martin@example.fr ou au 06 12 34 56 78. " +
		"Mon IBAN est FR76 3000 6000 0112 3456 7890 189 et j'habite 12 rue de la Paix, 75002 Paris. Commande n° 4521889."
	for _, on := range []bool{true, false} {
		b.Run(fmt.Sprintf("detection=%v", on), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			svc := garde.NewService(db, gardetest.MasterKeys(b), garde.SystemClock{})
			if !on {
				svc.SetScanner(nil)
			}
			tn := gardetest.NewTenant(b, svc, "Bench")
			msgs := make([]garde.NewMessage, 100)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				for j := range msgs {
					msgs[j] = garde.NewMessage{Subject: fmt.Sprintf("subject-%d", i%1000), Purpose: "answer_support_request", Text: text}
					i++
				}
				if _, err := svc.Ingest(ctx, tn.Service, msgs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msg/s")
		})
	}
}
