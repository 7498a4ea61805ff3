package web_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/consent"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/ledger"
)

const grantBody = `{"subject":"shared","purpose":"improve_replies","action":"grant","method":"web","origin":{"user_agent":"Mozilla/5.0","ip":"192.0.2.7"},"evidence":{"form":"signup"}}`

// ensureNotices publishes a notice for improve_replies in both tenants and
// signs a checkpoint of each log, once per env.
func ensureNotices(e *env) {
	e.t.Helper()
	ctx := context.Background()
	for _, tn := range []struct {
		p    garde.Principal
		text string
	}{{e.a.Admin, "A notice"}, {e.b.Admin, "B notice"}} {
		ns, err := e.svc.Consent.Notices(ctx, tn.p, "improve_replies")
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ns) == 0 {
			if _, err := e.svc.Consent.PublishNotice(ctx, tn.p, "improve_replies", "fr", tn.text); err != nil {
				e.t.Fatal(err)
			}
		}
	}
	for _, p := range []garde.Principal{e.a.DPO, e.b.DPO} {
		if _, err := e.svc.Trail.LedgerCheckpoint(ctx, p); err != nil {
			e.t.Fatal(err)
		}
	}
}

func consentValidRequests(e *env) map[string][2]string {
	ensureNotices(e)
	res, err := e.svc.Consent.RecordConsent(context.Background(), e.a.Service, consent.ConsentInput{Subject: "s", Purpose: "improve_replies", Action: "grant", Method: "web"})
	if err != nil {
		e.t.Fatal(err)
	}
	return map[string][2]string{
		"GET /v1/subjects/{subject}/consents/{id}": {"/v1/subjects/s/consents/" + res.ID, ""},
		"POST /v1/purposes/{purpose}/notices":      {"/v1/purposes/improve_replies/notices", `{"language":"en","text":"We use your messages to improve replies."}`},
		"GET /v1/purposes/{purpose}/notices":       {"/v1/purposes/improve_replies/notices", ""},
		"POST /v1/consents":                        {"/v1/consents", `{"subject":"s","purpose":"improve_replies","action":"grant","language":"fr","method":"web"}`},
		"POST /v1/consents:batch":                  {"/v1/consents:batch", `{"consents":[{"subject":"s","purpose":"improve_replies","action":"grant","language":"fr","method":"api"}]}`},
		"GET /v1/subjects/{subject}/consents":      {"/v1/subjects/s/consents", ""},
		"GET /v1/ledger/checkpoint":                {"/v1/ledger/checkpoint", ""},
		"GET /v1/ledger/key":                       {"/v1/ledger/key", ""},
		"GET /v1/ledger/proof/inclusion":           {"/v1/ledger/proof/inclusion?index=0", ""},
		"GET /v1/ledger/proof/consistency":         {"/v1/ledger/proof/consistency?old=1", ""},
	}
}

