package garde

import (
	"github.com/garde-privacy/garde/pii"
)

// detectionMinScore is the score from which a detected entity is acted
// upon: the threshold at which docs/pii.md measures precision and recall.
const detectionMinScore = 0.5

// newScanner is the detector every Service starts with: all built-in
// recognizers, French and English.
func newScanner() *pii.Scanner {
	return pii.NewScanner(pii.Options{MinScore: detectionMinScore})
}

// SetScanner replaces the personal-data detector (for custom recognizers).
// A nil scanner turns detection off, which only benchmarks should do: with
// it off, free text is stored as sent.
func (s *Kernel) SetScanner(sc *pii.Scanner) { s.Scanner = sc }
