package rights

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/keyring"
)

// Data-subject rights (GDPR Art. 12–22): requests on the legal clock of
// Art. 12(3), filed by the tenant on a subject's behalf or by the subject
// through a one-time verification link, and carried out here — erasure by
// key destruction (erasure.go), exports (export.go), rectification,
// restriction and objection (restrict.go).

// VerificationTTL is how long a subject's one-time verification link works.
const VerificationTTL = 7 * 24 * time.Hour

// MaxReasonLen bounds the free-text reasons a request records (rejection,
// extension, legal hold). They must not hold personal data: they are
// shown to whoever reads the request.
const MaxReasonLen = 1000

// NewRequest is a request to file.
type NewRequest struct {
	Subject string
	Type    string
	// Purpose is required for an objection: the purpose objected to.
	Purpose string
	// LegalHold, when set, holds an erasure from the start, with its
	// reason (Art. 17(3)).
	LegalHold string
	// Source and ExternalID link an OpenDSR request.
	Source       string
	ExternalID   string
	CallbackURLs []string
	// ReceivedAt overrides the time of receipt (an OpenDSR
	// submitted_time in the past); zero means now.
	ReceivedAt time.Time
}

// FiledRequest is a request just filed. Token is the subject's one-time
// verification token, returned once (only for a request that needs it).
type FiledRequest struct {
	Request garde.RightsRequest
	Token   string
}

func requestSubjectAD(t garde.TenantID, id string) keyring.AD {
	return keyring.AD{Tenant: string(t), Record: id, Field: "request-subject"}
}

func validateReason(field, s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return garde.Invalid(field, "is required")
	case len(s) > MaxReasonLen:
		return garde.Invalid(field, "is longer than %d bytes", MaxReasonLen)
	case !utf8.ValidString(s):
		return garde.Invalid(field, "is not valid UTF-8")
	}
	return nil
}

