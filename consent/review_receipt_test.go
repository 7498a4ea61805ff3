package consent

import (
	"testing"

	"github.com/garde-privacy/garde/register"
)

// TestReviewReceiptTermsStable: a consent event commits to the hash of its
// receipt terms (consentContent.TermsHash), and every later receipt of it
// (ConsentProof, a subject's export) rebuilds those terms with termsFor
// from the register version it was given under, then VerifyReceipt compares
// the two hashes. termsFor's "sensitive" flag must therefore never change
// for a purpose that was recorded already. At d9d112a the flag came from
// receipt.go's isSpecialCategory; commit 2c2d567 switched it to
// register.SpecialCategory, whose list differs: consents recorded before
// the upgrade for these purposes get receipts that no longer verify.
func TestReviewReceiptTermsStable(t *testing.T) {
	reg := &register.Register{Controller: register.Party{Name: "Acme"}, DPO: register.Party{Name: "DPO"}}
	for _, tc := range []struct {
		category string
		before   bool // termsFor(...).Sensitive at d9d112a
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
			t.Errorf("purpose with %s: terms hash %s, a consent recorded at d9d112a committed to %s (sensitive %v, now %v): its receipt no longer verifies",
				tc.category, got.hash(), want.hash(), tc.before, got.Sensitive)
		}
	}
}
