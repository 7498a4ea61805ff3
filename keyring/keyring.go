// Package keyring holds garde's key hierarchy: a master key wraps one key
// per tenant, a tenant key wraps one data key per subject, and a data key
// seals that subject's personal data with AES-256-GCM.
//
// Erasure is key destruction: once the wrapped data key of a subject is
// deleted, every ciphertext sealed under it — in the live database, its
// replicas and its backups — can no longer be opened. The package therefore
// never derives a data key from anything that outlives it.
//
// Ciphertexts carry a small header (format version, key version, nonce) so
// that keys can be rotated by adding versions: old versions stay readable
// until they are retired, and nothing has to be rewritten to rotate.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/hkdf"
)

// KeySize is the size of every key in the hierarchy: 256 bits.
const KeySize = 32

const formatV1 byte = 1

const (
	nonceSize = 12
	// headerSize is format (1) + key version (4) + nonce (12).
	headerSize = 1 + 4 + nonceSize
)

// Overhead is the number of bytes a sealed value adds to its plaintext.
const Overhead = headerSize + 16

// ErrOpen is returned when a ciphertext cannot be opened: wrong key, wrong
// associated data, or tampered bytes. The three are deliberately not told
// apart.
var ErrOpen = errors.New("keyring: message authentication failed")

// ErrFormat is returned for a ciphertext whose header garde does not know.
var ErrFormat = errors.New("keyring: unknown ciphertext format")

// Key is a 256-bit secret key. It is a value type so that it can be zeroed
// by its owner; it never implements String with its content.
type Key [KeySize]byte

// String redacts the key so that it cannot reach a log by accident.
func (Key) String() string { return "keyring.Key(redacted)" }

// GoString redacts the key for %#v as well.
func (k Key) GoString() string { return k.String() }

// Generate returns a new random key from crypto/rand.
func Generate() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// KeyFromBytes copies b into a Key; b must be exactly KeySize bytes.
func KeyFromBytes(b []byte) (Key, error) {
	var k Key
	if len(b) != KeySize {
		return k, fmt.Errorf("keyring: key is %d bytes, want %d", len(b), KeySize)
	}
	copy(k[:], b)
	return k, nil
}

// Derive derives an independent sub-key for one use (label) with HKDF-SHA256.
// garde derives the blind-index, pseudonym and audit keys of a tenant this
// way, so that one stable tenant secret serves several uses without one use
// revealing another.
func Derive(k Key, label string) Key {
	var out Key
	r := hkdf.New(sha256.New, k[:], nil, []byte("garde/v1/"+label))
	if _, err := r.Read(out[:]); err != nil {
		// HKDF-SHA256 can produce far more than 32 bytes; an error here
		// means the standard library is broken.
		panic(fmt.Sprintf("keyring: hkdf: %v", err))
	}
	return out
}

// MAC returns HMAC-SHA256(k, data). Blind indexes, pseudonyms and subject
// references in the audit trail are MACs under tenant-derived keys: equal
// inputs give equal outputs within a tenant, and nothing across tenants.
func MAC(k Key, data []byte) []byte {
	m := hmac.New(sha256.New, k[:])
	m.Write(data)
	return m.Sum(nil)
}

// AD is the associated data that binds a ciphertext to its place: which
// tenant, which subject, which record and which field. A ciphertext moved to
// another row or column fails to open.
type AD struct {
	Tenant, Subject, Record, Field string
}

// Append appends the canonical, unambiguous encoding of ad (each part
// length-prefixed) to b.
func (ad AD) Append(b []byte) []byte {
	for _, s := range [...]string{ad.Tenant, ad.Subject, ad.Record, ad.Field} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// Sealer seals and opens with one version of one key. It caches the AES-GCM
// instance so that sealing a message costs one AEAD pass and no key schedule.
// A Sealer is safe for concurrent use.
type Sealer struct {
	version uint32
	aead    cipher.AEAD
}

// NewSealer returns a Sealer for key k, which ciphertexts will name as
// version.
func NewSealer(k Key, version uint32) (*Sealer, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return &Sealer{version: version, aead: aead}, nil
}

// Version is the key version this Sealer writes into its ciphertexts.
func (s *Sealer) Version() uint32 { return s.version }

// Seal encrypts plaintext bound to ad. The output is
// format(1) | key version(4, big endian) | nonce(12) | AES-GCM ciphertext+tag.
// The header is authenticated too.
func (s *Sealer) Seal(plaintext []byte, ad AD) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+s.aead.Overhead())
	out[0] = formatV1
	binary.BigEndian.PutUint32(out[1:5], s.version)
	if _, err := rand.Read(out[5:headerSize]); err != nil {
		return nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	var adBuf [128]byte
	aad := ad.Append(append(adBuf[:0], out[:5]...))
	return s.aead.Seal(out, out[5:headerSize], plaintext, aad), nil
}

// Open decrypts a ciphertext made by Seal with the same key and ad.
func (s *Sealer) Open(ciphertext []byte, ad AD) ([]byte, error) {
	v, err := KeyVersion(ciphertext)
	if err != nil {
		return nil, err
	}
	if v != s.version {
		return nil, fmt.Errorf("keyring: ciphertext names key version %d, sealer has %d: %w", v, s.version, ErrOpen)
	}
	var adBuf [128]byte
	aad := ad.Append(append(adBuf[:0], ciphertext[:5]...))
	pt, err := s.aead.Open(nil, ciphertext[5:headerSize], ciphertext[headerSize:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// KeyVersion reads the key version from a ciphertext's header, so that the
// caller can pick the right key before opening it.
func KeyVersion(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < headerSize+16 || ciphertext[0] != formatV1 {
		return 0, ErrFormat
	}
	return binary.BigEndian.Uint32(ciphertext[1:5]), nil
}

// Wrap seals key k under the key-encryption key kek, bound to ad.
func Wrap(kek *Sealer, k Key, ad AD) ([]byte, error) {
	return kek.Seal(k[:], ad)
}

// Unwrap opens a key wrapped by Wrap.
func Unwrap(kek *Sealer, wrapped []byte, ad AD) (Key, error) {
	b, err := kek.Open(wrapped, ad)
	if err != nil {
		return Key{}, err
	}
	k, err := KeyFromBytes(b)
	clear(b)
	return k, err
}