// FileRequest records a data-subject request. A request filed by the
// tenant's DPO is vouched for — the DPO checked the person's identity —
// and proceeds at once: an erasure, a restriction or an objection is
// carried out before FileRequest returns (unless a legal hold blocks an
// erasure). A request filed by a service key (the tenant's application, on
// the subject's behalf) or an admin waits for its verification: the
// subject following the one-time link built from the returned token, or
// the DPO (ChangeRequest, ActVerify). Whoever files does not verify.
func (s *Service) FileRequest(ctx context.Context, p garde.Principal, in NewRequest) (FiledRequest, error) {
	if _, err := garde.Enter(p, garde.OpRequestFile); err != nil {
		return FiledRequest{}, err
	}
	ve := &garde.ValidationError{}
	if err := garde.ValidateSubjectID("subject", in.Subject); err != nil {
		ve.Problems = append(ve.Problems, err.(*garde.ValidationError).Problems...)
	}
	if !slices.Contains(garde.RequestTypes, in.Type) {
		ve.Add("type", "must be one of %s", strings.Join(garde.RequestTypes, ", "))
	}
	if in.Type == garde.RequestObjection && in.Purpose == "" {
		ve.Add("purpose", "is required for an objection: the purpose objected to")
	}
	if in.Type != garde.RequestObjection && in.Purpose != "" {
		ve.Add("purpose", "only an objection names a purpose")
	}
	if in.LegalHold != "" {
		if in.Type != garde.RequestErasure {
			ve.Add("legal_hold", "only an erasure can be held")
		} else if err := validateReason("legal_hold", in.LegalHold); err != nil {
			ve.Problems = append(ve.Problems, err.(*garde.ValidationError).Problems...)
		}
	}
	for i, u := range in.CallbackURLs {
		if err := validateWebhookURL(u); err != nil {
			ve.Add(fmt.Sprintf("status_callback_urls[%d]", i), "%s", err)
		}
	}
	if err := ve.Err(); err != nil {
		return FiledRequest{}, err
	}
	if in.LegalHold != "" && p.Role == garde.RoleService {
		return FiledRequest{}, garde.Errorf(garde.ErrForbidden, "only an admin or a DPO may place a legal hold")
	}
	now := s.Now()
	received := now
	if !in.ReceivedAt.IsZero() && in.ReceivedAt.Before(now) {
		received = in.ReceivedAt.UTC()
	}
	vouched := garde.Authorize(p, garde.PermRequestVouch) == nil
	var out FiledRequest
	err := s.Update(ctx, func(tx garde.Tx) error {
		if in.Type == garde.RequestObjection {
			reg, _, err := s.CurrentRegister(ctx, tx, p.Tenant)
			if err != nil {
				return err
			}
			if _, ok := reg.Purpose(in.Purpose); !ok {
				return garde.Invalid("purpose", "is not in the register of processing")
			}
		}
		if in.ExternalID != "" {
			if _, err := tx.RequestByExternalID(ctx, p.Tenant, in.ExternalID); err == nil {
				return garde.Errorf(garde.ErrConflict, "a request with this subject_request_id exists")
			} else if !errors.Is(err, garde.ErrNotFound) {
				return err
			}
		}
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		ref, err := s.SubjectRef(ctx, tx, tk, p.Tenant, in.Subject, nil)
		if err != nil {
			return err
		}
		r := garde.RightsRequest{
			Tenant: p.Tenant, ID: garde.NewID("dsr_", now), Type: in.Type, Status: garde.StatusReceived,
			SubjectIndex: keyring.MAC(tk.Blind, []byte(in.Subject)), SubjectRef: ref,
			KeyVersion: tk.Current, Purpose: in.Purpose, Source: cmp.Or(in.Source, "api"), ExternalID: in.ExternalID,
			CallbackURLs: in.CallbackURLs, FiledBy: p.KeyID, ReceivedAt: received, DueAt: DueDate(received, 0),
			LegalHold: in.LegalHold, UpdatedAt: now,
		}
		r.SealedSubject, err = tk.Data[tk.Current].Seal([]byte(in.Subject), requestSubjectAD(p.Tenant, r.ID))
		if err != nil {
			return err
		}
		if vouched {
			r.Status, r.VerifiedAt = garde.StatusVerified, now
		} else {
			out.Token, r.TokenHash = newVerificationToken(r.ID)
			r.TokenExpires = now.Add(VerificationTTL)
		}
		if err := tx.InsertRequest(ctx, r); err != nil {
			return err
		}
		out.Request = r
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionRequestFile, Purpose: in.Purpose, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Reason: in.Type}})
	})
	if err != nil {
		return FiledRequest{}, err
	}
	garde.RightsMetrics.RequestsFiled.Add(1)
	if vouched {
		r, err := s.ProcessRequest(ctx, p.Tenant, out.Request.ID)
		if err != nil {
			return FiledRequest{}, err
		}
		out.Request = r
	}
	s.queueCallbacks(ctx, out.Request)
	return out, nil
}

// newVerificationToken returns a token for request id and its hash. The
// token is 32 random bytes; only its SHA-256 is stored.
func newVerificationToken(id string) (string, []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("garde: crypto/rand failed: " + err.Error())
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	return tok, hashToken(tok)
}

func hashToken(tok string) []byte {
	h := sha256.Sum256([]byte("garde/request-token/v1\x00" + tok))
	return h[:]
}

// errBadToken is the one answer to a wrong, used or expired token, so that
// a guesser learns nothing about which.
var errBadToken = garde.Errorf(garde.ErrNotFound, "this verification link is invalid, expired or already used")

