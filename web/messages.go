package web

import (
	"net/http"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/vault"
)

// The vault over HTTP: ingesting messages and reading a subject's back.

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
