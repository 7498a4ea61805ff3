package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
	"github.com/garde-privacy/garde/web"
)

// FuzzAPIBodies sends arbitrary bodies to every route that takes one, as a
// caller allowed to use it: the server must never fail (5xx) or panic, and
// every refusal must be a well-formed problem+json document.
func FuzzAPIBodies(f *testing.F) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	svc := app.New(db, gardetest.MasterKeys(f), gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	srv := web.NewServer(svc, slog.New(slog.NewJSONHandler(io.Discard, nil)), web.Options{MaxBody: 64 << 10})
	_, op, err := svc.Tenancy.CreateOperatorKey(ctx)
	if err != nil {
		f.Fatal(err)
	}
	a := gardetest.NewTenant(f, svc, "A")
	if _, err := svc.Tenancy.ApplyRegister(ctx, a.Admin, []byte(gardetest.ConsentRegister)); err != nil {
		f.Fatal(err)
	}
	keys := map[garde.Role]string{garde.RoleAdmin: a.Keys[garde.RoleAdmin], garde.RoleService: a.Keys[garde.RoleService],
		garde.RoleDPO: a.Keys[garde.RoleDPO], garde.RoleOperator: op}
	var routes []web.Route
	for _, rt := range srv.Routes() {
		if (rt.Method == "POST" || rt.Method == "PUT" || rt.Method == "PATCH") && len(rt.Roles()) > 0 && strings.HasPrefix(rt.Pattern, "/v1/") {
			routes = append(routes, rt)
		}
	}
	fill := strings.NewReplacer("{purpose}", "improve_replies", "{id}", "x", "{breach}", "brc_x", "{subject}", "s", "{kind}", "authority")
	for i := range routes {
		for _, body := range []string{
			`{"subject":"s","purpose":"answer_support_request","text":"hi"}`,
			`{"messages":[{"subject":"s","purpose":"answer_support_request","text":"hi","fields":{"user.contact.email":"a@b.c"}}]}`,
			`{"subject":"s","purpose":"improve_replies","action":"grant","method":"web","origin":{"ip":"198.51.100.1"}}`,
			`{"consents":[{"subject":"s","purpose":"improve_replies","action":"withdraw","method":"api"}]}`,
			`{"language":"fr","text":"Nous utilisons vos messages."}`,
			`{"role":"dpo"}`, `{"name":"C"}`, gardetest.ExampleRegister,
			`{"title":"x","discovered_at":"2026-03-01T08:00:00Z","categories":["user.contact.email"]}`,
			`{"a":1e999}`, `[]`, `null`, "\xff", `{"subject":"\u0000"}`,
		} {
			f.Add(uint8(i), body)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.Method, fill.Replace(rt.Pattern), strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+keys[rt.Roles()[0]])
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q = %d\n%s", rt.Method, rt.Pattern, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var p struct{ Status int }
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%s %s = %d with Content-Type %q", rt.Method, rt.Pattern, rec.Code, ct)
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code {
				t.Fatalf("%s %s = %d with a malformed problem: %v\n%s", rt.Method, rt.Pattern, rec.Code, err, rec.Body)
			}
		}
	})
}
