package ledger

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// TenantOrigin returns the origin of a tenant's log, "garde/<tenant-id>". The origin names
// the log in every checkpoint and is also the name of the tenant's signing key, so a
// checkpoint of one tenant's log can never pass for another's.
func TenantOrigin(tenantID string) string {
	return "garde/" + tenantID
}

// GenerateKey returns a new Ed25519 key pair for signing checkpoints of the log named origin,
// encoded in the signed-note formats: signerKey ("PRIVATE+KEY+<origin>+<hash>+<data>") is a
// secret to seal in the keyring; verifierKey ("<origin>+<hash>+<data>") is public and is what
// a person needs, besides their evidence, to check it offline.
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	if err := checkOrigin(origin); err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	signerKey, verifierKey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	return signerKey, verifierKey, nil
}

// A Checkpoint is a signed statement that the log named Origin had Size leaves with root
// Hash. Once a checkpoint is published, the operator can no longer rewrite any of those
// Size leaves without the rewrite being detectable: every later checkpoint must be
// consistent with it, and every inclusion proof must lead to its root.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// NewCheckpoint returns the checkpoint of the log named origin at size, with its root
// computed from the stored hashes r reads.
func NewCheckpoint(origin string, size int64, r tlog.HashReader) (Checkpoint, error) {
	h, err := TreeHash(size, r)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: size, Hash: h}, nil
}

// text returns the checkpoint body in the C2SP tlog-checkpoint format, which is also the
// format of the Go checksum database: three lines, origin, decimal size, base64 root.
func (c Checkpoint) text() string {
	return c.Origin + "\n" + strconv.FormatInt(c.Size, 10) + "\n" + c.Hash.String() + "\n"
}

// SignCheckpoint returns c as a signed note, signed with signerKey. The key's name must be
// c.Origin: a key signs only the log it was made for.
func SignCheckpoint(c Checkpoint, signerKey string) ([]byte, error) {
	if err := checkOrigin(c.Origin); err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	if c.Size < 0 {
		return nil, fmt.Errorf("sign checkpoint: negative size %d: %w", c.Size, ErrMalformed)
	}
	s, err := note.NewSigner(signerKey)
	if err != nil {
		// The note error never echoes the key, but say nothing more about it anyway.
		return nil, fmt.Errorf("sign checkpoint: signer key: %w", ErrMalformed)
	}
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("sign checkpoint: key for %q cannot sign log %q: %w", s.Name(), c.Origin, ErrSignature)
	}
	msg, err := note.Sign(&note.Note{Text: c.text()}, s)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies that msg is a checkpoint signed by verifierKey and returns it.
// The checkpoint's origin must be the key's name. Signatures by other keys (witness
// cosignatures, say) are allowed and ignored: they neither help nor hurt.
func OpenCheckpoint(msg []byte, verifierKey string) (Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("open checkpoint: verifier key: %w", ErrMalformed)
	}
	return openCheckpoint(msg, v)
}

func openCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("open checkpoint: no signature by key %s+%08x: %w", v.Name(), v.KeyHash(), ErrSignature)
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("open checkpoint: signature by key %s+%08x does not match the checkpoint text: %w", v.Name(), v.KeyHash(), ErrSignature)
		}
		return Checkpoint{}, fmt.Errorf("open checkpoint: %v: %w", err, ErrMalformed)
	}
	for _, sig := range n.Sigs {
		// base64 decoding ignores the padding bits of the last character, so one
		// signature has several encodings. Accept only the canonical one: a flipped
		// bit anywhere in a checkpoint must make it fail.
		if _, err := base64.StdEncoding.Strict().DecodeString(sig.Base64); err != nil {
			return Checkpoint{}, fmt.Errorf("open checkpoint: signature by key %s+%08x is not canonical base64: %w", v.Name(), v.KeyHash(), ErrSignature)
		}
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("open checkpoint: %w", err)
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, fmt.Errorf("open checkpoint: log %q signed by key for %q: %w", c.Origin, v.Name(), ErrSignature)
	}
	return c, nil
}

// PeekCheckpoint parses a signed checkpoint without verifying any signature. Only for the
// signer's own use, on a checkpoint it has just signed (to name its origin, say): anything
// received must go through [OpenCheckpoint].
func PeekCheckpoint(msg []byte) (Checkpoint, error) { return peekCheckpoint(msg) }

func peekCheckpoint(msg []byte) (Checkpoint, error) {
	_, err := note.Open(msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		return Checkpoint{}, fmt.Errorf("read checkpoint: %w", ErrMalformed)
	}
	c, err := parseCheckpoint(unverified.Note.Text)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("read checkpoint: %w", err)
	}
	return c, nil
}

// parseCheckpoint parses a checkpoint body strictly: exactly the three lines garde writes,
// with no leading zeros and canonical base64, so that one checkpoint has exactly one text.
// Extension lines are refused, since garde never writes them.
func parseCheckpoint(text string) (Checkpoint, error) {
	body, ok := strings.CutSuffix(text, "\n")
	lines := strings.Split(body, "\n")
	if !ok || len(lines) != 3 {
		return Checkpoint{}, fmt.Errorf("checkpoint text has %d lines, want 3: %w", len(lines), ErrMalformed)
	}
	c := Checkpoint{Origin: lines[0]}
	if err := checkOrigin(c.Origin); err != nil {
		return Checkpoint{}, err
	}
	size := lines[1]
	if size == "" || size[0] < '0' || size[0] > '9' || size[0] == '0' && len(size) > 1 {
		return Checkpoint{}, fmt.Errorf("checkpoint size line is not a canonical decimal: %w", ErrMalformed)
	}
	n, err := strconv.ParseInt(size, 10, 64)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint size line is not a canonical decimal: %w", ErrMalformed)
	}
	c.Size = n
	h, err := tlog.ParseHash(lines[2])
	if err != nil || h.String() != lines[2] {
		return Checkpoint{}, fmt.Errorf("checkpoint root line is not a canonical base64 hash: %w", ErrMalformed)
	}
	c.Hash = h
	return c, nil
}

// checkOrigin applies the signed-note rules for key names to an origin, since the origin is
// also the key name: non-empty UTF-8 with no spaces, no control characters and no '+'.
func checkOrigin(origin string) error {
	if origin == "" || !utf8.ValidString(origin) {
		return fmt.Errorf("origin is empty or not UTF-8: %w", ErrMalformed)
	}
	for _, r := range origin {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '+' {
			return fmt.Errorf("origin %q contains a space, a control character or '+': %w", origin, ErrMalformed)
		}
	}
	return nil
}
