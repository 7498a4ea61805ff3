package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/notify"
	"github.com/garde-privacy/garde/sqlite"
)

// breachDataDir prepares a data directory holding one tenant with the
// example register, and returns the directory and the tenant id.
func breachDataDir(t *testing.T) (string, garde.TenantID) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	mk, _, err := keyring.LoadOrCreateFile(filepath.Join(dir, "master.key"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a := gardetest.NewTenant(t, app.New(db, mk, nil), "A")
	return dir, a.ID
}

func runCLI(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	return out.String(), err
}

func TestBreachCLI(t *testing.T) {
	dir, tenant := breachDataDir(t)
	aware := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	out, err := runCLI(t, nil, "breach", "create", "--data-dir", dir, "--json",
		"--description", "Backup copied to an unprotected bucket", "--nature", "confidentiality",
		"--aware-at", aware.Format(time.RFC3339), "--tenant", string(tenant))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID       string
		NotifyBy time.Time `json:"notify_by"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !created.NotifyBy.Equal(aware.Add(72*time.Hour)) {
		t.Fatalf("breach create = %s (%v)", out, err)
	}
	out, err = runCLI(t, nil, "breach", "list", "--data-dir", dir)
	if err != nil || !strings.Contains(out, created.ID) || !strings.Contains(out, string(tenant)) || !strings.HasPrefix(out, "ID ") {
		t.Fatalf("breach list = %s, %v", out, err)
	}
	out, err = runCLI(t, nil, "breach", "notice", created.ID, "--data-dir", dir, "--kind", "authority", "--lang", "fr", "--tenant", string(tenant))
	if err != nil || !strings.Contains(out, "Camille Durand, dpo@example.com") || !strings.Contains(out, "# Notification d'une violation") {
		t.Fatalf("breach notice (md) = %s, %v", out, err)
	}
	pdf := filepath.Join(dir, "notice.pdf")
	if _, err := runCLI(t, nil, "breach", "notice", created.ID, "--data-dir", dir, "--kind", "subjects", "--format", "pdf", "--tenant", string(tenant), "--out", pdf); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("notice.pdf: %v, starts %q", err, b[:min(5, len(b))])
	}
	if _, err := runCLI(t, nil, "breach", "notice", created.ID, "--data-dir", dir, "--kind", "authority"); err == nil || !strings.Contains(err.Error(), "tenant") {
		t.Fatalf("notice without --tenant = %v, want a problem on tenant", err)
	}

	// One pass of the clock: the webhook receiver verifies each signature.
	secret := "s3cret"
	var mu sync.Mutex
	var verified []string
	verifier := &notify.Verifier{Secret: []byte(secret)}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := verifier.Verify(r.Header, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		verified = append(verified, string(body))
		mu.Unlock()
	}))
	defer ts.Close()
	env := map[string]string{"GARDE_WEBHOOK_SECRET": secret, "GARDE_EGRESS_ALLOW": "127.0.0.1"}
	for want, n := range []string{"escalations sent: 2\n", "escalations sent: 0\n"} {
		out, err = runCLI(t, env, "breach", "clock", "--data-dir", dir, "--webhook", ts.URL, "--once")
		if err != nil || out != n {
			t.Fatalf("breach clock --once (run %d) = %q, %v; want %q", want+1, out, err, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(verified) != 2 || !strings.Contains(verified[0], created.ID) {
		t.Fatalf("webhooks verified: %q", verified)
	}
	if _, err := runCLI(t, nil, "breach", "clock", "--data-dir", dir, "--webhook", ts.URL, "--once"); err == nil {
		t.Fatal("breach clock --webhook without a secret succeeded")
	}
}

// TestBreachClockEgress: the clock's webhook and SMTP server are under the
// egress policy. On loopback they are out of reach by default — nothing is
// sent and the run fails, naming the refusal — and an --egress-allow that
// is not a host or CIDR is refused.
func TestBreachClockEgress(t *testing.T) {
	dir, tenant := breachDataDir(t)
	aware := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	if _, err := runCLI(t, nil, "breach", "create", "--data-dir", dir, "--description", "Backup copied to an unprotected bucket",
		"--nature", "confidentiality", "--aware-at", aware.Format(time.RFC3339), "--tenant", string(tenant)); err != nil {
		t.Fatal(err)
	}
	var hits int
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { mu.Lock(); hits++; mu.Unlock() }))
	defer ts.Close()
	env := map[string]string{"GARDE_WEBHOOK_SECRET": "s3cret"}
	out, err := runCLI(t, env, "breach", "clock", "--data-dir", dir, "--webhook", ts.URL, "--once")
	if err == nil || !strings.Contains(err.Error(), "egress: refused 127.0.0.1 (loopback)") || out != "escalations sent: 0\n" {
		t.Fatalf("breach clock to loopback, nothing allowed = %q, %v; want a refusal", out, err)
	}
	out, err = runCLI(t, env, "breach", "clock", "--data-dir", dir, "--smtp", strings.TrimPrefix(ts.URL, "http://"), "--once")
	if err == nil || !strings.Contains(err.Error(), "egress: refused 127.0.0.1 (loopback)") {
		t.Fatalf("breach clock by SMTP on loopback, nothing allowed = %q, %v; want a refusal", out, err)
	}
	mu.Lock()
	if hits != 0 {
		t.Fatalf("the loopback receiver was reached %d times", hits)
	}
	mu.Unlock()
	if _, err := runCLI(t, env, "breach", "clock", "--data-dir", dir, "--webhook", ts.URL, "--once", "--egress-allow", "http://x"); err == nil || !strings.Contains(err.Error(), "--egress-allow") {
		t.Fatalf("--egress-allow with a URL = %v, want a usage error", err)
	}
}
