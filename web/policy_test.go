package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/garde-privacy/garde"
)

// wantProblem checks a refusal: the status, an RFC 9457 body.
func wantProblem(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status || r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d %s, want %d problem+json\n%s", r.status, r.header.Get("Content-Type"), status, r.body)
	}
}

// TestRightsWorkflowHonoursRoles tries to get round the role matrix
// through the rights workflow: a service key verifying the erasure it
// filed, an admin vouching for a request or exporting every message
// through an access request. Each is refused; the DPO and the subject's
// link still work.
func TestRightsWorkflowHonoursRoles(t *testing.T) {
	e := newEnv(t)
	aAdmin, aSvc, aDPO := e.a.Keys[garde.RoleAdmin], e.a.Keys[garde.RoleService], e.a.Keys[garde.RoleDPO]
	ingestOne(e, aSvc, "yann", "Bonjour, je veux être oublié")

	// The service key files an erasure and tries to confirm it with the
	// link it was handed, presenting its own credential.
	r := e.do(aSvc, "POST", "/v1/requests", `{"subject":"yann","type":"erasure"}`, 201).json(t)
	id := r["id"].(string)
	link := r["verification_url"].(string)
	path := link[strings.Index(link, "/v1/verify/"):]
	wantProblem(t, e.request(aSvc, "POST", path, ""), 403)
	// Nor through the actions (not its role), nor as an admin.
	wantProblem(t, e.request(aSvc, "POST", "/v1/requests/"+id+"/actions", `{"action":"verify"}`), 403)
	wantProblem(t, e.request(aAdmin, "POST", "/v1/requests/"+id+"/actions", `{"action":"verify"}`), 403)
	if got := e.do(aDPO, "GET", "/v1/requests/"+id, "", 200).json(t)["status"]; got != garde.StatusReceived {
		t.Fatalf("after the refused verifications the request is %v, want received", got)
	}
	if got := e.messages(aSvc, "yann"); len(got) != 1 {
		t.Fatalf("the subject's messages after refused verifications: %q", got)
	}
	// The DPO verifies: the erasure runs.
	v := e.do(aDPO, "POST", "/v1/requests/"+id+"/actions", `{"action":"verify"}`, 200).json(t)
	if v["status"] != garde.StatusCompleted || v["key_destroyed_at"] == nil {
		t.Fatalf("verified by the DPO: %v", v)
	}
	// Twice is a conflict; the link no longer works.
	wantProblem(t, e.request(aDPO, "POST", "/v1/requests/"+id+"/actions", `{"action":"verify"}`), 409)
	if page := e.do("", "POST", path, "", 200); !strings.Contains(string(page.body), "does not work") {
		t.Fatalf("link after the DPO's verification: %s", page.body)
	}

	// An admin files an access request: it is not vouched for (the admin
	// reads no message), and an admin cannot export it.
	a := e.do(aAdmin, "POST", "/v1/requests", `{"subject":"zora","type":"access"}`, 201).json(t)
	if a["status"] != garde.StatusReceived || a["verification_url"] == nil {
		t.Fatalf("filed by an admin: %v, want received with a link", a)
	}
	aid := a["id"].(string)
	e.do(aDPO, "POST", "/v1/requests/"+aid+"/actions", `{"action":"verify"}`, 200)
	wantProblem(t, e.request(aAdmin, "GET", "/v1/requests/"+aid+"/export", ""), 403)
	wantProblem(t, e.request(aSvc, "GET", "/v1/requests/"+aid+"/export", ""), 403)
	e.do(aDPO, "GET", "/v1/requests/"+aid+"/export", "", 200)

	// A DPO's own filing is vouched for; the subject's link (no
	// credential) still verifies a service key's filing.
	if d := e.do(aDPO, "POST", "/v1/requests", `{"subject":"zora","type":"portability"}`, 201).json(t); d["status"] != garde.StatusInProgress {
		t.Fatalf("filed by the DPO: %v", d["status"])
	}
	s := e.do(aSvc, "POST", "/v1/requests", `{"subject":"zora","type":"restriction"}`, 201).json(t)
	sl := s["verification_url"].(string)
	if page := e.do("", "POST", sl[strings.Index(sl, "/v1/verify/"):], "", 200); !strings.Contains(string(page.body), "is confirmed") {
		t.Fatalf("the subject's confirmation: %s", page.body)
	}
}

