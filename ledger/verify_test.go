package ledger_test

import (
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// tampered is a HashReader over r with one stored hash flipped or deleted.
type tampered struct {
	r       tlog.HashReader
	index   int64
	deleted bool
}

func (t tampered) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	h, err := t.r.ReadHashes(indexes)
	if err != nil {
		return nil, err
	}
	for i, x := range indexes {
		if x == t.index {
			if t.deleted {
				return nil, fmt.Errorf("stored hash %d: no such row", x)
			}
			h[i][0] ^= 1
		}
	}
	return h, nil
}

// rows yields leaves with explicit indexes, as a database query would.
func rows(records [][]byte, indexes []int64) iter.Seq2[ledger.Leaf, error] {
	return func(yield func(ledger.Leaf, error) bool) {
		for i, r := range records {
			if !yield(ledger.Leaf{Index: indexes[i], Record: r}, nil) {
				return
			}
		}
	}
}

func seq(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = int64(i)
	}
	return s
}

// rebuild returns a store recomputed from records: what an attacker with write access to
// the database, but not to the signing key, can make consistent.
func rebuild(t *testing.T, records [][]byte) *ledger.MemoryStore {
	s := new(ledger.MemoryStore)
	for _, r := range records {
		if _, err := s.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestVerifyLog(t *testing.T) {
	const n = 40
	l := newTestLog(t, n)
	sizes := []int64{8, 16, 33, 40}
	var cps [][]byte
	for _, s := range sizes {
		cps = append(cps, l.sign(t, s))
	}
	_, otherKey, _ := ledger.GenerateKey(l.origin)
	other := newTestLog(t, n) // same records, another key
	foreign := other.sign(t, 16)

	type logCase struct {
		name    string
		records [][]byte
		indexes []int64 // nil means 0, 1, 2...
		hashes  tlog.HashReader
		cps     [][]byte
		key     string
		want    error // nil: verifies
		index   int64 // the LogError index, when want is a LogError kind
		msg     string
	}
	clone := func() [][]byte { return slices.Clone(l.records) }
	changed := func(i int) [][]byte { r := clone(); r[i] = flip(r[i], 77); return r }
	removed := func(i int) [][]byte { return slices.Delete(clone(), i, i+1) }
	inserted := func(i int) [][]byte { return slices.Insert(clone(), i, l.records[3]) }
	swapped := func(i, j int) [][]byte { r := clone(); r[i], r[j] = r[j], r[i]; return r }
	gap := func(i int) []int64 { return slices.Delete(seq(n), i, i+1) }
	dup := func(i int) []int64 { return slices.Insert(seq(n), i, int64(i)) }
	cpsWith := func(i int, msg []byte) [][]byte { c := slices.Clone(cps); c[i] = msg; return c }
	rewritten := changed(20)

	tests := []logCase{
		{name: "intact"},
		{name: "intact, checkpoints in any order", cps: [][]byte{cps[3], cps[0], cps[2], cps[1], cps[1]}},
		{name: "intact, no checkpoint", cps: [][]byte{}},
		{name: "record changed, first", records: changed(0), want: ledger.ErrRecord, index: 0},
		{name: "record changed, at a checkpoint edge", records: changed(7), want: ledger.ErrRecord, index: 7},
		{name: "record changed, after a checkpoint", records: changed(8), want: ledger.ErrRecord, index: 8},
		{name: "record changed, last", records: changed(39), want: ledger.ErrRecord, index: 39},
		{name: "record truncated", records: func() [][]byte { r := clone(); r[12] = r[12][:31]; return r }(), want: ledger.ErrRecord, index: 12, msg: "31 bytes"},
		{name: "row removed, renumbered", records: removed(10), want: ledger.ErrRecord, index: 10},
		{name: "row removed, gap in indexes", records: removed(10), indexes: gap(10), want: ledger.ErrMissing, index: 10, msg: "next entry has index 11"},
		{name: "last row removed", records: removed(39), want: ledger.ErrMissing, index: 39, msg: "checkpoint signs 40 leaves, the log has 39"},
		{name: "first row removed", records: removed(0), indexes: gap(0), want: ledger.ErrMissing, index: 0},
		{name: "row inserted, renumbered", records: inserted(12), indexes: seq(n + 1), want: ledger.ErrRecord, index: 12},
		{name: "row inserted with a duplicate index", records: inserted(13), indexes: dup(12), want: ledger.ErrUnexpected, index: 12},
		{name: "row appended without stored hashes", records: append(clone(), l.records[0]), indexes: seq(n + 1), want: ledger.ErrMissing, index: 40},
		{name: "rows reordered", records: swapped(5, 20), want: ledger.ErrRecord, index: 5},
		{name: "adjacent rows reordered", records: swapped(20, 21), want: ledger.ErrRecord, index: 20},
		{name: "stored leaf hash flipped", hashes: tampered{r: l.store, index: tlog.StoredHashIndex(0, 9)}, want: ledger.ErrRecord, index: 9},
		{name: "stored interior hash flipped", hashes: tampered{r: l.store, index: tlog.StoredHashIndex(2, 1)}, want: ledger.ErrStoredHash, index: 7, msg: "level 2, covering leaves 4 to 7"},
		{name: "stored top hash flipped", hashes: tampered{r: l.store, index: tlog.StoredHashIndex(5, 0)}, want: ledger.ErrStoredHash, index: 31},
		{name: "stored hash deleted", hashes: tampered{r: l.store, index: tlog.StoredHashIndex(1, 8), deleted: true}, want: ledger.ErrMissing, index: 17, msg: "no such row"},
		{name: "record and stored hashes rewritten together", records: rewritten, hashes: rebuild(t, rewritten), want: ledger.ErrCheckpoint, index: 16, msg: "checkpoint at size 33"},
		{name: "rewritten, later checkpoints dropped", records: rewritten, hashes: rebuild(t, rewritten), cps: cps[:2]},
		{name: "record and stored hashes rewritten before the first checkpoint", records: changed(2), hashes: rebuild(t, changed(2)), want: ledger.ErrCheckpoint, index: 0},
		{name: "checkpoint body flipped", cps: cpsWith(1, flip(cps[1], 8*len("garde/t-0001\n1"))), want: ledger.ErrSignature, msg: "checkpoint 2 of 4"},
		{name: "checkpoint signature changed", cps: cpsWith(2, swapBase64(cps[2], len(cps[2])-10)), want: ledger.ErrSignature, msg: "checkpoint 3 of 4"},
		{name: "checkpoint signed by another key", cps: cpsWith(0, foreign), want: ledger.ErrSignature, msg: "checkpoint 1 of 4"},
		{name: "wrong verifier key", key: otherKey, want: ledger.ErrSignature},
		{name: "not a verifier key", key: l.skey, want: ledger.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.records == nil {
				tt.records = l.records
			}
			if tt.indexes == nil {
				tt.indexes = seq(len(tt.records))
			}
			if tt.hashes == nil {
				tt.hashes = l.store
			}
			if tt.cps == nil {
				tt.cps = cps
			}
			if tt.key == "" {
				tt.key = l.vkey
			}
			sum, err := ledger.VerifyLog(rows(tt.records, tt.indexes), tt.hashes, tt.cps, tt.key)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("VerifyLog = %v", err)
				}
				if sum.Size != int64(len(tt.records)) {
					t.Errorf("VerifyLog size = %d, want %d", sum.Size, len(tt.records))
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("VerifyLog = %v, want %v", err, tt.want)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("VerifyLog = %q, want it to mention %q", err, tt.msg)
			}
			var le *ledger.LogError
			isEntry := tt.want != ledger.ErrSignature && tt.want != ledger.ErrMalformed
			if errors.As(err, &le) != isEntry {
				t.Fatalf("VerifyLog = %v (%T), LogError expected: %v", err, err, isEntry)
			}
			if isEntry && le.Index != tt.index {
				t.Errorf("VerifyLog names entry %d, want %d: %v", le.Index, tt.index, err)
			}
			if isEntry && !strings.HasPrefix(err.Error(), fmt.Sprintf("entry %d: ", tt.index)) {
				t.Errorf("VerifyLog = %q, want it to start with the entry index", err)
			}
		})
	}
}

