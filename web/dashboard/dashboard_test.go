package dashboard_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/breach"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/web/dashboard"
	"github.com/garde-privacy/garde/web/internal/dashtest"
	"github.com/xuri/excelize/v2"
)

// dashSeed is what the dashboard tests find in tenant A (and B).
type dashSeed struct {
	clock           *gardetest.Clock
	overdue, soon   string // request ids of tenant A
	bRequest        string // a request of tenant B
	breach, bBreach string // breaches of A and of B
	subject         string // the identifier behind A's requests
}

// seedDashboard files, at 1 March 2026 09:00 (the env's clock), an
// access request in A; ten days later another one; then moves the clock
// to 5 April, when the first is overdue and the second due within a week,
// and declares a breach in A whose 72 hours end two hours later. B gets a
// request and a breach of its own.
func seedDashboard(t *testing.T, e *env) dashSeed {
	t.Helper()
	ctx := context.Background()
	clock := e.svc.Clock().(*gardetest.Clock)
	s := dashSeed{clock: clock, subject: "jeanne.martin@example.org"}
	file := func(p garde.Principal, subject string) string {
		t.Helper()
		f, err := e.svc.Rights.FileRequest(ctx, p, rights.NewRequest{Subject: subject, Type: garde.RequestAccess})
		if err != nil {
			t.Fatalf("FileRequest: %v", err)
		}
		if f.Token != "" {
			if _, err := e.svc.Rights.VerifyRequest(ctx, f.Token); err != nil {
				t.Fatalf("VerifyRequest: %v", err)
			}
		}
		return f.Request.ID
	}
	s.overdue = file(e.a.DPO, s.subject)
	s.bRequest = file(e.b.DPO, "b-person@example.org")
	clock.Advance(10 * 24 * time.Hour)
	s.soon = file(e.a.DPO, s.subject)
	// Consent events over the following weeks, for the chart: a notice,
	// then every third day a few grants and some withdrawals.
	if _, err := e.svc.Consent.PublishNotice(ctx, e.a.Admin, "improve_replies", "en", "We use your conversations to improve our replies."); err != nil {
		t.Fatalf("PublishNotice: %v", err)
	}
	n := 0
	for day := range 8 {
		clock.Advance(3 * 24 * time.Hour)
		for i := range 2 + day%3 {
			n++
			action := garde.ConsentGrant
			if i == 0 && day%2 == 1 {
				action = garde.ConsentWithdraw
			}
			if _, err := e.svc.Consent.RecordConsent(ctx, e.a.Service, consent.ConsentInput{Subject: fmt.Sprintf("c%d", n), Purpose: "improve_replies", Action: action, Method: "web"}); err != nil {
				t.Fatalf("RecordConsent: %v", err)
			}
		}
	}
	clock.Advance(24 * time.Hour) // 5 April 2026, 09:00
	// A second version of A's register, for the diff.
	v2 := strings.Replace(gardetest.ExampleRegister, "retention: 90d", "retention: 60d\n    description: Improve the suggested replies", 1)
	if _, err := e.svc.Tenancy.ApplyRegister(ctx, e.a.Admin, []byte(v2)); err != nil {
		t.Fatalf("ApplyRegister: %v", err)
	}
	aware := clock.Now().Add(-70 * time.Hour)
	desc := "Support agent laptop stolen; disk encrypted"
	b, err := e.svc.Breach.CreateBreach(ctx, e.a.DPO, breach.NewBreach{BreachChange: breach.BreachChange{AwareAt: &aware, Nature: []string{breach.NatureConfidentiality}, Description: &desc}})
	if err != nil {
		t.Fatalf("CreateBreach: %v", err)
	}
	s.breach = b.ID
	bb, err := e.svc.Breach.CreateBreach(ctx, e.b.DPO, breach.NewBreach{BreachChange: breach.BreachChange{AwareAt: &aware, Nature: []string{breach.NatureConfidentiality}, Description: &desc}})
	if err != nil {
		t.Fatalf("CreateBreach(B): %v", err)
	}
	s.bBreach = bb.ID
	return s
}

// dashboardCase is, for one dashboard route, a path for tenant A's
// session, and what tenant B's session must not get from it.
type dashboardCase struct {
	path string
	form url.Values // POST body (csrf added)
	want int
}

