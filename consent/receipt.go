package consent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/ledger"
)

// ReceiptVersion names the receipt format.
const ReceiptVersion = "garde-consent-receipt/1"

// receiptConformsTo is what every receipt of this version declares.
var receiptConformsTo = []string{"ISO/IEC TS 27560:2023", "Kantara Consent Receipt v1.1"}

// receiptTerms is what a receipt shows of the register: the controller,
// the DPO and the purpose as they were when the consent was given. The
// event commits to its hash (terms_hash), so that these fields cannot be
// changed on a receipt that still verifies.
type receiptTerms struct {
	Jurisdiction   string                 `json:"jurisdiction"`
	PIIControllers []register.Party       `json:"pii_controllers"`
	DPO            register.Party         `json:"dpo"`
	Services       []garde.ReceiptService `json:"services"`
	Sensitive      bool                   `json:"sensitive"`
}

func termsFor(reg *register.Register, pp *register.Purpose) receiptTerms {
	var third []string
	for _, r := range pp.Recipients {
		third = append(third, r.Name)
	}
	sensitive := false
	for _, cat := range pp.Categories {
		if receiptSensitive(cat) {
			sensitive = true
		}
	}
	onw := pp.OnWithdrawal
	if onw == "" {
		onw = "stop"
	}
	return receiptTerms{
		Jurisdiction:   "EU (GDPR Art. 6(1)(a), 7)",
		PIIControllers: []register.Party{reg.Controller},
		DPO:            reg.DPO,
		Services: []garde.ReceiptService{{Service: reg.Controller.Name, Purposes: []garde.ReceiptPurpose{{
			Purpose: pp.ID, Description: pp.Description, LegalBasis: pp.LegalBasis, ConsentType: "explicit",
			PIICategories: pp.Categories, Termination: pp.Retention.String(), ThirdPartyDisclosure: len(third) > 0, ThirdPartyNames: third,
			OnWithdrawal: onw,
		}}}},
		Sensitive: sensitive,
	}
}

func (t receiptTerms) hash() string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// termsOf is the part of a receipt its terms hash covers.
func termsOf(r garde.Receipt) receiptTerms {
	return receiptTerms{Jurisdiction: r.Jurisdiction, PIIControllers: r.PIIControllers, DPO: r.DPO, Services: r.Services, Sensitive: r.Sensitive}
}

// newReceipt builds the receipt of an event under register reg. Use it
// with the register version the consent was given under
// (consentContent.RegisterVersion, see Service.receiptTerms), or the
// receipt's terms hash will not match.
func newReceipt(reg *register.Register, pp *register.Purpose, in ConsentInput, rec garde.ConsentRecord, c consentContent, ev ledger.Evidence) garde.Receipt {
	return buildReceipt(termsFor(reg, pp), in, rec, c, ev)
}

// receiptTerms returns the terms of a recorded consent: from the register
// version it was given under.
func (s *Service) receiptTerms(ctx context.Context, tx garde.Tx, tenant garde.TenantID, c consentContent) (receiptTerms, error) {
	rv, err := tx.Register(ctx, tenant, c.RegisterVersion)
	if err != nil {
		return receiptTerms{}, err
	}
	reg, err := rv.Parse()
	if err != nil {
		return receiptTerms{}, err
	}
	pp, ok := reg.Purpose(c.Purpose)
	if !ok {
		return receiptTerms{}, fmt.Errorf("consent %s: purpose not in register version %d", c.ID, c.RegisterVersion)
	}
	return termsFor(reg, pp), nil
}

func buildReceipt(t receiptTerms, in ConsentInput, rec garde.ConsentRecord, c consentContent, ev ledger.Evidence) garde.Receipt {
	status := "active"
	if in.Action == garde.ConsentWithdraw {
		status = "withdrawn"
	}
	return garde.Receipt{
		Version:          ReceiptVersion,
		ConformsTo:       slices.Clone(receiptConformsTo),
		ConsentReceiptID: rec.ID,
		Jurisdiction:     t.Jurisdiction,
		ConsentTimestamp: rec.At,
		CollectionMethod: in.Method,
		Channel:          in.Channel,
		Language:         c.Language,
		PIIPrincipalID:   in.Subject,
		PIIControllers:   t.PIIControllers,
		DPO:              t.DPO,
		Notice:           garde.ReceiptNotice{Version: c.Notice, Language: c.Language, Hash: c.NoticeHash},
		Services:         t.Services,
		Sensitive:        t.Sensitive,
		Action:           in.Action,
		ConsentStatus:    status,
		RecordedBy:       c.RecordedBy,
		Tenant:           c.Tenant,
		LogOrigin:        evidenceOrigin(ev),
		LeafIndex:        ev.Index,
		Evidence:         ev,
	}
}

// ErrReceipt marks a receipt that does not verify.
var ErrReceipt = errors.New("receipt does not verify")

// ParseReceipt reads a receipt as saved: the receipt object itself, or the
// whole answer of POST /v1/consents ({"receipt": {...}, ...}).
func ParseReceipt(data []byte) (garde.Receipt, error) {
	var wrapper struct {
		Receipt json.RawMessage `json:"receipt"`
	}
	if err := json.Unmarshal(data, &wrapper); err == nil && len(wrapper.Receipt) > 0 {
		data = wrapper.Receipt
	}
	var r garde.Receipt
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return garde.Receipt{}, fmt.Errorf("%w: not a receipt: %v", ErrReceipt, err)
	}
	if r.Version != ReceiptVersion {
		return garde.Receipt{}, fmt.Errorf("%w: version %q, want %q", ErrReceipt, r.Version, ReceiptVersion)
	}
	return r, nil
}

