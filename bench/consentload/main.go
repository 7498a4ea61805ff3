// Command consentload measures consent recording over HTTP against a
// running garde on loopback: POST /v1/consents (one event per request, as
// group commit sees it) or POST /v1/consents:batch, from -c concurrent
// clients for -d.
//
//	garde serve --data-dir ./data &   # a tenant whose register has improve_replies
//	                                  # (legal basis consent) and a notice for it
//	go run ./bench/consentload -url http://127.0.0.1:8080 -key $SERVICE_KEY -c 64 -d 5s
//	go run ./bench/consentload -url http://127.0.0.1:8080 -key $SERVICE_KEY -c 4 -batch 100
//
// It exits 1 if any request failed; `garde verify ledger` afterwards checks
// the log.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "", "")
	key := flag.String("key", "", "")
	clients := flag.Int("c", 64, "")
	dur := flag.Duration("d", 5*time.Second, "")
	batch := flag.Int("batch", 0, "")
	flag.Parse()
	if u, err := neturl.Parse(*url); err != nil || (u.Hostname() != "127.0.0.1" && u.Hostname() != "localhost" && u.Hostname() != "::1") {
		fmt.Fprintln(os.Stderr, "consentload: -url must be a loopback address")
		os.Exit(2)
	}
	var ok, bad atomic.Int64
	var n atomic.Int64
	deadline := time.Now().Add(*dur)
	tr := &http.Transport{MaxIdleConnsPerHost: *clients}
	cl := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := n.Add(1)
				var body []byte
				path := "/v1/consents"
				per := int64(1)
				if *batch > 0 {
					path = "/v1/consents:batch"
					var b bytes.Buffer
					b.WriteString(`{"consents":[`)
					for j := 0; j < *batch; j++ {
						if j > 0 {
							b.WriteByte(',')
						}
						fmt.Fprintf(&b, `{"subject":"load-%d-%d","purpose":"improve_replies","action":"grant","method":"web","origin":{"ip":"192.0.2.1"}}`, i, j)
					}
					b.WriteString(`]}`)
					body = b.Bytes()
					per = int64(*batch)
				} else {
					body = []byte(fmt.Sprintf(`{"subject":"load-%d","purpose":"improve_replies","action":"grant","method":"web","origin":{"ip":"192.0.2.1"}}`, i))
				}
				req, _ := http.NewRequest("POST", *url+path, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+*key)
				req.Header.Set("Content-Type", "application/json")
				res, err := cl.Do(req)
				if err != nil {
					bad.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == 201 {
					ok.Add(per)
				} else {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	fmt.Printf("clients=%d batch=%d: %d consents in %.1fs = %.0f/s, %d failed\n", *clients, *batch, ok.Load(), el, float64(ok.Load())/el, bad.Load())
	if bad.Load() > 0 {
		os.Exit(1)
	}
}