// VerifyRequest is the subject following the one-time link: the request's
// identity is verified and it proceeds as if vouched. The token works
// once, until it expires.
func (s *Service) VerifyRequest(ctx context.Context, token string) (garde.RightsRequest, error) {
	if _, err := garde.Enter(garde.Principal{}, garde.OpRequestVerify); err != nil {
		return garde.RightsRequest{}, err
	}
	if token == "" || len(token) > 100 {
		return garde.RightsRequest{}, errBadToken
	}
	now := s.Now()
	var r garde.RightsRequest
	err := s.Update(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.RequestByToken(ctx, hashToken(token))
		if errors.Is(err, garde.ErrNotFound) {
			return errBadToken
		}
		if err != nil {
			return err
		}
		if r.TokenHash == nil || now.After(r.TokenExpires) || r.Status != garde.StatusReceived {
			return errBadToken
		}
		r.TokenHash, r.Status, r.VerifiedAt, r.UpdatedAt = nil, garde.StatusVerified, now, now
		if err := tx.UpdateRequest(ctx, r); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: r.Tenant, At: now, Actor: "subject", Action: garde.ActionRequestVerify, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Reason: r.Type}})
	})
	if err != nil {
		return garde.RightsRequest{}, err
	}
	r, err = s.ProcessRequest(ctx, r.Tenant, r.ID)
	if err != nil {
		return garde.RightsRequest{}, err
	}
	s.queueCallbacks(ctx, r)
	return r, nil
}

// Request returns one request of the caller's tenant.
func (s *Service) Request(ctx context.Context, p garde.Principal, id string) (garde.RightsRequest, error) {
	if _, err := garde.Enter(p, garde.OpRequestRead); err != nil {
		return garde.RightsRequest{}, err
	}
	var r garde.RightsRequest
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.Request(ctx, p.Tenant, id)
		return err
	})
	return r, err
}

// RequestByExternalID returns an OpenDSR request by its subject_request_id.
func (s *Service) RequestByExternalID(ctx context.Context, p garde.Principal, externalID string) (garde.RightsRequest, error) {
	if _, err := garde.Enter(p, garde.OpRequestRead); err != nil {
		return garde.RightsRequest{}, err
	}
	var r garde.RightsRequest
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.RequestByExternalID(ctx, p.Tenant, externalID)
		return err
	})
	return r, err
}

// Requests lists the caller's requests. A subject filter (the tenant's
// identifier) is matched through the blind index.
func (s *Service) Requests(ctx context.Context, p garde.Principal, f garde.RequestFilter, subject string) ([]garde.RightsRequest, error) {
	if _, err := garde.Enter(p, garde.OpRequestRead); err != nil {
		return nil, err
	}
	ve := &garde.ValidationError{}
	if f.Status != "" && !slices.Contains(garde.RequestStatuses, f.Status) {
		ve.Add("status", "is not a request status")
	}
	if f.Type != "" && !slices.Contains(garde.RequestTypes, f.Type) {
		ve.Add("type", "must be one of %s", strings.Join(garde.RequestTypes, ", "))
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	if f.Limit <= 0 || f.Limit > garde.MaxRequestPage {
		f.Limit = garde.MaxRequestPage
	}
	var out []garde.RightsRequest
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		if subject != "" {
			tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
			if err != nil {
				return err
			}
			rs, err := tx.RequestsBySubject(ctx, p.Tenant, keyring.MAC(tk.Blind, []byte(subject)))
			if err != nil {
				return err
			}
			for _, r := range rs {
				if (f.Status == "" || r.Status == f.Status) && (f.Type == "" || r.Type == f.Type) && (!f.OpenOnly || r.Open()) && r.ID > f.After && len(out) < f.Limit {
					out = append(out, r)
				}
			}
			return nil
		}
		var err error
		out, err = tx.Requests(ctx, p.Tenant, f)
		return err
	})
	return out, err
}

// RequestSubject opens the identifier of a request's subject (nil after
// an erasure completed).
func (s *Service) requestSubject(ctx context.Context, tx garde.Tx, r garde.RightsRequest) (string, error) {
	if r.SealedSubject == nil {
		return "", garde.ErrSubjectErased
	}
	tk, err := s.TenantKeys(ctx, tx, r.Tenant, r.KeyVersion)
	if err != nil {
		return "", err
	}
	b, err := tk.Data[r.KeyVersion].Open(r.SealedSubject, requestSubjectAD(r.Tenant, r.ID))
	if err != nil {
		return "", fmt.Errorf("open request %s subject: %w", r.ID, err)
	}
	return string(b), nil
}

