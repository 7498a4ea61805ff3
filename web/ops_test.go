package web_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
	"github.com/garde-privacy/garde/web"
)

// TestRevokeLastAdminKey: DELETE /v1/keys/{id} of the tenant's last valid
// admin key is a 409 problem naming why, and the key keeps working; two
// admins revoking each other at once leave one of them (on PostgreSQL too,
// with GARDE_TEST_STORE=postgres).
func TestRevokeLastAdminKey(t *testing.T) {
	e := newEnv(t)
	admin := e.a.Keys[garde.RoleAdmin]
	id := e.a.Admin.KeyID
	r := e.do(admin, "DELETE", "/v1/keys/"+id, "", http.StatusConflict)
	p := r.json(t)
	if p["type"] != "urn:garde:problem:last-admin-key" || r.header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(p["detail"].(string), "last admin key") {
		t.Fatalf("409 body = %s %s, want a last-admin-key problem saying why", r.header.Get("Content-Type"), r.body)
	}
	e.do(admin, "GET", "/v1/keys", "", http.StatusOK)
	// The dashboard's keys page refuses it the same way.
	b := newBrowser(t, e.ts)
	b.signIn(admin)
	if r := b.post("/dashboard/keys/"+id+"/revoke", url.Values{"csrf": {b.CSRF}}); r.status != http.StatusConflict || !bytes.Contains(r.body, []byte("last admin key")) {
		t.Fatalf("dashboard revoke of the last admin key = %d\n%.300s", r.status, r.body)
	}
	e.do(admin, "GET", "/v1/keys", "", http.StatusOK)

	// A second admin: now either may go, but not both, even at once.
	second := e.do(admin, "POST", "/v1/keys", `{"role":"admin"}`, http.StatusCreated).json(t)
	key2, id2 := second["key"].(string), second["id"].(string)
	codes := make([]int, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range [][2]string{{admin, id2}, {key2, id}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = e.request(c[0], "DELETE", "/v1/keys/"+c[1], "").status
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case http.StatusNoContent:
			ok++
		case http.StatusConflict, http.StatusUnauthorized: // 401: its own key was revoked first
		default:
			t.Fatalf("concurrent revocations answered %v", codes)
		}
	}
	if ok != 1 {
		t.Fatalf("concurrent revocations of the last two admin keys answered %v: want exactly one 204", codes)
	}
	left := 0
	for _, k := range []string{admin, key2} {
		if e.request(k, "GET", "/v1/keys", "").status == http.StatusOK {
			left++
		}
	}
	if left != 1 {
		t.Fatalf("%d admin keys still work after the race, want 1", left)
	}
}

// lockoutEnv is a server with a lock-out of 3 failures, behind a trusted
// proxy (loopback) so that each request names its client address in
// X-Forwarded-For, with two tenants.
type lockoutEnv struct {
	*limitEnv
	svc *app.Service
	b   gardetest.Tenant
}

