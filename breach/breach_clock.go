package breach

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"
)

// The breach clock: 72 hours from awareness, with escalations to the DPO
// at configurable points. Escalations are coordinated through the
// database: a node claims one (a row with a unique key and a lease)
// before sending it and marks it sent afterwards, so that however many
// nodes run the clock, each escalation goes out once. A node that dies
// between sending and marking leaves a lease that expires, and the
// escalation is sent again: at least once on a crash, once otherwise.

// DefaultEscalationPoints are when the DPO is reminded, from awareness: at
// once, then at 24, 48 and 66 hours (6 hours before the deadline).
var DefaultEscalationPoints = []time.Duration{0, 24 * time.Hour, 48 * time.Hour, 66 * time.Hour}

// Escalation channels.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Escalation is one reminder to a DPO. It carries no personal data but
// the DPO's own contact from the register.
type Escalation struct {
	BreachID string
	Tenant   garde.TenantID // whose DPO is addressed
	Channel  string
	Point    time.Duration
	At       time.Time // when it is sent
	AwareAt  time.Time
	NotifyBy time.Time
	Nature   []string
	Phase    string
	DPO      register.Party
}

// Left is the time left before the deadline (negative once late).
func (e Escalation) Left() time.Duration { return e.NotifyBy.Sub(e.At) }

// Subject is the escalation's one-line summary (for an email subject).
func (e Escalation) Subject() string {
	left := e.Left()
	switch {
	case left <= 0:
		return fmt.Sprintf("[garde] Breach %s: the 72-hour deadline has passed / le délai de 72 heures est dépassé", e.BreachID)
	case e.Point == 0:
		return fmt.Sprintf("[garde] New personal data breach %s: notify by %s / nouvelle violation de données", e.BreachID, e.NotifyBy.Format(time.RFC3339))
	}
	return fmt.Sprintf("[garde] Breach %s: %s left to notify the authority / %s restantes", e.BreachID, hours(left), hours(left))
}

// Body is the escalation's text, in English and French.
func (e Escalation) Body() string {
	var b strings.Builder
	name := e.DPO.Name
	if name == "" {
		name = "DPO"
	}
	fmt.Fprintf(&b, "To %s,\n\n", name)
	fmt.Fprintf(&b, "Breach %s (%s), phase %s.\n", e.BreachID, strings.Join(e.Nature, ", "), e.Phase)
	fmt.Fprintf(&b, "Aware at:  %s\nNotify by: %s (Art. 33(1) GDPR: 72 hours from awareness)\n", e.AwareAt.Format(time.RFC3339), e.NotifyBy.Format(time.RFC3339))
	if left := e.Left(); left > 0 {
		fmt.Fprintf(&b, "Time left: %s\n", hours(left))
	} else {
		fmt.Fprintf(&b, "The deadline has passed: the notice must give the reasons for the delay.\n")
	}
	b.WriteString("\nReview the breach, record the decision to notify or not with its reason, and download the notices:\n")
	fmt.Fprintf(&b, "  GET /v1/breaches/%s\n  GET /v1/breaches/%s/notices/authority?lang=fr&format=pdf\n", e.BreachID, e.BreachID)
	b.WriteString("\n---\n\n")
	fmt.Fprintf(&b, "Violation %s (%s), phase %s.\n", e.BreachID, strings.Join(e.Nature, ", "), e.Phase)
	fmt.Fprintf(&b, "Connaissance : %s\nNotifier avant : %s (art. 33.1 RGPD : 72 heures)\n", e.AwareAt.Format(time.RFC3339), e.NotifyBy.Format(time.RFC3339))
	if left := e.Left(); left > 0 {
		fmt.Fprintf(&b, "Temps restant : %s\n", hours(left))
	} else {
		b.WriteString("Le délai est dépassé : la notification doit indiquer les motifs du retard.\n")
	}
	return b.String()
}

func hours(d time.Duration) string {
	h := d.Round(time.Minute).Hours()
	if h == float64(int(h)) {
		return fmt.Sprintf("%d h", int(h))
	}
	return fmt.Sprintf("%.1f h", h)
}

