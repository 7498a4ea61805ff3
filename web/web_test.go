package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/web"
	"github.com/garde-privacy/garde/web/internal/dashtest"
)

type env struct {
	t        *testing.T
	svc      *app.Service
	srv      *web.Server
	ts       *httptest.Server
	a, b     gardetest.Tenant
	operator string
	logs     *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	db := dashtest.OpenStore(t)
	svc := app.New(db, gardetest.MasterKeys(t), gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	logs := &bytes.Buffer{}
	srv := web.NewServer(svc, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), web.Options{MaxBody: 64 << 10})
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	_, op, err := svc.Tenancy.CreateOperatorKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, svc: svc, srv: srv, ts: ts, operator: op, logs: logs}
	e.a = gardetest.NewTenant(t, svc, "A")
	e.b = gardetest.NewTenant(t, svc, "B")
	// B's register is told apart by its controller's name.
	e.do(e.b.Keys[garde.RoleAdmin], "PUT", "/v1/register", strings.Replace(gardetest.ExampleRegister, "Example SAS", "B SAS", 1), 201)
	e.do(e.b.Keys[garde.RoleService], "POST", "/v1/messages", `{"subject":"b-only","purpose":"answer_support_request","text":"B's message"}`, 201)
	e.do(e.b.Keys[garde.RoleService], "POST", "/v1/messages", `{"subject":"shared","purpose":"answer_support_request","text":"B on shared"}`, 201)
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, r.body)
	}
	return m
}

