package web_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/garde-privacy/garde"
)

var updateMatrix = flag.Bool("update-matrix", false, "rewrite testdata/authz_matrix.txt from the server's answers")

// TestAuthorizationMatrix asks every route, generated from Routes(), with
// every role of the tenant that owns the resources named in the request
// ("own") and of another tenant ("other"), the operator's key, and no,
// malformed, unknown and revoked keys, and compares every status with
// testdata/authz_matrix.txt. A new route, a changed role list or a changed
// answer shows up as a diff to review (-update-matrix rewrites the file).
//
// Beyond the exact statuses, it checks invariants that hold whatever the
// file says: a role the route does not list gets 403, every bad credential
// gets 401, and another tenant's key never gets the owner's success on a
// route naming an owned resource by id.
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, revokedText, _ := e.svc.Tenancy.CreateAPIKey(ctx, e.a.Admin, "service")
	revoked, _ := e.svc.Authenticate(ctx, revokedText)
	if err := e.svc.Tenancy.RevokeAPIKey(ctx, e.a.Admin, revoked.KeyID); err != nil {
		t.Fatal(err)
	}
	roles := []garde.Role{garde.RoleAdmin, garde.RoleService, garde.RoleDPO}
	reqs := validRequests(e)
	var lines []string
	for _, rt := range e.srv.Routes() {
		name := rt.Method + " " + rt.Pattern
		if len(rt.Roles()) == 0 {
			r := e.request("", rt.Method, rt.Pattern, "")
			lines = append(lines, fmt.Sprintf("%-48s public=%d", name, r.status))
			continue
		}
		req, ok := reqs[name]
		if !ok {
			t.Errorf("route %s has no entry in validRequests", name)
			continue
		}
		// The path of a request, with a fresh key of tenant A for {id}.
		path := func() string {
			p := req[0]
			if strings.Contains(p, "{id}") {
				_, text, _ := e.svc.Tenancy.CreateAPIKey(ctx, e.a.Admin, "service")
				k, _ := e.svc.Authenticate(ctx, text)
				p = strings.Replace(p, "{id}", k.KeyID, 1)
			}
			return p
		}
		byID := strings.Contains(rt.Pattern, "{id}") || strings.Contains(rt.Pattern, "{breach}") || strings.Contains(rt.Pattern, "{request}") || strings.Contains(rt.Pattern, "{message}")
		cells := []string{fmt.Sprintf("%-48s", name)}
		ask := func(label, key string, allowed bool) int {
			r := e.request(key, rt.Method, path(), req[1])
			cells = append(cells, fmt.Sprintf("%s=%d", label, r.status))
			if !allowed && r.status != 403 {
				t.Errorf("%s as %s = %d, want 403 (role not listed)\n%s", name, label, r.status, r.body)
			}
			return r.status
		}
		for _, role := range roles {
			allowed := slices.Contains(rt.Roles(), role)
			own := ask(string(role)+"/own", e.a.Keys[role], allowed)
			other := ask(string(role)+"/other", e.b.Keys[role], allowed)
			if allowed && byID && own == rt.Status && other == rt.Status {
				t.Errorf("%s: tenant B's %s key gets %d on tenant A's resource", name, role, other)
			}
		}
		ask("operator", e.operator, slices.Contains(rt.Roles(), garde.RoleOperator))
		for _, bad := range []struct{ label, key string }{{"none", ""}, {"malformed", "nope"}, {"unknown", "garde_aaaaaaaaaaaaaaaa_bbbb"}, {"revoked", revokedText}} {
			r := e.request(bad.key, rt.Method, path(), req[1])
			if r.status != 401 || r.header.Get("Content-Type") != "application/problem+json" || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s with %s key = %d %s, want 401 problem+json with WWW-Authenticate", name, bad.label, r.status, r.header.Get("Content-Type"))
			}
		}
		cells = append(cells, "bad-keys=401")
		lines = append(lines, strings.Join(cells, " "))
	}
	got := strings.Join(lines, "\n") + "\n"
	golden := filepath.Join("testdata", "authz_matrix.txt")
	if *updateMatrix {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update-matrix to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("matrix line %d:\n got  %s\n want %s", i+1, g, w)
			}
		}
	}
}
