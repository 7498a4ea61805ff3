package garde

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/garde-privacy/garde/keyring"
)

// TenantKeys is a tenant's unwrapped keys, cached for a short while.
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

func TenantKeyAD(t TenantID, kind string, version uint32) keyring.AD {
	return keyring.AD{Tenant: string(t), Field: "tenant-key/" + kind + "/" + strconv.FormatUint(uint64(version), 10)}
}

func SubjectKeyAD(t TenantID, subjectID string) keyring.AD {
	return keyring.AD{Tenant: string(t), Subject: subjectID, Field: "subject-key"}
}

// NewTenantKeys creates the first data key and the secret of a new tenant,
// wrapped under the current master key.
func (s *Kernel) NewTenantKeys(tenant TenantID, now time.Time) ([]TenantKey, error) {
	mk := s.Master.Current()
	var out []TenantKey
	for _, kind := range []string{TenantKeyData, TenantKeySecret} {
		k, err := keyring.Generate()
		if err != nil {
			return nil, err
		}
		w, err := keyring.Wrap(mk, k, TenantKeyAD(tenant, kind, 1))
		if err != nil {
			return nil, err
		}
		out = append(out, TenantKey{Tenant: tenant, Kind: kind, Version: 1, Wrapped: w, MasterVersion: mk.Version(), CreatedAt: now})
	}
	return out, nil
}

// TenantKeys returns the tenant's unwrapped keys, from cache when fresh and
// when the wanted data key version is known.
func (s *Kernel) TenantKeys(ctx context.Context, tx Tx, tenant TenantID, needVersion uint32) (*TenantKeys, error) {
	now := s.Now()
	s.Mu.Lock()
	tk := s.Keys[tenant]
	s.Mu.Unlock()
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
		k, err := keyring.Unwrap(mk, r.Wrapped, TenantKeyAD(tenant, r.Kind, r.Version))
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
	s.Mu.Lock()
	s.Keys[tenant] = tk
	s.Mu.Unlock()
	return tk, nil
}

// ForgetAllTenantKeys drops every cached tenant key (after a journal replay
// or a key store restore).
func (s *Kernel) ForgetAllTenantKeys() {
	s.Mu.Lock()
	clear(s.Keys)
	s.Mu.Unlock()
}

// ForgetTenantKeys drops the cached keys of a tenant.
func (s *Kernel) ForgetTenantKeys(tenant TenantID) {
	s.Mu.Lock()
	delete(s.Keys, tenant)
	s.Mu.Unlock()
}

// SubjectSealer unwraps a subject's data key, read from the key store: a
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
