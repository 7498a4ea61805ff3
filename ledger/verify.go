package ledger

import (
	"cmp"
	"fmt"
	"iter"
	"slices"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A Leaf is one row of a log as the caller stores it: its index and its record.
type Leaf struct {
	Index  int64
	Record []byte
}

// Leaves numbers records from 0, for callers that hold a whole log in a slice.
func Leaves(records [][]byte) iter.Seq2[Leaf, error] {
	return func(yield func(Leaf, error) bool) {
		for i, r := range records {
			if !yield(Leaf{Index: int64(i), Record: r}, nil) {
				return
			}
		}
	}
}

// A LogError names the first entry at which a log stops being what was signed. Err is one
// of [ErrRecord], [ErrStoredHash], [ErrCheckpoint], [ErrMissing] or [ErrUnexpected], wrapped
// with detail.
type LogError struct {
	// Index is the first leaf that is wrong, missing or unexpected. For ErrCheckpoint, the
	// leaves and every stored hash above them were rewritten consistently, and only the
	// checkpoint shows it: Index is then the first leaf the previous good checkpoint does
	// not cover, and the bad entry is at Index or after, before the checkpoint's size.
	Index int64
	Err   error
}

func (e *LogError) Error() string { return fmt.Sprintf("entry %d: %v", e.Index, e.Err) }
func (e *LogError) Unwrap() error { return e.Err }

// A LogSummary describes a log that verified.
type LogSummary struct {
	// Size is the number of leaves, all consistent with their stored hashes.
	Size int64
	// Checkpoint is the largest verified checkpoint; Size-Checkpoint.Size leaves are not
	// yet covered by any signature and are only as trustworthy as the database.
	Checkpoint Checkpoint
	// Checkpoints is the number of checkpoints verified.
	Checkpoints int
}

// verifyBatch is how many leaves' stored hashes VerifyLog reads at once: large enough that
// a database answers few queries, small enough to keep memory flat. Each read asks for a
// sorted, contiguous range of stored-hash indexes, about two per leaf.
const verifyBatch = 4096

// VerifyLog checks a whole log, as `garde verify ledger` does, and names the first bad
// entry with a *[LogError]. leaves must yield every leaf in index order, from 0; hashes
// reads the stored hashes; checkpoints are the signed checkpoints kept for the log, in any
// order, each of which must be signed by verifierKey.
//
// It recomputes every stored hash from the records, independently of the stored values, and
// compares: a changed record, or a removed, inserted or reordered row, is named at the exact
// index where the sequence first differs from what was appended. A checkpoint must match
// the root recomputed at its size; this catches the one rewrite stored hashes cannot, where
// the leaves and all the hashes above them were rewritten together. Memory stays at
// O(log n) plus one batch, so a log of any size can be checked; records are not retained
// after they are yielded, so the caller may reuse a buffer.
func VerifyLog(leaves iter.Seq2[Leaf, error], hashes tlog.HashReader, checkpoints [][]byte, verifierKey string) (LogSummary, error) {
	return VerifyLogKeys(leaves, hashes, checkpoints, []string{verifierKey})
}

// VerifyLogKeys is [VerifyLog] for a tree whose checkpoints were signed under several log
// identities in turn (epochs: a new origin and key each): each checkpoint must be signed by
// the key in verifierKeys named by its origin, and every checkpoint, whatever its origin,
// must match the one tree recomputed from the leaves.
func VerifyLogKeys(leaves iter.Seq2[Leaf, error], hashes tlog.HashReader, checkpoints [][]byte, verifierKeys []string) (LogSummary, error) {
	var first note.Verifier
	byName := map[string]note.Verifier{}
	for _, k := range verifierKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return LogSummary{}, fmt.Errorf("verify log: verifier key: %w", ErrMalformed)
		}
		if first == nil {
			first = v
		}
		byName[v.Name()] = v
	}
	if first == nil {
		return LogSummary{}, fmt.Errorf("verify log: no verifier key: %w", ErrMalformed)
	}
	cps := make([]Checkpoint, len(checkpoints))
	for i, msg := range checkpoints {
		// The origin read before verifying only chooses which key to try: a
		// checkpoint of an origin with no key fails under the first key.
		v := first
		if c, err := peekCheckpoint(msg); err == nil && byName[c.Origin] != nil {
			v = byName[c.Origin]
		}
		c, err := openCheckpoint(msg, v)
		if err != nil {
			return LogSummary{}, fmt.Errorf("verify log: checkpoint %d of %d: %w", i+1, len(checkpoints), err)
		}
		cps[i] = c
	}
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return cmp.Compare(a.Size, b.Size) })

	w := logWalker{hashes: hashes, cps: cps}
	if err := w.checkpoints(); err != nil {
		return LogSummary{}, err
	}
	for leaf, err := range leaves {
		if err != nil {
			if ferr := w.flush(); ferr != nil {
				return LogSummary{}, ferr
			}
			return LogSummary{}, fmt.Errorf("verify log: read leaf %d: %w", w.next, err)
		}
		if err := w.add(leaf); err != nil {
			return LogSummary{}, err
		}
	}
	if err := w.flush(); err != nil {
		return LogSummary{}, err
	}
	if len(w.cps) > 0 {
		c := w.cps[0]
		return LogSummary{}, &LogError{Index: w.next, Err: fmt.Errorf("%w: a checkpoint signs %d leaves, the log has %d", ErrMissing, c.Size, w.next)}
	}
	return LogSummary{Size: w.next, Checkpoint: w.good, Checkpoints: len(cps)}, nil
}

