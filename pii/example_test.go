package pii_test

import (
	"fmt"
	"strings"

	"github.com/garde-privacy/garde/pii"
)

func ExampleScanner_ScanMessage() {
	s := pii.NewScanner(pii.Options{MinScore: 0.5})
	msg := "Bonjour, je m'appelle Marie Dupont, tél 06 12 34 56 78. Suite à mon hospitalisation…"
	r := s.ScanMessage(msg)
	for _, e := range r.Entities {
		start, end := e.RuneOffsets(msg)
		fmt.Printf("%s %d-%d %.2f %s\n", e.Type, start, end, e.Score, pii.Category(e.Type))
	}
	fmt.Println(r.Special, r.Special.Categories())
	// Output:
	// PERSON 22-34 0.95 user.name
	// PHONE_NUMBER 40-54 0.95 user.contact.phone_number
	// health [user.health]
}

// A purpose's rules map data categories to operators; categories it does
// not list fall back to replace.
func ExampleAnonymize() {
	tenantKey := []byte("a per-tenant key of 32 bytes....")
	seal := func(p []byte) ([]byte, error) { return append([]byte("sealed:"), p...), nil } // the keyring's, in garde
	rules := map[string]pii.Operator{
		"user.contact.email":        pii.Pseudonymize,
		"user.contact.phone_number": pii.Encrypt,
		"user.financial":            pii.Mask,
	}
	policy := func(entityType string) pii.OperatorSpec {
		cat := pii.Category(entityType)
		for c, op := range rules {
			if cat == c || strings.HasPrefix(cat, c+".") {
				return pii.OperatorSpec{Operator: op, Key: tenantKey, Seal: seal, KeepLast: 4}
			}
		}
		return pii.OperatorSpec{Operator: pii.Replace}
	}

	msg := "Marie, marie@exemple.fr, 06 12 34 56 78, carte 4970 1012 3456 7893"
	s := pii.NewScanner(pii.Options{MinScore: 0.5})
	out, spans, err := pii.Anonymize(msg, s.Scan(msg), policy)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(out)
	for _, sp := range spans {
		fmt.Println(sp.Type, sp.Operator, len(sp.Sealed) > 0)
	}
	// Output:
	// <PERSON>, <EMAIL_ADDRESS_3ab4f574c383cd5e>, <PHONE_NUMBER>, carte **** **** **** 7893
	// PERSON replace false
	// EMAIL_ADDRESS pseudonymize false
	// PHONE_NUMBER encrypt true
	// CREDIT_CARD mask false
}
