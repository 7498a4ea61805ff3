package ledger_test

import (
	"errors"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

func TestInclusion(t *testing.T) {
	l := newTestLog(t, 33)
	for size := int64(1); size <= 33; size++ {
		c, err := ledger.NewCheckpoint(l.origin, size, l.store)
		if err != nil {
			t.Fatal(err)
		}
		for i := range size {
			p, err := ledger.ProveInclusion(i, size, l.store)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d) = %v", i, size, err)
			}
			leaf := ledger.LeafHash(l.records[i])
			if err := ledger.VerifyInclusion(c, i, leaf, p); err != nil {
				t.Fatalf("VerifyInclusion(size %d, leaf %d) = %v", size, i, err)
			}
			// Every tampering must fail.
			for j := range p {
				bad := append(tlog.RecordProof(nil), p...)
				bad[j][j%32] ^= 1
				if err := ledger.VerifyInclusion(c, i, leaf, bad); !errors.Is(err, ledger.ErrProof) {
					t.Fatalf("VerifyInclusion(size %d, leaf %d, proof hash %d flipped) = %v, want ErrProof", size, i, j, err)
				}
			}
			other := ledger.LeafHash(l.records[(i+1)%size])
			if size > 1 {
				if err := ledger.VerifyInclusion(c, i, other, p); !errors.Is(err, ledger.ErrProof) {
					t.Fatalf("VerifyInclusion(size %d, leaf %d, other record) = %v, want ErrProof", size, i, err)
				}
				if err := ledger.VerifyInclusion(c, (i+1)%size, leaf, p); !errors.Is(err, ledger.ErrProof) {
					t.Fatalf("VerifyInclusion(size %d, leaf %d at index %d) = %v, want ErrProof", size, i, (i+1)%size, err)
				}
			}
			if err := ledger.VerifyInclusion(c, i, leaf, append(p, tlog.Hash{})); !errors.Is(err, ledger.ErrProof) {
				t.Fatalf("VerifyInclusion(size %d, leaf %d, extra hash) = %v, want ErrProof", size, i, err)
			}
			if len(p) > 0 {
				if err := ledger.VerifyInclusion(c, i, leaf, p[:len(p)-1]); !errors.Is(err, ledger.ErrProof) {
					t.Fatalf("VerifyInclusion(size %d, leaf %d, truncated) = %v, want ErrProof", size, i, err)
				}
			}
			badRoot := c
			badRoot.Hash[0] ^= 1
			if err := ledger.VerifyInclusion(badRoot, i, leaf, p); !errors.Is(err, ledger.ErrProof) {
				t.Fatalf("VerifyInclusion(size %d, leaf %d, other root) = %v, want ErrProof", size, i, err)
			}
		}
	}
}

func TestInclusionErrors(t *testing.T) {
	l := newTestLog(t, 4)
	c, _ := ledger.NewCheckpoint(l.origin, 4, l.store)
	for _, tt := range []struct{ index, size int64 }{{-1, 4}, {4, 4}, {0, 0}, {5, 8}} {
		if _, err := ledger.ProveInclusion(tt.index, tt.size, l.store); err == nil {
			t.Errorf("ProveInclusion(%d, %d) succeeded", tt.index, tt.size)
		}
	}
	for _, i := range []int64{-1, 4, 100} {
		if err := ledger.VerifyInclusion(c, i, tlog.Hash{}, nil); !errors.Is(err, ledger.ErrProof) {
			t.Errorf("VerifyInclusion(index %d, size 4) = %v, want ErrProof", i, err)
		}
	}
}

func TestConsistency(t *testing.T) {
	const n = 70
	l := newTestLog(t, n)
	cps := make([]ledger.Checkpoint, n+1)
	for size := range int64(n + 1) {
		cps[size], _ = ledger.NewCheckpoint(l.origin, size, l.store)
	}
	pairs := 0
	for older := int64(0); older <= n; older++ {
		for newer := older; newer <= n; newer++ {
			pairs++
			p, err := ledger.ProveConsistency(older, newer, l.store)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d) = %v", older, newer, err)
			}
			if err := ledger.VerifyConsistency(cps[older], cps[newer], p); err != nil {
				t.Fatalf("VerifyConsistency(%d, %d) = %v", older, newer, err)
			}
			for j := range p {
				bad := append(tlog.TreeProof(nil), p...)
				bad[j][31] ^= 0x80
				if err := ledger.VerifyConsistency(cps[older], cps[newer], bad); !errors.Is(err, ledger.ErrProof) {
					t.Fatalf("VerifyConsistency(%d, %d, hash %d flipped) = %v, want ErrProof", older, newer, j, err)
				}
			}
			if older > 0 && older < newer {
				// A different old tree of the same size: the proof must not fit it.
				forked := cps[older]
				forked.Hash[5] ^= 1
				if err := ledger.VerifyConsistency(forked, cps[newer], p); !errors.Is(err, ledger.ErrProof) {
					t.Fatalf("VerifyConsistency(forked %d, %d) = %v, want ErrProof", older, newer, err)
				}
			}
		}
	}
	t.Logf("%d size pairs", pairs)

	p, _ := ledger.ProveConsistency(3, 9, l.store)
	for _, tt := range []struct {
		name         string
		older, newer ledger.Checkpoint
	}{
		{"other origin", ledger.Checkpoint{Origin: "garde/t-0002", Size: 3, Hash: cps[3].Hash}, cps[9]},
		{"sizes swapped", cps[9], cps[3]},
		{"empty tree with a wrong hash", ledger.Checkpoint{Origin: l.origin}, cps[9]},
		{"sizes off by one", cps[4], cps[9]},
	} {
		if err := ledger.VerifyConsistency(tt.older, tt.newer, p); !errors.Is(err, ledger.ErrProof) {
			t.Errorf("VerifyConsistency(%s) = %v, want ErrProof", tt.name, err)
		}
	}
	if _, err := ledger.ProveConsistency(9, 3, l.store); err == nil {
		t.Error("ProveConsistency(9, 3) succeeded")
	}
}
