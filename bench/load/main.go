// Command load runs a mixed load against a separate `garde serve` process
// on loopback, as production traffic looks: many tenants and subjects,
// 80 % single-message ingest, 15 % purpose-bound reads of a subject's
// messages, 5 % consent grants and withdrawals. It reports throughput,
// p50/p99/p99.9 latency per kind, every error (there should be none), and
// the server's resident memory (VmRSS of its process) once it holds
// -fill messages and again after the mixed phase.
//
//	go run ./bench/load -fill 1000000 -n 100000 -c 32
//
// It builds cmd/garde, creates the tenants with `garde tenant create` on a
// fresh data directory, and starts `garde serve` on 127.0.0.1 with the
// default rate limits. Every run is bounded by -n requests and -timeout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const register = `
controller: {name: Load SAS}
dpo: {email: dpo@example.com}
region: eu-west-3
purposes:
  - id: answer_support_request
    legal_basis: contract
    categories: [user.content.private, user.contact.email]
    retention: 365d
  - id: improve_replies
    legal_basis: consent
    categories: [user.content.private]
    retention: 90d
    on_withdrawal: stop
`

type tenant struct {
	id, admin, service, dpo string
}

func main() {
	tenants := flag.Int("tenants", 20, "tenants")
	subjects := flag.Int("subjects", 5000, "subjects per tenant")
	fill := flag.Int("fill", 1_000_000, "messages ingested in batches before the mixed phase (memory is measured holding them)")
	batch := flag.Int("batch", 500, "messages per batch in the fill phase")
	n := flag.Int("n", 100_000, "requests in the mixed phase")
	c := flag.Int("c", 32, "concurrent clients")
	timeout := flag.Duration("timeout", 10*time.Minute, "stop after this long whatever -n and -fill say")
	dir := flag.String("dir", "", "data directory (default: a fresh temporary one, removed at the end)")
	db := flag.String("db", "", "postgres:// URL for garde serve --db (default: SQLite in the data directory)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	bin, dataDir, cleanup := build(*dir)
	defer cleanup()
	dbArgs := []string{"--data-dir", dataDir}
	if *db != "" {
		dbArgs = append(dbArgs, "--db", *db)
	}
	var ts []tenant
	for i := range *tenants {
		out, err := exec.Command(bin, append([]string{"tenant", "create", fmt.Sprintf("Load %d", i), "--json"}, dbArgs...)...).Output()
		if err != nil {
			log.Fatalf("tenant create: %v", err)
		}
		var t struct{ Tenant, Key string }
		json.Unmarshal(out, &t)
		ts = append(ts, tenant{id: t.Tenant, admin: t.Key})
	}
	srv := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "warn", "--region", "eu-west-3"}, dbArgs...)...)
	stdout, _ := srv.StdoutPipe()
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		log.Fatalf("garde serve: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	base := strings.TrimSpace(strings.TrimPrefix(line, "garde listening on "))
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		log.Fatalf("not loopback: %s", base)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c * 2}, Timeout: time.Minute}
	do := func(method, path, key, body string) (int, []byte, error) {
		req, _ := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, b, err
	}
	must := func(want int, method, path, key, body string) []byte {
		code, b, err := do(method, path, key, body)
		if err != nil || code != want {
			log.Fatalf("%s %s = %d %v %s", method, path, code, err, b)
		}
		return b
	}
	for i := range ts {
		t := &ts[i]
		must(201, "PUT", "/v1/register", t.admin, register)
		for _, role := range []string{"service", "dpo"} {
			var k struct{ Key string }
			json.Unmarshal(must(201, "POST", "/v1/keys", t.admin, `{"role":"`+role+`"}`), &k)
			if role == "service" {
				t.service = k.Key
			} else {
				t.dpo = k.Key
			}
		}
		must(201, "POST", "/v1/purposes/improve_replies/notices", t.admin, `{"language":"fr","text":"Nous utilisons vos messages pour améliorer nos réponses."}`)
	}
	pid := srv.Process.Pid
	fmt.Printf("garde serve pid %d, %d tenants × %d subjects, %d clients; idle RSS %s\n", pid, *tenants, *subjects, *c, rss(pid))

	text := func(i int) string {
		return fmt.Sprintf("Bonjour, je n'ai pas reçu ma commande n° %d, pouvez-vous vérifier ? Écrivez-moi à client%d@example.com. Merci", 100000+i, i%997)
	}
	// Fill: batches spread over every tenant and subject.
	var seq atomic.Int64
	var fillErrs atomic.Int64
	start := time.Now()
	parallel(*c, func() {
		var b bytes.Buffer
		for ctx.Err() == nil {
			first := int(seq.Add(int64(*batch))) - *batch
			if first >= *fill {
				return
			}
			t := ts[(first / *batch)%len(ts)]
			b.Reset()
			b.WriteString(`{"messages":[`)
			for j := first; j < min(first+*batch, *fill); j++ {
				if j > first {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"subject":"customer-%d","purpose":"answer_support_request","channel":"chat","text":%q}`, (j/len(ts))%*subjects, text(j))
			}
			b.WriteString(`]}`)
			if code, body, err := do("POST", "/v1/messages:batch", t.service, b.String()); err != nil || code != 201 {
				if fillErrs.Add(1) < 5 {
					log.Printf("fill: %d %v %.200s", code, err, body)
				}
			}
		}
	})
	fillTime := time.Since(start)
	filled := min(int(seq.Load()), *fill)
	fmt.Printf("fill: %d messages in %v = %.0f msg/s (batches of %d), %d errors; RSS holding them %s\n",
		filled, fillTime.Round(time.Millisecond), float64(filled)/fillTime.Seconds(), *batch, fillErrs.Load(), rss(pid))

	// Mixed phase.
	kinds := []string{"ingest", "read", "consent"}
	lat := make([][]time.Duration, len(kinds))
	errs := make([]atomic.Int64, len(kinds))
	var mu sync.Mutex
	var done atomic.Int64
	start = time.Now()
	parallel(*c, func() {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		local := make([][]time.Duration, len(kinds))
		for ctx.Err() == nil {
			i := int(done.Add(1)) - 1
			if i >= *n {
				break
			}
			t := ts[r.IntN(len(ts))]
			subject := r.IntN(*subjects)
			var k int
			var method, path, key, body string
			switch p := r.IntN(100); {
			case p < 80:
				k, method, path, key = 0, "POST", "/v1/messages", t.service
				body = fmt.Sprintf(`{"subject":"customer-%d","purpose":"answer_support_request","channel":"chat","text":%q}`, subject, text(*fill+i))
			case p < 95:
				k, method, key = 1, "GET", t.service
				path = fmt.Sprintf("/v1/subjects/customer-%d/messages?purpose=answer_support_request", subject)
			default:
				k, method, path, key = 2, "POST", "/v1/consents", t.service
				body = fmt.Sprintf(`{"subject":"customer-%d","purpose":"improve_replies","action":%q,"method":"web"}`, subject, []string{"grant", "withdraw"}[r.IntN(2)])
			}
			t0 := time.Now()
			code, b, err := do(method, path, key, body)
			d := time.Since(t0)
			if err != nil || code/100 != 2 {
				if errs[k].Add(1) < 5 {
					log.Printf("%s %s: %d %v %.200s", method, path, code, err, b)
				}
				continue
			}
			local[k] = append(local[k], d)
		}
		mu.Lock()
		for k := range kinds {
			lat[k] = append(lat[k], local[k]...)
		}
		mu.Unlock()
	})
	mixed := time.Since(start)
	var all []time.Duration
	total := 0
	for k := range kinds {
		all = append(all, lat[k]...)
		total += len(lat[k]) + int(errs[k].Load())
	}
	fmt.Printf("mixed: %d requests in %v = %.0f req/s\n", total, mixed.Round(time.Millisecond), float64(total)/mixed.Seconds())
	fmt.Printf("| kind | requests | errors | p50 | p99 | p99.9 |\n| --- | --- | --- | --- | --- | --- |\n")
	var nerr int64
	for k, name := range kinds {
		nerr += errs[k].Load()
		fmt.Printf("| %s | %d | %d | %s |\n", name, len(lat[k])+int(errs[k].Load()), errs[k].Load(), quantiles(lat[k]))
	}
	fmt.Printf("| all | %d | %d | %s |\n", total, nerr, quantiles(all))
	fmt.Printf("RSS after the mixed phase %s (peak %s)\n", rss(pid), status(pid, "VmHWM"))
	if nerr > 0 || fillErrs.Load() > 0 {
		os.Exit(1)
	}
}

func parallel(c int, f func()) {
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}

func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "– | – | –"
	}
	slices.Sort(ds)
	q := func(p float64) string {
		return ds[min(len(ds)-1, int(p*float64(len(ds))))].Round(10 * time.Microsecond).String()
	}
	return q(0.5) + " | " + q(0.99) + " | " + q(0.999)
}

func rss(pid int) string { return status(pid, "VmRSS") }

// status reads one memory line of /proc/PID/status, in MB.
func status(pid int, field string) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return fmt.Sprintf("%.0f MB", float64(kb)/1024)
		}
	}
	return "?"
}

// build compiles cmd/garde and prepares the data directory.
func build(dir string) (bin, dataDir string, cleanup func()) {
	tmp, err := os.MkdirTemp("", "garde-load-")
	if err != nil {
		log.Fatal(err)
	}
	bin = filepath.Join(tmp, "garde")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/garde-privacy/garde/cmd/garde").CombinedOutput(); err != nil {
		log.Fatalf("go build: %v\n%s", err, out)
	}
	dataDir = dir
	if dataDir == "" {
		dataDir = filepath.Join(tmp, "data")
	}
	return bin, dataDir, func() { os.RemoveAll(tmp) }
}
