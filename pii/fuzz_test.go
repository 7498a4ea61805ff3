package pii

import "testing"

var fuzzSeeds = []string{
	"Bonjour, je m'appelle Marie Dupont, tél 06 12 34 56 78, marie@exemple.fr",
	"IBAN FR76 3000 6000 0112 3456 7890 189, carte 4970 1012 3456 7893",
	"sécu 1 85 05 78 006 084 91, née le 14/07/1982, 12 rue des Lilas, 69003 Lyon",
	"SIRET 732 829 320 00074, TVA FR44732829320, GH-456-JK, 18AB34567",
	"My name is John Smith, call +1 212-555-0148, IP fe80::1 and 10.0.0.1, https://x.fr/a",
	"Cordialement,\nJean-Pierre Martin",
	"<PHONE_NUMBER> <EMAIL_ADDRESS_3f9a0c2e1b7d4a65>",
	"\xff+33 (0)6\u00a012 34 56 78 é@é.fr",
}

// FuzzScan checks that Scan never panics and returns sorted,
// non-overlapping entities with valid offsets on rune boundaries and scores
// in [0,1].
func FuzzScan(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	s := NewScanner(Options{})
	f.Fuzz(func(t *testing.T, text string) {
		last := 0
		for _, e := range s.Scan(text) {
			if e.Start < last || e.Start >= e.End || e.End > len(text) {
				t.Fatalf("Scan(%q): bad or overlapping offsets %+v (previous end %d)", text, e, last)
			}
			if !boundary(text, e.Start) || !boundary(text, e.End) {
				t.Fatalf("Scan(%q): %+v not on rune boundaries", text, e)
			}
			if e.Score < 0 || e.Score > 1 {
				t.Fatalf("Scan(%q): score %v out of [0,1]", text, e.Score)
			}
			last = e.End
		}
	})
}

// FuzzAnonymize checks that the text outside spans is untouched (replace,
// redact, pseudonymize), that anonymising the output again changes nothing
// (the operators that leave a placeholder), and that replaced output holds
// no structured entity.
func FuzzAnonymize(f *testing.F) {
	for k, s := range fuzzSeeds {
		f.Add(s, uint8(k))
	}
	s := NewScanner(Options{})
	// Mask is left out: the characters it keeps are visible text by
	// design, and a rescan may read them with their neighbours as a new
	// entity.
	ops := []Operator{Replace, Redact, Pseudonymize}
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Fuzz(func(t *testing.T, text string, op uint8) {
		spec := OperatorSpec{Operator: ops[int(op)%len(ops)], KeepLast: 4, Key: key}
		policy := func(string) OperatorSpec { return spec }
		es := s.Scan(text)
		out, spans, err := Anonymize(text, es, policy)
		if err != nil {
			t.Fatalf("Anonymize(%q): %v", text, err)
		}
		// Outside spans, input and output agree piece by piece.
		in, o := 0, 0
		for _, sp := range spans {
			if text[in:sp.OrigStart] != out[o:sp.Start] {
				t.Fatalf("Anonymize(%q) = %q: text outside spans changed", text, out)
			}
			in, o = sp.OrigEnd, sp.End
		}
		if text[in:] != out[o:] {
			t.Fatalf("Anonymize(%q) = %q: tail changed", text, out)
		}
		if spec.Operator == Redact {
			// Redact removes text: the neighbours of a removed entity meet
			// and may form a new token ("::" + "http://x.fr" → "::"), so
			// only the untouched-text property holds.
			return
		}
		again, _, err := Anonymize(out, s.Scan(out), policy)
		if err != nil {
			t.Fatalf("Anonymize(%q): %v", out, err)
		}
		if again != out {
			t.Fatalf("anonymising twice: %q then %q", out, again)
		}
		if spec.Operator != Replace {
			return
		}
		for _, e := range s.Scan(out) {
			if Structured(e.Type) {
				t.Fatalf("Scan(Anonymize(%q)) found %s %q", text, e.Type, e.Text(out))
			}
		}
	})
}
