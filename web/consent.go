package web

import (
	"encoding/json"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/garde-privacy/garde/consent"

	"github.com/garde-privacy/garde"
	"golang.org/x/mod/sumdb/tlog"
)

// consentRoutes are the routes of consent and the ledger (notices, consent
// events, checkpoints and proofs).
func (s *Server) consentRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/v1/purposes/{purpose}/notices", Op: garde.OpNoticePublish, Summary: "Publish the next version of a consent notice of a purpose, in one language.", Request: "NoticeIn", Response: "Notice", Status: 201, handler: s.postNotice},
		{Method: "GET", Pattern: "/v1/purposes/{purpose}/notices", Op: garde.OpNoticeRead, Summary: "Every version of a purpose's consent notices.", Response: "NoticeList", Status: 200, handler: s.listNotices},
		{Method: "POST", Pattern: "/v1/consents", Op: garde.OpConsentRecord, Summary: "Record a grant or a withdrawal of consent; answers the person's receipt, with its proof.", Request: "ConsentIn", Response: "ConsentRecorded", Status: 201, handler: s.postConsent},
		{Method: "POST", Pattern: "/v1/consents:batch", Op: garde.OpConsentRecord, Summary: "Record many consent events, all or nothing, under one signed checkpoint.", Request: "ConsentBatch", Response: "ConsentRecordedList", Status: 201, handler: s.postConsents},
		{Method: "GET", Pattern: "/v1/subjects/{subject}/consents", Op: garde.OpConsentRead, Summary: "A subject's current consent per purpose, and the history of its consent events.", Response: "SubjectConsents", Status: 200, handler: s.subjectConsents},
		{Method: "GET", Pattern: "/v1/subjects/{subject}/consents/{id}", Op: garde.OpConsentRead, Summary: "Demonstrate one consent: its receipt proved against the latest checkpoint, and the evidence recorded with it.", Response: "ConsentProof", Status: 200, handler: s.consentProof},
		{Method: "GET", Pattern: "/v1/ledger/checkpoint", Op: garde.OpLedgerRead, Summary: "The tenant's latest signed checkpoint (text/plain, signed-note format of Go's checksum database).", Status: 200, handler: s.ledgerCheckpoint},
		{Method: "GET", Pattern: "/v1/ledger/key", Op: garde.OpLedgerRead, Summary: "The tenant's ledger verifier key (text/plain, note verifier key format): what garde verify receipt --key needs.", Status: 200, handler: s.ledgerKey},
		{Method: "GET", Pattern: "/v1/ledger/proof/inclusion", Op: garde.OpLedgerRead, Summary: "Proof that a leaf is in the tenant's log (RFC 6962 audit path).", Response: "InclusionProof", Status: 200,
			Query: []Param{
				{Name: "index", Type: "integer", Description: "leaf index (a receipt's leaf_index)", Required: true},
				{Name: "size", Type: "integer", Description: "tree size (default: the latest signed checkpoint's)"},
			}, handler: s.inclusionProof},
		{Method: "GET", Pattern: "/v1/ledger/proof/consistency", Op: garde.OpLedgerRead, Summary: "Proof that the log at a newer size extends the log at an older size.", Response: "ConsistencyProof", Status: 200,
			Query: []Param{
				{Name: "old", Type: "integer", Description: "older tree size (a checkpoint you kept)", Required: true},
				{Name: "new", Type: "integer", Description: "newer tree size (default: the latest signed checkpoint's)"},
			}, handler: s.consistencyProof},
	}
}

type noticeIn struct {
	Language string `json:"language"`
	Text     string `json:"text"`
}

