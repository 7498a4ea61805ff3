package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde/breach"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/internal/errkind"
	"github.com/garde-privacy/garde/web/internal/notice"
)

// requestRow is a request as the queue shows it: no subject identifier,
// only the opaque id and the audit reference.
type requestRow struct {
	garde.RightsRequest
	Overdue, DueSoon bool
	Left             time.Duration
}

func requestRows(rs []garde.RightsRequest, now time.Time) []requestRow {
	out := make([]requestRow, 0, len(rs))
	for _, r := range rs {
		row := requestRow{RightsRequest: r, Left: r.DueAt.Sub(now)}
		if r.Open() {
			row.Overdue = now.After(r.DueAt)
			row.DueSoon = !row.Overdue && row.Left <= rights.DueSoonWindow
		}
		out = append(out, row)
	}
	slices.SortStableFunc(out, func(a, b requestRow) int { return a.DueAt.Compare(b.DueAt) })
	return out
}

// breachRow is a breach with its clock.
type breachRow struct {
	*breach.Breach
	Running bool // the authority is still to be told, or a decision made
	Late    bool
	Left    time.Duration
}

func breachRows(bs []*breach.Breach, now time.Time) []breachRow {
	out := make([]breachRow, 0, len(bs))
	for _, b := range bs {
		row := breachRow{Breach: b, Late: b.Late(now), Left: b.NotifyBy.Sub(now)}
		row.Running = b.Status == breach.BreachOpen && b.AuthorityNotifiedAt.IsZero() &&
			b.Decision != breach.DecisionNoNotify && !b.NotifyBy.IsZero()
		out = append(out, row)
	}
	return out
}

type overviewPage struct {
	Requests      []requestRow
	RequestsErr   string
	Breaches      []breachRow
	BreachesErr   string
	Chart         chart
	ChartErr      string
	Purges        []garde.AuditEvent
	Ledger        trail.LedgerHealth
	LedgerErr     string
	Overdue, Soon int
}

// unavailable turns a use case's failure into a sentence the page shows
// in place of its section, so that one missing capability does not take
// the whole overview down.
func (d *Dashboard) unavailable(r *http.Request, pg *dashPage, err error) string {
	if _, known := errkind.Of(err); known {
		return err.Error()
	}
	d.log.Error("dashboard section failed", "route", r.Pattern, "err", err.Error())
	return pg.L.T("error.section")
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	ctx, p := r.Context(), pg.Principal
	var o overviewPage
	rs, err := d.svc.Rights.Requests(ctx, p, garde.RequestFilter{OpenOnly: true, Limit: garde.MaxRequestPage}, "")
	if err != nil {
		o.RequestsErr = d.unavailable(r, pg, err)
	}
	o.Requests = requestRows(rs, pg.Now)
	for _, row := range o.Requests {
		if row.Overdue {
			o.Overdue++
		} else if row.DueSoon {
			o.Soon++
		}
	}
	bs, err := d.svc.Breach.Breaches(ctx, p)
	if err != nil {
		o.BreachesErr = d.unavailable(r, pg, err)
	}
	for _, b := range breachRows(bs, pg.Now) {
		if b.Running {
			o.Breaches = append(o.Breaches, b)
		}
	}
	until := pg.Now.AddDate(0, 0, 1)
	days, err := d.svc.Consent.ConsentTrend(ctx, p, until.AddDate(0, 0, -30), until)
	if err != nil {
		o.ChartErr = d.unavailable(r, pg, err)
	}
	o.Chart = consentChart(days, pg.Lang)
	if o.Purges, err = d.svc.RecentPurges(ctx, p, pg.Now.AddDate(0, 0, -90), 10); err != nil {
		o.Purges = nil
	}
	if o.Ledger, err = d.svc.Trail.LedgerHealth(ctx, p); err != nil {
		o.LedgerErr = d.unavailable(r, pg, err)
	}
	pg.Title, pg.Nav, pg.Page = pg.L.T("nav.overview"), "overview", o
	return d.render(w, http.StatusOK, "overview", pg)
}

