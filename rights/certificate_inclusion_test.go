package rights_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/note"
)

// TestCertificateInclusionProof builds certificates whose signature is
// valid (the attacker holds the key, or garde itself is wrong) but whose
// audit entry is not the one the certificate claims, or is not in the
// embedded checkpoint: each must fail, so a valid signature alone never
// passes for proof that the erasure is on the log.
func TestCertificateInclusionProof(t *testing.T) {
	const tenant = "tn_test"
	signer, verifier, err := ledger.GenerateKey(trail.EpochOrigin(tenant, 1))
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		V          int    `json:"v"`
		At         string `json:"at"`
		Actor      string `json:"actor"`
		Action     string `json:"action"`
		SubjectRef string `json:"subject_ref,omitempty"`
		Outcome    string `json:"outcome"`
		Count      int    `json:"count"`
		Reason     string `json:"reason,omitempty"`
	}
	contents := [][]byte{}
	for _, e := range []entry{
		{V: 1, At: "2026-03-01T09:00:00Z", Actor: "k1", Action: "message.read", SubjectRef: "ref-kim", Outcome: "ok", Count: 1},
		{V: 1, At: "2026-03-01T09:01:00Z", Actor: "rights", Action: "subject.erase", SubjectRef: "ref-lou", Outcome: "ok", Reason: "purged"},
		{V: 1, At: "2026-03-01T09:02:00Z", Actor: "rights", Action: "subject.erase", SubjectRef: "ref-kim", Outcome: "ok", Reason: "purged"},
	} {
		b, _ := json.Marshal(e)
		contents = append(contents, b)
	}
	log := &ledger.MemoryStore{}
	salts := make([][]byte, len(contents))
	for i, c := range contents {
		salts[i], _ = ledger.NewSalt()
		rec, err := ledger.Commit(salts[i], c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := log.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := ledger.NewCheckpoint(trail.EpochOrigin(tenant, 1), log.Size(), log)
	if err != nil {
		t.Fatal(err)
	}
	cpNote, err := ledger.SignCheckpoint(cp, signer)
	if err != nil {
		t.Fatal(err)
	}
	evidence := func(i int) *trail.CertEntry {
		ev, err := ledger.NewEvidence(int64(i), salts[i], contents[i], cpNote, log)
		if err != nil {
			t.Fatal(err)
		}
		return &trail.CertEntry{Index: ev.Index, Salt: ev.Salt, Content: ev.Content, Proof: ev.Proof}
	}
	at := time.Date(2026, 3, 1, 9, 2, 0, 0, time.UTC)
	sign := func(mutate func(*rights.ErasureCertificate)) []byte {
		c := rights.ErasureCertificate{Version: 2, Kind: rights.CertSubjectErasure, Tenant: tenant, Request: "rq_1", SubjectRef: "ref-kim",
			ReceivedAt: at, KeyDestroyedAt: at, CompletedAt: at, Purged: map[string]int{}, Where: []string{"x"},
			Ledger: rights.CertLedger{Origin: cp.Origin, Size: cp.Size, Checkpoint: string(cpNote)}, Entry: evidence(2)}
		mutate(&c)
		body, _ := json.Marshal(c)
		s, err := note.NewSigner(signer)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := note.Sign(&note.Note{Text: "garde erasure certificate v1\n" + string(body) + "\n"}, s)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	if _, err := rights.VerifyCertificate(sign(func(*rights.ErasureCertificate) {}), verifier); err != nil {
		t.Fatalf("genuine certificate: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*rights.ErasureCertificate)
		want   string
	}{
		{"no entry", func(c *rights.ErasureCertificate) { c.Entry = nil }, "no audit entry"},
		{"version 1", func(c *rights.ErasureCertificate) { c.Version = 1 }, "no inclusion proof"},
		{"proof hash flipped", func(c *rights.ErasureCertificate) { c.Entry.Proof[0][0] ^= 1 }, "audit entry 2"},
		{"proof cut", func(c *rights.ErasureCertificate) { c.Entry.Proof = c.Entry.Proof[:len(c.Entry.Proof)-1] }, "audit entry 2"},
		{"index moved", func(c *rights.ErasureCertificate) { c.Entry.Index = 1 }, "audit entry 1"},
		{"content changed", func(c *rights.ErasureCertificate) {
			c.Entry.Content = []byte(strings.Replace(string(c.Entry.Content), "ref-kim", "ref-max", 1))
		}, "audit entry 2"},
		{"salt changed", func(c *rights.ErasureCertificate) { c.Entry.Salt[0] ^= 1 }, "audit entry 2"},
		{"another event, in the log", func(c *rights.ErasureCertificate) { c.Entry = evidence(0) }, "not the subject.erase"},
		{"another subject's erasure, in the log", func(c *rights.ErasureCertificate) { c.Entry = evidence(1) }, "not the subject.erase"},
		{"entry beyond the checkpoint", func(c *rights.ErasureCertificate) { c.Entry.Index = cp.Size }, "outside the signed tree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rights.VerifyCertificate(sign(tt.mutate), verifier)
			if !errors.Is(err, rights.ErrCertificate) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("VerifyCertificate = %v, want ErrCertificate mentioning %q", err, tt.want)
			}
		})
	}
}
