package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
)

// NewMessage is a message to ingest.
type NewMessage struct {
	// Subject is the tenant's own identifier for the end user.
	Subject string
	Purpose string
	Channel string
	Text    string
	// Fields are structured personal data, keyed by fideslang category
	// (user.contact.email: "…").
	Fields map[string]string
}

// textCategory is the category of a message's free text: what an end user
// writes to a support service is private user content.
const textCategory = "user.content.private"

// validate checks one message against the limits and the register, adding
// problems under prefix ("" or "messages[3].").
func (m *NewMessage) validate(pass garde.Pass, reg *register.Register, prefix string, ve *garde.ValidationError) (*register.Purpose, garde.Refusal) {
	if err := garde.ValidateSubjectID(prefix+"subject", m.Subject); err != nil {
		ve.Problems = append(ve.Problems, err.(*garde.ValidationError).Problems...)
	}
	if m.Channel == "" {
		m.Channel = "chat"
	}
	if !slices.Contains(garde.Channels, m.Channel) {
		ve.Add(prefix+"channel", "must be one of %s", strings.Join(garde.Channels, ", "))
	}
	if len(m.Text) > garde.MaxTextLen {
		ve.Add(prefix+"text", "is longer than %d bytes", garde.MaxTextLen)
	}
	if m.Text == "" && len(m.Fields) == 0 {
		ve.Add(prefix+"text", "a message needs text or fields")
	}
	if len(m.Fields) > garde.MaxFields {
		ve.Add(prefix+"fields", "has more than %d fields", garde.MaxFields)
	}
	for _, c := range slices.Sorted(maps.Keys(m.Fields)) {
		if !register.IsCategory(c) {
			ve.Add(prefix+"fields."+c, "is not a fideslang data category (fields are keyed by category, e.g. user.contact.email)")
		} else if len(m.Fields[c]) > garde.MaxFieldLen {
			ve.Add(prefix+"fields."+c, "is longer than %d bytes", garde.MaxFieldLen)
		}
	}
	if m.Purpose == "" {
		ve.Add(prefix+"purpose", "is required")
		return nil, garde.Refusal{}
	}
	p, err := pass.Purpose(reg, m.Purpose, prefix+"purpose")
	if err != nil {
		var re *garde.RefusedError
		if !errors.As(err, &re) {
			panic(err) // the row of every operation that validates a message checks purposes
		}
		return nil, garde.Refusal{Field: re.Field, Code: re.Code, Msg: re.Detail}
	}
	if m.Text != "" && !p.Allows(textCategory) {
		return nil, garde.Refusal{Field: prefix + "text", Code: "category_not_allowed", Msg: fmt.Sprintf("purpose %q does not list %s, the category of free text", p.ID, textCategory)}
	}
	for _, c := range slices.Sorted(maps.Keys(m.Fields)) {
		if register.IsCategory(c) && !p.Allows(c) {
			return nil, garde.Refusal{Field: prefix + "fields." + c, Code: "category_not_allowed", Msg: fmt.Sprintf("purpose %q does not list category %s", p.ID, c)}
		}
	}
	// A consent purpose also needs the subject's current consent: Ingest
	// checks it once it knows the subject (see hasConsent).
	return p, garde.Refusal{}
}

// Ingest stores messages, sealed under their subjects' keys, after checking
// each one against the register. The batch is all or nothing: one refused
// message refuses the whole batch and nothing is written.
func (s *Service) Ingest(ctx context.Context, p garde.Principal, msgs []NewMessage) ([]garde.MessageView, error) {
	out, err := s.ingest(ctx, p, msgs)
	if err != nil {
		var re *garde.RefusedError
		if errors.As(err, &re) {
			s.RecordDenied(ctx, garde.AuditEvent{Tenant: p.Tenant, Actor: p.KeyID, Action: garde.ActionMessageWrite, Reason: re.Code})
		}
		return nil, err
	}
	return out, nil
}