// chart is a server-rendered SVG line chart of consent rates.
type chart struct {
	Width, Height     int
	Left, Top, Bottom int
	Series            []series
	YTicks            []tick
	XTicks            []tick
	Days              []string
	Empty             bool
}

type series struct {
	Purpose string
	Class   string
	Points  string // the polyline's points
	Dots    []dot
	Rows    []consent.ConsentDay
}

type dot struct {
	X, Y  int
	Label string
}

type tick struct {
	Pos   int
	Label string
}

func consentChart(days []consent.ConsentDay, lang string) chart {
	c := chart{Width: 720, Height: 240, Left: 48, Top: 12, Bottom: 32}
	byPurpose := map[string][]consent.ConsentDay{}
	var order []string
	for _, d := range days {
		if _, ok := byPurpose[d.Purpose]; !ok {
			order = append(order, d.Purpose)
		}
		byPurpose[d.Purpose] = append(byPurpose[d.Purpose], d)
	}
	plotW, plotH := c.Width-c.Left-12, c.Height-c.Top-c.Bottom
	for i := 0; i <= 4; i++ {
		c.YTicks = append(c.YTicks, tick{Pos: c.Top + plotH - plotH*i/4, Label: strconv.Itoa(25*i) + " %"})
	}
	c.Empty = true
	for i, id := range order {
		ds := byPurpose[id]
		s := series{Purpose: id, Class: "s" + strconv.Itoa(i%6)}
		var pts []string
		for j, d := range ds {
			x := c.Left
			if len(ds) > 1 {
				x += plotW * j / (len(ds) - 1)
			}
			if i == 0 && (j%7 == 0 || j == len(ds)-1 && j%7 > 3) {
				c.XTicks = append(c.XTicks, tick{Pos: x, Label: dayLabel(d.Day, lang)})
			}
			if d.Events() == 0 {
				continue // no rate that day: the line joins its neighbours
			}
			c.Empty = false
			y := c.Top + plotH - int(float64(plotH)*d.Rate()+0.5)
			pts = append(pts, fmt.Sprintf("%d,%d", x, y))
			s.Dots = append(s.Dots, dot{X: x, Y: y, Label: fmt.Sprintf("%s %s: %.0f %% (%d/%d)", id, dayLabel(d.Day, lang), 100*d.Rate(), d.Grants, d.Events())})
			if d.Events() > 0 {
				s.Rows = append(s.Rows, d)
			}
		}
		if len(pts) > 1 {
			s.Points += strings.Join(pts, " ")
		}
		c.Series = append(c.Series, s)
	}
	return c
}

// Segments splits a series' points at the gaps (days without events).
func (s series) Segments() []string {
	var out []string
	for _, seg := range strings.Split(s.Points, ";") {
		if seg != "" {
			out = append(out, seg)
		}
	}
	return out
}

func dayLabel(t time.Time, lang string) string {
	if lang == "fr" {
		return t.Format("02/01")
	}
	return t.Format("Jan 2")
}

type registerPage struct {
	Current  garde.RegisterVersion
	Shown    garde.RegisterVersion
	Versions []int
	Record   register.Art30Record
	Diff     *register.Diff
	From, To int
	Missing  bool
}

