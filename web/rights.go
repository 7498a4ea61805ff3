package web

import (
	"bufio"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde"
	"github.com/prometheus/client_golang/prometheus"
)

// rightsRoutes are the routes of data-subject rights: the native request
// API, the subject's verification link, exports, rectification, and the
// OpenDSR-compatible API beside them (docs/rights.md).
func (s *Server) rightsRoutes() []Route {
	s.registerRightsMetrics()
	return []Route{
		{Method: "POST", Pattern: "/v1/requests", Op: garde.OpRequestFile, Summary: "File a data-subject request. A DPO vouches for the identity (the request proceeds at once); a service key or an admin gets a one-time verification link for the subject (or the DPO verifies: action verify).", Request: "RequestIn", Response: "Request", Status: 201, handler: s.postRequest},
		{Method: "GET", Pattern: "/v1/requests", Op: garde.OpRequestRead, Summary: "List data-subject requests.", Response: "RequestList", Status: 200,
			Query: []Param{
				{Name: "status", Type: "string", Description: "received, identity_verified, in_progress, completed, rejected, cancelled"},
				{Name: "type", Type: "string", Description: "access, rectification, erasure, restriction, portability, objection"},
				{Name: "open", Type: "boolean", Description: "only requests still on the clock"},
				{Name: "due_before", Type: "string", Description: "RFC 3339: open requests due before this time"},
				{Name: "after", Type: "string", Description: "request id to page after"},
				{Name: "limit", Type: "integer", Description: "at most this many (max 500)"},
			}, handler: s.listRequests},
		{Method: "POST", Pattern: "/v1/requests:lookup", Op: garde.OpRequestRead, Summary: "A subject's requests (the identifier travels in the body, never in a URL).", Request: "SubjectLookup", Response: "RequestList", Status: 200, handler: s.lookupRequests},
		{Method: "GET", Pattern: "/v1/requests/{request}", Op: garde.OpRequestRead, Summary: "One request, with its deadline and the status of each erasure notice or callback.", Response: "Request", Status: 200, handler: s.getRequest},
		{Method: "POST", Pattern: "/v1/requests/{request}/actions", Op: garde.OpRequestChange, Summary: "Extend (Art. 12(3), with reasons, within the first month), hold or release an erasure, reject with a reason, complete, cancel; verify (DPO only: the identity of a request another key filed).", Request: "RequestAction", Response: "Request", Status: 200, handler: s.requestAction},
		{Method: "GET", Pattern: "/v1/requests/{request}/export", Op: garde.OpSubjectExport, Summary: "Everything garde holds on the subject of an access or portability request, decrypted and streamed: JSON, or HTML with ?format=html.", Status: 200,
			Query: []Param{{Name: "format", Type: "string", Description: "json (default, machine-readable, Art. 20) or html (human-readable, Art. 15)"}}, handler: s.requestExport},
		{Method: "GET", Pattern: "/v1/requests/{request}/certificate", Op: garde.OpRequestRead, Summary: "The signed erasure certificate (text/plain, a signed note): garde verify certificate FILE --key KEY.", Status: 200, handler: s.requestCertificate},
		{Method: "GET", Pattern: "/v1/verify/{token}", Summary: "The subject's one-time verification link: a page asking to confirm (following a link changes nothing).", Status: 200, handler: s.verifyPage},
		{Method: "POST", Pattern: "/v1/verify/{token}", Op: garde.OpRequestVerify, Summary: "The subject confirms the request: its identity is verified and it proceeds. Answers an HTML page.", Status: 200, handler: s.verifyConfirm},
		{Method: "PATCH", Pattern: "/v1/subjects/{subject}/messages/{message}", Op: garde.OpMessageRectify, Summary: "Rectify a message's text or fields (Art. 16); audited.", Request: "Rectification", Response: "Message", Status: 200, handler: s.rectify},
		{Method: "DELETE", Pattern: "/v1/subjects/{subject}/restriction", Op: garde.OpRestrictionLift, Summary: "Lift a subject's restriction of processing (Art. 18(3)).", Status: 204, handler: s.liftRestriction},
		{Method: "GET", Pattern: "/v1/rights/webhook-secret", Op: garde.OpRecipientSecret, Summary: "The HMAC secret signing the erasure notices sent to one recipient endpoint (hex).", Response: "WebhookSecret", Status: 200,
			Query: []Param{{Name: "endpoint", Type: "string", Description: "the recipient's endpoint as the register lists it", Required: true}}, handler: s.webhookSecret},

		{Method: "GET", Pattern: "/opendsr/discovery", Summary: "OpenDSR discovery: API version, request types, identity types.", Response: "OpenDSRDiscovery", Status: 200, handler: s.openDSRDiscovery},
		{Method: "POST", Pattern: "/opendsr/requests", Op: garde.OpRequestFile, Summary: "OpenDSR: create a request (idempotent on subject_request_id).", Request: "OpenDSRRequest", Response: "OpenDSRCreated", Status: 201, handler: s.openDSRCreate},
		{Method: "GET", Pattern: "/opendsr/requests/{request}", Op: garde.OpRequestRead, Summary: "OpenDSR: a request's status, by subject_request_id.", Response: "OpenDSRStatus", Status: 200, handler: s.openDSRStatus},
		{Method: "DELETE", Pattern: "/opendsr/requests/{request}", Op: garde.OpRequestCancel, Summary: "OpenDSR: cancel a request, by subject_request_id.", Response: "OpenDSRCancelled", Status: 202, handler: s.openDSRCancel},
		{Method: "GET", Pattern: "/opendsr/key", Op: garde.OpCallbackKey, Summary: "The Ed25519 public key (base64) that signs the tenant's OpenDSR callbacks (X-OpenDSR-Signature, over Garde-Timestamp, Garde-Delivery and the body); not the ledger key.", Status: 200, handler: s.openDSRKey},
	}
}

