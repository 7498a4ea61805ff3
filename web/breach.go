package web

import (
	"net/http"
	"time"

	"github.com/garde-privacy/garde/breach"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/internal/notice"
)

// breachRoutes are the routes of the breach register, its impact,
// escalations and notices.
func (s *Server) breachRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/v1/breaches", Op: garde.OpBreachWrite, Summary: "Enter a breach in the register and start its 72-hour clock.", Request: "BreachCreate", Response: "Breach", Status: 201, handler: s.createBreach},
		{Method: "GET", Pattern: "/v1/breaches", Op: garde.OpBreachRead, Summary: "The breach register: every breach the caller may see, newest first.", Response: "BreachList", Status: 200, handler: s.listBreaches},
		{Method: "GET", Pattern: "/v1/breaches/{breach}", Op: garde.OpBreachRead, Summary: "One breach, with its severity and history.", Response: "Breach", Status: 200, handler: s.getBreach},
		{Method: "PATCH", Pattern: "/v1/breaches/{breach}", Op: garde.OpBreachWrite, Summary: "Record an update: facts (owner), or the controller's decision, notifications and measures (affected tenant).", Request: "BreachChange", Response: "Breach", Status: 200, handler: s.patchBreach},
		{Method: "POST", Pattern: "/v1/breaches/{breach}/impact", Op: garde.OpBreachWrite, Summary: "Compute the impact of a compromised key from the audit trail and record it.", Request: "ImpactQuery", Response: "Breach", Status: 200, handler: s.breachImpact},
		{Method: "GET", Pattern: "/v1/breaches/{breach}/escalations", Op: garde.OpBreachRead, Summary: "Escalations sent to the DPOs for this breach.", Response: "EscalationList", Status: 200, handler: s.breachEscalations},
		{Method: "GET", Pattern: "/v1/breaches/{breach}/notices/{kind}", Op: garde.OpBreachRead, Summary: "Draft notice: controller (Art. 33(2)), authority (Art. 33(3)) or subjects (Art. 34), as Markdown or PDF.", Status: 200,
			Query: []Param{
				{Name: "lang", Type: "string", Description: "fr or en (default en)"},
				{Name: "format", Type: "string", Description: "md (text/markdown, default) or pdf (application/pdf)"},
				{Name: "tenant", Type: "string", Description: "operator only: the affected tenant (controller) the notice is for"},
			}, handler: s.breachNotice},
	}
}

type breachCreate struct {
	breach.BreachChange
	Tenants []garde.TenantID `json:"tenants,omitempty"`
}

type breachEvent struct {
	Tenant string    `json:"tenant,omitempty"`
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Kind   string    `json:"kind"`
}

type severityOut struct {
	DPC             float64  `json:"dpc"`
	DPCBasis        string   `json:"dpc_basis"`
	EI              float64  `json:"ei"`
	EIBasis         string   `json:"ei_basis"`
	CB              float64  `json:"cb"`
	CBBasis         []string `json:"cb_basis"`
	Score           float64  `json:"score"`
	Level           string   `json:"level"`
	NotifyAuthority bool     `json:"notify_authority"`
	NotifySubjects  bool     `json:"notify_subjects"`
	Reasons         []string `json:"reasons"`
}

