package tenancy

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/register"
)

// RotateTenantKey adds a data key version for the tenant and re-wraps
// every subject key under it, in the key store. Subject data keys, and so
// the data they seal, are unchanged: rotation rewrites one small row per
// subject, never the messages. Old versions stay until every subject moved
// off them.
func (s *Service) RotateTenantKey(ctx context.Context, tenant garde.TenantID) (newVersion uint32, rewrapped int, err error) {
	now := s.Now()
	defer s.ForgetTenantKeys(tenant)
	var tk *garde.TenantKeys
	if err := s.Store.View(ctx, func(tx garde.Tx) error {
		tk, err = s.TenantKeys(ctx, tx, tenant, 0)
		return err
	}); err != nil {
		return 0, 0, err
	}
	newVersion = tk.Current + 1
	k, err := keyring.Generate()
	if err != nil {
		return 0, 0, err
	}
	mk := s.Master.Current()
	w, err := keyring.Wrap(mk, k, garde.TenantKeyAD(tenant, garde.TenantKeyData, newVersion))
	if err != nil {
		return 0, 0, err
	}
	newSealer, err := keyring.NewSealer(k, newVersion)
	clear(k[:])
	if err != nil {
		return 0, 0, err
	}
	if err := s.KeyStore.AddTenantKeys(ctx, []garde.TenantKey{{Tenant: tenant, Kind: garde.TenantKeyData, Version: newVersion, Wrapped: w, MasterVersion: mk.Version(), CreatedAt: now}}); err != nil {
		return 0, 0, err
	}
	for after := ""; ; {
		keys, err := s.KeyStore.ListSubjectKeys(ctx, tenant, after, 500)
		if err != nil {
			return newVersion, rewrapped, err
		}
		batch := make([]garde.SubjectKey, 0, len(keys))
		for _, sk := range keys {
			after = sk.Subject
			old := tk.Data[sk.Version]
			if old == nil {
				return newVersion, rewrapped, fmt.Errorf("subject %s: tenant key version %d: %w", sk.Subject, sk.Version, keyring.ErrUnknownVersion)
			}
			dk, err := keyring.Unwrap(old, sk.Wrapped, garde.SubjectKeyAD(tenant, sk.Subject))
			if err != nil {
				return newVersion, rewrapped, fmt.Errorf("unwrap subject key %s: %w", sk.Subject, err)
			}
			sk.Wrapped, err = keyring.Wrap(newSealer, dk, garde.SubjectKeyAD(tenant, sk.Subject))
			clear(dk[:])
			if err != nil {
				return newVersion, rewrapped, err
			}
			sk.Version = newVersion
			batch = append(batch, sk)
		}
		if err := s.KeyStore.RewrapSubjectKeys(ctx, batch); err != nil {
			return newVersion, rewrapped, err
		}
		rewrapped += len(batch)
		if len(keys) < 500 {
			break
		}
	}
	err = s.Store.Update(ctx, func(tx garde.Tx) error {
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: tenant, At: now, Actor: "cli", Action: garde.ActionKeysRotate, Outcome: garde.OutcomeOK, Count: rewrapped, Reason: "tenant_key"}})
	})
	return newVersion, rewrapped, err
}

// RewrapTenantKeys re-wraps every tenant key of every tenant under the
// current master key version, after a master key rotation. It rewrites one
// row per tenant key; nothing below is touched.
func (s *Service) RewrapTenantKeys(ctx context.Context) (int, error) {
	now := s.Now()
	mk := s.Master.Current()
	n := 0
	err := s.Store.Update(ctx, func(tx garde.Tx) error {
		n = 0 // the store may run this function again
		tenants, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			rows, err := s.KeyStore.TenantKeys(ctx, t.ID)
			if err != nil {
				return err
			}
			var rewrapped []garde.TenantKey
			for _, r := range rows {
				if r.MasterVersion == mk.Version() {
					continue
				}
				old, err := s.Master.Version(r.MasterVersion)
				if err != nil {
					return fmt.Errorf("tenant %s key %s/%d: %w", t.ID, r.Kind, r.Version, err)
				}
				ad := garde.TenantKeyAD(t.ID, r.Kind, r.Version)
				k, err := keyring.Unwrap(old, r.Wrapped, ad)
				if err != nil {
					return fmt.Errorf("tenant %s key %s/%d: %w", t.ID, r.Kind, r.Version, err)
				}
				r.Wrapped, err = keyring.Wrap(mk, k, ad)
				clear(k[:])
				if err != nil {
					return err
				}
				r.MasterVersion = mk.Version()
				rewrapped = append(rewrapped, r)
			}
			if err := s.KeyStore.RewrapTenantKeys(ctx, rewrapped); err != nil {
				return err
			}
			n += len(rewrapped)
			if err := tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: t.ID, At: now, Actor: "cli", Action: garde.ActionKeysRotate, Outcome: garde.OutcomeOK, Count: len(rows), Reason: "master_key"}}); err != nil {
				return err
			}
		}
		return nil
	})
	s.Mu.Lock()
	clear(s.Keys)
	s.Mu.Unlock()
	return n, err
}