func (e *env) request(key, method, path, body string, hdr ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

func (e *env) do(key, method, path, body string, want int) response {
	e.t.Helper()
	r := e.request(key, method, path, body)
	if r.status != want {
		e.t.Fatalf("%s %s = %d, want %d\n%s", method, path, r.status, want, r.body)
	}
	return r
}

func (e *env) messages(key, subject string) []string {
	e.t.Helper()
	r := e.do(key, "GET", "/v1/subjects/"+subject+"/messages?purpose=answer_support_request", "", 200)
	var out struct{ Messages []struct{ Text string } }
	json.Unmarshal(r.body, &out)
	var texts []string
	for _, m := range out.Messages {
		texts = append(texts, m.Text)
	}
	return texts
}

// TestCrossTenant shows, route by route, that a key of tenant A never
// reads, lists, counts or changes anything of tenant B. A route without an
// entry here fails the test.
func TestCrossTenant(t *testing.T) {
	e := newEnv(t)
	aAdmin, aSvc, aDPO := e.a.Keys[garde.RoleAdmin], e.a.Keys[garde.RoleService], e.a.Keys[garde.RoleDPO]
	cases := map[string]func(t *testing.T){
		"GET /healthz":      func(t *testing.T) {},
		"GET /readyz":       func(t *testing.T) {},
		"GET /openapi.json": func(t *testing.T) {},
		"GET /metrics": func(t *testing.T) {
			body := string(e.do("", "GET", "/metrics", "", 200).body)
			for _, id := range []garde.TenantID{e.a.ID, e.b.ID} {
				if strings.Contains(body, string(id)) {
					t.Fatalf("metrics carry tenant id %s", id)
				}
			}
		},
		"POST /v1/tenants": func(t *testing.T) {
			e.do(aAdmin, "POST", "/v1/tenants", `{"name":"C"}`, 403)
		},
		"POST /v1/keys": func(t *testing.T) {
			r := e.do(aAdmin, "POST", "/v1/keys", `{"role":"service"}`, 201)
			p, err := e.svc.Authenticate(context.Background(), r.json(t)["key"].(string))
			if err != nil || p.Tenant != e.a.ID {
				t.Fatalf("new key belongs to %s, %v; want A", p.Tenant, err)
			}
		},
		"GET /v1/keys": func(t *testing.T) {
			body := string(e.do(aAdmin, "GET", "/v1/keys", "", 200).body)
			for _, id := range []string{e.b.Admin.KeyID, e.b.Service.KeyID, e.b.DPO.KeyID} {
				if strings.Contains(body, id) {
					t.Fatalf("A's key list shows B's key %s", id)
				}
			}
		},
		"DELETE /v1/keys/{id}": func(t *testing.T) {
			e.do(aAdmin, "DELETE", "/v1/keys/"+e.b.Service.KeyID, "", 404)
			if got := e.messages(e.b.Keys[garde.RoleService], "b-only"); len(got) != 1 {
				t.Fatal("B's service key stopped working")
			}
		},
		"PUT /v1/register": func(t *testing.T) {
			e.do(aAdmin, "PUT", "/v1/register", gardetest.ExampleRegister, 201)
			r := e.do(e.b.Keys[garde.RoleDPO], "GET", "/v1/register", "", 200).json(t)
			if r["version"].(float64) != 2 || !strings.Contains(fmt.Sprint(r["register"]), "B SAS") {
				t.Fatalf("B's register changed: %v", r)
			}
		},
		"GET /v1/register": func(t *testing.T) {
			for _, v := range []string{"", "?version=2"} {
				r := e.request(aDPO, "GET", "/v1/register"+v, "")
				if strings.Contains(string(r.body), "B SAS") {
					t.Fatalf("A reads B's register")
				}
			}
		},
		"POST /v1/messages": func(t *testing.T) {
			e.do(aSvc, "POST", "/v1/messages", `{"subject":"shared","purpose":"answer_support_request","text":"A on shared"}`, 201)
			if got := e.messages(e.b.Keys[garde.RoleService], "shared"); !slices.Equal(got, []string{"B on shared"}) {
				t.Fatalf("B's subject sees %q", got)
			}
		},
		"POST /v1/messages:batch": func(t *testing.T) {
			e.do(aSvc, "POST", "/v1/messages:batch", `{"messages":[{"subject":"shared","purpose":"answer_support_request","text":"A batch"}]}`, 201)
			if got := e.messages(e.b.Keys[garde.RoleService], "shared"); !slices.Equal(got, []string{"B on shared"}) {
				t.Fatalf("B's subject sees %q", got)
			}
		},
		"GET /v1/subjects/{subject}/messages": func(t *testing.T) {
			if got := e.messages(aSvc, "b-only"); len(got) != 0 {
				t.Fatalf("A reads B's subject: %q", got)
			}
			for _, text := range e.messages(aSvc, "shared") {
				if strings.HasPrefix(text, "B") {
					t.Fatalf("A reads B's message %q", text)
				}
			}
		},
		"GET /v1/audit": func(t *testing.T) {
			body := string(e.do(aDPO, "GET", "/v1/audit", "", 200).body)
			for _, id := range []string{e.b.Admin.KeyID, e.b.Service.KeyID, e.b.DPO.KeyID} {
				if strings.Contains(body, id) {
					t.Fatalf("A's audit shows B's key %s", id)
				}
			}
		},
	}
	maps.Copy(cases, consentCrossTenantCases(e)) // web/consent_test.go
	maps.Copy(cases, breachCrossTenantCases(e))  // web/breach_test.go
	maps.Copy(cases, rightsCrossTenantCases(e))  // web/rights_test.go
	for _, rt := range e.srv.Routes() {
		if rt.Dashboard {
			continue // web/dashboard_test.go
		}
		name := rt.Method + " " + rt.Pattern
		fn, ok := cases[name]
		if !ok {
			t.Errorf("route %s has no cross-tenant case", name)
			continue
		}
		t.Run(name, fn)
	}
}

// validRequests holds, for each route, a request that succeeds for a role
// allowed to make it.
func validRequests(e *env) map[string][2]string {
	m := map[string][2]string{
		"POST /v1/tenants":                    {"/v1/tenants", `{"name":"New"}`},
		"POST /v1/keys":                       {"/v1/keys", `{"role":"dpo"}`},
		"GET /v1/keys":                        {"/v1/keys", ""},
		"DELETE /v1/keys/{id}":                {"/v1/keys/{id}", ""},
		"PUT /v1/register":                    {"/v1/register", gardetest.ExampleRegister},
		"GET /v1/register":                    {"/v1/register", ""},
		"POST /v1/messages":                   {"/v1/messages", `{"subject":"s","purpose":"answer_support_request","text":"hi"}`},
		"POST /v1/messages:batch":             {"/v1/messages:batch", `{"messages":[{"subject":"s","purpose":"answer_support_request","text":"hi"}]}`},
		"GET /v1/subjects/{subject}/messages": {"/v1/subjects/s/messages?purpose=answer_support_request", ""},
		"GET /v1/audit":                       {"/v1/audit", ""},
	}
	maps.Copy(m, consentValidRequests(e)) // web/consent_test.go
	maps.Copy(m, breachValidRequests(e))  // web/breach_test.go
	maps.Copy(m, rightsValidRequests(e))  // web/rights_test.go
	return m
}

// TestRoleMatrix checks that each role gets exactly what it may, on every
// route, and that no, malformed and revoked keys get 401.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	keys := map[garde.Role]string{
		garde.RoleAdmin: e.a.Keys[garde.RoleAdmin], garde.RoleService: e.a.Keys[garde.RoleService],
		garde.RoleDPO: e.a.Keys[garde.RoleDPO], garde.RoleOperator: e.operator,
	}
	_, revokedText, _ := e.svc.Tenancy.CreateAPIKey(ctx, e.a.Admin, "service")
	revoked, _ := e.svc.Authenticate(ctx, revokedText)
	e.svc.Tenancy.RevokeAPIKey(ctx, e.a.Admin, revoked.KeyID)
	reqs := validRequests(e)
	for _, rt := range e.srv.Routes() {
		if rt.Dashboard {
			continue // web/dashboard_test.go
		}
		if len(rt.Roles()) == 0 {
			if r := e.request("", rt.Method, rt.Pattern, ""); r.status != rt.Status {
				t.Errorf("%s %s without a key = %d, want %d", rt.Method, rt.Pattern, r.status, rt.Status)
			}
			continue
		}
		name := rt.Method + " " + rt.Pattern
		req, ok := reqs[name]
		if !ok {
			t.Errorf("route %s has no entry in validRequests", name)
			continue
		}
		for _, role := range []garde.Role{garde.RoleAdmin, garde.RoleService, garde.RoleDPO, garde.RoleOperator} {
			path := req[0]
			if strings.Contains(path, "{id}") {
				_, text, _ := e.svc.Tenancy.CreateAPIKey(ctx, e.a.Admin, "service")
				p, _ := e.svc.Authenticate(ctx, text)
				path = strings.Replace(path, "{id}", p.KeyID, 1)
			}
			r := e.request(keys[role], rt.Method, path, req[1])
			want := http.StatusForbidden
			if slices.Contains(rt.Roles(), role) {
				want = rt.Status
			}
			if r.status != want {
				t.Errorf("%s as %s = %d, want %d\n%s", name, role, r.status, want, r.body)
			}
		}
		for what, key := range map[string]string{"no key": "", "malformed key": "nope", "unknown key": "garde_aaaaaaaaaaaaaaaa_bbbb", "revoked key": revokedText} {
			r := e.request(key, rt.Method, strings.Replace(req[0], "{id}", "key_x", 1), req[1])
			if r.status != http.StatusUnauthorized || r.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s with %s = %d %s, want 401 problem+json", name, what, r.status, r.header.Get("Content-Type"))
			}
		}
	}
}

