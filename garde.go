// Package garde is the privacy layer's domain: tenants and their
// credentials, the register of processing, subjects and their sealed
// messages, and the audit trail — with the use cases that enforce the
// register on every read and write.
//
// The package knows no storage engine and no transport. Storage backends
// (package sqlite, package postgres) implement Store and pass the
// conformance suite in gardetest; package web exposes the use cases over
// HTTP. Business rules live here, once.
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
