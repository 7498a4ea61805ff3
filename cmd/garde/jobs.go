package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/smtp"
	"os"
	"strings"
	"sync"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/breach"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/egress"
	"github.com/garde-privacy/garde/notify"
)

// startBackground runs garde's background work beside the API: the rights
// jobs (deadline alarms, webhook deliveries, retention purges) and the
// breach clock (escalations to the DPOs, detectors that open draft
// breaches). Each job claims its work through the database, so every node
// may run them and each piece of work is done once. The returned function
// waits for them to stop once ctx is done, so that the database is closed
// only after them.
//
// The breach clock's channels come from the environment, since they carry
// secrets: GARDE_SMTP (host:port), GARDE_SMTP_FROM, GARDE_SMTP_USER and
// GARDE_SMTP_PASSWORD for email to each tenant's DPO; GARDE_ALERT_WEBHOOK
// and GARDE_WEBHOOK_SECRET for signed webhooks; GARDE_OPERATOR_DPO_EMAIL
// for the operator's own breaches. Every channel, and every rights
// webhook, connects under the egress policy.
func startBackground(ctx context.Context, svc *app.Service, logger *slog.Logger, getenv func(string) string, policy *egress.Policy) (wait func()) {
	var wg sync.WaitGroup
	wg.Go(func() { runRightsJobs(ctx, svc, logger, getenv, policy) })
	clock, err := breachClockFromEnv(getenv, policy)
	if err != nil {
		logger.Error("breach clock not started", "err", err.Error())
	} else {
		if clock.Email == nil && clock.Webhook == nil {
			logger.Warn("breach escalations have no channel: set GARDE_SMTP or GARDE_ALERT_WEBHOOK (detectors still run)")
		}
		clock.OnError = func(err error) { logger.Error("breach clock", "err", err.Error()) }
		wg.Go(func() {
			if err := svc.Breach.RunBreachClock(ctx, clock); err != nil && !errors.Is(err, context.Canceled) {
				logger.Error("breach clock stopped", "err", err.Error())
			}
		})
	}
	return wg.Wait
}

func breachClockFromEnv(getenv func(string) string, policy *egress.Policy) (breach.BreachClock, error) {
	host, _ := os.Hostname()
	c := breach.BreachClock{
		Node:        fmt.Sprintf("%s/%d", host, os.Getpid()),
		OperatorDPO: register.Party{Email: getenv("GARDE_OPERATOR_DPO_EMAIL")},
		Detect:      &breach.Detectors{},
	}
	if addr := getenv("GARDE_SMTP"); addr != "" {
		from := getenv("GARDE_SMTP_FROM")
		if from == "" {
			from = "garde@localhost"
		}
		s := &notify.SMTP{Addr: addr, From: from, Policy: policy}
		if user := getenv("GARDE_SMTP_USER"); user != "" {
			h, _, _ := strings.Cut(addr, ":")
			s.Auth = smtp.PlainAuth("", user, getenv("GARDE_SMTP_PASSWORD"), h)
		}
		c.Email = breach.EmailNotifier{Mailer: s}
	}
	if url := getenv("GARDE_ALERT_WEBHOOK"); url != "" {
		secret := getenv("GARDE_WEBHOOK_SECRET")
		if secret == "" {
			return c, errors.New("GARDE_ALERT_WEBHOOK needs GARDE_WEBHOOK_SECRET, the key receivers verify signatures with")
		}
		c.Webhook = &breach.WebhookNotifier{URL: url, Secret: []byte(secret), Policy: policy}
	}
	return c, nil
}
