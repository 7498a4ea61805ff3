package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/notify"
)

// fileRequest files a request through the service and returns it.
func fileRequest(e *env, p garde.Principal, subject, typ, hold string) garde.RightsRequest {
	e.t.Helper()
	f, err := e.svc.Rights.FileRequest(context.Background(), p, rights.NewRequest{Subject: subject, Type: typ, LegalHold: hold})
	if err != nil {
		e.t.Fatal(err)
	}
	return f.Request
}

func ingestOne(e *env, key, subject, text string) string {
	e.t.Helper()
	return e.do(key, "POST", "/v1/messages", `{"subject":"`+subject+`","purpose":"answer_support_request","text":"`+text+`"}`, 201).json(e.t)["id"].(string)
}

func rightsValidRequests(e *env) map[string][2]string {
	aSvc := e.a.Keys[garde.RoleService]
	access := fileRequest(e, e.a.DPO, "s", garde.RequestAccess, "")
	held := fileRequest(e, e.a.DPO, "s", garde.RequestErasure, "litigation 2026-17")
	ingestOne(e, aSvc, "gone", "to erase")
	erased := fileRequest(e, e.a.DPO, "gone", garde.RequestErasure, "")
	msg := ingestOne(e, aSvc, "s", "to rectify")
	for _, ext := range []string{"ext-status", "ext-cancel"} {
		if _, err := e.svc.Rights.FileRequest(context.Background(), e.a.DPO, rights.NewRequest{Subject: "s", Type: garde.RequestAccess, Source: "opendsr", ExternalID: ext}); err != nil {
			e.t.Fatal(err)
		}
	}
	return map[string][2]string{
		"POST /v1/requests":                               {"/v1/requests", `{"subject":"s","type":"access"}`},
		"GET /v1/requests":                                {"/v1/requests?status=in_progress", ""},
		"POST /v1/requests:lookup":                        {"/v1/requests:lookup", `{"subject":"s"}`},
		"GET /v1/requests/{request}":                      {"/v1/requests/" + access.ID, ""},
		"POST /v1/requests/{request}/actions":             {"/v1/requests/" + held.ID + "/actions", `{"action":"hold","reason":"litigation 2026-17"}`},
		"GET /v1/requests/{request}/export":               {"/v1/requests/" + access.ID + "/export", ""},
		"GET /v1/requests/{request}/certificate":          {"/v1/requests/" + erased.ID + "/certificate", ""},
		"PATCH /v1/subjects/{subject}/messages/{message}": {"/v1/subjects/s/messages/" + msg, `{"text":"corrected"}`},
		"DELETE /v1/subjects/{subject}/restriction":       {"/v1/subjects/s/restriction", ""},
		"GET /v1/rights/webhook-secret":                   {"/v1/rights/webhook-secret?endpoint=https://crm.example/erase", ""},
		"POST /opendsr/requests":                          {"/opendsr/requests", `{"subject_request_id":"ext-create","subject_request_type":"access","subject_identities":[{"identity_type":"controller_customer_id","identity_value":"s"}]}`},
		"GET /opendsr/requests/{request}":                 {"/opendsr/requests/ext-status", ""},
		"DELETE /opendsr/requests/{request}":              {"/opendsr/requests/ext-cancel", ""},
		"GET /opendsr/key":                                {"/opendsr/key", ""},
	}
}

