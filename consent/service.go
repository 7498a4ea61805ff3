// Package consent proves consent (GDPR Art. 7(1)): versioned notices,
// grant and withdrawal events committed to the tenant's log, receipts the
// person keeps, withdrawal effects on stored messages. It runs on the
// kernel and the trail and imports no other capability.
//
// Its page: docs/consent.md.
package consent

import (
	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/trail"
)

// Service runs consent's use cases.
type Service struct {
	*trail.Service
	queue garde.GroupQueue[ConsentInput, ConsentResult] // group commit of single consent events (consent.go)
}

// New returns consent over t.
func New(t *trail.Service) *Service { return &Service{Service: t} }

var _ garde.Consents = (*Service)(nil)
