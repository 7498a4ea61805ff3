package register

import (
	"testing"

	"github.com/garde-privacy/garde/pii"
)

// Every category pii reports must be one a register can name, or no
// purpose could ever allow or anonymise it explicitly.
func TestPIICategoriesAreKnown(t *testing.T) {
	for _, typ := range pii.Types {
		if c := pii.Category(typ); !IsCategory(c) {
			t.Errorf("pii.Category(%s) = %q, not a category of the register", typ, c)
		}
	}
}

func TestCovers(t *testing.T) {
	tests := []struct {
		listed, c string
		want      bool
	}{
		{"user.contact", "user.contact.email", true},
		{"user.contact.email", "user.contact.email", true},
		{"user.contact", "user.contacts", false},
		{"user.contact.email", "user.contact", false},
		{"user", "user.financial.bank_account", true},
	}
	for _, tt := range tests {
		if got := Covers(tt.listed, tt.c); got != tt.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.listed, tt.c, got, tt.want)
		}
	}
}