func dashboardCases(s dashSeed) map[string]dashboardCase {
	return map[string]dashboardCase{
		"GET /dashboard/{$}":                          {path: "/dashboard/", want: 303},
		"GET /dashboard/overview":                     {path: "/dashboard/overview", want: 200},
		"GET /dashboard/register":                     {path: "/dashboard/register", want: 200},
		"GET /dashboard/register/art30/{format}":      {path: "/dashboard/register/art30/csv", want: 200},
		"GET /dashboard/requests":                     {path: "/dashboard/requests", want: 200},
		"POST /dashboard/requests/lookup":             {path: "/dashboard/requests/lookup", form: url.Values{"subject": {s.subject}}, want: 200},
		"GET /dashboard/requests/{id}":                {path: "/dashboard/requests/" + s.overdue, want: 200},
		"POST /dashboard/requests/{id}/change":        {path: "/dashboard/requests/" + s.soon + "/change", form: url.Values{"action": {"extend"}, "months": {"1"}, "reason": {"Many requests at once"}}, want: 303},
		"GET /dashboard/requests/{id}/certificate":    {path: "/dashboard/requests/" + s.overdue + "/certificate", want: 404},
		"GET /dashboard/breaches":                     {path: "/dashboard/breaches", want: 200},
		"GET /dashboard/breaches/{id}":                {path: "/dashboard/breaches/" + s.breach, want: 200},
		"GET /dashboard/breaches/{id}/notices/{kind}": {path: "/dashboard/breaches/" + s.breach + "/notices/controller?format=md", want: 200},
		"GET /dashboard/audit":                        {path: "/dashboard/audit", want: 200},
		"GET /dashboard/keys":                         {path: "/dashboard/keys", want: 200},
		"POST /dashboard/keys":                        {path: "/dashboard/keys", form: url.Values{"role": {"dpo"}}, want: 200},
		"POST /dashboard/keys/{id}/revoke":            {path: "/dashboard/keys/{id}/revoke", want: 303},
		"GET /dashboard/settings":                     {path: "/dashboard/settings", want: 200},
		"POST /dashboard/signout":                     {path: "/dashboard/signout", want: 303},
		"GET /dashboard/signin":                       {path: "/dashboard/signin", want: 200},
		"POST /dashboard/signin":                      {},
		"GET /dashboard/static/{file}":                {path: "/dashboard/static/dashboard.css", want: 200},
	}
}

// TestDashboardRoles signs in with each role and asks every dashboard
// route: the roles a page lists get its answer, the others 403; service
// and operator keys cannot sign in at all; no session means the sign-in
// page (GET) or 401 (POST).
func TestDashboardRoles(t *testing.T) {
	e := newEnv(t)
	s := seedDashboard(t, e)
	cases := dashboardCases(s)
	for _, role := range []garde.Role{garde.RoleService} {
		if r := dashtest.NewBrowser(t, e.ts).SignIn(e.a.Keys[role]); r.Status != http.StatusForbidden {
			t.Errorf("sign-in with a %s key = %d, want 403", role, r.Status)
		}
	}
	if r := dashtest.NewBrowser(t, e.ts).SignIn(e.operator); r.Status != http.StatusForbidden {
		t.Errorf("sign-in with the operator key = %d, want 403", r.Status)
	}
	if r := dashtest.NewBrowser(t, e.ts).SignIn("garde_aaaaaaaaaaaaaaaa_bbbb"); r.Status != http.StatusUnauthorized {
		t.Errorf("sign-in with an unknown key = %d, want 401", r.Status)
	}
	for _, rt := range e.dash.Pages() {
		name := rt.Method + " " + rt.Pattern
		c, ok := cases[name]
		if !ok {
			t.Errorf("dashboard route %s has no case in dashboardCases", name)
			continue
		}
		roles := dashboard.PageRoles(rt.Perm)
		if roles == nil {
			continue // public: sign-in, static files
		}
		// No session.
		anon := dashtest.NewBrowser(t, e.ts)
		if rt.Method == "GET" {
			if r := anon.Get(c.path); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/dashboard/signin") {
				t.Errorf("%s without a session = %d %s, want 303 to the sign-in page", name, r.Status, r.Header.Get("Location"))
			}
		} else if r := anon.Post(c.path, c.form); r.Status != http.StatusUnauthorized {
			t.Errorf("%s without a session = %d, want 401", name, r.Status)
		}
		for _, role := range []garde.Role{garde.RoleAdmin, garde.RoleDPO} {
			b := dashtest.NewBrowser(t, e.ts)
			if r := b.SignIn(e.a.Keys[role]); r.Status != http.StatusSeeOther {
				t.Fatalf("sign-in as %s = %d\n%s", role, r.Status, r.Body)
			}
			want := http.StatusForbidden
			if slices.Contains(roles, role) {
				want = c.want
			}
			path := c.path
			if strings.Contains(path, "{id}") {
				_, text, _ := e.svc.Tenancy.CreateAPIKey(context.Background(), e.a.Admin, "service")
				p, _ := e.svc.Authenticate(context.Background(), text)
				path = strings.Replace(path, "{id}", p.KeyID, 1)
			}
			var r dashtest.Response
			if rt.Method == "GET" {
				r = b.Get(path)
			} else {
				form := url.Values{"csrf": {b.CSRF}}
				for k, v := range c.form {
					form[k] = v
				}
				r = b.Post(path, form)
			}
			if r.Status != want && !(name == "POST /dashboard/requests/{id}/change" && r.Status == http.StatusConflict) {
				t.Errorf("%s as %s = %d, want %d\n%.300s", name, role, r.Status, want, r.Body)
			}
		}
	}
}

