package ledger_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/ledger"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/mod/sumdb/tlog"
)

func newEvidence(t testing.TB, l *testLog, index, size int64) ledger.Evidence {
	t.Helper()
	e, err := ledger.NewEvidence(index, l.salts[index], l.contents[index], l.sign(t, size), l.store)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEvidence(t *testing.T) {
	l := newTestLog(t, 21)
	for size := int64(1); size <= 21; size += 4 {
		for i := range size {
			e := newEvidence(t, l, i, size)
			c, err := ledger.VerifyEvidence(e, l.vkey)
			if err != nil {
				t.Fatalf("VerifyEvidence(leaf %d, size %d) = %v", i, size, err)
			}
			if c.Size != size || c.Origin != l.origin {
				t.Errorf("VerifyEvidence = %+v, want size %d of %s", c, size, l.origin)
			}
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back ledger.Evidence
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatalf("Unmarshal(%s) = %v", data, err)
			}
			if diff := cmp.Diff(e, back); diff != "" {
				t.Fatalf("JSON round trip (-want +got):\n%s", diff)
			}
			if _, err := ledger.VerifyEvidence(back, l.vkey); err != nil {
				t.Fatalf("VerifyEvidence(decoded) = %v", err)
			}
		}
	}
}

// TestEvidenceTampered flips every bit that matters, one at a time, and checks the failure
// names the right step.
func TestEvidenceTampered(t *testing.T) {
	l := newTestLog(t, 13)
	e := newEvidence(t, l, 6, 13)
	_, otherKey, _ := ledger.GenerateKey(l.origin)
	body := bytes.Index(e.Checkpoint, []byte("\n\n"))
	sig := bytes.LastIndexByte(e.Checkpoint[:len(e.Checkpoint)-1], ' ') + 1

	type mutation struct {
		name string
		edit func(*ledger.Evidence)
		key  string
		want error
		msg  string // a substring the error must contain
	}
	var tests []mutation
	for bit := range 8 * len(e.Salt) {
		tests = append(tests, mutation{fmt.Sprintf("salt bit %d", bit), func(e *ledger.Evidence) { e.Salt = flip(e.Salt, bit) }, l.vkey, ledger.ErrProof, "commitment"})
	}
	for bit := range 8 * len(e.Content) {
		tests = append(tests, mutation{fmt.Sprintf("content bit %d", bit), func(e *ledger.Evidence) { e.Content = flip(e.Content, bit) }, l.vkey, ledger.ErrProof, "commitment"})
	}
	for j := range e.Proof {
		for _, bit := range []int{0, 7, 100, 255} {
			tests = append(tests, mutation{fmt.Sprintf("proof hash %d bit %d", j, bit), func(e *ledger.Evidence) {
				e.Proof = append(tlog.RecordProof(nil), e.Proof...)
				e.Proof[j] = tlog.Hash(flip(e.Proof[j][:], bit))
			}, l.vkey, ledger.ErrProof, "commitment"})
		}
	}
	for i := range body {
		tests = append(tests, mutation{fmt.Sprintf("checkpoint body byte %d", i), func(e *ledger.Evidence) { e.Checkpoint = flip(e.Checkpoint, 8*i) }, l.vkey, nil, "checkpoint"})
	}
	for i := sig; i < len(e.Checkpoint)-1; i++ {
		tests = append(tests, mutation{fmt.Sprintf("signature byte %d", i), func(e *ledger.Evidence) { e.Checkpoint = flip(e.Checkpoint, 8*i) }, l.vkey, nil, "checkpoint"})
	}
	tests = append(tests,
		mutation{"wrong verifier key", func(*ledger.Evidence) {}, otherKey, ledger.ErrSignature, "no signature by key"},
		mutation{"index + 1", func(e *ledger.Evidence) { e.Index++ }, l.vkey, ledger.ErrProof, "commitment"},
		mutation{"index - 1", func(e *ledger.Evidence) { e.Index-- }, l.vkey, ledger.ErrProof, "commitment"},
		mutation{"index past the tree", func(e *ledger.Evidence) { e.Index = 13 }, l.vkey, ledger.ErrProof, "outside the signed tree"},
		mutation{"negative index", func(e *ledger.Evidence) { e.Index = -1 }, l.vkey, ledger.ErrProof, "outside the signed tree"},
		mutation{"proof truncated", func(e *ledger.Evidence) { e.Proof = e.Proof[:len(e.Proof)-1] }, l.vkey, ledger.ErrProof, "needs 4"},
		mutation{"proof extended", func(e *ledger.Evidence) { e.Proof = append(e.Proof[:len(e.Proof):len(e.Proof)], tlog.Hash{}) }, l.vkey, ledger.ErrProof, "needs 4"},
		mutation{"proof emptied", func(e *ledger.Evidence) { e.Proof = nil }, l.vkey, ledger.ErrProof, "needs 4"},
		mutation{"proof hashes swapped", func(e *ledger.Evidence) {
			e.Proof = append(tlog.RecordProof(nil), e.Proof...)
			e.Proof[0], e.Proof[1] = e.Proof[1], e.Proof[0]
		}, l.vkey, ledger.ErrProof, "commitment"},
		mutation{"salt shortened", func(e *ledger.Evidence) { e.Salt = e.Salt[:ledger.MinSaltSize-1] }, l.vkey, ledger.ErrMalformed, "salt of 15 bytes"},
		mutation{"salt removed", func(e *ledger.Evidence) { e.Salt = nil }, l.vkey, ledger.ErrMalformed, "salt of 0 bytes"},
		mutation{"content of another leaf", func(e *ledger.Evidence) { e.Content = l.contents[5] }, l.vkey, ledger.ErrProof, "commitment"},
		mutation{"checkpoint of a smaller tree", func(e *ledger.Evidence) { e.Checkpoint = l.sign(t, 12) }, l.vkey, ledger.ErrProof, "commitment"},
		mutation{"checkpoint removed", func(e *ledger.Evidence) { e.Checkpoint = nil }, l.vkey, ledger.ErrMalformed, "checkpoint"},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := e
			tt.edit(&bad)
			c, err := ledger.VerifyEvidence(bad, tt.key)
			if err == nil {
				t.Fatalf("VerifyEvidence(%s) = %+v, nil; want an error", tt.name, c)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("VerifyEvidence(%s) = %v, want %v", tt.name, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("VerifyEvidence(%s) = %q, want it to mention %q", tt.name, err, tt.msg)
			}
			if strings.Contains(err.Error(), string(e.Content)) || strings.Contains(err.Error(), "subject") {
				t.Errorf("VerifyEvidence error %q contains the content", err)
			}
		})
	}
	if _, err := ledger.VerifyEvidence(e, l.vkey); err != nil {
		t.Fatalf("the original evidence no longer verifies: %v", err)
	}
}