// IngestOne stores one message (see Ingest). Concurrent calls by the same
// credential are committed together (group commit, see groupQueue): one
// message per HTTP request then costs little more than a batch.
func (s *Service) IngestOne(ctx context.Context, p garde.Principal, m NewMessage) (garde.MessageView, error) {
	if _, err := garde.Enter(p, garde.OpMessageIngest); err != nil {
		return garde.MessageView{}, err
	}
	return s.ingests.Do(ctx, p, m, garde.GroupOps[NewMessage, garde.MessageView]{
		Batch: s.ingest,
		Alone: func(ctx context.Context, p garde.Principal, m NewMessage) (garde.MessageView, error) {
			out, err := s.Ingest(ctx, p, []NewMessage{m})
			if err != nil {
				return garde.MessageView{}, err
			}
			return out[0], nil
		},
		Field: "messages",
	})
}

// ingest is Ingest without the audit of a refusal, so that a group commit
// that fails over one message audits only that message's refusal.
func (s *Service) ingest(ctx context.Context, p garde.Principal, msgs []NewMessage) ([]garde.MessageView, error) {
	pass, err := garde.Enter(p, garde.OpMessageIngest)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, garde.Invalid("messages", "at least one message is required")
	}
	if len(msgs) > garde.MaxBatch {
		return nil, garde.Invalid("messages", "at most %d messages per batch", garde.MaxBatch)
	}
	now := s.Now()
	var out []garde.MessageView
	err = s.Update(ctx, func(tx garde.Tx) error {
		reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		purposes := make([]*register.Purpose, len(msgs))
		ve := &garde.ValidationError{}
		for i := range msgs {
			prefix := ""
			if len(msgs) > 1 {
				prefix = fmt.Sprintf("messages[%d].", i)
			}
			pp, ref := msgs[i].validate(pass, reg, prefix, ve)
			if ref.Code != "" && len(ve.Problems) == 0 {
				return &garde.RefusedError{Field: ref.Field, Code: ref.Code, Detail: ref.Msg}
			}
			purposes[i] = pp
		}
		if err := ve.Err(); err != nil {
			return err
		}
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		type subj struct {
			id     string
			sealer *keyring.Sealer
			ref    string
			count  map[string]int
		}
		bySubject := map[string]*subj{}
		var order []string
		for _, m := range msgs {
			if bySubject[m.Subject] == nil {
				bySubject[m.Subject] = &subj{ref: garde.TenantSubjectRef(tk, m.Subject), count: map[string]int{}}
				order = append(order, m.Subject)
			}
		}
		// Erased (tombstone), restricted and objecting subjects: the gate.
		if err := pass.Blocks(ctx, tx, tk, p.Tenant, ingestUses(msgs)); err != nil {
			return err
		}
		sealers, err := s.SubjectsForWrite(ctx, tx, tk, p.Tenant, order, now)
		if err != nil {
			return err
		}
		for i, subject := range order {
			bySubject[subject].id, bySubject[subject].sealer, bySubject[subject].ref = sealers[i].ID, sealers[i].Sealer, sealers[i].Ref
		}
		// Consent-gated writes: a purpose whose legal basis is consent needs
		// the subject's current grant.
		consented := map[[2]string]bool{}
		for i, m := range msgs {
			k := [2]string{m.Subject, m.Purpose}
			if consented[k] {
				continue
			}
			field := "purpose"
			if len(msgs) > 1 {
				field = fmt.Sprintf("messages[%d].purpose", i)
			}
			if err := pass.Consent(ctx, tx, p.Tenant, bySubject[m.Subject].id, purposes[i], field); err != nil {
				return err
			}
			consented[k] = true
		}
		rows := make([]garde.Message, len(msgs))
		out = make([]garde.MessageView, len(msgs))
		for i, m := range msgs {
			sb := bySubject[m.Subject]
			sb.count[m.Purpose]++
			row := garde.Message{
				Tenant:    p.Tenant,
				ID:        garde.NewID("msg_", now),
				SubjectID: sb.id,
				Purpose:   m.Purpose,
				Channel:   m.Channel,
				CreatedAt: now,
				ExpiresAt: now.Add(time.Duration(purposes[i].Retention)),
			}
			c, err := s.sealContent(purposes[i], tk, sb.sealer, p.Tenant, sb.id, row.ID, m.Text, m.Fields)
			if err != nil {
				return err
			}
			row.SealedText, row.SealedFields, row.SealedSpans = c.text, c.fields, c.spans
			rows[i] = row
			out[i] = garde.MessageView{ID: row.ID, Subject: m.Subject, Purpose: m.Purpose, Channel: m.Channel, Text: c.stored, Fields: m.Fields, CreatedAt: now, ExpiresAt: row.ExpiresAt, Detections: c.found, Special: c.special}
		}
		if err := tx.InsertMessages(ctx, rows); err != nil {
			return err
		}
		var events []garde.AuditEvent
		for _, subject := range order {
			sb := bySubject[subject]
			for _, purpose := range slices.Sorted(maps.Keys(sb.count)) {
				events = append(events, garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionMessageWrite, Purpose: purpose, SubjectRef: sb.ref, Outcome: garde.OutcomeOK, Count: sb.count[purpose]})
			}
		}
		return tx.AppendAudit(ctx, events)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// sealedContent is a message's content as it is stored: the text after
// the purpose's anonymisation, sealed, with its sealed span record and its
// sealed fields, and what the scan found (for the response).
type sealedContent struct {
	stored              string
	text, fields, spans []byte
	found               []garde.Detection
	special             []string
}

// sealContent is the one way a message's content reaches storage, for an
// ingest and a rectification alike: the text is scanned and anonymised as
// purpose p says (protectText), then the text, the span record and the
// fields are sealed under the subject's key, bound to the message.
func (s *Service) sealContent(p *register.Purpose, tk *garde.TenantKeys, sl *keyring.Sealer, tenant garde.TenantID, subjectID, msgID, text string, fields map[string]string) (sealedContent, error) {
	var c sealedContent
	var err error
	c.stored, c.spans, c.found, c.special, err = s.protectText(p, tk, sl, garde.MessageAD(tenant, subjectID, msgID, ""), text)
	if err != nil {
		return sealedContent{}, err
	}
	if c.text, err = sl.Seal([]byte(c.stored), garde.MessageAD(tenant, subjectID, msgID, "text")); err != nil {
		return sealedContent{}, err
	}
	if len(fields) > 0 {
		fj, err := json.Marshal(fields)
		if err != nil {
			return sealedContent{}, err
		}
		if c.fields, err = sl.Seal(fj, garde.MessageAD(tenant, subjectID, msgID, "fields")); err != nil {
			return sealedContent{}, err
		}
	}
	return c, nil
}

// SubjectMessages returns a subject's messages collected for purpose,
// decrypted. The purpose is required and must be in the register: reading
// personal data is processing, and processing needs a purpose.
func (s *Service) SubjectMessages(ctx context.Context, p garde.Principal, subject, purpose string) ([]garde.MessageView, error) {
	pass, err := garde.Enter(p, garde.OpMessageRead)
	if err != nil {
		return nil, err
	}
	ve := &garde.ValidationError{}
	if err := garde.ValidateSubjectID("subject", subject); err != nil {
		ve.Problems = append(ve.Problems, err.(*garde.ValidationError).Problems...)
	}
	if purpose == "" {
		ve.Add("purpose", "is required: every read names the purpose it serves")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	now := s.Now()
	var out []garde.MessageView
	var ref string
	err = s.Store.View(ctx, func(tx garde.Tx) error {
		reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		ref = garde.TenantSubjectRef(tk, subject) // until the subject is found
		pp, err := pass.Purpose(reg, purpose, "purpose")
		if err != nil {
			return err
		}
		if err := pass.Blocks(ctx, tx, tk, p.Tenant, []garde.Use{{Subject: subject, Purpose: purpose, Field: "subject"}}); err != nil {
			if errors.Is(err, garde.ErrErasedRead) {
				return nil // erased: nothing to read (rights.go)
			}
			return err // restricted or objected to (rights.go)
		}
		rec, err := tx.SubjectByIndex(ctx, p.Tenant, keyring.MAC(tk.Blind, []byte(subject)))
		if errors.Is(err, garde.ErrNotFound) {
			return nil // an unknown subject has no messages
		}
		if err != nil {
			return err
		}
		if ref, err = s.SubjectRef(ctx, tx, tk, p.Tenant, subject, &rec); err != nil {
			return err
		}
		// Reading for a consent purpose is processing for it: it needs a
		// current consent too.
		if err := pass.Consent(ctx, tx, p.Tenant, rec.ID, pp, "purpose"); err != nil {
			return err
		}
		sl, err := s.SubjectSealer(ctx, tx, p.Tenant, rec)
		if err != nil {
			return err
		}
		rows, err := tx.Messages(ctx, p.Tenant, rec.ID, purpose)
		if err != nil {
			return err
		}
		out = make([]garde.MessageView, 0, len(rows))
		for _, r := range rows {
			v, err := garde.OpenMessage(sl, p.Tenant, rec.ID, subject, r) // export.go
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	outcome := garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionMessageRead, Purpose: garde.EchoPurpose(purpose), SubjectRef: ref, Outcome: garde.OutcomeOK, Count: len(out)}
	if err != nil {
		var re *garde.RefusedError
		if errors.As(err, &re) || errors.Is(err, garde.ErrSubjectErased) {
			outcome.Reason = "erased"
			if re != nil {
				outcome.Reason = re.Code
			}
			s.RecordDenied(ctx, outcome)
		}
		return nil, err
	}
	if err := s.Store.Update(ctx, func(tx garde.Tx) error { return tx.AppendAudit(ctx, []garde.AuditEvent{outcome}) }); err != nil {
		// A read that cannot be audited is not returned.
		return nil, fmt.Errorf("audit read: %w", err)
	}
	return out, nil
}

// ingestUses are the subjects and purposes of a batch, for the gate.
func ingestUses(msgs []NewMessage) []garde.Use {
	uses := make([]garde.Use, len(msgs))
	for i, m := range msgs {
		uses[i] = garde.Use{Subject: m.Subject, Purpose: m.Purpose, Field: "subject"}
		if len(msgs) > 1 {
			uses[i].Field = fmt.Sprintf("messages[%d].subject", i)
		}
	}
	return uses
}

// RectifyMessage replaces a message's text and/or fields (Art. 16), on a
// rectification request or a DPO's decision. The new content goes through
// what an ingest does (sealContent: the scan, the purpose's anonymisation,
// the span record, sealing) so that a correction cannot store what an
// ingest would not; a refusal is audited like an ingest's. Nil text or
// fields keep them: kept text is stored as it was, with its span record.
func (s *Service) RectifyMessage(ctx context.Context, p garde.Principal, subject, messageID string, text *string, fields map[string]string) (garde.MessageView, error) {
	out, err := s.rectifyMessage(ctx, p, subject, messageID, text, fields)
	var re *garde.RefusedError
	if errors.As(err, &re) {
		s.RecordDenied(ctx, garde.AuditEvent{Tenant: p.Tenant, Actor: p.KeyID, Action: garde.ActionMessageRectify, Reason: re.Code})
	}
	return out, err
}

func (s *Service) rectifyMessage(ctx context.Context, p garde.Principal, subject, messageID string, text *string, fields map[string]string) (garde.MessageView, error) {
	pass, err := garde.Enter(p, garde.OpMessageRectify)
	if err != nil {
		return garde.MessageView{}, err
	}
	if err := garde.ValidateSubjectID("subject", subject); err != nil {
		return garde.MessageView{}, err
	}
	if text == nil && fields == nil {
		return garde.MessageView{}, garde.Invalid("text", "give text, fields or both")
	}
	now := s.Now()
	var out garde.MessageView
	err = s.Update(ctx, func(tx garde.Tx) error {
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		rec, err := tx.SubjectByIndex(ctx, p.Tenant, keyring.MAC(tk.Blind, []byte(subject)))
		if err != nil {
			return err
		}
		auditRef, err := s.SubjectRef(ctx, tx, tk, p.Tenant, subject, &rec)
		if err != nil {
			return err
		}
		m, err := tx.MessageByID(ctx, p.Tenant, messageID)
		if err != nil || m.SubjectID != rec.ID {
			return garde.Errorf(garde.ErrNotFound, "message %s not found for this subject", messageID)
		}
		reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		nm := NewMessage{Subject: subject, Purpose: m.Purpose, Channel: m.Channel}
		sl, err := s.SubjectSealer(ctx, tx, p.Tenant, rec)
		if err != nil {
			return err
		}
		cur, err := garde.OpenMessage(sl, p.Tenant, rec.ID, subject, m)
		if err != nil {
			return err
		}
		nm.Text, nm.Fields = cur.Text, cur.Fields
		if text != nil {
			nm.Text = *text
		}
		if fields != nil {
			nm.Fields = fields
		}
		ve := &garde.ValidationError{}
		pp, ref := nm.validate(pass, reg, "", ve)
		if ref.Code != "" && len(ve.Problems) == 0 {
			return &garde.RefusedError{Field: ref.Field, Code: ref.Code, Detail: ref.Msg}
		}
		if err := ve.Err(); err != nil {
			return err
		}
		scanned := nm.Text
		if text == nil {
			// The kept text was anonymised when it was stored; scanning it
			// again would replace its span record with one about the
			// anonymised text.
			scanned = ""
		}
		c, err := s.sealContent(pp, tk, sl, p.Tenant, rec.ID, m.ID, scanned, nm.Fields)
		if err != nil {
			return err
		}
		if text == nil {
			c.stored, c.text, c.spans = cur.Text, m.SealedText, m.SealedSpans
		}
		if err := tx.UpdateMessage(ctx, p.Tenant, m.ID, c.text, c.fields, c.spans); err != nil {
			return err
		}
		out = garde.MessageView{ID: m.ID, Subject: subject, Purpose: m.Purpose, Channel: m.Channel, Text: c.stored, Fields: nm.Fields, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt, Detections: c.found, Special: c.special}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionMessageRectify, Purpose: m.Purpose, SubjectRef: auditRef, Outcome: garde.OutcomeOK, Count: 1}})
	})
	return out, err
}

// PurgeExpired deletes, tenant by tenant and in batches of batch rows,
// every message whose purpose's retention has run out (messages carry
// their expires_at from ingest). Each batch is one transaction with one
// audit event per purpose. It returns how many messages it deleted.
func (s *Service) PurgeExpired(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = 1000
	}
	total := 0
	garde.RightsMetrics.PurgeRuns.Add(1)
	err := s.ForEachTenant(ctx, func(tenant garde.TenantID) (err error) {
		purged, cutoff := 0, time.Time{}
		// Journalled after the batches committed, even when a later batch
		// failed: a restore of an older data store deletes them again
		// before serving (ReplayJournal).
		defer func() {
			if purged > 0 {
				err = errors.Join(err, s.KeyStore.Record(context.WithoutCancel(ctx), []garde.JournalEntry{{Kind: garde.JournalRetentionPurge, Tenant: tenant, At: cutoff}}))
			}
		}()
		for {
			now := s.Now()
			n := 0
			err := s.Store.Update(ctx, func(tx garde.Tx) error {
				counts, err := tx.DeleteExpiredMessages(ctx, tenant, now, batch)
				if err != nil || len(counts) == 0 {
					return err
				}
				var events []garde.AuditEvent
				for _, purpose := range slices.Sorted(maps.Keys(counts)) {
					n += counts[purpose]
					events = append(events, garde.AuditEvent{Tenant: tenant, At: now, Actor: "retention", Action: garde.ActionRetentionPurge, Purpose: purpose, Outcome: garde.OutcomeOK, Count: counts[purpose], Reason: "retention_expired"})
				}
				return tx.AppendAudit(ctx, events)
			})
			if err != nil {
				return err
			}
			total += n
			if n > 0 {
				purged, cutoff = purged+n, now
			}
			garde.RightsMetrics.PurgedMessages.Add(int64(n))
			if n < batch {
				return nil
			}
		}
	})
	return total, err
}

// String redacts the personal data.
func (m NewMessage) String() string {
	return "message for purpose " + m.Purpose + " (content redacted)"
}

// LogValue redacts the personal data in structured logs.
func (m NewMessage) LogValue() slog.Value {
	return slog.GroupValue(slog.String("purpose", m.Purpose), slog.String("channel", m.Channel))
}
