package breach

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
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
	// KeysExposed is the query's: it decides the evidence of every
	// tenant's view.
	KeysExposed bool `json:"keys_exposed,omitempty"`
}

// explain sets what the figures let garde say about sealing.
func (imp *Impact) explain() {
	imp.ReadInClear = imp.RecordsRead > 0
	imp.SealedUnderSafeKeys = false
	switch {
	case imp.KeysExposed:
		imp.Evidence = "key material was exposed: sealed data must be treated as readable"
	case imp.ReadInClear:
		imp.Evidence = fmt.Sprintf("%d records were read through the API with this credential and returned decrypted", imp.RecordsRead)
	default:
		imp.SealedUnderSafeKeys = true
		imp.Evidence = "no record was returned in clear: stored data is sealed with AES-256-GCM under per-subject keys, wrapped by tenant keys under the master key, and the incident did not reach them"
	}
}

// mergeImpact folds a new computation into the recorded impact, so that
// no recorded figure is lost: a tenant's line the new computation does not
// reach (another credential, another window) stays; a tenant's line it
// reaches is replaced, unless that lowers one of its figures — then the
// computation is refused. The totals are the sums of the lines; the
// actors and the window are the union of both.
func mergeImpact(rec, next *Impact) (*Impact, error) {
	if rec == nil {
		return next, nil
	}
	out := *next
	lines := map[garde.TenantID]TenantImpact{}
	for _, ti := range rec.Tenants {
		lines[ti.Tenant] = ti
	}
	for _, ti := range next.Tenants {
		if old, ok := lines[ti.Tenant]; ok {
			if f := lowered(old, ti); f != "" {
				return nil, garde.Errorf(garde.ErrConflict, "the recorded impact has more %s than this computation finds: a recorded impact is never lowered (widen the window)", f)
			}
			ti.Actors = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(old.Actors), ti.Actors...))))
		}
		lines[ti.Tenant] = ti
	}
	out.Tenants = nil
	out.Subjects, out.RecordsRead, out.RecordsWritten, out.DeniedReads = 0, 0, 0, 0
	cats := map[string]bool{}
	for _, t := range slices.Sorted(maps.Keys(lines)) {
		ti := lines[t]
		out.Tenants = append(out.Tenants, ti)
		out.Subjects += ti.Subjects
		out.RecordsRead += ti.RecordsRead
		out.RecordsWritten += ti.RecordsWritten
		out.DeniedReads += ti.DeniedReads
		for _, c := range ti.Categories {
			cats[c] = true
		}
	}
	out.Categories = slices.Sorted(maps.Keys(cats))
	if actors := strings.Split(rec.Actor, ", "); !slices.Contains(actors, next.Actor) {
		out.Actor = rec.Actor + ", " + next.Actor
	} else {
		out.Actor = rec.Actor
	}
	if rec.Since.Before(out.Since) {
		out.Since = rec.Since
	}
	if rec.Until.After(out.Until) {
		out.Until = rec.Until
	}
	out.KeysExposed = rec.KeysExposed || next.KeysExposed
	out.explain()
	return &out, nil
}

// lowered names the first figure of line old that line next lowers, or "".
func lowered(old, next TenantImpact) string {
	switch {
	case next.Subjects < old.Subjects:
		return "subjects"
	case next.RecordsRead < old.RecordsRead:
		return "records_read"
	case next.RecordsWritten < old.RecordsWritten:
		return "records_written"
	case next.DeniedReads < old.DeniedReads:
		return "denied_reads"
	}
	return ""
}

// systemActors are the actors of the audit trail that are no API key:
// the operator's command line, garde's own jobs, the subject following a
// verification link, a restore, the breach detector.
var systemActors = []string{"cli", "rights", "retention", "restore", "subject", "detector"}

// checkActor refuses an impact query naming an actor that does not exist
// in the scopes searched: an API key id of one of them (revoked or not)
// or a system actor. A typo would otherwise compute, and record, an empty
// impact that reads as "nothing happened".
func checkActor(ctx context.Context, tx garde.Tx, scopes []garde.TenantID, actor string) error {
	if slices.Contains(systemActors, actor) {
		return nil
	}
	for _, t := range scopes {
		keys, err := tx.APIKeys(ctx, t)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if k.ID == actor {
				return nil
			}
		}
	}
	return garde.Invalid("actor", "is neither an API key id of this scope nor a system actor (%s)", strings.Join(systemActors, ", "))
}

// TenantImpact is the impact within one tenant.
type TenantImpact struct {
	Tenant         garde.TenantID `json:"tenant"`
	Subjects       int            `json:"subjects"`
	RecordsRead    int            `json:"records_read"`
	RecordsWritten int            `json:"records_written"`
	DeniedReads    int            `json:"denied_reads"`
	Purposes       []string       `json:"purposes"`
	Categories     []string       `json:"categories"`
	// Actors are the credentials whose activity the line counts: a
	// tenant's view names only those that acted in it.
	Actors []string `json:"actors,omitempty"`
}