// registerRightsMetrics exports garde.RightsMetrics (process-wide, no
// labels beyond the kind).
func (s *Server) registerRightsMetrics() {
	m := &garde.RightsMetrics
	for _, c := range []struct {
		name, help string
		v          func() int64
	}{
		{"garde_requests_filed_total", "Data-subject requests filed.", m.RequestsFiled.Load},
		{"garde_request_alarms_due_soon_total", "Due-soon alarms sent for data-subject requests.", m.AlarmsDueSoon.Load},
		{"garde_request_alarms_overdue_total", "Overdue alarms sent for data-subject requests.", m.AlarmsOverdue.Load},
		{"garde_erasures_total", "Subject keys destroyed by erasure requests.", m.Erasures.Load},
		{"garde_retention_purged_messages_total", "Messages deleted by the retention purger.", m.PurgedMessages.Load},
		{"garde_retention_purge_runs_total", "Runs of the retention purger.", m.PurgeRuns.Load},
		{"garde_deliveries_ok_total", "Erasure notices and OpenDSR callbacks delivered.", m.DeliveriesOK.Load},
		{"garde_deliveries_failed_total", "Failed delivery attempts (retried).", m.DeliveriesFailed.Load},
		{"garde_deliveries_dead_total", "Deliveries given up after every attempt (dead letter).", m.Dead.Load},
	} {
		v := c.v
		_ = s.opts.Registry.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help}, func() float64 { return float64(v()) }))
	}
}

type requestIn struct {
	Subject   string `json:"subject"`
	Type      string `json:"type"`
	Purpose   string `json:"purpose,omitempty"`
	LegalHold string `json:"legal_hold,omitempty"`
}

