// Package tenancy sets a tenant up and keeps it so: creating tenants and
// the operator's credential, a tenant's API keys (with the last admin key
// kept), the register of processing it applies (and the Art. 30 record and
// diffs read from it), the residency check of a deployment, and the
// rotation of tenant and master keys. It runs on the kernel and imports no
// capability.
//
// Its page: docs/register.md and docs/keys.md.
package tenancy

import "github.com/garde-privacy/garde"

// Service runs tenancy's use cases.
type Service struct {
	*garde.Kernel
}

// New returns tenancy over k.
func New(k *garde.Kernel) *Service { return &Service{Kernel: k} }