func TestProblems(t *testing.T) {
	e := newEnv(t)
	svc := e.a.Keys[garde.RoleService]
	admin := e.a.Keys[garde.RoleAdmin]
	tests := []struct {
		name        string
		key, method string
		path, body  string
		status      int
		field       string
	}{
		{"malformed JSON", svc, "POST", "/v1/messages", `{"subject":`, 400, "body"},
		{"unknown field", svc, "POST", "/v1/messages", `{"subject":"s","purpose":"answer_support_request","text":"x","colour":"red"}`, 400, "colour"},
		{"wrong type", svc, "POST", "/v1/messages", `{"subject":7,"purpose":"answer_support_request","text":"x"}`, 400, "subject"},
		{"invalid UTF-8", svc, "POST", "/v1/messages", "{\"subject\":\"s\",\"purpose\":\"answer_support_request\",\"text\":\"\xff\xfe\"}", 400, "body"},
		{"trailing data", svc, "POST", "/v1/messages", `{"subject":"s","purpose":"answer_support_request","text":"x"} {}`, 400, "body"},
		{"empty body", svc, "POST", "/v1/messages", ``, 400, "body"},
		{"missing purpose", svc, "POST", "/v1/messages", `{"subject":"s","text":"x"}`, 400, "purpose"},
		{"purpose not in register", svc, "POST", "/v1/messages", `{"subject":"s","purpose":"marketing","text":"x"}`, 403, "purpose"},
		{"no consent", svc, "POST", "/v1/messages", `{"subject":"s","purpose":"improve_replies","text":"x"}`, 403, "purpose"},
		{"batch field path", svc, "POST", "/v1/messages:batch", `{"messages":[{"subject":"s","purpose":"answer_support_request","text":"x"},{"subject":"s","purpose":"answer_support_request","channel":"fax","text":"x"}]}`, 400, "messages[1].channel"},
		{"read without purpose", svc, "GET", "/v1/subjects/s/messages", ``, 400, "purpose"},
		{"register path", admin, "PUT", "/v1/register", strings.Replace(gardetest.ExampleRegister, "legal_basis: consent", "legal_basis: maybe", 1), 400, "purposes[1].legal_basis"},
		{"register unknown key", admin, "PUT", "/v1/register", gardetest.ExampleRegister + "colour: red\n", 400, "colour"},
		{"register transfer", admin, "PUT", "/v1/register", strings.Replace(gardetest.ExampleRegister, "country: FR", "country: US", 1), 400, "purposes[0].recipients[0].country"},
		{"register region", admin, "PUT", "/v1/register", strings.Replace(gardetest.ExampleRegister, "eu-west-3", "us-east-1", 1), 400, "region"},
		{"too large", svc, "POST", "/v1/messages", `{"subject":"s","purpose":"answer_support_request","text":"` + strings.Repeat("a", 70<<10) + `"}`, 413, ""},
		{"no route", svc, "GET", "/v1/nothing", ``, 404, ""},
		{"bad version", e.a.Keys[garde.RoleDPO], "GET", "/v1/register?version=zero", ``, 400, "version"},
		{"bad audit time", e.a.Keys[garde.RoleDPO], "GET", "/v1/audit?since=yesterday", ``, 400, "since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.request(tt.key, tt.method, tt.path, tt.body)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d\n%s", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type = %q, want application/problem+json", ct)
			}
			var p struct {
				Type   string
				Status int
				Errors []struct{ Field string }
			}
			if err := json.Unmarshal(r.body, &p); err != nil || p.Status != tt.status || !strings.HasPrefix(p.Type, "urn:garde:problem:") {
				t.Fatalf("problem = %s (%v)", r.body, err)
			}
			if tt.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.field) {
				t.Fatalf("problem names fields %+v, want %q\n%s", p.Errors, tt.field, r.body)
			}
		})
	}
	// Nothing of the refused requests was stored.
	if got := e.messages(svc, "s"); len(got) != 0 {
		t.Fatalf("refused requests left %d messages", len(got))
	}
}

