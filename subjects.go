package garde

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/garde-privacy/garde/keyring"
)

// SubjectRecord is how a subject is stored: an opaque id, the blind index
// of the tenant's identifier for it, that identifier sealed under the
// subject's own key, and the subject's data key wrapped under a tenant key.
type SubjectRecord struct {
	Tenant    TenantID
	ID        string
	Index     []byte
	SealedRef []byte
	CreatedAt time.Time
}

// Message is a stored message: everything personal in it is sealed under
// the subject's key.
type Message struct {
	Tenant       TenantID
	ID           string
	SubjectID    string
	Purpose      string
	Channel      string
	CreatedAt    time.Time
	ExpiresAt    time.Time
	SealedText   []byte
	SealedFields []byte // nil when the message has no fields
	// SealedSpans is the sealed record of what was anonymised in the text
	// (nil when nothing was found).
	SealedSpans []byte
}

// MessageView is a message as garde returns it: decrypted. It holds
// personal data, so it never formats its content into logs.
type MessageView struct {
	ID        string
	Subject   string
	Purpose   string
	Channel   string
	Text      string
	Fields    map[string]string
	CreatedAt time.Time
	ExpiresAt time.Time
	// Detections is what ingest found in the text and did with it; only
	// the response to the write carries it.
	Detections []Detection
	// Special lists the special categories of data (Art. 9) the text
	// hints at: health, religion, political_opinion…
	Special []string
}

// String redacts the personal data.
func (m MessageView) String() string { return "message " + m.ID + " (content redacted)" }

// LogValue redacts the personal data in structured logs.
func (m MessageView) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", m.ID), slog.String("purpose", m.Purpose))
}

// Limits on ingested data.
const (
	MaxSubjectIDLen = 256
	MaxTextLen      = 256 << 10
	MaxFieldLen     = 64 << 10
	MaxFields       = 64
	MaxBatch        = 10000
)

// Channels a message may come from.
var Channels = []string{"chat", "email", "voice", "sms", "web", "social", "api", "other"}

func ValidateSubjectID(field, s string) error {
	switch {
	case s == "":
		return Invalid(field, "is required")
	case len(s) > MaxSubjectIDLen:
		return Invalid(field, "is longer than %d bytes", MaxSubjectIDLen)
	case !utf8.ValidString(s):
		return Invalid(field, "is not valid UTF-8")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return Invalid(field, "contains control characters")
	}
	return nil
}

// Refusal is a write the register forbids.
type Refusal struct {
	Field, Code, Msg string
}

// RefusedError is a write or read the register of processing does not
// allow. It is an ErrForbidden naming the field and a reason code.
type RefusedError struct {
	Field  string
	Code   string // purpose_not_in_register, category_not_allowed, no_consent
	Detail string
}

func (e *RefusedError) Error() string { return e.Detail }

// Unwrap makes a RefusedError an ErrForbidden (ErrNoConsent for a missing
// consent).
func (e *RefusedError) Unwrap() error {
	if e.Code == "no_consent" {
		return ErrNoConsent
	}
	return ErrForbidden
}

func MessageAD(t TenantID, subjectID, messageID, field string) keyring.AD {
	return keyring.AD{Tenant: string(t), Subject: subjectID, Record: messageID, Field: field}
}

func SubjectRefAD(t TenantID, subjectID string) keyring.AD {
	return keyring.AD{Tenant: string(t), Subject: subjectID, Field: "subject-ref"}
}

type SubjectHandle struct {
	ID     string
	Sealer *keyring.Sealer
	Ref    string // audit reference (audit.go)
}