func TestVerifyLogSummary(t *testing.T) {
	l := newTestLog(t, 10)
	sum, err := ledger.VerifyLog(ledger.Leaves(l.records), l.store, [][]byte{l.sign(t, 4), l.sign(t, 7)}, l.vkey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := ledger.NewCheckpoint(l.origin, 7, l.store)
	if want := (ledger.LogSummary{Size: 10, Checkpoint: c, Checkpoints: 2}); sum != want {
		t.Errorf("VerifyLog = %+v, want %+v", sum, want)
	}

	empty := newTestLog(t, 0)
	sum, err = ledger.VerifyLog(ledger.Leaves(nil), empty.store, [][]byte{empty.sign(t, 0)}, empty.vkey)
	if err != nil || sum.Size != 0 || sum.Checkpoints != 1 {
		t.Errorf("VerifyLog(empty) = %+v, %v", sum, err)
	}
}

// TestVerifyLogBatches tampers past the first batch of stored-hash reads.
func TestVerifyLogBatches(t *testing.T) {
	l := newTestLog(t, 5000)
	cps := [][]byte{l.sign(t, 4097), l.sign(t, 5000)}
	if _, err := ledger.VerifyLog(ledger.Leaves(l.records), l.store, cps, l.vkey); err != nil {
		t.Fatalf("VerifyLog = %v", err)
	}
	for _, i := range []int{4095, 4096, 4500, 4999} {
		r := slices.Clone(l.records)
		r[i] = flip(r[i], 1)
		_, err := ledger.VerifyLog(ledger.Leaves(r), l.store, cps, l.vkey)
		var le *ledger.LogError
		if !errors.As(err, &le) || le.Index != int64(i) || !errors.Is(err, ledger.ErrRecord) {
			t.Errorf("VerifyLog(record %d changed) = %v, want ErrRecord at %d", i, err, i)
		}
	}
}

func TestVerifyLogReadError(t *testing.T) {
	l := newTestLog(t, 5)
	boom := errors.New("disk on fire")
	leaves := func(yield func(ledger.Leaf, error) bool) {
		for i, r := range l.records[:3] {
			if !yield(ledger.Leaf{Index: int64(i), Record: r}, nil) {
				return
			}
		}
		yield(ledger.Leaf{}, boom)
	}
	_, err := ledger.VerifyLog(leaves, l.store, nil, l.vkey)
	var le *ledger.LogError
	if !errors.Is(err, boom) || errors.As(err, &le) || !strings.Contains(err.Error(), "leaf 3") {
		t.Errorf("VerifyLog(read error) = %v, want the read error at leaf 3, not a LogError", err)
	}
}
