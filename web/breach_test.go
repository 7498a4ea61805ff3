package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/breach"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
)

const breachBody = `{"aware_at":"2026-03-01T08:00:00Z","nature":["confidentiality"],"description":"A support export was sent to the wrong customer."}`

// operatorBreach enters an operator breach affecting the given tenants.
func operatorBreach(e *env, tenants ...garde.TenantID) string {
	e.t.Helper()
	aware := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	desc := "Platform incident"
	b, err := e.svc.Breach.CreateBreach(context.Background(), gardetest.Operator, breach.NewBreach{
		BreachChange: breach.BreachChange{AwareAt: &aware, Nature: []string{breach.NatureConfidentiality}, Description: &desc},
		Tenants:      tenants,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return b.ID
}

func breachValidRequests(e *env) map[string][2]string {
	id := operatorBreach(e, e.a.ID)
	return map[string][2]string{
		"POST /v1/breaches":                        {"/v1/breaches", breachBody},
		"GET /v1/breaches":                         {"/v1/breaches", ""},
		"GET /v1/breaches/{breach}":                {"/v1/breaches/" + id, ""},
		"PATCH /v1/breaches/{breach}":              {"/v1/breaches/" + id, `{"measures_taken":["The export link was revoked."]}`},
		"POST /v1/breaches/{breach}/impact":        {"/v1/breaches/" + id + "/impact", `{"actor":"retention","since":"2026-03-01T00:00:00Z"}`},
		"GET /v1/breaches/{breach}/escalations":    {"/v1/breaches/" + id + "/escalations", ""},
		"GET /v1/breaches/{breach}/notices/{kind}": {"/v1/breaches/" + id + "/notices/authority?lang=fr&tenant=" + string(e.a.ID), ""},
	}
}

// breachCrossTenantCases show that tenant A's keys never see, count or
// change tenant B's breaches, nor learn that a platform breach affects B.
func breachCrossTenantCases(e *env) map[string]func(t *testing.T) {
	aAdmin, aDPO := e.a.Keys[garde.RoleAdmin], e.a.Keys[garde.RoleDPO]
	bDPO := e.b.Keys[garde.RoleDPO]
	bOwn := e.do(e.b.Keys[garde.RoleAdmin], "POST", "/v1/breaches", strings.Replace(breachBody, "wrong customer", "B's secret incident", 1), 201).json(e.t)["id"].(string)
	bOnly := operatorBreach(e, e.b.ID)
	both := operatorBreach(e, e.a.ID, e.b.ID)
	hidden := []string{bOwn, bOnly, string(e.b.ID), "B's secret incident"}
	clean := func(t *testing.T, body []byte) {
		t.Helper()
		for _, s := range hidden {
			if bytes.Contains(body, []byte(s)) {
				t.Fatalf("A's response shows %q:\n%s", s, body)
			}
		}
	}
	return map[string]func(t *testing.T){
		"POST /v1/breaches": func(t *testing.T) {
			e.do(aAdmin, "POST", "/v1/breaches", strings.Replace(breachBody, `"nature"`, `"tenants":["`+string(e.b.ID)+`"],"nature"`, 1), 400)
			id := e.do(aAdmin, "POST", "/v1/breaches", breachBody, 201).json(t)["id"].(string)
			if body := e.do(bDPO, "GET", "/v1/breaches", "", 200).body; bytes.Contains(body, []byte(id)) {
				t.Fatalf("B lists A's breach")
			}
		},
		"GET /v1/breaches": func(t *testing.T) {
			clean(t, e.do(aDPO, "GET", "/v1/breaches", "", 200).body)
		},
		"GET /v1/breaches/{breach}": func(t *testing.T) {
			for _, id := range []string{bOwn, bOnly} {
				clean(t, e.do(aDPO, "GET", "/v1/breaches/"+id, "", 404).body)
			}
			r := e.do(aDPO, "GET", "/v1/breaches/"+both, "", 200)
			clean(t, r.body)
			if got := r.json(t)["tenants"].([]any); len(got) != 1 || got[0] != string(e.a.ID) {
				t.Fatalf("A sees tenants %v, want only itself", got)
			}
		},
		"PATCH /v1/breaches/{breach}": func(t *testing.T) {
			for _, id := range []string{bOwn, bOnly} {
				e.do(aAdmin, "PATCH", "/v1/breaches/"+id, `{"measures_taken":["A was here"]}`, 404)
			}
			// A's own record on a shared breach stays A's.
			e.do(aAdmin, "PATCH", "/v1/breaches/"+both, `{"decision":"notify","decision_reason":"A's reason"}`, 200)
			for _, id := range []string{bOwn, bOnly, both} {
				if body := e.do(bDPO, "GET", "/v1/breaches/"+id, "", 200).body; bytes.Contains(body, []byte("A was here")) || bytes.Contains(body, []byte("A's reason")) {
					t.Fatalf("B's breach %s shows A's change", id)
				}
			}
		},
		"POST /v1/breaches/{breach}/impact": func(t *testing.T) {
			e.do(aAdmin, "POST", "/v1/breaches/"+bOwn+"/impact", `{"actor":"x","since":"2026-03-01T00:00:00Z"}`, 404)
			// B's service key is no actor of A's scope: A's search is
			// refused, naming the field, and learns nothing of B's activity.
			r := e.do(aAdmin, "POST", "/v1/breaches/"+both+"/impact", `{"actor":"`+e.b.Service.KeyID+`","since":"2026-03-01T00:00:00Z"}`, 400)
			clean(t, r.body)
			if !bytes.Contains(r.body, []byte(`"field":"actor"`)) || r.header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("A's impact search with B's key: %s", r.body)
			}
			// A system actor is searched within A's trail only.
			r = e.do(aAdmin, "POST", "/v1/breaches/"+both+"/impact", `{"actor":"rights","since":"2026-03-01T00:00:00Z"}`, 200)
			if imp := r.json(t)["impact"].(map[string]any); imp["subjects"].(float64) != 0 || imp["records_written"].(float64) != 0 {
				t.Fatalf("A's impact search found B's activity: %v", imp)
			}
		},
		"GET /v1/breaches/{breach}/escalations": func(t *testing.T) {
			e.do(aDPO, "GET", "/v1/breaches/"+bOwn+"/escalations", "", 404)
			clean(t, e.do(aDPO, "GET", "/v1/breaches/"+both+"/escalations", "", 200).body)
		},
		"GET /v1/breaches/{breach}/notices/{kind}": func(t *testing.T) {
			e.do(aDPO, "GET", "/v1/breaches/"+bOwn+"/notices/authority", "", 404)
			e.do(aDPO, "GET", "/v1/breaches/"+both+"/notices/authority?tenant="+string(e.b.ID), "", 400)
			r := e.do(aDPO, "GET", "/v1/breaches/"+both+"/notices/controller?lang=en", "", 200)
			clean(t, r.body)
			if !bytes.Contains(r.body, []byte("dpo@example.com")) {
				t.Fatalf("A's notice lacks A's DPO:\n%s", r.body)
			}
		},
	}
}

func TestBreachAPI(t *testing.T) {
	e := newEnv(t)
	dpo := e.a.Keys[garde.RoleDPO]
	r := e.do(dpo, "POST", "/v1/breaches", breachBody, 201)
	var b struct {
		ID       string
		NotifyBy time.Time `json:"notify_by"`
		Status   string
		Severity struct{ Level string }
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 4, 8, 0, 0, 0, time.UTC); !b.NotifyBy.Equal(want) || b.Status != "open" || b.Severity.Level == "" {
		t.Fatalf("POST /v1/breaches = %s", r.body)
	}
	if got := r.header.Get("Location"); got != "/v1/breaches/"+b.ID {
		t.Fatalf("Location = %q", got)
	}
	md := e.do(dpo, "GET", "/v1/breaches/"+b.ID+"/notices/authority?lang=fr", "", 200)
	if ct := md.header.Get("Content-Type"); ct != "text/markdown; charset=utf-8" || !bytes.Contains(md.body, []byte("Camille Durand")) || !bytes.Contains(md.body, []byte("4 mars 2026 à 08 h 00 UTC")) {
		t.Fatalf("authority notice (md) = %s %s", ct, md.body)
	}
	pdf := e.do(dpo, "GET", "/v1/breaches/"+b.ID+"/notices/subjects?lang=en&format=pdf", "", 200)
	if ct := pdf.header.Get("Content-Type"); ct != "application/pdf" || !bytes.HasPrefix(pdf.body, []byte("%PDF-")) || !bytes.Contains(pdf.body, []byte("Important information about your personal data")) {
		t.Fatalf("subjects notice (pdf): %s, %d bytes", ct, len(pdf.body))
	}
	// Problems name their fields.
	for _, tc := range []struct{ method, path, body, field string }{
		{"POST", "/v1/breaches", `{"nature":["secrecy"],"description":"x"}`, "aware_at"},
		{"PATCH", "/v1/breaches/" + b.ID, `{"decision":"notify"}`, "decision_reason"},
		{"GET", "/v1/breaches/" + b.ID + "/notices/authority?lang=de", "", "lang"},
		{"GET", "/v1/breaches/" + b.ID + "/notices/authority?format=docx", "", "format"},
		{"GET", "/v1/breaches/" + b.ID + "/notices/press", "", "kind"},
	} {
		r := e.request(dpo, tc.method, tc.path, tc.body)
		var p struct{ Errors []struct{ Field string } }
		json.Unmarshal(r.body, &p)
		if r.status != 400 || len(p.Errors) == 0 || p.Errors[0].Field != tc.field {
			t.Errorf("%s %s = %d %s, want 400 on %s", tc.method, tc.path, r.status, r.body, tc.field)
		}
	}
	// After 72 hours the authority notice needs the reason for the delay.
	e.svc.Clock().(*gardetest.Clock).Advance(80 * time.Hour)
	r = e.request(dpo, "GET", "/v1/breaches/"+b.ID+"/notices/authority", "")
	if r.status != 400 || !bytes.Contains(r.body, []byte("delay_reason")) {
		t.Fatalf("late notice without reason = %d %s", r.status, r.body)
	}
	e.do(dpo, "PATCH", "/v1/breaches/"+b.ID, `{"delay_reason":"The recipient reported the misdirected export four days late."}`, 200)
	md = e.do(dpo, "GET", "/v1/breaches/"+b.ID+"/notices/authority", "", 200)
	if !bytes.Contains(md.body, []byte("## Reasons for the delay\n\nThe recipient reported")) {
		t.Fatalf("late notice lacks the reason:\n%s", md.body)
	}
	if got := e.do(dpo, "GET", "/v1/breaches/"+b.ID, "", 200).json(t)["late"]; got != true {
		t.Fatalf("late = %v, want true", got)
	}
}
