package ledger

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"
)

const (
	// SaltSize is the size of the salts [NewSalt] returns.
	SaltSize = 32
	// MinSaltSize is the smallest salt [Commit] accepts. Below 128 bits of randomness, a
	// leaf over low-entropy content (a consent event has few plausible values) could be
	// brute-forced back to its content after the salt was meant to be forgotten.
	MinSaltSize = 16
	// RecordSize is the size of a leaf record, the output of [Commit].
	RecordSize = sha256.Size
)

// commitPrefix separates commitments from every other SHA-256 use, so a leaf record can
// never be confused with, say, a hash of a notice text or a tlog node. The version lets a
// future commitment scheme coexist with this one.
const commitPrefix = "garde/ledger/commitment/v1\x00"

// NewSalt returns SaltSize bytes from crypto/rand. The caller stores the salt beside the
// sealed content, under the same subject key, so that erasing the subject erases the salt.
func NewSalt() ([]byte, error) {
	salt := make([]byte, SaltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("new salt: %w", err)
	}
	return salt, nil
}

// Commit returns the leaf record for an event: SHA-256 of the domain separator, the salt's
// length, the salt and the content. The length prefix makes the encoding unambiguous, so no
// one can move bytes between salt and content and claim a different event under the same
// leaf. content must be the event's canonical bytes: the same event must always produce the
// same bytes, or its evidence will not verify later.
func Commit(salt, content []byte) ([]byte, error) {
	if len(salt) < MinSaltSize {
		return nil, fmt.Errorf("commit: salt of %d bytes, want at least %d: %w", len(salt), MinSaltSize, ErrMalformed)
	}
	h := sha256.New()
	h.Write([]byte(commitPrefix))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(salt)))
	h.Write(n[:])
	h.Write(salt)
	h.Write(content)
	return h.Sum(nil), nil
}

// LeafHash returns the RFC 6962 leaf hash of a record, SHA-256(0x00 || record): the value
// inclusion proofs are about.
func LeafHash(record []byte) tlog.Hash {
	return tlog.RecordHash(record)
}

// AppendHashes returns the hashes to persist when appending record as leaf n of a log whose
// first n leaves' stored hashes r can read. They belong at consecutive stored-hash indexes
// starting at tlog.StoredHashIndex(0, n); on average there are two per leaf. The caller must
// write the record and these hashes in one transaction, serialised per log, or the log forks.
func AppendHashes(n int64, record []byte, r tlog.HashReader) ([]tlog.Hash, error) {
	if n < 0 {
		return nil, fmt.Errorf("append leaf %d: negative index: %w", n, ErrMalformed)
	}
	if len(record) != RecordSize {
		return nil, fmt.Errorf("append leaf %d: record of %d bytes, want %d: %w", n, len(record), RecordSize, ErrMalformed)
	}
	hashes, err := tlog.StoredHashes(n, record, r)
	if err != nil {
		return nil, fmt.Errorf("append leaf %d: %w", n, err)
	}
	return hashes, nil
}

// TreeHash returns the root hash of the log's first size leaves.
func TreeHash(size int64, r tlog.HashReader) (tlog.Hash, error) {
	if size < 0 {
		return tlog.Hash{}, fmt.Errorf("tree hash at size %d: negative size: %w", size, ErrMalformed)
	}
	h, err := tlog.TreeHash(size, r)
	if err != nil {
		return tlog.Hash{}, fmt.Errorf("tree hash at size %d: %w", size, err)
	}
	return h, nil
}
