package pii

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Operator says what Anonymize does with an entity.
type Operator string

const (
	// Redact removes the text.
	Redact Operator = "redact"
	// Replace writes the type in angle brackets: "<EMAIL_ADDRESS>". It is
	// the safe default for a category a purpose does not list.
	Replace Operator = "replace"
	// Mask replaces letters and digits by '*' except the last KeepLast,
	// keeping separators: "** ** ** 56 78".
	Mask Operator = "mask"
	// Pseudonymize writes a keyed token, "<EMAIL_ADDRESS_3f9a0c2e1b7d4a65>":
	// HMAC-SHA256 under a per-tenant key of the type and the value, so the
	// same value gives the same token within a tenant (messages can still
	// be joined) and different tokens across tenants.
	Pseudonymize Operator = "pseudonymize"
	// Encrypt writes "<TYPE>" like Replace and keeps the original sealed by
	// the caller (garde's keyring seals under the subject key, so erasing
	// the key erases the value); Reveal puts it back.
	Encrypt Operator = "encrypt"
	// Keep leaves the text as it is, but still records the span.
	Keep Operator = "keep"
)

// OperatorSpec is an operator with its parameters.
type OperatorSpec struct {
	Operator Operator
	// KeepLast is how many letters and digits Mask leaves visible.
	KeepLast int
	// Key is the per-tenant key for Pseudonymize; at least 16 bytes.
	Key []byte
	// Seal encrypts an original value for Encrypt. pii does not import the
	// keyring: the caller passes the sealing function of the subject key.
	Seal func(plaintext []byte) ([]byte, error)
}

// Policy chooses the operator for an entity type. A nil Policy replaces
// everything.
type Policy func(entityType string) OperatorSpec

// Span records what Anonymize did to one entity, so that access and
// erasure requests can later work span by span.
type Span struct {
	Type string
	// Start and End are byte offsets in the anonymised text.
	Start, End int
	// OrigStart and OrigEnd are byte offsets in the original text.
	OrigStart, OrigEnd int
	Operator           Operator
	// Sealed is the original value sealed by OperatorSpec.Seal (Encrypt
	// only).
	Sealed []byte
}

// Errors returned by Anonymize. They never contain the text.
var (
	ErrBadEntity = errors.New("pii: entity offsets out of range or not on character boundaries")
	ErrNoKey     = errors.New("pii: pseudonymize needs a key of at least 16 bytes")
	ErrNoSeal    = errors.New("pii: encrypt needs a Seal function")
	ErrOperator  = errors.New("pii: unknown operator")
)

// Anonymize applies policy to the entities of text, which should come from
// Scan (sorted, without overlaps; an entity overlapping a previous one is
// skipped). It returns the anonymised text and one Span per entity.
func Anonymize(text string, entities []Entity, policy Policy) (string, []Span, error) {
	var b strings.Builder
	b.Grow(len(text))
	spans := make([]Span, 0, len(entities))
	last := 0
	for n, e := range entities {
		if e.Start < 0 || e.End > len(text) || e.Start >= e.End || !boundary(text, e.Start) || !boundary(text, e.End) {
			return "", nil, fmt.Errorf("entity %d (%s): %w", n, e.Type, ErrBadEntity)
		}
		if e.Start < last {
			continue
		}
		spec := OperatorSpec{Operator: Replace}
		if policy != nil {
			spec = policy(e.Type)
		}
		b.WriteString(text[last:e.Start])
		start := b.Len()
		value := text[e.Start:e.End]
		var sealed []byte
		switch spec.Operator {
		case Redact:
		case Replace, "":
			spec.Operator = Replace
			b.WriteString("<" + e.Type + ">")
		case Mask:
			mask(&b, value, spec.KeepLast)
		case Pseudonymize:
			if len(spec.Key) < 16 {
				return "", nil, fmt.Errorf("entity %d (%s): %w", n, e.Type, ErrNoKey)
			}
			b.WriteString(pseudonym(spec.Key, e.Type, value))
		case Encrypt:
			if spec.Seal == nil {
				return "", nil, fmt.Errorf("entity %d (%s): %w", n, e.Type, ErrNoSeal)
			}
			var err error
			sealed, err = spec.Seal([]byte(value))
			if err != nil {
				return "", nil, fmt.Errorf("seal entity %d (%s): %w", n, e.Type, err)
			}
			b.WriteString("<" + e.Type + ">")
		case Keep:
			b.WriteString(value)
		default:
			return "", nil, fmt.Errorf("entity %d (%s): %w %q", n, e.Type, ErrOperator, spec.Operator)
		}
		spans = append(spans, Span{
			Type: e.Type, Start: start, End: b.Len(),
			OrigStart: e.Start, OrigEnd: e.End,
			Operator: spec.Operator, Sealed: sealed,
		})
		last = e.End
	}
	b.WriteString(text[last:])
	return b.String(), spans, nil
}

func mask(b *strings.Builder, value string, keep int) {
	alnum := 0
	for _, r := range value {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			alnum++
		}
	}
	seen := 0
	for _, r := range value {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			seen++
			if seen <= alnum-keep {
				b.WriteByte('*')
				continue
			}
		}
		b.WriteRune(r)
	}
}

// pseudonym returns the keyed token of a value: 64 bits of
// HMAC-SHA256(key, type || 0 || value) in hex. 64 bits keep tokens short
// while collisions within one tenant stay negligible.
func pseudonym(key []byte, typ, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(typ))
	m.Write([]byte{0})
	m.Write([]byte(value))
	sum := m.Sum(nil)
	return "<" + typ + "_" + hex.EncodeToString(sum[:8]) + ">"
}

// Reveal puts back the originals of encrypted spans in anonymised text,
// opening each with open (the keyring's, under the subject key). Spans
// whose key has been shredded make open fail; Reveal then returns the
// error and the caller decides whether a partial text is acceptable.
func Reveal(anonymized string, spans []Span, open func(sealed []byte) ([]byte, error)) (string, error) {
	var b strings.Builder
	last := 0
	for n, sp := range spans {
		if sp.Operator != Encrypt {
			continue
		}
		if sp.Start < last || sp.End > len(anonymized) || sp.Start > sp.End {
			return "", fmt.Errorf("span %d: %w", n, ErrBadEntity)
		}
		plain, err := open(sp.Sealed)
		if err != nil {
			return "", fmt.Errorf("open span %d (%s): %w", n, sp.Type, err)
		}
		b.WriteString(anonymized[last:sp.Start])
		b.Write(plain)
		last = sp.End
	}
	b.WriteString(anonymized[last:])
	return b.String(), nil
}
