package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde"
)

// Request and response types live here, not in the domain: what goes out
// over the wire is chosen field by field.

type tenantCreate struct {
	Name string `json:"name"`
}

type tenantCreated struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	Key    string `json:"key"`
}

type keyCreate struct {
	Role string `json:"role"`
}

type keyCreated struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Key  string `json:"key"`
}

type keyInfo struct {
	ID        string     `json:"id"`
	Role      string     `json:"role"`
	Prefix    string     `json:"prefix"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

type registerVersion struct {
	Version   int                `json:"version"`
	AppliedAt time.Time          `json:"applied_at"`
	AppliedBy string             `json:"applied_by"`
	Register  *register.Register `json:"register"`
}

type messageIn struct {
	Subject string            `json:"subject"`
	Purpose string            `json:"purpose"`
	Channel string            `json:"channel,omitempty"`
	Text    string            `json:"text,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

type messageBatch struct {
	Messages []messageIn `json:"messages"`
}

type messageOut struct {
	ID        string            `json:"id"`
	Subject   string            `json:"subject"`
	Purpose   string            `json:"purpose"`
	Channel   string            `json:"channel"`
	Text      string            `json:"text"`
	Fields    map[string]string `json:"fields,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at"`
	Entities  []entityOut       `json:"entities,omitempty"`
	Special   []string          `json:"special,omitempty"`
}

// entityOut is one piece of personal data found at ingest. Offsets are
// Unicode code points in the text as sent, end exclusive.
type entityOut struct {
	Type     string  `json:"type"`
	Category string  `json:"category"`
	Start    int     `json:"start"`
	End      int     `json:"end"`
	Score    float64 `json:"score"`
	Operator string  `json:"operator"`
}

type auditEvent struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	Purpose    string    `json:"purpose,omitempty"`
	SubjectRef string    `json:"subject_ref,omitempty"`
	Outcome    string    `json:"outcome"`
	Count      int       `json:"count"`
	Reason     string    `json:"reason,omitempty"`
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.log.Error("readiness check failed", "err", err.Error())
		return writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "database unavailable"})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request) error {
	s.metrics.handler.ServeHTTP(w, r)
	return nil
}

func (s *Server) createTenant(w http.ResponseWriter, r *http.Request) error {
	var in tenantCreate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	t, key, err := s.svc.Tenancy.CreateTenant(r.Context(), principalFrom(r.Context()), in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, tenantCreated{Tenant: string(t.ID), Name: t.Name, Key: key})
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	var in keyCreate
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	k, text, err := s.svc.Tenancy.CreateAPIKey(r.Context(), principalFrom(r.Context()), in.Role)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, keyCreated{ID: k.ID, Role: string(k.Role), Key: text})
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.svc.Tenancy.APIKeys(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	out := make([]keyInfo, 0, len(keys))
	for _, k := range keys {
		ki := keyInfo{ID: k.ID, Role: string(k.Role), Prefix: k.Prefix, CreatedAt: k.CreatedAt}
		if !k.RevokedAt.IsZero() {
			ki.RevokedAt = &k.RevokedAt
		}
		out = append(out, ki)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.svc.Tenancy.RevokeAPIKey(r.Context(), principalFrom(r.Context()), r.PathValue("id")); err != nil {
		return err
	}
	s.dash.EndSessions(r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) putRegister(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	rv, err := s.svc.Tenancy.ApplyRegister(r.Context(), principalFrom(r.Context()), body)
	if err != nil {
		return err
	}
	return writeRegister(w, http.StatusCreated, rv)
}

func writeRegister(w http.ResponseWriter, status int, rv garde.RegisterVersion) error {
	reg, err := rv.Parse()
	if err != nil {
		return err
	}
	return writeJSON(w, status, registerVersion{Version: rv.Version, AppliedAt: rv.AppliedAt, AppliedBy: rv.AppliedBy, Register: reg})
}

func (s *Server) getRegister(w http.ResponseWriter, r *http.Request) error {
	v := 0
	if q := r.URL.Query().Get("version"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return garde.Invalid("version", "must be a positive integer")
		}
		v = n
	}
	rv, err := s.svc.Tenancy.Register(r.Context(), principalFrom(r.Context()), v)
	if err != nil {
		return err
	}
	return writeRegister(w, http.StatusOK, rv)
}

func (m messageIn) domain() vault.NewMessage {
	return vault.NewMessage{Subject: m.Subject, Purpose: m.Purpose, Channel: m.Channel, Text: m.Text, Fields: m.Fields}
}

func toMessageOut(v garde.MessageView) messageOut {
	out := messageOut{ID: v.ID, Subject: v.Subject, Purpose: v.Purpose, Channel: v.Channel, Text: v.Text, Fields: v.Fields, CreatedAt: v.CreatedAt, ExpiresAt: v.ExpiresAt, Special: v.Special}
	for _, d := range v.Detections {
		out.Entities = append(out.Entities, entityOut{Type: d.Type, Category: d.Category, Start: d.RuneStart, End: d.RuneEnd, Score: d.Score, Operator: d.Operator})
	}
	return out
}

func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) error {
	var in messageIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	out, err := s.svc.Vault.IngestOne(r.Context(), principalFrom(r.Context()), in.domain())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toMessageOut(out))
}

func (s *Server) postMessages(w http.ResponseWriter, r *http.Request) error {
	var in messageBatch
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	msgs := make([]vault.NewMessage, len(in.Messages))
	for i, m := range in.Messages {
		msgs[i] = m.domain()
	}
	out, err := s.svc.Vault.Ingest(r.Context(), principalFrom(r.Context()), msgs)
	if err != nil {
		return err
	}
	res := make([]messageOut, len(out))
	for i, v := range out {
		res[i] = toMessageOut(v)
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"messages": res})
}

func (s *Server) subjectMessages(w http.ResponseWriter, r *http.Request) error {
	out, err := s.svc.Vault.SubjectMessages(r.Context(), principalFrom(r.Context()), r.PathValue("subject"), r.URL.Query().Get("purpose"))
	if err != nil {
		return err
	}
	res := make([]messageOut, len(out))
	for i, v := range out {
		res[i] = toMessageOut(v)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"messages": res})
}

func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var f garde.AuditFilter
	ve := &garde.ValidationError{}
	parseTime := func(name string) time.Time {
		v := q.Get(name)
		if v == "" {
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			ve.Add(name, "must be an RFC 3339 time")
		}
		return t
	}
	parseInt := func(name string) int64 {
		v := q.Get(name)
		if v == "" {
			return 0
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			ve.Add(name, "must be a non-negative integer")
		}
		return n
	}
	f.Since, f.Until = parseTime("since"), parseTime("until")
	f.Action, f.Actor, f.Purpose = q.Get("action"), q.Get("actor"), q.Get("purpose")
	f.AfterSeq = parseInt("after")
	f.Limit = int(min(parseInt("limit"), garde.MaxAuditPage))
	if err := ve.Err(); err != nil {
		return err
	}
	events, err := s.svc.Audit(r.Context(), principalFrom(r.Context()), f)
	if err != nil {
		return err
	}
	out := make([]auditEvent, len(events))
	for i, e := range events {
		out[i] = auditEvent{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: e.Action, Purpose: e.Purpose, SubjectRef: e.SubjectRef, Outcome: e.Outcome, Count: e.Count, Reason: e.Reason}
	}
	res := map[string]any{"events": out}
	if len(out) > 0 {
		res["next"] = strconv.FormatInt(out[len(out)-1].Seq, 10)
	}
	return writeJSON(w, http.StatusOK, res)
}
