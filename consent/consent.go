package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"github.com/garde-privacy/garde/pii"
	"golang.org/x/mod/sumdb/tlog"
)

// Consent that can be proved (GDPR Art. 7(1)): versioned notices, grant and
// withdrawal events committed to the tenant's Merkle log, receipts the
// person keeps, and writes refused without a current grant.

// How a consent was collected.
var consentMethods = []string{"chat", "web", "email", "paper", "api"}

// Limits on consent input.
const (
	MaxNoticeLen     = 64 << 10
	MaxEvidenceLen   = 64 << 10
	MaxUserAgentLen  = 512
	MaxConsentBatch  = 10000
	consentSaltBytes = ledger.SaltSize
)

var languagePattern = regexp.MustCompile(`^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$`)

func consentAD(t garde.TenantID, subjectID, id, field string) keyring.AD {
	return keyring.AD{Tenant: string(t), Subject: subjectID, Record: id, Field: field}
}

// consentContent is the canonical content of a consent event: the bytes
// the ledger commits to and a receipt carries. Field order is fixed by the
// struct, so the same event always encodes to the same bytes.
type consentContent struct {
	V            int    `json:"v"`
	Tenant       string `json:"tenant"`
	ID           string `json:"id"`
	Subject      string `json:"subject"`
	Purpose      string `json:"purpose"`
	Action       string `json:"action"`
	Notice       int    `json:"notice_version"`
	Language     string `json:"language"`
	NoticeHash   string `json:"notice_hash"`
	Method       string `json:"method"`
	Channel      string `json:"channel,omitempty"`
	At           string `json:"at"`
	RecordedBy   string `json:"recorded_by"`
	IPHash       string `json:"ip_hash,omitempty"`
	UserAgent    string `json:"user_agent,omitempty"`
	EvidenceHash string `json:"evidence_hash,omitempty"`
	// RegisterVersion and TermsHash pin the register as the receipt shows
	// it (controller, DPO, purpose): see receiptTerms.
	RegisterVersion int    `json:"register_version"`
	TermsHash       string `json:"terms_hash"`
}

// PublishNotice adds the next version of a purpose's consent notice in a
// language. Versions are never changed or removed: a consent recorded
// against version 3 keeps pointing at exactly that text.
func (s *Service) PublishNotice(ctx context.Context, p garde.Principal, purpose, language, text string) (garde.Notice, error) {
	if err := garde.Authorize(p, garde.PermNoticeWrite); err != nil {
		return garde.Notice{}, err
	}
	ve := &garde.ValidationError{}
	if !languagePattern.MatchString(language) {
		ve.Add("language", "must be a BCP 47 language tag such as fr or en-GB")
	}
	switch {
	case strings.TrimSpace(text) == "":
		ve.Add("text", "is required")
	case len(text) > MaxNoticeLen:
		ve.Add("text", "is longer than %d bytes", MaxNoticeLen)
	case !utf8.ValidString(text):
		ve.Add("text", "is not valid UTF-8")
	}
	if err := ve.Err(); err != nil {
		return garde.Notice{}, err
	}
	now := s.Now()
	var n garde.Notice
	err := s.Update(ctx, func(tx garde.Tx) error {
		reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		if _, err := consentPurpose(reg, purpose, "purpose"); err != nil {
			return err
		}
		existing, err := tx.Notices(ctx, p.Tenant, purpose)
		if err != nil {
			return err
		}
		v := 0
		for _, e := range existing {
			if e.Language == language {
				v = max(v, e.Version)
			}
		}
		n = garde.Notice{Tenant: p.Tenant, Purpose: purpose, Language: language, Version: v + 1, Text: text, Hash: garde.NoticeHash(text), CreatedAt: now, CreatedBy: p.KeyID}
		if err := tx.PutNotice(ctx, n); err != nil {
			if errors.Is(err, garde.ErrConflict) {
				return garde.ErrRetry
			}
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionNoticePublish, Purpose: purpose, Outcome: garde.OutcomeOK, Count: n.Version, Reason: language}})
	})
	return n, err
}

// Notices lists the notices of a purpose of the caller's register.
func (s *Service) Notices(ctx context.Context, p garde.Principal, purpose string) ([]garde.Notice, error) {
	if err := garde.Authorize(p, garde.PermRegisterRead); err != nil {
		return nil, err
	}
	var out []garde.Notice
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		if _, ok := reg.Purpose(purpose); !ok {
			return &garde.RefusedError{Field: "purpose", Code: "purpose_not_in_register", Detail: fmt.Sprintf("purpose %q is not in the register of processing", purpose)}
		}
		out, err = tx.Notices(ctx, p.Tenant, purpose)
		return err
	})
	return out, err
}

// consentPurpose returns the purpose if it is in the register with consent
// as its legal basis.
func consentPurpose(reg *register.Register, purpose, field string) (*register.Purpose, error) {
	if purpose == "" {
		return nil, garde.Invalid(field, "is required")
	}
	pp, ok := reg.Purpose(purpose)
	if !ok {
		return nil, &garde.RefusedError{Field: field, Code: "purpose_not_in_register", Detail: fmt.Sprintf("purpose %q is not in the register of processing", purpose)}
	}
	if pp.LegalBasis != "consent" {
		return nil, garde.Invalid(field, "purpose %q has legal basis %s, not consent: there is no consent to record for it", purpose, pp.LegalBasis)
	}
	return pp, nil
}

