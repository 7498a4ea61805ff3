package garde

import (
	"context"
	"errors"
	"fmt"

	"github.com/garde-privacy/garde/register"
)

// CreateTenant creates a tenant with its keys and a first admin API key,
// whose text is returned once and never stored.
func (s *Kernel) CreateTenant(ctx context.Context, p Principal, name string) (Tenant, string, error) {
	if _, err := Enter(p, OpTenantCreate); err != nil {
		return Tenant{}, "", err
	}
	if err := validateTenantName(name); err != nil {
		return Tenant{}, "", err
	}
	now := s.Now()
	t := Tenant{ID: TenantID(NewID("tn_", now)), Name: name, CreatedAt: now}
	keys, err := s.newTenantKeys(t.ID, now)
	if err != nil {
		return Tenant{}, "", err
	}
	admin, text := newAPIKey(t.ID, RoleAdmin, p.KeyID, now)
	// The keys are committed to the key store before the tenant exists in
	// the data store (an orphan key of a tenant that never committed opens
	// nothing).
	if err := s.KeyStore.AddTenantKeys(ctx, keys); err != nil {
		return Tenant{}, "", err
	}
	err = s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.CreateTenant(ctx, t); err != nil {
			return err
		}
		if err := tx.CreateAPIKey(ctx, admin); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []AuditEvent{
			{Tenant: t.ID, At: now, Actor: p.KeyID, Action: ActionTenantCreate, Outcome: OutcomeOK},
			{Tenant: t.ID, At: now, Actor: p.KeyID, Action: ActionKeyCreate, Outcome: OutcomeOK, Reason: string(RoleAdmin)},
		})
	})
	if err != nil {
		return Tenant{}, "", err
	}
	return t, text, nil
}

// CreateOperatorKey creates a credential for the platform itself. It is
// only reachable from the command line, on the data directory: there is
// no credential above the operator to ask for one over the network.
func (s *Kernel) CreateOperatorKey(ctx context.Context) (APIKey, string, error) {
	now := s.Now()
	k, text := newAPIKey(OperatorTenant, RoleOperator, "cli", now)
	err := s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: OperatorTenant, At: now, Actor: "cli", Action: ActionKeyCreate, Outcome: OutcomeOK, Reason: string(RoleOperator)}})
	})
	return k, text, err
}

// RecoverAdminKey issues a new admin key to a tenant, for when its admins
// lost theirs (a tenant's last admin key cannot be revoked, but it can be
// lost or leaked). Like CreateOperatorKey it is only reachable from the
// command line on the data directory, that is by whoever holds the master
// key, and it is audited on the tenant's own trail so that its admins see
// the operator stepped in. An off-boarded tenant (its keys destroyed) gets
// no key: there is nothing left to administer.
func (s *Kernel) RecoverAdminKey(ctx context.Context, tenant TenantID) (APIKey, string, error) {
	now := s.Now()
	k, text := newAPIKey(tenant, RoleAdmin, "cli", now)
	err := s.Store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Tenant(ctx, tenant); err != nil {
			return err
		}
		keys, err := s.KeyStore.TenantKeys(ctx, tenant)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return Errorf(ErrConflict, "tenant %s is off-boarded: its keys are destroyed", tenant)
		}
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: tenant, At: now, Actor: "cli", Action: ActionKeyRecover, Outcome: OutcomeOK, Reason: k.ID}})
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, text, nil
}

// CreateAPIKey creates a key of the given role in the caller's tenant.
func (s *Kernel) CreateAPIKey(ctx context.Context, p Principal, role string) (APIKey, string, error) {
	if _, err := Enter(p, OpKeyCreate); err != nil {
		return APIKey{}, "", err
	}
	r, err := ParseRole(role)
	if err != nil {
		return APIKey{}, "", err
	}
	now := s.Now()
	k, text := newAPIKey(p.Tenant, r, p.KeyID, now)
	err = s.Store.Update(ctx, func(tx Tx) error {
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: ActionKeyCreate, Outcome: OutcomeOK, Reason: string(r)}})
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, text, nil
}

// APIKeys lists the keys of the caller's tenant (hashes included, for the
// store's sake; the web layer shows only ids, roles and dates).
func (s *Kernel) APIKeys(ctx context.Context, p Principal) ([]APIKey, error) {
	if _, err := Enter(p, OpKeyList); err != nil {
		return nil, err
	}
	var keys []APIKey
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		keys, err = tx.APIKeys(ctx, p.Tenant)
		return err
	})
	return keys, err
}

