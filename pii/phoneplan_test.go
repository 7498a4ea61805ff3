package pii

import (
	"math/rand/v2"
	"testing"
)

// TestPhonePlanBlocks checks the premise of planTable: that the validity of
// a number is decided by its block. For random blocks it compares the
// block's answer with libphonenumber on other numbers of the block.
func TestPhonePlanBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	plans := []struct {
		name  string
		cc    int32
		lens  []int
		valid func([]byte) bool
		floor float64
	}{
		{"FR", 33, []int{9}, frValid, 0.999},
		{"NANP", 1, []int{10}, nanpValid, 0.99},
		{"GB", 44, []int{9, 10}, gbValid, 0.99},
	}
	for _, p := range plans {
		t.Run(p.name, func(t *testing.T) {
			const n = 3000
			agree := 0
			for range n {
				l := p.lens[rng.IntN(len(p.lens))]
				d := make([]byte, l)
				d[0] = byte('1' + rng.IntN(9))
				for k := 1; k < l; k++ {
					d[k] = byte('0' + rng.IntN(10))
				}
				if p.valid(d) == validNumber(p.cc, d, false, "") {
					agree++
				}
			}
			rate := float64(agree) / n
			t.Logf("%s: block answer agrees with libphonenumber on %.4f of random numbers", p.name, rate)
			if rate < p.floor {
				t.Errorf("%s agreement = %.4f, want ≥ %.3f", p.name, rate, p.floor)
			}
		})
	}
}
