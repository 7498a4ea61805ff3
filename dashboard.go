package garde

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/garde-privacy/garde/register"
)

// The dashboard's read use cases: what a DPO looks at, computed here so
// that package web only renders. None of them writes anything.

// ConsentDay is one purpose's consent events on one UTC day.
type ConsentDay struct {
	Purpose     string
	Day         time.Time // midnight UTC
	Grants      int
	Withdrawals int
}

// Rate is the share of grants among the day's consent events, in [0, 1];
// a day without events has rate 0 and Events 0.
func (d ConsentDay) Rate() float64 {
	if n := d.Events(); n > 0 {
		return float64(d.Grants) / float64(n)
	}
	return 0
}

// Events is the number of grants and withdrawals.
func (d ConsentDay) Events() int { return d.Grants + d.Withdrawals }

// maxTrendEvents bounds how many audit events one ConsentTrend reads.
const maxTrendEvents = 50 * MaxAuditPage

// ConsentTrend counts, per purpose and per UTC day in [since, until), the
// consent grants and withdrawals the register accepted, from the audit
// trail (which records every accepted consent event with its purpose and
// no personal data). Every purpose of the current register has a row for
// every day, so a chart shows gaps as gaps.
func (s *Service) ConsentTrend(ctx context.Context, p Principal, since, until time.Time) ([]ConsentDay, error) {
	if err := authorize(p, permAuditRead); err != nil {
		return nil, err
	}
	since, until = truncDay(since), truncDay(until)
	if !until.After(since) {
		return nil, Invalid("until", "must be at least a day after since")
	}
	if until.Sub(since) > 366*24*time.Hour {
		return nil, Invalid("since", "the range is at most a year")
	}
	type key struct {
		purpose string
		day     time.Time
	}
	counts := map[key]*ConsentDay{}
	purposes := map[string]bool{}
	var reg *register.Register
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		reg, _, err = s.currentRegister(ctx, tx, p.Tenant)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		for _, action := range []string{ActionConsentGrant, ActionConsentWithdraw} {
			f := AuditFilter{Since: since, Until: until, Action: action, Limit: MaxAuditPage}
			read := 0
			for read < maxTrendEvents {
				events, err := tx.Audit(ctx, p.Tenant, f)
				if err != nil {
					return err
				}
				for _, e := range events {
					if e.Outcome != OutcomeOK || e.Purpose == "" {
						continue
					}
					k := key{e.Purpose, truncDay(e.At)}
					d := counts[k]
					if d == nil {
						d = &ConsentDay{Purpose: k.purpose, Day: k.day}
						counts[k] = d
					}
					n := max(e.Count, 1)
					if action == ActionConsentGrant {
						d.Grants += n
					} else {
						d.Withdrawals += n
					}
					purposes[e.Purpose] = true
				}
				read += len(events)
				if len(events) < f.Limit {
					break
				}
				f.AfterSeq = events[len(events)-1].Seq
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reg != nil {
		for _, pu := range reg.Purposes {
			if pu.LegalBasis == "consent" {
				purposes[pu.ID] = true
			}
		}
	}
	ids := make([]string, 0, len(purposes))
	for id := range purposes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []ConsentDay
	for _, id := range ids {
		for d := since; d.Before(until); d = d.AddDate(0, 0, 1) {
			if c := counts[key{id, d}]; c != nil {
				out = append(out, *c)
			} else {
				out = append(out, ConsentDay{Purpose: id, Day: d})
			}
		}
	}
	return out, nil
}

func truncDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// LedgerHealth is the state of a tenant's consent and audit log as the
// dashboard shows it.
type LedgerHealth struct {
	Size int64
	// Checkpoint is the latest signed checkpoint; zero when none.
	Checkpoint SignedCheckpoint
	// Verified is whether the whole log and its checkpoints verified
	// against the tenant's verifier key just now.
	Verified bool
	// Problem says why verification failed (no personal data: sizes and
	// indexes only).
	Problem string
	Report  LedgerReport
	At      time.Time
}

// LedgerHealth verifies the caller's log, as garde verify would, and
// returns the latest checkpoint with the result. It reads the whole log:
// fine for a page a DPO opens, not for a probe polled every second.
func (s *Service) LedgerHealth(ctx context.Context, p Principal) (LedgerHealth, error) {
	if err := authorize(p, permAuditRead); err != nil {
		return LedgerHealth{}, err
	}
	h := LedgerHealth{At: s.clock.Now()}
	err := s.store.View(ctx, func(tx Tx) error {
		var err error
		if h.Size, err = tx.LedgerHead(ctx, p.Tenant); err != nil {
			return err
		}
		h.Checkpoint, err = tx.LatestCheckpoint(ctx, p.Tenant)
		if errors.Is(err, ErrNotFound) {
			err = nil
		}
		return err
	})
	if err != nil {
		return LedgerHealth{}, err
	}
	// The server checking itself: every epoch's key as it holds them, and
	// the checkpoint store, so that a log gone back shows here too.
	epochs, err := s.LedgerEpochs(ctx, p.Tenant)
	if err != nil {
		return LedgerHealth{}, err
	}
	var keys []string
	for _, e := range epochs {
		keys = append(keys, e.Verifier)
	}
	rep, err := verifyLedger(ctx, s.store, p.Tenant, keys, len(keys) == 0, s.checkpointStore())
	switch {
	case err == nil:
		h.Verified, h.Report = true, rep
	case errors.Is(err, ErrLedger):
		h.Problem, h.Report = err.Error(), rep
	default:
		return LedgerHealth{}, err
	}
	return h, nil
}

// RecentPurges returns the latest retention purges of the caller's
// tenant, newest first, at most limit.
func (s *Service) RecentPurges(ctx context.Context, p Principal, since time.Time, limit int) ([]AuditEvent, error) {
	events, err := s.Audit(ctx, p, AuditFilter{Since: since, Action: ActionRetentionPurge})
	if err != nil {
		return nil, err
	}
	slices.Reverse(events)
	if len(events) > limit {
		events = events[:limit]
	}
	return events, nil
}

// Art30Record is the record of processing activities of GDPR Art. 30,
// generated from one version of a tenant's register, never typed twice:
// the controller's record (Art. 30(1), one row per purpose) and the
// operator's record as the tenant's processor (Art. 30(2)).
type Art30Record struct {
	Version    int
	AppliedAt  time.Time
	Controller register.Party
	DPO        register.Party
	Region     string
	Activities []Art30Activity
	// Processor is the operator's record for this tenant.
	Processor Art30Processor
}

// Art30Activity is one line of the controller's record: the CNIL's
// "fiche de registre" of one processing activity.
type Art30Activity struct {
	Ref               string // purpose id
	Name              string // description, or the id
	CreatedAt         time.Time
	UpdatedAt         time.Time
	Purpose           string
	LegalBasis        string
	SubjectCategories []string
	DataCategories    []string
	Sensitive         []string // categories of Art. 9 or 10 among DataCategories
	Retention         string
	Recipients        []string // "name (country, role)"
	Transfers         []string // "country: safeguard (reference)"
	Security          []string
}

// Art30Processor is the Art. 30(2) record the operator keeps as the
// tenant's processor.
type Art30Processor struct {
	Processor  register.Party // filled by the caller that knows the operator
	Controller register.Party
	DPO        register.Party
	// Categories are the categories of processing carried out on behalf of
	// the controller: one per purpose, "id: description".
	Categories    []string
	SubProcessors []string
	Transfers     []string
	Security      []string
}

// Art30 generates the Art. 30 record from version v of the caller's
// register (0: the current one). The creation date of an activity is when
// its purpose first appeared; its update date when its line last changed.
func (s *Service) Art30(ctx context.Context, p Principal, v int) (Art30Record, error) {
	rv, err := s.Register(ctx, p, v)
	if err != nil {
		return Art30Record{}, err
	}
	reg, err := rv.Parse()
	if err != nil {
		return Art30Record{}, fmt.Errorf("art. 30 record: %w", err)
	}
	// Dates per purpose, from the earlier versions.
	created, updated := map[string]time.Time{}, map[string]time.Time{}
	prev := map[string]string{}
	for i := 1; i <= rv.Version; i++ {
		old := rv
		if i != rv.Version {
			if old, err = s.Register(ctx, p, i); err != nil {
				if errors.Is(err, ErrNotFound) {
					continue
				}
				return Art30Record{}, err
			}
		}
		or, err := old.Parse()
		if err != nil {
			continue
		}
		for _, pu := range or.Purposes {
			line := fmt.Sprintf("%#v", pu)
			if _, ok := created[pu.ID]; !ok {
				created[pu.ID] = old.AppliedAt
			}
			if prev[pu.ID] != line {
				updated[pu.ID] = old.AppliedAt
				prev[pu.ID] = line
			}
		}
	}
	out := Art30Record{Version: rv.Version, AppliedAt: rv.AppliedAt, Controller: reg.Controller, DPO: reg.DPO, Region: reg.Region}
	out.Processor = Art30Processor{Controller: reg.Controller, DPO: reg.DPO, Security: reg.SecurityMeasures}
	subs := map[string]bool{}
	for _, pu := range reg.Purposes {
		a := Art30Activity{
			Ref: pu.ID, Name: orDefault(pu.Description, pu.ID), CreatedAt: created[pu.ID], UpdatedAt: updated[pu.ID],
			Purpose: orDefault(pu.Description, pu.ID), LegalBasis: pu.LegalBasis,
			SubjectCategories: pu.DataSubjects, DataCategories: pu.Categories,
			Retention: pu.Retention.String(), Security: reg.SecurityMeasures,
		}
		for _, c := range pu.Categories {
			if isSensitiveCategory(c) {
				a.Sensitive = append(a.Sensitive, c)
			}
		}
		for _, r := range pu.Recipients {
			a.Recipients = append(a.Recipients, fmt.Sprintf("%s (%s, %s)", r.Name, r.Country, r.Role))
			if r.Role == "processor" && !subs[r.Name] {
				subs[r.Name] = true
				out.Processor.SubProcessors = append(out.Processor.SubProcessors, fmt.Sprintf("%s (%s)", r.Name, r.Country))
			}
		}
		for _, t := range append(slices.Clone(reg.Transfers), pu.Transfers...) {
			a.Transfers = append(a.Transfers, transferText(t))
		}
		out.Activities = append(out.Activities, a)
		out.Processor.Categories = append(out.Processor.Categories, pu.ID+": "+orDefault(pu.Description, pu.LegalBasis))
	}
	for _, t := range reg.Transfers {
		out.Processor.Transfers = append(out.Processor.Transfers, transferText(t))
	}
	return out, nil
}

func transferText(t register.Transfer) string {
	s := t.Country + ": " + t.Safeguard
	if t.Recipient != "" {
		s = t.Recipient + ", " + s
	}
	if t.Reference != "" {
		s += " (" + t.Reference + ")"
	}
	return s
}

// isSensitiveCategory reports a special category of Art. 9 or data of
// Art. 10, by fideslang name.
func isSensitiveCategory(c string) bool {
	for _, p := range []string{"user.health", "user.biometric", "user.genetic", "user.criminal", "user.political", "user.religious", "user.sexual", "user.race", "user.ethnic", "user.union"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

// RegisterDiff is a line diff between two versions of a register's
// canonical text (its applied source), for the DPO to read what changed.
type RegisterDiff struct {
	From, To int
	Lines    []DiffLine
}

// DiffLine is one line of a diff: Op is ' ', '+' or '-'.
type DiffLine struct {
	Op   byte
	Text string
}

// DiffRegister compares versions from and to of the caller's register.
func (s *Service) DiffRegister(ctx context.Context, p Principal, from, to int) (RegisterDiff, error) {
	a, err := s.Register(ctx, p, from)
	if err != nil {
		return RegisterDiff{}, err
	}
	b, err := s.Register(ctx, p, to)
	if err != nil {
		return RegisterDiff{}, err
	}
	return RegisterDiff{From: a.Version, To: b.Version, Lines: diffLines(splitLines(string(a.Source)), splitLines(string(b.Source)))}, nil
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffLines is a longest-common-subsequence diff: registers are small
// (MaxRegisterSize bounds them; a line cap keeps the table small too).
func diffLines(a, b []string) []DiffLine {
	const maxLines = 3000
	if len(a) > maxLines || len(b) > maxLines {
		var out []DiffLine
		for _, l := range a {
			out = append(out, DiffLine{'-', l})
		}
		for _, l := range b {
			out = append(out, DiffLine{'+', l})
		}
		return out
	}
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []DiffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, DiffLine{' ', a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, DiffLine{'-', a[i]})
			i++
		default:
			out = append(out, DiffLine{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, DiffLine{'-', a[i]})
	}
	for ; j < m; j++ {
		out = append(out, DiffLine{'+', b[j]})
	}
	return out
}
