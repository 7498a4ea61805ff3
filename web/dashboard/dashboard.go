// Package dashboard is the DPO's dashboard: server-rendered pages under
// /dashboard/, behind a session cookie obtained by signing in with an API
// key. Pages call the same use cases as the JSON API; nothing here decides
// a business rule.
//
// The dashboard lists its pages (Pages) and package web mounts them in its
// route table, behind the same request id, security headers, rate limits,
// access log and metrics as the API. What the dashboard needs of the
// server, the server passes in (Config): the service, the logger, and the
// sign-in under the server's lock-out.
package dashboard

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/internal/errkind"
)

// The templates and static files, beside this file.
//
//go:embed *.html static
var dashboardFS embed.FS

// Config is what the dashboard takes from the server that mounts it.
type Config struct {
	// Service runs the use cases the pages show; its clock is the
	// sessions' clock.
	Service *app.Service
	// Log receives internal errors, by request id (no personal data).
	Log *slog.Logger
	// SignIn checks the API key text of the sign-in form. The server
	// passes its own (package web: under the rate limits and the
	// lock-out that guard the bearer header), so that the form is no
	// way around them. It may write headers (Retry-After) to w.
	SignIn func(w http.ResponseWriter, r *http.Request, key string) (garde.Principal, error)
}

// Dashboard holds the pages' state: templates and sessions.
type Dashboard struct {
	svc      *app.Service
	log      *slog.Logger
	signIn   func(w http.ResponseWriter, r *http.Request, key string) (garde.Principal, error)
	sessions *sessionStore
	tmpl     map[string]*template.Template
	pages    []Page
	// navPerm is the permission of each page of the navigation
	// ("keys": that of GET /dashboard/keys), from the page list.
	navPerm map[string]garde.Permission
}

// Page is one page of the dashboard, for the server's route table.
type Page struct {
	Method  string
	Pattern string
	Summary string
	// Perm is the permission of the use case the page shows; PermNone
	// marks a public page (sign-in, static files). The page checks it
	// itself against the session's role (PageRoles), as the route has no
	// Bearer key.
	Perm garde.Permission
	// Serve answers the request. It renders its own errors as a page; an
	// error it returns is one it could not render.
	Serve func(http.ResponseWriter, *http.Request) error
}

// New builds the dashboard. Service and SignIn are required.
func New(cfg Config) *Dashboard {
	if cfg.Service == nil || cfg.SignIn == nil {
		panic("dashboard.New: Config.Service and Config.SignIn are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	d := &Dashboard{svc: cfg.Service, log: cfg.Log, signIn: cfg.SignIn,
		sessions: &sessionStore{m: map[[32]byte]*session{}}, tmpl: parsePages()}
	d.pages = d.pageTable()
	d.navPerm = map[string]garde.Permission{}
	for _, pg := range d.pages {
		if name, ok := strings.CutPrefix(pg.Pattern, "/dashboard/"); ok && pg.Method == "GET" && !strings.ContainsAny(name, "/{") {
			d.navPerm[name] = pg.Perm
		}
	}
	return d
}

// Pages lists the dashboard's pages, for the server to mount.
func (d *Dashboard) Pages() []Page { return d.pages }

// EndSessions ends every session opened with the API key keyID: the
// server calls it when it revokes a key through the API, as the
// dashboard's own revoke does.
func (d *Dashboard) EndSessions(keyID string) { d.sessions.dropKey(keyID) }

// dashPage is what every page template receives.
type dashPage struct {
	L         messages
	Lang      string
	Title     string
	Nav       string
	Principal garde.Principal
	CSRF      string
	Now       time.Time
	Notice    string // a fixed message key, never user input
	Error     string // an error message for the page (no personal data)
	Page      any
	// OtherLang is the language switch: this page in the other language.
	OtherLang, OtherLangURL string
	navPerm                 map[string]garde.Permission
}

// Sees reports whether the signed-in role may open the navigation's page
// name ("keys"): the menu shows the pages the role holds the permission of,
// as the pages themselves decide.
func (pg *dashPage) Sees(name string) bool {
	perm, ok := pg.navPerm[name]
	return ok && pageAllows(perm, pg.Principal.Role)
}

func (d *Dashboard) now() time.Time { return d.svc.Clock().Now() }

func sessionCookieName(r *http.Request) string {
	if r.TLS != nil {
		return "__Host-garde_session"
	}
	return "garde_session"
}

const signinCookie = "garde_signin"

// dashboardCSP allows the dashboard's own files and nothing inline.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func dashboardHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// dashHandler is a page handler: it gets the request's session and page
// skeleton, and renders or writes.
type dashHandler func(w http.ResponseWriter, r *http.Request, pg *dashPage) error

// page wraps a dashboard handler: headers, session (a missing or expired
// one sends a GET to the sign-in page), role, CSRF on every POST, and
// errors rendered as an HTML page.
func (d *Dashboard) page(perm garde.Permission, h dashHandler) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		dashboardHeaders(w)
		pg := d.newPage(w, r)
		c, err := r.Cookie(sessionCookieName(r))
		var sess session
		ok, wasExpired := false, false
		if err == nil {
			sess, ok, wasExpired = d.sessions.get(c.Value, pg.Now)
		}
		if !ok {
			if r.Method == http.MethodGet {
				to := "/dashboard/signin"
				if wasExpired {
					to += "?expired=1"
				}
				http.Redirect(w, r, to, http.StatusSeeOther)
				return nil
			}
			return d.renderError(w, r, pg, garde.Errorf(garde.ErrUnauthenticated, "sign in first"))
		}
		// A key revoked anywhere (another node, the command line, an
		// off-boarding) ends its sessions at the next request.
		if err := d.svc.CheckKey(r.Context(), sess.p); err != nil {
			if !errors.Is(err, garde.ErrUnauthenticated) {
				return d.renderError(w, r, pg, err)
			}
			d.sessions.dropKey(sess.p.KeyID)
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/dashboard/signin?expired=1", http.StatusSeeOther)
				return nil
			}
			return d.renderError(w, r, pg, err)
		}
		pg.Principal, pg.CSRF = sess.p, sess.csrf
		if !pageAllows(perm, sess.p.Role) {
			return d.renderError(w, r, pg, garde.Errorf(garde.ErrForbidden, "this page is not for the %s role", sess.p.Role))
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				return d.renderError(w, r, pg, garde.Errorf(garde.ErrInvalid, "unreadable form"))
			}
			if !sameToken(r.PostForm.Get("csrf"), sess.csrf) {
				return d.renderError(w, r, pg, garde.Errorf(garde.ErrForbidden, "the form's token is missing or stale: reload the page"))
			}
		}
		if err := h(w, r, pg); err != nil {
			return d.renderError(w, r, pg, err)
		}
		return nil
	}
}