// TestDashboardCrossTenant signs in as tenant B's DPO and admin and
// checks, page by page, that nothing of tenant A shows or changes.
func TestDashboardCrossTenant(t *testing.T) {
	e := newEnv(t)
	s := seedDashboard(t, e)
	b := dashtest.NewBrowser(t, e.ts)
	if r := b.SignIn(e.b.Keys[garde.RoleAdmin]); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", r.Status)
	}
	aIDs := []string{s.overdue, s.soon, s.breach, string(e.a.ID), e.a.Admin.KeyID, e.a.DPO.KeyID, e.a.Service.KeyID}
	noA := func(name string, body []byte) {
		t.Helper()
		for _, id := range aIDs {
			if bytes.Contains(body, []byte(id)) {
				t.Errorf("%s: B's page shows A's %s", name, id)
			}
		}
		if name != "GET /dashboard/register" && bytes.Contains(body, []byte("Example SAS")) { // B's version 1 is the example register
			t.Errorf("%s: B's page shows A's controller", name)
		}
	}
	for name, c := range dashboardCases(s) {
		switch name {
		case "GET /dashboard/requests/{id}", "GET /dashboard/requests/{id}/certificate", "GET /dashboard/breaches/{id}", "GET /dashboard/breaches/{id}/notices/{kind}":
			r := b.Get(c.path)
			if r.Status != http.StatusNotFound {
				t.Errorf("%s: B's session reading A's resource = %d, want 404", name, r.Status)
			}
		case "POST /dashboard/requests/{id}/change":
			r := b.Post(c.path, url.Values{"csrf": {b.CSRF}, "action": {"extend"}, "months": {"1"}, "reason": {"x"}})
			if r.Status != http.StatusNotFound {
				t.Errorf("%s: B's session changing A's request = %d, want 404", name, r.Status)
			}
		case "POST /dashboard/keys/{id}/revoke":
			r := b.Post("/dashboard/keys/"+e.a.DPO.KeyID+"/revoke", url.Values{"csrf": {b.CSRF}})
			if r.Status != http.StatusNotFound {
				t.Errorf("%s: B's session revoking A's key = %d, want 404", name, r.Status)
			}
			if _, err := e.svc.Authenticate(context.Background(), e.a.Keys[garde.RoleDPO]); err != nil {
				t.Errorf("A's key was revoked by B: %v", err)
			}
		case "POST /dashboard/requests/lookup":
			r := b.Post(c.path, url.Values{"csrf": {b.CSRF}, "subject": {s.subject}})
			noA(name, r.Body)
		case "POST /dashboard/signout", "POST /dashboard/signin", "POST /dashboard/keys", "GET /dashboard/static/{file}", "GET /dashboard/signin":
		default:
			r := b.Get(c.path)
			noA(name, r.Body)
		}
	}
	// B's own resources are there.
	if r := b.Get("/dashboard/requests"); !bytes.Contains(r.Body, []byte(s.bRequest)) {
		t.Errorf("B's queue misses B's request")
	}
	if r := b.Get("/dashboard/breaches"); !bytes.Contains(r.Body, []byte(s.bBreach)) {
		t.Errorf("B's breach register misses B's breach")
	}
}

