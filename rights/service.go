// Package rights answers data-subject requests (GDPR Art. 12–22) on the
// legal clock: filing and verification, erasure by key destruction with
// its certificate, exports, restriction and objection, deliveries to
// recipients and OpenDSR callbacks, the journal replay and the key store's
// backups. It runs on the kernel and the trail; what it needs of consent
// and of the vault it reaches through the kernel's interfaces
// (garde.Consents, garde.Retention), wired by package app.
//
// Its page: docs/rights.md.
package rights

import (
	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/trail"
)

// Service runs the rights use cases.
type Service struct {
	*trail.Service
	consents  garde.Consents
	retention garde.Retention
}

// New returns rights over t; consents and retention are the other
// capabilities it calls.
func New(t *trail.Service, consents garde.Consents, retention garde.Retention) *Service {
	return &Service{Service: t, consents: consents, retention: retention}
}
