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
	"context"
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

// Store is what a storage backend provides: transactions. Each use case runs
// in one transaction, so that nothing is ever half-written.
type Store interface {
	// Update runs fn in a read-write transaction, committed if fn returns
	// nil and rolled back otherwise.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Ping checks that the database answers, for readiness probes.
	Ping(ctx context.Context) error
	Close() error
}

// Tx is one transaction. Every method names its tenant explicitly: no query
// ever crosses tenants, and a backend never infers the tenant from context.
type Tx interface {
	CreateTenant(ctx context.Context, t Tenant) error
	Tenant(ctx context.Context, id TenantID) (Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error)

	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByPrefix finds a key by its public prefix. It is the one lookup
	// that does not start from a tenant: the credential is what names it.
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, error)
	APIKeys(ctx context.Context, tenant TenantID) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, tenant TenantID, id string, at time.Time) error

	PutRegister(ctx context.Context, tenant TenantID, r RegisterVersion) error
	// Register returns version v of the tenant's register, or the latest
	// when v is 0.
	Register(ctx context.Context, tenant TenantID, v int) (RegisterVersion, error)
	// RegisterVersionNumber returns the latest version number (0 if none).
	RegisterVersionNumber(ctx context.Context, tenant TenantID) (int, error)

	// SubjectByIndex finds a subject by the blind index of its identifier.
	SubjectByIndex(ctx context.Context, tenant TenantID, index []byte) (SubjectRecord, error)
	// SubjectsByIndex finds the subjects among the given blind indexes, in
	// one query; indexes with no subject are simply absent from the result.
	SubjectsByIndex(ctx context.Context, tenant TenantID, indexes [][]byte) ([]SubjectRecord, error)
	CreateSubject(ctx context.Context, s SubjectRecord) error
	// Subjects lists subjects in id order after the given id, for batch
	// jobs such as key rotation.
	Subjects(ctx context.Context, tenant TenantID, after string, limit int) ([]SubjectRecord, error)

	InsertMessages(ctx context.Context, ms []Message) error
	// Messages lists a subject's messages collected for one purpose, oldest
	// first.
	Messages(ctx context.Context, tenant TenantID, subjectID, purpose string) ([]Message, error)

	AppendAudit(ctx context.Context, events []AuditEvent) error
	Audit(ctx context.Context, tenant TenantID, f AuditFilter) ([]AuditEvent, error)

	// ConsentTx holds notices, consent events and the ledger (consent.go,
	// consentlog.go).
	ConsentTx
	// BreachTx holds the breach register and its clock (breach.go).
	BreachTx
	// RightsTx holds data-subject requests, tombstones and restrictions,
	// deliveries, leases and purges (rights.go).
	RightsTx
}
