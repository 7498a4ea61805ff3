package dashboard_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/dashboard"
	"github.com/garde-privacy/garde/web/internal/dashtest"
)

// TestDashboardPagesEnterTheGate: every page behind a session, asked by a
// role it lets in, reads or writes through use cases that enter the gate
// (garde.Enter) — at least one operation, each one its role may run. A
// page that read the store, or a use case, around the gate fails here.
func TestDashboardPagesEnterTheGate(t *testing.T) {
	e := newEnv(t)
	s := seedDashboard(t, e)
	cases := dashboardCases(s)
	var mu sync.Mutex
	var entered []garde.Op
	stop := garde.ObserveGate(func(op garde.Op, c garde.Check) {
		if c == 0 {
			mu.Lock()
			entered = append(entered, op)
			mu.Unlock()
		}
	})
	defer stop()
	// Pages behind a session that touch no data.
	noData := map[string]bool{"POST /dashboard/signout": true}
	for _, rt := range e.dash.Pages() {
		name := rt.Method + " " + rt.Pattern
		c, ok := cases[name]
		if noData[name] {
			continue
		}
		roles := dashboard.PageRoles(rt.Perm)
		if !ok || roles == nil || c.want == http.StatusSeeOther && rt.Method == "GET" {
			continue // public, or a redirect that shows nothing (TestDashboardRoles covers both)
		}
		role := roles[0]
		b := dashtest.NewBrowser(t, e.ts)
		if r := b.SignIn(e.a.Keys[role]); r.Status != http.StatusSeeOther {
			t.Fatalf("sign-in as %s = %d", role, r.Status)
		}
		path := c.path
		if strings.Contains(path, "{id}") {
			_, text, _ := e.svc.Tenancy.CreateAPIKey(context.Background(), e.a.Admin, "service")
			p, _ := e.svc.Authenticate(context.Background(), text)
			path = strings.Replace(path, "{id}", p.KeyID, 1)
		}
		mu.Lock()
		entered = nil
		mu.Unlock()
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
		mu.Lock()
		got := slices.Clone(entered)
		mu.Unlock()
		if len(got) == 0 {
			t.Errorf("%s as %s (%d) entered no operation of the gate", name, role, r.Status)
		}
		for _, op := range got {
			if !slices.Contains(op.Roles(), role) {
				t.Errorf("%s as %s entered %s, which the role may not run", name, role, op)
			}
		}
	}
}
