package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/garde-privacy/garde"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type      string          `json:"type"`
	Title     string          `json:"title"`
	Status    int             `json:"status"`
	Detail    string          `json:"detail,omitempty"`
	Instance  string          `json:"instance,omitempty"`
	Code      string          `json:"code,omitempty"`
	Errors    []problemDetail `json:"errors,omitempty"`
	RequestID string          `json:"request_id"`
}

type problemDetail struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

var errNoRoute = garde.Errorf(garde.ErrNotFound, "no such route")

// kinds maps each error kind to its status and problem type. One table,
// for every handler.
var kinds = []struct {
	kind   error
	status int
	name   string
	title  string
}{
	{garde.ErrInvalid, http.StatusBadRequest, "invalid", "Invalid input"},
	{garde.ErrUnauthenticated, http.StatusUnauthorized, "unauthenticated", "Authentication required"},
	{garde.ErrNoConsent, http.StatusForbidden, "no-consent", "No current consent"},
	{garde.ErrForbidden, http.StatusForbidden, "forbidden", "Forbidden"},
	{garde.ErrNotFound, http.StatusNotFound, "not-found", "Not found"},
	{garde.ErrLastAdminKey, http.StatusConflict, "last-admin-key", "Last admin key"},
	{garde.ErrConflict, http.StatusConflict, "conflict", "Conflict"},
	{garde.ErrTooLarge, http.StatusRequestEntityTooLarge, "too-large", "Request too large"},
	{errMethod, http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed"},
	{errMediaType, http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type"},
	{errLimited, http.StatusTooManyRequests, "rate-limited", "Too many requests"},
}

var (
	errMethod    = errors.New("method not allowed")
	errMediaType = errors.New("unsupported media type")
)

// problemTypeBase prefixes problem type URIs; docs/api.md lists them.
const problemTypeBase = "urn:garde:problem:"

// writeError renders err as problem+json. Errors of no known kind are
// internal: their text is logged once with the request id and replaced by
// a generic message, so no detail (and no personal data) leaks out.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	p := problem{Type: problemTypeBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError,
		Detail: "the server failed; quote the request id to the operator", RequestID: reqID}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = garde.Errorf(garde.ErrTooLarge, "request body is larger than %d bytes", mbe.Limit)
	}
	known := false
	for _, k := range kinds {
		if errors.Is(err, k.kind) {
			p = problem{Type: problemTypeBase + k.name, Title: k.title, Status: k.status, Detail: err.Error(), RequestID: reqID}
			known = true
			break
		}
	}
	if !known {
		s.log.Error("internal error", "request", reqID, "err", err.Error())
	}
	var ve *garde.ValidationError
	if errors.As(err, &ve) {
		p.Detail = "the request has invalid fields"
		for _, pr := range ve.Problems {
			p.Errors = append(p.Errors, problemDetail{Field: pr.Field, Message: pr.Message})
		}
	}
	var re *garde.RefusedError
	if errors.As(err, &re) {
		p.Code = re.Code
		msg := re.Detail
		if re.Code == "purpose_not_in_register" { // the purpose may be anything: echo no part of it
			msg = "the purpose is not in the register of processing"
			p.Detail = msg
		}
		p.Errors = []problemDetail{{Field: re.Field, Message: msg}}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="garde"`)
	}
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}
