package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/garde-privacy/garde"
)

// Request and response types live here, not in the domain: what goes out
// over the wire is chosen field by field.

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
