package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/note"
)

// fuzzKeys returns a fixed key pair, so that a failing input reproduces.
func fuzzKeys(t testing.TB) (skey, vkey string) {
	seed := sha256.Sum256([]byte("garde ledger fuzz key"))
	skey, vkey, err := note.GenerateKey(bytes.NewReader(seed[:]), ledger.TenantOrigin("t-fuzz"))
	if err != nil {
		t.Fatal(err)
	}
	return skey, vkey
}

// FuzzOpenCheckpoint checks that OpenCheckpoint never panics, and that it accepts exactly
// the texts SignCheckpoint writes: the fuzzer's bytes are tried both as a whole signed note
// and as a note text that the right key signs, which reaches the body parser.
func FuzzOpenCheckpoint(f *testing.F) {
	skey, vkey := fuzzKeys(f)
	signer, err := note.NewSigner(skey)
	if err != nil {
		f.Fatal(err)
	}
	for _, size := range []int64{0, 1, 7, 1 << 40} {
		msg, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "garde/t-fuzz", Size: size, Hash: sha256.Sum256(nil)}, skey)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
		f.Add(msg[:bytes.Index(msg, []byte("\n\n"))+1])
	}
	f.Add([]byte("garde/t-fuzz\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))
	f.Add([]byte("garde/t-fuzz\n-0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nextension\n"))
	f.Add([]byte("garde/t-fuzz\n9223372036854775808\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		// canonical reports whether msg's text is exactly what SignCheckpoint writes for c.
		canonical := func(c ledger.Checkpoint, msg []byte) bool {
			again, err := ledger.SignCheckpoint(c, skey)
			if err != nil {
				t.Fatalf("SignCheckpoint(%+v) after OpenCheckpoint = %v", c, err)
			}
			body := again[:bytes.Index(again, []byte("\n\n"))+2]
			return bytes.HasPrefix(msg, body)
		}
		if c, err := ledger.OpenCheckpoint(data, vkey); err == nil && !canonical(c, data) {
			t.Fatalf("OpenCheckpoint(%q) = %+v, not the text SignCheckpoint writes", data, c)
		}
		msg, err := note.Sign(&note.Note{Text: string(data)}, signer)
		if err != nil {
			return // not a note text at all
		}
		if c, err := ledger.OpenCheckpoint(msg, vkey); err == nil && !canonical(c, msg) {
			t.Fatalf("OpenCheckpoint of signed text %q = %+v, not the text SignCheckpoint writes", data, c)
		}
	})
}

// FuzzVerifyEvidence checks that decoding and verifying evidence never panics, and that no
// mutation of valid evidence verifies unless it still claims the same thing: the same leaf
// index, salt and content under the same checkpoint. (Re-encodings such as JSON whitespace
// or extra witness signatures may differ in bytes, never in claim.)
func FuzzVerifyEvidence(f *testing.F) {
	skey, vkey := fuzzKeys(f)
	origin := ledger.TenantOrigin("t-fuzz")
	store := new(ledger.MemoryStore)
	var salts, contents [][]byte
	for i := range 9 {
		salts = append(salts, testSalt(i))
		contents = append(contents, fmt.Appendf(nil, `{"event":%d}`, i))
		record, _ := ledger.Commit(salts[i], contents[i])
		if _, err := store.Append(record); err != nil {
			f.Fatal(err)
		}
	}
	valid := map[string]bool{}
	claim := func(e ledger.Evidence, c ledger.Checkpoint) string {
		return fmt.Sprintf("%d %x %x %s %d %x", e.Index, e.Salt, e.Content, c.Origin, c.Size, c.Hash)
	}
	for _, tt := range []struct{ index, size int64 }{{0, 1}, {3, 9}, {8, 9}, {4, 5}} {
		c, _ := ledger.NewCheckpoint(origin, tt.size, store)
		cp, err := ledger.SignCheckpoint(c, skey)
		if err != nil {
			f.Fatal(err)
		}
		e, err := ledger.NewEvidence(tt.index, salts[tt.index], contents[tt.index], cp, store)
		if err != nil {
			f.Fatal(err)
		}
		data, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		valid[claim(e, c)] = true
		f.Add(data)
	}
	f.Add([]byte(`{"version":1,"index":-1,"salt":"","content":"","proof":[],"checkpoint":""}`))
	f.Add([]byte(`{"version":1,"index":9223372036854775807,"proof":null}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var e ledger.Evidence
		if err := json.Unmarshal(data, &e); err != nil {
			return
		}
		_ = e.String()
		c, err := ledger.VerifyEvidence(e, vkey)
		if err != nil {
			return
		}
		if !valid[claim(e, c)] {
			t.Fatalf("VerifyEvidence accepted a claim that was never made: %s", data)
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatalf("Marshal(verified evidence) = %v", err)
		}
	})
}
