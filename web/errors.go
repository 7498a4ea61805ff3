package web

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/internal/errkind"
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

// problemTypeBase prefixes problem type URIs; docs/api.md lists them.
const problemTypeBase = "urn:garde:problem:"

// writeError renders err as problem+json, with the status and type of
// its kind (web/internal/errkind, the table the dashboard uses too). Errors of no known kind are
// internal: their text is logged once with the request id and replaced by
// a generic message, so no detail (and no personal data) leaks out.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	p := problem{Type: problemTypeBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError,
		Detail: "the server failed; quote the request id to the operator", RequestID: reqID}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = garde.Errorf(garde.ErrTooLarge, "request body is larger than %d bytes", mbe.Limit)
	}
	k, known := errkind.Of(err)
	if known {
		p = problem{Type: problemTypeBase + k.Name, Title: k.Title, Status: k.Status, Detail: err.Error(), RequestID: reqID}
	} else {
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
