package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// Evidence is everything a person needs to prove, offline and without trusting garde's
// servers, that an event is in a tenant's log: the inputs of the leaf commitment, the leaf's
// index, its inclusion proof, and a checkpoint signed by the tenant's key. With the tenant's
// verifier key (published separately, so a forger cannot swap it), [VerifyEvidence] checks
// it. Evidence holds personal data (the event content); its String and LogValue redact it.
type Evidence struct {
	Index      int64            // the leaf's position in the log
	Salt       []byte           // the salt given to [Commit]
	Content    []byte           // the event's canonical bytes given to [Commit]
	Proof      tlog.RecordProof // inclusion of the leaf in the checkpoint's tree
	Checkpoint []byte           // signed note, see [SignCheckpoint]
}

// NewEvidence assembles the evidence for leaf index, committed from salt and content, under
// checkpoint, a signed checkpoint of the log whose stored hashes r reads. It checks that the
// proof leads to the checkpoint's root, so a receipt that could never verify is not issued;
// it does not check the signature, which is the signer's own.
func NewEvidence(index int64, salt, content, checkpoint []byte, r tlog.HashReader) (Evidence, error) {
	c, err := peekCheckpoint(checkpoint)
	if err != nil {
		return Evidence{}, fmt.Errorf("new evidence for leaf %d: %w", index, err)
	}
	record, err := Commit(salt, content)
	if err != nil {
		return Evidence{}, fmt.Errorf("new evidence for leaf %d: %w", index, err)
	}
	p, err := ProveInclusion(index, c.Size, r)
	if err != nil {
		return Evidence{}, fmt.Errorf("new evidence: %w", err)
	}
	if err := VerifyInclusion(c, index, LeafHash(record), p); err != nil {
		return Evidence{}, fmt.Errorf("new evidence: record, stored hashes and checkpoint disagree: %w", err)
	}
	return Evidence{
		Index:      index,
		Salt:       bytes.Clone(salt),
		Content:    bytes.Clone(content),
		Proof:      p,
		Checkpoint: bytes.Clone(checkpoint),
	}, nil
}

// VerifyEvidence checks e against the tenant's verifierKey and returns the checkpoint it is
// proved against. It checks, in order, the checkpoint's signature and format, the salt, the
// index against the checkpoint's size, the proof's length, and finally that the commitment
// recomputed from the salt and content, at that index, leads through the proof to the signed
// root. The error says which step failed.
func VerifyEvidence(e Evidence, verifierKey string) (Checkpoint, error) {
	c, err := OpenCheckpoint(e.Checkpoint, verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verify evidence: %w", err)
	}
	record, err := Commit(e.Salt, e.Content)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("verify evidence: %w", err)
	}
	if e.Index < 0 || e.Index >= c.Size {
		return Checkpoint{}, fmt.Errorf("verify evidence: leaf %d is outside the signed tree of size %d: %w", e.Index, c.Size, ErrProof)
	}
	if want := proofLen(e.Index, c.Size); len(e.Proof) != want {
		return Checkpoint{}, fmt.Errorf("verify evidence: inclusion proof has %d hashes, leaf %d at size %d needs %d: %w", len(e.Proof), e.Index, c.Size, want, ErrProof)
	}
	if err := VerifyInclusion(c, e.Index, LeafHash(record), e.Proof); err != nil {
		return Checkpoint{}, fmt.Errorf("verify evidence: commitment to the salt and content does not lead to the signed root: %w", err)
	}
	return c, nil
}

// proofLen returns the length of the inclusion proof of leaf index at size, by asking tlog
// for a proof over a reader of zero hashes: only the count matters.
func proofLen(index, size int64) int {
	p, err := tlog.ProveRecord(size, index, tlog.HashReaderFunc(func(x []int64) ([]tlog.Hash, error) {
		return make([]tlog.Hash, len(x)), nil
	}))
	if err != nil {
		return -1
	}
	return len(p)
}

// evidenceVersion is the version of the JSON encoding and of the commitment scheme.
const evidenceVersion = 1

// evidenceJSON is the stable wire form of Evidence. Bytes are standard base64, hashes are
// base64 strings as in tlog and checkpoints, and the checkpoint is the signed note as text so
// that a person can read it.
type evidenceJSON struct {
	Version    int         `json:"version"`
	Index      int64       `json:"index"`
	Salt       []byte      `json:"salt"`
	Content    []byte      `json:"content"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint"`
}

// MarshalJSON encodes e in its stable JSON form:
//
//	{"version":1,"index":5,"salt":"<base64>","content":"<base64>","proof":["<base64 hash>",...],"checkpoint":"garde/t1\n6\n<base64 root>\n\n— garde/t1 <sig>\n"}
func (e Evidence) MarshalJSON() ([]byte, error) {
	if !utf8.Valid(e.Checkpoint) {
		return nil, fmt.Errorf("encode evidence: checkpoint is not UTF-8: %w", ErrMalformed)
	}
	proof := []tlog.Hash(e.Proof)
	if proof == nil {
		proof = []tlog.Hash{}
	}
	return json.Marshal(evidenceJSON{
		Version:    evidenceVersion,
		Index:      e.Index,
		Salt:       e.Salt,
		Content:    e.Content,
		Proof:      proof,
		Checkpoint: string(e.Checkpoint),
	})
}

// UnmarshalJSON decodes the form MarshalJSON writes. It refuses unknown fields and unknown
// versions rather than guess what they mean.
func (e *Evidence) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w evidenceJSON
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("decode evidence: %v: %w", err, ErrMalformed)
	}
	if w.Version != evidenceVersion {
		return fmt.Errorf("decode evidence: version %d, want %d: %w", w.Version, evidenceVersion, ErrMalformed)
	}
	*e = Evidence{
		Index:      w.Index,
		Salt:       w.Salt,
		Content:    w.Content,
		Proof:      w.Proof,
		Checkpoint: []byte(w.Checkpoint),
	}
	return nil
}

// String describes e without its salt or content.
func (e Evidence) String() string {
	return fmt.Sprintf("ledger.Evidence{Index: %d, Salt: [redacted], Content: [%d bytes redacted], Proof: %d hashes, Checkpoint: %d bytes}",
		e.Index, len(e.Content), len(e.Proof), len(e.Checkpoint))
}

// GoString is String, so that %#v redacts too.
func (e Evidence) GoString() string { return e.String() }

// LogValue implements [slog.LogValuer] without the salt or content.
func (e Evidence) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("index", e.Index),
		slog.Int("content_bytes", len(e.Content)),
		slog.Int("proof_hashes", len(e.Proof)),
	)
}