type deliveryOut struct {
	Kind        string     `json:"kind"`
	Recipient   string     `json:"recipient"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	NextAt      *time.Time `json:"next_attempt_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

type requestOut struct {
	ID              string        `json:"id"`
	Type            string        `json:"type"`
	Status          string        `json:"status"`
	Purpose         string        `json:"purpose,omitempty"`
	ReceivedAt      time.Time     `json:"received_at"`
	DueAt           time.Time     `json:"due_at"`
	VerifiedAt      *time.Time    `json:"identity_verified_at,omitempty"`
	StartedAt       *time.Time    `json:"started_at,omitempty"`
	CompletedAt     *time.Time    `json:"completed_at,omitempty"`
	ExtendedAt      *time.Time    `json:"extended_at,omitempty"`
	Extension       string        `json:"extension_reason,omitempty"`
	Reason          string        `json:"reason,omitempty"`
	LegalHold       string        `json:"legal_hold,omitempty"`
	KeyDestroyedAt  *time.Time    `json:"key_destroyed_at,omitempty"`
	Source          string        `json:"source"`
	ExternalID      string        `json:"subject_request_id,omitempty"`
	Outcome         string        `json:"outcome,omitempty"`
	Certificate     bool          `json:"certificate"`
	VerificationURL string        `json:"verification_url,omitempty"`
	Deliveries      []deliveryOut `json:"deliveries,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toRequestOut(r garde.RightsRequest) requestOut {
	return requestOut{ID: r.ID, Type: r.Type, Status: r.Status, Purpose: r.Purpose, ReceivedAt: r.ReceivedAt, DueAt: r.DueAt,
		VerifiedAt: optTime(r.VerifiedAt), StartedAt: optTime(r.StartedAt), CompletedAt: optTime(r.CompletedAt), ExtendedAt: optTime(r.ExtendedAt),
		Extension: r.Extension, Reason: r.Reason, LegalHold: r.LegalHold, KeyDestroyedAt: optTime(r.KeyDestroyedAt), Source: r.Source,
		ExternalID: r.ExternalID, Outcome: r.Outcome, Certificate: r.Certificate != nil}
}

// baseURL is the scheme and host the caller reached garde at.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) postRequest(w http.ResponseWriter, r *http.Request) error {
	var in requestIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	f, err := s.svc.Rights.FileRequest(r.Context(), principalFrom(r.Context()), rights.NewRequest{Subject: in.Subject, Type: in.Type, Purpose: in.Purpose, LegalHold: in.LegalHold})
	if err != nil {
		return err
	}
	out := toRequestOut(f.Request)
	if f.Token != "" {
		out.VerificationURL = baseURL(r) + "/v1/verify/" + f.Token
	}
	w.Header().Set("Location", "/v1/requests/"+f.Request.ID)
	return writeJSON(w, http.StatusCreated, out)
}

func requestList(rs []garde.RightsRequest) map[string]any {
	out := make([]requestOut, len(rs))
	for i, r := range rs {
		out[i] = toRequestOut(r)
	}
	next := ""
	if len(rs) > 0 {
		next = rs[len(rs)-1].ID
	}
	return map[string]any{"requests": out, "next": next}
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := garde.RequestFilter{Status: q.Get("status"), Type: q.Get("type"), After: q.Get("after"), OpenOnly: q.Get("open") == "true"}
	ve := &garde.ValidationError{}
	if v := q.Get("due_before"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			ve.Add("due_before", "must be an RFC 3339 time")
		}
		f.DueBefore = t
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			ve.Add("limit", "must be a positive integer")
		}
		f.Limit = n
	}
	if err := ve.Err(); err != nil {
		return err
	}
	rs, err := s.svc.Rights.Requests(r.Context(), principalFrom(r.Context()), f, "")
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, requestList(rs))
}

func (s *Server) lookupRequests(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Subject string `json:"subject"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Subject == "" {
		return garde.Invalid("subject", "is required")
	}
	rs, err := s.svc.Rights.Requests(r.Context(), principalFrom(r.Context()), garde.RequestFilter{}, in.Subject)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, requestList(rs))
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r.Context())
	req, err := s.svc.Rights.Request(r.Context(), p, r.PathValue("request"))
	if err != nil {
		return err
	}
	ds, err := s.svc.Rights.RequestDeliveries(r.Context(), p, req.ID)
	if err != nil {
		return err
	}
	out := toRequestOut(req)
	for _, d := range ds {
		do := deliveryOut{Kind: d.Kind, Recipient: d.Recipient, Status: d.Status, Attempts: d.Attempts, LastError: d.LastError, DeliveredAt: optTime(d.DeliveredAt)}
		if d.Status == garde.DeliveryPending {
			do.NextAt = optTime(d.NextAt)
		}
		out.Deliveries = append(out.Deliveries, do)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) requestAction(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Action string `json:"action"`
		Reason string `json:"reason,omitempty"`
		Months int    `json:"months,omitempty"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	req, err := s.svc.Rights.ChangeRequest(r.Context(), principalFrom(r.Context()), r.PathValue("request"), rights.RequestChange{Action: in.Action, Reason: in.Reason, Months: in.Months})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toRequestOut(req))
}

func (s *Server) requestCertificate(w http.ResponseWriter, r *http.Request) error {
	req, err := s.svc.Rights.Request(r.Context(), principalFrom(r.Context()), r.PathValue("request"))
	if err != nil {
		return err
	}
	if req.Certificate == nil {
		return garde.Errorf(garde.ErrNotFound, "request %s has no erasure certificate (yet)", req.ID)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+req.ID+`.certificate"`)
	_, err = w.Write(req.Certificate)
	return err
}