// TestDashboardSecurity checks the headers, cookies, CSRF, idle timeout,
// sign-out and that no personal data lands in URLs or logs.
func TestDashboardSecurity(t *testing.T) {
	e := newEnv(t)
	s := seedDashboard(t, e)
	b := dashtest.NewBrowser(t, e.ts)
	r := b.SignIn(e.a.Keys[garde.RoleDPO])
	if r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in = %d\n%s", r.Status, r.Body)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "garde_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict, not Secure over plain HTTP", session)
	}
	page := b.Get("/dashboard/overview")
	csp := page.Header.Get("Content-Security-Policy")
	if strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP = %q", csp)
	}
	if bytes.Contains(page.Body, []byte("<script>")) || bytes.Contains(page.Body, []byte(" style=")) || bytes.Contains(page.Body, []byte("<style")) {
		t.Errorf("the overview has inline script or style")
	}
	for _, want := range []string{s.overdue, s.soon, s.breach, "improve_replies"} {
		if !bytes.Contains(page.Body, []byte(want)) {
			t.Errorf("the overview misses %s", want)
		}
	}

	// CSRF: a POST without the token, or with another session's, fails.
	form := url.Values{"action": {"extend"}, "months": {"1"}, "reason": {"Busy"}}
	if r := b.Post("/dashboard/requests/"+s.soon+"/change", form); r.Status != http.StatusForbidden {
		t.Errorf("POST without CSRF token = %d, want 403", r.Status)
	}
	other := dashtest.NewBrowser(t, e.ts)
	other.SignIn(e.a.Keys[garde.RoleAdmin])
	form.Set("csrf", other.CSRF)
	if r := b.Post("/dashboard/requests/"+s.soon+"/change", form); r.Status != http.StatusForbidden {
		t.Errorf("POST with another session's token = %d, want 403", r.Status)
	}
	// The sign-in form's own token.
	if r := dashtest.NewBrowser(t, e.ts).Post("/dashboard/signin", url.Values{"key": {e.a.Keys[garde.RoleDPO]}}); r.Status != http.StatusForbidden {
		t.Errorf("sign-in without the form's token = %d, want 403", r.Status)
	}

	// Subject look-up: by POST, and the identifier is not echoed.
	b.Get("/dashboard/requests")
	r = b.Post("/dashboard/requests/lookup", url.Values{"csrf": {b.CSRF}, "subject": {s.subject}})
	if r.Status != 200 || !bytes.Contains(r.Body, []byte(s.overdue)) || bytes.Contains(r.Body, []byte(s.subject)) {
		t.Errorf("lookup = %d, finds the request: %v, echoes the identifier: %v", r.Status, bytes.Contains(r.Body, []byte(s.overdue)), bytes.Contains(r.Body, []byte(s.subject)))
	}
	if strings.Contains(e.logs.String(), s.subject) || strings.Contains(e.logs.String(), "jeanne") {
		t.Errorf("the logs hold the subject's identifier")
	}

	// Idle timeout on the service's clock.
	s.clock.Advance(dashboard.SessionIdle + time.Minute)
	if r := b.Get("/dashboard/overview"); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard/signin?expired=1" {
		t.Errorf("after the idle timeout = %d %s, want 303 to /dashboard/signin?expired=1", r.Status, r.Header.Get("Location"))
	}

	// A wrong key shows the form again, with why.
	bad := dashtest.NewBrowser(t, e.ts)
	if r := bad.SignIn("garde_aaaaaaaaaaaaaaaa_bbbb"); r.Status != http.StatusUnauthorized || !bytes.Contains(r.Body, []byte("was not accepted")) || !bytes.Contains(r.Body, []byte(`id="key"`)) {
		t.Errorf("sign-in with a wrong key = %d\n%.500s", r.Status, r.Body)
	}

	// Revoking a key from the dashboard ends the sessions opened with it.
	_, dpo2, err := e.svc.Tenancy.CreateAPIKey(context.Background(), e.a.Admin, "dpo")
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := e.svc.Authenticate(context.Background(), dpo2)
	victim, admin := dashtest.NewBrowser(t, e.ts), dashtest.NewBrowser(t, e.ts)
	victim.SignIn(dpo2)
	admin.SignIn(e.a.Keys[garde.RoleAdmin])
	if r := victim.Get("/dashboard/overview"); r.Status != 200 {
		t.Fatalf("second DPO's overview = %d", r.Status)
	}
	if r := admin.Post("/dashboard/keys/"+p2.KeyID+"/revoke", url.Values{"csrf": {admin.CSRF}}); r.Status != http.StatusSeeOther {
		t.Fatalf("revoke = %d", r.Status)
	}
	if r := victim.Get("/dashboard/overview"); r.Status != http.StatusSeeOther {
		t.Errorf("a revoked key's session = %d, want 303 to the sign-in page", r.Status)
	}

	// (Revoking it through the API ends them too: web/dashboard_test.go.)

	// Revoked elsewhere — another node, the command line — straight in the
	// database, with no word to this server's session store: the session
	// ends at its next request all the same.
	p4, dpo4, err := e.svc.Tenancy.CreateAPIKey(context.Background(), e.a.Admin, "dpo")
	if err != nil {
		t.Fatal(err)
	}
	victim4 := dashtest.NewBrowser(t, e.ts)
	victim4.SignIn(dpo4)
	if r := victim4.Get("/dashboard/overview"); r.Status != 200 {
		t.Fatalf("fourth DPO's overview = %d", r.Status)
	}
	if err := e.svc.Tenancy.RevokeAPIKey(context.Background(), e.a.Admin, p4.ID); err != nil {
		t.Fatal(err)
	}
	if r := victim4.Get("/dashboard/overview"); r.Status != http.StatusSeeOther {
		t.Errorf("the session of a key revoked on another node = %d, want 303 to the sign-in page", r.Status)
	}

	// Sign-out ends the session server-side: the old cookie is dead.
	b2 := dashtest.NewBrowser(t, e.ts)
	b2.SignIn(e.a.Keys[garde.RoleDPO])
	u, _ := url.Parse(e.ts.URL)
	cookies := b2.Client.Jar.Cookies(u)
	if r := b2.Post("/dashboard/signout", url.Values{"csrf": {b2.CSRF}}); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-out = %d", r.Status)
	}
	replay := dashtest.NewBrowser(t, e.ts)
	replay.Client.Jar.SetCookies(u, cookies)
	if r := replay.Get("/dashboard/overview"); r.Status != http.StatusSeeOther {
		t.Errorf("old session cookie after sign-out = %d, want 303", r.Status)
	}
}

