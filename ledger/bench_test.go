package ledger_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Run with:
//
//	go test -run '^$' -bench . -benchmem ./ledger
//
// The 1M-entry log is built once per process (about 100 MB: 64 MB of stored hashes, 32 MB
// of records) and shared by every benchmark that needs it.

var benchSizes = []struct {
	name string
	n    int64
}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}}

// benchContent is a consent event of a realistic size, about 300 bytes.
func benchContent(i int64) []byte {
	return fmt.Appendf(nil, `{"action":"grant","channel":"support-chat","method":"chat","notice":{"hash":"n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=","version":3},"origin":{"ip":"hmac:2f1c0b7e9a","user_agent":"Mozilla/5.0"},"purpose":"improve_replies","recorded_by":"key-7","subject":"s-%08d","tenant":"t-0001","time":"2026-11-28T13:00:00Z"}`, i)
}

type benchLog struct {
	origin, skey, vkey string
	store              *ledger.MemoryStore
	records            []byte // RecordSize bytes per leaf
	checkpoint         []byte // signed, at the full size
	tree               ledger.Checkpoint
}

func (l *benchLog) record(i int64) []byte {
	return l.records[i*ledger.RecordSize : (i+1)*ledger.RecordSize]
}

var (
	benchMu   sync.Mutex
	benchLogs = map[int64]*benchLog{}
)

// getBenchLog builds the log of n entries once per process.
func getBenchLog(b *testing.B, n int64) *benchLog {
	benchMu.Lock()
	defer benchMu.Unlock()
	if l := benchLogs[n]; l != nil {
		return l
	}
	origin := ledger.TenantOrigin("t-bench")
	skey, vkey, err := ledger.GenerateKey(origin)
	if err != nil {
		b.Fatal(err)
	}
	l := &benchLog{origin: origin, skey: skey, vkey: vkey, store: new(ledger.MemoryStore), records: make([]byte, 0, n*ledger.RecordSize)}
	for i := range n {
		record, err := ledger.Commit(testSalt(int(i)), benchContent(i))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := l.store.Append(record); err != nil {
			b.Fatal(err)
		}
		l.records = append(l.records, record...)
	}
	if l.tree, err = ledger.NewCheckpoint(origin, n, l.store); err != nil {
		b.Fatal(err)
	}
	if l.checkpoint, err = ledger.SignCheckpoint(l.tree, skey); err != nil {
		b.Fatal(err)
	}
	benchLogs[n] = l
	return l
}

// benchIndex spreads the leaves a benchmark touches over the whole log.
func benchIndex(k int, n int64) int64 { return int64(k) * 7919 % n }

