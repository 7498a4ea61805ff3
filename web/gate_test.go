package web_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde"
)

// TestRoutesEnterTheGate calls every route of the API, as a role it lists
// and with a valid request, and proves that its use case entered the gate
// (garde.Enter) with the route's operation and ran every check of that
// operation's row — the purpose, the erasure, the restriction and the
// consent checks where the row lists them. A route without an operation
// must need no credential and enter no operation; no route may carry an
// operation of the command line (PermHost). A new route that forgets its
// operation, names the wrong one, or whose use case skips the gate fails
// here.
func TestRoutesEnterTheGate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	reqs := validRequests(e)
	var mu sync.Mutex
	seen := map[garde.Op]garde.Check{}
	entered := map[garde.Op]bool{}
	var first garde.Op // the first operation a request entered
	stop := garde.ObserveGate(func(op garde.Op, c garde.Check) {
		mu.Lock()
		defer mu.Unlock()
		if c == 0 {
			entered[op] = true
			if first == "" {
				first = op
			}
		}
		seen[op] |= c
	})
	defer stop()
	reset := func() {
		mu.Lock()
		defer mu.Unlock()
		clear(seen)
		clear(entered)
		first = ""
	}
	for _, rt := range e.srv.Routes() {
		if rt.Dashboard {
			continue // web/dashboard's pages call the same use cases
		}
		name := rt.Method + " " + rt.Pattern
		if rt.Op == "" {
			if len(rt.Roles()) != 0 {
				t.Errorf("%s has roles but no operation", name)
			}
			reset()
			e.request("", rt.Method, rt.Pattern, "")
			mu.Lock()
			if len(entered) > 0 {
				t.Errorf("%s has no operation but entered %v", name, entered)
			}
			mu.Unlock()
			continue
		}
		rule, ok := rt.Op.Rule()
		if !ok {
			t.Errorf("%s: operation %q has no row in the gate", name, rt.Op)
			continue
		}
		if rule.Perm == garde.PermHost {
			t.Errorf("%s carries %s, an operation of the command line", name, rt.Op)
		}
		key, path, body := "", rt.Pattern, ""
		if req, ok := reqs[name]; ok {
			path, body = req[0], req[1]
		}
		if strings.Contains(path, "{id}") {
			_, text, _ := e.svc.Tenancy.CreateAPIKey(ctx, e.a.Admin, "service")
			k, _ := e.svc.Authenticate(ctx, text)
			path = strings.Replace(path, "{id}", k.KeyID, 1)
		}
		if roles := rt.Roles(); len(roles) > 0 {
			if roles[0] == garde.RoleOperator {
				key = e.operator
			} else {
				key = e.a.Keys[roles[0]]
			}
		}
		reset()
		r := e.request(key, rt.Method, path, body)
		mu.Lock()
		if !entered[rt.Op] {
			t.Errorf("%s (%d) did not enter the gate with %s; entered %v", name, r.status, rt.Op, entered)
		} else if first != rt.Op {
			t.Errorf("%s entered %s before its own operation %s", name, first, rt.Op)
		} else if missing := rule.Checks &^ seen[rt.Op]; missing != 0 {
			t.Errorf("%s (%d) entered %s but skipped checks %08b of its row %08b\n%s", name, r.status, rt.Op, missing, rule.Checks, r.body)
		}
		mu.Unlock()
	}
}

// TestGateRefusesAnOperationWithoutRow: an operation no row names cannot
// be entered, whoever asks.
func TestGateRefusesAnOperationWithoutRow(t *testing.T) {
	e := newEnv(t)
	if _, err := garde.Enter(e.a.Admin, garde.Op("message.bulk_export")); err == nil {
		t.Fatal("Enter(an operation without a row) = nil, want an error")
	}
	for _, op := range garde.Ops() {
		if _, ok := op.Rule(); !ok {
			t.Errorf("Ops lists %s without a row", op)
		}
	}
}
