package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/garde-privacy/garde"
)

// TestRevokeLastAdminKey: DELETE /v1/keys/{id} of the tenant's last valid
// admin key is a 409 problem naming why, and the key keeps working; two
// admins revoking each other at once leave one of them (on PostgreSQL too,
// with GARDE_TEST_STORE=postgres).
func TestRevokeLastAdminKey(t *testing.T) {
	e := newEnv(t)
	admin := e.a.Keys[garde.RoleAdmin]
	id := e.a.Admin.KeyID
	r := e.do(admin, "DELETE", "/v1/keys/"+id, "", http.StatusConflict)
	p := r.json(t)
	if p["type"] != "urn:garde:problem:last-admin-key" || r.header.Get("Content-Type") != "application/problem+json" ||
		!strings.Contains(p["detail"].(string), "last admin key") {
		t.Fatalf("409 body = %s %s, want a last-admin-key problem saying why", r.header.Get("Content-Type"), r.body)
	}
	e.do(admin, "GET", "/v1/keys", "", http.StatusOK)
	// The dashboard's keys page refuses it the same way.
	b := newBrowser(t, e.ts)
	b.signIn(admin)
	if r := b.post("/dashboard/keys/"+id+"/revoke", url.Values{"csrf": {b.csrf}}); r.status != http.StatusConflict || !bytes.Contains(r.body, []byte("last admin key")) {
		t.Fatalf("dashboard revoke of the last admin key = %d\n%.300s", r.status, r.body)
	}
	e.do(admin, "GET", "/v1/keys", "", http.StatusOK)

	// A second admin: now either may go, but not both, even at once.
	second := e.do(admin, "POST", "/v1/keys", `{"role":"admin"}`, http.StatusCreated).json(t)
	key2, id2 := second["key"].(string), second["id"].(string)
	codes := make([]int, 2)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, c := range [][2]string{{admin, id2}, {key2, id}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i] = e.request(c[0], "DELETE", "/v1/keys/"+c[1], "").status
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case http.StatusNoContent:
			ok++
		case http.StatusConflict, http.StatusUnauthorized: // 401: its own key was revoked first
		default:
			t.Fatalf("concurrent revocations answered %v", codes)
		}
	}
	if ok != 1 {
		t.Fatalf("concurrent revocations of the last two admin keys answered %v: want exactly one 204", codes)
	}
	left := 0
	for _, k := range []string{admin, key2} {
		if e.request(k, "GET", "/v1/keys", "").status == http.StatusOK {
			left++
		}
	}
	if left != 1 {
		t.Fatalf("%d admin keys still work after the race, want 1", left)
	}
}