// rightsCrossTenantCases show that tenant A's keys never see, count or
// change tenant B's requests, exports, certificates or subjects.
func rightsCrossTenantCases(e *env) map[string]func(t *testing.T) {
	aAdmin, aDPO, aSvc := e.a.Keys[garde.RoleAdmin], e.a.Keys[garde.RoleDPO], e.a.Keys[garde.RoleService]
	bSvc := e.b.Keys[garde.RoleService]
	bAccess := fileRequest(e, e.b.DPO, "b-rights", garde.RequestAccess, "")
	bHeld := fileRequest(e, e.b.DPO, "b-rights", garde.RequestErasure, "hold")
	bMsg := ingestOne(e, bSvc, "b-rights", "B secret text")
	e.do(bSvc, "POST", "/v1/messages", `{"subject":"b-gone","purpose":"answer_support_request","text":"B gone"}`, 201)
	bErased := fileRequest(e, e.b.DPO, "b-gone", garde.RequestErasure, "")
	if _, err := e.svc.Rights.FileRequest(context.Background(), e.b.DPO, rights.NewRequest{Subject: "b-rights", Type: garde.RequestAccess, Source: "opendsr", ExternalID: "b-ext"}); err != nil {
		e.t.Fatal(err)
	}
	bRestricted := fileRequest(e, e.b.DPO, "b-restricted", garde.RequestRestriction, "")
	_ = bRestricted
	hidden := []string{bAccess.ID, bHeld.ID, bErased.ID, "b-rights", "B secret text", "b-ext"}
	clean := func(t *testing.T, body []byte) {
		t.Helper()
		for _, s := range hidden {
			if strings.Contains(string(body), s) {
				t.Fatalf("A's response shows %q:\n%s", s, body)
			}
		}
	}
	return map[string]func(t *testing.T){
		"POST /v1/requests": func(t *testing.T) {
			r := e.do(aDPO, "POST", "/v1/requests", `{"subject":"b-rights","type":"erasure"}`, 201).json(t)
			if r["status"] != garde.StatusCompleted {
				t.Fatalf("A's erasure of its own b-rights: %v", r)
			}
			if got := e.messages(bSvc, "b-rights"); len(got) != 1 {
				t.Fatalf("A's erasure reached B's subject of the same name: %q", got)
			}
		},
		"GET /v1/requests": func(t *testing.T) {
			clean(t, e.do(aDPO, "GET", "/v1/requests", "", 200).body)
		},
		"POST /v1/requests:lookup": func(t *testing.T) {
			clean(t, e.do(aAdmin, "POST", "/v1/requests:lookup", `{"subject":"b-rights"}`, 200).body)
		},
		"GET /v1/requests/{request}": func(t *testing.T) {
			clean(t, e.do(aSvc, "GET", "/v1/requests/"+bAccess.ID, "", 404).body)
		},
		"POST /v1/requests/{request}/actions": func(t *testing.T) {
			e.do(aDPO, "POST", "/v1/requests/"+bHeld.ID+"/actions", `{"action":"release"}`, 404)
			if r, _ := e.svc.Rights.Request(context.Background(), e.b.DPO, bHeld.ID); r.LegalHold == "" {
				t.Fatal("A released B's hold")
			}
		},
		"GET /v1/requests/{request}/export": func(t *testing.T) {
			clean(t, e.do(aDPO, "GET", "/v1/requests/"+bAccess.ID+"/export", "", 404).body)
		},
		"GET /v1/requests/{request}/certificate": func(t *testing.T) {
			e.do(aDPO, "GET", "/v1/requests/"+bErased.ID+"/certificate", "", 404)
		},
		"GET /v1/verify/{token}": func(t *testing.T) {},
		"POST /v1/verify/{token}": func(t *testing.T) {
			// Tokens are global secrets: covered by TestRightsFlow.
		},
		"PATCH /v1/subjects/{subject}/messages/{message}": func(t *testing.T) {
			e.do(aDPO, "PATCH", "/v1/subjects/b-rights/messages/"+bMsg, `{"text":"A was here"}`, 404)
			if got := e.messages(bSvc, "b-rights"); len(got) != 1 || got[0] != "B secret text" {
				t.Fatalf("B's message changed: %q", got)
			}
		},
		"DELETE /v1/subjects/{subject}/restriction": func(t *testing.T) {
			e.do(aDPO, "DELETE", "/v1/subjects/b-restricted/restriction", "", 204)
			r := e.request(bSvc, "POST", "/v1/messages", `{"subject":"b-restricted","purpose":"answer_support_request","text":"x"}`)
			if r.status != 403 || !strings.Contains(string(r.body), "processing_restricted") {
				t.Fatalf("A lifted B's restriction: %d %s", r.status, r.body)
			}
		},
		"GET /v1/rights/webhook-secret": func(t *testing.T) {
			q := "/v1/rights/webhook-secret?endpoint=https://crm.example/erase"
			a := e.do(aAdmin, "GET", q, "", 200).json(t)["secret"]
			b := e.do(e.b.Keys[garde.RoleAdmin], "GET", q, "", 200).json(t)["secret"]
			if a == b {
				t.Fatal("two tenants share a webhook secret")
			}
		},
		"GET /opendsr/discovery": func(t *testing.T) {},
		"POST /opendsr/requests": func(t *testing.T) {
			// B's subject_request_id is A's to use: ids are per tenant.
			r := e.do(aAdmin, "POST", "/opendsr/requests", `{"subject_request_id":"b-ext","subject_request_type":"access","subject_identities":[{"identity_type":"email","identity_value":"x"}]}`, 201).json(t)
			if r["x_garde_request"] == bAccess.ID {
				t.Fatal("A got B's request")
			}
			b := e.do(e.b.Keys[garde.RoleDPO], "GET", "/opendsr/requests/b-ext", "", 200).json(t)
			if b["request_status"] != "pending" && b["request_status"] != "in_progress" {
				t.Fatalf("B's OpenDSR request: %v", b)
			}
		},
		"GET /opendsr/requests/{request}": func(t *testing.T) {
			e.do(aDPO, "GET", "/opendsr/requests/nope", "", 404)
		},
		"DELETE /opendsr/requests/{request}": func(t *testing.T) {
			e.do(aDPO, "DELETE", "/opendsr/requests/nope", "", 404)
			if r, _ := e.svc.Rights.RequestByExternalID(context.Background(), e.b.DPO, "b-ext"); r.Status == garde.StatusCancelled {
				t.Fatal("A cancelled B's request")
			}
		},
		"GET /opendsr/key": func(t *testing.T) {
			a := e.do(aAdmin, "GET", "/opendsr/key", "", 200).body
			b := e.do(e.b.Keys[garde.RoleAdmin], "GET", "/opendsr/key", "", 200).body
			if string(a) == string(b) {
				t.Fatal("two tenants share a callback key")
			}
		},
	}
}

