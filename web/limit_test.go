package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
	"github.com/garde-privacy/garde/web"
)

type limitEnv struct {
	t     *testing.T
	ts    *httptest.Server
	db    garde.Store
	clock *gardetest.Clock
	a     gardetest.Tenant
	logs  *bytes.Buffer
}

func newLimitEnv(t *testing.T, l web.Limits) *limitEnv {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	svc := app.New(db, gardetest.MasterKeys(t), clock)
	logs := &bytes.Buffer{}
	l.Now = clock.Now
	srv := web.NewServer(svc, slog.New(slog.NewJSONHandler(logs, nil)), web.Options{Limits: l})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return &limitEnv{t: t, ts: ts, db: db, clock: clock, a: gardetest.NewTenant(t, svc, "A"), logs: logs}
}

func (e *limitEnv) get(key, path string) (int, http.Header, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.ts.URL+path, nil)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

func (e *limitEnv) want(key, path string, want int) http.Header {
	e.t.Helper()
	got, h, body := e.get(key, path)
	if got != want {
		e.t.Fatalf("GET %s = %d, want %d\n%s", path, got, want, body)
	}
	if want == http.StatusTooManyRequests {
		var p struct{ Type string }
		json.Unmarshal([]byte(body), &p)
		if p.Type != "urn:garde:problem:rate-limited" || h.Get("Content-Type") != "application/problem+json" {
			e.t.Fatalf("429 body = %s %s, want a rate-limited problem", h.Get("Content-Type"), body)
		}
		if h.Get("Retry-After") == "" {
			e.t.Fatal("429 without Retry-After")
		}
	}
	return h
}

func TestRateLimitPerKey(t *testing.T) {
	e := newLimitEnv(t, web.Limits{PerKey: 2})
	svc, dpo := e.a.Keys[garde.RoleService], e.a.Keys[garde.RoleDPO]
	e.want(svc, "/v1/register", 200)
	e.want(svc, "/v1/register", 200)
	if h := e.want(svc, "/v1/register", 429); h.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q, want 1", h.Get("Retry-After"))
	}
	e.want(dpo, "/v1/register", 200) // another key has its own bucket
	e.clock.Advance(500 * time.Millisecond)
	e.want(svc, "/v1/register", 200) // half a second refills one token at 2/s
	e.want(svc, "/v1/register", 429)
	e.want("", "/healthz", 200) // no key, no key limit
}

func TestRateLimitPerAddress(t *testing.T) {
	e := newLimitEnv(t, web.Limits{PerAddr: 3})
	for range 3 {
		e.want("", "/healthz", 200)
	}
	e.want("", "/healthz", 429)
	e.want(e.a.Keys[garde.RoleDPO], "/v1/register", 429) // counted before the key is looked at
	e.clock.Advance(time.Second)
	e.want(e.a.Keys[garde.RoleDPO], "/v1/register", 200)
}

func TestLockout(t *testing.T) {
	e := newLimitEnv(t, web.Limits{LockoutFailures: 3, LockoutWindow: time.Minute, LockoutFor: 5 * time.Minute})
	dpo := e.a.Keys[garde.RoleDPO]
	// Missing keys are not guesses: they do not count.
	for range 5 {
		e.want("", "/v1/register", 401)
	}
	// Failures spread wider than the window do not lock.
	e.want("garde_nope_nope", "/v1/register", 401)
	e.want("garde_nope_nope", "/v1/register", 401)
	e.clock.Advance(61 * time.Second)
	e.want(dpo, "/v1/register", 200)
	// Three unknown or malformed keys in the window do (they aim at no
	// known key, so they count against the address): the third is still a
	// 401, then even a good key is refused for five minutes, on every
	// authenticated route (TestLockoutPolicy has the other counters).
	e.want("garde_nope_nope", "/v1/register", 401)
	e.want("garde_nope_other", "/v1/register", 401)
	e.want("malformed", "/v1/register", 401)
	if h := e.want(dpo, "/v1/register", 429); h.Get("Retry-After") != "300" {
		t.Errorf("Retry-After = %q, want 300", h.Get("Retry-After"))
	}
	e.want(dpo, "/v1/audit", 429)
	e.want("", "/healthz", 200) // probes are not authenticated
	e.clock.Advance(4*time.Minute + 59*time.Second)
	e.want(dpo, "/v1/register", 429)
	e.clock.Advance(time.Second)
	e.want(dpo, "/v1/register", 200)

	// The lock-out is audited in the operator's trail and logged, by a
	// pseudonym of the address, never the address.
	var events []garde.AuditEvent
	err := e.db.View(context.Background(), func(tx garde.Tx) error {
		var err error
		events, err = tx.Audit(context.Background(), garde.OperatorTenant, garde.AuditFilter{Action: garde.ActionAuthLockout, Limit: 10})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Count != 3 || !strings.HasPrefix(events[0].Actor, "addr_") {
		t.Fatalf("lock-out audit = %+v, want one event of 3 failures by an address pseudonym", events)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "locked out") || !strings.Contains(logs, events[0].Actor) {
		t.Errorf("lock-out not logged with its pseudonym:\n%s", logs)
	}
	if strings.Contains(logs, "127.0.0.1") {
		t.Errorf("log carries the client address:\n%s", logs)
	}
	_, _, metrics := e.get("", "/metrics")
	for _, m := range []string{`garde_http_limited_total{cause="lockout"} 3`, "garde_auth_lockouts_total 1"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// TestLockoutDashboardSignIn: failed sign-ins to the dashboard count
// towards the lock-out like bad bearer keys.
func TestLockoutDashboardSignIn(t *testing.T) {
	e := newLimitEnv(t, web.Limits{LockoutFailures: 3})
	res, err := http.Get(e.ts.URL + "/dashboard/signin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Value != "" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("the sign-in page sets no form cookie")
	}
	signIn := func(key string) int {
		form := url.Values{"csrf": {cookie.Value}, "key": {key}}
		req, _ := http.NewRequest("POST", e.ts.URL+"/dashboard/signin", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(cookie)
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for range 3 {
		if code := signIn("garde_nope_nope"); code != http.StatusUnauthorized {
			t.Fatalf("sign-in with a bad key = %d, want 401", code)
		}
	}
	if code := signIn(e.a.Keys[garde.RoleAdmin]); code != http.StatusTooManyRequests {
		t.Fatalf("sign-in with a good key from a locked-out address = %d, want 429", code)
	}
	e.want(e.a.Keys[garde.RoleDPO], "/v1/register", 429)
}

// TestTrustedProxies: behind a trusted proxy the client is the right-most
// untrusted X-Forwarded-For hop, so clients behind one balancer are limited
// apart and a client cannot pick its own address by writing the header.
func TestTrustedProxies(t *testing.T) {
	e := newLimitEnv(t, web.Limits{PerAddr: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}})
	get := func(xff string) int {
		req, _ := http.NewRequest("GET", e.ts.URL+"/healthz", nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tt := range []struct {
		xff  string
		want int
	}{
		{"203.0.113.1", 200},
		{"203.0.113.2", 200},               // another client behind the same proxy
		{"203.0.113.1", 429},               // the first one again
		{"198.51.100.9, 203.0.113.1", 429}, // a forged left part changes nothing
		{"203.0.113.1, 10.1.2.3", 429},     // through a second trusted proxy
		{"", 200},                          // the proxy itself
		{"not-an-address", 429},            // malformed: the proxy is the client
	} {
		if got := get(tt.xff); got != tt.want {
			t.Errorf("X-Forwarded-For %q = %d, want %d", tt.xff, got, tt.want)
		}
	}
}