// public wraps a page that needs no session (sign-in, static files).
func (d *Dashboard) public(h dashHandler) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		dashboardHeaders(w)
		pg := d.newPage(w, r)
		if err := h(w, r, pg); err != nil {
			return d.renderError(w, r, pg, err)
		}
		return nil
	}
}

// renderError shows an error as a page with the status the API would
// use. Unknown errors are logged once, by request id, and shown as a
// generic message.
func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, pg *dashPage, err error) error {
	status, msg := http.StatusInternalServerError, pg.L.T("error.internal")
	k, known := errkind.Of(err)
	if known {
		status, msg = k.Status, err.Error()
	}
	var ve *garde.ValidationError
	if errors.As(err, &ve) {
		msg = ""
		for i, p := range ve.Problems {
			if i > 0 {
				msg += "; "
			}
			msg += p.Field + ": " + p.Message
		}
	}
	if !known {
		d.log.LogAttrs(r.Context(), slog.LevelError, "internal error", slog.String("request", w.Header().Get("X-Request-Id")), slog.String("err", err.Error()))
	}
	if status == http.StatusUnauthorized {
		msg = pg.L.T("error.signin")
	}
	pg.Title, pg.Error = pg.L.T("error.title"), msg
	pg.Page = struct{ Status int }{status}
	return d.render(w, status, "error", pg)
}

