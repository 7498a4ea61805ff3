package ledger_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/note"
)

func TestCheckpointRoundTrip(t *testing.T) {
	l := newTestLog(t, 5)
	for size := int64(0); size <= 5; size++ {
		msg := l.sign(t, size)
		c, err := ledger.OpenCheckpoint(msg, l.vkey)
		if err != nil {
			t.Fatalf("OpenCheckpoint(size %d) = %v", size, err)
		}
		want, _ := ledger.NewCheckpoint(l.origin, size, l.store)
		if c != want {
			t.Errorf("OpenCheckpoint = %+v, want %+v", c, want)
		}
	}
}

// TestCheckpointFormat pins the C2SP tlog-checkpoint text: origin, size, base64 root, a blank
// line, then the signature line named after the origin.
func TestCheckpointFormat(t *testing.T) {
	l := newTestLog(t, 3)
	c, _ := ledger.NewCheckpoint(l.origin, 3, l.store)
	msg := string(l.sign(t, 3))
	want := "garde/t-0001\n3\n" + c.Hash.String() + "\n\n— garde/t-0001 "
	if !strings.HasPrefix(msg, want) || strings.Count(msg, "\n") != 5 {
		t.Errorf("SignCheckpoint = %q, want prefix %q and 5 lines", msg, want)
	}
}

func TestOpenCheckpointTampered(t *testing.T) {
	l := newTestLog(t, 6)
	msg := l.sign(t, 6)
	body := bytes.Index(msg, []byte("\n\n")) + 1
	sig := bytes.LastIndexByte(msg[:len(msg)-1], ' ') + 1
	_, otherKey, _ := ledger.GenerateKey(l.origin)
	_, otherTenant, _ := ledger.GenerateKey(ledger.TenantOrigin("t-0002"))

	// A checkpoint for another origin, signed by this log's key name: the note signs it,
	// but the origin is not the key's.
	s, _ := note.NewSigner(l.skey)
	c, _ := ledger.OpenCheckpoint(msg, l.vkey)
	foreign, _ := note.Sign(&note.Note{Text: "garde/t-0002\n6\n" + c.Hash.String() + "\n"}, s)
	extension, _ := note.Sign(&note.Note{Text: "garde/t-0001\n6\n" + c.Hash.String() + "\nextra\n"}, s)
	leadingZero, _ := note.Sign(&note.Note{Text: "garde/t-0001\n06\n" + c.Hash.String() + "\n"}, s)
	negative, _ := note.Sign(&note.Note{Text: "garde/t-0001\n-6\n" + c.Hash.String() + "\n"}, s)
	twoLines, _ := note.Sign(&note.Note{Text: "garde/t-0001\n6\n"}, s)
	shortHash, _ := note.Sign(&note.Note{Text: "garde/t-0001\n6\nAAAA\n"}, s)

	tests := []struct {
		name string
		msg  []byte
		key  string
		want error
	}{
		{"bit flipped in origin", flip(msg, 3), l.vkey, ledger.ErrSignature},
		{"bit flipped in size", flip(msg, 8*len("garde/t-0001\n")), l.vkey, ledger.ErrSignature},
		{"bit flipped in root", flip(msg, 8*(body-3)), l.vkey, ledger.ErrSignature},
		{"character changed in signature", swapBase64(msg, sig+10), l.vkey, ledger.ErrSignature},
		{"character changed in key hash", swapBase64(msg, sig+1), l.vkey, ledger.ErrSignature},
		{"wrong key, same name", msg, otherKey, ledger.ErrSignature},
		{"wrong key, other tenant", msg, otherTenant, ledger.ErrSignature},
		{"origin is not the key name", foreign, l.vkey, ledger.ErrSignature},
		{"extension line", extension, l.vkey, ledger.ErrMalformed},
		{"leading zero in size", leadingZero, l.vkey, ledger.ErrMalformed},
		{"negative size", negative, l.vkey, ledger.ErrMalformed},
		{"missing root line", twoLines, l.vkey, ledger.ErrMalformed},
		{"short root", shortHash, l.vkey, ledger.ErrMalformed},
		{"signature block removed", msg[:body], l.vkey, ledger.ErrMalformed},
		{"empty", nil, l.vkey, ledger.ErrMalformed},
		{"verifier key is a signer key", msg, l.skey, ledger.ErrMalformed},
		{"verifier key garbage", msg, "garde/t-0001+00000000+AAAA", ledger.ErrMalformed},
	}
	// Exhaustively: no single flipped bit anywhere in the signed note goes unnoticed.
	for bit := range 8 * len(msg) {
		if c, err := ledger.OpenCheckpoint(flip(msg, bit), l.vkey); err == nil {
			t.Errorf("OpenCheckpoint(bit %d flipped) = %+v, nil; want an error", bit, c)
		}
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ledger.OpenCheckpoint(tt.msg, tt.key)
			if !errors.Is(err, tt.want) {
				t.Fatalf("OpenCheckpoint = %+v, %v; want error %v", c, err, tt.want)
			}
			if strings.Contains(err.Error(), "PRIVATE") {
				t.Errorf("error %q echoes a signer key", err)
			}
		})
	}
}