// ConsentInput is one consent event to record.
type ConsentInput struct {
	Subject string
	Purpose string
	Action  string // grant or withdraw
	// Notice is the notice version the person saw; 0 means the latest in
	// Language.
	Notice int
	// Language of the notice; may be left empty when only one language
	// has that version.
	Language string
	Method   string // chat, web, email, paper, api
	Channel  string // optional, as for messages
	// UserAgent and IP are where the person acted from. The IP address is
	// recorded only as a keyed hash.
	UserAgent string
	IP        string
	// Evidence is an optional JSON document (a signed form, a chat
	// transcript reference), sealed under the subject's key; the ledger
	// commits to its hash.
	Evidence []byte
}

// ConsentResult is what recording one consent event produced.
type ConsentResult struct {
	ID      string
	Receipt garde.Receipt
	// Withdrawal is what a withdrawal did to the data already stored
	// (zero for a grant).
	Withdrawal WithdrawalEffect
}

// WithdrawalEffect is what the register's on_withdrawal did.
type WithdrawalEffect struct {
	Action   string // stop, anonymize or erase
	Messages int    // messages anonymised or erased
}

func (in *ConsentInput) validate(prefix string, ve *garde.ValidationError) {
	if err := garde.ValidateSubjectID(prefix+"subject", in.Subject); err != nil {
		ve.Problems = append(ve.Problems, err.(*garde.ValidationError).Problems...)
	}
	if in.Purpose == "" {
		ve.Add(prefix+"purpose", "is required")
	}
	if in.Action != garde.ConsentGrant && in.Action != garde.ConsentWithdraw {
		ve.Add(prefix+"action", "must be grant or withdraw")
	}
	if !slices.Contains(consentMethods, in.Method) {
		ve.Add(prefix+"method", "must be one of %s", strings.Join(consentMethods, ", "))
	}
	if in.Channel != "" && !slices.Contains(garde.Channels, in.Channel) {
		ve.Add(prefix+"channel", "must be one of %s", strings.Join(garde.Channels, ", "))
	}
	if in.Notice < 0 {
		ve.Add(prefix+"notice", "must be a notice version (1, 2, …), or omitted for the latest")
	}
	if in.Language != "" && !languagePattern.MatchString(in.Language) {
		ve.Add(prefix+"language", "must be a BCP 47 language tag such as fr or en-GB")
	}
	if len(in.UserAgent) > MaxUserAgentLen || !utf8.ValidString(in.UserAgent) {
		ve.Add(prefix+"user_agent", "must be valid UTF-8 of at most %d bytes", MaxUserAgentLen)
	}
	if in.IP != "" {
		if _, err := netip.ParseAddr(in.IP); err != nil {
			ve.Add(prefix+"ip", "is not an IP address")
		}
	}
	if len(in.Evidence) > 0 {
		if len(in.Evidence) > MaxEvidenceLen {
			ve.Add(prefix+"evidence", "is longer than %d bytes", MaxEvidenceLen)
		} else if !json.Valid(in.Evidence) {
			ve.Add(prefix+"evidence", "is not valid JSON")
		}
	}
}

// findNotice picks the notice a consent points to: the given version (0:
// the latest) in the given language, which may be left out when only one
// language has such a version. notices are sorted by language, version.
func findNotice(notices []garde.Notice, version int, language, prefix string) (garde.Notice, error) {
	if len(notices) == 0 {
		return garde.Notice{}, garde.Invalid(prefix+"notice", "the purpose has no consent notice: publish one first (POST /v1/purposes/{purpose}/notices)")
	}
	if language == "" {
		for _, n := range notices {
			if version != 0 && n.Version != version {
				continue
			}
			if language != "" && n.Language != language {
				return garde.Notice{}, garde.Invalid(prefix+"language", "is required: the notice exists in several languages")
			}
			language = n.Language
		}
	}
	var found *garde.Notice
	for i, n := range notices {
		if n.Language == language && (version == 0 || n.Version == version) {
			found = &notices[i] // the last is the latest
		}
	}
	if found == nil {
		if version == 0 {
			return garde.Notice{}, garde.Invalid(prefix+"language", "the purpose has no notice in language %q", language)
		}
		return garde.Notice{}, garde.Invalid(prefix+"notice", "no notice version %d in language %q", version, language)
	}
	return *found, nil
}

// RecordConsent records one consent event (see RecordConsents).
//
// Concurrent calls by the same credential are committed together (group
// commit): the first caller leads and records, in one transaction under
// one signed checkpoint, every event queued meanwhile; each caller gets its
// own receipt. A batch that fails is retried event by event, so that each
// caller gets its own error. This is what lets single events, one per HTTP
// request, reach the throughput of batches.
func (s *Service) RecordConsent(ctx context.Context, p garde.Principal, in ConsentInput) (ConsentResult, error) {
	if err := garde.Authorize(p, garde.PermConsentWrite); err != nil {
		return ConsentResult{}, err
	}
	ve := &garde.ValidationError{}
	in.validate("", ve)
	if err := ve.Err(); err != nil {
		return ConsentResult{}, err
	}
	return s.queue.Do(ctx, p, in, garde.GroupOps[ConsentInput, ConsentResult]{
		Batch: s.recordConsents,
		Alone: func(ctx context.Context, p garde.Principal, in ConsentInput) (ConsentResult, error) {
			out, err := s.RecordConsents(ctx, p, []ConsentInput{in})
			if err != nil {
				return ConsentResult{}, err
			}
			return out[0], nil
		},
		Field: "consents",
	})
}

