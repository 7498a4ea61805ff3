package garde

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/garde-privacy/garde/keyring"
)

// tenantKeys is a tenant's unwrapped keys, cached for a short while.
type TenantKeys struct {
	Data    map[uint32]*keyring.Sealer
	Current uint32
	Blind   keyring.Key // blind index of subject identifiers
	Audit   keyring.Key // subject references in the audit trail
	Pseudo  keyring.Key // pseudonyms in anonymised text
	loaded  time.Time
}

// tenantKeyTTL bounds how long a node trusts its cached tenant keys before
// it reads them again, so that a rotation or an off-boarding on another
// node reaches this one.
const tenantKeyTTL = 30 * time.Second

func tenantKeyAD(t TenantID, kind string, version uint32) keyring.AD {
	return keyring.AD{Tenant: string(t), Field: "tenant-key/" + kind + "/" + strconv.FormatUint(uint64(version), 10)}
}

func SubjectKeyAD(t TenantID, subjectID string) keyring.AD {
	return keyring.AD{Tenant: string(t), Subject: subjectID, Field: "subject-key"}
}

// newTenantKeys creates the first data key and the secret of a new tenant,
// wrapped under the current master key.
func (s *Kernel) newTenantKeys(tenant TenantID, now time.Time) ([]TenantKey, error) {
	mk := s.Master.Current()
	var out []TenantKey
	for _, kind := range []string{TenantKeyData, TenantKeySecret} {
		k, err := keyring.Generate()
		if err != nil {
			return nil, err
		}
		w, err := keyring.Wrap(mk, k, tenantKeyAD(tenant, kind, 1))
		if err != nil {
			return nil, err
		}
		out = append(out, TenantKey{Tenant: tenant, Kind: kind, Version: 1, Wrapped: w, MasterVersion: mk.Version(), CreatedAt: now})
	}
	return out, nil
}

// tenantKeys returns the tenant's unwrapped keys, from cache when fresh and
// when the wanted data key version is known.
func (s *Kernel) TenantKeys(ctx context.Context, tx Tx, tenant TenantID, needVersion uint32) (*TenantKeys, error) {
	now := s.Now()
	s.mu.Lock()
	tk := s.keys[tenant]
	s.mu.Unlock()
	if tk != nil && now.Sub(tk.loaded) < tenantKeyTTL && now.After(tk.loaded.Add(-time.Minute)) && (needVersion == 0 || tk.Data[needVersion] != nil) {
		return tk, nil
	}
	rows, err := s.KeyStore.TenantKeys(ctx, tenant)
	if err != nil {
		return nil, err
	}
	tk = &TenantKeys{Data: map[uint32]*keyring.Sealer{}, loaded: now}
	haveSecret := false
	for _, r := range rows {
		mk, err := s.Master.Version(r.MasterVersion)
		if err != nil {
			return nil, fmt.Errorf("tenant key %s/%d: %w", r.Kind, r.Version, err)
		}
		k, err := keyring.Unwrap(mk, r.Wrapped, tenantKeyAD(tenant, r.Kind, r.Version))
		if err != nil {
			return nil, fmt.Errorf("unwrap tenant key %s/%d: %w", r.Kind, r.Version, err)
		}
		switch r.Kind {
		case TenantKeyData:
			sl, err := keyring.NewSealer(k, r.Version)
			if err != nil {
				return nil, err
			}
			tk.Data[r.Version] = sl
			tk.Current = max(tk.Current, r.Version)
		case TenantKeySecret:
			tk.Blind = keyring.Derive(k, "blind-index")
			tk.Audit = keyring.Derive(k, "audit-subject")
			tk.Pseudo = keyring.Derive(k, "pseudonym")
			haveSecret = true
		}
		clear(k[:])
	}
	if tk.Current == 0 || !haveSecret {
		return nil, Errorf(ErrNotFound, "tenant has no keys (unknown or off-boarded tenant)")
	}
	if needVersion != 0 && tk.Data[needVersion] == nil {
		return nil, fmt.Errorf("tenant data key version %d: %w", needVersion, keyring.ErrUnknownVersion)
	}
	s.mu.Lock()
	s.keys[tenant] = tk
	s.mu.Unlock()
	return tk, nil
}

// forgetAllTenantKeys drops every cached tenant key (after a journal replay
// or a key store restore).
func (s *Kernel) ForgetAllTenantKeys() {
	s.mu.Lock()
	clear(s.keys)
	s.mu.Unlock()
}

// forgetTenantKeys drops the cached keys of a tenant.
func (s *Kernel) ForgetTenantKeys(tenant TenantID) {
	s.mu.Lock()
	delete(s.keys, tenant)
	s.mu.Unlock()
}

// subjectSealer unwraps a subject's data key, read from the key store: a
// subject whose key is not there (destroyed, or an orphan row of a data
// store restored from a backup) is erased.
func (s *Kernel) SubjectSealer(ctx context.Context, tx Tx, tenant TenantID, rec SubjectRecord) (*keyring.Sealer, error) {
	sealers, err := s.subjectSealers(ctx, tx, tenant, []string{rec.ID})
	if err != nil {
		return nil, err
	}
	return sealers[rec.ID], nil
}

// openedSubject is a subject's unwrapped data key, as a sealer, and its
// audit reference.
type openedSubject struct {
	sealer *keyring.Sealer
	ref    string
}

// subjectSealers unwraps the data keys of several subjects with one read of
// the key store; any subject without a key makes it ErrSubjectErased.
func (s *Kernel) subjectSealers(ctx context.Context, tx Tx, tenant TenantID, ids []string) (map[string]*keyring.Sealer, error) {
	opened, err := s.openSubjects(ctx, tx, tenant, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*keyring.Sealer, len(opened))
	for id, o := range opened {
		out[id] = o.sealer
	}
	return out, nil
}