func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(e.do("", "GET", "/openapi.json", "", 200).body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	for _, rt := range e.srv.Routes() {
		if rt.Dashboard {
			continue // HTML pages, not the API
		}
		op := doc.Paths[rt.Pattern][strings.ToLower(rt.Method)]
		if op == nil {
			t.Errorf("%s %s is not in /openapi.json", rt.Method, rt.Pattern)
			continue
		}
		if _, ok := op["responses"].(map[string]any)[fmt.Sprint(rt.Status)]; !ok {
			t.Errorf("%s %s: success status %d not described", rt.Method, rt.Pattern, rt.Status)
		}
	}
}

func TestNoPersonalDataInLogsOrMetrics(t *testing.T) {
	e := newEnv(t)
	email, phone, name := "jeanne.martin@example.fr", "+33 6 12 34 56 78", "Jeanne Martin"
	subject := "jeanne.martin@example.fr"
	e.do(e.a.Keys[garde.RoleService], "POST", "/v1/messages",
		fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":"Bonjour, je suis %s, %s","fields":{"user.contact.email":%q}}`, subject, name, phone, email), 201)
	e.messages(e.a.Keys[garde.RoleService], subject)
	e.request(e.a.Keys[garde.RoleService], "POST", "/v1/messages", fmt.Sprintf(`{"subject":%q,"purpose":"marketing","text":%q}`, subject, name))
	metrics := e.do("", "GET", "/metrics", "", 200).body
	audit := e.do(e.a.Keys[garde.RoleDPO], "GET", "/v1/audit", "", 200).body
	for _, s := range []string{email, phone, name, "Jeanne"} {
		for where, b := range map[string][]byte{"logs": e.logs.Bytes(), "metrics": metrics, "audit": audit} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contain %q", where, s)
			}
		}
	}
}

func TestContentTypes(t *testing.T) {
	e := newEnv(t)
	body := `{"subject":"ct","purpose":"answer_support_request","text":"hi"}`
	for ct, want := range map[string]int{
		"application/json":                  201,
		"application/json; charset=utf-8":   201,
		"application/x-www-form-urlencoded": 201, // curl -d
		"multipart/form-data; boundary=x":   415,
		"application/xml":                   415,
	} {
		r := e.request(e.a.Keys[garde.RoleService], "POST", "/v1/messages", body, "Content-Type", ct)
		if r.status != want {
			t.Errorf("Content-Type %q: %d, want %d\n%s", ct, r.status, want, r.body)
		}
	}
}