// MasterVersionsInUse lists the master key versions that still wrap some
// tenant key or seal an unexpired key store backup, so that an operator
// knows which can be retired. Retiring a version once its backups expired
// is what makes them unreadable (keybackup.go).
func (s *Service) MasterVersionsInUse(ctx context.Context) (map[uint32]int, error) {
	used := map[uint32]int{}
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		tenants, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range tenants {
			rows, err := s.KeyStore.TenantKeys(ctx, t.ID)
			if err != nil {
				return err
			}
			for _, r := range rows {
				used[r.MasterVersion]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	journal, err := s.KeyStore.Journal(ctx, 0)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	for _, e := range journal {
		if v, perr := strconv.ParseUint(e.Purpose, 10, 32); e.Kind == garde.JournalKeyBackup && perr == nil && now.Before(e.At) {
			used[uint32(v)]++
		}
	}
	return used, nil
}

// CreateTenant creates a tenant with its keys and a first admin API key,
// whose text is returned once and never stored.
func (s *Service) CreateTenant(ctx context.Context, p garde.Principal, name string) (garde.Tenant, string, error) {
	if _, err := garde.Enter(p, garde.OpTenantCreate); err != nil {
		return garde.Tenant{}, "", err
	}
	if err := garde.ValidateTenantName(name); err != nil {
		return garde.Tenant{}, "", err
	}
	now := s.Now()
	t := garde.Tenant{ID: garde.TenantID(garde.NewID("tn_", now)), Name: name, CreatedAt: now}
	keys, err := s.NewTenantKeys(t.ID, now)
	if err != nil {
		return garde.Tenant{}, "", err
	}
	admin, text := garde.NewAPIKey(t.ID, garde.RoleAdmin, p.KeyID, now)
	// The keys are committed to the key store before the tenant exists in
	// the data store (an orphan key of a tenant that never committed opens
	// nothing).
	if err := s.KeyStore.AddTenantKeys(ctx, keys); err != nil {
		return garde.Tenant{}, "", err
	}
	err = s.Store.Update(ctx, func(tx garde.Tx) error {
		if err := tx.CreateTenant(ctx, t); err != nil {
			return err
		}
		if err := tx.CreateAPIKey(ctx, admin); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{
			{Tenant: t.ID, At: now, Actor: p.KeyID, Action: garde.ActionTenantCreate, Outcome: garde.OutcomeOK},
			{Tenant: t.ID, At: now, Actor: p.KeyID, Action: garde.ActionKeyCreate, Outcome: garde.OutcomeOK, Reason: string(garde.RoleAdmin)},
		})
	})
	if err != nil {
		return garde.Tenant{}, "", err
	}
	return t, text, nil
}

// CreateOperatorKey creates a credential for the platform itself. It is
// only reachable from the command line, on the data directory: there is
// no credential above the operator to ask for one over the network.
func (s *Service) CreateOperatorKey(ctx context.Context) (garde.APIKey, string, error) {
	now := s.Now()
	k, text := garde.NewAPIKey(garde.OperatorTenant, garde.RoleOperator, "cli", now)
	err := s.Store.Update(ctx, func(tx garde.Tx) error {
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: garde.OperatorTenant, At: now, Actor: "cli", Action: garde.ActionKeyCreate, Outcome: garde.OutcomeOK, Reason: string(garde.RoleOperator)}})
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
func (s *Service) RecoverAdminKey(ctx context.Context, tenant garde.TenantID) (garde.APIKey, string, error) {
	now := s.Now()
	k, text := garde.NewAPIKey(tenant, garde.RoleAdmin, "cli", now)
	err := s.Store.Update(ctx, func(tx garde.Tx) error {
		if _, err := tx.Tenant(ctx, tenant); err != nil {
			return err
		}
		keys, err := s.KeyStore.TenantKeys(ctx, tenant)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return garde.Errorf(garde.ErrConflict, "tenant %s is off-boarded: its keys are destroyed", tenant)
		}
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: tenant, At: now, Actor: "cli", Action: garde.ActionKeyRecover, Outcome: garde.OutcomeOK, Reason: k.ID}})
	})
	if err != nil {
		return garde.APIKey{}, "", err
	}
	return k, text, nil
}

// CreateAPIKey creates a key of the given role in the caller's tenant.
func (s *Service) CreateAPIKey(ctx context.Context, p garde.Principal, role string) (garde.APIKey, string, error) {
	if _, err := garde.Enter(p, garde.OpKeyCreate); err != nil {
		return garde.APIKey{}, "", err
	}
	r, err := garde.ParseRole(role)
	if err != nil {
		return garde.APIKey{}, "", err
	}
	now := s.Now()
	k, text := garde.NewAPIKey(p.Tenant, r, p.KeyID, now)
	err = s.Store.Update(ctx, func(tx garde.Tx) error {
		if err := tx.CreateAPIKey(ctx, k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionKeyCreate, Outcome: garde.OutcomeOK, Reason: string(r)}})
	})
	if err != nil {
		return garde.APIKey{}, "", err
	}
	return k, text, nil
}