// logWalker recomputes a log leaf by leaf.
type logWalker struct {
	hashes tlog.HashReader
	cps    []Checkpoint // not yet reached, by size
	good   Checkpoint   // largest verified so far
	next   int64        // index of the next leaf
	f      frontier

	// The batch of leaves whose recomputed stored hashes still await comparison.
	start int64       // first leaf of the batch
	want  []tlog.Hash // recomputed stored hashes, from tlog.StoredHashIndex(0, start)
	ends  []int       // ends[i] is the end in want of leaf start+i's hashes
}

func (w *logWalker) add(leaf Leaf) error {
	if leaf.Index != w.next {
		if err := w.flush(); err != nil {
			return err
		}
		if leaf.Index > w.next {
			return &LogError{Index: w.next, Err: fmt.Errorf("%w: the next entry has index %d", ErrMissing, leaf.Index)}
		}
		return &LogError{Index: leaf.Index, Err: fmt.Errorf("%w: index %d after index %d", ErrUnexpected, leaf.Index, w.next-1)}
	}
	if len(leaf.Record) != RecordSize {
		if err := w.flush(); err != nil {
			return err
		}
		return &LogError{Index: w.next, Err: fmt.Errorf("%w: record of %d bytes, want %d", ErrRecord, len(leaf.Record), RecordSize)}
	}
	hs, err := tlog.StoredHashes(w.next, leaf.Record, &w.f)
	if err != nil {
		return fmt.Errorf("verify log: leaf %d: %w", w.next, err) // a bug in the frontier, not in the log
	}
	w.f.add(w.next, hs)
	w.want = append(w.want, hs...)
	w.ends = append(w.ends, len(w.want))
	w.next++
	if len(w.cps) > 0 && w.cps[0].Size == w.next {
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.checkpoints(); err != nil {
			return err
		}
	}
	if len(w.ends) >= verifyBatch {
		return w.flush()
	}
	return nil
}