// Request actions (ChangeRequest).
const (
	ActExtend   = "extend"
	ActHold     = "hold"
	ActRelease  = "release"
	ActReject   = "reject"
	ActComplete = "complete"
	ActCancel   = "cancel"
	// ActVerify is the DPO verifying the identity of a request someone
	// else filed (a service key or an admin), in place of the subject's
	// link.
	ActVerify = "verify"
)

// RequestChange is one action on a request by an admin or DPO.
type RequestChange struct {
	Action string
	Reason string
	// Months extends the deadline by 1 or 2 months (extend).
	Months int
}

// ChangeRequest applies an action: extend the deadline (Art. 12(3):
// by up to two months, announced with reasons before the first month
// ends), place or release a legal hold on an erasure, reject with a
// reason, complete a request that needs a person's work (an access
// request answered, a rectification applied), or cancel.
func (s *Service) ChangeRequest(ctx context.Context, p garde.Principal, id string, c RequestChange) (garde.RightsRequest, error) {
	if _, err := garde.Enter(p, garde.OpRequestChange); err != nil {
		return garde.RightsRequest{}, err
	}
	acts := []string{ActExtend, ActHold, ActRelease, ActReject, ActComplete, ActCancel, ActVerify}
	if !slices.Contains(acts, c.Action) {
		return garde.RightsRequest{}, garde.Invalid("action", "must be one of %s", strings.Join(acts, ", "))
	}
	if c.Action == ActVerify {
		if err := garde.Authorize(p, garde.PermRequestVouch); err != nil {
			return garde.RightsRequest{}, garde.Errorf(garde.ErrForbidden, "only the DPO or the subject (through the link) verifies a request's identity")
		}
	}
	if c.Action != ActComplete && c.Action != ActRelease && c.Action != ActVerify {
		if err := validateReason("reason", c.Reason); err != nil {
			return garde.RightsRequest{}, err
		}
	}
	now := s.Now()
	var r garde.RightsRequest
	process := false
	err := s.Update(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.Request(ctx, p.Tenant, id)
		if err != nil {
			return err
		}
		if !r.Open() {
			return garde.Errorf(garde.ErrConflict, "request is %s: it can no longer change", r.Status)
		}
		switch c.Action {
		case ActVerify:
			if r.Status != garde.StatusReceived {
				return garde.Errorf(garde.ErrConflict, "the request's identity is already verified")
			}
			if r.FiledBy == p.KeyID {
				return garde.Errorf(garde.ErrForbidden, "the key that filed a request does not verify it")
			}
			r.Status, r.VerifiedAt, r.TokenHash = garde.StatusVerified, now, nil
			process = true
		case ActExtend:
			if !r.ExtendedAt.IsZero() {
				return garde.Errorf(garde.ErrConflict, "the deadline was already extended")
			}
			due, err := ExtendedDueDate(r.ReceivedAt, c.Months, now)
			if err != nil {
				return err
			}
			r.DueAt, r.ExtendedAt, r.Extension = due, now, c.Reason
		case ActHold:
			if r.Type != garde.RequestErasure {
				return garde.Invalid("action", "only an erasure can be held")
			}
			if !r.KeyDestroyedAt.IsZero() {
				return garde.Errorf(garde.ErrConflict, "the subject's key is already destroyed")
			}
			r.LegalHold = c.Reason
		case ActRelease:
			if r.LegalHold == "" {
				return garde.Errorf(garde.ErrConflict, "the request is not held")
			}
			r.LegalHold = ""
			process = r.Status != garde.StatusReceived
		case ActReject:
			if !r.KeyDestroyedAt.IsZero() {
				return garde.Errorf(garde.ErrConflict, "the subject's key is already destroyed")
			}
			r.Status, r.Reason, r.CompletedAt = garde.StatusRejected, c.Reason, now
		case ActCancel:
			if !r.KeyDestroyedAt.IsZero() {
				return garde.Errorf(garde.ErrConflict, "the subject's key is already destroyed")
			}
			r.Status, r.Reason, r.CompletedAt = garde.StatusCancelled, c.Reason, now
		case ActComplete:
			if r.Status == garde.StatusReceived {
				return garde.Errorf(garde.ErrConflict, "the subject's identity is not verified")
			}
			if r.Type == garde.RequestErasure || r.Type == garde.RequestRestriction || r.Type == garde.RequestObjection {
				return garde.Errorf(garde.ErrConflict, "a %s completes by itself", r.Type)
			}
			r.Status, r.CompletedAt = garde.StatusCompleted, now
			if r.StartedAt.IsZero() {
				r.StartedAt = now
			}
		}
		r.UpdatedAt = now
		if err := tx.UpdateRequest(ctx, r); err != nil {
			return err
		}
		action := garde.ActionRequestChange
		if c.Action == ActVerify {
			action = garde.ActionRequestVerify
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: action, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Reason: c.Action}})
	})
	if err != nil {
		return garde.RightsRequest{}, err
	}
	if process {
		if r, err = s.ProcessRequest(ctx, p.Tenant, id); err != nil {
			return garde.RightsRequest{}, err
		}
	}
	s.queueCallbacks(ctx, r)
	return r, nil
}