// APIKeys lists the keys of the caller's tenant (hashes included, for the
// store's sake; the web layer shows only ids, roles and dates).
func (s *Service) APIKeys(ctx context.Context, p garde.Principal) ([]garde.APIKey, error) {
	if _, err := garde.Enter(p, garde.OpKeyList); err != nil {
		return nil, err
	}
	var keys []garde.APIKey
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		keys, err = tx.APIKeys(ctx, p.Tenant)
		return err
	})
	return keys, err
}

// RevokeAPIKey revokes a key of the caller's tenant. Revoking is final.
func (s *Service) RevokeAPIKey(ctx context.Context, p garde.Principal, id string) error {
	if _, err := garde.Enter(p, garde.OpKeyRevoke); err != nil {
		return err
	}
	now := s.Now()
	return s.Store.Update(ctx, func(tx garde.Tx) error {
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
			return garde.Errorf(garde.ErrLastAdminKey, "api key %s is the tenant's last admin key: create another admin key first", id)
		}
		if err := tx.RevokeAPIKey(ctx, p.Tenant, id, now); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionKeyRevoke, Outcome: garde.OutcomeOK, Reason: id}})
	})
}

// lastAdmin reports whether id is a valid admin key and no other valid
// admin key exists among keys.
func lastAdmin(keys []garde.APIKey, id string) bool {
	target, others := false, 0
	for _, k := range keys {
		if k.Role != garde.RoleAdmin || !k.RevokedAt.IsZero() {
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

// ApplyRegister validates a register document and stores it as the
// tenant's next version. Old versions are kept.
func (s *Service) ApplyRegister(ctx context.Context, p garde.Principal, src []byte) (garde.RegisterVersion, error) {
	if _, err := garde.Enter(p, garde.OpRegisterApply); err != nil {
		return garde.RegisterVersion{}, err
	}
	r, err := register.ParseRegister(src)
	if err != nil {
		return garde.RegisterVersion{}, err
	}
	doc, err := r.CanonicalJSON()
	if err != nil {
		return garde.RegisterVersion{}, err
	}
	now := s.Now()
	var rv garde.RegisterVersion
	err = s.Update(ctx, func(tx garde.Tx) error {
		v, err := tx.RegisterVersionNumber(ctx, p.Tenant)
		if err != nil {
			return err
		}
		rv = garde.RegisterVersion{Version: v + 1, AppliedAt: now, AppliedBy: p.KeyID, Document: doc, Source: src}
		if err := tx.PutRegister(ctx, p.Tenant, rv); err != nil {
			if errors.Is(err, garde.ErrConflict) {
				return garde.ErrRetry
			}
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionRegisterApply, Outcome: garde.OutcomeOK, Count: rv.Version}})
	})
	return rv, err
}

// Register returns version v (0: the latest) of the caller's register.
func (s *Service) Register(ctx context.Context, p garde.Principal, v int) (garde.RegisterVersion, error) {
	if _, err := garde.Enter(p, garde.OpRegisterRead); err != nil {
		return garde.RegisterVersion{}, err
	}
	if v < 0 {
		return garde.RegisterVersion{}, garde.Invalid("version", "must be a positive integer")
	}
	var rv garde.RegisterVersion
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		rv, err = tx.Register(ctx, p.Tenant, v)
		return err
	})
	return rv, err
}

// CheckResidency checks every tenant's current register against the
// deployment's region (empty: the deployment declares none, and only the
// registers' own regions are re-checked). `garde serve` refuses to start on
// an error; the message names the tenants by id, nothing else.
func (s *Service) CheckResidency(ctx context.Context, region string) error {
	if region != "" {
		if _, ok := register.RegionCountry(region); !ok {
			return garde.Invalid("region", "%q is not a known cloud region nor an ISO 3166 country code", region)
		}
	}
	outside := ""
	if c, _ := register.RegionCountry(region); region != "" && !register.InEEA(c) {
		outside = c
	}
	var errs []error
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		ts, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		if outside != "" && len(ts) == 0 {
			errs = append(errs, garde.Errorf(garde.ErrForbidden, "deployment region %q is in %s, outside the EU/EEA, and no register records a transfer there", region, outside))
		}
		for _, t := range ts {
			reg, _, err := s.CurrentRegister(ctx, tx, t.ID)
			switch {
			case errors.Is(err, garde.ErrForbidden) && outside == "":
				continue // no register yet: nothing is processed
			case errors.Is(err, garde.ErrForbidden):
				errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, garde.Errorf(garde.ErrForbidden, "deployment region %q is outside the EU/EEA and the tenant has no register recording a transfer", region)))
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