// RecordConsents records consent events, all or nothing, in one
// transaction: each becomes a leaf of the tenant's log (a salted commitment
// to its canonical content, which is sealed under the subject's key), one
// checkpoint covering them all is signed, and each gets a receipt with its
// inclusion proof. A withdrawal then applies the purpose's on_withdrawal to
// the subject's stored messages, in the same transaction.
func (s *Service) RecordConsents(ctx context.Context, p garde.Principal, ins []ConsentInput) ([]ConsentResult, error) {
	out, err := s.recordConsents(ctx, p, ins)
	if err != nil {
		s.auditRefusal(ctx, p, ins, err)
		return nil, err
	}
	return out, nil
}

// auditRefusal records a consent write the register refused.
func (s *Service) auditRefusal(ctx context.Context, p garde.Principal, ins []ConsentInput, err error) {
	var re *garde.RefusedError
	if !errors.As(err, &re) {
		return
	}
	action := garde.ActionConsentGrant
	if len(ins) == 1 && ins[0].Action == garde.ConsentWithdraw {
		action = garde.ActionConsentWithdraw
	}
	s.RecordDenied(ctx, garde.AuditEvent{Tenant: p.Tenant, Actor: p.KeyID, Action: action, Reason: re.Code})
}

func (s *Service) recordConsents(ctx context.Context, p garde.Principal, ins []ConsentInput) ([]ConsentResult, error) {
	if err := garde.Authorize(p, garde.PermConsentWrite); err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, garde.Invalid("consents", "at least one consent is required")
	}
	if len(ins) > MaxConsentBatch {
		return nil, garde.Invalid("consents", "at most %d consents per batch", MaxConsentBatch)
	}
	prefixes := make([]string, len(ins))
	ve := &garde.ValidationError{}
	for i := range ins {
		if len(ins) > 1 {
			prefixes[i] = fmt.Sprintf("consents[%d].", i)
		}
		ins[i].validate(prefixes[i], ve)
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	// Times are stored to the microsecond: commit to what is stored.
	now := s.Now().UTC().Truncate(time.Microsecond)
	var results []ConsentResult
	var done []withdrawalDone
	err := s.Update(ctx, func(tx garde.Tx) error {
		results = make([]ConsentResult, len(ins))
		reg, regVersion, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		ipKey := keyring.Derive(tk.Audit, "consent-ip")
		type subj struct {
			id     string
			sealer *keyring.Sealer
			ref    string
		}
		subjects := map[string]*subj{}
		var order []string
		for _, in := range ins {
			if subjects[in.Subject] == nil {
				subjects[in.Subject] = &subj{}
				order = append(order, in.Subject)
			}
		}
		handles, err := s.SubjectsForWrite(ctx, tx, tk, p.Tenant, order, now)
		if err != nil {
			return err
		}
		for i, subject := range order {
			subjects[subject].id, subjects[subject].sealer, subjects[subject].ref = handles[i].ID, handles[i].Sealer, handles[i].Ref
		}
		notices := map[string][]garde.Notice{}
		purposes := make([]*register.Purpose, len(ins))
		terms := make([]receiptTerms, len(ins))
		termsHash := map[string]string{} // by purpose
		contents := make([][]byte, len(ins))
		events := make([]consentContent, len(ins))
		salts := make([][]byte, len(ins))
		leaves := make([]garde.LedgerLeaf, len(ins))
		records := make([]garde.ConsentRecord, len(ins))
		type auditKey struct{ ref, purpose, action string }
		var auditOrder []auditKey
		auditCount := map[auditKey]int{}
		for i, in := range ins {
			pp, err := consentPurpose(reg, in.Purpose, prefixes[i]+"purpose")
			if err != nil {
				return err
			}
			purposes[i], terms[i] = pp, termsFor(reg, pp)
			if termsHash[pp.ID] == "" {
				termsHash[pp.ID] = terms[i].hash()
			}
			ns, ok := notices[in.Purpose]
			if !ok {
				if ns, err = tx.Notices(ctx, p.Tenant, in.Purpose); err != nil {
					return err
				}
				notices[in.Purpose] = ns
			}
			n, err := findNotice(ns, in.Notice, in.Language, prefixes[i])
			if err != nil {
				return err
			}
			sb := subjects[in.Subject]
			c := consentContent{V: 1, Tenant: string(p.Tenant), ID: garde.NewID("cns_", now), Subject: in.Subject, Purpose: in.Purpose, Action: in.Action,
				Notice: n.Version, Language: n.Language, NoticeHash: n.Hash, Method: in.Method, Channel: in.Channel,
				At: now.Format(time.RFC3339Nano), RecordedBy: p.KeyID, UserAgent: in.UserAgent,
				RegisterVersion: regVersion, TermsHash: termsHash[pp.ID]}
			if in.IP != "" {
				ip, _ := netip.ParseAddr(in.IP)
				c.IPHash = "hmac-sha256:" + hex.EncodeToString(keyring.MAC(ipKey, []byte(ip.Unmap().String()))[:16])
			}
			rec := garde.ConsentRecord{Tenant: p.Tenant, ID: c.ID, SubjectID: sb.id, Purpose: in.Purpose, Action: in.Action, At: now}
			if len(in.Evidence) > 0 {
				sum := sha256.Sum256(in.Evidence)
				c.EvidenceHash = "sha256:" + hex.EncodeToString(sum[:])
				if rec.SealedEvidence, err = sb.sealer.Seal(in.Evidence, consentAD(p.Tenant, sb.id, c.ID, "consent-evidence")); err != nil {
					return err
				}
			}
			content, salt, leaf, err := garde.CommitContent(c)
			if err != nil {
				return err
			}
			if rec.Sealed, err = sb.sealer.Seal(append(append(make([]byte, 0, len(salt)+len(content)), salt...), content...), consentAD(p.Tenant, sb.id, c.ID, "consent")); err != nil {
				return err
			}
			contents[i], salts[i], events[i] = content, salt, c
			leaves[i] = garde.LedgerLeaf{Kind: garde.LeafConsent, Record: leaf, CreatedAt: now}
			records[i] = rec
			results[i].ID = c.ID
			k := auditKey{sb.ref, in.Purpose, in.Action}
			if auditCount[k] == 0 {
				auditOrder = append(auditOrder, k)
			}
			auditCount[k]++
		}
		audit := make([]garde.AuditEvent, 0, len(auditOrder))
		for _, k := range auditOrder {
			action := garde.ActionConsentGrant
			if k.action == garde.ConsentWithdraw {
				action = garde.ActionConsentWithdraw
			}
			audit = append(audit, garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: action, Purpose: k.purpose, SubjectRef: k.ref, Outcome: garde.OutcomeOK, Count: auditCount[k]})
		}
		if err := tx.AppendAudit(ctx, audit); err != nil {
			return err
		}
		if _, err := garde.AppendLeaves(ctx, tx, p.Tenant, leaves); err != nil {
			return err
		}
		for i := range records {
			records[i].LeafIndex = leaves[i].Index
		}
		if err := tx.InsertConsents(ctx, records); err != nil {
			return err
		}
		// What a withdrawal does to stored data, once per subject and
		// purpose whose last event in the batch is a withdrawal.
		last := map[[2]string]int{}
		for i, in := range ins {
			last[[2]string{in.Subject, in.Purpose}] = i
		}
		var effects []garde.AuditEvent
		done = done[:0] // the store may run this function again
		for i, in := range ins {
			if in.Action != garde.ConsentWithdraw || last[[2]string{in.Subject, in.Purpose}] != i {
				continue
			}
			sb := subjects[in.Subject]
			eff, err := s.applyWithdrawal(ctx, tx, tk, p.Tenant, purposes[i], sb.id, sb.sealer, now)
			if err != nil {
				return err
			}
			results[i].Withdrawal = eff
			if eff.Messages > 0 {
				done = append(done, withdrawalDone{subject: sb.id, purpose: in.Purpose, action: eff.Action})
				action := garde.ActionMessageErase
				if eff.Action == "anonymize" {
					action = garde.ActionMessageAnonymize
				}
				effects = append(effects, garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: action, Purpose: in.Purpose, SubjectRef: sb.ref, Outcome: garde.OutcomeOK, Count: eff.Messages, Reason: "consent_withdrawn"})
			}
		}
		if len(effects) > 0 {
			if err := tx.AppendAudit(ctx, effects); err != nil {
				return err
			}
		}
		cp, err := s.SignCheckpoint(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		st, err := garde.LogFor(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		r := &garde.HashReader{Ctx: ctx, Tx: tx, Tenant: p.Tenant, St: st}
		for i, in := range ins {
			ev, err := ledger.NewEvidence(leaves[i].Index, salts[i], contents[i], cp.Note, r)
			if err != nil {
				return err
			}
			results[i].Receipt = buildReceipt(terms[i], in, records[i], events[i], ev)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// After the commit: what the withdrawals did to stored messages goes
	// onto the journal, so that a restored data store does it again.
	if err := s.recordWithdrawals(ctx, p.Tenant, now, done); err != nil {
		return nil, fmt.Errorf("journal the withdrawal: %w", err)
	}
	return results, nil
}

// anonymizer finds personal data in stored text when a consent is
// withdrawn from a purpose whose on_withdrawal is anonymize.
var anonymizer = sync.OnceValue(func() *pii.Scanner { return pii.NewScanner(pii.Options{}) })

// anonymizeText replaces every personal span found with its type in angle
// brackets ("<EMAIL_ADDRESS>").
func anonymizeText(text string) (string, error) {
	ents := anonymizer().Scan(text)
	out, _, err := pii.Anonymize(text, ents, func(string) pii.OperatorSpec { return pii.OperatorSpec{Operator: pii.Replace} })
	return out, err
}

// applyWithdrawal applies the purpose's on_withdrawal to the subject's
// messages collected for it: stop keeps them (and reads for the purpose are
// refused from now on), erase deletes them, and anonymize replaces every
// personal span in their text, drops their structured fields and span
// records, and moves what is left off the subject (anonymize).
func (s *Service) applyWithdrawal(ctx context.Context, tx garde.Tx, tk *garde.TenantKeys, tenant garde.TenantID, pp *register.Purpose, subjectID string, sl *keyring.Sealer, now time.Time) (WithdrawalEffect, error) {
	switch pp.OnWithdrawal {
	case "erase":
		n, err := tx.DeleteMessages(ctx, tenant, subjectID, pp.ID)
		return WithdrawalEffect{Action: "erase", Messages: n}, err
	case "anonymize":
		n, err := s.anonymize(ctx, tx, tk, tenant, pp.ID, subjectID, sl, now, now)
		return WithdrawalEffect{Action: "anonymize", Messages: n}, err
	}
	return WithdrawalEffect{Action: "stop"}, nil
}

// anonymize rewrites a subject's messages of one purpose as anonymous
// rows. Replacing the personal spans in the text is not enough while the
// row stays keyed to the subject: its subject id, the blind index behind
// it and the subject's key would still say whose it is, and the message
// ids were handed to the tenant with the subject's identifier. So each
// anonymised text is sealed under a fresh holder of its own — a subject
// row with a random index no identifier hashes to, no sealed identifier
// and a new data key wrapped under the tenant key — under a new message
// id, and the subject's rows are deleted. Destroying the subject's key
// later leaves the anonymised rows readable and linked to nobody; their
// retention (expires_at) is kept. Only messages collected at or before
// `before` move (a replay of the journal leaves later ones alone).
func (s *Service) anonymize(ctx context.Context, tx garde.Tx, tk *garde.TenantKeys, tenant garde.TenantID, purpose, subjectID string, sl *keyring.Sealer, now, before time.Time) (int, error) {
	all, err := tx.Messages(ctx, tenant, subjectID, purpose)
	if err != nil {
		return 0, err
	}
	var msgs []garde.Message
	for _, m := range all {
		if !m.CreatedAt.After(before) {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return 0, nil
	}
	holder, err := s.createAnonymousHolder(ctx, tx, tk, tenant, now)
	if err != nil {
		return 0, err
	}
	rows := make([]garde.Message, len(msgs))
	for i, m := range msgs {
		text, err := sl.Open(m.SealedText, garde.MessageAD(tenant, subjectID, m.ID, "text"))
		if err != nil {
			return 0, fmt.Errorf("open message %s: %w", m.ID, err)
		}
		anon, err := anonymizeText(string(text))
		clear(text)
		if err != nil {
			return 0, fmt.Errorf("anonymise message %s: %w", m.ID, err)
		}
		rows[i] = garde.Message{Tenant: tenant, ID: garde.NewID("msg_", now), SubjectID: holder.ID, Purpose: m.Purpose, Channel: m.Channel, CreatedAt: m.CreatedAt, ExpiresAt: m.ExpiresAt}
		if rows[i].SealedText, err = holder.Sealer.Seal([]byte(anon), garde.MessageAD(tenant, holder.ID, rows[i].ID, "text")); err != nil {
			return 0, err
		}
	}
	if _, err := tx.DeleteMessagesBefore(ctx, tenant, subjectID, purpose, before); err != nil {
		return 0, err
	}
	if err := tx.InsertMessages(ctx, rows); err != nil {
		return 0, err
	}
	return len(rows), nil
}

// anonymousPrefix starts the id of the holder of anonymised messages
// (anonymize): a subject row that stands for nobody.
const anonymousPrefix = "anon_"

// createAnonymousHolder creates the holder of one withdrawal's anonymised
// messages: a random blind index (32 bytes from crypto/rand, unrelated to
// any identifier), no sealed identifier, a fresh data key in the key store
// (committed first, like every subject key).
func (s *Service) createAnonymousHolder(ctx context.Context, tx garde.Tx, tk *garde.TenantKeys, tenant garde.TenantID, now time.Time) (garde.SubjectHandle, error) {
	dk, err := keyring.Generate()
	if err != nil {
		return garde.SubjectHandle{}, err
	}
	defer clear(dk[:])
	id := garde.NewID(anonymousPrefix, now)
	wrapped, err := keyring.Wrap(tk.Data[tk.Current], dk, garde.SubjectKeyAD(tenant, id))
	if err != nil {
		return garde.SubjectHandle{}, err
	}
	sl, err := keyring.NewSealer(dk, 1)
	if err != nil {
		return garde.SubjectHandle{}, err
	}
	idx := make([]byte, 32)
	if _, err := rand.Read(idx); err != nil {
		return garde.SubjectHandle{}, err
	}
	if err := s.KeyStore.AddSubjectKeys(ctx, []garde.SubjectKey{{Tenant: tenant, Subject: id, Wrapped: wrapped, Version: tk.Current, CreatedAt: now}}); err != nil {
		return garde.SubjectHandle{}, err
	}
	if err := tx.CreateSubject(ctx, garde.SubjectRecord{Tenant: tenant, ID: id, Index: idx, CreatedAt: now}); err != nil {
		return garde.SubjectHandle{}, err
	}
	return garde.SubjectHandle{ID: id, Sealer: sl, Ref: garde.SubjectKeyRef(dk, id)}, nil
}

// ConsentState is the current state of one purpose for a subject.
type ConsentState struct {
	Purpose   string
	Granted   bool
	Since     time.Time
	Notice    int
	LeafIndex int64
}

// SubjectConsentsView is a subject's consents: the state per purpose and
// the whole history, oldest first.
type SubjectConsentsView struct {
	Current []ConsentState
	History []garde.ConsentView
}

// SubjectConsents returns a subject's current consent per purpose and its
// history. Reading it is audited like any read of a subject's data.
func (s *Service) SubjectConsents(ctx context.Context, p garde.Principal, subject string) (SubjectConsentsView, error) {
	if err := garde.Authorize(p, garde.PermConsentRead); err != nil {
		return SubjectConsentsView{}, err
	}
	if err := garde.ValidateSubjectID("subject", subject); err != nil {
		return SubjectConsentsView{}, err
	}
	now := s.Now()
	var out SubjectConsentsView
	var ref string
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var rec garde.SubjectRecord
		var sl *keyring.Sealer
		var rows []garde.ConsentRecord
		var err error
		var found bool
		ref, rec, sl, rows, found, err = s.subjectConsentRows(ctx, tx, p.Tenant, subject)
		if err != nil || !found {
			return err
		}
		current := map[string]int{}
		for _, r := range rows {
			_, _, c, err := openConsent(sl, p.Tenant, rec.ID, r)
			if err != nil {
				return err
			}
			out.History = append(out.History, c.view(r))
			st := ConsentState{Purpose: r.Purpose, Granted: r.Action == garde.ConsentGrant, Since: r.At, Notice: c.Notice, LeafIndex: r.LeafIndex}
			if i, ok := current[r.Purpose]; ok {
				out.Current[i] = st
			} else {
				current[r.Purpose] = len(out.Current)
				out.Current = append(out.Current, st)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, garde.ErrSubjectErased) {
			s.RecordDenied(ctx, garde.AuditEvent{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionConsentRead, SubjectRef: ref, Reason: "erased"})
		}
		return SubjectConsentsView{}, err
	}
	if err := s.Store.Update(ctx, func(tx garde.Tx) error {
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionConsentRead, SubjectRef: ref, Outcome: garde.OutcomeOK, Count: len(out.History)}})
	}); err != nil {
		return SubjectConsentsView{}, fmt.Errorf("audit read: %w", err)
	}
	return out, nil
}

// ConsentProofView is what a controller shows to demonstrate a consent
// (Art. 7(1)): the event's receipt, its proof renewed against the latest
// checkpoint, and the evidence document recorded with it (nil if none).
type ConsentProofView struct {
	Receipt  garde.Receipt
	Evidence []byte
}

// ConsentProof re-issues the receipt of one of a subject's consent events,
// proved against the latest signed checkpoint, with its sealed evidence.
// The controller, DPO and purpose come from the register version the
// consent was given under. Audited as a read of the subject's data.
func (s *Service) ConsentProof(ctx context.Context, p garde.Principal, subject, id string) (ConsentProofView, error) {
	if err := garde.Authorize(p, garde.PermConsentRead); err != nil {
		return ConsentProofView{}, err
	}
	if err := garde.ValidateSubjectID("subject", subject); err != nil {
		return ConsentProofView{}, err
	}
	now := s.Now()
	notFound := garde.Errorf(garde.ErrNotFound, "consent %s of this subject not found", id)
	var out ConsentProofView
	var ref string
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var rec garde.SubjectRecord
		var sl *keyring.Sealer
		var rows []garde.ConsentRecord
		var err error
		var found bool
		ref, rec, sl, rows, found, err = s.subjectConsentRows(ctx, tx, p.Tenant, subject)
		if err != nil {
			return err
		}
		if !found {
			return notFound
		}
		i := slices.IndexFunc(rows, func(r garde.ConsentRecord) bool { return r.ID == id })
		if i < 0 {
			return notFound
		}
		row := rows[i]
		salt, content, c, err := openConsent(sl, p.Tenant, rec.ID, row)
		if err != nil {
			return err
		}
		if row.SealedEvidence != nil {
			if out.Evidence, err = sl.Open(row.SealedEvidence, consentAD(p.Tenant, rec.ID, row.ID, "consent-evidence")); err != nil {
				return fmt.Errorf("open consent %s evidence: %w", row.ID, err)
			}
		}
		// The receipt shows the register as it was when consent was given.
		terms, err := s.receiptTerms(ctx, tx, p.Tenant, c)
		if err != nil {
			return err
		}
		cp, err := tx.LatestCheckpoint(ctx, p.Tenant)
		if err != nil {
			return err
		}
		r := &garde.HashReader{Ctx: ctx, Tx: tx, Tenant: p.Tenant, St: &garde.LogState{Cache: map[int64]tlog.Hash{}}}
		ev, err := ledger.NewEvidence(row.LeafIndex, salt, content, cp.Note, r)
		if err != nil {
			return err
		}
		in := ConsentInput{Subject: c.Subject, Purpose: c.Purpose, Action: c.Action, Method: c.Method, Channel: c.Channel}
		out.Receipt = buildReceipt(terms, in, row, c, ev)
		return nil
	})
	if err != nil {
		return ConsentProofView{}, err
	}
	if err := s.Store.Update(ctx, func(tx garde.Tx) error {
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionConsentRead, SubjectRef: ref, Outcome: garde.OutcomeOK, Count: 1, Reason: "proof"}})
	}); err != nil {
		return ConsentProofView{}, fmt.Errorf("audit read: %w", err)
	}
	return out, nil
}

