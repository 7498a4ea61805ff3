package breach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/garde-privacy/garde"
)

// The breach register (GDPR Art. 33(5)) keeps every personal-data breach,
// notified or not: its facts, its effects and the remedial action taken.
//
// A breach belongs to the scope that declared it (its owner): a tenant, or
// the operator (OperatorTenant) for an incident of the platform that may
// span tenants. An operator breach names its affected tenants; each of
// them sees the breach, but only its own part of it (its own impact, its
// own decisions), never that other tenants are affected.
//
// A breach is a sequence of events. The owner's events carry the facts;
// an affected tenant — the controller, who notifies the authority — adds
// its own events (decision to notify, notification times, reason for a
// delay) which only it and the owner see. The current state of a breach
// for a viewer is the fold of the events it may see, in time order.

// BreachDeadline is the time the controller has to notify the supervisory
// authority, from the moment it became aware of the breach (Art. 33(1)).
const BreachDeadline = 72 * time.Hour

// Natures of a breach: which security property was lost (the three kinds
// of breach in the EDPB guidelines 9/2022).
const (
	NatureConfidentiality = "confidentiality"
	NatureIntegrity       = "integrity"
	NatureAvailability    = "availability"
)

var natures = []string{NatureConfidentiality, NatureIntegrity, NatureAvailability}

// Statuses of a breach. A draft was opened by a detector and awaits a
// human: its clock does not run until someone confirms it.
const (
	BreachDraft     = "draft"
	BreachOpen      = "open"
	BreachClosed    = "closed"
	BreachDismissed = "dismissed" // a draft that was not a breach; it stays in the register
)

var breachStatuses = []string{BreachDraft, BreachOpen, BreachClosed, BreachDismissed}

// Phases of the notification (Art. 33(4): information may be provided in
// phases).
const (
	PhaseInitial       = "initial"
	PhaseComplementary = "complementary"
)

// Decisions about notifying the authority.
const (
	DecisionNotify   = "notify"
	DecisionNoNotify = "no_notify"
)

// Limits on breach input.
const (
	maxBreachText  = 8 << 10
	maxBreachItems = 50
)

// Breach event kinds.
const (
	BreachEventCreate = "create"
	BreachEventUpdate = "update"
	BreachEventImpact = "impact"
)

var breachActions = map[string]string{
	BreachEventCreate: garde.ActionBreachCreate,
	BreachEventUpdate: garde.ActionBreachUpdate,
	BreachEventImpact: garde.ActionBreachImpact,
}

// Breach is a breach as one viewer sees it: the fold of the events it may
// see. It holds no end user's personal data.
type Breach struct {
	ID        string
	Owner     garde.TenantID
	Tenants   []garde.TenantID // for a tenant viewer: itself only
	CreatedAt time.Time
	CreatedBy string
	Detector  string // detector that opened it, "" if declared
	UpdatedAt time.Time

	Status               string
	Phase                string
	AwareAt              time.Time
	NotifyBy             time.Time
	Nature               []string
	Description          string
	Categories           []string
	SubjectCategories    []string
	SubjectsApprox       int
	RecordsApprox        int
	Consequences         string
	MeasuresTaken        []string
	MeasuresProposed     []string
	Decision             string
	DecisionReason       string
	NotifySubjects       *bool
	ControllerNotifiedAt time.Time
	AuthorityNotifiedAt  time.Time
	SubjectsNotifiedAt   time.Time
	DelayReason          string
	Assessment           Assessment
	Impact               *Impact
	Severity             Severity

	Events []garde.BreachEvent
}

// Late reports whether the authority was, or at now is still to be,
// notified after the deadline. A breach decided not to be notified, a
// draft and a dismissed one are never late.
func (b *Breach) Late(now time.Time) bool {
	if b.AwareAt.IsZero() {
		return false
	}
	if !b.AuthorityNotifiedAt.IsZero() {
		return b.AuthorityNotifiedAt.After(b.NotifyBy)
	}
	if b.Decision == DecisionNoNotify || b.Status == BreachDismissed || b.Status == BreachDraft {
		return false // no notification is due
	}
	return now.After(b.NotifyBy)
}

