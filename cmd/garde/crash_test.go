package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/gardetest"
)

// TestCrashSafety kills `garde serve` with SIGKILL at random moments of a
// sustained load of single and batched ingest, consents and erasures,
// restarts it, and after the last round checks that every acknowledged
// message is there and readable, that every batch is all there or not at
// all, that every acknowledged consent is in its subject's history, that no
// erased subject came back, and that `garde verify ledger` passes. GARDE_CRASH_ROUNDS changes the number of
// rounds (default 20). With GARDE_TEST_POSTGRES set it runs on PostgreSQL
// too.
func TestCrashSafety(t *testing.T) {
	bin := gardeBin(t)
	rounds := 20
	if n, err := strconv.Atoi(os.Getenv("GARDE_CRASH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	t.Run("sqlite", func(t *testing.T) { crashRounds(t, bin, "", rounds) })
	t.Run("postgres", func(t *testing.T) {
		dsn := os.Getenv("GARDE_TEST_POSTGRES")
		if dsn == "" {
			t.Skip("GARDE_TEST_POSTGRES is not set")
		}
		crashRounds(t, bin, dsn, rounds)
	})
}

// crashLoad is what a round's clients were told was done.
type crashLoad struct {
	mu       sync.Mutex
	messages map[string]map[string]bool // subject → acknowledged texts
	batches  map[string]bool            // batch tag → acknowledged
	consents map[string]map[string]bool // subject → acknowledged consent ids
	erased   map[string]bool            // subjects whose erasure was acknowledged
}

func crashRounds(t *testing.T, bin, dsn string, rounds int) {
	dataDir := filepath.Join(t.TempDir(), "garde-data")
	db := []string{"--data-dir", dataDir}
	if dsn != "" {
		db = append(db, "--db", dsn)
	}
	out, err := exec.Command(bin, append([]string{"tenant", "create", "Crash SAS", "--json"}, db...)...).Output()
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	var tenant struct{ Tenant, Key string }
	json.Unmarshal(out, &tenant)
	srv := startServer(t, bin, dataDir, db[2:]...)
	if code, body := call(t, "PUT", srv.url+"/v1/register", tenant.Key, gardetest.ConsentRegister); code != 201 {
		t.Fatalf("PUT /v1/register = %d %s", code, body)
	}
	code, body := call(t, "POST", srv.url+"/v1/keys", tenant.Key, `{"role":"service"}`)
	if code != 201 {
		t.Fatalf("POST /v1/keys = %d %s", code, body)
	}
	var key struct{ Key string }
	json.Unmarshal(body, &key)
	code, body = call(t, "POST", srv.url+"/v1/keys", tenant.Key, `{"role":"dpo"}`)
	if code != 201 {
		t.Fatalf("POST /v1/keys = %d %s", code, body)
	}
	var dpoKey struct{ Key string }
	json.Unmarshal(body, &dpoKey)
	dpo := dpoKey.Key
	if code, body := call(t, "POST", srv.url+"/v1/purposes/improve_replies/notices", tenant.Key, `{"language":"fr","text":"Nous utilisons vos messages pour améliorer nos réponses."}`); code != 201 {
		t.Fatalf("POST notice = %d %s", code, body)
	}

	load := &crashLoad{messages: map[string]map[string]bool{}, batches: map[string]bool{}, consents: map[string]map[string]bool{}, erased: map[string]bool{}}
	client := &http.Client{Timeout: 10 * time.Second}
	postAs := func(k, url, body string) (int, []byte, error) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+k)
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	post := func(url, body string) (int, []byte, error) { return postAs(key.Key, url, body) }
	start := time.Now()
	for round := range rounds {
		if round > 0 {
			srv = startServer(t, bin, dataDir, db[2:]...)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		worker := func(w int, step func(i int) bool) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if !step(i) {
						return
					}
				}
			}()
		}
		for w := range 3 { // single ingest
			subject := fmt.Sprintf("crash-r%d-w%d", round, w)
			worker(w, func(i int) bool {
				text := fmt.Sprintf("message %d of %s", i, subject)
				code, _, err := post(srv.url+"/v1/messages", fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q}`, subject, text))
				if err != nil {
					return false
				}
				if code == 201 {
					load.mu.Lock()
					if load.messages[subject] == nil {
						load.messages[subject] = map[string]bool{}
					}
					load.messages[subject][text] = true
					load.mu.Unlock()
				} else if code < 500 {
					t.Errorf("POST /v1/messages = %d", code)
					return false
				}
				return true
			})
		}
		worker(3, func(i int) bool { // batches of 10, all or nothing
			tag := fmt.Sprintf("batch-r%d-%d", round, i)
			var ms []string
			for j := range 10 {
				ms = append(ms, fmt.Sprintf(`{"subject":"crash-batch","purpose":"answer_support_request","text":"%s/%d"}`, tag, j))
			}
			load.mu.Lock()
			load.batches[tag] = false
			load.mu.Unlock()
			code, _, err := post(srv.url+"/v1/messages:batch", `{"messages":[`+strings.Join(ms, ",")+`]}`)
			if err != nil {
				return false
			}
			if code == 201 {
				load.mu.Lock()
				load.batches[tag] = true
				load.mu.Unlock()
			}
			return true
		})
		worker(4, func(i int) bool { // consents, grant and withdraw in turn
			subject := fmt.Sprintf("person-r%d-%d", round, i/2)
			action := []string{"grant", "withdraw"}[i%2]
			code, body, err := post(srv.url+"/v1/consents", fmt.Sprintf(`{"subject":%q,"purpose":"improve_replies","action":%q,"method":"web"}`, subject, action))
			if err != nil {
				return false
			}
			if code == 201 {
				var c struct{ ID string }
				json.Unmarshal(body, &c)
				load.mu.Lock()
				if load.consents[subject] == nil {
					load.consents[subject] = map[string]bool{}
				}
				load.consents[subject][c.ID] = true
				load.mu.Unlock()
			} else if code < 500 {
				t.Errorf("POST /v1/consents = %d %s", code, body)
				return false
			}
			return true
		})
		worker(5, func(i int) bool { // erasures of subjects just written
			subject := fmt.Sprintf("erase-r%d-%d", round, i)
			code, _, err := post(srv.url+"/v1/messages:batch", fmt.Sprintf(`{"messages":[{"subject":%q,"purpose":"answer_support_request","text":"to be erased 1"},{"subject":%q,"purpose":"answer_support_request","text":"to be erased 2"}]}`, subject, subject))
			if err != nil || code != 201 {
				return err == nil
			}
			code, body, err := postAs(dpo, srv.url+"/v1/requests", fmt.Sprintf(`{"subject":%q,"type":"erasure"}`, subject))
			if err != nil {
				return false
			}
			if code == 201 {
				load.mu.Lock()
				load.erased[subject] = true
				load.mu.Unlock()
			} else if code < 500 {
				t.Errorf("POST /v1/requests = %d %s", code, body)
				return false
			}
			return true
		})
		time.Sleep(time.Duration(100+rand.IntN(300)) * time.Millisecond)
		srv.cmd.Process.Kill() // SIGKILL: no shutdown, no flush
		<-srv.done
		close(stop)
		wg.Wait()
	}
	loadTime := time.Since(start)

	srv = startServer(t, bin, dataDir, db[2:]...)
	read := func(subject string) map[string]bool {
		code, body := call(t, "GET", srv.url+"/v1/subjects/"+subject+"/messages?purpose=answer_support_request", key.Key, "")
		if code != 200 {
			t.Fatalf("read %s = %d %s", subject, code, body)
		}
		var res struct{ Messages []struct{ Text string } }
		json.Unmarshal(body, &res)
		got := map[string]bool{}
		for _, m := range res.Messages {
			got[m.Text] = true
		}
		return got
	}
	acked, lost := 0, 0
	for subject, texts := range load.messages {
		got := read(subject)
		for text := range texts {
			acked++
			if !got[text] {
				lost++
				t.Errorf("acknowledged message %q lost", text)
			}
		}
	}
	got := read("crash-batch")
	ackedBatches := 0
	for tag, ok := range load.batches {
		n := 0
		for j := range 10 {
			if got[fmt.Sprintf("%s/%d", tag, j)] {
				n++
			}
		}
		if ok {
			ackedBatches++
		}
		if (ok && n != 10) || (n != 0 && n != 10) {
			t.Errorf("batch %s (acknowledged %v): %d of 10 messages stored", tag, ok, n)
		}
	}
	ackedConsents := 0
	for subject, ids := range load.consents {
		code, body := call(t, "GET", srv.url+"/v1/subjects/"+subject+"/consents", dpo, "")
		if code != 200 {
			t.Fatalf("consents of %s = %d %s", subject, code, body)
		}
		var res struct{ History []struct{ ID string } }
		json.Unmarshal(body, &res)
		have := map[string]bool{}
		for _, h := range res.History {
			have[h.ID] = true
		}
		for id := range ids {
			ackedConsents++
			if !have[id] {
				t.Errorf("acknowledged consent %s of %s lost", id, subject)
			}
		}
	}
	// No erased subject came back: nothing to read, and new data for it
	// is refused.
	for subject := range load.erased {
		if got := read(subject); len(got) != 0 {
			t.Errorf("erased subject %s has %d messages after the crashes", subject, len(got))
		}
		code, body := call(t, "POST", srv.url+"/v1/messages", key.Key, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":"back?"}`, subject))
		if code != 403 || !strings.Contains(string(body), "subject_erased") {
			t.Errorf("write to erased subject %s = %d %s, want 403 subject_erased", subject, code, body)
		}
	}
	code, pub := call(t, "GET", srv.url+"/v1/ledger/key", key.Key, "")
	if code != 200 {
		t.Fatalf("GET /v1/ledger/key = %d %s", code, pub)
	}
	srv.stop(t)
	args := append([]string{"verify", "ledger", "--tenant", tenant.Tenant, "--key", strings.TrimSpace(string(pub))}, db...)
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil || !strings.Contains(string(out), ": ok:") {
		t.Fatalf("garde verify ledger after %d SIGKILLs: %v\n%s", rounds, err, out)
	}
	// On a machine busy with other work a round may acknowledge little;
	// the test means something as long as writes got through at all.
	if acked+ackedBatches == 0 || ackedConsents+len(load.erased) == 0 {
		t.Fatalf("too little load to mean anything: %d messages, %d batches, %d consents, %d erasures acknowledged", acked, ackedBatches, ackedConsents, len(load.erased))
	}
	t.Logf("%d SIGKILLs in %v: %d single messages, %d batches of 10, %d consents, %d erasures acknowledged; %d lost, none came back; ledger verified",
		rounds, loadTime.Round(time.Millisecond), acked, ackedBatches, ackedConsents, len(load.erased), lost)
}
