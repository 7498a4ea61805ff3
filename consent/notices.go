package consent

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/garde-privacy/garde"
)

// Notices: the versioned texts a consent is given to.

// PublishNotice adds the next version of a purpose's consent notice in a
// language. Versions are never changed or removed: a consent recorded
// against version 3 keeps pointing at exactly that text.
func (s *Service) PublishNotice(ctx context.Context, p garde.Principal, purpose, language, text string) (garde.Notice, error) {
	pass, err := garde.Enter(p, garde.OpNoticePublish)
	if err != nil {
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
	err = s.Update(ctx, func(tx garde.Tx) error {
		reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		if _, err := consentPurpose(pass, reg, purpose, "purpose"); err != nil {
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
	pass, err := garde.Enter(p, garde.OpNoticeRead)
	if err != nil {
		return nil, err
	}
	var out []garde.Notice
	err = s.Store.View(ctx, func(tx garde.Tx) error {
		reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
		if err != nil {
			return err
		}
		if _, err := pass.Purpose(reg, purpose, "purpose"); err != nil {
			return err
		}
		out, err = tx.Notices(ctx, p.Tenant, purpose)
		return err
	})
	return out, err
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