type noticeOut struct {
	Purpose   string    `json:"purpose"`
	Language  string    `json:"language"`
	Version   int       `json:"version"`
	Hash      string    `json:"hash"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
}

func toNoticeOut(n garde.Notice) noticeOut {
	return noticeOut{Purpose: n.Purpose, Language: n.Language, Version: n.Version, Hash: n.Hash, Text: n.Text, CreatedAt: n.CreatedAt}
}

type consentOrigin struct {
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
}

type consentIn struct {
	Subject  string          `json:"subject"`
	Purpose  string          `json:"purpose"`
	Action   string          `json:"action"`
	Notice   int             `json:"notice,omitempty"`
	Language string          `json:"language,omitempty"`
	Method   string          `json:"method"`
	Channel  string          `json:"channel,omitempty"`
	Origin   *consentOrigin  `json:"origin,omitempty"`
	Evidence json.RawMessage `json:"evidence,omitempty"`
}

func (c consentIn) domain() consent.ConsentInput {
	in := consent.ConsentInput{Subject: c.Subject, Purpose: c.Purpose, Action: c.Action, Notice: c.Notice, Language: c.Language,
		Method: c.Method, Channel: c.Channel, Evidence: c.Evidence}
	if c.Origin != nil {
		in.UserAgent, in.IP = c.Origin.UserAgent, c.Origin.IP
	}
	if string(c.Evidence) == "null" {
		in.Evidence = nil
	}
	return in
}

type withdrawalOut struct {
	Action   string `json:"action"`
	Messages int    `json:"messages"`
}

type consentRecorded struct {
	ID         string         `json:"id"`
	Receipt    garde.Receipt  `json:"receipt"`
	Withdrawal *withdrawalOut `json:"withdrawal,omitempty"`
}

func toConsentRecorded(r consent.ConsentResult) consentRecorded {
	out := consentRecorded{ID: r.ID, Receipt: r.Receipt}
	if r.Withdrawal.Action != "" {
		out.Withdrawal = &withdrawalOut{Action: r.Withdrawal.Action, Messages: r.Withdrawal.Messages}
	}
	return out
}

type consentEventOut struct {
	ID         string    `json:"id"`
	Purpose    string    `json:"purpose"`
	Action     string    `json:"action"`
	At         time.Time `json:"at"`
	Notice     int       `json:"notice"`
	Language   string    `json:"language"`
	NoticeHash string    `json:"notice_hash"`
	Method     string    `json:"method"`
	Channel    string    `json:"channel,omitempty"`
	RecordedBy string    `json:"recorded_by"`
	LeafIndex  int64     `json:"leaf_index"`
}

type consentStateOut struct {
	Purpose   string    `json:"purpose"`
	Status    string    `json:"status"`
	Since     time.Time `json:"since"`
	Notice    int       `json:"notice"`
	LeafIndex int64     `json:"leaf_index"`
}

type proofOut struct {
	Index      int64    `json:"index"`
	Size       int64    `json:"size"`
	LeafHash   string   `json:"leaf_hash"`
	Proof      []string `json:"proof"`
	Checkpoint string   `json:"checkpoint,omitempty"`
}

type consistencyOut struct {
	Old           int64    `json:"old"`
	New           int64    `json:"new"`
	Proof         []string `json:"proof"`
	OldCheckpoint string   `json:"old_checkpoint,omitempty"`
	NewCheckpoint string   `json:"new_checkpoint,omitempty"`
}

func hashStrings(hs []tlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

func (s *Server) postNotice(w http.ResponseWriter, r *http.Request) error {
	var in noticeIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	n, err := s.svc.Consent.PublishNotice(r.Context(), principalFrom(r.Context()), r.PathValue("purpose"), in.Language, in.Text)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toNoticeOut(n))
}

func (s *Server) listNotices(w http.ResponseWriter, r *http.Request) error {
	ns, err := s.svc.Consent.Notices(r.Context(), principalFrom(r.Context()), r.PathValue("purpose"))
	if err != nil {
		return err
	}
	out := make([]noticeOut, len(ns))
	for i, n := range ns {
		out[i] = toNoticeOut(n)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"notices": out})
}

func (s *Server) postConsent(w http.ResponseWriter, r *http.Request) error {
	var in consentIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	res, err := s.svc.Consent.RecordConsent(r.Context(), principalFrom(r.Context()), in.domain())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toConsentRecorded(res))
}

func (s *Server) postConsents(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Consents []consentIn `json:"consents"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	ins := make([]consent.ConsentInput, len(in.Consents))
	for i, c := range in.Consents {
		ins[i] = c.domain()
	}
	res, err := s.svc.Consent.RecordConsents(r.Context(), principalFrom(r.Context()), ins)
	if err != nil {
		return err
	}
	out := make([]consentRecorded, len(res))
	for i, c := range res {
		out[i] = toConsentRecorded(c)
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"consents": out})
}

