package gardetest

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/egress"
	"github.com/garde-privacy/garde/notify"
)

// testEgress attacks the OpenDSR callbacks, whose URLs any credential may
// name: every URL that leads inside garde's network, in every disguise, is
// refused by the default egress policy — no byte reaches the receiver — and
// each delivery records why, with a fixed code, until it is dead. Allowed
// explicitly (as GARDE_EGRESS_ALLOW does), loopback is reached, a redirect
// from there to the metadata service is not, and what arrives verifies
// with the tenant's callback key, once.
func testEgress(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, clk := newService(t, open)
	a := NewTenant(t, s, "A")
	rc := &recorder{}
	recv := httptest.NewServer(rc)
	defer recv.Close()
	port := recv.URL[strings.LastIndex(recv.URL, ":")+1:]
	inside := map[string]string{
		recv.URL:                                                "egress_refused_loopback",
		"http://localhost:" + port:                              "egress_refused_loopback",
		"http://[::1]:" + port:                                  "egress_refused_loopback",
		"http://[::ffff:127.0.0.1]:" + port:                     "egress_refused_loopback",
		"http://[64:ff9b::7f00:1]:" + port:                      "egress_refused_loopback",
		"http://[2002:7f00:1::]:" + port:                        "egress_refused_transition",
		"http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:" + port: "egress_refused_transition",
		"http://0.0.0.0:" + port:                                "egress_refused_unspecified",
		"http://240.0.0.1/":                                     "egress_refused_reserved",
		"http://10.0.0.1/":                                      "egress_refused_private",
		"http://100.64.0.1/":                                    "egress_refused_shared",
		"http://169.254.169.254/latest/meta-data/":              "egress_refused_link_local",
	}
	var urls []string
	for u := range inside {
		urls = append(urls, u)
	}
	ingest(t, s, a.Service, "kim", "bonjour")
	r := file(t, s, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestAccess, Source: "opendsr", ExternalID: "ext-1", CallbackURLs: urls}).Request
	jobs := rights.RightsJobs{Sender: &notify.Sender{}} // the default policy
	for range rights.MaxDeliveryAttempts + 1 {
		if _, err := s.Rights.SendDeliveries(ctx, jobs); err != nil {
			t.Fatal(err)
		}
		clk.Advance(7 * time.Hour) // past the longest backoff
	}
	ds, err := s.Rights.RequestDeliveries(ctx, a.DPO, r.ID)
	if err != nil || len(ds) != len(urls) {
		t.Fatalf("deliveries = %d, %v; want %d", len(ds), err, len(urls))
	}
	for _, d := range ds {
		if want := inside[d.Endpoint]; d.Status != garde.DeliveryDead || d.LastError != want || d.Attempts != rights.MaxDeliveryAttempts {
			t.Errorf("callback to %s: %s after %d attempts, last error %q; want dead with %q", d.Endpoint, d.Status, d.Attempts, d.LastError, want)
		}
	}
	// An erasure notice to a recipient whose register endpoint is on
	// loopback goes the same way.
	reg := strings.Replace(ExampleRegister, "recipients: [{name: Helpdesk SaaS, country: FR, role: processor}]",
		"recipients: [{name: Helpdesk SaaS, country: FR, role: processor, endpoint: '"+recv.URL+"/erase'}]", 1)
	if _, err := s.Tenancy.ApplyRegister(ctx, a.Admin, []byte(reg)); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, a.Service, "lou", "bonjour")
	er := file(t, s, a.DPO, rights.NewRequest{Subject: "lou", Type: garde.RequestErasure}).Request
	if _, err := s.Rights.SendDeliveries(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	if ds, err := s.Rights.RequestDeliveries(ctx, a.DPO, er.ID); err != nil || len(ds) != 1 || ds[0].Status != garde.DeliveryPending || ds[0].LastError != "egress_refused_loopback" {
		t.Fatalf("erasure notice to a loopback recipient = %+v, %v; want a retry with egress_refused_loopback", ds, err)
	}
	rc.mu.Lock()
	if rc.calls != 0 {
		t.Fatalf("the loopback receiver was reached %d times under the default policy", rc.calls)
	}
	rc.mu.Unlock()

	// The operator allows loopback. A receiver there is reached; one that
	// redirects to the metadata service does not take garde along.
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	r2 := file(t, s, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestAccess, Source: "opendsr", ExternalID: "ext-2",
		CallbackURLs: []string{recv.URL + "/cb", redirect.URL}}).Request
	// (The refused erasure notice waits out its backoff: the clock stands
	// still, so only these two callbacks are due.)
	allowed := rights.RightsJobs{Sender: &notify.Sender{Policy: egress.MustParse("127.0.0.1,::1")}}
	if _, err := s.Rights.SendDeliveries(ctx, allowed); err != nil {
		t.Fatal(err)
	}
	ds, err = s.Rights.RequestDeliveries(ctx, a.DPO, r2.ID)
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries = %+v, %v", ds, err)
	}
	if d := ds[0]; d.Status != garde.DeliveryDelivered {
		t.Errorf("callback to the allowed receiver: %+v", d)
	}
	if d := ds[1]; d.Status != garde.DeliveryPending || d.LastError != "egress_refused_redirect" {
		t.Errorf("callback to a redirecting receiver: %+v, want a retry with egress_refused_redirect", d)
	}
	pub, err := s.Rights.OpenDSRPublicKey(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString(pub)
	v := &notify.Verifier{PublicKey: ed25519.PublicKey(key)}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.hdrs) != 1 {
		t.Fatalf("the allowed receiver got %d callbacks, want 1", len(rc.hdrs))
	}
	id, err := v.Verify(rc.hdrs[0], rc.bodies[0])
	if err != nil || id != rights.DeliveryID(ds[0]) {
		t.Fatalf("callback Verify = %q, %v; want id %q", id, err, rights.DeliveryID(ds[0]))
	}
	if _, err := v.Verify(rc.hdrs[0], rc.bodies[0]); err != notify.ErrReplayed {
		t.Fatalf("the same callback replayed = %v, want ErrReplayed", err)
	}
}