// checkpoints checks every pending checkpoint of the current size against the recomputed
// root. The batch must have been flushed, so that a leaf proved wrong by its stored hash is
// reported before the checkpoint it spoils.
func (w *logWalker) checkpoints() error {
	for len(w.cps) > 0 && w.cps[0].Size == w.next {
		c := w.cps[0]
		root, err := tlog.TreeHash(c.Size, &w.f)
		if err != nil {
			return fmt.Errorf("verify log: root at size %d: %w", c.Size, err)
		}
		if root != c.Hash {
			return &LogError{Index: w.good.Size, Err: fmt.Errorf("%w: checkpoint at size %d has root %v, the leaves give %v; an entry from %d on was rewritten along with its stored hashes",
				ErrCheckpoint, c.Size, c.Hash, root, w.good.Size)}
		}
		w.good = c
		w.cps = w.cps[1:]
	}
	return nil
}

// flush compares the batch's recomputed stored hashes with the stored ones.
func (w *logWalker) flush() error {
	if len(w.ends) == 0 {
		return nil
	}
	base := tlog.StoredHashIndex(0, w.start)
	idx := make([]int64, len(w.want))
	for i := range idx {
		idx[i] = base + int64(i)
	}
	got, err := w.hashes.ReadHashes(idx)
	if err == nil && len(got) != len(idx) {
		err = fmt.Errorf("read %d stored hashes, got %d", len(idx), len(got))
	}
	if err != nil {
		return w.locateReadError(err)
	}
	lo := 0
	for i, hi := range w.ends {
		for j := lo; j < hi; j++ {
			if got[j] == w.want[j] {
				continue
			}
			n := w.start + int64(i)
			level := j - lo
			if level == 0 {
				return &LogError{Index: n, Err: fmt.Errorf("%w: stored hash %d", ErrRecord, base+int64(j))}
			}
			return &LogError{Index: n, Err: fmt.Errorf("%w: stored hash %d, level %d, covering leaves %d to %d",
				ErrStoredHash, base+int64(j), level, n+1-int64(1)<<level, n)}
		}
		lo = hi
	}
	w.start = w.next
	w.want = w.want[:0]
	w.ends = w.ends[:0]
	return nil
}

// locateReadError reads the batch leaf by leaf to name the first leaf whose stored hashes
// cannot be read: a deleted row is tampering too.
func (w *logWalker) locateReadError(batchErr error) error {
	base := tlog.StoredHashIndex(0, w.start)
	lo := 0
	for i, hi := range w.ends {
		idx := make([]int64, hi-lo)
		for j := range idx {
			idx[j] = base + int64(lo+j)
		}
		got, err := w.hashes.ReadHashes(idx)
		if err == nil && len(got) != len(idx) {
			err = fmt.Errorf("read %d stored hashes, got %d", len(idx), len(got))
		}
		if err != nil {
			return &LogError{Index: w.start + int64(i), Err: fmt.Errorf("%w: its stored hashes cannot be read: %w", ErrMissing, err)}
		}
		lo = hi
	}
	return fmt.Errorf("verify log: read stored hashes of leaves %d to %d: %w", w.start, w.next-1, batchErr)
}

// frontier is a [tlog.HashReader] over the only recomputed hashes that appending and tree
// hashing ever read: the last node at each level, the roots of the complete subtrees on the
// log's right edge. It keeps VerifyLog's memory logarithmic in the log's size.
type frontier struct {
	node [64]int64 // node index + 1 at each level; 0 when the level is empty
	hash [64]tlog.Hash
}

// add records the stored hashes of leaf n: hashes[j] is node n>>j at level j.
func (f *frontier) add(n int64, hashes []tlog.Hash) {
	for j, h := range hashes {
		f.node[j] = n>>j + 1
		f.hash[j] = h
	}
}

func (f *frontier) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		level, n := tlog.SplitStoredHashIndex(x)
		if level < 0 || level >= len(f.node) || f.node[level] != n+1 {
			return nil, fmt.Errorf("stored hash %d (level %d, node %d) is not on the right edge", x, level, n)
		}
		out[i] = f.hash[level]
	}
	return out, nil
}