// VerifyReceipt checks a receipt offline against the tenant's verifier key
// (GET /v1/ledger/key, published apart from the receipt): the checkpoint's
// signature, the inclusion proof of the committed event, and that every
// field the receipt shows matches the committed content — so that nobody
// can keep a valid proof and change what the receipt says. The error names
// the first thing that failed.
func VerifyReceipt(r garde.Receipt, verifierKey string) error {
	cp, err := ledger.VerifyEvidence(r.Evidence, verifierKey)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReceipt, err)
	}
	if r.LeafIndex != r.Evidence.Index {
		return fmt.Errorf("%w: leaf_index %d, the evidence proves index %d", ErrReceipt, r.LeafIndex, r.Evidence.Index)
	}
	if trail.OriginEpoch(r.Tenant, cp.Origin) == 0 || r.LogOrigin != cp.Origin {
		return fmt.Errorf("%w: tenant %q and log origin %q, the checkpoint is of log %q", ErrReceipt, r.Tenant, r.LogOrigin, cp.Origin)
	}
	var c consentContent
	dec := json.NewDecoder(bytes.NewReader(r.Evidence.Content))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || c.V != 1 {
		return fmt.Errorf("%w: committed content is not a consent event", ErrReceipt)
	}
	at, err := time.Parse(time.RFC3339Nano, c.At)
	if err != nil {
		return fmt.Errorf("%w: committed time %q", ErrReceipt, c.At)
	}
	purpose := ""
	if len(r.Services) == 1 && len(r.Services[0].Purposes) == 1 {
		purpose = r.Services[0].Purposes[0].Purpose
	}
	status := map[string]string{garde.ConsentGrant: "active", garde.ConsentWithdraw: "withdrawn"}[c.Action]
	checks := []struct {
		field     string
		ok        bool
		got, want any
	}{
		{"consent_receipt_id", r.ConsentReceiptID == c.ID, r.ConsentReceiptID, c.ID},
		{"tenant", r.Tenant == c.Tenant, r.Tenant, c.Tenant},
		{"pii_principal_id", r.PIIPrincipalID == c.Subject, "(redacted)", "(redacted)"},
		{"services[0].purposes[0].purpose", purpose == c.Purpose, purpose, c.Purpose},
		{"action", r.Action == c.Action, r.Action, c.Action},
		{"consent_status", r.ConsentStatus == status, r.ConsentStatus, status},
		{"consent_timestamp", r.ConsentTimestamp.Equal(at), r.ConsentTimestamp, at},
		{"collection_method", r.CollectionMethod == c.Method, r.CollectionMethod, c.Method},
		{"channel", r.Channel == c.Channel, r.Channel, c.Channel},
		{"language", r.Language == c.Language && r.Notice.Language == c.Language, r.Language, c.Language},
		{"notice.version", r.Notice.Version == c.Notice, r.Notice.Version, c.Notice},
		{"notice.hash", r.Notice.Hash == c.NoticeHash, r.Notice.Hash, c.NoticeHash},
		{"recorded_by", r.RecordedBy == c.RecordedBy, r.RecordedBy, c.RecordedBy},
		{"conforms_to", slices.Equal(r.ConformsTo, receiptConformsTo), r.ConformsTo, receiptConformsTo},
		{"jurisdiction, pii_controllers, dpo, services or sensitive", termsOf(r).hash() == c.TermsHash, "terms hash " + termsOf(r).hash(), c.TermsHash},
	}
	for _, ck := range checks {
		if !ck.ok {
			return fmt.Errorf("%w: %s is %v, the signed event says %v", ErrReceipt, ck.field, ck.got, ck.want)
		}
	}
	return nil
}

// evidenceOrigin is the origin of the checkpoint the signer just embedded
// in ev: the log identity (epoch) that signed it.
func evidenceOrigin(ev ledger.Evidence) string {
	c, err := ledger.PeekCheckpoint(ev.Checkpoint)
	if err != nil {
		return ""
	}
	return c.Origin
}

// receiptSensitive is the "sensitive" flag of receipt format 1, frozen: a
// consent commits to the hash of its receipt's terms when it is recorded,
// and every later receipt of it rebuilds those terms, so the flag of a
// category can never change for receipts of this version (a change would
// make the proof of every consent already recorded fail). It is not the
// GDPR's list of special categories — register.SpecialCategory is, and
// the breach severity and the Art. 30 record read that one; a next
// receipt version would adopt it. Two of its names are not fideslang
// categories and match nothing; the list is kept as recorded consents
// committed to it.
func receiptSensitive(c string) bool {
	for _, p := range []string{"user.health_and_medical", "user.genetic", "user.biometric", "user.demographic.racial_ethnic_origin",
		"user.demographic.political_opinion", "user.demographic.religious_belief", "user.demographic.sexual_orientation", "user.criminal_history"} {
		if register.Covers(p, c) || register.Covers(c, p) {
			return true
		}
	}
	return false
}