// TestDashboardArt30 checks the exports' columns (the CNIL model's) and
// content, in both languages.
func TestDashboardArt30(t *testing.T) {
	e := newEnv(t)
	b := dashtest.NewBrowser(t, e.ts)
	b.SignIn(e.a.Keys[garde.RoleDPO])
	csv := b.Get("/dashboard/register/art30/csv?lang=fr")
	for _, want := range []string{"Nom / sigle de l’activité de traitement", "Finalité(s) du traitement effectué", "Catégories de données personnelles concernées", "Durée de conservation", "Registre du sous-traitant", "answer_support_request", "Example SAS", "Helpdesk SaaS (FR, processor)"} {
		if !strings.Contains(string(csv.Body), want) {
			t.Errorf("French CSV misses %q", want)
		}
	}
	x := b.Get("/dashboard/register/art30/xlsx?lang=en")
	if x.Status != 200 || x.Header.Get("Content-Type") != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Fatalf("xlsx = %d %s", x.Status, x.Header.Get("Content-Type"))
	}
	checkArt30Spreadsheet(t, x.Body)
	pdf := b.Get("/dashboard/register/art30/pdf")
	if pdf.Status != 200 || !bytes.HasPrefix(pdf.Body, []byte("%PDF")) || !bytes.Contains(pdf.Body, []byte("answer_support_request")) {
		t.Errorf("pdf = %d, %d bytes", pdf.Status, len(pdf.Body))
	}
	if r := b.Get("/dashboard/register/art30/docx"); r.Status != http.StatusNotFound {
		t.Errorf("unknown format = %d, want 404", r.Status)
	}
}

