// Package ledger is the tamper-evident, append-only log behind garde's proof of consent and
// of access: per-tenant Merkle logs with RFC 6962 hashing, signed checkpoints, inclusion and
// consistency proofs, self-contained evidence a person can keep and check offline, and
// whole-log verification that names the first bad entry.
//
// The package is pure: it holds no storage and no clock. The caller persists the stored
// hashes returned by [AppendHashes] (indexed by [tlog.StoredHashIndex]) in its own database,
// and hands them back through a [tlog.HashReader]. The Merkle arithmetic is
// golang.org/x/mod/sumdb/tlog, the signatures are golang.org/x/mod/sumdb/note: nothing here
// re-implements either, so the log is exactly as compatible with Certificate Transparency and
// the Go checksum database as those packages are.
//
// Why leaves are commitments: GDPR erasure and a permanent log look contradictory. A leaf is
// SHA-256 over a domain separator, a random salt and the event's canonical bytes ([Commit]);
// the salt and the content live in deletable storage sealed under the subject's key. While
// they exist, the event can be proved to be in the log; once the subject key is destroyed,
// the leaf is 32 random-looking bytes that reveal nothing, and the log still verifies.
package ledger

import "errors"

// Errors that callers can test for with [errors.Is]. Each is wrapped with the context that
// says exactly what failed (which leaf, which checkpoint, which proof element count); none
// of them ever carries event content, salts or other personal data.
var (
	// ErrMalformed reports input that does not parse: a checkpoint, a key, evidence JSON.
	ErrMalformed = errors.New("ledger: malformed input")
	// ErrSignature reports a checkpoint that is not validly signed by the expected key.
	ErrSignature = errors.New("ledger: checkpoint signature not verified")
	// ErrProof reports an inclusion or consistency proof that does not verify.
	ErrProof = errors.New("ledger: proof does not verify")

	// The errors below are carried by a [LogError] from [VerifyLog].

	// ErrRecord reports a leaf record whose hash differs from its stored leaf hash: the
	// record was changed, or rows were removed, inserted or reordered.
	ErrRecord = errors.New("ledger: record does not match its stored leaf hash")
	// ErrStoredHash reports a stored interior hash that differs from the hash of the
	// subtree below it.
	ErrStoredHash = errors.New("ledger: stored hash does not match the leaves below it")
	// ErrCheckpoint reports a signed checkpoint whose root differs from the tree recomputed
	// from the leaves: the leaves and their stored hashes were rewritten together.
	ErrCheckpoint = errors.New("ledger: log does not match a signed checkpoint")
	// ErrMissing reports an entry that should be there and is not.
	ErrMissing = errors.New("ledger: entry missing")
	// ErrUnexpected reports an entry out of sequence: a duplicate or inserted index.
	ErrUnexpected = errors.New("ledger: entry out of sequence")
)
