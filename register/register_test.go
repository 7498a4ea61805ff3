package register

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/problem"
)

func TestExampleRegisterIsValid(t *testing.T) {
	src, err := os.ReadFile("../examples/register.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r, err := ParseRegister(src)
	if err != nil {
		t.Fatalf("examples/register.yaml: %v", err)
	}
	p, ok := r.Purpose("answer_support_request")
	if !ok || p.Retention != Duration(365*24*time.Hour) || !p.Allows("user.contact.email") || p.Allows("user.financial") {
		t.Fatalf("answer_support_request = %+v", p)
	}
}

func TestRegisterProblems(t *testing.T) {
	base := `
controller: {name: X}
dpo: {email: dpo@x.fr}
region: FR
purposes:
  - id: a
    legal_basis: contract
    categories: [user.name]
    retention: 30d
`
	tests := []struct {
		name, change, field string
	}{
		{"unknown top-level field", base + "colour: red\n", "colour"},
		{"unknown nested field", strings.Replace(base, "retention: 30d", "retention: 30d\n    legal_bases: x", 1), "purposes[0].legal_bases"},
		{"bad legal basis", strings.Replace(base, "contract", "because", 1), "purposes[0].legal_basis"},
		{"bad category", strings.Replace(base, "user.name", "user.nmae", 1), "purposes[0].categories[0]"},
		{"no retention", strings.Replace(base, "retention: 30d", "", 1), "purposes[0].retention"},
		{"bad retention", strings.Replace(base, "30d", "a month", 1), "register"},
		{"bad id", strings.Replace(base, "id: a", "id: A-1", 1), "purposes[0].id"},
		{"duplicate id", base + "  - {id: a, legal_basis: contract, categories: [user.name], retention: 1d}\n", "purposes[1].id"},
		{"no controller", strings.Replace(base, "controller: {name: X}", "", 1), "controller.name"},
		{"no dpo", strings.Replace(base, "dpo: {email: dpo@x.fr}", "", 1), "dpo.email"},
		{"unknown region", strings.Replace(base, "region: FR", "region: mars-1", 1), "region"},
		{"region outside EEA", strings.Replace(base, "region: FR", "region: us-east-1", 1), "region"},
		{"recipient outside EEA", strings.Replace(base, "retention: 30d", "retention: 30d\n    recipients: [{name: V, country: US, role: processor}]", 1), "purposes[0].recipients[0].country"},
		{"bad safeguard", base + "transfers: [{country: US, safeguard: trust}]\n", "transfers[0].safeguard"},
		{"withdrawal without consent", strings.Replace(base, "retention: 30d", "retention: 30d\n    on_withdrawal: erase", 1), "purposes[0].on_withdrawal"},
		{"bad operator", strings.Replace(base, "retention: 30d", "retention: 30d\n    anonymize: {user.name: shred}", 1), "purposes[0].anonymize.user.name"},
		{"not YAML", "{{{", "register"},
		{"empty", "", "register"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRegister([]byte(tt.change))
			ve, ok := err.(*problem.ValidationError)
			if !ok {
				t.Fatalf("ParseRegister = %v, want a validation error", err)
			}
			if ve.Problems[0].Field != tt.field {
				t.Fatalf("ParseRegister problems = %+v, want field %q first", ve.Problems, tt.field)
			}
		})
	}
	if _, err := ParseRegister([]byte(base)); err != nil {
		t.Fatalf("base register: %v", err)
	}
	// Transfers make the outside-EEA cases valid.
	ok := strings.Replace(base, "region: FR", "region: us-east-1", 1) + "transfers: [{country: US, safeguard: scc}]\n"
	if _, err := ParseRegister([]byte(ok)); err != nil {
		t.Fatalf("register with a recorded transfer: %v", err)
	}
}

func TestDuration(t *testing.T) {
	day := 24 * time.Hour
	for in, want := range map[string]time.Duration{"365d": 365 * day, "2w": 14 * day, "1y": 365 * day, "72h": 72 * time.Hour} {
		got, err := ParseDuration(in)
		if err != nil || time.Duration(got) != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseDuration("soon"); err == nil {
		t.Error("ParseDuration(soon) succeeded")
	}
}

func FuzzParseRegister(f *testing.F) {
	src, _ := os.ReadFile("../examples/register.yaml")
	f.Add(src)
	f.Add([]byte(`{"controller":{"name":"x"},"purposes":[{"id":"a"}]}`))
	f.Add([]byte("purposes: [[[]]]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRegister(b)
		if err != nil {
			if _, ok := err.(*problem.ValidationError); !ok {
				if !errors.Is(err, problem.ErrTooLarge) {
					t.Fatalf("ParseRegister error of unexpected type %T: %v", err, err)
				}
			}
			return
		}
		// A valid register round-trips through its stored form.
		doc, err := r.CanonicalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseRegister(doc); err != nil {
			t.Fatalf("stored form of a valid register is invalid: %v", err)
		}
	})
}