func (s *Server) subjectConsents(w http.ResponseWriter, r *http.Request) error {
	v, err := s.svc.Consent.SubjectConsents(r.Context(), principalFrom(r.Context()), r.PathValue("subject"))
	if err != nil {
		return err
	}
	current := make([]consentStateOut, len(v.Current))
	for i, c := range v.Current {
		status := "withdrawn"
		if c.Granted {
			status = "granted"
		}
		current[i] = consentStateOut{Purpose: c.Purpose, Status: status, Since: c.Since, Notice: c.Notice, LeafIndex: c.LeafIndex}
	}
	history := make([]consentEventOut, len(v.History))
	for i, c := range v.History {
		history[i] = consentEventOut{ID: c.ID, Purpose: c.Purpose, Action: c.Action, At: c.At, Notice: c.Notice, Language: c.Language,
			NoticeHash: c.NoticeHash, Method: c.Method, Channel: c.Channel, RecordedBy: c.RecordedBy, LeafIndex: c.LeafIndex}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"current": current, "history": history})
}

func (s *Server) consentProof(w http.ResponseWriter, r *http.Request) error {
	v, err := s.svc.Consent.ConsentProof(r.Context(), principalFrom(r.Context()), r.PathValue("subject"), r.PathValue("id"))
	if err != nil {
		return err
	}
	out := map[string]any{"receipt": v.Receipt}
	if v.Evidence != nil {
		out["evidence"] = json.RawMessage(v.Evidence)
	}
	return writeJSON(w, http.StatusOK, out)
}

func writeText(w http.ResponseWriter, body []byte) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

func (s *Server) ledgerCheckpoint(w http.ResponseWriter, r *http.Request) error {
	c, err := s.svc.Trail.LedgerCheckpoint(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	return writeText(w, c.Note)
}

func (s *Server) ledgerKey(w http.ResponseWriter, r *http.Request) error {
	k, err := s.svc.Trail.LedgerVerifierKey(r.Context(), principalFrom(r.Context()))
	if err != nil {
		return err
	}
	return writeText(w, []byte(k+"\n"))
}

// queryInt reads a non-negative integer query parameter (0 when absent).
func queryInt(r *http.Request, name string, required bool, ve *garde.ValidationError) int64 {
	v := r.URL.Query().Get(name)
	if v == "" {
		if required {
			ve.Add(name, "is required")
		}
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		ve.Add(name, "must be a non-negative integer")
	}
	return n
}

func (s *Server) inclusionProof(w http.ResponseWriter, r *http.Request) error {
	ve := &garde.ValidationError{}
	index, size := queryInt(r, "index", true, ve), queryInt(r, "size", false, ve)
	if err := ve.Err(); err != nil {
		return err
	}
	p, err := s.svc.Trail.LedgerInclusion(r.Context(), principalFrom(r.Context()), index, size)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, proofOut{Index: p.Index, Size: p.Size, LeafHash: p.LeafHash.String(), Proof: hashStrings(p.Proof), Checkpoint: string(p.Checkpoint)})
}

func (s *Server) consistencyProof(w http.ResponseWriter, r *http.Request) error {
	ve := &garde.ValidationError{}
	oldSize, newSize := queryInt(r, "old", true, ve), queryInt(r, "new", false, ve)
	if err := ve.Err(); err != nil {
		return err
	}
	p, err := s.svc.Trail.LedgerConsistency(r.Context(), principalFrom(r.Context()), oldSize, newSize)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, consistencyOut{Old: p.Old, New: p.New, Proof: hashStrings(p.Proof), OldCheckpoint: string(p.OldCheckpoint), NewCheckpoint: string(p.NewCheckpoint)})
}

