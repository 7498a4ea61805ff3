// Package errkind is the one table from an error's kind to its HTTP
// status, shared by the JSON API (package web renders it as RFC 9457
// problem+json) and the dashboard (web/dashboard renders it as a page), so
// that both answer the same error with the same status.
package errkind

import (
	"errors"
	"net/http"

	"github.com/garde-privacy/garde"
)

// Errors of the HTTP layer that have a status of their own.
var (
	ErrMethod    = errors.New("method not allowed")
	ErrMediaType = errors.New("unsupported media type")
	// ErrLimited is a request refused by a rate limit or a lock-out.
	ErrLimited = errors.New("too many requests")
)

// Kind is an error kind as HTTP shows it.
type Kind struct {
	Err    error
	Status int
	Name   string // the problem type's suffix (urn:garde:problem:<Name>)
	Title  string
}

// kinds maps each error kind to its status and problem type. One table,
// for every handler; the first kind err is wins.
var kinds = []Kind{
	{garde.ErrInvalid, http.StatusBadRequest, "invalid", "Invalid input"},
	{garde.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Authentication required"},
	{garde.ErrNoConsent, http.StatusForbidden, "no-consent", "No current consent"},
	{garde.ErrForbidden, http.StatusForbidden, "forbidden", "Forbidden"},
	{garde.ErrNotFound, http.StatusNotFound, "not-found", "Not found"},
	{garde.ErrLastAdminKey, http.StatusConflict, "last-admin-key", "Last admin key"},
	{garde.ErrConflict, http.StatusConflict, "conflict", "Conflict"},
	{garde.ErrTooLarge, http.StatusRequestEntityTooLarge, "too-large", "Request too large"},
	{ErrMethod, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	{ErrMediaType, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
	{ErrLimited, http.StatusTooManyRequests, "rate-limited", "Too many requests"},
}

// Of returns the kind of err. An error of no known kind is internal:
// Of reports false, and its text must not reach the client.
func Of(err error) (Kind, bool) {
	for _, k := range kinds {
		if errors.Is(err, k.Err) {
			return k, true
		}
	}
	return Kind{}, false
}