// CancelExternal cancels an OpenDSR request (DELETE of the OpenDSR API).
func (s *Service) CancelExternal(ctx context.Context, p garde.Principal, externalID string) (garde.RightsRequest, error) {
	if _, err := garde.Enter(p, garde.OpRequestCancel); err != nil {
		return garde.RightsRequest{}, err
	}
	r, err := s.RequestByExternalID(ctx, p, externalID)
	if err != nil {
		return garde.RightsRequest{}, err
	}
	now := s.Now()
	err = s.Update(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.Request(ctx, p.Tenant, r.ID)
		if err != nil {
			return err
		}
		if r.Status == garde.StatusCancelled {
			return errAlreadyCancelled // cancelling twice answers the same
		}
		if !r.Open() || !r.KeyDestroyedAt.IsZero() {
			return garde.Errorf(garde.ErrConflict, "request is %s: it can no longer be cancelled", r.Status)
		}
		r.Status, r.Reason, r.CompletedAt, r.UpdatedAt = garde.StatusCancelled, "cancelled by the controller (OpenDSR)", now, now
		if err := tx.UpdateRequest(ctx, r); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: p.Tenant, At: now, Actor: p.KeyID, Action: garde.ActionRequestChange, SubjectRef: r.SubjectRef, Outcome: garde.OutcomeOK, Reason: ActCancel}})
	})
	if errors.Is(err, errAlreadyCancelled) {
		return r, nil
	}
	if err != nil {
		return garde.RightsRequest{}, err
	}
	s.queueCallbacks(ctx, r)
	return r, nil
}

var errAlreadyCancelled = errors.New("already cancelled")

// ProcessRequest carries out what a verified request can do without a
// person: an erasure (unless held), a restriction, an objection. Access,
// portability and rectification move to in_progress and wait for the
// tenant (the export is ready at once; completing is a decision). It is
// idempotent, so a background tick finishes what a crash interrupted.
func (s *Service) ProcessRequest(ctx context.Context, tenant garde.TenantID, id string) (garde.RightsRequest, error) {
	var r garde.RightsRequest
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.Request(ctx, tenant, id)
		return err
	})
	if err != nil {
		return garde.RightsRequest{}, err
	}
	if !r.Open() || r.Status == garde.StatusReceived {
		return r, nil
	}
	switch r.Type {
	case garde.RequestErasure:
		if r.LegalHold != "" {
			return r, nil
		}
		return s.erase(ctx, r)
	case garde.RequestRestriction, garde.RequestObjection:
		return s.applyBlock(ctx, r)
	}
	if r.Status == garde.StatusInProgress {
		return r, nil
	}
	now := s.Now()
	err = s.Update(ctx, func(tx garde.Tx) error {
		var err error
		r, err = tx.Request(ctx, tenant, id)
		if err != nil || r.Status != garde.StatusVerified {
			return err
		}
		r.Status, r.StartedAt, r.UpdatedAt = garde.StatusInProgress, now, now
		return tx.UpdateRequest(ctx, r)
	})
	return r, err
}
