package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/rights"
)

// OpenDSR (discovery, create, status, cancel, the callback key) and the
// subject's verification page: the two entry points that a data subject or
// a third-party privacy tool reaches.

// The subject's verification pages. They are HTML for a person, always
// answer 200 and never say more than "done" or "this link does not work":
// a guessed token learns nothing.
var verifyTmpl = template.Must(template.New("verify").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Confirm your request</title></head>
<body style="font-family:system-ui,sans-serif;max-width:40em;margin:3em auto">
{{if eq .State "ask"}}<h1>Confirm your request</h1>
<p>You asked to exercise your data-protection rights. Confirm that the request is yours; nothing happens until you do.</p>
<form method="post"><button type="submit">Confirm my request</button></form>
{{else if eq .State "done"}}<h1>Thank you</h1><p>Your {{.Type}} request is confirmed (reference {{.ID}}). Its status is now: {{.Status}}. It will be answered by {{.Due}}.</p>
{{else}}<h1>This link does not work</h1><p>It is invalid, has expired, or was already used. Contact the company you made the request to.</p>{{end}}
</body></html>
`))

type verifyView struct{ State, Type, ID, Status, Due string }

func writeVerifyPage(w http.ResponseWriter, v verifyView) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	return verifyTmpl.Execute(w, v)
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request) error {
	return writeVerifyPage(w, verifyView{State: "ask"})
}

func (s *Server) verifyConfirm(w http.ResponseWriter, r *http.Request) error {
	if r.Header.Get("Authorization") != "" {
		// The link is the subject's: a caller presenting a garde key (the
		// one that filed, typically) is not the subject and does not
		// verify. This stops an integration from confirming its own
		// requests by mistake; a key holder that strips its credential
		// cannot be told from the subject (docs/security.md).
		return garde.Errorf(garde.ErrForbidden, "a verification link is confirmed by the subject, not with an API key; the DPO verifies with the action verify")
	}
	req, err := s.svc.Rights.VerifyRequest(r.Context(), r.PathValue("token"))
	if errors.Is(err, garde.ErrNotFound) {
		return writeVerifyPage(w, verifyView{State: "invalid"})
	}
	if err != nil {
		return err
	}
	return writeVerifyPage(w, verifyView{State: "done", Type: req.Type, ID: req.ID, Status: req.Status, Due: req.DueAt.Format("2 January 2006")})
}

var openDSRTypes = map[string]string{
	"access": garde.RequestAccess, "portability": garde.RequestPortability, "erasure": garde.RequestErasure,
	"rectification": garde.RequestRectification, "restriction_of_processing": garde.RequestRestriction, "objection": garde.RequestObjection,
}

func (s *Server) openDSRDiscovery(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]any{
		"api_version":                     rights.OpenDSRAPIVersion,
		"supported_identities":            []map[string]string{{"identity_type": "controller_customer_id", "identity_format": "raw"}, {"identity_type": "email", "identity_format": "raw"}},
		"supported_subject_request_types": []string{"access", "portability", "erasure", "rectification", "restriction_of_processing", "objection"},
		"processor_certificate":           baseURL(r) + "/opendsr/key",
		"x_garde_note":                    "callbacks are signed with the tenant's own callback key (Ed25519, not the ledger key; public key at /opendsr/key, credential required) over \"garde-callback-v1\\n\" + Garde-Timestamp + \"\\n\" + Garde-Delivery + \"\\n\" + body; X-OpenDSR-Signature is the base64 signature (docs/rights.md)",
	})
}

type openDSRIdentity struct {
	Type   string `json:"identity_type"`
	Value  string `json:"identity_value"`
	Format string `json:"identity_format,omitempty"`
}

type openDSRRequest struct {
	SubjectRequestID   string            `json:"subject_request_id"`
	SubjectRequestType string            `json:"subject_request_type"`
	SubmittedTime      time.Time         `json:"submitted_time"`
	SubjectIdentities  []openDSRIdentity `json:"subject_identities"`
	APIVersion         string            `json:"api_version,omitempty"`
	StatusCallbackURLs []string          `json:"status_callback_urls,omitempty"`
	Regulation         string            `json:"regulation,omitempty"`
	SkipWaitingPeriod  bool              `json:"skip_waiting_period,omitempty"`
	Extensions         json.RawMessage   `json:"extensions,omitempty"`
	// Purpose is garde's extension for an objection.
	Purpose string `json:"x_garde_purpose,omitempty"`
}

func (s *Server) openDSRCreate(w http.ResponseWriter, r *http.Request) error {
	var in openDSRRequest
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ve := &garde.ValidationError{}
	typ, ok := openDSRTypes[in.SubjectRequestType]
	if !ok {
		ve.Add("subject_request_type", "must be one of access, portability, erasure, rectification, restriction_of_processing, objection")
	}
	if in.SubjectRequestID == "" || len(in.SubjectRequestID) > 100 {
		ve.Add("subject_request_id", "is required (a UUID, at most 100 bytes)")
	}
	if in.Regulation != "" && in.Regulation != "gdpr" {
		ve.Add("regulation", "garde answers gdpr requests")
	}
	if len(in.SubjectIdentities) != 1 || in.SubjectIdentities[0].Value == "" {
		ve.Add("subject_identities", "give exactly one identity: the identifier the tenant stores the subject under")
	}
	if err := ve.Err(); err != nil {
		return err
	}
	p := principalFrom(r.Context())
	f, err := s.svc.Rights.FileRequest(r.Context(), p, rights.NewRequest{Subject: in.SubjectIdentities[0].Value, Type: typ, Purpose: in.Purpose,
		Source: "opendsr", ExternalID: in.SubjectRequestID, CallbackURLs: in.StatusCallbackURLs, ReceivedAt: in.SubmittedTime})
	req := f.Request
	if errors.Is(err, garde.ErrConflict) {
		// A retried create answers the request it made the first time.
		existing, lerr := s.svc.Rights.RequestByExternalID(r.Context(), p, in.SubjectRequestID)
		if lerr != nil || existing.Type != typ {
			return err
		}
		req, err = existing, nil
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, map[string]any{
		"controller_id": string(req.Tenant), "expected_completion_time": req.DueAt, "received_time": req.ReceivedAt,
		"subject_request_id": req.ExternalID, "api_version": rights.OpenDSRAPIVersion, "x_garde_request": req.ID,
	})
}

func (s *Server) openDSRStatus(w http.ResponseWriter, r *http.Request) error {
	req, err := s.svc.Rights.RequestByExternalID(r.Context(), principalFrom(r.Context()), r.PathValue("request"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rights.OpenDSRStatusOf(req))
}

func (s *Server) openDSRCancel(w http.ResponseWriter, r *http.Request) error {
	req, err := s.svc.Rights.CancelExternal(r.Context(), principalFrom(r.Context()), r.PathValue("request"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, map[string]any{"api_version": rights.OpenDSRAPIVersion, "received_time": req.UpdatedAt, "subject_request_id": req.ExternalID})
}

func (s *Server) openDSRKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.svc.Rights.OpenDSRPublicKey(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err = w.Write([]byte(k + "\n"))
	return err
}
