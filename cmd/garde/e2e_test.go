package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildGarde compiles the real binary once per test run.
var buildGarde = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "garde-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "garde")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func gardeBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, err := buildGarde()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a bytes.Buffer safe to read while the process writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServer runs `garde serve` on a free port and waits until it answers.
func startServer(t *testing.T, bin, dataDir string, extra ...string) *server {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir}, extra...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("garde serve printed no address: %v\n%s", err, s.stderr)
	}
	go func() { io.Copy(io.Discard, stdout); s.done <- cmd.Wait() }()
	s.url = strings.TrimSpace(strings.TrimPrefix(line, "garde listening on "))
	t.Cleanup(func() { cmd.Process.Kill() })
	return s
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Fatalf("garde serve exited with %v after SIGTERM\n%s", err, s.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("garde serve did not stop within 30 s of SIGTERM")
	}
}

func call(t *testing.T, method, url, key, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// TestBinaryEndToEnd runs the real binary: create a tenant, apply the
// example register, ingest and read back over HTTP, stop with SIGTERM in
// the middle of a write load, restart, and find every acknowledged write.
func TestBinaryEndToEnd(t *testing.T) {
	bin := gardeBin(t)
	dataDir := filepath.Join(t.TempDir(), "garde-data")

	out, err := exec.Command(bin, "tenant", "create", "Example SAS", "--data-dir", dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	var tenant struct{ Tenant, Key string }
	if err := json.Unmarshal(out, &tenant); err != nil || !strings.HasPrefix(tenant.Tenant, "tn_") || !strings.HasPrefix(tenant.Key, "garde_") {
		t.Fatalf("tenant create --json = %s (%v)", out, err)
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file: %v, %v", fi, err)
	}

	srv := startServer(t, bin, dataDir)
	if code, _ := call(t, "GET", srv.url+"/readyz", "", ""); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}
	if out, err := exec.Command(bin, "register", "apply", "../../examples/register.yaml", "--server", srv.url, "--key", tenant.Key).CombinedOutput(); err != nil || !strings.Contains(string(out), "version 1") {
		t.Fatalf("register apply: %v\n%s", err, out)
	}
	code, body := call(t, "POST", srv.url+"/v1/keys", tenant.Key, `{"role":"service"}`)
	if code != 201 {
		t.Fatalf("POST /v1/keys = %d %s", code, body)
	}
	var key struct{ Key string }
	json.Unmarshal(body, &key)

	code, body = call(t, "POST", srv.url+"/v1/messages", key.Key, `{"subject":"customer-42","purpose":"answer_support_request","text":"Bonjour, où est ma commande ?","fields":{"user.contact.email":"jeanne@example.fr"}}`)
	if code != 201 {
		t.Fatalf("POST /v1/messages = %d %s", code, body)
	}
	code, body = call(t, "GET", srv.url+"/v1/subjects/customer-42/messages?purpose=answer_support_request", key.Key, "")
	if code != 200 || !strings.Contains(string(body), "où est ma commande") || !strings.Contains(string(body), "jeanne@example.fr") {
		t.Fatalf("read back = %d %s", code, body)
	}

	for _, secret := range []string{"jeanne@example.fr", "où est ma commande", "customer-42"} {
		if strings.Contains(srv.stderr.String(), secret) {
			t.Errorf("server log contains %q", secret)
		}
	}

	// Writes in flight when SIGTERM arrives: every one acknowledged with
	// 201 must be there after a restart.
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	stopLoad := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				req, _ := http.NewRequest("POST", srv.url+"/v1/messages", strings.NewReader(fmt.Sprintf(`{"subject":"load-%d","purpose":"answer_support_request","text":"message %d"}`, w, i)))
				req.Header.Set("Authorization", "Bearer "+key.Key)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode == 201 {
					var m struct{ ID string }
					json.Unmarshal(b, &m)
					mu.Lock()
					acked[m.ID] = true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	srv.stop(t)
	close(stopLoad)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged before shutdown")
	}

	srv = startServer(t, bin, dataDir)
	found := 0
	for w := range 4 {
		_, body := call(t, "GET", fmt.Sprintf("%s/v1/subjects/load-%d/messages?purpose=answer_support_request", srv.url, w), key.Key, "")
		var res struct{ Messages []struct{ ID string } }
		json.Unmarshal(body, &res)
		for _, m := range res.Messages {
			if acked[m.ID] {
				found++
			}
		}
	}
	if found != len(acked) {
		t.Fatalf("after restart %d of %d acknowledged writes found", found, len(acked))
	}
	t.Logf("%d acknowledged writes survived SIGTERM and restart", found)
	srv.stop(t)

	// A master key readable by others stops garde from starting.
	os.Chmod(filepath.Join(dataDir, "master.key"), 0o644)
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "chmod 600") {
		t.Fatalf("serve with an exposed key file: %v\n%s", err, out)
	}
}

func TestEnvironmentVariables(t *testing.T) {
	bin := gardeBin(t)
	dataDir := filepath.Join(t.TempDir(), "from-env")
	cmd := exec.Command(bin, "tenant", "create", "Env SAS", "--json")
	cmd.Env = append(os.Environ(), "GARDE_DATA_DIR="+dataDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tenant create with GARDE_DATA_DIR: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "garde.db")); err != nil {
		t.Fatalf("GARDE_DATA_DIR was not used: %v", err)
	}
}
