package garde

import (
	"context"
	"errors"
	"fmt"
)

// Authenticate checks an API key text and returns who it is. Every failure
// is audited (under the key's tenant when the prefix names a key) and
// reported as the same ErrUnauthenticated, so that a caller learns nothing
// about which part was wrong.
func (s *Kernel) Authenticate(ctx context.Context, text string) (Principal, error) {
	prefix, ok := splitAPIKey(text)
	if !ok {
		s.RecordDenied(ctx, AuditEvent{Tenant: OperatorTenant, Action: ActionAuthFail, Reason: "malformed"})
		return Principal{}, &AuthError{Reason: "malformed"}
	}
	var k APIKey
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		k, err = tx.APIKeyByPrefix(ctx, prefix)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		s.RecordDenied(ctx, AuditEvent{Tenant: OperatorTenant, Action: ActionAuthFail, Reason: "unknown_key"})
		return Principal{}, &AuthError{Reason: "unknown_key"}
	case err != nil:
		return Principal{}, err
	case !k.matches(text):
		s.RecordDenied(ctx, AuditEvent{Tenant: k.Tenant, Actor: k.ID, Action: ActionAuthFail, Reason: "wrong_secret"})
		return Principal{}, &AuthError{Reason: "wrong_secret", Tenant: k.Tenant, KeyID: k.ID}
	case !k.RevokedAt.IsZero():
		s.RecordDenied(ctx, AuditEvent{Tenant: k.Tenant, Actor: k.ID, Action: ActionAuthFail, Reason: "revoked"})
		return Principal{}, &AuthError{Reason: "revoked", Tenant: k.Tenant, KeyID: k.ID}
	}
	return Principal{KeyID: k.ID, Tenant: k.Tenant, Role: k.Role}, nil
}

// CheckKey reports whether the credential behind a principal is still
// valid: not revoked, its tenant not off-boarded. Sessions opened with a
// key (the dashboard's) call it on every request, so that a revocation on
// any node, or from the command line, ends them at once.
func (s *Kernel) CheckKey(ctx context.Context, p Principal) error {
	var keys []APIKey
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		keys, err = tx.APIKeys(ctx, p.Tenant)
		return err
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.ID == p.KeyID && k.Role == p.Role && k.RevokedAt.IsZero() {
			return nil
		}
	}
	return Errorf(ErrUnauthenticated, "the key this session was opened with is no longer valid")
}

// ForEachTenant runs fn for every tenant.
func (s *Kernel) ForEachTenant(ctx context.Context, fn func(TenantID) error) error {
	var tenants []Tenant
	if err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		tenants, err = tx.Tenants(ctx)
		return err
	}); err != nil {
		return err
	}
	var errs []error
	for _, t := range tenants {
		if err := fn(t.ID); err != nil {
			errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, err))
		}
	}
	return errors.Join(errs...)
}