func newLockoutEnv(t *testing.T) *lockoutEnv {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	svc := app.New(db, gardetest.MasterKeys(t), clock)
	logs := &bytes.Buffer{}
	l := web.Limits{LockoutFailures: 3, Now: clock.Now, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	ts := httptest.NewServer(web.NewServer(svc, slog.New(slog.NewJSONHandler(logs, nil)), web.Options{Limits: l}))
	t.Cleanup(ts.Close)
	return &lockoutEnv{
		limitEnv: &limitEnv{t: t, ts: ts, db: db, clock: clock, a: gardetest.NewTenant(t, svc, "A"), logs: logs},
		svc:      svc, b: gardetest.NewTenant(t, svc, "B"),
	}
}

// from sends GET /v1/register with key from the client address addr.
func (e *lockoutEnv) from(addr, key string) int {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.ts.URL+"/v1/register", nil)
	req.Header.Set("X-Forwarded-For", addr)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func (e *lockoutEnv) want(addr, key string, want int) {
	e.t.Helper()
	if got := e.from(addr, key); got != want {
		e.t.Fatalf("GET /v1/register from %s = %d, want %d", addr, got, want)
	}
}

// lockouts lists the auth.lockout events of a tenant's trail.
func (e *lockoutEnv) lockouts(tenant garde.TenantID) []garde.AuditEvent {
	e.t.Helper()
	var evs []garde.AuditEvent
	err := e.db.View(context.Background(), func(tx garde.Tx) error {
		var err error
		evs, err = tx.Audit(context.Background(), tenant, garde.AuditFilter{Action: garde.ActionAuthLockout, Limit: 100})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func wrongSecret(key string) string { return key[:len(key)-4] + "zzzz" }

// TestLockoutPolicy: each failure counts against what it aimed at (web/limit.go).
func TestLockoutPolicy(t *testing.T) {
	const nat = "198.51.100.7"

	t.Run("one tenant attacked from a shared address", func(t *testing.T) {
		e := newLockoutEnv(t)
		// An attacker behind a NAT guesses at A's keys (three prefixes, one
		// guess each: no key reaches its own limit).
		for _, role := range []garde.Role{garde.RoleAdmin, garde.RoleService, garde.RoleDPO} {
			e.want(nat, wrongSecret(e.a.Keys[role]), 401)
		}
		e.want(nat, e.a.Keys[garde.RoleDPO], 429)              // A is locked at that address, even a good key
		e.want(nat, wrongSecret(e.a.Keys[garde.RoleDPO]), 429) // and guesses learn no more
		e.want(nat, e.b.Keys[garde.RoleDPO], 200)              // B's users behind the same NAT are not
		e.want("198.51.100.8", e.a.Keys[garde.RoleDPO], 200)   // nor is A elsewhere
		e.want(nat, "garde_unknown_key", 401)                  // the address itself is not locked
		evs := e.lockouts(e.a.ID)
		if len(evs) != 1 || !strings.HasPrefix(evs[0].Reason, "tenant_at_addr locked_until") || !strings.HasPrefix(evs[0].Actor, "addr_") || evs[0].Count != 3 {
			t.Fatalf("A's lock-out events = %+v, want one tenant_at_addr lock by an address pseudonym", evs)
		}
		if len(e.lockouts(e.b.ID)) != 0 {
			t.Error("B's trail has a lock-out")
		}
		if strings.Contains(e.logs.String(), nat) {
			t.Errorf("the log carries the client address:\n%s", e.logs.String())
		}
		e.clock.Advance(5 * time.Minute)
		e.want(nat, e.a.Keys[garde.RoleDPO], 200)
	})

	t.Run("one key attacked from many addresses", func(t *testing.T) {
		e := newLockoutEnv(t)
		svc := e.a.Keys[garde.RoleService]
		for _, addr := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.3"} {
			e.want(addr, wrongSecret(svc), 401)
		}
		e.want("203.0.113.50", svc, 429)                    // walking addresses does not multiply the tries at a key
		e.want("203.0.113.1", e.a.Keys[garde.RoleDPO], 200) // the tenant's other keys work, from the same addresses
		e.want("203.0.113.50", e.b.Keys[garde.RoleService], 200)
		evs := e.lockouts(e.a.ID)
		if len(evs) != 1 || evs[0].Actor != e.a.Service.KeyID || !strings.HasPrefix(evs[0].Reason, "key locked_until") {
			t.Fatalf("A's lock-out events = %+v, want one key lock naming %s", evs, e.a.Service.KeyID)
		}
	})

	t.Run("unknown keys lock the address", func(t *testing.T) {
		e := newLockoutEnv(t)
		for _, k := range []string{"garde_aaaa_bbbb", "garde_cccc_dddd", "not-a-key"} {
			e.want(nat, k, 401)
		}
		// Guessing at nothing known locks the address for every key (the
		// residue docs/security.md names): nothing tells the guesser's
		// requests from its neighbours'.
		e.want(nat, e.a.Keys[garde.RoleDPO], 429)
		e.want(nat, e.b.Keys[garde.RoleDPO], 429)
		e.want("198.51.100.8", e.a.Keys[garde.RoleDPO], 200)
		if evs := e.lockouts(garde.OperatorTenant); len(evs) != 1 || !strings.HasPrefix(evs[0].Reason, "addr locked_until") {
			t.Fatalf("operator's lock-out events = %+v, want one addr lock", evs)
		}
	})

	t.Run("IPv6 counts per /64", func(t *testing.T) {
		e := newLockoutEnv(t)
		// One host walking its own /64: three addresses, one count.
		for _, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:3"} {
			e.want(addr, "garde_aaaa_bbbb", 401)
		}
		e.want("2001:db8:1:2:abcd::99", e.a.Keys[garde.RoleDPO], 429)
		e.want("2001:db8:1:3::1", e.a.Keys[garde.RoleDPO], 200) // the next /64 is someone else
		// A's keys guessed at from across one /64 lock A there too.
		for i, role := range []garde.Role{garde.RoleAdmin, garde.RoleService, garde.RoleDPO} {
			e.want(fmt.Sprintf("2001:db8:9:9::%d", i+1), wrongSecret(e.a.Keys[role]), 401)
		}
		e.want("2001:db8:9:9::77", e.a.Keys[garde.RoleDPO], 429)
		e.want("2001:db8:9:9::77", e.b.Keys[garde.RoleDPO], 200)
		// IPv4 stays exact, written plainly or IPv4-mapped.
		for _, addr := range []string{"192.0.2.1", "::ffff:192.0.2.1", "192.0.2.1"} {
			e.want(addr, "garde_aaaa_bbbb", 401)
		}
		e.want("192.0.2.1", e.a.Keys[garde.RoleDPO], 429)
		e.want("192.0.2.2", e.a.Keys[garde.RoleDPO], 200)
	})

	t.Run("a revoked key locks only itself", func(t *testing.T) {
		e := newLockoutEnv(t)
		if err := e.svc.Tenancy.RevokeAPIKey(context.Background(), e.a.Admin, e.a.Service.KeyID); err != nil {
			t.Fatal(err)
		}
		// A stale client still using a revoked key, behind the address A's
		// other clients use.
		for range 3 {
			e.want(nat, e.a.Keys[garde.RoleService], 401)
		}
		e.want(nat, e.a.Keys[garde.RoleService], 429)
		e.want(nat, e.a.Keys[garde.RoleDPO], 200)
		e.want(nat, e.a.Keys[garde.RoleAdmin], 200)
	})
}