func (d *Dashboard) register(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	ctx, p := r.Context(), pg.Principal
	var rp registerPage
	cur, err := d.svc.Tenancy.Register(ctx, p, 0)
	if errors.Is(err, garde.ErrNotFound) {
		rp.Missing = true
		pg.Title, pg.Nav, pg.Page = pg.L.T("nav.register"), "register", rp
		return d.render(w, http.StatusOK, "register", pg)
	}
	if err != nil {
		return err
	}
	rp.Current, rp.Shown = cur, cur
	for v := cur.Version; v >= 1; v-- {
		rp.Versions = append(rp.Versions, v)
	}
	q := r.URL.Query()
	if v, _ := strconv.Atoi(q.Get("version")); v > 0 && v != cur.Version {
		if rp.Shown, err = d.svc.Tenancy.Register(ctx, p, v); err != nil {
			return err
		}
	}
	if rp.Record, err = d.svc.Tenancy.Art30(ctx, p, rp.Shown.Version); err != nil {
		return err
	}
	rp.From, rp.To = max(cur.Version-1, 1), cur.Version
	if f, _ := strconv.Atoi(q.Get("from")); f > 0 {
		rp.From = f
	}
	if t, _ := strconv.Atoi(q.Get("to")); t > 0 {
		rp.To = t
	}
	if cur.Version > 1 || q.Has("from") {
		diff, err := d.svc.Tenancy.DiffRegister(ctx, p, rp.From, rp.To)
		if err != nil {
			return err
		}
		rp.Diff = &diff
	}
	pg.Title, pg.Nav, pg.Page = pg.L.T("nav.register"), "register", rp
	return d.render(w, http.StatusOK, "register", pg)
}

type requestsPage struct {
	Rows     []requestRow
	Status   string
	Statuses []string
	Lookup   bool // the rows are a subject look-up's result
}

// requestStatuses are the queue's filters: open requests (the default,
// also spelt "open"), or one status.
var requestStatuses = append([]string{"", "open"}, garde.RequestStatuses...)

func (d *Dashboard) requests(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	st := r.URL.Query().Get("status")
	if !slices.Contains(requestStatuses, st) {
		return garde.Invalid("status", "unknown status")
	}
	f := garde.RequestFilter{Limit: garde.MaxRequestPage}
	switch st {
	case "":
		st = "open"
		f.OpenOnly = true
	case "open":
		f.OpenOnly = true
	default:
		f.Status = st
	}
	rs, err := d.svc.Rights.Requests(r.Context(), pg.Principal, f, "")
	if err != nil {
		return err
	}
	pg.Title, pg.Nav = pg.L.T("nav.requests"), "requests"
	pg.Page = requestsPage{Rows: requestRows(rs, pg.Now), Status: st, Statuses: requestStatuses[1:]}
	return d.render(w, http.StatusOK, "requests", pg)
}

// requestLookup finds a subject's requests. The identifier comes in a
// POST body, never in a URL, and is not echoed back.
func (d *Dashboard) requestLookup(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	subject := strings.TrimSpace(r.PostForm.Get("subject"))
	if subject == "" {
		return garde.Invalid("subject", "is required")
	}
	rs, err := d.svc.Rights.Requests(r.Context(), pg.Principal, garde.RequestFilter{Limit: garde.MaxRequestPage}, subject)
	if err != nil {
		return err
	}
	pg.Title, pg.Nav = pg.L.T("nav.requests"), "requests"
	pg.Page = requestsPage{Rows: requestRows(rs, pg.Now), Statuses: requestStatuses[1:], Lookup: true}
	return d.render(w, http.StatusOK, "requests", pg)
}

type requestPage struct {
	requestRow
	CanExtend, CanComplete, CanHold bool
	ExtendTooLate                   bool
	// CanVerify: the DPO may verify a request another key filed.
	CanVerify bool
}

