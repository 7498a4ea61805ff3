// Package trail signs and proves each tenant's log: checkpoints, inclusion
// and consistency proofs, epochs and forks, and the whole-log verification.
// The log itself (leaves, hashes, the audit trail on it) is the kernel's
// (package garde, log.go); the capabilities that give proofs (consent
// receipts, erasure certificates) run on this package.
//
// Its page: docs/ledger.md.
package trail

import "github.com/garde-privacy/garde"

// Service runs the trail's use cases.
type Service struct {
	*garde.Kernel
}

// New returns the trail over k.
func New(k *garde.Kernel) *Service { return &Service{Kernel: k} }
