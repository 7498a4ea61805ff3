package dashboard_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/web/dashboard"
	"github.com/garde-privacy/garde/web/internal/dashtest"
)

// env is the dashboard alone, served on its own: tenants A and B, an
// operator key, and the logs. What the server adds around the pages
// (request id, API headers, limits, the lock-out at sign-in) is web's and
// tested there.
type env struct {
	svc      *app.Service
	dash     *dashboard.Dashboard
	ts       *httptest.Server
	a, b     gardetest.Tenant
	operator string
	logs     *bytes.Buffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	svc := app.New(dashtest.OpenStore(t), gardetest.MasterKeys(t), gardetest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)))
	logs := &bytes.Buffer{}
	d := dashboard.New(dashboard.Config{
		Service: svc,
		Log:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SignIn: func(w http.ResponseWriter, r *http.Request, key string) (garde.Principal, error) {
			return svc.Authenticate(r.Context(), key)
		},
	})
	mux := http.NewServeMux()
	for _, pg := range d.Pages() {
		mux.HandleFunc(pg.Method+" "+pg.Pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := pg.Serve(w, r); err != nil {
				t.Errorf("%s %s: %v", r.Method, r.URL.Path, err)
			}
		})
	}
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	_, op, err := svc.Tenancy.CreateOperatorKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{svc: svc, dash: d, ts: ts, operator: op, logs: logs}
	e.a = gardetest.NewTenant(t, svc, "A")
	e.b = gardetest.NewTenant(t, svc, "B")
	// B's register is told apart by its controller's name.
	if _, err := svc.Tenancy.ApplyRegister(ctx, e.b.Admin, []byte(strings.Replace(gardetest.ExampleRegister, "Example SAS", "B SAS", 1))); err != nil {
		t.Fatal(err)
	}
	return e
}
