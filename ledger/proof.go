package ledger

import (
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

// ProveInclusion returns the proof that leaf index is in the log's tree of the given size:
// the RFC 6962 audit path, at most ⌈log₂ size⌉ hashes.
func ProveInclusion(index, size int64, r tlog.HashReader) (tlog.RecordProof, error) {
	if index < 0 || index >= size {
		return nil, fmt.Errorf("prove inclusion of leaf %d at size %d: leaf outside the tree: %w", index, size, ErrMalformed)
	}
	p, err := tlog.ProveRecord(size, index, r)
	if err != nil {
		return nil, fmt.Errorf("prove inclusion of leaf %d at size %d: %w", index, size, err)
	}
	return p, nil
}

// VerifyInclusion checks that p proves that the tree described by c holds leaf (the
// [LeafHash] of the record) at index. It says nothing about who signed c: open c with
// [OpenCheckpoint] first.
func VerifyInclusion(c Checkpoint, index int64, leaf tlog.Hash, p tlog.RecordProof) error {
	if index < 0 || index >= c.Size {
		return fmt.Errorf("verify inclusion of leaf %d at size %d: leaf outside the tree: %w", index, c.Size, ErrProof)
	}
	if err := tlog.CheckRecord(p, c.Size, c.Hash, index, leaf); err != nil {
		return fmt.Errorf("verify inclusion of leaf %d at size %d (%d proof hashes): %w", index, c.Size, len(p), ErrProof)
	}
	return nil
}

// ProveConsistency returns the proof that the log's tree of newSize leaves extends the tree
// of oldSize leaves without changing any of them: the RFC 6962 consistency proof. The proof
// between an empty tree and any tree is empty.
func ProveConsistency(oldSize, newSize int64, r tlog.HashReader) (tlog.TreeProof, error) {
	if oldSize < 0 || oldSize > newSize {
		return nil, fmt.Errorf("prove consistency from size %d to %d: sizes out of order: %w", oldSize, newSize, ErrMalformed)
	}
	if oldSize == 0 {
		return tlog.TreeProof{}, nil
	}
	p, err := tlog.ProveTree(newSize, oldSize, r)
	if err != nil {
		return nil, fmt.Errorf("prove consistency from size %d to %d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// VerifyConsistency checks that p proves that the tree described by newer extends the tree
// described by older: every leaf older committed to is still there, unchanged, in the same
// place. Both must be checkpoints of the same log. This is what makes a rewrite visible to
// anyone who kept an old checkpoint. Like [VerifyInclusion], it trusts older and newer as
// given: open them with [OpenCheckpoint] first.
func VerifyConsistency(older, newer Checkpoint, p tlog.TreeProof) error {
	if older.Origin != newer.Origin {
		return fmt.Errorf("verify consistency: checkpoints of logs %q and %q: %w", older.Origin, newer.Origin, ErrProof)
	}
	if older.Size < 0 || older.Size > newer.Size {
		return fmt.Errorf("verify consistency from size %d to %d: sizes out of order: %w", older.Size, newer.Size, ErrProof)
	}
	if older.Size == 0 {
		empty, _ := tlog.TreeHash(0, nil)
		if older.Hash != empty || len(p) != 0 {
			return fmt.Errorf("verify consistency from size 0 to %d: not the empty tree or not an empty proof: %w", newer.Size, ErrProof)
		}
		return nil
	}
	if err := tlog.CheckTree(p, newer.Size, newer.Hash, older.Size, older.Hash); err != nil {
		return fmt.Errorf("verify consistency from size %d to %d (%d proof hashes): %w", older.Size, newer.Size, len(p), ErrProof)
	}
	return nil
}
