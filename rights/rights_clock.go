package rights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/notify"
)

// The Art. 12(3) clock: a request is answered "within one month of
// receipt", extendable "by two further months where necessary", the
// extension announced with its reasons within the first month.
//
// A month is a calendar month (Regulation 1182/71, Art. 3(2)(c)): the
// period ends on the day of the next month with the same number as the
// day of receipt, or on that month's last day when it has no such day —
// received 31 January, due 28 February (29 in a leap year). The deadline
// is the end of that day, in UTC.

// DueDate is the deadline of a request received at received, extended by
// extraMonths (0, 1 or 2).
func DueDate(received time.Time, extraMonths int) time.Time {
	return endOfDay(addMonths(received.UTC(), 1+extraMonths))
}

// addMonths moves t by n calendar months, clamping the day to the end of
// the target month (time.AddDate would roll 31 January into March).
func addMonths(t time.Time, n int) time.Time {
	y, m, d := t.Date()
	first := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last), 0, 0, 0, 0, time.UTC)
}

func endOfDay(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 23, 59, 59, int(time.Second-time.Microsecond), time.UTC)
}

// ExtendedDueDate is the deadline after an extension of months (1 or 2)
// announced at now. It fails when the first month has already ended: an
// extension must be announced within it.
func ExtendedDueDate(received time.Time, months int, now time.Time) (time.Time, error) {
	if months < 1 || months > 2 {
		return time.Time{}, garde.Invalid("months", "must be 1 or 2 (Art. 12(3): up to two further months)")
	}
	if now.After(DueDate(received, 0)) {
		return time.Time{}, garde.Errorf(garde.ErrConflict, "the first month after receipt has ended: an extension had to be announced within it (Art. 12(3))")
	}
	return DueDate(received, months), nil
}

// Alarm kinds.
const (
	AlarmDueSoon = "due_soon"
	AlarmOverdue = "overdue"
)

// RequestAlarm tells the tenant's DPO (through the deployment's webhook)
// that a request is due soon or overdue. It names the request, never the
// subject.
type RequestAlarm struct {
	Kind      string
	Tenant    garde.TenantID
	RequestID string
	Type      string
	Status    string
	DueAt     time.Time
	At        time.Time
}

// WebhookSender posts webhooks; it fails unless the receiver answers 2xx.
type WebhookSender interface {
	Send(ctx context.Context, w notify.Hook) error
}

// DueSoonWindow is how close to its deadline a request is "due soon": the
// due-soon alarm goes then, and the dashboard highlights the request from
// then on (the same week, so that what the DPO sees and what the alarm
// says agree).
const DueSoonWindow = 7 * 24 * time.Hour

// RightsJobs configures the background work of rights: deadline alarms,
// deliveries (erasure notices to recipients, OpenDSR callbacks), the
// retention purger and the completion of interrupted requests. Several
// nodes may run it on one database: alarms are claimed row by row, and
// deliveries and purges run under a lease, one node at a time.
type RightsJobs struct {
	Node     string
	Interval time.Duration // default 1 minute
	Lease    time.Duration // default 5 minutes
	// DueSoon is how long before the deadline the due-soon alarm goes
	// (default DueSoonWindow).
	DueSoon time.Duration
	// AlarmURL and AlarmSecret are the deployment's alarm webhook (none
	// when empty).
	AlarmURL    string
	AlarmSecret []byte
	// Sender posts webhooks (alarms and deliveries).
	Sender WebhookSender
	// PurgeBatch is how many expired messages one purge transaction
	// deletes (default 1000).
	PurgeBatch int
	Logger     *slog.Logger
	OnError    func(error)
}