// consentSchemas describe the consent routes' bodies; they join the
// OpenAPI components at start-up, so that this capability's description
// lives beside its handlers.
var consentSchemas = obj{
	"NoticeIn": object(obj{"language": str("BCP 47 language tag, e.g. fr"), "text": str("the exact notice text shown to the person (≤ 64 KiB)")}, "language", "text"),
	"Notice": object(obj{
		"purpose": str(""), "language": str(""), "version": obj{"type": "integer", "description": "per purpose and language, from 1"},
		"hash": str("sha256:<hex> of the text's UTF-8 bytes: what a consent points to"), "text": str(""), "created_at": timeSchema,
	}),
	"NoticeList": object(obj{"notices": arr(ref("Notice"))}),
	"ConsentIn": object(obj{
		"subject":  str("the tenant's identifier for the person"),
		"purpose":  str("a purpose of the register whose legal basis is consent"),
		"action":   obj{"type": "string", "enum": []string{"grant", "withdraw"}},
		"notice":   obj{"type": "integer", "description": "notice version the person saw (default: the latest in language)"},
		"language": str("notice language; required when that version exists in several"),
		"method":   obj{"type": "string", "enum": []string{"chat", "web", "email", "paper", "api"}},
		"channel":  obj{"type": "string", "enum": []string{"chat", "email", "voice", "sms", "web", "social", "api", "other"}},
		"origin": object(obj{
			"user_agent": str("the person's user agent (sealed under the subject key)"),
			"ip":         str("the person's IP address: recorded only as a keyed hash"),
		}),
		"evidence": obj{"type": "object", "description": "optional evidence (≤ 64 KiB JSON), sealed under the subject key; the ledger commits to its hash"},
	}, "subject", "purpose", "action", "method"),
	"ConsentBatch": object(obj{"consents": obj{"type": "array", "items": ref("ConsentIn"), "maxItems": 10000}}, "consents"),
	"Receipt": obj{
		"type":        "object",
		"description": "Consent receipt (ISO/IEC TS 27560 / Kantara v1.1 fields) with its proof; check it offline with garde verify receipt FILE --key KEY. See docs/consent.md.",
		"properties": obj{
			"version": str("garde-consent-receipt/1"), "conforms_to": arr(str("")), "consent_receipt_id": str(""), "jurisdiction": str(""),
			"consent_timestamp": timeSchema, "collection_method": str(""), "channel": str(""), "language": str(""),
			"pii_principal_id": str("the person's identifier at the tenant"), "pii_controllers": arr(ref("Party")), "dpo": ref("Party"),
			"notice":   object(obj{"version": obj{"type": "integer"}, "language": str(""), "hash": str("")}),
			"services": arr(obj{"type": "object"}), "sensitive": obj{"type": "boolean"},
			"action": obj{"type": "string", "enum": []string{"grant", "withdraw"}}, "consent_status": obj{"type": "string", "enum": []string{"active", "withdrawn"}},
			"recorded_by": str("API key id"), "tenant": str(""), "log_origin": str("garde/<tenant>"), "leaf_index": obj{"type": "integer"},
			"evidence": object(obj{
				"version": obj{"type": "integer"}, "index": obj{"type": "integer"}, "salt": str("base64"), "content": str("base64 of the committed event"),
				"proof": arr(str("base64 hash")), "checkpoint": str("signed note"),
			}),
		},
	},
	"ConsentRecorded": object(obj{
		"id": str("consent event id"), "receipt": ref("Receipt"),
		"withdrawal": object(obj{"action": obj{"type": "string", "enum": []string{"stop", "anonymize", "erase"}}, "messages": obj{"type": "integer", "description": "messages anonymised or erased"}}),
	}),
	"ConsentRecordedList": object(obj{"consents": arr(ref("ConsentRecorded"))}),
	"ConsentProof": object(obj{
		"receipt":  ref("Receipt"),
		"evidence": obj{"type": "object", "description": "the evidence document recorded with the consent, if any"},
	}),
	"SubjectConsents": object(obj{
		"current": arr(object(obj{"purpose": str(""), "status": obj{"type": "string", "enum": []string{"granted", "withdrawn"}}, "since": timeSchema, "notice": obj{"type": "integer"}, "leaf_index": obj{"type": "integer"}})),
		"history": arr(object(obj{
			"id": str(""), "purpose": str(""), "action": str(""), "at": timeSchema, "notice": obj{"type": "integer"}, "language": str(""), "notice_hash": str(""),
			"method": str(""), "channel": str(""), "recorded_by": str(""), "leaf_index": obj{"type": "integer"},
		})),
	}),
	"InclusionProof": object(obj{
		"index": obj{"type": "integer"}, "size": obj{"type": "integer"}, "leaf_hash": str("base64 RFC 6962 leaf hash"),
		"proof": arr(str("base64 hash")), "checkpoint": str("signed checkpoint of that size, when there is one"),
	}),
	"ConsistencyProof": object(obj{
		"old": obj{"type": "integer"}, "new": obj{"type": "integer"}, "proof": arr(str("base64 hash")),
		"old_checkpoint": str("signed note"), "new_checkpoint": str("signed note"),
	}),
}

func init() { maps.Copy(schemas, consentSchemas) }
