// Package app composes garde: the kernel, the trail over it, and the
// capabilities, wired to one another through the interfaces the kernel
// defines (an erasure's export reads consents, the rights jobs run the
// vault's retention). It is the only package that knows every capability;
// the transports (package web, web/dashboard, cmd/garde) take a Service.
package app

import (
	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/breach"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/tenancy"
	"github.com/garde-privacy/garde/trail"
	"github.com/garde-privacy/garde/vault"
)

// Service is garde, whole: the kernel's own use cases (authentication,
// the audit trail) and one field per capability.
type Service struct {
	*garde.Kernel
	Tenancy *tenancy.Service
	Trail   *trail.Service
	Vault   *vault.Service
	Consent *consent.Service
	Rights  *rights.Service
	Breach  *breach.Service
}

// New returns garde over store, its keys wrapped by master; clock nil is
// the wall clock.
func New(store garde.Store, master keyring.MasterKeys, clock garde.Clock) *Service {
	k := garde.NewKernel(trail.OnLedger(store), master, clock)
	t := trail.New(k)
	s := &Service{Kernel: k, Tenancy: tenancy.New(k), Trail: t, Vault: vault.New(k), Consent: consent.New(t), Breach: breach.New(k)}
	s.Rights = rights.New(t, s.Consent, s.Vault)
	return s
}