func (c *RightsJobs) defaults() {
	if c.Interval <= 0 {
		c.Interval = time.Minute
	}
	if c.Lease <= 0 {
		c.Lease = 5 * time.Minute
	}
	if c.DueSoon <= 0 {
		c.DueSoon = DueSoonWindow
	}
	if c.PurgeBatch <= 0 {
		c.PurgeBatch = 1000
	}
	if c.Node == "" {
		c.Node = "node"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// RunRightsJobs runs RightsTick every Interval until ctx ends.
func (s *Service) RunRightsJobs(ctx context.Context, c RightsJobs) error {
	c.defaults()
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		if err := s.RightsTick(ctx, c); err != nil && c.OnError != nil {
			c.OnError(err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// RightsTick does one round of the background work.
func (s *Service) RightsTick(ctx context.Context, c RightsJobs) error {
	c.defaults()
	var errs []error
	if _, err := s.SendRequestAlarms(ctx, c); err != nil {
		errs = append(errs, fmt.Errorf("request alarms: %w", err))
	}
	if ok, err := s.lease(ctx, "rights.work", c); err != nil {
		errs = append(errs, err)
	} else if ok {
		if err := s.resumeRequests(ctx); err != nil {
			errs = append(errs, fmt.Errorf("resume requests: %w", err))
		}
		if _, err := s.SendDeliveries(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("deliveries: %w", err))
		}
		if _, err := s.retention.PurgeExpired(ctx, c.PurgeBatch); err != nil {
			errs = append(errs, fmt.Errorf("retention: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) lease(ctx context.Context, name string, c RightsJobs) (bool, error) {
	now := s.Now()
	var ok bool
	err := s.Store.Update(ctx, func(tx garde.Tx) error {
		var err error
		ok, err = tx.AcquireLease(ctx, name, c.Node, now, now.Add(c.Lease))
		return err
	})
	return ok, err
}

// SendRequestAlarms sends, once across every node, a due-soon alarm for
// each open request within DueSoon of its deadline and an overdue alarm for
// each open request past it (only the overdue one when a node was down for
// both). It returns how many this node sent.
func (s *Service) SendRequestAlarms(ctx context.Context, c RightsJobs) (int, error) {
	c.defaults()
	now := s.Now()
	sent := 0
	err := s.ForEachTenant(ctx, func(tenant garde.TenantID) error {
		after := ""
		for {
			var rs []garde.RightsRequest
			if err := s.Store.View(ctx, func(tx garde.Tx) error {
				var err error
				rs, err = tx.Requests(ctx, tenant, garde.RequestFilter{OpenOnly: true, DueBefore: now.Add(c.DueSoon), After: after, Limit: garde.MaxRequestPage})
				return err
			}); err != nil {
				return err
			}
			for _, r := range rs {
				after = r.ID
				kind := AlarmDueSoon
				if now.After(r.DueAt) {
					kind = AlarmOverdue
				}
				ok, err := s.sendAlarm(ctx, c, RequestAlarm{Kind: kind, Tenant: tenant, RequestID: r.ID, Type: r.Type, Status: r.Status, DueAt: r.DueAt, At: now})
				if err != nil {
					return err
				}
				if ok {
					sent++
				}
			}
			if len(rs) < garde.MaxRequestPage {
				return nil
			}
		}
	})
	return sent, err
}

func (s *Service) sendAlarm(ctx context.Context, c RightsJobs, a RequestAlarm) (bool, error) {
	// One alarm of each kind per deadline: an extended request is warned
	// again before its new deadline.
	key := a.Kind + "/" + a.DueAt.Format(time.DateOnly)
	var claimed bool
	err := s.Store.Update(ctx, func(tx garde.Tx) error {
		var err error
		claimed, err = tx.ClaimRequestAlarm(ctx, a.Tenant, a.RequestID, key, c.Node, a.At, a.At.Add(c.Lease))
		return err
	})
	if err != nil || !claimed {
		return false, err
	}
	if c.AlarmURL != "" && c.Sender != nil {
		body, err := json.Marshal(map[string]any{"type": "request." + a.Kind, "tenant": a.Tenant, "request": a.RequestID,
			"request_type": a.Type, "status": a.Status, "due_at": a.DueAt, "at": a.At})
		if err != nil {
			return false, err
		}
		if err := c.Sender.Send(ctx, notify.Hook{URL: c.AlarmURL, Body: body, Secret: c.AlarmSecret, ID: a.RequestID + "." + key}); err != nil {
			// The lease expires and a later tick, on any node, retries.
			return false, fmt.Errorf("alarm %s of request %s: %w", a.Kind, a.RequestID, err)
		}
	}
	c.Logger.Warn("data-subject request "+a.Kind, "tenant", string(a.Tenant), "request", a.RequestID, "type", a.Type, "due_at", a.DueAt)
	if a.Kind == AlarmOverdue {
		garde.RightsMetrics.AlarmsOverdue.Add(1)
	} else {
		garde.RightsMetrics.AlarmsDueSoon.Add(1)
	}
	err = s.Store.Update(ctx, func(tx garde.Tx) error {
		if err := tx.CompleteRequestAlarm(ctx, a.Tenant, a.RequestID, key, s.Now()); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: a.Tenant, At: a.At, Actor: "rights", Action: garde.ActionRequestAlarm, Outcome: garde.OutcomeOK, Reason: a.Kind}})
	})
	return err == nil, err
}

// resumeRequests carries on verified requests that a crash or a released
// hold left unfinished.
func (s *Service) resumeRequests(ctx context.Context) error {
	return s.ForEachTenant(ctx, func(tenant garde.TenantID) error {
		var todo []garde.RightsRequest
		if err := s.Store.View(ctx, func(tx garde.Tx) error {
			for _, st := range garde.OpenStatuses() {
				if st == garde.StatusReceived {
					continue // not verified yet: it waits for its subject
				}
				rs, err := tx.Requests(ctx, tenant, garde.RequestFilter{Status: st, Limit: garde.MaxRequestPage})
				if err != nil {
					return err
				}
				todo = append(todo, rs...)
			}
			return nil
		}); err != nil {
			return err
		}
		var errs []error
		for _, r := range todo {
			if r.Status == garde.StatusInProgress && r.Type != garde.RequestErasure {
				continue // waits for a person
			}
			if _, err := s.ProcessRequest(ctx, tenant, r.ID); err != nil {
				errs = append(errs, fmt.Errorf("request %s: %w", r.ID, err))
			}
		}
		return errors.Join(errs...)
	})
}
