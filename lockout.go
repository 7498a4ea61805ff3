package garde

import (
	"context"
	"time"
)

// ActionAuthLockout is audited when the web layer locks out a client
// address, a key or a tenant at an address after repeated failed
// authentications.
const ActionAuthLockout = "auth.lockout"

// RecordLockout audits, in the given tenant's trail (OperatorTenant for a
// lock-out that names no tenant), that the web layer locked what is out
// until the given time after failures failed authentications. actor is an
// opaque reference: a key id, or a pseudonym of the client address (a
// keyed hash valid for the life of the process) — the address itself is
// personal data and is not recorded. what says which lock it is ("addr",
// "key", "tenant_at_addr").
func (s *Kernel) RecordLockout(ctx context.Context, tenant TenantID, actor, what string, failures int, until time.Time) {
	s.RecordDenied(ctx, AuditEvent{Tenant: tenant, Actor: actor, Action: ActionAuthLockout,
		Count: failures, Reason: what + " locked_until " + until.UTC().Format(time.RFC3339)})
}

// AuthError is a failed authentication (an ErrUnauthenticated). Its
// message is the same whatever went wrong, so that a client learns nothing;
// the fields are for the server's lock-out, which counts failures by what
// they aimed at (web/limit.go).
type AuthError struct {
	// Reason is malformed, unknown_key, wrong_secret or revoked.
	Reason string
	// Tenant and KeyID name the key whose prefix was presented (empty for
	// malformed and unknown keys).
	Tenant TenantID
	KeyID  string
}

func (e *AuthError) Error() string { return "missing, malformed, unknown or revoked API key" }

// Unwrap makes an AuthError an ErrUnauthenticated.
func (e *AuthError) Unwrap() error { return ErrUnauthenticated }

// APIKeyPrefix returns the public prefix of an API key text (what finds
// its row), or false if the text does not have the shape of a garde key.
func APIKeyPrefix(text string) (string, bool) { return splitAPIKey(text) }