// Notifier delivers an escalation over one channel (email, webhook). It
// lives in an adapter (package notify); the clock only decides what is
// due and to whom.
type Notifier interface {
	Notify(ctx context.Context, e Escalation) error
}

// BreachClock configures the escalator.
type BreachClock struct {
	// Points are the escalation times after awareness (default
	// DefaultEscalationPoints).
	Points []time.Duration
	// Email sends to the DPO's address from the register; Webhook posts
	// to the deployment's endpoint. Either may be nil.
	Email, Webhook Notifier
	// OperatorDPO is the operator's own DPO, addressed for the operator's
	// breaches (the operator has no register in garde).
	OperatorDPO register.Party
	// Node names this node in the escalation rows.
	Node string
	// Lease bounds how long a claimed, unsent escalation stays claimed
	// (default 5 minutes).
	Lease time.Duration
	// Interval is how often RunBreachClock looks (default 1 minute).
	Interval time.Duration
	// Detect runs the detectors on each tick when set.
	Detect *Detectors
	// OnError receives errors of a tick, which RunBreachClock otherwise
	// survives (nil: ignored). Errors never carry personal data.
	OnError func(error)
}

func (c *BreachClock) defaults() {
	if c.Points == nil {
		c.Points = DefaultEscalationPoints
	}
	if c.Lease <= 0 {
		c.Lease = 5 * time.Minute
	}
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Node == "" {
		c.Node = "node"
	}
}

