package pii

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

type want struct {
	typ, text string
}

func (w want) String() string { return w.typ + ":" + w.text }

func found(s *Scanner, text string) []want {
	var out []want
	for _, e := range s.Scan(text) {
		if e.Score >= evalMinScore {
			out = append(out, want{e.Type, e.Text(text)})
		}
	}
	return out
}

func TestScan(t *testing.T) {
	s := NewScanner(Options{})
	tests := []struct {
		name string
		text string
		want []want
	}{
		{"email", "écrivez à jean.dupont+sav@exemple.fr.", []want{{EmailAddress, "jean.dupont+sav@exemple.fr"}}},
		{"email bad host", "alice@abc is invalid, bob@x.c too", nil},
		{"email double dot", "a..b@outlook.com", nil},
		{"phone FR pairs", "au 06 12 34 56 78 svp", []want{{PhoneNumber, "06 12 34 56 78"}}},
		{"phone FR dots", "tél 01.45.67.89.10", []want{{PhoneNumber, "01.45.67.89.10"}}},
		{"phone +33 trunk", "+33 (0)7 81 22 33 44", []want{{PhoneNumber, "+33 (0)7 81 22 33 44"}}},
		{"phone 0033", "0033 6 11 22 33 44", []want{{PhoneNumber, "0033 6 11 22 33 44"}}},
		{"phone UK", "ring 020 7946 0958", []want{{PhoneNumber, "020 7946 0958"}}},
		{"phone US", "call (415) 555-2671", []want{{PhoneNumber, "(415) 555-2671"}}},
		{"phone +1", "+1 212-555-0148", []want{{PhoneNumber, "+1 212-555-0148"}}},
		{"phone DE", "+49 30 901820", []want{{PhoneNumber, "+49 30 901820"}}},
		{"order number is no phone", "commande n° 0612345678", nil},
		{"bare ten digits", "ref 4829103756", nil},
		{"card", "carte 4970 1012 3456 7893", []want{{CreditCard, "4970 1012 3456 7893"}}},
		{"card amex", "amex 3782 822463 10005", []want{{CreditCard, "3782 822463 10005"}}},
		{"card bad luhn", "carte 4970 1012 3456 7894", nil},
		{"iban", "IBAN FR76 3000 6000 0112 3456 7890 189", []want{{IBANCode, "FR76 3000 6000 0112 3456 7890 189"}}},
		{"iban compact", "DE89370400440532013000", []want{{IBANCode, "DE89370400440532013000"}}},
		{"iban bad key", "FR76 3000 6000 0112 3456 7890 180", nil},
		{"iban lower case", "mon rib fr7630006000011234567890189", []want{{IBANCode, "fr7630006000011234567890189"}}},
		{"person all caps", "Cordialement, JEAN DUPONT", []want{{Person, "JEAN DUPONT"}}},
		{"person surname caps", "Madame MARTIN a appelé", []want{{Person, "MARTIN"}}},
		{"nir", "sécu 1 85 05 78 006 084 91", []want{{FRNIR, "1 85 05 78 006 084 91"}}},
		{"nir corsica", "NIR 291112A00431207", []want{{FRNIR, "291112A00431207"}}},
		{"nir bad key", "sécu 1 85 05 78 006 084 92", nil},
		{"siret", "SIRET 732 829 320 00074", []want{{FRSIRET, "732 829 320 00074"}}},
		{"siret la poste", "SIRET 35600000000001", []want{{FRSIRET, "35600000000001"}}},
		{"siret la poste bad", "SIRET 35600000000002", nil},
		{"siren", "SIREN 404 483 125", []want{{FRSIREN, "404 483 125"}}},
		{"siren bad", "SIREN 404 483 126", nil},
		{"tva", "TVA FR44732829320", []want{{FRTVA, "FR44732829320"}}},
		{"tva bad key", "TVA FR45732829320", nil},
		{"passport", "passeport 18AB34567", []want{{FRPassport, "18AB34567"}}},
		{"id card old", "carte d'identité 880692310285", []want{{FRIDCard, "880692310285"}}},
		{"id card needs keyword", "code 880692310285", nil},
		{"plate", "immatriculation GH-456-JK", []want{{FRLicensePlate, "GH-456-JK"}}},
		{"plate letters I O U", "AI-123-OU", nil},
		{"ipv4", "IP 192.168.1.10", []want{{IPAddress, "192.168.1.10"}}},
		{"ipv4 out of range", "IP 256.1.1.1", nil},
		{"version", "version 1.2.3.4", nil},
		{"ipv6", "addr fe80::204:61ff:fe9d:f156", []want{{IPAddress, "fe80::204:61ff:fe9d:f156"}}},
		{"time", "à 10:30:00", nil},
		{"url", "voir https://exemple.fr/a?b=1.", []want{{URL, "https://exemple.fr/a?b=1"}}},
		{"url www", "www.garde.fr", []want{{URL, "www.garde.fr"}}},
		{"file name", "report.pdf", nil},
		{"dob", "née le 14/07/1982", []want{{DateOfBirth, "14/07/1982"}}},
		{"dob month name", "date de naissance : 3 février 1975", []want{{DateOfBirth, "3 février 1975"}}},
		{"dob english", "Date of birth: March 3, 1979", []want{{DateOfBirth, "March 3, 1979"}}},
		{"date without birth", "livraison le 15/04/2024", nil},
		{"price", "1 299,00 € et 4,99 €", nil},
		{"person intro", "je m'appelle Camille Rousseau", []want{{Person, "Camille Rousseau"}}},
		{"person title", "Madame Nguyen a appelé", []want{{Person, "Nguyen"}}},
		{"person signature", "Cordialement,\nLucie Fontaine", []want{{Person, "Lucie Fontaine"}}},
		{"person gazetteer", "Thomas Bernard m'a aidé", []want{{Person, "Thomas Bernard"}}},
		{"person english", "My name is Emily Carter.", []want{{Person, "Emily Carter"}}},
		{"not a person", "Bonjour SAV, Hello Team, Joyeux Noël", nil},
		{"address fr", "au 12 rue des Lilas, 69003 Lyon.", []want{{Location, "12 rue des Lilas, 69003 Lyon"}}},
		{"address fr dash", "15, avenue Victor Hugo - 75116 Paris", []want{{Location, "15, avenue Victor Hugo - 75116 Paris"}}},
		{"form fields", "Nom : Dupont\nPrénom : Marie", []want{{Person, "Dupont"}, {Person, "Marie"}}},
		{"address uk", "221B Baker Street, London NW1 6XE", []want{{Location, "221B Baker Street, London NW1 6XE"}}},
		{"address us", "500 Market St, San Francisco, CA 94105", []want{{Location, "500 Market St, San Francisco, CA 94105"}}},
		{"not an address", "12 roses et 3 tulipes", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := found(s, tt.text)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("Scan(%q) = %v, want %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		name string
		f    func([]byte) bool
		in   string
		want bool
	}{
		{"luhn", luhn, "4970101234567893", true},
		{"luhn bad", luhn, "4970101234567894", false},
		{"iban fr", ibanValid, "FR7630006000011234567890189", true},
		{"iban gb", ibanValid, "GB29NWBK60161331926819", true},
		{"iban wrong length", ibanValid, "FR763000600001123456789018", false},
		{"iban bad key", ibanValid, "FR7630006000011234567890180", false},
		{"nir", nirValid, "185057800608491", true},
		{"nir 2A", nirValid, "291112A00431207", true},
		{"nir month 13", nirValid, "185137800608491", false},
		{"nir sex 5", nirValid, "585057800608491", false},
		{"siren", sirenValid, "732829320", true},
		{"siren zeros", sirenValid, "000000000", false},
		{"siret", siretValid, "73282932000074", true},
		{"siret la poste", siretValid, "35600000000001", true},
		{"siret la poste bad", siretValid, "35600000000002", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f([]byte(tt.in)); got != tt.want {
				t.Errorf("%s(%q) = %v, want %v", tt.name, tt.in, got, tt.want)
			}
		})
	}
	if got, want := tvaKey([]byte("732829320")), 44; got != want {
		t.Errorf("tvaKey(732829320) = %d, want %d", got, want)
	}
}

func TestOptions(t *testing.T) {
	text := "Mon tél 06 12 34 56 78, mail a@b.fr"
	s := NewScanner(Options{Types: []string{"email_address"}})
	if got := found(s, text); fmt.Sprint(got) != "[EMAIL_ADDRESS:a@b.fr]" {
		t.Errorf("Types filter: Scan(%q) = %v", text, got)
	}
	s = NewScanner(Options{MinScore: 0.99})
	for _, e := range s.Scan(text) {
		if e.Score < 0.99 {
			t.Errorf("MinScore 0.99: got %v", e)
		}
	}
	// A recognizer from outside joins the built-in one.
	extra := RecognizerFunc(func(dst []Entity, text string) []Entity {
		if k := strings.Index(text, "Mon"); k >= 0 {
			dst = append(dst, Entity{Type: "CUSTOM", Start: k, End: k + 3, Score: 0.9})
		}
		return dst
	})
	s = NewScanner(Options{Recognizers: []Recognizer{extra}})
	if got := found(s, text); len(got) != 3 || got[0].typ != "CUSTOM" {
		t.Errorf("extra recognizer: Scan(%q) = %v", text, got)
	}
}

func TestResolveOverlaps(t *testing.T) {
	es := []Entity{
		{Type: "B", Start: 0, End: 10, Score: 0.5},
		{Type: "A", Start: 5, End: 8, Score: 0.9},
		{Type: "C", Start: 9, End: 12, Score: 0.5},
		{Type: "D", Start: 20, End: 25, Score: 0.1},
	}
	got := resolve(es)
	want := []Entity{{Type: "A", Start: 5, End: 8, Score: 0.9}, {Type: "C", Start: 9, End: 12, Score: 0.5}, {Type: "D", Start: 20, End: 25, Score: 0.1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("resolve = %v, want %v", got, want)
	}
}

func TestRuneOffsets(t *testing.T) {
	text := "Né à Montréal, écrivez à é@exemple.fr ou ü@exemple.de"
	s := NewScanner(Options{})
	es := s.Scan(text)
	offs := RuneOffsetsAll(nil, text, es)
	runes := []rune(text)
	for k, e := range es {
		a, b := e.RuneOffsets(text)
		if a != offs[2*k] || b != offs[2*k+1] {
			t.Errorf("RuneOffsets(%v) = %d,%d; RuneOffsetsAll = %d,%d", e, a, b, offs[2*k], offs[2*k+1])
		}
		if string(runes[a:b]) != e.Text(text) {
			t.Errorf("runes[%d:%d] = %q, want %q", a, b, string(runes[a:b]), e.Text(text))
		}
	}
}

func TestCategory(t *testing.T) {
	for _, typ := range Types {
		if c := Category(typ); !strings.HasPrefix(c, "user.") {
			t.Errorf("Category(%s) = %q, want a user.* category", typ, c)
		}
	}
	if got := Category("SOMETHING_NEW"); got != "user" {
		t.Errorf("Category(unknown) = %q, want %q", got, "user")
	}
}

func TestSpecialHints(t *testing.T) {
	tests := []struct {
		text string
		want Special
	}{
		{"Suite à mon hospitalisation et mon diabète", Health},
		{"je suis musulmane et syndiquée à la CGT", Religion | UnionMembership},
		{"I'm a gay Christian", SexualOrientation | Religion},
		{"Ma commande n'est pas arrivée", 0},
		{"Diabète. Hôpital Necker, CGT.", Health | UnionMembership},
	}
	s := NewScanner(Options{})
	for _, tt := range tests {
		if got := SpecialHints(tt.text); got != tt.want {
			t.Errorf("SpecialHints(%q) = %v, want %v", tt.text, got, tt.want)
		}
		// ScanMessage finds the hints in its single pass.
		if got := s.ScanMessage(tt.text).Special; got != tt.want {
			t.Errorf("ScanMessage(%q).Special = %v, want %v", tt.text, got, tt.want)
		}
		if _, got := s.AppendScanMessage(nil, tt.text); got != tt.want {
			t.Errorf("AppendScanMessage(%q) special = %v, want %v", tt.text, got, tt.want)
		}
	}
	// On the chat set, the single pass finds no hint the separate one
	// misses; it may find fewer, as words inside entities ("18 Church
	// Lane") are no hint.
	for _, d := range loadChat(t) {
		if a, b := s.ScanMessage(d.text).Special, SpecialHints(d.text); a&^b != 0 {
			t.Errorf("ScanMessage(%q).Special = %v, SpecialHints = %v", d.text, a, b)
		}
	}
}

func TestAnonymize(t *testing.T) {
	text := "Jean Dupont, tél 06 12 34 56 78, mail jean@exemple.fr"
	s := NewScanner(Options{})
	es := s.Scan(text)
	key1 := bytes.Repeat([]byte{1}, 32)
	key2 := bytes.Repeat([]byte{2}, 32)
	seal := func(p []byte) ([]byte, error) { return append([]byte("sealed:"), p...), nil }
	tests := []struct {
		name   string
		policy Policy
		want   string
	}{
		{"replace", nil, "<PERSON>, tél <PHONE_NUMBER>, mail <EMAIL_ADDRESS>"},
		{"redact", func(string) OperatorSpec { return OperatorSpec{Operator: Redact} }, ", tél , mail "},
		{"mask", func(string) OperatorSpec { return OperatorSpec{Operator: Mask, KeepLast: 2} }, "**** ****nt, tél ** ** ** ** 78, mail ****@*******.fr"},
		{"keep", func(string) OperatorSpec { return OperatorSpec{Operator: Keep} }, text},
		{"encrypt", func(string) OperatorSpec { return OperatorSpec{Operator: Encrypt, Seal: seal} }, "<PERSON>, tél <PHONE_NUMBER>, mail <EMAIL_ADDRESS>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, spans, err := Anonymize(text, es, tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Anonymize(%q) = %q, want %q", text, got, tt.want)
			}
			if len(spans) != len(es) {
				t.Fatalf("got %d spans, want %d", len(spans), len(es))
			}
			for k, sp := range spans {
				if sp.OrigStart != es[k].Start || sp.OrigEnd != es[k].End || sp.Type != es[k].Type {
					t.Errorf("span %d = %+v, entity %+v", k, sp, es[k])
				}
			}
			if tt.name == "encrypt" {
				back, err := Reveal(got, spans, func(b []byte) ([]byte, error) {
					return bytes.TrimPrefix(b, []byte("sealed:")), nil
				})
				if err != nil || back != text {
					t.Errorf("Reveal = %q, %v; want %q", back, err, text)
				}
			}
		})
	}
	t.Run("pseudonymize", func(t *testing.T) {
		p := func(key []byte) Policy {
			return func(string) OperatorSpec { return OperatorSpec{Operator: Pseudonymize, Key: key} }
		}
		a, _, err := Anonymize(text, es, p(key1))
		if err != nil {
			t.Fatal(err)
		}
		b, _, _ := Anonymize(text, es, p(key1))
		c, _, _ := Anonymize(text, es, p(key2))
		if a != b {
			t.Errorf("same tenant: %q != %q", a, b)
		}
		if a == c {
			t.Errorf("two tenants share tokens: %q", a)
		}
		if !strings.Contains(a, "<EMAIL_ADDRESS_") || strings.Contains(a, "jean") {
			t.Errorf("pseudonymized = %q", a)
		}
		if _, _, err := Anonymize(text, es, p([]byte("short"))); !errors.Is(err, ErrNoKey) {
			t.Errorf("short key: err = %v, want ErrNoKey", err)
		}
	})
	t.Run("errors carry no text", func(t *testing.T) {
		_, _, err := Anonymize(text, []Entity{{Type: Person, Start: 0, End: 999}}, nil)
		if !errors.Is(err, ErrBadEntity) || strings.Contains(err.Error(), "Jean") {
			t.Errorf("err = %v", err)
		}
		failing := func(string) OperatorSpec {
			return OperatorSpec{Operator: Encrypt, Seal: func([]byte) ([]byte, error) { return nil, errors.New("key shredded") }}
		}
		_, _, err = Anonymize(text, es, failing)
		if err == nil || strings.Contains(err.Error(), "Jean") || strings.Contains(err.Error(), "06 12") {
			t.Errorf("seal error = %v", err)
		}
	})
}