// forTenant is the impact as tenant t may see it: its own line only.
func (imp Impact) forTenant(t garde.TenantID) Impact {
	out := imp
	out.Tenants = nil
	out.Subjects, out.RecordsRead, out.RecordsWritten, out.DeniedReads, out.Categories = 0, 0, 0, 0, nil
	out.Actor = ""
	for _, ti := range imp.Tenants {
		if ti.Tenant == t {
			out.Actor = strings.Join(ti.Actors, ", ")
			out.Tenants = []TenantImpact{ti}
			out.Subjects, out.RecordsRead, out.RecordsWritten, out.DeniedReads = ti.Subjects, ti.RecordsRead, ti.RecordsWritten, ti.DeniedReads
			out.Categories = ti.Categories
		}
	}
	// The evidence sentence quotes figures: it is the tenant's own.
	out.explain()
	return out
}

// computeImpact reads the audit trail of each scope for the actor's
// events in the window. Subjects are counted by their distinct keyed
// references, records by the events' counts, and the data categories are
// those the register lets each purpose read or write.
func (s *Service) computeImpact(ctx context.Context, tx garde.Tx, scopes []garde.TenantID, q ImpactQuery) (*Impact, error) {
	imp := &Impact{Actor: q.Actor, Since: q.Since.UTC(), Until: q.Until.UTC(), ComputedAt: s.Now()}
	all := map[string]bool{}
	for _, tenant := range scopes {
		ti := TenantImpact{Tenant: tenant, Actors: []string{q.Actor}}
		refs := map[string]bool{}
		purposes := map[string]bool{}
		f := garde.AuditFilter{Since: q.Since, Until: q.Until, Actor: q.Actor, Limit: garde.MaxAuditPage}
		for {
			events, err := tx.Audit(ctx, tenant, f)
			if err != nil {
				return nil, err
			}
			for _, e := range events {
				switch {
				case e.Action == garde.ActionMessageRead && e.Outcome == garde.OutcomeOK:
					ti.RecordsRead += e.Count
				case e.Action == garde.ActionMessageWrite && e.Outcome == garde.OutcomeOK:
					ti.RecordsWritten += e.Count
				case e.Action == garde.ActionMessageRead && e.Outcome == garde.OutcomeDenied:
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
			reg, _, err := s.CurrentRegister(ctx, tx, tenant)
			if err != nil && !errors.Is(err, garde.ErrForbidden) {
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
	imp.KeysExposed = q.KeysExposed
	imp.explain()
	return imp, nil
}

// ComputeImpact computes a breach's impact from the audit trail and
// records it on the breach: the operator, on its breach, searches every
// tenant and adds those it finds to the affected tenants; a tenant
// searches its own trail only, and an affected tenant's result goes into
// its own view of the breach. Categories and approximate numbers left empty on the
// breach are filled from the result.
func (s *Service) ComputeImpact(ctx context.Context, p garde.Principal, id string, q ImpactQuery) (*Breach, error) {
	if _, err := garde.Enter(p, garde.OpBreachWrite); err != nil {
		return nil, err
	}
	ve := &garde.ValidationError{}
	if q.Actor == "" {
		ve.Add("actor", "is required: the compromised key id or actor")
	}
	if q.Since.IsZero() {
		ve.Add("since", "is required")
	}
	if q.Until.IsZero() {
		q.Until = s.Now()
	}
	if !q.Since.IsZero() && !q.Until.After(q.Since) {
		ve.Add("until", "must be after since")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.Now()
	var out *Breach
	err := s.Update(ctx, func(tx garde.Tx) error {
		var change BreachChange
		b, err := s.loadBreach(ctx, tx, p.Tenant, id)
		if err != nil {
			return err
		}
		// The owner searches its scope (every tenant, for the operator);
		// an affected tenant searches its own trail, for its own view.
		scopes := []garde.TenantID{p.Tenant}
		if p.Tenant == garde.OperatorTenant && b.Owner == garde.OperatorTenant {
			ts, err := tx.Tenants(ctx)
			if err != nil {
				return err
			}
			scopes = scopes[:0]
			for _, t := range ts {
				scopes = append(scopes, t.ID)
			}
		}
		keyScopes := scopes
		if p.Tenant == garde.OperatorTenant {
			keyScopes = append([]garde.TenantID{garde.OperatorTenant}, scopes...)
		}
		if err := checkActor(ctx, tx, keyScopes, q.Actor); err != nil {
			return err
		}
		imp, err := s.computeImpact(ctx, tx, scopes, q)
		if err != nil {
			return err
		}
		// A recorded impact is evidence (Art. 33(5)): a computation adds to
		// it and never lowers it (mergeImpact); every computation also
		// stays in the breach's events.
		if imp, err = mergeImpact(b.Impact, imp); err != nil {
			return err
		}
		if p.Tenant == garde.OperatorTenant && b.Owner == garde.OperatorTenant {
			// Each tenant's trail shows that the operator searched it.
			reads := make([]garde.AuditEvent, len(scopes))
			for i, t := range scopes {
				reads[i] = garde.AuditEvent{Tenant: t, At: now, Actor: p.KeyID, Action: garde.ActionAuditRead, Outcome: garde.OutcomeOK, Reason: id}
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
		if p.Tenant == garde.OperatorTenant && b.Owner == garde.OperatorTenant {
			tenants := slices.Clone(b.Tenants)
			for _, ti := range imp.Tenants {
				tenants = append(tenants, ti.Tenant)
			}
			slices.Sort(tenants)
			tenants = slices.Compact(tenants)
			if len(tenants) != len(b.Tenants) {
				if err := tx.AddBreachTenants(ctx, garde.OperatorTenant, id, tenants); err != nil {
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