func (d *Dashboard) request(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	req, err := d.svc.Rights.Request(r.Context(), pg.Principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	row := requestRows([]garde.RightsRequest{req}, pg.Now)[0]
	rp := requestPage{requestRow: row}
	// The domain decides whether an extension is still possible (Art.
	// 12(3): announced within the first month); the page only asks it.
	_, extErr := rights.ExtendedDueDate(req.ReceivedAt, 1, pg.Now)
	rp.CanExtend = req.Open() && req.ExtendedAt.IsZero() && extErr == nil
	rp.ExtendTooLate = req.Open() && req.ExtendedAt.IsZero() && extErr != nil
	rp.CanComplete = req.Open() && req.Status != garde.StatusReceived &&
		req.Type != garde.RequestErasure && req.Type != garde.RequestRestriction && req.Type != garde.RequestObjection
	rp.CanHold = req.Open() && req.Type == garde.RequestErasure && req.KeyDestroyedAt.IsZero()
	rp.CanVerify = req.Status == garde.StatusReceived && pg.Principal.Role == garde.RoleDPO && req.FiledBy != pg.Principal.KeyID
	switch r.URL.Query().Get("done") {
	case rights.ActExtend, rights.ActComplete, rights.ActReject, rights.ActCancel, rights.ActHold, rights.ActRelease, rights.ActVerify:
		pg.Notice = "request.done." + r.URL.Query().Get("done")
	}
	pg.Title, pg.Nav, pg.Page = pg.L.T("request.title")+" "+req.ID, "requests", rp
	return d.render(w, http.StatusOK, "request", pg)
}

func (d *Dashboard) changeRequest(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	f := r.PostForm
	c := rights.RequestChange{Action: f.Get("action"), Reason: strings.TrimSpace(f.Get("reason"))}
	if c.Action == rights.ActExtend {
		c.Months, _ = strconv.Atoi(f.Get("months"))
	}
	id := r.PathValue("id")
	if _, err := d.svc.Rights.ChangeRequest(r.Context(), pg.Principal, id, c); err != nil {
		return err
	}
	http.Redirect(w, r, "/dashboard/requests/"+id+"?done="+c.Action, http.StatusSeeOther)
	return nil
}

func (d *Dashboard) certificate(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	req, err := d.svc.Rights.Request(r.Context(), pg.Principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	if len(req.Certificate) == 0 {
		return garde.Errorf(garde.ErrNotFound, "this request has no erasure certificate")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+req.ID+`-certificate.txt"`)
	_, err = w.Write(req.Certificate)
	return err
}

func (d *Dashboard) breaches(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	bs, err := d.svc.Breach.Breaches(r.Context(), pg.Principal)
	if err != nil {
		return err
	}
	pg.Title, pg.Nav, pg.Page = pg.L.T("nav.breaches"), "breaches", breachRows(bs, pg.Now)
	return d.render(w, http.StatusOK, "breaches", pg)
}

type breachPage struct {
	breachRow
	Kinds []string
}

func (d *Dashboard) breach(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	b, err := d.svc.Breach.Breach(r.Context(), pg.Principal, r.PathValue("id"))
	if err != nil {
		return err
	}
	pg.Title, pg.Nav = pg.L.T("breach.title")+" "+b.ID, "breaches"
	pg.Page = breachPage{breachRow: breachRows([]*breach.Breach{b}, pg.Now)[0], Kinds: []string{breach.NoticeController, breach.NoticeAuthority, breach.NoticeSubjects}}
	return d.render(w, http.StatusOK, "breach", pg)
}

// breachNotice serves a notice draft as the API does, for the session's
// principal.
func (d *Dashboard) breachNotice(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	return notice.Serve(w, r, d.svc, pg.Principal, r.PathValue("id"), r.PathValue("kind"))
}

type auditPage struct {
	Events                               []garde.AuditEvent
	Since, Until, Actor, Action, Purpose string
	Actions                              []auditOption
	DefaultDays                          int
	Searched                             bool
	More                                 bool
}

// auditDefaultDays is how far back the audit search looks without a date
// (the page says so from this value).
const auditDefaultDays = 7

// auditOption is one action of the audit search's filter.
type auditOption struct{ Action, Label string }

// auditOptions lists, for the filter, every action a tenant's trail can
// hold (garde.AuditActions, less those recorded only in the operator's
// trail), labelled in the page's language.
func auditOptions(lang string) []auditOption {
	var out []auditOption
	for _, a := range garde.AuditActions {
		if a.Operator {
			continue
		}
		label := a.Label
		if lang == "fr" {
			label = a.LabelFR
		}
		out = append(out, auditOption{a.Action, label})
	}
	return out
}

// audit searches the trail. Its filters are dates, key ids, action and
// purpose names: none is personal data, so they may sit in the URL.
func (d *Dashboard) audit(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	q := r.URL.Query()
	ap := auditPage{Since: q.Get("since"), Until: q.Get("until"), Actor: q.Get("actor"), Action: q.Get("action"), Purpose: q.Get("purpose"), Actions: auditOptions(pg.L["_lang"]), DefaultDays: auditDefaultDays}
	f := garde.AuditFilter{Actor: ap.Actor, Action: ap.Action, Purpose: ap.Purpose, Limit: 200}
	var err error
	if f.Since, err = parseDay(ap.Since, false); err != nil {
		return garde.Invalid("since", "must be a date (YYYY-MM-DD)")
	}
	if f.Until, err = parseDay(ap.Until, true); err != nil {
		return garde.Invalid("until", "must be a date (YYYY-MM-DD)")
	}
	if ap.Since == "" && ap.Until == "" && !q.Has("action") {
		f.Since = pg.Now.AddDate(0, 0, -auditDefaultDays)
	}
	ap.Searched = true
	events, err := d.svc.Audit(r.Context(), pg.Principal, f)
	if err != nil {
		return err
	}
	slices.Reverse(events)
	ap.Events, ap.More = events, len(events) == f.Limit
	pg.Title, pg.Nav, pg.Page = pg.L.T("nav.audit"), "audit", ap
	return d.render(w, http.StatusOK, "audit", pg)
}

// parseDay reads a date input; until is exclusive, so a day given as the
// end of a range includes that day.
func parseDay(s string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, err
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

type keysPage struct {
	Keys    []garde.APIKey
	NewKey  string // shown once after creation
	NewRole string
	Roles   []garde.Role
}

func (d *Dashboard) keys(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	return d.keysPage(w, r, pg, "", "")
}

func (d *Dashboard) keysPage(w http.ResponseWriter, r *http.Request, pg *dashPage, newKey, role string) error {
	keys, err := d.svc.Tenancy.APIKeys(r.Context(), pg.Principal)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("done") == "revoke" {
		pg.Notice = "keys.revoked"
	}
	pg.Title, pg.Nav = pg.L.T("nav.keys"), "keys"
	pg.Page = keysPage{Keys: keys, NewKey: newKey, NewRole: role, Roles: garde.TenantRoles}
	return d.render(w, http.StatusOK, "keys", pg)
}

// createKey answers with the page itself (not a redirect) so that the
// secret, shown once, never lands in a URL or in the browser's history.
func (d *Dashboard) createKey(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	role := r.PostForm.Get("role")
	_, text, err := d.svc.Tenancy.CreateAPIKey(r.Context(), pg.Principal, role)
	if err != nil {
		return err
	}
	return d.keysPage(w, r, pg, text, role)
}

func (d *Dashboard) revokeKey(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	if err := d.svc.Tenancy.RevokeAPIKey(r.Context(), pg.Principal, r.PathValue("id")); err != nil {
		return err
	}
	d.sessions.dropKey(r.PathValue("id"))
	http.Redirect(w, r, "/dashboard/keys?done=revoke", http.StatusSeeOther)
	return nil
}

type settingsPage struct {
	Tenant   garde.TenantID
	Register *register.Register
	Version  int
	Verifier string
	Idle     time.Duration
}

func (d *Dashboard) settings(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	ctx, p := r.Context(), pg.Principal
	sp := settingsPage{Tenant: p.Tenant, Idle: SessionIdle}
	if rv, err := d.svc.Tenancy.Register(ctx, p, 0); err == nil {
		sp.Version = rv.Version
		sp.Register, _ = rv.Parse()
	} else if !errors.Is(err, garde.ErrNotFound) {
		return err
	}
	v, err := d.svc.Trail.LedgerVerifierKey(ctx, p)
	if err != nil {
		return err
	}
	sp.Verifier = v
	pg.Title, pg.Nav, pg.Page = pg.L.T("nav.settings"), "settings", sp
	return d.render(w, http.StatusOK, "settings", pg)
}