// openConsent opens a stored consent event: the salt of its ledger leaf,
// its canonical content (what the leaf commits to) and that content
// decoded.
func openConsent(sl *keyring.Sealer, tenant garde.TenantID, subjectID string, r garde.ConsentRecord) (salt, content []byte, c consentContent, err error) {
	plain, err := sl.Open(r.Sealed, consentAD(tenant, subjectID, r.ID, "consent"))
	if err != nil {
		return nil, nil, c, fmt.Errorf("open consent %s: %w", r.ID, err)
	}
	if len(plain) < consentSaltBytes {
		return nil, nil, c, fmt.Errorf("consent %s: sealed content too short", r.ID)
	}
	salt, content = plain[:consentSaltBytes], plain[consentSaltBytes:]
	if err := json.Unmarshal(content, &c); err != nil {
		return nil, nil, c, fmt.Errorf("decode consent %s: %w", r.ID, err)
	}
	return salt, content, c, nil
}

// view is the consent event as garde shows it.
func (c consentContent) view(r garde.ConsentRecord) garde.ConsentView {
	return garde.ConsentView{ID: r.ID, Purpose: r.Purpose, Action: r.Action, At: r.At, Notice: c.Notice, Language: c.Language,
		NoticeHash: c.NoticeHash, Method: c.Method, Channel: c.Channel, RecordedBy: c.RecordedBy, LeafIndex: r.LeafIndex}
}

