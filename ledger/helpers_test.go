package ledger_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// testLog is a small log with everything a test needs to tamper with it.
type testLog struct {
	origin     string
	skey, vkey string
	salts      [][]byte
	contents   [][]byte
	records    [][]byte
	store      *ledger.MemoryStore
}

// newTestLog returns a log of n events with deterministic salts and contents.
func newTestLog(t testing.TB, n int) *testLog {
	t.Helper()
	origin := ledger.TenantOrigin("t-0001")
	skey, vkey, err := ledger.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLog{origin: origin, skey: skey, vkey: vkey, store: new(ledger.MemoryStore)}
	for i := range n {
		l.append(t, testSalt(i), fmt.Appendf(nil, `{"subject":"s-%d","purpose":"improve_replies","action":"grant"}`, i))
	}
	return l
}

func (l *testLog) append(t testing.TB, salt, content []byte) int64 {
	t.Helper()
	record, err := ledger.Commit(salt, content)
	if err != nil {
		t.Fatal(err)
	}
	n, err := l.store.Append(record)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(len(l.records)) {
		t.Fatalf("Append = %d, want %d", n, len(l.records))
	}
	l.salts = append(l.salts, salt)
	l.contents = append(l.contents, content)
	l.records = append(l.records, record)
	return n
}

// sign returns the signed checkpoint at size.
func (l *testLog) sign(t testing.TB, size int64) []byte {
	t.Helper()
	c, err := ledger.NewCheckpoint(l.origin, size, l.store)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := ledger.SignCheckpoint(c, l.skey)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func testSalt(i int) []byte {
	s := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("test salt"), uint64(i)))
	return s[:]
}

// rfc6962Root is an independent, naive RFC 6962 Merkle tree hash (section 2.1), to check
// that the ledger's use of tlog hashes what the RFC says.
func rfc6962Root(records [][]byte) tlog.Hash {
	switch len(records) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256(append([]byte{0}, records[0]...))
	}
	k := 1
	for k*2 < len(records) {
		k *= 2
	}
	l, r := rfc6962Root(records[:k]), rfc6962Root(records[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// flip returns a copy of b with bit i flipped.
func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i/8] ^= 1 << (i % 8)
	return c
}