// openSubjects unwraps the data keys of several subjects, with their audit
// references.
func (s *Kernel) openSubjects(ctx context.Context, tx Tx, tenant TenantID, ids []string) (map[string]openedSubject, error) {
	keys, err := s.KeyStore.SubjectKeys(ctx, tenant, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[string]openedSubject, len(keys))
	for _, k := range keys {
		tk, err := s.TenantKeys(ctx, tx, tenant, k.Version)
		if err != nil {
			return nil, err
		}
		dk, err := keyring.Unwrap(tk.Data[k.Version], k.Wrapped, SubjectKeyAD(tenant, k.Subject))
		if err != nil {
			return nil, fmt.Errorf("unwrap subject key %s: %w", k.Subject, err)
		}
		sl, err := keyring.NewSealer(dk, 1)
		ref := SubjectKeyRef(dk, k.Subject)
		clear(dk[:])
		if err != nil {
			return nil, err
		}
		out[k.Subject] = openedSubject{sl, ref}
	}
	for _, id := range ids {
		if out[id].sealer == nil {
			return nil, ErrSubjectErased
		}
	}
	return out, nil
}

// ErrSubjectErased is returned for a subject whose data key was destroyed.
var ErrSubjectErased = Errorf(ErrNotFound, "subject's data key has been destroyed")

// RotateTenantKey adds a data key version for the tenant and re-wraps
// every subject key under it, in the key store. Subject data keys, and so
// the data they seal, are unchanged: rotation rewrites one small row per
// subject, never the messages. Old versions stay until every subject moved
// off them.
func (s *Kernel) RotateTenantKey(ctx context.Context, tenant TenantID) (newVersion uint32, rewrapped int, err error) {
	now := s.Now()
	defer s.ForgetTenantKeys(tenant)
	var tk *TenantKeys
	if err := s.Store.View(ctx, func(tx Tx) error {
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
	w, err := keyring.Wrap(mk, k, tenantKeyAD(tenant, TenantKeyData, newVersion))
	if err != nil {
		return 0, 0, err
	}
	newSealer, err := keyring.NewSealer(k, newVersion)
	clear(k[:])
	if err != nil {
		return 0, 0, err
	}
	if err := s.KeyStore.AddTenantKeys(ctx, []TenantKey{{Tenant: tenant, Kind: TenantKeyData, Version: newVersion, Wrapped: w, MasterVersion: mk.Version(), CreatedAt: now}}); err != nil {
		return 0, 0, err
	}
	for after := ""; ; {
		keys, err := s.KeyStore.ListSubjectKeys(ctx, tenant, after, 500)
		if err != nil {
			return newVersion, rewrapped, err
		}
		batch := make([]SubjectKey, 0, len(keys))
		for _, sk := range keys {
			after = sk.Subject
			old := tk.Data[sk.Version]
			if old == nil {
				return newVersion, rewrapped, fmt.Errorf("subject %s: tenant key version %d: %w", sk.Subject, sk.Version, keyring.ErrUnknownVersion)
			}
			dk, err := keyring.Unwrap(old, sk.Wrapped, SubjectKeyAD(tenant, sk.Subject))
			if err != nil {
				return newVersion, rewrapped, fmt.Errorf("unwrap subject key %s: %w", sk.Subject, err)
			}
			sk.Wrapped, err = keyring.Wrap(newSealer, dk, SubjectKeyAD(tenant, sk.Subject))
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
	err = s.Store.Update(ctx, func(tx Tx) error {
		return tx.AppendAudit(ctx, []AuditEvent{{Tenant: tenant, At: now, Actor: "cli", Action: ActionKeysRotate, Outcome: OutcomeOK, Count: rewrapped, Reason: "tenant_key"}})
	})
	return newVersion, rewrapped, err
}

// RewrapTenantKeys re-wraps every tenant key of every tenant under the
// current master key version, after a master key rotation. It rewrites one
// row per tenant key; nothing below is touched.
func (s *Kernel) RewrapTenantKeys(ctx context.Context) (int, error) {
	now := s.Now()
	mk := s.Master.Current()
	n := 0
	err := s.Store.Update(ctx, func(tx Tx) error {
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
			var rewrapped []TenantKey
			for _, r := range rows {
				if r.MasterVersion == mk.Version() {
					continue
				}
				old, err := s.Master.Version(r.MasterVersion)
				if err != nil {
					return fmt.Errorf("tenant %s key %s/%d: %w", t.ID, r.Kind, r.Version, err)
				}
				ad := tenantKeyAD(t.ID, r.Kind, r.Version)
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
			if err := tx.AppendAudit(ctx, []AuditEvent{{Tenant: t.ID, At: now, Actor: "cli", Action: ActionKeysRotate, Outcome: OutcomeOK, Count: len(rows), Reason: "master_key"}}); err != nil {
				return err
			}
		}
		return nil
	})
	s.mu.Lock()
	clear(s.keys)
	s.mu.Unlock()
	return n, err
}

// MasterVersionsInUse lists the master key versions that still wrap some
// tenant key or seal an unexpired key store backup, so that an operator
// knows which can be retired. Retiring a version once its backups expired
// is what makes them unreadable (keybackup.go).
func (s *Kernel) MasterVersionsInUse(ctx context.Context) (map[uint32]int, error) {
	used := map[uint32]int{}
	err := s.Store.View(ctx, func(tx Tx) error {
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
		if v, perr := strconv.ParseUint(e.Purpose, 10, 32); e.Kind == JournalKeyBackup && perr == nil && now.Before(e.At) {
			used[uint32(v)]++
		}
	}
	return used, nil
}
