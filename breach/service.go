// Package breach keeps the breach register (GDPR Art. 33(5)): facts,
// effects and remedial action, the 72-hour clock and its escalations,
// detection from the audit trail, impact, severity and the notices. It
// runs on the kernel and imports no other capability.
//
// Its page: docs/breach.md.
package breach

import "github.com/garde-privacy/garde"

// Service runs the breach register's use cases.
type Service struct {
	*garde.Kernel
}

// New returns the breach register over k.
func New(k *garde.Kernel) *Service { return &Service{Kernel: k} }