// consentCrossTenantCases show that tenant A's keys never read or change
// tenant B's notices, consents or log.
func consentCrossTenantCases(e *env) map[string]func(t *testing.T) {
	ensureNotices(e)
	aAdmin, aSvc, aDPO := e.a.Keys[garde.RoleAdmin], e.a.Keys[garde.RoleService], e.a.Keys[garde.RoleDPO]
	bSvc, bDPO := e.b.Keys[garde.RoleService], e.b.Keys[garde.RoleDPO]
	bKey := strings.TrimSpace(string(e.do(bDPO, "GET", "/v1/ledger/key", "", 200).body))
	var bConsent struct{ ID string }
	json.Unmarshal(e.do(bSvc, "POST", "/v1/consents", `{"subject":"b-consent","purpose":"improve_replies","action":"grant","method":"web"}`, 201).body, &bConsent)
	bHistory := func(t *testing.T, subject string) int {
		var v struct{ History []any }
		json.Unmarshal(e.do(bDPO, "GET", "/v1/subjects/"+subject+"/consents", "", 200).body, &v)
		return len(v.History)
	}
	notOnB := func(t *testing.T, note string) {
		if _, err := ledger.OpenCheckpoint([]byte(note), bKey); err == nil {
			t.Fatal("A's checkpoint verifies under B's key")
		}
		if !strings.HasPrefix(note, ledger.TenantOrigin(string(e.a.ID))+"\n") {
			t.Fatalf("A's checkpoint is of log %q", strings.SplitN(note, "\n", 2)[0])
		}
	}
	return map[string]func(t *testing.T){
		"POST /v1/purposes/{purpose}/notices": func(t *testing.T) {
			e.do(aAdmin, "POST", "/v1/purposes/improve_replies/notices", `{"language":"fr","text":"A again"}`, 201)
			body := string(e.do(bDPO, "GET", "/v1/purposes/improve_replies/notices", "", 200).body)
			if strings.Contains(body, "A again") || strings.Count(body, `"version"`) != 1 {
				t.Fatalf("B's notices changed: %s", body)
			}
		},
		"GET /v1/purposes/{purpose}/notices": func(t *testing.T) {
			if body := string(e.do(aDPO, "GET", "/v1/purposes/improve_replies/notices", "", 200).body); strings.Contains(body, "B notice") {
				t.Fatal("A lists B's notice")
			}
		},
		"POST /v1/consents": func(t *testing.T) {
			before := bHistory(t, "shared")
			e.do(aSvc, "POST", "/v1/consents", grantBody, 201)
			if bHistory(t, "shared") != before {
				t.Fatal("A's grant shows in B's history")
			}
			e.do(bSvc, "POST", "/v1/messages", `{"subject":"shared","purpose":"improve_replies","text":"x"}`, 403)
		},
		"POST /v1/consents:batch": func(t *testing.T) {
			before := bHistory(t, "shared")
			e.do(aSvc, "POST", "/v1/consents:batch", `{"consents":[`+grantBody+`]}`, 201)
			if bHistory(t, "shared") != before {
				t.Fatal("A's grant shows in B's history")
			}
		},
		"GET /v1/subjects/{subject}/consents": func(t *testing.T) {
			body := string(e.do(aDPO, "GET", "/v1/subjects/b-consent/consents", "", 200).body)
			if !strings.Contains(body, `"history":[]`) {
				t.Fatalf("A reads B's subject's consents: %s", body)
			}
		},
		"GET /v1/subjects/{subject}/consents/{id}": func(t *testing.T) {
			// B's consent id, under B's subject identifier, through A's keys.
			e.do(aDPO, "GET", "/v1/subjects/b-consent/consents/"+bConsent.ID, "", 404)
			e.do(bDPO, "GET", "/v1/subjects/b-consent/consents/"+bConsent.ID, "", 200)
		},
		"GET /v1/ledger/checkpoint": func(t *testing.T) {
			notOnB(t, string(e.do(aDPO, "GET", "/v1/ledger/checkpoint", "", 200).body))
		},
		"GET /v1/ledger/key": func(t *testing.T) {
			k := strings.TrimSpace(string(e.do(aDPO, "GET", "/v1/ledger/key", "", 200).body))
			if k == bKey || !strings.HasPrefix(k, ledger.TenantOrigin(string(e.a.ID))+"+") {
				t.Fatalf("A's key %q", k)
			}
		},
		"GET /v1/ledger/proof/inclusion": func(t *testing.T) {
			var p struct{ Checkpoint string }
			json.Unmarshal(e.do(aSvc, "GET", "/v1/ledger/proof/inclusion?index=0", "", 200).body, &p)
			notOnB(t, p.Checkpoint)
		},
		"GET /v1/ledger/proof/consistency": func(t *testing.T) {
			var p struct {
				NewCheckpoint string `json:"new_checkpoint"`
			}
			json.Unmarshal(e.do(aSvc, "GET", "/v1/ledger/proof/consistency?old=1", "", 200).body, &p)
			notOnB(t, p.NewCheckpoint)
		},
	}
}

