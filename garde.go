// Package garde is the kernel of the privacy layer: tenants, principals and
// the one role matrix, the gate every operation enters, error kinds, ids
// and the clock, audit events and their one action list, sealing with
// tenant and subject keys, the key store and its journal, the records of
// every aggregate and one small store interface for each, composed into
// the unit of work (Tx).
//
// The capabilities (packages tenancy, vault, consent, rights, breach) run
// their use cases on it; package trail signs and proves the log; package
// app composes them. The kernel knows no storage engine, no transport and
// no capability: storage backends (package sqlite, package postgres)
// implement its store interfaces and pass the conformance suite in
// gardetest. docs/architecture.md draws the layers; layers_test.go holds
// them.
package garde

import (
	"time"
)

// Clock tells the time. Every use case takes its "now" from a Clock so that
// deadlines and retention can be tested without waiting.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current time in UTC.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// ClockFunc adapts a function to Clock.
type ClockFunc func() time.Time

// Now calls f.
func (f ClockFunc) Now() time.Time { return f() }
