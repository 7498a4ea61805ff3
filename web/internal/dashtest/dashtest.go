// Package dashtest holds what the dashboard's own tests (web/dashboard)
// and the server's (web) share: the store they run on, and a browser, an
// HTTP client with its own cookie jar that does not follow redirects and
// signs in as a person would (form token, then session).
package dashtest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/postgres/postgrestest"
	"github.com/garde-privacy/garde/sqlite"
)

// Browser is one browser, signed in or not.
type Browser struct {
	T      *testing.T
	Base   string
	Client *http.Client
	// CSRF is the form token of the last page that had one.
	CSRF string
}

// Response is an answer, read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// NewBrowser returns a browser for ts, with a cookie jar of its own.
func NewBrowser(t *testing.T, ts *httptest.Server) *Browser {
	jar, _ := cookiejar.New(nil)
	c := *ts.Client() // a copy: each browser has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Browser{T: t, Base: ts.URL, Client: &c}
}

// Get fetches path and remembers the page's form token.
func (b *Browser) Get(path string) Response {
	b.T.Helper()
	res, err := b.Client.Get(b.Base + path)
	if err != nil {
		b.T.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if m := csrfField.FindSubmatch(body); m != nil {
		b.CSRF = string(m[1])
	}
	return Response{res.StatusCode, res.Header, body}
}

// Post submits a form to path.
func (b *Browser) Post(path string, form url.Values) Response {
	b.T.Helper()
	res, err := b.Client.PostForm(b.Base+path, form)
	if err != nil {
		b.T.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return Response{res.StatusCode, res.Header, body}
}

// SignIn signs in with key and returns the sign-in's response; once
// signed in, the browser holds the session's form token.
func (b *Browser) SignIn(key string) Response {
	b.T.Helper()
	b.Get("/dashboard/signin")
	r := b.Post("/dashboard/signin", url.Values{"csrf": {b.CSRF}, "key": {key}})
	if r.Status == http.StatusSeeOther {
		b.Get("/dashboard/overview") // picks up the session's CSRF token
	}
	return r
}

// OpenStore opens the store the server's and the dashboard's tests run
// on: SQLite, or PostgreSQL when GARDE_TEST_STORE=postgres.
func OpenStore(t *testing.T) garde.Store {
	t.Helper()
	if os.Getenv("GARDE_TEST_STORE") == "postgres" {
		db, _, _ := postgrestest.Open(t)
		return db
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