// checkArt30Spreadsheet reads an English Art. 30 spreadsheet of the
// example register.
func checkArt30Spreadsheet(t *testing.T, data []byte) {
	t.Helper()
	f, err := excelize.OpenReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("excelize: %v", err)
	}
	defer f.Close()
	if got, want := f.GetSheetList(), []string{dashboard.SheetOrganisation, dashboard.SheetActivities, dashboard.SheetProcessor}; !slices.Equal(got, want) {
		t.Fatalf("sheets = %v, want %v", got, want)
	}
	rows, err := f.GetRows(dashboard.SheetActivities)
	if err != nil {
		t.Fatal(err)
	}
	wantHead := []string{"Reference", "Name of the processing activity", "Created on", "Last updated on", "Controller", "Data protection officer",
		"Purpose(s) of the processing", "Legal basis", "Categories of data subjects", "Categories of personal data", "Sensitive data (Art. 9 and 10)",
		"Retention period", "Recipients (internal, external, processors)", "Transfers outside the EU (country, safeguards)", "Security measures"}
	if len(rows) != 3 || !slices.Equal(rows[0], wantHead) {
		t.Fatalf("activities = %q", rows)
	}
	row := rows[1]
	if row[0] != "answer_support_request" || row[7] != "contract" || !strings.Contains(row[4], "Example SAS") || !strings.Contains(row[5], "Camille Durand") ||
		!strings.Contains(row[9], "user.contact.email") || row[12] != "Helpdesk SaaS (FR, processor)" || row[8] != "customer" {
		t.Errorf("answer_support_request row = %q", row)
	}
	if rows[2][0] != "improve_replies" || rows[2][7] != "consent" {
		t.Errorf("improve_replies row = %q", rows[2])
	}
	proc, _ := f.GetRows(dashboard.SheetProcessor)
	if len(proc) < 3 || !strings.Contains(proc[2][1], "Example SAS") {
		t.Errorf("processor sheet = %q", proc)
	}
}

// TestDashboardClockAndCertificate: a breach clock past its 72 hours
// shows late; an executed erasure offers its signed certificate.
func TestDashboardClockAndCertificate(t *testing.T) {
	e := newEnv(t)
	s := seedDashboard(t, e)
	ctx := context.Background()
	f, err := e.svc.Rights.FileRequest(ctx, e.a.DPO, rights.NewRequest{Subject: "shared", Type: garde.RequestErasure})
	if err != nil {
		t.Fatal(err)
	}
	if f.Token != "" {
		if _, err := e.svc.Rights.VerifyRequest(ctx, f.Token); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.Rights.ProcessRequest(ctx, e.a.ID, f.Request.ID); err != nil {
		t.Fatal(err)
	}
	s.clock.Advance(2*time.Hour + time.Minute)
	b := dashtest.NewBrowser(t, e.ts)
	b.SignIn(e.a.Keys[garde.RoleDPO])
	page := b.Get("/dashboard/breaches/" + s.breach)
	if !bytes.Contains(page.Body, []byte(`class="bigclock late"`)) || !bytes.Contains(page.Body, []byte("min late")) {
		t.Errorf("breach page after the deadline:\n%s", page.Body)
	}
	if ov := b.Get("/dashboard/overview"); !bytes.Contains(ov.Body, []byte(`<li class="late">`)) {
		t.Errorf("overview does not show the late clock")
	}
	rp := b.Get("/dashboard/requests/" + f.Request.ID)
	if !bytes.Contains(rp.Body, []byte("/certificate")) {
		t.Fatalf("erasure request page offers no certificate:\n%.2000s", rp.Body)
	}
	cert := b.Get("/dashboard/requests/" + f.Request.ID + "/certificate")
	if cert.Status != 200 || !strings.Contains(cert.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("certificate = %d %s", cert.Status, cert.Header.Get("Content-Disposition"))
	}
	req, _ := e.svc.Rights.Request(ctx, e.a.DPO, f.Request.ID)
	if !bytes.Equal(cert.Body, req.Certificate) {
		t.Errorf("certificate body differs from the stored one")
	}
}