// TestConsentFlow goes through the API as a tenant would: notice, grant,
// receipt checked offline, consent-gated write, withdrawal.
func TestConsentFlow(t *testing.T) {
	e := newEnv(t)
	admin, svc, dpo := e.a.Keys[garde.RoleAdmin], e.a.Keys[garde.RoleService], e.a.Keys[garde.RoleDPO]

	r := e.do(svc, "POST", "/v1/messages", `{"subject":"jeanne","purpose":"improve_replies","text":"hello"}`, 403)
	var p struct{ Code, Type string }
	json.Unmarshal(r.body, &p)
	if p.Code != "no_consent" || p.Type != "urn:garde:problem:no-consent" || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("write without consent: %s %s", r.header.Get("Content-Type"), r.body)
	}
	e.do(svc, "POST", "/v1/consents", `{"subject":"jeanne","purpose":"improve_replies","action":"grant","method":"web"}`, 400) // no notice yet

	n := e.do(admin, "POST", "/v1/purposes/improve_replies/notices", `{"language":"fr","text":"Nous utilisons vos messages."}`, 201).json(t)
	if n["version"].(float64) != 1 || n["hash"] != garde.NoticeHash("Nous utilisons vos messages.") {
		t.Fatalf("notice = %v", n)
	}
	res := e.do(svc, "POST", "/v1/consents", `{"subject":"jeanne","purpose":"improve_replies","action":"grant","method":"chat","origin":{"ip":"2001:db8::1"}}`, 201)
	rec, err := consent.ParseReceipt(res.body)
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(string(e.do(dpo, "GET", "/v1/ledger/key", "", 200).body))
	if err := consent.VerifyReceipt(rec, key); err != nil {
		t.Fatalf("receipt from the API does not verify: %v", err)
	}
	if rec.Notice.Hash != n["hash"] || rec.CollectionMethod != "chat" {
		t.Fatalf("receipt = %+v", rec)
	}
	e.do(svc, "POST", "/v1/messages", `{"subject":"jeanne","purpose":"improve_replies","text":"hello"}`, 201)

	// The controller demonstrates the consent later, with its evidence.
	ev := e.do(svc, "POST", "/v1/consents", `{"subject":"jeanne","purpose":"improve_replies","action":"grant","method":"paper","evidence":{"form":"scan-0042.pdf"}}`, 201)
	var recorded struct{ ID string }
	json.Unmarshal(ev.body, &recorded)
	shown := e.do(dpo, "GET", "/v1/subjects/jeanne/consents/"+recorded.ID, "", 200)
	var pv struct {
		Evidence map[string]string
	}
	json.Unmarshal(shown.body, &pv)
	again, err := consent.ParseReceipt(shown.body)
	if err != nil || consent.VerifyReceipt(again, key) != nil || pv.Evidence["form"] != "scan-0042.pdf" || again.CollectionMethod != "paper" {
		t.Fatalf("demonstrated consent = %s (%v)", shown.body, err)
	}
	e.do(dpo, "GET", "/v1/subjects/jeanne/consents/cns_nope", "", 404)
	e.do(dpo, "GET", "/v1/subjects/nobody/consents/"+recorded.ID, "", 404)

	// The receipt's leaf is provable against the latest checkpoint.
	cp := e.do(dpo, "GET", "/v1/ledger/checkpoint", "", 200)
	if ct := cp.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("checkpoint Content-Type %q", ct)
	}
	c, err := ledger.OpenCheckpoint(cp.body, key)
	if err != nil {
		t.Fatal(err)
	}
	var proof struct {
		Size     int64
		LeafHash string `json:"leaf_hash"`
		Proof    []string
	}
	json.Unmarshal(e.do(svc, "GET", "/v1/ledger/proof/inclusion?index="+itoa(rec.LeafIndex), "", 200).body, &proof)
	if proof.Size != c.Size || len(proof.Proof) == 0 {
		t.Fatalf("proof = %+v, checkpoint size %d", proof, c.Size)
	}
	e.do(svc, "GET", "/v1/ledger/proof/inclusion", "", 400)
	e.do(svc, "GET", "/v1/ledger/proof/inclusion?index=99999", "", 400)
	e.do(svc, "GET", "/v1/ledger/proof/consistency?old=x", "", 400)

	w := e.do(svc, "POST", "/v1/consents", `{"subject":"jeanne","purpose":"improve_replies","action":"withdraw","method":"email"}`, 201).json(t)
	if wd := w["withdrawal"].(map[string]any); wd["action"] != "erase" || wd["messages"].(float64) != 1 {
		t.Fatalf("withdrawal = %v", w["withdrawal"])
	}
	e.do(svc, "POST", "/v1/messages", `{"subject":"jeanne","purpose":"improve_replies","text":"again"}`, 403)
	var v struct {
		Current []struct{ Purpose, Status string }
		History []struct{ Action, Method string }
	}
	json.Unmarshal(e.do(dpo, "GET", "/v1/subjects/jeanne/consents", "", 200).body, &v)
	if len(v.Current) != 1 || v.Current[0].Status != "withdrawn" || len(v.History) != 3 || v.History[2].Method != "email" {
		t.Fatalf("consents = %+v", v)
	}
	// Bad input names its field.
	for body, field := range map[string]string{
		`{"subject":"jeanne","purpose":"improve_replies","action":"grant","method":"fax"}`:                            "method",
		`{"subject":"jeanne","purpose":"improve_replies","action":"grant","method":"web","origin":{"ip":"x"}}`:        "ip",
		`{"subject":"jeanne","purpose":"improve_replies","action":"grant","method":"web","colour":"red"}`:             "colour",
		`{"subject":"jeanne","purpose":"answer_support_request","action":"grant","method":"web"}`:                     "purpose",
		`{"subject":"jeanne","purpose":"improve_replies","action":"grant","method":"web","notice":7,"language":"fr"}`: "notice",
	} {
		r := e.request(svc, "POST", "/v1/consents", body)
		var p struct{ Errors []struct{ Field string } }
		json.Unmarshal(r.body, &p)
		if r.status != 400 || len(p.Errors) == 0 || p.Errors[0].Field != field {
			t.Errorf("POST %s = %d %s, want 400 naming %q", body, r.status, r.body, field)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
