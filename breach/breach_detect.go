package breach

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/garde-privacy/garde"
)

// Detectors read the audit trail and open draft breaches, owned by the
// operator and affecting the tenant concerned, for a human to confirm or
// dismiss. A draft's clock does not run: awareness comes with the
// confirmation. Each finding opens one draft per window (the detector key
// is unique), however many nodes run the detectors.
type Detectors struct {
	// Window is the span looked at, ending now (default 10 minutes).
	Window time.Duration
	// AuthFailures opens a draft when a scope sees at least this many
	// failed authentications in the window (default 20).
	AuthFailures int
	// ReadFactor and ReadMinSubjects open a draft when a key reads at
	// least ReadMinSubjects distinct subjects in the window and more than
	// ReadFactor times its usual number per window over Baseline (defaults
	// 10, 50 and 24 hours).
	ReadFactor      float64
	ReadMinSubjects int
	Baseline        time.Duration
	// OutsideRegister opens a draft when a key makes at least this many
	// reads for a purpose that is not in the register (default 3).
	OutsideRegister int
}

// Detector codes, the first part of a draft's detector key.
const (
	DetectorAuthBurst       = "auth_burst"
	DetectorReadRate        = "read_rate"
	DetectorOutsideRegister = "purpose_outside_register"
)

func (d *Detectors) defaults() {
	if d.Window <= 0 {
		d.Window = 10 * time.Minute
	}
	if d.AuthFailures <= 0 {
		d.AuthFailures = 20
	}
	if d.ReadFactor <= 0 {
		d.ReadFactor = 10
	}
	if d.ReadMinSubjects <= 0 {
		d.ReadMinSubjects = 50
	}
	if d.Baseline <= 0 {
		d.Baseline = 24 * time.Hour
	}
	if d.OutsideRegister <= 0 {
		d.OutsideRegister = 3
	}
}

// finding is one thing a detector saw.
type finding struct {
	key         string
	tenant      garde.TenantID
	description string
}

// auditAll reads every event matching f, page by page.
func auditAll(ctx context.Context, tx garde.Tx, tenant garde.TenantID, f garde.AuditFilter) ([]garde.AuditEvent, error) {
	f.Limit = garde.MaxAuditPage
	var out []garde.AuditEvent
	for {
		events, err := tx.Audit(ctx, tenant, f)
		if err != nil {
			return nil, err
		}
		out = append(out, events...)
		if len(events) < f.Limit {
			return out, nil
		}
		f.AfterSeq = events[len(events)-1].Seq
	}
}

// DetectBreaches runs the detectors over the audit trail and opens a draft
// breach for each new finding. It returns the drafts it opened.
func (s *Service) DetectBreaches(ctx context.Context, d Detectors) ([]*Breach, error) {
	d.defaults()
	now := s.Now()
	since := now.Add(-d.Window)
	bucket := now.Truncate(d.Window).Format("20060102T150405Z")
	var found []finding
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		scopes, err := allScopes(ctx, tx)
		if err != nil {
			return err
		}
		for _, scope := range scopes {
			fails, err := auditAll(ctx, tx, scope, garde.AuditFilter{Since: since, Until: now, Action: garde.ActionAuthFail})
			if err != nil {
				return err
			}
			if len(fails) >= d.AuthFailures {
				found = append(found, finding{
					key:         fmt.Sprintf("%s:%s:%s", DetectorAuthBurst, scope, bucket),
					tenant:      scope,
					description: fmt.Sprintf("Detector %s: %d failed authentications in %s (threshold %d). Possible credential guessing or a leaked key.", DetectorAuthBurst, len(fails), d.Window, d.AuthFailures),
				})
			}
			if scope == garde.OperatorTenant {
				continue
			}
			// The window first; the baseline only for the keys that read
			// enough in it, so that a quiet tick reads little.
			reads, err := auditAll(ctx, tx, scope, garde.AuditFilter{Since: since, Until: now, Action: garde.ActionMessageRead})
			if err != nil {
				return err
			}
			current := map[string]map[string]bool{}
			before := map[string]map[string]bool{}
			outside := map[string]int{}
			distinct := func(m map[string]map[string]bool, e garde.AuditEvent) {
				if e.Outcome != garde.OutcomeOK || e.SubjectRef == "" || e.Count == 0 {
					return
				}
				if m[e.Actor] == nil {
					m[e.Actor] = map[string]bool{}
				}
				m[e.Actor][e.SubjectRef] = true
			}
			for _, e := range reads {
				if e.Outcome == garde.OutcomeDenied && e.Reason == "purpose_not_in_register" {
					outside[e.Actor]++
				}
				distinct(current, e)
			}
			for actor, subjects := range current {
				if len(subjects) < d.ReadMinSubjects {
					continue
				}
				past, err := auditAll(ctx, tx, scope, garde.AuditFilter{Since: since.Add(-d.Baseline), Until: since, Action: garde.ActionMessageRead, Actor: actor})
				if err != nil {
					return err
				}
				for _, e := range past {
					distinct(before, e)
				}
			}
			windows := float64(d.Baseline) / float64(d.Window)
			for _, actor := range slices.Sorted(maps.Keys(current)) {
				n := len(current[actor])
				usual := float64(len(before[actor])) / windows
				if n >= d.ReadMinSubjects && float64(n) > d.ReadFactor*usual {
					found = append(found, finding{
						key:         fmt.Sprintf("%s:%s:%s:%s", DetectorReadRate, scope, actor, bucket),
						tenant:      scope,
						description: fmt.Sprintf("Detector %s: key %s read %d distinct subjects in %s, against a usual %.1f per %s over the previous %s.", DetectorReadRate, actor, n, d.Window, usual, d.Window, d.Baseline),
					})
				}
			}
			for _, actor := range slices.Sorted(maps.Keys(outside)) {
				if outside[actor] >= d.OutsideRegister {
					found = append(found, finding{
						key:         fmt.Sprintf("%s:%s:%s:%s", DetectorOutsideRegister, scope, actor, bucket),
						tenant:      scope,
						description: fmt.Sprintf("Detector %s: key %s attempted %d reads for purposes that are not in the register in %s.", DetectorOutsideRegister, actor, outside[actor], d.Window),
					})
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var opened []*Breach
	for _, f := range found {
		status, desc := BreachDraft, f.description
		nb := NewBreach{BreachChange: BreachChange{Status: &status, AwareAt: &now, Nature: []string{NatureConfidentiality}, Description: &desc}}
		if f.tenant != garde.OperatorTenant {
			nb.Tenants = []garde.TenantID{f.tenant}
		}
		b, err := s.createBreach(ctx, garde.OperatorTenant, "detector", nb, f.key)
		if errors.Is(err, garde.ErrConflict) {
			continue // already opened, here or on another node
		}
		if err != nil {
			return opened, err
		}
		opened = append(opened, b)
	}
	return opened, nil
}
