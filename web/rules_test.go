package web_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web"
	"github.com/garde-privacy/garde/web/dashboard"
)

// docRows returns the rows (cells trimmed, header dropped) of the Markdown
// table whose header line starts with header, in docs/page.
func docRows(t *testing.T, page, header string) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	start := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, header) })
	if start < 0 {
		t.Fatalf("docs/%s has no table %q", page, header)
	}
	var rows [][]string
	for _, l := range lines[start+1:] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		// A cell may hold an escaped bar (`a\|b`): keep it in its cell.
		cells := strings.Split(strings.Trim(strings.ReplaceAll(l, `\|`, "\x00"), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(strings.ReplaceAll(cells[i], "\x00", "|"))
		}
		if strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows = append(rows, cells)
	}
	return rows
}

// docRoles reads a roles cell ("admin, service, dpo", "none", "admin, DPO")
// as a sorted list.
func docRoles(cell string) []string {
	if cell == "none" {
		return nil
	}
	var out []string
	for _, r := range strings.Split(cell, ",") {
		out = append(out, strings.ToLower(strings.TrimSpace(r)))
	}
	slices.Sort(out)
	return out
}

func roleNames(rs []garde.Role) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r))
	}
	slices.Sort(out)
	return out
}

// TestDocsRouteRoles: the roles the docs give each route are the roles of
// the permission its use case checks (Route.Roles, from garde.Permission),
// and docs/api.md lists every route of the API. A role matrix edited in
// one place only shows up here as a diff.
func TestDocsRouteRoles(t *testing.T) {
	e := newEnv(t)
	routes := map[string]web.Route{}
	for _, rt := range e.srv.Routes() {
		if !rt.Dashboard {
			routes[rt.Method+" "+rt.Pattern] = rt
		}
	}
	for _, tbl := range []struct{ page, header string }{
		{"api.md", "| method and path | roles |"},
		{"consent.md", "| route | roles |"},
	} {
		listed := map[string]bool{}
		for _, row := range docRows(t, tbl.page, tbl.header) {
			// "`GET /v1/register[?version=N]`": the method and the pattern.
			name := strings.Trim(row[0], "`")
			if i := strings.IndexAny(name, "?["); i >= 0 {
				name = name[:i]
			}
			rt, ok := routes[name]
			if !ok {
				t.Errorf("docs/%s lists %s, which is no route", tbl.page, name)
				continue
			}
			listed[name] = true
			if got, want := docRoles(row[1]), roleNames(rt.Roles()); !slices.Equal(got, want) {
				t.Errorf("docs/%s: %s roles %v, want %v (permission %s)", tbl.page, name, got, want, rt.Op.Perm())
			}
		}
		if tbl.page != "api.md" {
			continue
		}
		for name, rt := range routes {
			if !listed[name] {
				roles := strings.Join(roleNames(rt.Roles()), ", ")
				if roles == "" {
					roles = "none"
				}
				t.Errorf("docs/api.md does not list %s; add:\n| `%s` | %s | %s |", name, name, roles, rt.Summary)
			}
		}
	}
}

// TestDocsDashboardPageRoles: the "who" column of docs/dashboard.md's
// pages is what each page lets in.
func TestDocsDashboardPageRoles(t *testing.T) {
	e := newEnv(t)
	pages := map[string]string{
		"Overview": "GET /dashboard/overview", "Register": "GET /dashboard/register",
		"Requests": "GET /dashboard/requests", "Breaches": "GET /dashboard/breaches",
		"Audit": "GET /dashboard/audit", "API keys": "GET /dashboard/keys", "Settings": "GET /dashboard/settings",
	}
	perms := map[string]garde.Permission{}
	for _, rt := range e.srv.Routes() {
		perms[rt.Method+" "+rt.Pattern] = rt.Perm
	}
	rows := docRows(t, "dashboard.md", "| page | what it shows | who |")
	if len(rows) != len(pages) {
		t.Errorf("docs/dashboard.md lists %d pages, want %d", len(rows), len(pages))
	}
	for _, row := range rows {
		route, ok := pages[row[0]]
		if !ok {
			t.Errorf("docs/dashboard.md lists page %q, which the test does not know", row[0])
			continue
		}
		if got, want := docRoles(row[2]), roleNames(dashboard.PageRoles(perms[route])); !slices.Equal(got, want) {
			t.Errorf("docs/dashboard.md: %s is for %v, want %v", row[0], got, want)
		}
	}
}