// TestRightsFlow drives the API as a tenant's tools would: a subject's
// request through the verification link, exports in JSON and HTML, and an
// OpenDSR erasure with a signed status callback to a real receiver.
func TestRightsFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	aSvc, aDPO := e.a.Keys[garde.RoleService], e.a.Keys[garde.RoleDPO]
	ingestOne(e, aSvc, "zoé@example.fr", "Bonjour <b>zoé</b>")

	// Filed by the application: a link for the subject.
	r := e.do(aSvc, "POST", "/v1/requests", `{"subject":"zoé@example.fr","type":"access"}`, 201).json(t)
	if r["status"] != garde.StatusReceived || r["due_at"] != "2026-04-01T23:59:59.999999Z" {
		t.Fatalf("filed: %v", r)
	}
	link := r["verification_url"].(string)
	path := link[strings.Index(link, "/v1/verify/"):]
	page := e.do("", "GET", path, "", 200)
	if !strings.Contains(string(page.body), "<form method=\"post\">") {
		t.Fatalf("verification page: %s", page.body)
	}
	if got := e.do(aDPO, "GET", "/v1/requests/"+r["id"].(string), "", 200).json(t)["status"]; got != garde.StatusReceived {
		t.Fatalf("following the link changed the request: %v", got)
	}
	done := e.do("", "POST", path, "", 200)
	if !strings.Contains(string(done.body), "is confirmed") {
		t.Fatalf("confirmation page: %s", done.body)
	}
	again := e.do("", "POST", path, "", 200)
	if !strings.Contains(string(again.body), "does not work") {
		t.Fatalf("second use: %s", again.body)
	}
	id := r["id"].(string)
	if got := e.do(aDPO, "GET", "/v1/requests/"+id, "", 200).json(t)["status"]; got != garde.StatusInProgress {
		t.Fatalf("after verification: %v", got)
	}

	// Exports.
	j := e.do(aDPO, "GET", "/v1/requests/"+id+"/export", "", 200)
	var exp struct {
		Subject  string
		Purposes []struct {
			ID         string
			LegalBasis string `json:"legal_basis"`
		}
		Requests []struct{ ID string }
		Messages []struct{ Text string }
	}
	if err := json.Unmarshal(j.body, &exp); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, j.body)
	}
	if exp.Subject != "zoé@example.fr" || len(exp.Messages) != 1 || exp.Messages[0].Text != "Bonjour <b>zoé</b>" || exp.Purposes[0].LegalBasis == "" || len(exp.Requests) != 1 {
		t.Fatalf("export = %+v", exp)
	}
	h := e.do(aDPO, "GET", "/v1/requests/"+id+"/export?format=html", "", 200)
	if !strings.Contains(string(h.body), "Bonjour &lt;b&gt;zoé&lt;/b&gt;") || !strings.Contains(string(h.body), "contract") || !strings.HasSuffix(string(h.body), "</html>\n") {
		t.Fatalf("HTML export:\n%s", h.body)
	}
	if strings.Contains(e.logs.String(), "zoé") {
		t.Fatal("the subject's identifier reached the logs")
	}

	// OpenDSR: an erasure with a callback.
	var mu sync.Mutex
	var bodies [][]byte
	var hdrs []http.Header
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, hdrs = append(bodies, b), append(hdrs, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer cb.Close()
	disc := e.do("", "GET", "/opendsr/discovery", "", 200).json(t)
	if disc["api_version"] != rights.OpenDSRAPIVersion {
		t.Fatalf("discovery = %v", disc)
	}
	body := `{"subject_request_id":"a7551968-d5d6-44b2-9831-815ac9017798","subject_request_type":"erasure","submitted_time":"2026-02-28T10:00:00Z",
		"subject_identities":[{"identity_type":"email","identity_value":"zoé@example.fr","identity_format":"raw"}],"api_version":"3.0","status_callback_urls":["` + cb.URL + `"]}`
	c := e.do(aDPO, "POST", "/opendsr/requests", body, 201).json(t)
	if c["expected_completion_time"] != "2026-03-28T23:59:59.999999Z" {
		t.Fatalf("OpenDSR create = %v", c)
	}
	st := e.do(aDPO, "GET", "/opendsr/requests/a7551968-d5d6-44b2-9831-815ac9017798", "", 200).json(t)
	if st["request_status"] != "completed" {
		t.Fatalf("OpenDSR status = %v", st)
	}
	e.do(aDPO, "DELETE", "/opendsr/requests/a7551968-d5d6-44b2-9831-815ac9017798", "", 409)
	if _, err := e.svc.Rights.SendDeliveries(ctx, rights.RightsJobs{Sender: &notify.Sender{Policy: gardetest.LoopbackEgress}}); err != nil {
		t.Fatal(err)
	}
	pub, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(e.do(aDPO, "GET", "/opendsr/key", "", 200).body)))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), `"request_status":"completed"`) {
		t.Fatalf("callbacks = %q", bodies)
	}
	// A receiver verifies with the published key: signature over the
	// timestamp, the delivery id and the body; a replay is refused.
	v := &notify.Verifier{PublicKey: ed25519.PublicKey(pub)}
	if _, err := v.Verify(hdrs[0], bodies[0]); err != nil {
		t.Fatalf("callback does not verify with /opendsr/key: %v", err)
	}
	if _, err := v.Verify(hdrs[0], bodies[0]); !errors.Is(err, notify.ErrReplayed) {
		t.Fatalf("the same callback again = %v, want ErrReplayed", err)
	}
	// The callback key is not the ledger key: the ledger's verifier key
	// does not check a callback.
	lk := strings.TrimSpace(string(e.do(aDPO, "GET", "/v1/ledger/key", "", 200).body))
	lraw, _ := base64.StdEncoding.DecodeString(strings.SplitN(lk, "+", 3)[2])
	if len(lraw) != 1+ed25519.PublicKeySize || bytes.Equal(lraw[1:], pub) {
		t.Fatal("the callback key is the ledger key")
	}
	if _, err := (&notify.Verifier{PublicKey: ed25519.PublicKey(lraw[1:])}).Verify(hdrs[0], bodies[0]); !errors.Is(err, notify.ErrBadSignature) {
		t.Fatalf("callback checked with the ledger key = %v, want ErrBadSignature", err)
	}
	if strings.Contains(string(bodies[0]), "zoé") {
		t.Fatal("the callback names the subject")
	}
	if got := e.messages(aSvc, "zoé@example.fr"); len(got) != 0 {
		t.Fatalf("after the OpenDSR erasure: %q", got)
	}
	cert := e.do(aDPO, "GET", "/v1/requests/"+c["x_garde_request"].(string)+"/certificate", "", 200)
	key := strings.TrimSpace(string(e.do(aDPO, "GET", "/v1/ledger/key", "", 200).body))
	if _, err := rights.VerifyCertificate(cert.body, key); err != nil {
		t.Fatalf("certificate: %v", err)
	}
}
