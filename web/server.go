// Package web exposes garde over HTTP: the JSON API under /v1, its OpenAPI
// description, health probes, Prometheus metrics, and the pages of the
// DPO's dashboard (package web/dashboard) mounted in the same route table.
//
// Handlers return errors; one function renders every error as RFC 9457
// problem+json. Nothing personal is ever logged: requests are logged by
// route pattern (never by path, which may carry a subject identifier) and
// by key id.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/dashboard"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure the server.
type Options struct {
	// MaxBody bounds a request body (default 1 MiB).
	MaxBody int64
	// Registry receives garde's metrics; nil makes a new one.
	Registry *prometheus.Registry
	// Limits are the rate limits and the lock-out (web/limit.go); the
	// zero value limits nothing.
	Limits Limits
}

// Server is garde's HTTP handler.
type Server struct {
	svc     *app.Service
	log     *slog.Logger
	opts    Options
	metrics *metrics
	mux     *http.ServeMux
	routes  []Route
	limiter *limiter
	// dash is the DPO's dashboard, whose pages the route table mounts;
	// revoking a key through the API ends the sessions it opened there.
	dash *dashboard.Dashboard
}

// NewServer builds the handler. Every dependency is an argument.
func NewServer(svc *app.Service, logger *slog.Logger, opts Options) *Server {
	if opts.MaxBody <= 0 {
		opts.MaxBody = 1 << 20
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	s := &Server{svc: svc, log: logger, opts: opts, metrics: newMetrics(opts.Registry), mux: http.NewServeMux()}
	s.limiter = newLimiter(opts.Limits, opts.Registry)
	// The dashboard signs keys in under the API's limits and lock-out.
	s.dash = dashboard.New(dashboard.Config{Service: svc, Log: logger, SignIn: s.signInKey})
	s.routes = s.routeTable()
	for _, rt := range s.routes {
		s.mux.Handle(rt.Method+" "+rt.Pattern, s.wrap(rt))
	}
	s.mux.Handle("/", s.wrap(Route{Pattern: "/", handler: func(w http.ResponseWriter, r *http.Request) error {
		return errNoRoute
	}}))
	return s
}

// Routes lists the API surface, for tests and the OpenAPI document.
func (s *Server) Routes() []Route { return s.routes }

// ServeHTTP serves a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type principalKey struct{}

func principalFrom(ctx context.Context) garde.Principal {
	p, _ := ctx.Value(principalKey{}).(garde.Principal)
	return p
}

// statusWriter records the status for logs and metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// wrap adds, around one route: a request id, security headers, the body
// limit, authentication, error rendering, the access log and metrics.
func (s *Server) wrap(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reqID := garde.NewID("req_", start)
		sw := &statusWriter{ResponseWriter: w}
		h := sw.Header()
		h.Set("X-Request-Id", reqID)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		r.Body = http.MaxBytesReader(sw, r.Body, s.opts.MaxBody)
		var p garde.Principal
		err := func() error {
			if err := s.limiter.admitAddr(sw, r); err != nil {
				return err
			}
			if len(rt.Roles()) > 0 {
				var err error
				p, err = s.authenticateLimited(sw, r)
				if err != nil {
					return err
				}
				r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
			}
			return rt.handler(sw, r)
		}()
		if err != nil {
			s.writeError(sw, r, reqID, err)
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observe(rt.Method, rt.Pattern, status, d)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(r.Context(), level, "request",
			slog.String("id", reqID), slog.String("method", r.Method), slog.String("route", rt.Pattern),
			slog.Int("status", status), slog.Duration("duration", d),
			slog.String("tenant", string(p.Tenant)), slog.String("key", p.KeyID))
	})
}

func (s *Server) authenticate(r *http.Request) (garde.Principal, error) {
	h := r.Header.Get("Authorization")
	text, ok := cutPrefixFold(h, "Bearer ")
	if !ok || text == "" {
		return garde.Principal{}, garde.Errorf(garde.ErrUnauthenticated, "an API key is required: Authorization: Bearer <key>")
	}
	return s.svc.Authenticate(r.Context(), text)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !equalFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