// subjectConsentRows finds a subject by its identifier and returns its
// audit reference, its record, its opened data key and its stored consent
// events; found is false when garde never held anything on it (the
// reference is set even then, for the audit of the read). An erased
// subject is an error (ErrSubjectErased), not an unknown one.
func (s *Service) subjectConsentRows(ctx context.Context, tx garde.Tx, tenant garde.TenantID, subject string) (ref string, rec garde.SubjectRecord, sl *keyring.Sealer, rows []garde.ConsentRecord, found bool, err error) {
	tk, err := s.TenantKeys(ctx, tx, tenant, 0)
	if err != nil {
		return "", rec, nil, nil, false, err
	}
	ref = garde.TenantSubjectRef(tk, subject)
	idx := keyring.MAC(tk.Blind, []byte(subject))
	blocks, err := tx.SubjectBlocks(ctx, tenant, [][]byte{idx})
	if err != nil {
		return ref, rec, nil, nil, false, err
	}
	for _, b := range blocks {
		if b.Kind == garde.BlockErased {
			return ref, rec, nil, nil, false, nil // erasure decided: nothing to show
		}
	}
	rec, err = tx.SubjectByIndex(ctx, tenant, idx)
	if errors.Is(err, garde.ErrNotFound) {
		return ref, rec, nil, nil, false, nil
	}
	if err != nil {
		return ref, rec, nil, nil, false, err
	}
	if ref, err = s.SubjectRef(ctx, tx, tk, tenant, subject, &rec); err != nil {
		return ref, rec, nil, nil, false, err
	}
	if sl, err = s.SubjectSealer(ctx, tx, tenant, rec); err != nil {
		return ref, rec, nil, nil, false, err
	}
	rows, err = tx.SubjectConsents(ctx, tenant, rec.ID)
	return ref, rec, sl, rows, err == nil, err
}