// TestOpenCheckpointCosigned allows a witness's cosignature next to the log's own.
func TestOpenCheckpointCosigned(t *testing.T) {
	l := newTestLog(t, 2)
	msg := l.sign(t, 2)
	wskey, _, err := note.GenerateKey(rand.Reader, "witness.example")
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := note.NewSigner(wskey)
	_, err = note.Open(msg, note.VerifierList())
	var unverified *note.UnverifiedNoteError
	if !errors.As(err, &unverified) {
		t.Fatalf("note.Open = %v", err)
	}
	n := unverified.Note
	n.Sigs, n.UnverifiedSigs = n.UnverifiedSigs, nil
	cosigned, err := note.Sign(n, ws)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(cosigned), "\n— "); got != 2 {
		t.Fatalf("cosigned checkpoint has %d signatures, want 2:\n%s", got, cosigned)
	}
	if _, err := ledger.OpenCheckpoint(cosigned, l.vkey); err != nil {
		t.Errorf("OpenCheckpoint(cosigned) = %v", err)
	}
}

func TestSignCheckpointErrors(t *testing.T) {
	l := newTestLog(t, 1)
	c, _ := ledger.NewCheckpoint(l.origin, 1, l.store)
	tests := []struct {
		name string
		c    ledger.Checkpoint
		key  string
		want error
	}{
		{"other origin", ledger.Checkpoint{Origin: "garde/t-0002", Size: 1, Hash: c.Hash}, l.skey, ledger.ErrSignature},
		{"negative size", ledger.Checkpoint{Origin: l.origin, Size: -1}, l.skey, ledger.ErrMalformed},
		{"origin with a newline", ledger.Checkpoint{Origin: "garde/t\n99", Size: 1}, l.skey, ledger.ErrMalformed},
		{"origin with a space", ledger.Checkpoint{Origin: "garde/t 1", Size: 1}, l.skey, ledger.ErrMalformed},
		{"empty origin", ledger.Checkpoint{Size: 1}, l.skey, ledger.ErrMalformed},
		{"verifier key", c, l.vkey, ledger.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ledger.SignCheckpoint(tt.c, tt.key); !errors.Is(err, tt.want) {
				t.Errorf("SignCheckpoint error = %v, want %v", err, tt.want)
			}
		})
	}
	for _, origin := range []string{"", "garde/a b", "garde/a+b", "garde/a\nb"} {
		if _, _, err := ledger.GenerateKey(origin); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("GenerateKey(%q) error = %v, want ErrMalformed", origin, err)
		}
	}
}

// swapBase64 replaces the base64 character at i by another base64
// character, so that the note still parses and only the signature check
// can catch it (a flipped bit may leave the alphabet, which is caught
// earlier as malformed).
func swapBase64(msg []byte, i int) []byte {
	out := bytes.Clone(msg)
	if out[i] == 'A' {
		out[i] = 'B'
	} else {
		out[i] = 'A'
	}
	return out
}
