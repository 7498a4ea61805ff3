package dashboard_test

import (
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/dashboard"
	"github.com/garde-privacy/garde/web/internal/dashtest"
)

// TestDashboardAuditFilterListsEveryAction: the audit search's action
// filter offers every action a tenant's trail can hold (it lacked eight
// before the list had one definition), and none it cannot.
func TestDashboardAuditFilterListsEveryAction(t *testing.T) {
	e := newEnv(t)
	for _, lang := range []string{"en", "fr"} {
		b := dashtest.NewBrowser(t, e.ts)
		if r := b.SignIn(e.a.Keys[garde.RoleDPO]); r.Status != http.StatusSeeOther {
			t.Fatalf("sign-in = %d", r.Status)
		}
		r := b.Get("/dashboard/audit?lang=" + lang)
		if r.Status != http.StatusOK {
			t.Fatalf("audit page = %d", r.Status)
		}
		page := string(r.Body)
		if want := map[string]string{"en": "the last 7 days are shown", "fr": "les 7 derniers jours"}[lang]; !strings.Contains(page, want) {
			t.Errorf("%s: the audit page does not say %q", lang, want)
		}
		for _, a := range garde.AuditActions {
			option := fmt.Sprintf(`<option value="%s">%s — `, a.Action, a.Action)
			label := a.Label
			if lang == "fr" {
				label = a.LabelFR
			}
			has := strings.Contains(page, option)
			if has == a.Operator {
				t.Errorf("%s: the audit filter offers %s: %v, want %v", lang, a.Action, has, !a.Operator)
			}
			if has && !strings.Contains(page, option+template.HTMLEscapeString(label)+"</option>") {
				t.Errorf("%s: the audit filter's option %s is not labelled %q", lang, a.Action, label)
			}
		}
	}
}

// TestDashboardLabelsEveryStatus: the dashboard names every request status
// of garde.RequestStatuses, in both languages (a status added there shows
// up here until it has its labels).
func TestDashboardLabelsEveryStatus(t *testing.T) {
	for _, lang := range []string{"en", "fr"} {
		for _, st := range garde.RequestStatuses {
			if s, ok := dashboard.Label(lang, "status."+st); !ok || s == "" {
				t.Errorf("catalogue %s has no label for status %s", lang, st)
			}
		}
	}
}

// TestDashboardMenuFollowsPages: the menu shows a role exactly the pages
// that let it in (the menu and the pages read the same permission).
func TestDashboardMenuFollowsPages(t *testing.T) {
	e := newEnv(t)
	for _, role := range []garde.Role{garde.RoleAdmin, garde.RoleDPO} {
		b := dashtest.NewBrowser(t, e.ts)
		if r := b.SignIn(e.a.Keys[role]); r.Status != http.StatusSeeOther {
			t.Fatalf("sign-in as %s = %d", role, r.Status)
		}
		menu := string(b.Get("/dashboard/overview").Body)
		for _, name := range []string{"overview", "register", "requests", "breaches", "audit", "keys", "settings"} {
			shown := strings.Contains(menu, `<li><a href="/dashboard/`+name+`"`)
			opens := b.Get("/dashboard/"+name).Status == http.StatusOK
			if shown != opens {
				t.Errorf("%s: menu shows %s: %v, the page opens: %v", role, name, shown, opens)
			}
		}
	}
}