// ExportConsents opens the subject's consent events and rebuilds the
// receipt of each, with a proof against the latest signed checkpoint.
func (s *Service) ExportConsents(ctx context.Context, tx garde.Tx, tenant garde.TenantID, subject string, rec garde.SubjectRecord, sl *keyring.Sealer) (views []garde.ConsentView, receipts []garde.Receipt, err error) {
	rows, err := tx.SubjectConsents(ctx, tenant, rec.ID)
	if err != nil || len(rows) == 0 {
		return nil, nil, err
	}
	reg, _, err := s.CurrentRegister(ctx, tx, tenant)
	if err != nil {
		return nil, nil, err
	}
	cp, err := tx.LatestCheckpoint(ctx, tenant)
	if err != nil && !errors.Is(err, garde.ErrNotFound) {
		return nil, nil, err
	}
	st := &garde.LogState{Cache: map[int64]tlog.Hash{}}
	for _, r := range rows {
		salt, content, c, err := openConsent(sl, tenant, rec.ID, r)
		if err != nil {
			return nil, nil, err
		}
		views = append(views, c.view(r))
		pp, ok := reg.Purpose(r.Purpose)
		if !ok || cp.Note == nil || r.LeafIndex >= cp.Size {
			continue
		}
		ev, err := ledger.NewEvidence(r.LeafIndex, salt, content, cp.Note, &garde.HashReader{Ctx: ctx, Tx: tx, Tenant: tenant, St: st})
		if err != nil {
			return nil, nil, fmt.Errorf("consent %s evidence: %w", r.ID, err)
		}
		in := ConsentInput{Subject: subject, Purpose: r.Purpose, Action: r.Action, Method: c.Method, Channel: c.Channel}
		receipts = append(receipts, newReceipt(reg, pp, in, r, c, ev))
	}
	return views, receipts, nil
}