// TestRectificationIsAnIngest: PATCH of a message with an IBAN, a NIR and
// an email the purpose does not allow in clear answers, and stores, what
// POST /v1/messages answers for the same text; reading back shows none of
// the values.
func TestRectificationIsAnIngest(t *testing.T) {
	e := newEnv(t)
	aSvc, aDPO := e.a.Keys[garde.RoleService], e.a.Keys[garde.RoleDPO]
	const text = "Mon IBAN est FR76 3000 6000 0112 3456 7890 189, NIR 2 84 12 75 108 432 76, mail lea.petit@example.fr."
	body := `{"subject":"lea","purpose":"answer_support_request","text":"` + text + `"}`
	ingested := e.do(aSvc, "POST", "/v1/messages", body, 201).json(t)
	id := ingestOne(e, aSvc, "lea", "bonjour")
	patched := e.do(aDPO, "PATCH", "/v1/subjects/lea/messages/"+id, `{"text":"`+text+`"}`, 200).json(t)
	if patched["text"] != ingested["text"] {
		t.Fatalf("PATCH stored %q, want what POST stores: %q", patched["text"], ingested["text"])
	}
	if len(patched["entities"].([]any)) != len(ingested["entities"].([]any)) {
		t.Fatalf("PATCH entities %v, POST entities %v", patched["entities"], ingested["entities"])
	}
	for _, m := range e.messages(aSvc, "lea") {
		for _, v := range []string{"3000 6000", "108 432", "lea.petit@example.fr"} {
			if strings.Contains(m, v) {
				t.Errorf("a message of lea reads back %q in clear: %q", v, m)
			}
		}
	}
	// A refused rectification is a problem naming the field.
	r := e.request(aDPO, "PATCH", "/v1/subjects/lea/messages/"+id, `{"fields":{"user.financial.bank_account":"x"}}`)
	wantProblem(t, r, 403)
	if !strings.Contains(string(r.body), "fields.user.financial.bank_account") {
		t.Fatalf("refusal does not name the field: %s", r.body)
	}
}

// TestDashboardVerify: the DPO's request page offers to verify a request
// a service key filed, and doing so runs it; an admin's page does not
// offer it, and its POST is refused.
func TestDashboardVerify(t *testing.T) {
	e := newEnv(t)
	aSvc := e.a.Keys[garde.RoleService]
	ingestOne(e, aSvc, "noa", "bonjour")
	id := e.do(aSvc, "POST", "/v1/requests", `{"subject":"noa","type":"restriction"}`, 201).json(t)["id"].(string)
	admin := newBrowser(t, e.ts)
	admin.signIn(e.a.Keys[garde.RoleAdmin])
	if page := admin.get("/dashboard/requests/" + id); page.status != 200 || strings.Contains(string(page.body), `id="verify-submit"`) {
		t.Fatalf("the admin's request page = %d, offers verify: %v", page.status, strings.Contains(string(page.body), `id="verify-submit"`))
	}
	if r := admin.post("/dashboard/requests/"+id+"/change", url.Values{"csrf": {admin.CSRF}, "action": {"verify"}}); r.status != 403 {
		t.Fatalf("the admin's verify = %d, want 403", r.status)
	}
	dpo := newBrowser(t, e.ts)
	dpo.signIn(e.a.Keys[garde.RoleDPO])
	if page := dpo.get("/dashboard/requests/" + id); !strings.Contains(string(page.body), `id="verify-submit"`) {
		t.Fatalf("the DPO's request page does not offer verify")
	}
	if r := dpo.post("/dashboard/requests/"+id+"/change", url.Values{"csrf": {dpo.CSRF}, "action": {"verify"}}); r.status != 303 {
		t.Fatalf("the DPO's verify = %d, want 303\n%s", r.status, r.body)
	}
	if got := e.do(e.a.Keys[garde.RoleDPO], "GET", "/v1/requests/"+id, "", 200).json(t)["status"]; got != garde.StatusCompleted {
		t.Fatalf("restriction verified by the DPO: %v, want completed", got)
	}
}