// exportMessage is one message of an export.
type exportMessage struct {
	ID        string            `json:"id"`
	Purpose   string            `json:"purpose"`
	Channel   string            `json:"channel"`
	Text      string            `json:"text"`
	Fields    map[string]string `json:"fields,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at"`
}

type exportBlock struct {
	Kind    string    `json:"kind"`
	Purpose string    `json:"purpose,omitempty"`
	Since   time.Time `json:"since"`
}

type exportConsent struct {
	ID         string    `json:"id"`
	Purpose    string    `json:"purpose"`
	Action     string    `json:"action"`
	At         time.Time `json:"at"`
	Notice     int       `json:"notice_version"`
	Language   string    `json:"language"`
	NoticeHash string    `json:"notice_hash"`
	Method     string    `json:"method"`
	LeafIndex  int64     `json:"leaf_index"`
}

// exportHead is everything of an export but the messages, in the JSON's
// field order.
type exportHead struct {
	Format       string             `json:"format"`
	Subject      string             `json:"subject"`
	GeneratedAt  time.Time          `json:"generated_at"`
	Controller   register.Party     `json:"controller"`
	DPO          register.Party     `json:"dpo"`
	Purposes     []register.Purpose `json:"purposes"`
	Consents     []exportConsent    `json:"consents"`
	Receipts     []garde.Receipt    `json:"consent_receipts"`
	Requests     []requestOut       `json:"requests"`
	Restrictions []exportBlock      `json:"restrictions"`
	Erased       bool               `json:"erased"`
	Messages     *json.RawMessage   `json:"messages,omitempty"`
}

func toExportHead(h rights.SubjectExport) exportHead {
	out := exportHead{Format: "garde-subject-export/1", Subject: h.Subject, GeneratedAt: h.GeneratedAt, Controller: h.Controller, DPO: h.DPO,
		Purposes: h.Purposes, Receipts: h.Receipts, Erased: h.Erased,
		Consents: []exportConsent{}, Requests: []requestOut{}, Restrictions: []exportBlock{}}
	for _, c := range h.Consents {
		out.Consents = append(out.Consents, exportConsent{ID: c.ID, Purpose: c.Purpose, Action: c.Action, At: c.At, Notice: c.Notice, Language: c.Language, NoticeHash: c.NoticeHash, Method: c.Method, LeafIndex: c.LeafIndex})
	}
	for _, r := range h.Requests {
		out.Requests = append(out.Requests, toRequestOut(r))
	}
	for _, b := range h.Blocks {
		out.Restrictions = append(out.Restrictions, exportBlock{Kind: b.Kind, Purpose: b.Purpose, Since: b.Since})
	}
	if out.Receipts == nil {
		out.Receipts = []garde.Receipt{}
	}
	return out
}