func TestNewEvidenceErrors(t *testing.T) {
	l := newTestLog(t, 5)
	cp := l.sign(t, 5)
	other := newTestLog(t, 4)
	other.append(t, testSalt(99), []byte("another event"))
	tests := []struct {
		name          string
		index         int64
		salt, content []byte
		cp            []byte
	}{
		{"content of another leaf", 2, l.salts[2], l.contents[3], cp},
		{"index past the checkpoint", 5, l.salts[4], l.contents[4], cp},
		{"short salt", 2, l.salts[2][:8], l.contents[2], cp},
		{"not a checkpoint", 2, l.salts[2], l.contents[2], []byte("garde/t-0001\n5\n")},
		{"checkpoint of another store", 2, l.salts[2], l.contents[2], other.sign(t, 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ledger.NewEvidence(tt.index, tt.salt, tt.content, tt.cp, l.store); err == nil {
				t.Errorf("NewEvidence(%s) succeeded", tt.name)
			}
		})
	}
}

// TestEvidenceJSON pins the wire form, which receipts carry for years.
func TestEvidenceJSON(t *testing.T) {
	e := ledger.Evidence{
		Index:      1,
		Salt:       []byte("0123456789abcdef"),
		Content:    []byte("c"),
		Proof:      tlog.RecordProof{{1}},
		Checkpoint: []byte("garde/t\n2\nroot\n\n— garde/t sig\n"),
	}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"index":1,"salt":"MDEyMzQ1Njc4OWFiY2RlZg==","content":"Yw==","proof":["AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],"checkpoint":"garde/t\n2\nroot\n\n— garde/t sig\n"}`
	if string(got) != want {
		t.Errorf("Marshal = %s\nwant      %s", got, want)
	}
	empty, _ := json.Marshal(ledger.Evidence{})
	if !bytes.Contains(empty, []byte(`"proof":[]`)) {
		t.Errorf("Marshal(empty proof) = %s, want \"proof\":[]", empty)
	}
	if _, err := json.Marshal(ledger.Evidence{Checkpoint: []byte{0xff}}); err == nil {
		t.Error("Marshal(non-UTF-8 checkpoint) succeeded")
	}

	for _, bad := range []string{
		`{"version":2,"index":1}`,
		`{"index":1}`,
		`{"version":1,"index":1,"extra":true}`,
		`{"version":1,"salt":"not base64!"}`,
		`{"version":1,"proof":["AAAA"]}`,
		`{"version":1,"index":"1"}`,
		`[]`,
	} {
		var e ledger.Evidence
		if err := json.Unmarshal([]byte(bad), &e); !errors.Is(err, ledger.ErrMalformed) {
			t.Errorf("Unmarshal(%s) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestEvidenceRedacted(t *testing.T) {
	l := newTestLog(t, 3)
	e := newEvidence(t, l, 1, 3)
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("receipt", "evidence", e)
	for _, s := range []string{fmt.Sprint(e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e), logged.String()} {
		if strings.Contains(s, "s-1") || strings.Contains(s, "improve_replies") {
			t.Errorf("formatted evidence shows its content: %s", s)
		}
	}
}
