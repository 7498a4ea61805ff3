package pii

// wordTable is a read-only open-addressing hash table from short folded
// words to values, built once at init. It replaces Go maps on the hot
// path: the hash (FNV-1a) is computed while folding, and the slots hold
// only the hash and an index (8 bytes each, half empty), so a miss —
// the common case — usually costs one cache line and no string compare.
type wordTable[V any] struct {
	mask  uint32
	slots []uint64 // hash<<32 | index+1; 0 is empty
	keys  []string
	vals  []V
}

func hashWord(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

func newWordTable[V any](m map[string]V) wordTable[V] {
	n := uint32(16)
	for n < uint32(len(m))*2 {
		n <<= 1
	}
	t := wordTable[V]{mask: n - 1, slots: make([]uint64, n)}
	for k, v := range m {
		h := hashWord([]byte(k))
		i := h & t.mask
		for t.slots[i] != 0 {
			i = (i + 1) & t.mask
		}
		t.keys = append(t.keys, k)
		t.vals = append(t.vals, v)
		t.slots[i] = uint64(h)<<32 | uint64(len(t.keys))
	}
	return t
}

// getHash looks b up, with its hash (hashWord) computed by the caller.
func (t *wordTable[V]) getHash(b []byte, h uint32) (V, bool) {
	i := h & t.mask
	for {
		s := t.slots[i]
		if s == 0 {
			var zero V
			return zero, false
		}
		if uint32(s>>32) == h {
			if k := uint32(s) - 1; t.keys[k] == string(b) {
				return t.vals[k], true
			}
		}
		i = (i + 1) & t.mask
	}
}