type breachOut struct {
	ID                   string            `json:"id"`
	Owner                string            `json:"owner"`
	Tenants              []garde.TenantID  `json:"tenants"`
	Status               string            `json:"status"`
	Phase                string            `json:"phase"`
	Detector             string            `json:"detector,omitempty"`
	AwareAt              *time.Time        `json:"aware_at,omitempty"`
	NotifyBy             *time.Time        `json:"notify_by,omitempty"`
	Late                 bool              `json:"late"`
	Nature               []string          `json:"nature"`
	Description          string            `json:"description"`
	Categories           []string          `json:"categories"`
	SubjectCategories    []string          `json:"subject_categories"`
	SubjectsApprox       int               `json:"subjects_approx"`
	RecordsApprox        int               `json:"records_approx"`
	Consequences         string            `json:"consequences,omitempty"`
	MeasuresTaken        []string          `json:"measures_taken"`
	MeasuresProposed     []string          `json:"measures_proposed"`
	Decision             string            `json:"decision,omitempty"`
	DecisionReason       string            `json:"decision_reason,omitempty"`
	NotifySubjects       *bool             `json:"notify_subjects,omitempty"`
	ControllerNotifiedAt *time.Time        `json:"controller_notified_at,omitempty"`
	AuthorityNotifiedAt  *time.Time        `json:"authority_notified_at,omitempty"`
	SubjectsNotifiedAt   *time.Time        `json:"subjects_notified_at,omitempty"`
	DelayReason          string            `json:"delay_reason,omitempty"`
	Assessment           breach.Assessment `json:"assessment"`
	Impact               *breach.Impact    `json:"impact,omitempty"`
	Severity             severityOut       `json:"severity"`
	CreatedAt            time.Time         `json:"created_at"`
	CreatedBy            string            `json:"created_by"`
	UpdatedAt            time.Time         `json:"updated_at"`
	Events               []breachEvent     `json:"events"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func scopeName(t garde.TenantID) string {
	if t == garde.OperatorTenant {
		return "operator"
	}
	return string(t)
}

func breachJSON(b *breach.Breach, now time.Time) breachOut {
	sv := b.Severity
	out := breachOut{
		ID: b.ID, Owner: scopeName(b.Owner), Tenants: nonNil(b.Tenants), Status: b.Status, Phase: b.Phase, Detector: b.Detector,
		AwareAt: timePtr(b.AwareAt), NotifyBy: timePtr(b.NotifyBy), Late: b.Late(now),
		Nature: nonNil(b.Nature), Description: b.Description, Categories: nonNil(b.Categories), SubjectCategories: nonNil(b.SubjectCategories),
		SubjectsApprox: b.SubjectsApprox, RecordsApprox: b.RecordsApprox, Consequences: b.Consequences,
		MeasuresTaken: nonNil(b.MeasuresTaken), MeasuresProposed: nonNil(b.MeasuresProposed),
		Decision: b.Decision, DecisionReason: b.DecisionReason, NotifySubjects: b.NotifySubjects,
		ControllerNotifiedAt: timePtr(b.ControllerNotifiedAt), AuthorityNotifiedAt: timePtr(b.AuthorityNotifiedAt), SubjectsNotifiedAt: timePtr(b.SubjectsNotifiedAt),
		DelayReason: b.DelayReason, Assessment: b.Assessment, Impact: b.Impact,
		Severity: severityOut{DPC: sv.DPC, DPCBasis: sv.DPCBasis, EI: sv.EI, EIBasis: sv.EIBasis, CB: sv.CB, CBBasis: nonNil(sv.CBBasis), Score: sv.Score, Level: sv.Level,
			NotifyAuthority: sv.NotifyAuthority, NotifySubjects: sv.NotifySubjects, Reasons: nonNil(sv.Reasons)},
		CreatedAt: b.CreatedAt, CreatedBy: b.CreatedBy, UpdatedAt: b.UpdatedAt, Events: []breachEvent{},
	}
	for _, e := range b.Events {
		ev := breachEvent{Seq: e.Seq, At: e.At, Actor: e.Actor, Kind: e.Kind}
		if e.Tenant != b.Owner {
			ev.Tenant = string(e.Tenant)
		}
		out.Events = append(out.Events, ev)
	}
	return out
}

func (s *Server) createBreach(w http.ResponseWriter, r *http.Request) error {
	var in breachCreate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	b, err := s.svc.Breach.CreateBreach(r.Context(), principalFrom(r.Context()), breach.NewBreach{BreachChange: in.BreachChange, Tenants: in.Tenants})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/breaches/"+b.ID)
	return writeJSON(w, http.StatusCreated, breachJSON(b, s.svc.Clock().Now()))
}

func (s *Server) listBreaches(w http.ResponseWriter, r *http.Request) error {
	bs, err := s.svc.Breach.Breaches(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	now := s.svc.Clock().Now()
	out := make([]breachOut, 0, len(bs))
	for _, b := range bs {
		out = append(out, breachJSON(b, now))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"breaches": out})
}

func (s *Server) getBreach(w http.ResponseWriter, r *http.Request) error {
	b, err := s.svc.Breach.Breach(r.Context(), principalFrom(r.Context()), r.PathValue("breach"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, breachJSON(b, s.svc.Clock().Now()))
}

func (s *Server) patchBreach(w http.ResponseWriter, r *http.Request) error {
	var in breach.BreachChange
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	b, err := s.svc.Breach.UpdateBreach(r.Context(), principalFrom(r.Context()), r.PathValue("breach"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, breachJSON(b, s.svc.Clock().Now()))
}

type impactQuery struct {
	Actor       string    `json:"actor"`
	Since       time.Time `json:"since"`
	Until       time.Time `json:"until,omitzero"`
	KeysExposed bool      `json:"keys_exposed,omitempty"`
}

func (s *Server) breachImpact(w http.ResponseWriter, r *http.Request) error {
	var in impactQuery
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	b, err := s.svc.Breach.ComputeImpact(r.Context(), principalFrom(r.Context()), r.PathValue("breach"),
		breach.ImpactQuery{Actor: in.Actor, Since: in.Since, Until: in.Until, KeysExposed: in.KeysExposed})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, breachJSON(b, s.svc.Clock().Now()))
}

type escalationOut struct {
	Tenant   string     `json:"tenant"`
	Point    string     `json:"point"`
	Channel  string     `json:"channel"`
	Node     string     `json:"node"`
	Attempts int        `json:"attempts"`
	SentAt   *time.Time `json:"sent_at,omitempty"`
}

func (s *Server) breachEscalations(w http.ResponseWriter, r *http.Request) error {
	recs, err := s.svc.Breach.BreachEscalations(r.Context(), principalFrom(r.Context()), r.PathValue("breach"))
	if err != nil {
		return err
	}
	out := make([]escalationOut, 0, len(recs))
	for _, e := range recs {
		out = append(out, escalationOut{Tenant: scopeName(e.Tenant), Point: e.Key.Point.String(), Channel: e.Key.Channel, Node: e.Node, Attempts: e.Attempts, SentAt: timePtr(e.SentAt)})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"escalations": out})
}

func (s *Server) breachNotice(w http.ResponseWriter, r *http.Request) error {
	return notice.Serve(w, r, s.svc, principalFrom(r.Context()), r.PathValue("breach"), r.PathValue("kind"))
}

// The breach schemas join the OpenAPI document's schemas from here, so
// that the capability stays in its own file.
func init() {
	enum := func(vals ...string) obj { return obj{"type": "string", "enum": vals} }
	integer := obj{"type": "integer"}
	number := obj{"type": "number"}
	boolean := obj{"type": "boolean"}
	strs := arr(str(""))
	change := obj{
		"status":                 enum(breach.BreachDraft, breach.BreachOpen, breach.BreachClosed, breach.BreachDismissed),
		"phase":                  enum(breach.PhaseInitial, breach.PhaseComplementary),
		"aware_at":               timeSchema,
		"nature":                 arr(enum(breach.NatureConfidentiality, breach.NatureIntegrity, breach.NatureAvailability)),
		"description":            str("what happened (no end user's personal data)"),
		"categories":             arr(str("fideslang data category")),
		"subject_categories":     arr(str("categories of people, e.g. customers")),
		"subjects_approx":        integer,
		"records_approx":         integer,
		"consequences":           str("likely consequences"),
		"measures_taken":         strs,
		"measures_proposed":      strs,
		"decision":               enum(breach.DecisionNotify, breach.DecisionNoNotify),
		"decision_reason":        str("required with a decision"),
		"notify_subjects":        boolean,
		"controller_notified_at": timeSchema,
		"authority_notified_at":  timeSchema,
		"subjects_notified_at":   timeSchema,
		"delay_reason":           str("required once the 72 hours have passed"),
		"assessment":             ref("Assessment"),
	}
	create := obj{"tenants": arr(str("operator only: affected tenant ids"))}
	for k, v := range change {
		create[k] = v
	}
	for name, schema := range map[string]obj{
		"BreachChange": object(change),
		"BreachCreate": object(create, "aware_at", "nature", "description"),
		"Assessment": object(obj{
			"dpc": number, "dpc_reason": str(""), "ease_of_identification": enum("negligible", "limited", "significant", "maximum"),
			"confidentiality": number, "integrity": number, "availability": number, "malicious": boolean,
		}),
		"ImpactQuery": object(obj{"actor": str("compromised API key id or actor"), "since": timeSchema, "until": timeSchema, "keys_exposed": boolean}, "actor", "since"),
		"Impact": object(obj{
			"actor": str(""), "since": timeSchema, "until": timeSchema, "computed_at": timeSchema,
			"tenants":  arr(object(obj{"tenant": str(""), "subjects": integer, "records_read": integer, "records_written": integer, "denied_reads": integer, "purposes": strs, "categories": strs})),
			"subjects": integer, "records_read": integer, "records_written": integer, "denied_reads": integer, "categories": strs,
			"read_in_clear": boolean, "sealed_under_safe_keys": boolean, "evidence": str(""),
		}),
		"Severity": object(obj{
			"dpc": number, "dpc_basis": str(""), "ei": number, "ei_basis": str(""), "cb": number, "cb_basis": strs, "score": number,
			"level":            enum(breach.SeverityLow, breach.SeverityMedium, breach.SeverityHigh, breach.SeverityVeryHigh),
			"notify_authority": boolean, "notify_subjects": boolean, "reasons": strs,
		}),
		"Breach": func() obj {
			props := obj{
				"id": str(""), "owner": str("operator, or the tenant id"), "tenants": strs, "detector": str("detector that opened the draft"),
				"notify_by": timeSchema, "late": boolean, "impact": ref("Impact"), "severity": ref("Severity"),
				"created_at": timeSchema, "created_by": str("key id"), "updated_at": timeSchema,
				"events": arr(object(obj{"tenant": str("the affected tenant that wrote it"), "seq": integer, "at": timeSchema, "actor": str(""), "kind": str("")})),
			}
			for k, v := range change {
				props[k] = v
			}
			return object(props)
		}(),
		"BreachList": object(obj{"breaches": arr(ref("Breach"))}),
		"EscalationList": object(obj{"escalations": arr(object(obj{
			"tenant": str("whose DPO"), "point": str("time after awareness"), "channel": enum(breach.ChannelEmail, breach.ChannelWebhook),
			"node": str(""), "attempts": integer, "sent_at": timeSchema,
		}))}),
	} {
		schemas[name] = schema
	}
}
