package garde

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// ImpactQuery names what was compromised and when: a credential (an API
// key id, or another actor of the audit trail such as "cli") and the time
// window during which someone else may have used it.
type ImpactQuery struct {
	Actor        string
	Since, Until time.Time
	// KeysExposed says the incident also reached key material (the master
	// key, or unwrapped tenant keys): then sealed data is no protection.
	KeysExposed bool
}

// Impact is what the audit trail says a compromised credential did. It
// holds counts and keyed references only: never an identifier.
type Impact struct {
	Actor          string         `json:"actor"`
	Since          time.Time      `json:"since"`
	Until          time.Time      `json:"until"`
	ComputedAt     time.Time      `json:"computed_at"`
	Tenants        []TenantImpact `json:"tenants"`
	Subjects       int            `json:"subjects"`
	RecordsRead    int            `json:"records_read"`
	RecordsWritten int            `json:"records_written"`
	DeniedReads    int            `json:"denied_reads"`
	Categories     []string       `json:"categories"`
	// ReadInClear: records were returned decrypted to the credential.
	ReadInClear bool `json:"read_in_clear"`
	// SealedUnderSafeKeys: nothing was returned in clear and the keys that
	// seal the data stayed safe — evidence for Art. 34(3)(a).
	SealedUnderSafeKeys bool   `json:"sealed_under_safe_keys"`
	Evidence            string `json:"evidence"`
}

// TenantImpact is the impact within one tenant.
type TenantImpact struct {
	Tenant         TenantID `json:"tenant"`
	Subjects       int      `json:"subjects"`
	RecordsRead    int      `json:"records_read"`
	RecordsWritten int      `json:"records_written"`
	DeniedReads    int      `json:"denied_reads"`
	Purposes       []string `json:"purposes"`
	Categories     []string `json:"categories"`
}

// forTenant is the impact as tenant t may see it: its own line only.
func (imp Impact) forTenant(t TenantID) Impact {
	out := imp
	out.Tenants = nil
	out.Subjects, out.RecordsRead, out.RecordsWritten, out.DeniedReads, out.Categories = 0, 0, 0, 0, nil
	for _, ti := range imp.Tenants {
		if ti.Tenant == t {
			out.Tenants = []TenantImpact{ti}
			out.Subjects, out.RecordsRead, out.RecordsWritten, out.DeniedReads = ti.Subjects, ti.RecordsRead, ti.RecordsWritten, ti.DeniedReads
			out.Categories = ti.Categories
		}
	}
	out.ReadInClear = out.RecordsRead > 0
	return out
}

// computeImpact reads the audit trail of each scope for the actor's
// events in the window. Subjects are counted by their distinct keyed
// references, records by the events' counts, and the data categories are
// those the register lets each purpose read or write.
func (s *Service) computeImpact(ctx context.Context, tx Tx, scopes []TenantID, q ImpactQuery) (*Impact, error) {
	imp := &Impact{Actor: q.Actor, Since: q.Since.UTC(), Until: q.Until.UTC(), ComputedAt: s.clock.Now()}
	all := map[string]bool{}
	for _, tenant := range scopes {
		ti := TenantImpact{Tenant: tenant}
		refs := map[string]bool{}
		purposes := map[string]bool{}
		f := AuditFilter{Since: q.Since, Until: q.Until, Actor: q.Actor, Limit: MaxAuditPage}
		for {
			events, err := tx.Audit(ctx, tenant, f)
			if err != nil {
				return nil, err
			}
			for _, e := range events {
				switch {
				case e.Action == ActionMessageRead && e.Outcome == OutcomeOK:
					ti.RecordsRead += e.Count
				case e.Action == ActionMessageWrite && e.Outcome == OutcomeOK:
					ti.RecordsWritten += e.Count
				case e.Action == ActionMessageRead && e.Outcome == OutcomeDenied:
					ti.DeniedReads++
					continue
				default:
					continue
				}
				if e.SubjectRef != "" && e.Count > 0 {
					refs[e.SubjectRef] = true
				}
				if e.Purpose != "" && e.Count > 0 {
					purposes[e.Purpose] = true
				}
			}
			if len(events) < f.Limit {
				break
			}
			f.AfterSeq = events[len(events)-1].Seq
		}
		if len(refs) == 0 && ti.DeniedReads == 0 {
			continue
		}
		ti.Subjects = len(refs)
		ti.Purposes = slices.Sorted(maps.Keys(purposes))
		cats := map[string]bool{}
		if len(purposes) > 0 {
			reg, _, err := s.currentRegister(ctx, tx, tenant)
			if err != nil && !errors.Is(err, ErrForbidden) {
				return nil, err
			}
			for p := range purposes {
				if reg == nil {
					break
				}
				if pp, ok := reg.Purpose(p); ok {
					for _, c := range pp.Categories {
						cats[c] = true
					}
				}
			}
		}
		ti.Categories = slices.Sorted(maps.Keys(cats))
		for c := range cats {
			all[c] = true
		}
		imp.Tenants = append(imp.Tenants, ti)
		imp.Subjects += ti.Subjects
		imp.RecordsRead += ti.RecordsRead
		imp.RecordsWritten += ti.RecordsWritten
		imp.DeniedReads += ti.DeniedReads
	}
	imp.Categories = slices.Sorted(maps.Keys(all))
	imp.ReadInClear = imp.RecordsRead > 0
	switch {
	case q.KeysExposed:
		imp.Evidence = "key material was exposed: sealed data must be treated as readable"
	case imp.ReadInClear:
		imp.Evidence = fmt.Sprintf("%d records were read through the API with this credential and returned decrypted", imp.RecordsRead)
	default:
		imp.SealedUnderSafeKeys = true
		imp.Evidence = "no record was returned in clear: stored data is sealed with AES-256-GCM under per-subject keys, wrapped by tenant keys under the master key, and the incident did not reach them"
	}
	return imp, nil
}