// authorizeBreach checks PermBreach, whose roles the role matrix in
// authz.go holds.

// NewBreach is a breach to declare.
type NewBreach struct {
	BreachChange
	// Tenants are the affected tenants of an operator breach. A tenant's
	// breach affects that tenant, and may name no other.
	Tenants []garde.TenantID
}

// CreateBreach enters a breach in the register and starts its clock.
func (s *Service) CreateBreach(ctx context.Context, p garde.Principal, nb NewBreach) (*Breach, error) {
	if _, err := garde.Enter(p, garde.OpBreachWrite); err != nil {
		return nil, err
	}
	return s.createBreach(ctx, p.Tenant, p.KeyID, nb, "")
}

func (s *Service) createBreach(ctx context.Context, owner garde.TenantID, actor string, nb NewBreach, detectorKey string) (*Breach, error) {
	now := s.Now()
	if nb.Status == nil {
		st := BreachOpen
		nb.Status = &st
	}
	if nb.Phase == nil {
		ph := PhaseInitial
		nb.Phase = &ph
	}
	if err := nb.validate(true, now); err != nil {
		return nil, err
	}
	if owner != garde.OperatorTenant {
		for i, t := range nb.Tenants {
			if t != owner {
				return nil, garde.Invalid(fmt.Sprintf("tenants[%d]", i), "a tenant's breach can only affect that tenant")
			}
		}
		nb.Tenants = nil
	}
	tenants := slices.Clone(nb.Tenants)
	slices.Sort(tenants)
	tenants = slices.Compact(tenants)
	body, err := json.Marshal(nb.BreachChange)
	if err != nil {
		return nil, err
	}
	r := garde.BreachRecord{Tenant: owner, ID: garde.NewID("brc_", now), Owner: owner, Tenants: tenants, CreatedAt: now, CreatedBy: actor, DetectorKey: detectorKey}
	ev := garde.BreachEvent{Tenant: owner, BreachID: r.ID, Seq: 1, At: now, Actor: actor, Kind: BreachEventCreate, Body: body}
	err = s.Store.Update(ctx, func(tx garde.Tx) error {
		for i, t := range tenants {
			if _, err := tx.Tenant(ctx, t); errors.Is(err, garde.ErrNotFound) {
				return garde.Invalid(fmt.Sprintf("tenants[%d]", i), "no such tenant")
			} else if err != nil {
				return err
			}
		}
		if err := tx.CreateBreach(ctx, r); err != nil {
			return err
		}
		if err := tx.AppendBreachEvent(ctx, ev); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: owner, At: now, Actor: actor, Action: garde.ActionBreachCreate, Outcome: garde.OutcomeOK, Reason: r.ID}})
	})
	if err != nil {
		return nil, err
	}
	return foldBreach(r, owner, []garde.BreachEvent{ev})
}

// Breach returns one breach as the caller may see it.
func (s *Service) Breach(ctx context.Context, p garde.Principal, id string) (*Breach, error) {
	if _, err := garde.Enter(p, garde.OpBreachRead); err != nil {
		return nil, err
	}
	var b *Breach
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		b, err = s.loadBreach(ctx, tx, p.Tenant, id)
		return err
	})
	return b, err
}

func (s *Service) loadBreach(ctx context.Context, tx garde.Tx, viewer garde.TenantID, id string) (*Breach, error) {
	r, err := tx.Breach(ctx, viewer, id)
	if err != nil {
		return nil, err
	}
	return s.foldRecord(ctx, tx, viewer, r)
}

func (s *Service) foldRecord(ctx context.Context, tx garde.Tx, viewer garde.TenantID, r garde.BreachRecord) (*Breach, error) {
	if r.Owner != viewer && r.Owner != garde.OperatorTenant {
		// Only an operator breach is shared with other scopes.
		return nil, garde.Errorf(garde.ErrNotFound, "breach %s not found", r.ID)
	}
	if r.Owner != viewer {
		owner, err := tx.Breach(ctx, r.Owner, r.ID)
		if err != nil {
			return nil, err
		}
		owner.Tenants = nil
		owner.Tenant = viewer
		r = owner
	}
	events, err := tx.BreachEvents(ctx, r.Owner, r.ID)
	if err != nil {
		return nil, err
	}
	if viewer != r.Owner {
		mine, err := tx.BreachEvents(ctx, viewer, r.ID)
		if err != nil {
			return nil, err
		}
		events = append(events, mine...)
	}
	return foldBreach(r, viewer, events)
}

