// Command httpload measures garde's ingest over HTTP on loopback: messages
// per second and request latency (p50, p99), single and batched.
//
//	go run ./bench/httpload -mode single -n 20000 -c 16
//	go run ./bench/httpload -mode batch -batch 500 -n 200000 -c 4
//
// By default it starts garde in this process on a fresh SQLite data
// directory, listening on 127.0.0.1 (both share the machine's cores, as
// they would on one host). With -url and -key it loads a running garde
// instead; only loopback addresses are accepted. Every run is bounded by
// -n messages and -timeout.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/sqlite"
	"github.com/garde-privacy/garde/web"
)

const register = `
controller: {name: Load SAS}
dpo: {email: dpo@example.com}
region: FR
purposes:
  - id: answer_support_request
    legal_basis: contract
    categories: [user.content.private, user.contact.email]
    retention: 365d
`

func main() {
	mode := flag.String("mode", "single", "single (POST /v1/messages) or batch (POST /v1/messages:batch)")
	batch := flag.Int("batch", 500, "messages per batch request")
	n := flag.Int("n", 20000, "messages to send in all")
	c := flag.Int("c", 16, "concurrent clients")
	subjects := flag.Int("subjects", 10000, "distinct subjects")
	target := flag.String("url", "", "garde base URL on loopback (default: start one in-process)")
	key := flag.String("key", "", "service API key for -url")
	timeout := flag.Duration("timeout", 5*time.Minute, "stop after this long whatever -n says")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole process (client and in-process server) to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	base, svcKey := *target, *key
	if base == "" {
		var stop func()
		var err error
		base, svcKey, stop, err = startGarde(ctx)
		if err != nil {
			log.Fatal(err)
		}
		defer stop()
	} else if err := checkLoopback(base); err != nil {
		log.Fatal(err)
	}

	per := 1
	path := "/v1/messages"
	if *mode == "batch" {
		per, path = *batch, "/v1/messages:batch"
	}
	requests := (*n + per - 1) / per
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}}
	var next, failed atomic.Int64
	latencies := make([][]time.Duration, *c)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var body bytes.Buffer
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(requests) {
					return
				}
				body.Reset()
				writeBody(&body, *mode, int(i)*per, per, *subjects)
				req, _ := http.NewRequestWithContext(ctx, "POST", base+path, bytes.NewReader(body.Bytes()))
				req.Header.Set("Authorization", "Bearer "+svcKey)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated {
					failed.Add(1)
					continue
				}
				latencies[w] = append(latencies[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(latencies...)
	slices.Sort(all)
	ok := len(all)
	q := func(p float64) time.Duration {
		if ok == 0 {
			return 0
		}
		return all[min(ok-1, int(float64(ok)*p))]
	}
	res := map[string]any{
		"mode": *mode, "batch": per, "clients": *c, "requests_ok": ok, "requests_failed": failed.Load(),
		"messages": ok * per, "seconds": elapsed.Seconds(),
		"messages_per_second": float64(ok*per) / elapsed.Seconds(),
		"p50_ms":              q(0.50).Seconds() * 1000, "p99_ms": q(0.99).Seconds() * 1000,
	}
	json.NewEncoder(os.Stdout).Encode(res)
	if failed.Load() > 0 {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func writeBody(b *bytes.Buffer, mode string, first, count, subjects int) {
	msg := func(i int) {
		fmt.Fprintf(b, `{"subject":"customer-%d","purpose":"answer_support_request","channel":"chat","text":"Bonjour, je n'ai pas reçu ma commande n° %d, pouvez-vous vérifier ? Merci"}`, i%subjects, 100000+i)
	}
	if mode != "batch" {
		msg(first)
		return
	}
	b.WriteString(`{"messages":[`)
	for j := range count {
		if j > 0 {
			b.WriteByte(',')
		}
		msg(first + j)
	}
	b.WriteString(`]}`)
}

func checkLoopback(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("refusing to load %s: not a loopback address", u.Hostname())
		}
	}
	return nil
}

// startGarde runs garde in this process on a temporary data directory and
// returns its URL and a service key.
func startGarde(ctx context.Context) (string, string, func(), error) {
	dir, err := os.MkdirTemp("", "garde-load-")
	if err != nil {
		return "", "", nil, err
	}
	mk, _, err := keyring.LoadOrCreateFile(filepath.Join(dir, "master.key"), time.Now())
	if err != nil {
		return "", "", nil, err
	}
	db, err := sqlite.Open(ctx, filepath.Join(dir, "garde.db"), sqlite.Options{})
	if err != nil {
		return "", "", nil, err
	}
	svc := app.New(db, mk, garde.SystemClock{})
	op := garde.Principal{KeyID: "cli", Role: garde.RoleOperator}
	_, adminText, err := svc.Tenancy.CreateTenant(ctx, op, "Load")
	if err != nil {
		return "", "", nil, err
	}
	admin, err := svc.Authenticate(ctx, adminText)
	if err != nil {
		return "", "", nil, err
	}
	if _, err := svc.Tenancy.ApplyRegister(ctx, admin, []byte(register)); err != nil {
		return "", "", nil, err
	}
	_, svcKey, err := svc.Tenancy.CreateAPIKey(ctx, admin, "service")
	if err != nil {
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv := &http.Server{Handler: web.NewServer(svc, logger, web.Options{MaxBody: 64 << 20})}
	go srv.Serve(ln)
	stop := func() {
		srv.Close()
		db.Close()
		os.RemoveAll(dir)
	}
	return "http://" + ln.Addr().String(), svcKey, stop, nil
}