// ComputeImpact computes a breach's impact from the audit trail and
// records it on the breach: the operator, on its breach, searches every
// tenant and adds those it finds to the affected tenants; a tenant
// searches its own trail only, and an affected tenant's result goes into
// its own view of the breach. Categories and approximate numbers left empty on the
// breach are filled from the result.
func (s *Service) ComputeImpact(ctx context.Context, p Principal, id string, q ImpactQuery) (*Breach, error) {
	if err := authorizeBreach(p); err != nil {
		return nil, err
	}
	ve := &ValidationError{}
	if q.Actor == "" {
		ve.Add("actor", "is required: the compromised key id or actor")
	}
	if q.Since.IsZero() {
		ve.Add("since", "is required")
	}
	if q.Until.IsZero() {
		q.Until = s.clock.Now()
	}
	if !q.Since.IsZero() && !q.Until.After(q.Since) {
		ve.Add("until", "must be after since")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	var out *Breach
	err := s.update(ctx, func(tx Tx) error {
		var change BreachChange
		b, err := s.loadBreach(ctx, tx, p.Tenant, id)
		if err != nil {
			return err
		}
		// The owner searches its scope (every tenant, for the operator);
		// an affected tenant searches its own trail, for its own view.
		scopes := []TenantID{p.Tenant}
		if p.Tenant == OperatorTenant && b.Owner == OperatorTenant {
			ts, err := tx.Tenants(ctx)
			if err != nil {
				return err
			}
			scopes = scopes[:0]
			for _, t := range ts {
				scopes = append(scopes, t.ID)
			}
		}
		imp, err := s.computeImpact(ctx, tx, scopes, q)
		if err != nil {
			return err
		}
		if p.Tenant == OperatorTenant && b.Owner == OperatorTenant {
			// Each tenant's trail shows that the operator searched it.
			reads := make([]AuditEvent, len(scopes))
			for i, t := range scopes {
				reads[i] = AuditEvent{Tenant: t, At: now, Actor: p.KeyID, Action: ActionAuditRead, Outcome: OutcomeOK, Reason: id}
			}
			if len(reads) > 0 {
				if err := tx.AppendAudit(ctx, reads); err != nil {
					return err
				}
			}
		}
		change.Impact = imp
		if len(b.Categories) == 0 && len(imp.Categories) > 0 {
			change.Categories = imp.Categories
		}
		if b.SubjectsApprox == 0 && imp.Subjects > 0 {
			change.SubjectsApprox = &imp.Subjects
		}
		if n := imp.RecordsRead + imp.RecordsWritten; b.RecordsApprox == 0 && n > 0 {
			change.RecordsApprox = &n
		}
		if p.Tenant == OperatorTenant && b.Owner == OperatorTenant {
			tenants := slices.Clone(b.Tenants)
			for _, ti := range imp.Tenants {
				tenants = append(tenants, ti.Tenant)
			}
			slices.Sort(tenants)
			tenants = slices.Compact(tenants)
			if len(tenants) != len(b.Tenants) {
				if err := tx.AddBreachTenants(ctx, OperatorTenant, id, tenants); err != nil {
					return err
				}
			}
		}
		out, err = s.appendChangeTx(ctx, tx, p.Tenant, p.KeyID, id, BreachEventImpact, change, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