func BenchmarkCommit(b *testing.B) {
	salt, content := testSalt(1), benchContent(1)
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		if _, err := ledger.Commit(salt, content); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend measures appending a committed record to a MemoryStore: the Merkle work
// per append, an upper bound for what a database-backed store can reach.
func BenchmarkAppend(b *testing.B) {
	s := new(ledger.MemoryStore)
	record, _ := ledger.Commit(testSalt(1), benchContent(1))
	for b.Loop() {
		if _, err := s.Append(record); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkCommitAndAppend is one consent event, start to end, minus storage and signing.
func BenchmarkCommitAndAppend(b *testing.B) {
	s := new(ledger.MemoryStore)
	salt, content := testSalt(1), benchContent(1)
	for b.Loop() {
		record, err := ledger.Commit(salt, content)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Append(record); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

func BenchmarkProveInclusion(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("entries="+sz.name, func(b *testing.B) {
			l := getBenchLog(b, sz.n)
			k := 0
			for b.Loop() {
				k++
				if _, err := ledger.ProveInclusion(benchIndex(k, sz.n), sz.n, l.store); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyInclusion(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("entries="+sz.name, func(b *testing.B) {
			l := getBenchLog(b, sz.n)
			type item struct {
				i    int64
				leaf tlog.Hash
				p    tlog.RecordProof
			}
			items := make([]item, 64)
			for k := range items {
				i := benchIndex(k, sz.n)
				p, err := ledger.ProveInclusion(i, sz.n, l.store)
				if err != nil {
					b.Fatal(err)
				}
				items[k] = item{i, ledger.LeafHash(l.record(i)), p}
			}
			k := 0
			for b.Loop() {
				it := items[k%len(items)]
				k++
				if err := ledger.VerifyInclusion(l.tree, it.i, it.leaf, it.p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(items[1].p)), "proof-hashes")
		})
	}
}

func BenchmarkProveConsistency(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("entries="+sz.name, func(b *testing.B) {
			l := getBenchLog(b, sz.n)
			old := sz.n*3/7 + 1
			for b.Loop() {
				if _, err := ledger.ProveConsistency(old, sz.n, l.store); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerifyConsistency(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("entries="+sz.name, func(b *testing.B) {
			l := getBenchLog(b, sz.n)
			older, err := ledger.NewCheckpoint(l.origin, sz.n*3/7+1, l.store)
			if err != nil {
				b.Fatal(err)
			}
			p, err := ledger.ProveConsistency(older.Size, sz.n, l.store)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := ledger.VerifyConsistency(older, l.tree, p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p)), "proof-hashes")
		})
	}
}

// benchEvidence returns the JSON evidence of one leaf of the log.
func benchEvidence(b *testing.B, l *benchLog, n int64) []byte {
	i := benchIndex(1, n)
	e, err := ledger.NewEvidence(i, testSalt(int(i)), benchContent(i), l.checkpoint, l.store)
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(e)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func BenchmarkNewEvidence(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("entries="+sz.name, func(b *testing.B) {
			l := getBenchLog(b, sz.n)
			k := 0
			for b.Loop() {
				k++
				i := benchIndex(k, sz.n)
				if _, err := ledger.NewEvidence(i, testSalt(int(i)), benchContent(i), l.checkpoint, l.store); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyEvidence is what `garde verify receipt` does with a saved receipt: decode
// the JSON, check the signature, recompute the commitment and run the proof.
func BenchmarkVerifyEvidence(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("entries="+sz.name, func(b *testing.B) {
			l := getBenchLog(b, sz.n)
			data := benchEvidence(b, l, sz.n)
			for b.Loop() {
				var e ledger.Evidence
				if err := json.Unmarshal(data, &e); err != nil {
					b.Fatal(err)
				}
				if _, err := ledger.VerifyEvidence(e, l.vkey); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "evidence-bytes")
		})
	}
}

// BenchmarkBaseline gives same-run yardsticks for BenchmarkVerifyEvidence: a plain SHA-256
// of the same evidence bytes, and the one Ed25519 signature check that verification cannot
// avoid.
func BenchmarkBaseline(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("sha256-evidence/entries="+sz.name, func(b *testing.B) {
			data := benchEvidence(b, getBenchLog(b, sz.n), sz.n)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				sha256.Sum256(data)
			}
		})
	}
	b.Run("ed25519-verify", func(b *testing.B) {
		l := getBenchLog(b, 1_000)
		// The verifier key is "<name>+<hash>+<base64(0x01 || public key)>".
		raw, err := base64.StdEncoding.DecodeString(strings.SplitN(l.vkey, "+", 3)[2])
		if err != nil {
			b.Fatal(err)
		}
		pub := ed25519.PublicKey(raw[1:])
		text := l.checkpoint[:strings.Index(string(l.checkpoint), "\n\n")+1]
		_, err = note.Open(l.checkpoint, note.VerifierList())
		unverified, ok := err.(*note.UnverifiedNoteError)
		if !ok {
			b.Fatal(err)
		}
		sig, err := base64.StdEncoding.DecodeString(unverified.Note.UnverifiedSigs[0].Base64)
		if err != nil {
			b.Fatal(err)
		}
		if !ed25519.Verify(pub, text, sig[4:]) {
			b.Fatal("baseline signature does not verify")
		}
		for b.Loop() {
			ed25519.Verify(pub, text, sig[4:])
		}
	})
}

// BenchmarkVerifyLog is `garde verify ledger` over an in-memory store: every stored hash
// recomputed and compared, one checkpoint checked.
func BenchmarkVerifyLog(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("entries="+sz.name, func(b *testing.B) {
			l := getBenchLog(b, sz.n)
			leaves := func(yield func(ledger.Leaf, error) bool) {
				for i := range sz.n {
					if !yield(ledger.Leaf{Index: i, Record: l.record(i)}, nil) {
						return
					}
				}
			}
			for b.Loop() {
				if _, err := ledger.VerifyLog(leaves, l.store, [][]byte{l.checkpoint}, l.vkey); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(sz.n), "ns/entry")
		})
	}
}
