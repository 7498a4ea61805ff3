package garde

import (
	"github.com/garde-privacy/garde/register"
)

// What garde repeats of a caller's input. A value that should have been an
// identifier (a purpose id) but is not one may be anything — a name, an
// email — and must not be written to the append-only audit trail or echoed
// in an error, where it could never be erased.

// EchoPurpose returns purpose if it has the shape of a purpose id, and a
// fixed placeholder otherwise.
func EchoPurpose(purpose string) string {
	if register.PurposeIDPattern.MatchString(purpose) {
		return purpose
	}
	return "(not a purpose id)"
}
