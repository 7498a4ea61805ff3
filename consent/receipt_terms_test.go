package consent

import (
	"testing"

	"github.com/garde-privacy/garde/register"
)

// TestReceiptTermsStable: a consent event commits to the hash of its
// receipt terms (consentContent.TermsHash), and every later receipt of it
// (ConsentProof, a subject's export) rebuilds those terms with termsFor
// from the register version it was given under, then VerifyReceipt compares
// the two hashes. termsFor's "sensitive" flag must therefore never change
// for a purpose that was recorded already: the flags below are those that
// consents recorded by earlier versions committed to (receiptSensitive),
// whatever register.SpecialCategory says.
func TestReceiptTermsStable(t *testing.T) {
	reg := &register.Register{Controller: register.Party{Name: "Acme"}, DPO: register.Party{Name: "DPO"}}
	for _, tc := range []struct {
		category string
		before   bool // as receipt format 1 committed
	}{
		{"user.criminal_history", true},
		{"user.union_membership", false},
		{"user.demographic.race_ethnicity", false},
		{"user.health_and_medical", true}, // unchanged, for reference
		{"user.contact.email", false},     // unchanged, for reference
	} {
		pp := &register.Purpose{ID: "p", LegalBasis: "consent", Categories: []string{tc.category}}
		got := termsFor(reg, pp)
		want := got
		want.Sensitive = tc.before
		if got.hash() != want.hash() {
			t.Errorf("purpose with %s: terms hash %s, a consent recorded earlier committed to %s (sensitive %v, now %v): its receipt no longer verifies",
				tc.category, got.hash(), want.hash(), tc.before, got.Sensitive)
		}
	}
}
