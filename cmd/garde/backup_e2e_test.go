package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestBinaryBackupRestoreErasure runs the real binary: back up while garde
// serves and takes writes, erase a subject over the API and check its
// certificate offline, stop, restore the backup, start again — the erased
// subject's data cannot be read or written again, every other subject's
// can, including what the backup holds of the writes made during it.
func TestBinaryBackupRestoreErasure(t *testing.T) {
	bin := gardeBin(t)
	dataDir := filepath.Join(t.TempDir(), "garde-data")
	out, err := exec.Command(bin, "tenant", "create", "Example SAS", "--data-dir", dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	var tenant struct{ Tenant, Key string }
	json.Unmarshal(out, &tenant)
	srv := startServer(t, bin, dataDir)
	if out, err := exec.Command(bin, "register", "apply", "../../examples/register.yaml", "--server", srv.url, "--key", tenant.Key).CombinedOutput(); err != nil {
		t.Fatalf("register apply: %v\n%s", err, out)
	}
	keys := map[string]string{}
	for _, role := range []string{"service", "dpo"} {
		code, body := call(t, "POST", srv.url+"/v1/keys", tenant.Key, `{"role":"`+role+`"}`)
		var k struct{ Key string }
		if json.Unmarshal(body, &k); code != 201 {
			t.Fatalf("POST /v1/keys = %d %s", code, body)
		}
		keys[role] = k.Key
	}
	post := func(subject, text string) int {
		code, _ := call(t, "POST", srv.url+"/v1/messages", keys["service"], fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q}`, subject, text))
		return code
	}
	read := func(url, subject string) (int, string) {
		code, body := call(t, "GET", url+"/v1/subjects/"+subject+"/messages?purpose=answer_support_request", keys["service"], "")
		return code, string(body)
	}
	for _, s := range []string{"alice", "bob"} {
		if code := post(s, "message de "+s); code != 201 {
			t.Fatalf("ingest %s = %d", s, code)
		}
	}
	// Back up while a writer keeps going.
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			post("carol", fmt.Sprintf("pendant la sauvegarde %d", i))
		}
	})
	backup := filepath.Join(t.TempDir(), "backup.db")
	bout, err := exec.Command(bin, "backup", "--data-dir", dataDir, backup).CombinedOutput()
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("garde backup while serving: %v\n%s", err, bout)
	}

	code, body := call(t, "POST", srv.url+"/v1/requests", keys["dpo"], `{"subject":"alice","type":"erasure"}`)
	var req struct{ ID, Status string }
	if json.Unmarshal(body, &req); code != 201 || req.Status != "completed" {
		t.Fatalf("erasure = %d %s", code, body)
	}
	_, cert := call(t, "GET", srv.url+"/v1/requests/"+req.ID+"/certificate", keys["dpo"], "")
	_, ledgerKey := call(t, "GET", srv.url+"/v1/ledger/key", keys["dpo"], "")
	certFile, keyFile := filepath.Join(t.TempDir(), "erasure.cert"), filepath.Join(t.TempDir(), "tenant.key")
	os.WriteFile(certFile, cert, 0o600)
	os.WriteFile(keyFile, ledgerKey, 0o600)
	if out, err := exec.Command(bin, "verify", "certificate", certFile, "--key", keyFile).CombinedOutput(); err != nil || !strings.Contains(string(out), "valid: subject_erasure") {
		t.Fatalf("garde verify certificate: %v\n%s", err, out)
	}
	srv.stop(t)

	if out, err := exec.Command(bin, "restore", "--data-dir", dataDir, backup).CombinedOutput(); err != nil {
		t.Fatalf("garde restore: %v\n%s", err, out)
	}
	srv = startServer(t, bin, dataDir)
	defer srv.stop(t)
	if code, body := read(srv.url, "alice"); code != 200 || strings.Contains(body, "message de alice") {
		t.Fatalf("erased subject after restore: %d %s", code, body)
	}
	if code, body := read(srv.url, "bob"); code != 200 || !strings.Contains(body, "message de bob") {
		t.Fatalf("other subject after restore: %d %s", code, body)
	}
	if code, _ := read(srv.url, "carol"); code != 200 {
		t.Fatalf("subject written during the backup: %d", code)
	}
	if code := post("alice", "late"); code != 403 {
		t.Fatalf("write for the erased subject after restore = %d, want 403", code)
	}
}