func (s *Server) requestExport(w http.ResponseWriter, r *http.Request) error {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "html" {
		return garde.Invalid("format", "must be json or html")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	started := false
	id := r.PathValue("request")
	var err error
	if format == "html" {
		err = s.svc.Rights.ExportRequest(r.Context(), principalFrom(r.Context()), id, func(h rights.SubjectExport) error {
			started = true
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
			w.WriteHeader(http.StatusOK)
			return exportHTMLHead.Execute(bw, toExportHead(h))
		}, func(m garde.MessageView) error {
			return exportHTMLRow.Execute(bw, exportMessage{ID: m.ID, Purpose: m.Purpose, Channel: m.Channel, Text: m.Text, Fields: m.Fields, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt})
		})
		if started && err == nil {
			_, err = bw.WriteString(exportHTMLTail)
		}
	} else {
		n := 0
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		err = s.svc.Rights.ExportRequest(r.Context(), principalFrom(r.Context()), id, func(h rights.SubjectExport) error {
			started = true
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Disposition", `attachment; filename="`+id+`.json"`)
			w.WriteHeader(http.StatusOK)
			b, err := json.Marshal(toExportHead(h))
			if err != nil {
				return err
			}
			// Open the messages array in place of the closing brace.
			bw.Write(b[:len(b)-1])
			_, err = bw.WriteString(`,"messages":[`)
			return err
		}, func(m garde.MessageView) error {
			if n > 0 {
				bw.WriteByte(',')
			}
			n++
			return enc.Encode(exportMessage{ID: m.ID, Purpose: m.Purpose, Channel: m.Channel, Text: m.Text, Fields: m.Fields, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt})
		})
		if started && err == nil {
			_, err = bw.WriteString("]}\n")
		}
	}
	if !started {
		return err
	}
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	if err != nil {
		// The status is sent: the truncated body is the signal. Log it.
		s.log.Error("export failed mid-stream", "request", w.Header().Get("X-Request-Id"), "err", err.Error())
	}
	return nil
}

var exportHTMLHead = template.Must(template.New("head").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your personal data</title>
<style>body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em;vertical-align:top;text-align:left}</style></head>
<body>
<h1>The personal data {{.Controller.Name}} holds about you</h1>
<p>Subject: <strong>{{.Subject}}</strong>. Generated {{.GeneratedAt.Format "2006-01-02 15:04 MST"}}. Data protection officer: {{.DPO.Name}} {{.DPO.Email}}.</p>
{{if .Erased}}<p><strong>Your data was erased on request.</strong></p>{{end}}
<h2>Why we process it (register of processing)</h2>
<table><tr><th>Purpose</th><th>Legal basis</th><th>Data categories</th><th>Kept for</th><th>Recipients</th></tr>
{{range .Purposes}}<tr><td>{{.ID}}{{with .Description}}<br><small>{{.}}</small>{{end}}</td><td>{{.LegalBasis}}</td><td>{{range $i, $c := .Categories}}{{if $i}}, {{end}}{{$c}}{{end}}</td><td>{{.Retention}}</td><td>{{range .Recipients}}{{.Name}} ({{.Role}}, {{.Country}})<br>{{end}}</td></tr>
{{end}}</table>
<h2>Your consents</h2>
{{if .Consents}}<table><tr><th>When</th><th>Purpose</th><th>Action</th><th>Notice</th><th>Ledger entry</th></tr>
{{range .Consents}}<tr><td>{{.At.Format "2006-01-02 15:04"}}</td><td>{{.Purpose}}</td><td>{{.Action}}</td><td>v{{.Notice}} ({{.Language}})</td><td>{{.LeafIndex}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
<h2>Your requests</h2>
{{if .Requests}}<table><tr><th>Request</th><th>Type</th><th>Status</th><th>Received</th><th>Due</th></tr>
{{range .Requests}}<tr><td>{{.ID}}</td><td>{{.Type}}</td><td>{{.Status}}</td><td>{{.ReceivedAt.Format "2006-01-02"}}</td><td>{{.DueAt.Format "2006-01-02"}}</td></tr>
{{end}}</table>{{else}}<p>None.</p>{{end}}
{{if .Restrictions}}<h2>Restrictions and objections</h2><ul>{{range .Restrictions}}<li>{{.Kind}} {{.Purpose}} since {{.Since.Format "2006-01-02"}}</li>{{end}}</ul>{{end}}
<h2>Your messages</h2>
<table><tr><th>Date</th><th>Purpose</th><th>Channel</th><th>Text</th><th>Fields</th><th>Deleted after</th></tr>
`))

var exportHTMLRow = template.Must(template.New("row").Parse(`<tr><td>{{.CreatedAt.Format "2006-01-02 15:04"}}</td><td>{{.Purpose}}</td><td>{{.Channel}}</td><td>{{.Text}}</td><td>{{range $k, $v := .Fields}}{{$k}}: {{$v}}<br>{{end}}</td><td>{{.ExpiresAt.Format "2006-01-02"}}</td></tr>
`))

const exportHTMLTail = "</table>\n</body></html>\n"

func (s *Server) rectify(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Text   *string           `json:"text,omitempty"`
		Fields map[string]string `json:"fields,omitempty"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	v, err := s.svc.Vault.RectifyMessage(r.Context(), principalFrom(r.Context()), r.PathValue("subject"), r.PathValue("message"), in.Text, in.Fields)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toMessageOut(v))
}

