package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/smtp"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/breach"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/internal/mdpdf"
	"github.com/garde-privacy/garde/notify"
)

var breachUsage = `usage:
  garde breach list [--json]
  garde breach create --description TEXT --nature confidentiality[,integrity,availability]
                      [--aware-at RFC3339] [--tenant ID,...] [--json]
  garde breach show ID
  garde breach notice ID --kind controller|authority|subjects --tenant ID
                      [--lang fr|en] [--format md|pdf] [--out FILE]
  garde breach clock [--smtp HOST:PORT --smtp-from ADDR] [--webhook URL]
                      [--points ` + defaultPoints() + `] [--interval 1m] [--detect] [--once]

The breach commands act as the operator on --data-dir (or --db).`

// defaultPoints are breach.DefaultEscalationPoints as --points takes them:
// durations in hours, comma-separated.
func defaultPoints() string {
	s := make([]string, len(breach.DefaultEscalationPoints))
	for i, d := range breach.DefaultEscalationPoints {
		s[i] = strconv.FormatFloat(d.Hours(), 'f', -1, 64) + "h"
	}
	return strings.Join(s, ",")
}

// runBreach is the breach register on the command line.
func runBreach(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{breachUsage}
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("breach "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	switch sub {
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if pos, err := parseFlags(fs, rest, getenv); err != nil {
			return err
		} else if len(pos) > 0 {
			return usageError{breachUsage}
		}
		return withService(ctx, &d, stderr, func(svc *app.Service) error {
			bs, err := svc.Breach.Breaches(ctx, cliOperator)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(stdout, bs)
			}
			printBreaches(stdout, bs, svc.Clock().Now())
			return nil
		})
	case "create":
		desc := fs.String("description", "", "what happened (no end user's personal data)")
		nature := fs.String("nature", "", "comma-separated: confidentiality, integrity, availability")
		awareAt := fs.String("aware-at", "", "RFC 3339 time the breach became known (default now)")
		tenants := fs.String("tenant", "", "comma-separated affected tenant ids")
		asJSON := fs.Bool("json", false, "print JSON")
		if pos, err := parseFlags(fs, rest, getenv); err != nil {
			return err
		} else if len(pos) > 0 {
			return usageError{breachUsage}
		}
		return withService(ctx, &d, stderr, func(svc *app.Service) error {
			aware := svc.Clock().Now()
			if *awareAt != "" {
				t, err := time.Parse(time.RFC3339, *awareAt)
				if err != nil {
					return usageError{"--aware-at: want an RFC 3339 time such as 2026-03-01T08:00:00Z"}
				}
				aware = t
			}
			nb := breach.NewBreach{BreachChange: breach.BreachChange{AwareAt: &aware, Nature: splitList(*nature), Description: desc}}
			for _, t := range splitList(*tenants) {
				nb.Tenants = append(nb.Tenants, garde.TenantID(t))
			}
			b, err := svc.Breach.CreateBreach(ctx, cliOperator, nb)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(stdout, map[string]any{"id": b.ID, "notify_by": b.NotifyBy, "severity": b.Severity.Level})
			}
			fmt.Fprintf(stdout, "breach:    %s\nnotify by: %s (%g h from awareness)\nseverity:  %s\n", b.ID, b.NotifyBy.Format(time.RFC3339), breach.BreachDeadline.Hours(), b.Severity.Level)
			return nil
		})
	case "show":
		pos, err := parseFlags(fs, rest, getenv)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return usageError{breachUsage}
		}
		return withService(ctx, &d, stderr, func(svc *app.Service) error {
			b, err := svc.Breach.Breach(ctx, cliOperator, pos[0])
			if err != nil {
				return err
			}
			return printJSON(stdout, b)
		})
	case "notice":
		kind := fs.String("kind", breach.NoticeAuthority, "controller, authority or subjects")
		lang := fs.String("lang", "en", "fr or en")
		format := fs.String("format", "md", "md or pdf")
		tenant := fs.String("tenant", "", "the affected tenant (controller) the notice is for")
		out := fs.String("out", "", "write to this file (default standard output)")
		pos, err := parseFlags(fs, rest, getenv)
		if err != nil {
			return err
		}
		if len(pos) != 1 || (*format != "md" && *format != "pdf") {
			return usageError{breachUsage}
		}
		return withService(ctx, &d, stderr, func(svc *app.Service) error {
			n, err := svc.Breach.BreachNotice(ctx, cliOperator, pos[0], *kind, *lang, garde.TenantID(*tenant))
			if err != nil {
				return err
			}
			body := []byte(n.Markdown)
			if *format == "pdf" {
				if body, err = mdpdf.Render(n.Markdown, mdpdf.Options{Title: n.Title, Author: "garde"}); err != nil {
					return err
				}
			}
			if *out == "" {
				_, err = stdout.Write(body)
				return err
			}
			return os.WriteFile(*out, body, 0o600)
		})
	case "clock":
		smtpAddr := fs.String("smtp", "", "SMTP server host:port for emails to the DPO")
		smtpFrom := fs.String("smtp-from", "garde@localhost", "sender address")
		smtpUser := fs.String("smtp-user", "", "SMTP user (password in GARDE_SMTP_PASSWORD)")
		webhook := fs.String("webhook", "", "URL receiving signed escalations (secret in GARDE_WEBHOOK_SECRET)")
		points := fs.String("points", defaultPoints(), "escalation points after awareness")
		interval := fs.Duration("interval", time.Minute, "how often to look")
		dpoName := fs.String("operator-dpo-name", "", "the operator's DPO, for the operator's breaches")
		dpoEmail := fs.String("operator-dpo-email", "", "the operator DPO's email")
		node := fs.String("node", "", "this node's name (default the host name)")
		detect := fs.Bool("detect", false, "also run the detectors that open draft breaches")
		once := fs.Bool("once", false, "look once and exit (for cron)")
		egressAllow := fs.String("egress-allow", "", "hosts and CIDRs the SMTP server and webhook may be at besides public addresses")
		if pos, err := parseFlags(fs, rest, getenv); err != nil {
			return err
		} else if len(pos) > 0 {
			return usageError{breachUsage}
		}
		policy, err := egressPolicy(*egressAllow, getenv, nil)
		if err != nil {
			return err
		}
		c := breach.BreachClock{Interval: *interval, Node: *node, OperatorDPO: register.Party{Name: *dpoName, Email: *dpoEmail}}
		for _, p := range splitList(*points) {
			v, err := time.ParseDuration(p)
			if err != nil || v < 0 {
				return usageError{fmt.Sprintf("--points: %q is not a duration such as 24h", p)}
			}
			c.Points = append(c.Points, v)
		}
		if c.Node == "" {
			c.Node, _ = os.Hostname()
		}
		if *smtpAddr != "" {
			s := &notify.SMTP{Addr: *smtpAddr, From: *smtpFrom, Policy: policy}
			if *smtpUser != "" {
				host, _, _ := strings.Cut(*smtpAddr, ":")
				s.Auth = smtp.PlainAuth("", *smtpUser, getenv("GARDE_SMTP_PASSWORD"), host)
			}
			c.Email = breach.EmailNotifier{Mailer: s}
		}
		if *webhook != "" {
			secret := getenv("GARDE_WEBHOOK_SECRET")
			if secret == "" {
				return usageError{"--webhook needs GARDE_WEBHOOK_SECRET, the key the receiver verifies signatures with"}
			}
			c.Webhook = &breach.WebhookNotifier{URL: *webhook, Secret: []byte(secret), Policy: policy}
		}
		if c.Email == nil && c.Webhook == nil {
			return usageError{"garde breach clock needs --smtp or --webhook"}
		}
		if *detect {
			c.Detect = &breach.Detectors{}
		}
		logger := slog.New(slog.NewJSONHandler(stderr, nil))
		c.OnError = func(err error) { logger.Error("breach clock", "err", err.Error()) }
		return withService(ctx, &d, stderr, func(svc *app.Service) error {
			if !*once {
				err := svc.Breach.RunBreachClock(ctx, c)
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
			if c.Detect != nil {
				opened, err := svc.Breach.DetectBreaches(ctx, *c.Detect)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "drafts opened: %d\n", len(opened))
			}
			n, err := svc.Breach.EscalateBreaches(ctx, c)
			fmt.Fprintf(stdout, "escalations sent: %d\n", n)
			return err
		})
	}
	return usageError{breachUsage}
}

func withService(ctx context.Context, d *dataFlags, stderr io.Writer, fn func(*app.Service) error) error {
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(svc)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printBreaches(w io.Writer, bs []*breach.Breach, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tAWARE AT\tNOTIFY BY\tSEVERITY\tTENANTS\tDESCRIPTION")
	for _, b := range bs {
		notifyBy := b.NotifyBy.Format(time.RFC3339)
		if b.Late(now) && b.AuthorityNotifiedAt.IsZero() && b.Status == breach.BreachOpen {
			notifyBy += " (late)"
		}
		desc := []rune(b.Description)
		if len(desc) > 40 {
			desc = append(desc[:40], '…')
		}
		tenants := make([]string, len(b.Tenants))
		for i, t := range b.Tenants {
			tenants[i] = string(t)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, b.Status, b.AwareAt.Format(time.RFC3339), notifyBy, b.Severity.Level, strings.Join(tenants, ","), string(desc))
	}
	tw.Flush()
}