func TestScanConcurrent(t *testing.T) {
	s := NewScanner(Options{})
	text := "Bonjour, je m'appelle Marie Dupont, tél 06 12 34 56 78, +49 30 901820, (415) 555-2671, IBAN FR7630006000011234567890189"
	want := fmt.Sprint(s.Scan(text))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if got := fmt.Sprint(s.Scan(text)); got != want {
					t.Errorf("Scan(%q) = %v, want %v", text, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestAppendScanAllocs(t *testing.T) {
	s := NewScanner(Options{})
	text := "Bonjour, je m'appelle Marie Dupont, tél 06 12 34 56 78, mail marie@exemple.fr"
	dst := s.AppendScan(nil, text)
	allocs := testing.AllocsPerRun(100, func() { dst = s.AppendScan(dst[:0], text) })
	if allocs > 0 {
		t.Errorf("AppendScan allocates %.1f times per message, want 0", allocs)
	}
}

func TestScanInvalidUTF8(t *testing.T) {
	s := NewScanner(Options{})
	for _, text := range []string{"\xff\xfe06 12 34 56 78", "a@b.fr\xc3", "Jean\xe2\x80"} {
		for _, e := range s.Scan(text) {
			if e.Start < 0 || e.End > len(text) || e.Start >= e.End {
				t.Errorf("Scan(%q): bad offsets %v", text, e)
			}
		}
	}
}

// TestScanLinear feeds shapes that once made the pass quadratic (long
// chunks without spaces re-analysed at every token) and others like them.
// A megabyte of each must scan in well under a second; a quadratic pass
// takes minutes.
func TestScanLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("scans megabytes")
	}
	s := NewScanner(Options{})
	shapes := []string{
		"aaaa.bbbb.", "a@b.", "a@", "ab:cd:", "12.34.", "Jean ", "1 ", "1/", "x", "A-",
		"..........X", "(1", "+1", ":", "<", "ÉÉ ", "é", "12 rue ", "Mme ", "06 12 34 56 78 ",
		"0612345678", "A1 ", "FR76 ", "http://a.fr/", "www.", "M. ",
	}
	for _, unit := range shapes {
		text := strings.Repeat(unit, (1<<20)/len(unit))
		start := time.Now()
		s.Scan(text)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Scan(%q × %d) took %v", unit, len(text)/len(unit), d)
		}
	}
}