func (s *Server) liftRestriction(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Rights.LiftRestriction(r.Context(), principalFrom(r.Context()), r.PathValue("subject")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) webhookSecret(w http.ResponseWriter, r *http.Request) error {
	secret, err := s.svc.Rights.RecipientWebhookSecret(r.Context(), principalFrom(r.Context()), r.URL.Query().Get("endpoint"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"endpoint": r.URL.Query().Get("endpoint"), "secret": secret, "scheme": "HMAC-SHA256 over <Garde-Timestamp>.<body>, hex in Garde-Signature as v1=<hex>"})
}

// OpenDSR (https://github.com/opengdpr/OpenDSR): garde is the processor,
// the tenant's tool the controller. Request types map one to one, with
// restriction_of_processing for restriction.

// The rights schemas join the OpenAPI document's schemas from here.
func init() {
	enum := func(vals ...string) obj { return obj{"type": "string", "enum": vals} }
	integer := obj{"type": "integer"}
	types := enum(garde.RequestTypes...)
	statuses := enum(garde.RequestStatuses...)
	delivery := object(obj{
		"kind": enum(garde.DeliveryRecipient, garde.DeliveryCallback), "recipient": str("recipient name, or the callback's host"),
		"status": enum(garde.DeliveryPending, garde.DeliveryDelivered, garde.DeliveryDead), "attempts": integer,
		"next_attempt_at": timeSchema, "last_error": str("http_503, timeout, unreachable, not_in_register, egress_refused_<reason> (loopback, private, link_local, redirect…)"), "delivered_at": timeSchema,
	})
	for name, v := range map[string]obj{
		"RequestIn": object(obj{
			"subject": str("the tenant's identifier for the subject; stored sealed and as a keyed blind index"), "type": types,
			"purpose":    str("objection only: the purpose objected to"),
			"legal_hold": str("erasure only (admin or DPO): why the erasure is held (Art. 17(3)); release it with the hold action"),
		}, "subject", "type"),
		"Request": object(obj{
			"id": str(""), "type": types, "status": statuses, "purpose": str(""),
			"received_at": timeSchema, "due_at": timeSchema, "identity_verified_at": timeSchema, "started_at": timeSchema, "completed_at": timeSchema,
			"extended_at": timeSchema, "extension_reason": str(""), "reason": str("rejection or cancellation reason"), "legal_hold": str(""),
			"key_destroyed_at": timeSchema, "source": enum("api", "opendsr"), "subject_request_id": str("OpenDSR id"),
			"outcome": str("what was done, in fixed form"), "certificate": obj{"type": "boolean"},
			"verification_url": str("only when filed by a service key, once: the link to hand to the subject"),
			"deliveries":       arr(delivery),
		}),
		"RequestList":   object(obj{"requests": arr(ref("Request")), "next": str("pass as ?after= for the next page")}),
		"SubjectLookup": object(obj{"subject": str("the subject's identifier")}, "subject"),
		"RequestAction": object(obj{
			"action": enum(rights.ActExtend, rights.ActHold, rights.ActRelease, rights.ActReject, rights.ActComplete, rights.ActCancel, rights.ActVerify),
			"reason": str("required for extend, hold, reject and cancel; no personal data"), "months": obj{"type": "integer", "enum": []int{1, 2}},
		}, "action"),
		"Rectification": object(obj{"text": str("the corrected text"), "fields": obj{"type": "object", "additionalProperties": obj{"type": "string"}}}),
		"WebhookSecret": object(obj{"endpoint": str(""), "secret": str("hex"), "scheme": str("")}),
		"OpenDSRDiscovery": object(obj{
			"api_version": str(""), "supported_identities": arr(obj{"type": "object"}), "supported_subject_request_types": arr(str("")),
			"processor_certificate": str("where the callback signing key is"), "x_garde_note": str(""),
		}),
		"OpenDSRRequest": object(obj{
			"subject_request_id": str("the controller's id (UUID)"), "subject_request_type": enum("access", "portability", "erasure", "rectification", "restriction_of_processing", "objection"),
			"submitted_time": timeSchema, "subject_identities": arr(object(obj{"identity_type": str(""), "identity_value": str(""), "identity_format": str("")})),
			"api_version": str(""), "status_callback_urls": arr(str("")), "regulation": enum("gdpr"), "skip_waiting_period": obj{"type": "boolean"},
			"extensions": obj{"type": "object"}, "x_garde_purpose": str("objection: the purpose"),
		}, "subject_request_id", "subject_request_type", "subject_identities"),
		"OpenDSRCreated": object(obj{"controller_id": str(""), "expected_completion_time": timeSchema, "received_time": timeSchema, "subject_request_id": str(""), "api_version": str(""), "x_garde_request": str("")}),
		"OpenDSRStatus": object(obj{
			"controller_id": str(""), "expected_completion_time": timeSchema, "subject_request_id": str(""),
			"request_status": enum("pending", "in_progress", "completed", "cancelled"), "api_version": str(""), "results_url": obj{"type": []string{"string", "null"}},
			"status_callback_url": str(""),
		}),
		"OpenDSRCancelled": object(obj{"api_version": str(""), "received_time": timeSchema, "subject_request_id": str("")}),
	} {
		schemas[name] = v
	}
}