// Breaches lists the breaches the caller may see, newest first: every
// breach stays in the register, notified, dismissed or not.
func (s *Service) Breaches(ctx context.Context, p garde.Principal) ([]*Breach, error) {
	if _, err := garde.Enter(p, garde.OpBreachRead); err != nil {
		return nil, err
	}
	var out []*Breach
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		out, err = s.breachesOf(ctx, tx, p.Tenant)
		return err
	})
	return out, err
}

func (s *Service) breachesOf(ctx context.Context, tx garde.Tx, viewer garde.TenantID) ([]*Breach, error) {
	rs, err := tx.Breaches(ctx, viewer)
	if err != nil {
		return nil, err
	}
	out := make([]*Breach, 0, len(rs))
	for _, r := range rs {
		b, err := s.foldRecord(ctx, tx, viewer, r)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// UpdateBreach records a change to a breach. The owner may change
// anything; an affected tenant records its own controller-side facts
// (decision, notifications, measures, consequences, phase, delay reason).
// Notifying the authority after the deadline requires the reason for the
// delay.
func (s *Service) UpdateBreach(ctx context.Context, p garde.Principal, id string, c BreachChange) (*Breach, error) {
	if _, err := garde.Enter(p, garde.OpBreachWrite); err != nil {
		return nil, err
	}
	now := s.Now()
	if err := c.validate(false, now); err != nil {
		return nil, err
	}
	return s.appendChange(ctx, p.Tenant, p.KeyID, id, BreachEventUpdate, c, now)
}

func (s *Service) appendChange(ctx context.Context, viewer garde.TenantID, actor, id, kind string, c BreachChange, now time.Time) (*Breach, error) {
	var out *Breach
	err := s.Update(ctx, func(tx garde.Tx) error {
		var err error
		out, err = s.appendChangeTx(ctx, tx, viewer, actor, id, kind, c, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendChangeTx checks a change against the breach as viewer sees it and
// records it as viewer's next event.
func (s *Service) appendChangeTx(ctx context.Context, tx garde.Tx, viewer garde.TenantID, actor, id, kind string, c BreachChange, now time.Time) (*Breach, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	b, err := s.loadBreach(ctx, tx, viewer, id)
	if err != nil {
		return nil, err
	}
	if b.Owner != viewer && !c.controllerFields() && kind != BreachEventImpact {
		return nil, garde.Errorf(garde.ErrForbidden, "an affected tenant records its own decision, notifications, measures and consequences; the facts of the breach belong to its owner")
	}
	next := *b
	next.apply(&c)
	if next.Status == BreachOpen && next.AwareAt.IsZero() {
		return nil, garde.Invalid("aware_at", "is required to open a breach")
	}
	if c.AuthorityNotifiedAt != nil && next.AuthorityNotifiedAt.After(next.NotifyBy) && strings.TrimSpace(next.DelayReason) == "" {
		return nil, garde.Invalid("delay_reason", "is required: the authority was notified more than 72 hours after awareness (Art. 33(1))")
	}
	seq := 1
	for _, e := range b.Events {
		if e.Tenant == viewer {
			seq = max(seq, e.Seq+1)
		}
	}
	ev := garde.BreachEvent{Tenant: viewer, BreachID: id, Seq: seq, At: now, Actor: actor, Kind: kind, Body: body}
	if err := tx.AppendBreachEvent(ctx, ev); err != nil {
		if errors.Is(err, garde.ErrConflict) {
			return nil, garde.ErrRetry
		}
		return nil, err
	}
	if err := tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: viewer, At: now, Actor: actor, Action: breachActions[kind], Outcome: garde.OutcomeOK, Reason: id}}); err != nil {
		return nil, err
	}
	return s.loadBreach(ctx, tx, viewer, id)
}
