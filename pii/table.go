package pii

// wordTable is a read-only open-addressing hash table from short folded
// words to values, built once at init. It replaces Go maps on the hot
// path: the hash (FNV-1a) is cheap on words of a few bytes, and a lookup
// costs one probe in the common case.
type wordTable[V any] struct {
	mask  uint32
	slots []wordSlot[V]
}

type wordSlot[V any] struct {
	key  string
	val  V
	used bool
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
	for n < uint32(len(m))*3 {
		n <<= 1
	}
	t := wordTable[V]{mask: n - 1, slots: make([]wordSlot[V], n)}
	for k, v := range m {
		i := hashWord([]byte(k)) & t.mask
		for t.slots[i].used {
			i = (i + 1) & t.mask
		}
		t.slots[i] = wordSlot[V]{key: k, val: v, used: true}
	}
	return t
}

func (t *wordTable[V]) get(b []byte) (V, bool) { return t.getHash(b, hashWord(b)) }

// getHash is get with the hash of b computed by the caller.
func (t *wordTable[V]) getHash(b []byte, h uint32) (V, bool) {
	i := h & t.mask
	for {
		s := &t.slots[i]
		if !s.used {
			var zero V
			return zero, false
		}
		if s.key == string(b) {
			return s.val, true
		}
		i = (i + 1) & t.mask
	}
}
