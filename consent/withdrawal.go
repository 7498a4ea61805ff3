package consent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/pii"
	"github.com/garde-privacy/garde/register"
)

// What a withdrawal does to stored messages (the purpose's on_withdrawal:
// stop, anonymise or erase), journalled so that a restore does it again.

// WithdrawalEffect is what the register's on_withdrawal did.
type WithdrawalEffect struct {
	Action   string // stop, anonymize or erase
	Messages int    // messages anonymised or erased
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