// SubjectsForWrite finds the (distinct) subjects by blind index, in one query, and
// creates the missing ones, each with a fresh data key.
func (s *Kernel) SubjectsForWrite(ctx context.Context, tx Tx, tk *TenantKeys, tenant TenantID, subjects []string, now time.Time) ([]SubjectHandle, error) {
	indexes := make([][]byte, len(subjects))
	for i, subject := range subjects {
		indexes[i] = keyring.MAC(tk.Blind, []byte(subject))
	}
	found, err := tx.SubjectsByIndex(ctx, tenant, indexes)
	if err != nil {
		return nil, err
	}
	byIndex := make(map[string]SubjectRecord, len(found))
	for _, rec := range found {
		byIndex[string(rec.Index)] = rec
	}
	if len(found) < len(subjects) {
		// Never re-create an erased subject, whatever the write (rights.go).
		if err := refuseErased(ctx, tx, tenant, indexes); err != nil {
			return nil, err
		}
	}
	var known []string
	for _, rec := range found {
		known = append(known, rec.ID)
	}
	opened, err := s.openSubjects(ctx, tx, tenant, known)
	if errors.Is(err, ErrSubjectErased) {
		// The key went between the erasure's decision and the purge of
		// the rows: the write is refused like any write after it.
		return nil, subjectErased()
	}
	if err != nil {
		return nil, err
	}
	out := make([]SubjectHandle, len(subjects))
	var created []SubjectKey
	var records []SubjectRecord
	for i, subject := range subjects {
		if rec, ok := byIndex[string(indexes[i])]; ok {
			out[i] = SubjectHandle{rec.ID, opened[rec.ID].sealer, opened[rec.ID].ref}
			continue
		}
		h, key, rec, err := s.newSubject(tk, tenant, subject, indexes[i], now)
		if err != nil {
			return nil, err
		}
		out[i], created, records = h, append(created, key), append(records, rec)
	}
	if len(created) == 0 {
		return out, nil
	}
	// The keys commit to the key store first; should this transaction not
	// commit, they are orphans that seal nothing.
	if err := s.KeyStore.AddSubjectKeys(ctx, created); err != nil {
		return nil, err
	}
	for _, rec := range records {
		err := tx.CreateSubject(ctx, rec)
		if errors.Is(err, ErrConflict) {
			// Another node created the subject between our look-up and our
			// insert: start the transaction again and find it.
			return nil, ErrRetry
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newSubject makes a subject's data key, wrapped under the tenant's
// current data key, and its row with the identifier sealed under it.
func (s *Kernel) newSubject(tk *TenantKeys, tenant TenantID, subject string, idx []byte, now time.Time) (SubjectHandle, SubjectKey, SubjectRecord, error) {
	dk, err := keyring.Generate()
	if err != nil {
		return SubjectHandle{}, SubjectKey{}, SubjectRecord{}, err
	}
	defer clear(dk[:])
	id := NewID("sub_", now)
	wrapped, err := keyring.Wrap(tk.Data[tk.Current], dk, SubjectKeyAD(tenant, id))
	if err != nil {
		return SubjectHandle{}, SubjectKey{}, SubjectRecord{}, err
	}
	sl, err := keyring.NewSealer(dk, 1)
	if err != nil {
		return SubjectHandle{}, SubjectKey{}, SubjectRecord{}, err
	}
	sealedRef, err := sl.Seal([]byte(subject), SubjectRefAD(tenant, id))
	if err != nil {
		return SubjectHandle{}, SubjectKey{}, SubjectRecord{}, err
	}
	key := SubjectKey{Tenant: tenant, Subject: id, Wrapped: wrapped, Version: tk.Current, CreatedAt: now}
	return SubjectHandle{id, sl, SubjectKeyRef(dk, id)}, key, SubjectRecord{Tenant: tenant, ID: id, Index: idx, SealedRef: sealedRef, CreatedAt: now}, nil
}

// Detection is one piece of personal data found in a message's text, and
// what was done with it before storage.
type Detection struct {
	Type     string // pii entity type: EMAIL_ADDRESS, FR_NIR, PERSON…
	Category string // fideslang data category
	// RuneStart and RuneEnd are code-point offsets in the text as sent.
	RuneStart, RuneEnd int
	Score              float64
	Operator           string
}

// StoredSpan is one anonymised span as kept beside a message, sealed under
// the subject's key, so that access and erasure can later work span by
// span.
type StoredSpan struct {
	Type      string `json:"type"`
	Category  string `json:"category"`
	Start     int    `json:"start"` // byte offsets in the stored text
	End       int    `json:"end"`
	OrigStart int    `json:"orig_start"` // byte offsets in the text as sent
	OrigEnd   int    `json:"orig_end"`
	Operator  string `json:"operator"`
	Sealed    []byte `json:"sealed,omitempty"` // original value, for encrypt
}

// SpanRecord is the sealed companion of a message: its spans and its
// special-category hints (themselves sensitive: "this message speaks of
// health" is data about the person).
type SpanRecord struct {
	Spans   []StoredSpan `json:"spans,omitempty"`
	Special []string     `json:"special,omitempty"`
}

// OpenMessage decrypts one stored message.
func OpenMessage(sl *keyring.Sealer, tenant TenantID, subjectID, subject string, r Message) (MessageView, error) {
	text, err := sl.Open(r.SealedText, MessageAD(tenant, subjectID, r.ID, "text"))
	if err != nil {
		return MessageView{}, fmt.Errorf("open message %s: %w", r.ID, err)
	}
	v := MessageView{ID: r.ID, Subject: subject, Purpose: r.Purpose, Channel: r.Channel, Text: string(text), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
	if r.SealedFields != nil {
		fj, err := sl.Open(r.SealedFields, MessageAD(tenant, subjectID, r.ID, "fields"))
		if err != nil {
			return MessageView{}, fmt.Errorf("open message %s fields: %w", r.ID, err)
		}
		if err := json.Unmarshal(fj, &v.Fields); err != nil {
			return MessageView{}, fmt.Errorf("decode message %s fields: %w", r.ID, err)
		}
	}
	return v, nil
}
