package main

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde/gardetest"
	_ "github.com/garde-privacy/garde/sqlite" // the SQLite driver, to tamper with the file
)

// TestConsentTwoNodes runs two `garde serve` processes on one data
// directory, records consents through both at once, and checks with
// `garde verify` that the tenant's log never forked, that its size is the
// sum of both, that a receipt verifies offline, and that tampering with
// the receipt or the database file is caught.
func TestConsentTwoNodes(t *testing.T) {
	bin := gardeBin(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "garde-data")
	out, err := exec.Command(bin, "tenant", "create", "Consent SAS", "--data-dir", dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	var tenant struct{ Tenant, Key string }
	json.Unmarshal(out, &tenant)
	n1 := startServer(t, bin, dataDir)
	n2 := startServer(t, bin, dataDir)

	if code, body := call(t, "PUT", n1.url+"/v1/register", tenant.Key, gardetest.ConsentRegister); code != 201 {
		t.Fatalf("PUT /v1/register = %d %s", code, body)
	}
	keys := map[string]string{}
	for _, role := range []string{"service", "dpo"} {
		code, body := call(t, "POST", n2.url+"/v1/keys", tenant.Key, `{"role":"`+role+`"}`)
		if code != 201 {
			t.Fatalf("POST /v1/keys = %d %s", code, body)
		}
		var k struct{ Key string }
		json.Unmarshal(body, &k)
		keys[role] = k.Key
	}
	if code, body := call(t, "POST", n1.url+"/v1/purposes/improve_replies/notices", tenant.Key, `{"language":"fr","text":"Nous utilisons vos messages pour améliorer nos réponses."}`); code != 201 {
		t.Fatalf("POST notice = %d %s", code, body)
	}

	const workers, each = 4, 15
	var mu sync.Mutex
	var receipts [][]byte
	var wg sync.WaitGroup
	for w := range workers {
		srv := []*server{n1, n2}[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				code, body := call(t, "POST", srv.url+"/v1/consents", keys["service"],
					fmt.Sprintf(`{"subject":"person-%d-%d","purpose":"improve_replies","action":"grant","method":"web","origin":{"ip":"198.51.100.%d"}}`, w, i, i))
				if code != 201 {
					t.Errorf("POST /v1/consents = %d %s", code, body)
					return
				}
				mu.Lock()
				receipts = append(receipts, body)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	code, key := call(t, "GET", n2.url+"/v1/ledger/key", keys["dpo"], "")
	if code != 200 {
		t.Fatalf("GET /v1/ledger/key = %d %s", code, key)
	}
	n1.stop(t)
	n2.stop(t)

	keyFile := filepath.Join(dir, "tenant.pub")
	os.WriteFile(keyFile, key, 0o644)
	receipt := filepath.Join(dir, "receipt.json")
	os.WriteFile(receipt, receipts[len(receipts)/2], 0o644)
	verify := func(args ...string) (string, int) {
		cmd := exec.Command(bin, append([]string{"verify"}, args...)...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	if out, code := verify("receipt", receipt, "--key", keyFile); code != 0 || !strings.HasPrefix(out, "valid:") {
		t.Fatalf("verify receipt = %d\n%s", code, out)
	}
	if out, code := verify("receipt", receipt, "--key", strings.TrimSpace(string(key))); code != 0 {
		t.Fatalf("verify receipt with the key inline = %d\n%s", code, out)
	}
	forged := strings.Replace(string(receipts[0]), `"action":"grant"`, `"action":"withdraw"`, 1)
	os.WriteFile(receipt, []byte(forged), 0o644)
	if out, code := verify("receipt", receipt, "--key", keyFile); code != 1 || !strings.Contains(out, "action") {
		t.Fatalf("verify forged receipt = %d, want 1 naming the field\n%s", code, out)
	}

	wantConsents := fmt.Sprintf("(%d consent,", workers*each)
	// No trust on first use: without a pinned key, verify ledger refuses
	// and says how to get one.
	if out, code := verify("ledger", "--data-dir", dataDir); code != 2 || !strings.Contains(out, "/v1/ledger/key") {
		t.Fatalf("verify ledger without --key = %d, want 2 explaining how to pin the key\n%s", code, out)
	}
	if out, code := verify("ledger", "--data-dir", dataDir, "--key", keyFile); code != 0 || !strings.Contains(out, tenant.Tenant+": ok:") || !strings.Contains(out, wantConsents) {
		t.Fatalf("verify ledger = %d, want ok with %s\n%s", code, wantConsents, out)
	}
	if out, code := verify("ledger", "--data-dir", dataDir, "--tenant", tenant.Tenant, "--key", keyFile); code != 0 {
		t.Fatalf("verify ledger --key = %d\n%s", code, out)
	}

	db, err := sql.Open("sqlite", filepath.Join(dataDir, "garde.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`DELETE FROM ledger_leaves WHERE tenant_id = ? AND idx = 20`, tenant.Tenant); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if out, code := verify("ledger", "--data-dir", dataDir, "--key", keyFile); code != 1 || !strings.Contains(out, "entry 20:") {
		t.Fatalf("verify tampered ledger = %d, want 1 naming entry 20\n%s", code, out)
	}
}