// RunBreachClock escalates (and detects, if configured) every Interval
// until ctx ends. Several nodes may run it on one database.
func (s *Service) RunBreachClock(ctx context.Context, c BreachClock) error {
	c.defaults()
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		if c.Detect != nil {
			if _, err := s.DetectBreaches(ctx, *c.Detect); err != nil && c.OnError != nil {
				c.OnError(err)
			}
		}
		if _, err := s.EscalateBreaches(ctx, c); err != nil && c.OnError != nil {
			c.OnError(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// due is one escalation to send.
type due struct {
	tenant garde.TenantID
	esc    Escalation
}

// EscalateBreaches sends the escalations due now, once each, and returns
// how many this node sent. For each open breach and each addressed DPO
// only the latest due point is sent: a node that was down for a day sends
// one reminder, not every one it missed. Escalation to a DPO stops once
// its controller decided not to notify, notified the authority, or the
// breach is closed.
func (s *Service) EscalateBreaches(ctx context.Context, c BreachClock) (int, error) {
	c.defaults()
	points := slices.Clone(c.Points)
	slices.Sort(points)
	now := s.Now()
	var todo []due
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		scopes, err := allScopes(ctx, tx)
		if err != nil {
			return err
		}
		for _, scope := range scopes {
			rs, err := tx.Breaches(ctx, scope)
			if err != nil {
				return err
			}
			for _, r := range rs {
				if r.Owner != scope {
					continue
				}
				b, err := s.foldRecord(ctx, tx, scope, r)
				if err != nil {
					return err
				}
				if b.Status != BreachOpen || b.AwareAt.IsZero() {
					continue
				}
				point, ok := latestPoint(points, now.Sub(b.AwareAt))
				if !ok {
					continue
				}
				// The owner's DPO, then each affected controller's.
				targets := []*Breach{b}
				for _, t := range b.Tenants {
					if t == scope {
						continue
					}
					tb, err := s.foldRecord(ctx, tx, t, garde.BreachRecord{Tenant: t, ID: b.ID, Owner: b.Owner})
					if err != nil {
						return err
					}
					targets = append(targets, tb)
				}
				for i, tb := range targets {
					tenant := scope
					if i > 0 {
						tenant = tb.Tenants[0]
					}
					if escalationDone(tb, tenant) {
						continue
					}
					dpo := c.OperatorDPO
					if tenant != garde.OperatorTenant {
						reg, _, err := s.CurrentRegister(ctx, tx, tenant)
						if err != nil && !errors.Is(err, garde.ErrForbidden) {
							return err
						}
						dpo = register.Party{}
						if reg != nil {
							dpo = reg.DPO
						}
					}
					e := Escalation{BreachID: b.ID, Tenant: tenant, Point: point, At: now, AwareAt: b.AwareAt, NotifyBy: b.NotifyBy, Nature: b.Nature, Phase: b.Phase, DPO: dpo}
					if c.Email != nil && dpo.Email != "" {
						e.Channel = ChannelEmail
						todo = append(todo, due{tenant, e})
					}
					if c.Webhook != nil {
						e.Channel = ChannelWebhook
						todo = append(todo, due{tenant, e})
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	sent := 0
	var errs []error
	for _, d := range todo {
		k := garde.EscalationKey{BreachID: d.esc.BreachID, Point: d.esc.Point, Channel: d.esc.Channel}
		var claimed bool
		err := s.Store.Update(ctx, func(tx garde.Tx) error {
			var err error
			claimed, err = tx.ClaimEscalation(ctx, d.tenant, k, c.Node, now, now.Add(c.Lease))
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("claim escalation %s/%s: %w", k.BreachID, k.Channel, err))
			continue
		}
		if !claimed {
			continue
		}
		n := c.Email
		if d.esc.Channel == ChannelWebhook {
			n = c.Webhook
		}
		if err := n.Notify(ctx, d.esc); err != nil {
			// The lease expires and a later tick (on any node) retries.
			errs = append(errs, fmt.Errorf("escalate breach %s by %s: %w", k.BreachID, k.Channel, err))
			continue
		}
		err = s.Store.Update(context.WithoutCancel(ctx), func(tx garde.Tx) error {
			return tx.CompleteEscalation(ctx, d.tenant, k, s.Now())
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("complete escalation %s/%s: %w", k.BreachID, k.Channel, err))
			continue
		}
		sent++
	}
	return sent, errors.Join(errs...)
}

// latestPoint returns the latest point at or before elapsed.
func latestPoint(points []time.Duration, elapsed time.Duration) (time.Duration, bool) {
	found := false
	var p time.Duration
	for _, q := range points {
		if q <= elapsed {
			p, found = q, true
		}
	}
	return p, found
}

// escalationDone reports whether the DPO of tenant needs no more
// reminders on b: the breach is no longer open, or its controller decided
// or notified — or, for the operator as processor, it told the controllers.
func escalationDone(b *Breach, tenant garde.TenantID) bool {
	if b.Status != BreachOpen || b.Decision == DecisionNoNotify || !b.AuthorityNotifiedAt.IsZero() {
		return true
	}
	return tenant == garde.OperatorTenant && b.Owner == garde.OperatorTenant && len(b.Tenants) > 0 && !b.ControllerNotifiedAt.IsZero()
}

// BreachEscalations lists the escalations sent or claimed for a breach
// that the caller may see: the owner sees all of them, an affected tenant
// those addressed to its DPO.
func (s *Service) BreachEscalations(ctx context.Context, p garde.Principal, id string) ([]garde.EscalationRecord, error) {
	if _, err := garde.Enter(p, garde.OpBreachRead); err != nil {
		return nil, err
	}
	var out []garde.EscalationRecord
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		b, err := s.loadBreach(ctx, tx, p.Tenant, id)
		if err != nil {
			return err
		}
		scopes := []garde.TenantID{p.Tenant}
		if b.Owner == p.Tenant {
			for _, t := range b.Tenants {
				if t != p.Tenant {
					scopes = append(scopes, t)
				}
			}
		}
		for _, t := range scopes {
			rs, err := tx.Escalations(ctx, t, id)
			if err != nil {
				return err
			}
			out = append(out, rs...)
		}
		return nil
	})
	return out, err
}

// allScopes lists the operator's scope and every tenant: the breach
// register of each is looked at by the clock and the detectors.
func allScopes(ctx context.Context, tx garde.Tx) ([]garde.TenantID, error) {
	ts, err := tx.Tenants(ctx)
	if err != nil {
		return nil, err
	}
	scopes := []garde.TenantID{garde.OperatorTenant}
	for _, t := range ts {
		scopes = append(scopes, t.ID)
	}
	return scopes, nil
}