// RevokeAPIKey revokes a key of the caller's tenant. Revoking is final.
func (s *Kernel) RevokeAPIKey(ctx context.Context, p Principal, id string) error {
	if _, err := Enter(p, OpKeyRevoke); err != nil {
		return err
	}
	now := s.Now()
	return s.Store.Update(ctx, func(tx Tx) error {
		// A tenant keeps at least one admin key: without one nobody can
		// create keys, apply the register or revoke a leaked key, and only
		// the master key's holder could get it back (RecoverAdminKey).
		// The keys are read in the revoking transaction, which both
		// backends serialise per tenant, so two revocations of the last
		// two admin keys cannot both see the other one still valid.
		keys, err := tx.APIKeys(ctx, p.Tenant)
		if err != nil {
			return err
		}
		if lastAdmin(keys, id) {
			return Errorf(ErrLastAdminKey, "api key %s is the tenant's last admin key: create another admin key first", id)
		}
		if err := tx.RevokeAPIKey(ctx, p.Tenant, id, now); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: ActionKeyRevoke, Outcome: OutcomeOK, Reason: id}})
	})
}

// lastAdmin reports whether id is a valid admin key and no other valid
// admin key exists among keys.
func lastAdmin(keys []APIKey, id string) bool {
	target, others := false, 0
	for _, k := range keys {
		if k.Role != RoleAdmin || !k.RevokedAt.IsZero() {
			continue
		}
		if k.ID == id {
			target = true
		} else {
			others++
		}
	}
	return target && others == 0
}

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

// ApplyRegister validates a register document and stores it as the
// tenant's next version. Old versions are kept.
func (s *Kernel) ApplyRegister(ctx context.Context, p Principal, src []byte) (RegisterVersion, error) {
	if _, err := Enter(p, OpRegisterApply); err != nil {
		return RegisterVersion{}, err
	}
	r, err := register.ParseRegister(src)
	if err != nil {
		return RegisterVersion{}, err
	}
	doc, err := r.CanonicalJSON()
	if err != nil {
		return RegisterVersion{}, err
	}
	now := s.Now()
	var rv RegisterVersion
	err = s.Update(ctx, func(tx Tx) error {
		v, err := tx.RegisterVersionNumber(ctx, p.Tenant)
		if err != nil {
			return err
		}
		rv = RegisterVersion{Version: v + 1, AppliedAt: now, AppliedBy: p.KeyID, Document: doc, Source: src}
		if err := tx.PutRegister(ctx, p.Tenant, rv); err != nil {
			if errors.Is(err, ErrConflict) {
				return ErrRetry
			}
			return err
		}
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: ActionRegisterApply, Outcome: OutcomeOK, Count: rv.Version}})
	})
	return rv, err
}

// Register returns version v (0: the latest) of the caller's register.
func (s *Kernel) Register(ctx context.Context, p Principal, v int) (RegisterVersion, error) {
	if _, err := Enter(p, OpRegisterRead); err != nil {
		return RegisterVersion{}, err
	}
	if v < 0 {
		return RegisterVersion{}, Invalid("version", "must be a positive integer")
	}
	var rv RegisterVersion
	err := s.Store.View(ctx, func(tx Tx) error {
		var err error
		rv, err = tx.Register(ctx, p.Tenant, v)
		return err
	})
	return rv, err
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

// CheckResidency checks every tenant's current register against the
// deployment's region (empty: the deployment declares none, and only the
// registers' own regions are re-checked). `garde serve` refuses to start on
// an error; the message names the tenants by id, nothing else.
func (s *Kernel) CheckResidency(ctx context.Context, region string) error {
	if region != "" {
		if _, ok := register.RegionCountry(region); !ok {
			return Invalid("region", "%q is not a known cloud region nor an ISO 3166 country code", region)
		}
	}
	outside := ""
	if c, _ := register.RegionCountry(region); region != "" && !register.InEEA(c) {
		outside = c
	}
	var errs []error
	err := s.Store.View(ctx, func(tx Tx) error {
		ts, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		if outside != "" && len(ts) == 0 {
			errs = append(errs, Errorf(ErrForbidden, "deployment region %q is in %s, outside the EU/EEA, and no register records a transfer there", region, outside))
		}
		for _, t := range ts {
			reg, _, err := s.CurrentRegister(ctx, tx, t.ID)
			switch {
			case errors.Is(err, ErrForbidden) && outside == "":
				continue // no register yet: nothing is processed
			case errors.Is(err, ErrForbidden):
				errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, Errorf(ErrForbidden, "deployment region %q is outside the EU/EEA and the tenant has no register recording a transfer", region)))
				continue
			case err != nil:
				return err
			}
			if err := reg.CheckDeployment(region); err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, err))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// forEachTenant runs fn for every tenant.
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
