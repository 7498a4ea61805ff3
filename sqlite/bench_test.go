package sqlite_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/vault"

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
			benchGardeIngest(b, batch, benchText, true)
		})
		b.Run(fmt.Sprintf("raw/batch=%d", batch), func(b *testing.B) {
			benchRawInsert(b, batch)
		})
	}
}

// benchGardeIngest ingests batches of messages through garde.Service on a
// fresh database, 1,000 subjects round-robin.
func benchGardeIngest(b *testing.B, batch int, text string, detection bool) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	svc := app.New(db, gardetest.MasterKeys(b), garde.SystemClock{})
	if !detection {
		svc.SetScanner(nil)
	}
	tn := gardetest.NewTenant(b, svc, "Bench")
	msgs := make([]vault.NewMessage, batch)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		for j := range msgs {
			msgs[j] = vault.NewMessage{Subject: fmt.Sprintf("subject-%d", i%1000), Purpose: "answer_support_request", Text: text}
			i++
		}
		if _, err := svc.Vault.Ingest(ctx, tn.Service, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "msg/s")
}

// benchRawInsert writes, with plain database/sql and prepared statements
// on the same pragmas, the rows garde writes for a batch of messages: a
// subject look-up by blind index, the message row with a sealed text of
// the same size, an audit row, and that audit event's ledger leaf (record,
// salt, sealed content), its stored hashes (two per leaf on average, as
// RFC 6962 trees store), the log head update and one signed checkpoint per
// transaction. Sizes are garde's; the bytes are random.
func benchRawInsert(b *testing.B, batch int) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "raw.db")
	// Open through garde once so the schema is the same, then write raw.
	gdb, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	gdb.Close()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=wal_autocheckpoint(8192)&_txlock=immediate")
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	random := func(n int) []byte {
		p := make([]byte, n)
		rand.Read(p)
		return p
	}
	sealed := random(len(benchText) + 33)
	for s := range 1000 {
		if _, err := db.Exec(`INSERT INTO subjects (tenant_id, id, blind_index, sealed_ref, wrapped_key, key_version, created_at) VALUES ('tn_bench', ?, ?, ?, ?, 1, 0)`,
			fmt.Sprintf("sub_%04d", s), random(32), random(50), random(65)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO ledger_heads (tenant_id, size, updated_at) VALUES ('tn_bench', 0, 0)`); err != nil {
		b.Fatal(err)
	}
	prep := func(q string) *sql.Stmt {
		st, err := db.Prepare(q)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	lookup := prep(`SELECT wrapped_key FROM subjects WHERE tenant_id = 'tn_bench' AND blind_index = ?`)
	insMsg := prep(`INSERT INTO messages (tenant_id, id, subject_id, purpose, channel, created_at, expires_at, sealed_text) VALUES ('tn_bench', ?, ?, 'answer_support_request', 'chat', ?, ?, ?)`)
	insAudit := prep(`INSERT INTO audit (tenant_id, seq, at, actor, action, purpose, subject_ref, outcome, count, reason) VALUES ('tn_bench', ?, ?, 'key_x', 'message.write', 'answer_support_request', '0123456789abcdef0123456789abcdef', 'ok', 1, '')`)
	insLeaf := prep(`INSERT INTO ledger_leaves (tenant_id, idx, kind, record, salt, content, created_at) VALUES ('tn_bench', ?, 'audit', ?, ?, ?, ?)`)
	insHash := prep(`INSERT INTO ledger_hashes (tenant_id, idx, hash) VALUES ('tn_bench', ?, ?)`)
	setHead := prep(`UPDATE ledger_heads SET size = ?, updated_at = ? WHERE tenant_id = 'tn_bench'`)
	insCheckpoint := prep(`INSERT INTO ledger_checkpoints (tenant_id, size, note, created_at) VALUES ('tn_bench', ?, ?, ?)`)
	var seq, hashIdx int64
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now().UnixMicro()
		for range batch {
			var key []byte
			err := tx.Stmt(lookup).QueryRow(random(32)).Scan(&key)
			if err != nil && err != sql.ErrNoRows {
				b.Fatal(err)
			}
			if _, err := tx.Stmt(insMsg).Exec(garde.NewID("msg_", time.Now()), fmt.Sprintf("sub_%04d", i%1000), now, now, sealed); err != nil {
				b.Fatal(err)
			}
			seq++
			if _, err := tx.Stmt(insAudit).Exec(seq, now); err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Stmt(insLeaf).Exec(seq-1, random(32), random(32), random(200), now); err != nil {
				b.Fatal(err)
			}
			for range 2 {
				if _, err := tx.Stmt(insHash).Exec(hashIdx, random(32)); err != nil {
					b.Fatal(err)
				}
				hashIdx++
			}
			i++
		}
		if _, err := tx.Stmt(setHead).Exec(seq, now); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Stmt(insCheckpoint).Exec(seq, random(180), now); err != nil {
			b.Fatal(err)
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
	svc := app.New(db, gardetest.MasterKeys(b), garde.SystemClock{})
	tn := gardetest.NewTenant(b, svc, "Bench")
	msgs := make([]vault.NewMessage, 20)
	for j := range msgs {
		msgs[j] = vault.NewMessage{Subject: "reader", Purpose: "answer_support_request", Text: benchText}
	}
	if _, err := svc.Vault.Ingest(ctx, tn.Service, msgs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := svc.Vault.SubjectMessages(ctx, tn.Service, "reader", "answer_support_request")
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
			benchGardeIngest(b, 100, text, on)
		})
	}
}
