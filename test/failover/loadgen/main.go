// Command loadgen writes messages through garde's HTTP API as fast as a few
// workers can, records every acknowledged message id, and reports how long
// the API was unavailable; with -check it verifies afterwards that every
// acknowledged id is in the database. test/failover/run.sh drives it
// around a PostgreSQL failover.
//
//	loadgen -url http://127.0.0.1:18080 -admin KEY -register FILE -duration 60s -acks acks.txt
//	loadgen -check -db postgres://… -acks acks.txt
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:18080", "garde server; several, comma-separated, are shared round-robin among the workers")
	admin := flag.String("admin", "", "admin API key of the tenant (to create a service key and apply the register)")
	register := flag.String("register", "", "register YAML to apply first")
	duration := flag.Duration("duration", 60*time.Second, "how long to write")
	workers := flag.Int("workers", 4, "concurrent writers")
	acksFile := flag.String("acks", "acks.txt", "file of acknowledged message ids")
	check := flag.Bool("check", false, "check that every id in -acks is in the database at -db")
	db := flag.String("db", "", "database URL, for -check; while writing, also probed every 250ms (connect + write) to show what the database does")
	flag.Parse()
	var err error
	if *check {
		err = runCheck(*db, *acksFile)
	} else {
		err = runLoad(*url, *admin, *register, *db, *duration, *workers, *acksFile)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func call(client *http.Client, method, url, key, ctype string, body []byte, out any) (int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", ctype)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	return resp.StatusCode, nil
}

type result struct {
	start, end time.Time
	status     int // 0: transport error
	id         string
}

func runLoad(url, admin, registerFile, dsn string, duration time.Duration, workers int, acksFile string) error {
	client := &http.Client{Timeout: 90 * time.Second}
	urls := strings.Split(url, ",")
	url = urls[0]
	if registerFile != "" {
		doc, err := os.ReadFile(registerFile)
		if err != nil {
			return err
		}
		if _, err := call(client, "PUT", url+"/v1/register", admin, "application/yaml", doc, nil); err != nil {
			return err
		}
	}
	var key struct{ Key string }
	if _, err := call(client, "POST", url+"/v1/keys", admin, "application/json", []byte(`{"role":"service"}`), &key); err != nil {
		return err
	}
	acks, err := os.Create(acksFile)
	if err != nil {
		return err
	}
	defer acks.Close()
	var mu sync.Mutex
	var results []result
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	if dsn != "" {
		wg.Go(func() { probe(dsn, deadline) })
	}
	for w := range workers {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				body, _ := json.Marshal(map[string]string{
					"subject": fmt.Sprintf("failover-%d-%d", w, i%50), "purpose": "answer_support_request",
					"text": fmt.Sprintf("worker %d message %d", w, i),
				})
				r := result{start: time.Now()}
				var m struct{ ID string }
				status, err := call(client, "POST", urls[w%len(urls)]+"/v1/messages", key.Key, "application/json", body, &m)
				r.end, r.status, r.id = time.Now(), status, m.ID
				if err != nil && status == 0 {
					time.Sleep(50 * time.Millisecond) // the server is down: do not spin
				}
				mu.Lock()
				results = append(results, r)
				if err == nil {
					fmt.Fprintln(acks, m.ID)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	report(results)
	return nil
}

// probe connects to the database every 250ms and reports each change of
// outcome: how long connecting took and what failed.
func probe(dsn string, deadline time.Time) {
	last := ""
	for time.Now().Before(deadline) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		outcome := "ok"
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			var one int
			err = conn.QueryRow(ctx, `SELECT 1`).Scan(&one)
			conn.Close(ctx)
		}
		cancel()
		if err != nil {
			outcome = err.Error()
			if len(outcome) > 160 {
				outcome = outcome[:160]
			}
		}
		if took := time.Since(start); outcome != last || took > time.Second {
			fmt.Printf("probe %s: %s (took %v)\n", start.Format("15:04:05.000"), outcome, took.Round(time.Millisecond))
			last = outcome
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func report(results []result) {
	sort.Slice(results, func(i, j int) bool { return results[i].end.Before(results[j].end) })
	ok, byStatus := 0, map[int]int{}
	var lat []time.Duration
	var lastOK, gapStart, gapEnd time.Time
	var gap time.Duration
	for _, r := range results {
		if r.status != 201 {
			byStatus[r.status]++
			continue
		}
		ok++
		lat = append(lat, r.end.Sub(r.start))
		if !lastOK.IsZero() && r.end.Sub(lastOK) > gap {
			gap, gapStart, gapEnd = r.end.Sub(lastOK), lastOK, r.end
		}
		lastOK = r.end
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))]
	}
	if len(results) > 0 {
		span := results[len(results)-1].end.Sub(results[0].start)
		fmt.Printf("acknowledged writes per second: %.0f\n", float64(ok)/span.Seconds())
	}
	fmt.Printf("requests: %d, acknowledged (201): %d\n", len(results), ok)
	for s, n := range byStatus {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "transport error"
		}
		fmt.Printf("errors: %s: %d\n", name, n)
	}
	for _, r := range results {
		if r.status != 201 || r.end.Sub(r.start) > 5*time.Second {
			fmt.Printf("slow or failed: %d, sent %s, answered %s (%v)\n", r.status, r.start.Format("15:04:05.000"), r.end.Format("15:04:05.000"), r.end.Sub(r.start).Round(time.Millisecond))
		}
	}
	if len(results) > 0 {
		fmt.Printf("latency of acknowledged writes: p50 %v, p99 %v, max %v\n", pct(0.5).Round(time.Millisecond), pct(0.99).Round(time.Millisecond), pct(1).Round(time.Millisecond))
		fmt.Printf("longest time without an acknowledged write: %v (from %s to %s)\n", gap.Round(time.Millisecond), gapStart.Format("15:04:05.000"), gapEnd.Format("15:04:05.000"))
	}
}

func runCheck(dsn, acksFile string) error {
	f, err := os.Open(acksFile)
	if err != nil {
		return err
	}
	defer f.Close()
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			ids = append(ids, s)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT id FROM messages WHERE id = ANY($1)`, ids)
	if err != nil {
		return err
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, id := range found {
		have[id] = true
	}
	missing := 0
	for _, id := range ids {
		if !have[id] {
			missing++
			fmt.Println("missing:", id)
		}
	}
	var total int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&total); err != nil {
		return err
	}
	fmt.Printf("acknowledged: %d, found: %d, missing: %d (messages in the database: %d)\n", len(ids), len(ids)-missing, missing, total)
	if missing > 0 {
		return fmt.Errorf("%d acknowledged writes lost", missing)
	}
	return nil
}
