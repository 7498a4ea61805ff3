package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde"
)

// TestCommandsEnterTheGate runs every command of the usage text (with -h,
// so that none does its work) and proves that run entered the gate with
// the command's operation before anything else; a command of the usage
// text without a row in the command table fails, as does a table entry
// whose operation has no row in the gate. A command that works over the
// API names an operation of a route, never one of the host.
func TestCommandsEnterTheGate(t *testing.T) {
	var mu sync.Mutex
	entered := map[garde.Op]bool{}
	stop := garde.ObserveGate(func(op garde.Op, c garde.Check) {
		mu.Lock()
		defer mu.Unlock()
		if c == 0 {
			entered[op] = true
		}
	})
	defer stop()

	// Each usage line names a command: "garde breach list|create|…" names
	// several.
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  garde ([a-z][a-z-]*(?: [a-z][a-z|-]*)?)`).FindAllStringSubmatch(usage, -1) {
		words := strings.Fields(m[1])
		if len(words) == 2 && strings.Contains(words[1], "|") {
			for _, sub := range strings.Split(words[1], "|") {
				names = append(names, words[0]+" "+sub)
			}
			continue
		}
		names = append(names, m[1])
	}
	if len(names) < 15 {
		t.Fatalf("found only %d commands in the usage text: %v", len(names), names)
	}
	for _, name := range names {
		args := strings.Fields(name)
		c, ok := lookupCommand(args)
		if !ok {
			t.Errorf("garde %s has no entry in the command table (commands.go)", name)
			continue
		}
		rule, ok := c.op.Rule()
		if !ok {
			t.Errorf("garde %s: operation %q has no row in the gate", name, c.op)
			continue
		}
		if c.overAPI {
			if rule.Perm == garde.PermHost {
				t.Errorf("garde %s works over the API but names the host operation %s", name, c.op)
			}
			continue
		}
		mu.Lock()
		clear(entered)
		mu.Unlock()
		var out, errOut bytes.Buffer
		_ = run(context.Background(), append(args, "-h"), func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
		mu.Lock()
		if !entered[c.op] {
			t.Errorf("garde %s did not enter the gate with %s (entered %v)", name, c.op, entered)
		}
		mu.Unlock()
	}
}

// TestGateRefusesATenantKeyOnTheHost: the host's operations are the
// command line's; no API key's principal — a tenant's or the operator's —
// can enter them.
func TestGateRefusesATenantKeyOnTheHost(t *testing.T) {
	for _, c := range commands {
		if rule, _ := c.op.Rule(); rule.Perm != garde.PermHost {
			continue
		}
		for _, role := range garde.TenantRoles {
			if _, err := garde.Enter(garde.Principal{Tenant: "ten_x", Role: role, KeyID: "k"}, c.op); err == nil {
				t.Errorf("a %s key entered %s", role, c.op)
			}
		}
		if _, err := garde.Enter(garde.Principal{Role: garde.RoleOperator, KeyID: "op_key"}, c.op); err == nil {
			t.Errorf("an operator key entered %s", c.op)
		}
		if _, err := garde.Enter(cliHost, c.op); err != nil {
			t.Errorf("the host cannot enter %s: %v", c.op, err)
		}
	}
}