func (d *Dashboard) render(w http.ResponseWriter, status int, name string, pg *dashPage) error {
	t := d.tmpl[name]
	if t == nil {
		return errors.New("dashboard: no template " + name)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	return t.ExecuteTemplate(w, "layout", pg)
}

// pageTable is the dashboard's pages: authenticated by session, not by
// Bearer key; each page checks its Perm itself, with pageAllows.
func (d *Dashboard) pageTable() []Page {
	// Each page names the permission of the use case it shows; PermNone
	// marks a public page (sign-in, static files).
	r := func(method, pattern, summary string, perm garde.Permission, h dashHandler) Page {
		pg := Page{Method: method, Pattern: pattern, Perm: perm, Summary: summary}
		if perm == garde.PermNone {
			pg.Serve = d.public(h)
		} else {
			pg.Serve = d.page(perm, h)
		}
		return pg
	}
	return []Page{
		r("GET", "/dashboard/{$}", "Dashboard home: the overview or the sign-in page.", garde.PermDashboard, d.home),
		r("GET", "/dashboard/static/{file}", "The dashboard's CSS, JavaScript and icon.", garde.PermNone, d.static),
		r("GET", "/dashboard/signin", "Sign-in form.", garde.PermNone, d.signinForm),
		r("POST", "/dashboard/signin", "Exchange an API key for a session cookie.", garde.PermNone, d.signin),
		r("POST", "/dashboard/signout", "End the session.", garde.PermDashboard, d.signout),
		r("GET", "/dashboard/overview", "Overview: requests by due date, breach clocks, consent, purges, ledger.", garde.PermAuditRead, d.overview),
		r("GET", "/dashboard/register", "The register: current version, versions, diff.", garde.PermRegisterRead, d.register),
		r("GET", "/dashboard/register/art30/{format}", "Art. 30 record as csv, xlsx or pdf.", garde.PermRegisterRead, d.art30),
		r("GET", "/dashboard/requests", "Data-subject requests: the queue with deadlines.", garde.PermRequestRead, d.requests),
		r("POST", "/dashboard/requests/lookup", "Find a subject's requests (the identifier travels in the body).", garde.PermRequestRead, d.requestLookup),
		r("GET", "/dashboard/requests/{id}", "One request: identity check, deadline, actions.", garde.PermRequestRead, d.request),
		r("POST", "/dashboard/requests/{id}/change", "Extend, complete, reject, cancel, hold or release a request.", garde.PermRequestManage, d.changeRequest),
		r("GET", "/dashboard/requests/{id}/certificate", "The signed erasure certificate of a request.", garde.PermRequestRead, d.certificate),
		r("GET", "/dashboard/breaches", "The breach register with running clocks.", garde.PermBreach, d.breaches),
		r("GET", "/dashboard/breaches/{id}", "One breach: timeline, clock, impact, severity, notices.", garde.PermBreach, d.breach),
		r("GET", "/dashboard/breaches/{id}/notices/{kind}", "A notice draft to download (md or pdf).", garde.PermBreach, d.breachNotice),
		r("GET", "/dashboard/audit", "Search the audit trail.", garde.PermAuditRead, d.audit),
		r("GET", "/dashboard/keys", "API keys of the tenant.", garde.PermKeyManage, d.keys),
		r("POST", "/dashboard/keys", "Create an API key (shown once).", garde.PermKeyManage, d.createKey),
		r("POST", "/dashboard/keys/{id}/revoke", "Revoke an API key.", garde.PermKeyManage, d.revokeKey),
		// The settings are the tenant's configuration, which only the
		// admin changes (the register's write permission).
		r("GET", "/dashboard/settings", "Tenant settings.", garde.PermRegisterWrite, d.settings),
	}
}

// pageAllows reports whether role may see a signed-in page guarded by
// perm: it must both sign in to the dashboard and hold the permission of
// the use case the page shows.
func pageAllows(perm garde.Permission, role garde.Role) bool {
	return garde.PermDashboard.Allows(role) && perm.Allows(role)
}

// PageRoles returns the roles that may see a signed-in page guarded by
// perm (Page.Perm), nil for a public page: the dashboard's answer to the
// route table's Route.Roles, for the server's tests and documentation.
func PageRoles(perm garde.Permission) []garde.Role {
	var out []garde.Role
	for _, r := range perm.Roles() {
		if pageAllows(perm, r) {
			out = append(out, r)
		}
	}
	return out
}

func (d *Dashboard) home(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	http.Redirect(w, r, "/dashboard/overview", http.StatusSeeOther)
	return nil
}

func (d *Dashboard) static(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	name := r.PathValue("file")
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
	var ct string
	for ext, t := range types {
		if len(name) > len(ext) && name[len(name)-len(ext):] == ext {
			ct = t
		}
	}
	b, err := fs.ReadFile(dashboardFS, "static/"+name)
	if ct == "" || err != nil {
		return garde.Errorf(garde.ErrNotFound, "no such file")
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err = w.Write(b)
	return err
}

func (d *Dashboard) signinForm(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: tok, Path: "/dashboard/signin", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	pg.CSRF, pg.Title, pg.Nav = tok, pg.L.T("signin.title"), "signin"
	switch {
	case r.URL.Query().Get("expired") != "":
		pg.Notice = "signin.expired"
	case r.URL.Query().Get("out") != "":
		pg.Notice = "signin.out"
	}
	return d.render(w, http.StatusOK, "signin", pg)
}

// signin exchanges an API key for a session. The sign-in form carries a
// token matched against a cookie (double submit), so another site cannot
// sign a browser in under its own key.
func (d *Dashboard) signin(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	if err := r.ParseForm(); err != nil {
		return garde.Errorf(garde.ErrInvalid, "unreadable form")
	}
	c, err := r.Cookie(signinCookie)
	if err != nil || !sameToken(r.PostForm.Get("csrf"), c.Value) {
		return garde.Errorf(garde.ErrForbidden, "the sign-in form is stale: reload the page")
	}
	p, err := d.signIn(w, r, r.PostForm.Get("key")) // under the server's lock-out
	switch {
	case errors.Is(err, garde.ErrUnauthenticated):
		return d.signinAgain(w, r, pg, http.StatusUnauthorized, pg.L.T("signin.bad"))
	case err != nil:
		return err
	case !garde.PermDashboard.Allows(p.Role):
		return d.signinAgain(w, r, pg, http.StatusForbidden, fmt.Sprintf(pg.L.T("signin.role"), p.Role))
	}
	id, _ := d.sessions.create(p, d.now())
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: "", Path: "/dashboard/signin", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: sessionCookieName(r), Value: id, Path: "/", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/dashboard/overview", http.StatusSeeOther)
	return nil
}

// signinAgain shows the sign-in form again with why the last try failed.
func (d *Dashboard) signinAgain(w http.ResponseWriter, r *http.Request, pg *dashPage, status int, msg string) error {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: signinCookie, Value: tok, Path: "/dashboard/signin", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	pg.CSRF, pg.Title, pg.Nav, pg.Error = tok, pg.L.T("signin.title"), "signin", msg
	return d.render(w, status, "signin", pg)
}

func (d *Dashboard) signout(w http.ResponseWriter, r *http.Request, pg *dashPage) error {
	if c, err := r.Cookie(sessionCookieName(r)); err == nil {
		d.sessions.delete(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookieName(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/dashboard/signin?out=1", http.StatusSeeOther)
	return nil
}

// pickLang chooses the language: ?lang= (remembered in a cookie), the
// cookie, then Accept-Language; English by default.
func pickLang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == "fr" || l == "en" {
		http.SetCookie(w, &http.Cookie{Name: "garde_lang", Value: l, Path: "/dashboard", SameSite: http.SameSiteStrictMode, HttpOnly: true, Secure: r.TLS != nil})
		return l
	}
	if c, err := r.Cookie("garde_lang"); err == nil && (c.Value == "fr" || c.Value == "en") {
		return c.Value
	}
	for _, part := range splitComma(r.Header.Get("Accept-Language")) {
		if len(part) >= 2 {
			switch part[:2] {
			case "fr", "FR":
				return "fr"
			case "en", "EN":
				return "en"
			}
		}
	}
	return "en"
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			part := s[start:i]
			for len(part) > 0 && part[0] == ' ' {
				part = part[1:]
			}
			out = append(out, part)
			start = i + 1
		}
	}
	return out
}

func (d *Dashboard) newPage(w http.ResponseWriter, r *http.Request) *dashPage {
	pg := &dashPage{Lang: pickLang(w, r), Now: d.now(), navPerm: d.navPerm}
	pg.L = catalogue[pg.Lang]
	pg.OtherLang = "fr"
	if pg.Lang == "fr" {
		pg.OtherLang = "en"
	}
	pg.OtherLangURL = langURL(r, pg.OtherLang)
	if r.Method != http.MethodGet {
		// A page answering a POST: switch on the page the form came from.
		u := url.URL{Path: strings.TrimSuffix(r.URL.Path, "/lookup"), RawQuery: "lang=" + pg.OtherLang}
		pg.OtherLangURL = u.String()
	}
	return pg
}

// langURL returns the current path with lang set, for the language switch.
func langURL(r *http.Request, lang string) string {
	u := url.URL{Path: r.URL.Path}
	q := r.URL.Query()
	q.Set("lang", lang)
	u.RawQuery = q.Encode()
	return u.String()
}

// pageFuncs are the few helpers the templates need.
var pageFuncs = template.FuncMap{
	"dict": func(l messages, v any) struct {
		L messages
		V any
	} {
		return struct {
			L messages
			V any
		}{l, v}
	},
	"add": func(a, b int) int { return a + b },
	// dueSoonDays is rights.DueSoonWindow in days, as the pages say it.
	"dueSoonDays": func() int { return int(rights.DueSoonWindow / (24 * time.Hour)) },
	"sub":         func(a, b int) int { return a - b },
	"join":        strings.Join,
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12] + "…"
		}
		return s
	},
}

// parsePages parses each page with the layout and the shared parts. A
// template error is a programming error, caught by any test.
func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range []string{"error", "signin", "overview", "register", "requests", "request", "breaches", "breach", "audit", "keys", "settings"} {
		pages[name] = template.Must(template.New(name).Funcs(pageFuncs).ParseFS(dashboardFS,
			"layout.html", "parts.html", name+".html"))
	}
	return pages
}
