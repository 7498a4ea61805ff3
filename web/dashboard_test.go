package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/dashboard"
	"github.com/garde-privacy/garde/web/internal/dashtest"
)

// The dashboard's pages are tested in web/dashboard; here, what the
// server adds when it mounts them: its route table, headers, the API's
// key revocation.

// browser is dashtest's browser, answering with this package's response.
type browser struct{ *dashtest.Browser }

func newBrowser(t *testing.T, ts *httptest.Server) browser {
	return browser{dashtest.NewBrowser(t, ts)}
}

func (b browser) get(path string) response {
	r := b.Get(path)
	return response{r.Status, r.Header, r.Body}
}
func (b browser) post(path string, form url.Values) response {
	r := b.Post(path, form)
	return response{r.Status, r.Header, r.Body}
}
func (b browser) signIn(key string) response {
	r := b.SignIn(key)
	return response{r.Status, r.Header, r.Body}
}

// TestDashboardMounted: the route table holds every page of the
// dashboard, marked Dashboard, with the page's permission.
func TestDashboardMounted(t *testing.T) {
	e := newEnv(t)
	routes := map[string]garde.Permission{}
	for _, rt := range e.srv.Routes() {
		if rt.Dashboard {
			routes[rt.Method+" "+rt.Pattern] = rt.Perm
		}
	}
	d := dashboard.New(dashboard.Config{Service: e.svc, SignIn: func(http.ResponseWriter, *http.Request, string) (garde.Principal, error) {
		return garde.Principal{}, nil
	}})
	for _, pg := range d.Pages() {
		name := pg.Method + " " + pg.Pattern
		if perm, ok := routes[name]; !ok || perm != pg.Perm {
			t.Errorf("route table: %s mounted %v with permission %q, want %q", name, ok, perm, pg.Perm)
		}
		delete(routes, name)
	}
	for name := range routes {
		t.Errorf("route table: %s is marked Dashboard but is no page of the dashboard", name)
	}
}

// TestDashboardSessionsEndOnAPIRevoke: revoking a key through the API
// (DELETE /v1/keys/{id}) ends the dashboard sessions opened with it, as
// the dashboard's own revoke does.
func TestDashboardSessionsEndOnAPIRevoke(t *testing.T) {
	e := newEnv(t)
	// Revoking it through the API (DELETE /v1/keys/{id}) ends them too: a
	// leaked key, once revoked, must not keep the dashboard open.
	p3, dpo3, err := e.svc.Tenancy.CreateAPIKey(context.Background(), e.a.Admin, "dpo")
	if err != nil {
		t.Fatal(err)
	}
	victim3 := newBrowser(t, e.ts)
	victim3.signIn(dpo3)
	if r := victim3.get("/dashboard/overview"); r.status != 200 {
		t.Fatalf("third DPO's overview = %d", r.status)
	}
	del, _ := http.NewRequest("DELETE", e.ts.URL+"/v1/keys/"+p3.ID, nil)
	del.Header.Set("Authorization", "Bearer "+e.a.Keys[garde.RoleAdmin])
	res, err := e.ts.Client().Do(del)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE /v1/keys/{id} = %d", res.StatusCode)
	}
	if r := victim3.get("/dashboard/overview"); r.status != http.StatusSeeOther {
		t.Errorf("the session of a key revoked through the API = %d, want 303 to the sign-in page", r.status)
	}

}

func TestDashboardTLSCookieAndHSTS(t *testing.T) {
	e := newEnv(t)
	ts := httptest.NewTLSServer(e.srv)
	t.Cleanup(ts.Close)
	b := newBrowser(t, ts)
	r := b.signIn(e.a.Keys[garde.RoleDPO])
	if r.status != http.StatusSeeOther {
		t.Fatalf("sign-in = %d", r.status)
	}
	var session *http.Cookie
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == "__Host-garde_session" {
			session = c
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly || session.Path != "/" {
		t.Fatalf("session cookie under TLS = %+v, want __Host-, Secure, HttpOnly", session)
	}
	if h := b.get("/dashboard/overview").header.Get("Strict-Transport-Security"); h == "" {
		t.Errorf("no HSTS under TLS")
	}
}