// maxTrendEvents bounds how many audit events one ConsentTrend reads.
const maxTrendEvents = 50 * garde.MaxAuditPage

// ConsentDay is one purpose's consent events on one UTC day.
type ConsentDay struct {
	Purpose     string
	Day         time.Time // midnight UTC
	Grants      int
	Withdrawals int
}

// Rate is the share of grants among the day's consent events, in [0, 1];
// a day without events has rate 0 and Events 0.
func (d ConsentDay) Rate() float64 {
	if n := d.Events(); n > 0 {
		return float64(d.Grants) / float64(n)
	}
	return 0
}

// Events is the number of grants and withdrawals.
func (d ConsentDay) Events() int { return d.Grants + d.Withdrawals }

// ConsentTrend counts, per purpose and per UTC day in [since, until), the
// consent grants and withdrawals the register accepted, from the audit
// trail (which records every accepted consent event with its purpose and
// no personal data). Every purpose of the current register has a row for
// every day, so a chart shows gaps as gaps.
func (s *Service) ConsentTrend(ctx context.Context, p garde.Principal, since, until time.Time) ([]ConsentDay, error) {
	if err := garde.Authorize(p, garde.PermAuditRead); err != nil {
		return nil, err
	}
	since, until = truncDay(since), truncDay(until)
	if !until.After(since) {
		return nil, garde.Invalid("until", "must be at least a day after since")
	}
	if until.Sub(since) > 366*24*time.Hour {
		return nil, garde.Invalid("since", "the range is at most a year")
	}
	type key struct {
		purpose string
		day     time.Time
	}
	counts := map[key]*ConsentDay{}
	purposes := map[string]bool{}
	var reg *register.Register
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		reg, _, err = s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil && !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		for _, action := range []string{garde.ActionConsentGrant, garde.ActionConsentWithdraw} {
			f := garde.AuditFilter{Since: since, Until: until, Action: action, Limit: garde.MaxAuditPage}
			read := 0
			for read < maxTrendEvents {
				events, err := tx.Audit(ctx, p.Tenant, f)
				if err != nil {
					return err
				}
				for _, e := range events {
					if e.Outcome != garde.OutcomeOK || e.Purpose == "" {
						continue
					}
					k := key{e.Purpose, truncDay(e.At)}
					d := counts[k]
					if d == nil {
						d = &ConsentDay{Purpose: k.purpose, Day: k.day}
						counts[k] = d
					}
					n := max(e.Count, 1)
					if action == garde.ActionConsentGrant {
						d.Grants += n
					} else {
						d.Withdrawals += n
					}
					purposes[e.Purpose] = true
				}
				read += len(events)
				if len(events) < f.Limit {
					break
				}
				f.AfterSeq = events[len(events)-1].Seq
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if reg != nil {
		for _, pu := range reg.Purposes {
			if pu.LegalBasis == "consent" {
				purposes[pu.ID] = true
			}
		}
	}
	ids := make([]string, 0, len(purposes))
	for id := range purposes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []ConsentDay
	for _, id := range ids {
		for d := since; d.Before(until); d = d.AddDate(0, 0, 1) {
			if c := counts[key{id, d}]; c != nil {
				out = append(out, *c)
			} else {
				out = append(out, ConsentDay{Purpose: id, Day: d})
			}
		}
	}
	return out, nil
}

func truncDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// String redacts the personal data.
func (c ConsentInput) String() string {
	return "consent for purpose " + c.Purpose + " (subject redacted)"
}

// LogValue redacts the personal data in structured logs.
func (c ConsentInput) LogValue() slog.Value {
	return slog.GroupValue(slog.String("purpose", c.Purpose))
}

// ReplayWithdrawal erases or anonymises again the messages a withdrawal
// erased or anonymised: those of the subject and purpose collected at or
// before the withdrawal (a later grant may have brought new ones, which
// stay). Anonymised messages left the subject for a holder of their own
// (consent.go anonymize), so what the subject still holds from before is
// what a restore brought back.
func (s *Service) ReplayWithdrawal(ctx context.Context, e garde.JournalEntry) (int, error) {
	changed := 0
	now := s.Now()
	err := s.Store.Update(ctx, func(tx garde.Tx) error {
		changed = 0
		// A data store that holds the withdrawal, or a later consent event
		// of the subject for the purpose, is not older than the entry:
		// nothing to do again (and messages of a later grant, whose
		// created_at may precede the withdrawal's commit, stay).
		last, err := tx.LatestConsent(ctx, e.Tenant, e.Subject, e.Purpose)
		if err == nil && !last.At.Before(e.At) {
			return nil
		}
		if err != nil && !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		audit := func(action string, n int) error {
			if n == 0 {
				return nil
			}
			changed = 1
			return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: e.Tenant, At: now, Actor: "restore", Action: action, Purpose: e.Purpose, Outcome: garde.OutcomeOK, Count: n, Reason: "journal_replay"}})
		}
		if e.Kind == garde.JournalWithdrawErase {
			n, err := tx.DeleteMessagesBefore(ctx, e.Tenant, e.Subject, e.Purpose, e.At)
			if err != nil {
				return err
			}
			return audit(garde.ActionMessageErase, n)
		}
		tk, err := s.TenantKeys(ctx, tx, e.Tenant, 0)
		if err != nil {
			return err
		}
		sl, err := s.SubjectSealer(ctx, tx, e.Tenant, garde.SubjectRecord{Tenant: e.Tenant, ID: e.Subject})
		if errors.Is(err, garde.ErrSubjectErased) {
			return nil // erased since: its own entry purges the rows
		}
		if err != nil {
			return err
		}
		n, err := s.anonymize(ctx, tx, tk, e.Tenant, e.Purpose, e.Subject, sl, now, e.At)
		if err != nil {
			return err
		}
		return audit(garde.ActionMessageAnonymize, n)
	})
	return changed, err
}

// withdrawalDone is one withdrawal that changed stored messages.
type withdrawalDone struct {
	subject, purpose, action string
}

// recordWithdrawals journals what withdrawals did to stored messages, after
// the transaction that did it committed — under a context the caller
// cannot cancel: a client hanging up between the commit and this write
// would leave the withdrawal unjournalled for good.
func (s *Service) recordWithdrawals(ctx context.Context, tenant garde.TenantID, at time.Time, done []withdrawalDone) error {
	var entries []garde.JournalEntry
	for _, d := range done {
		kind := garde.JournalWithdrawErase
		if d.action == "anonymize" {
			kind = garde.JournalWithdrawAnonymize
		}
		entries = append(entries, garde.JournalEntry{Kind: kind, Tenant: tenant, Subject: d.subject, Purpose: d.purpose, At: at})
	}
	if len(entries) == 0 {
		return nil
	}
	return s.KeyStore.Record(context.WithoutCancel(ctx), entries)
}
