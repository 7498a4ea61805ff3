package ledger

import (
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// A MemoryStore is a log kept in memory: its stored hashes and its size, not its records. It
// is the reference for what a database-backed store must do, and a real log for tests and
// benchmarks in any package. A MemoryStore is safe for concurrent use; its zero value is an
// empty log. At two hashes per leaf on average, a million leaves take about 64 MB.
type MemoryStore struct {
	mu     sync.RWMutex
	size   int64
	hashes []tlog.Hash // indexed by tlog.StoredHashIndex
}

// Append adds record as the next leaf and returns its index.
func (s *MemoryStore) Append(record []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.size
	hashes, err := AppendHashes(n, record, memoryReader{s})
	if err != nil {
		return 0, err
	}
	s.hashes = append(s.hashes, hashes...)
	s.size++
	return n, nil
}

// Size returns the number of leaves.
func (s *MemoryStore) Size() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.size
}

// ReadHashes implements [tlog.HashReader].
func (s *MemoryStore) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return memoryReader{s}.ReadHashes(indexes)
}

// memoryReader reads a MemoryStore whose lock the caller holds.
type memoryReader struct{ s *MemoryStore }

func (r memoryReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(r.s.hashes)) {
			return nil, fmt.Errorf("memory store: no stored hash %d, %d stored", x, len(r.s.hashes))
		}
		out[i] = r.s.hashes[x]
	}
	return out, nil
}
