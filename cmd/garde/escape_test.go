package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/gardetest"
)

// TestNoPersonalDataEscapes runs a full scenario against the real binary
// with debug logging — ingest, reads, consents with an origin address,
// audit, and every kind of refusal fed with personal data — and scans
// every log line, the metrics and every error body for the seeded
// personal data. None may appear. (Success bodies of reads hand the data
// back to its rightful reader and are not scanned; the audit trail is.)
func TestNoPersonalDataEscapes(t *testing.T) {
	bin := gardeBin(t)
	dataDir := filepath.Join(t.TempDir(), "garde-data")
	out, err := exec.Command(bin, "tenant", "create", "Escape SAS", "--data-dir", dataDir, "--json").Output()
	if err != nil {
		t.Fatalf("tenant create: %v", err)
	}
	var tenant struct{ Tenant, Key string }
	json.Unmarshal(out, &tenant)
	srv := startServer(t, bin, dataDir, "--log-level", "debug")

	const (
		email   = "jeanne.martin@example.fr"
		phone   = "+33 6 12 34 56 78"
		name    = "Jeanne Martin"
		iban    = "FR76 3000 6000 0112 3456 7890 189"
		address = "12 rue des Lilas"
		ip      = "198.51.100.77"
		subject = "jeanne.martin@example.fr"
		other   = "client-0612345678"
	)
	seeds := []string{email, phone, "0612345678", name, "Jeanne", "Martin", iban, "3000 6000", address, "Lilas", ip, other}

	var errorBodies []string
	do := func(method, path, key, body string, want int, hdr ...string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, srv.url+path, strings.NewReader(body))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if want != 0 && res.StatusCode != want {
			t.Errorf("%s %s = %d, want %d\n%s", method, path, res.StatusCode, want, b)
		}
		if res.StatusCode >= 400 {
			errorBodies = append(errorBodies, string(b))
		}
		return b
	}

	do("PUT", "/v1/register", tenant.Key, gardetest.ConsentRegister, 201)
	keys := map[string]string{}
	for _, role := range []string{"service", "dpo"} {
		var k struct{ Key string }
		json.Unmarshal(do("POST", "/v1/keys", tenant.Key, `{"role":"`+role+`"}`, 201), &k)
		keys[role] = k.Key
	}
	svc, dpo := keys["service"], keys["dpo"]
	do("POST", "/v1/purposes/improve_replies/notices", tenant.Key, `{"language":"fr","text":"Nous utilisons vos messages pour améliorer nos réponses."}`, 201)

	text := fmt.Sprintf("Bonjour, je suis %s, j'habite %s, appelez-moi au %s ou écrivez à %s. Mon IBAN : %s.", name, address, phone, email, iban)
	msg := func(s string) string {
		return fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q,"fields":{"user.contact.email":%q,"user.contact.phone_number":%q}}`, s, text, email, phone)
	}
	do("POST", "/v1/messages", svc, msg(subject), 201)
	do("POST", "/v1/messages:batch", svc, `{"messages":[`+msg(subject)+`,`+msg(other)+`]}`, 201)
	if b := do("GET", "/v1/subjects/"+subject+"/messages?purpose=answer_support_request", svc, "", 200); !strings.Contains(string(b), email) {
		t.Fatalf("the rightful reader does not get the data back: %s", b)
	}
	do("GET", "/v1/subjects/"+other+"/messages?purpose=answer_support_request", dpo, "", 200)
	for _, action := range []string{"grant", "withdraw", "grant"} {
		do("POST", "/v1/consents", svc, fmt.Sprintf(`{"subject":%q,"purpose":"improve_replies","action":%q,"method":"web","origin":{"ip":%q,"user_agent":"Mozilla/5.0 (%s)"}}`, subject, action, ip, name), 201)
	}
	do("GET", "/v1/subjects/"+subject+"/consents", dpo, "", 200)

	// Refusals, each fed with personal data.
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":"marketing","text":%q}`, subject, text), 0)
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q,"fields":{"user.financial.bank_account":%q}}`, subject, text, iban), 0)
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q,"%s":1}`, subject, text, email), 400)
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q`, subject, text), 400)
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q}`, subject, strings.Repeat(text, 30000)), 413)
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q}`, strings.Repeat(email, 20), text), 0)
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","text":%q}`, subject, text), 415, "Content-Type", "text/plain; name="+name)
	do("POST", "/v1/consents", svc, fmt.Sprintf(`{"subject":%q,"purpose":"answer_support_request","action":"grant","method":"web","origin":{"ip":%q}}`, subject, ip), 0)
	do("POST", "/v1/consents", svc, fmt.Sprintf(`{"subject":%q,"purpose":"improve_replies","action":"maybe %s","method":"web"}`, subject, email), 400)
	do("POST", "/v1/messages", svc, fmt.Sprintf(`{"subject":%q,"purpose":%q,"text":"x"}`, subject, name), 403)
	do("POST", "/v1/messages:batch", svc, fmt.Sprintf(`{"messages":[{"subject":%q,"purpose":%q,"text":"x"}]}`, subject, email), 403)
	do("POST", "/v1/consents", svc, fmt.Sprintf(`{"subject":%q,"purpose":%q,"action":"grant","method":"web"}`, subject, name), 0)
	do("GET", "/v1/purposes/"+strings.ReplaceAll(name, " ", "%20")+"/notices", dpo, "", 0)
	do("POST", "/v1/requests", dpo, fmt.Sprintf(`{"subject":%q,"type":"objection","purpose":%q}`, subject, name), 0)
	do("GET", "/v1/subjects/"+subject+"/messages?purpose="+strings.ReplaceAll(name, " ", "+"), svc, "", 0)
	do("GET", "/v1/subjects/"+subject+"/consents/"+strings.ReplaceAll(phone, " ", ""), dpo, "", 404)
	do("GET", "/v1/subjects/"+subject+"/messages?purpose=answer_support_request", tenant.Key, "", 403)
	do("GET", "/v1/audit?actor="+email+"&since="+strings.ReplaceAll(name, " ", "+"), dpo, "", 400)
	do("GET", "/v1/register?version="+strings.ReplaceAll(phone, " ", ""), dpo, "", 400)
	do("GET", "/v1/users/"+email, svc, "", 404)
	do("DELETE", "/v1/subjects/"+subject+"/messages", svc, "", 0)
	do("GET", "/v1/register", email, "", 401)
	do("GET", "/v1/register", "garde_"+strings.ReplaceAll(phone, " ", "")+"_"+email, "", 401)

	// Erasure, then a write for the erased subject (refused).
	do("POST", "/v1/requests", dpo, fmt.Sprintf(`{"subject":%q,"type":"erasure"}`, other), 201)
	do("POST", "/v1/requests", svc, fmt.Sprintf(`{"subject":%q,"type":"access"}`, subject), 0)
	do("POST", "/v1/messages", svc, msg(other), 403)
	do("POST", "/v1/requests:lookup", dpo, fmt.Sprintf(`{"subject":%q}`, other), 200)
	audit := do("GET", "/v1/audit", dpo, "", 200)
	metrics := do("GET", "/metrics", "", "", 200)
	srv.stop(t)

	logs := srv.stderr.String()
	if !strings.Contains(logs, `"level":"DEBUG"`) && !strings.Contains(logs, `"level":"INFO"`) {
		t.Fatalf("no log lines to scan:\n%s", logs)
	}
	lines := strings.Split(logs, "\n")
	where := map[string][]string{"audit": {string(audit)}, "metrics": strings.Split(string(metrics), "\n"), "log": lines, "error body": errorBodies}
	scanned := 0
	for kind, items := range where {
		for _, item := range items {
			scanned++
			low := strings.ToLower(item)
			for _, s := range seeds {
				if strings.Contains(low, strings.ToLower(s)) {
					t.Errorf("%s carries %q:\n%s", kind, s, item)
				}
			}
		}
	}
	t.Logf("scanned %d log lines, %d metric lines, %d error bodies and the audit trail for %d seeds", len(lines), len(where["metrics"]), len(errorBodies), len(seeds))
}
