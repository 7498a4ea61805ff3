package garde

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"github.com/garde-privacy/garde/register"
)

// Consent actions.
const (
	ConsentGrant    = "grant"
	ConsentWithdraw = "withdraw"
)

// Notice is one version of the text a person is shown when asked for
// consent to a purpose, in one language. A consent points to the exact
// text through its hash.
type Notice struct {
	Tenant    TenantID
	Purpose   string
	Language  string
	Version   int
	Text      string
	Hash      string // "sha256:<hex>" of the text's UTF-8 bytes
	CreatedAt time.Time
	CreatedBy string
}

// NoticeHash is the hash a consent records of its notice text.
func NoticeHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ConsentRecord is a consent event as it is stored. Its content (who, what,
// which notice, how, from where), with the salt of its ledger commitment,
// is sealed under the subject's key; destroying that key leaves an opaque
// row and a leaf of 32 random-looking bytes, and the log still verifies.
type ConsentRecord struct {
	Tenant    TenantID
	ID        string
	SubjectID string
	Purpose   string
	Action    string // ConsentGrant or ConsentWithdraw
	At        time.Time
	LeafIndex int64
	// Sealed is salt || canonical content, sealed with consentAD.
	Sealed []byte
	// SealedEvidence is the evidence document sealed with field
	// "consent-evidence", or nil.
	SealedEvidence []byte
}

// ConsentView is one consent event as garde returns it: opened.
type ConsentView struct {
	ID         string
	Purpose    string
	Action     string
	At         time.Time
	Notice     int
	Language   string
	NoticeHash string
	Method     string
	Channel    string
	RecordedBy string
	LeafIndex  int64
}

// Receipt is the consent receipt a person keeps: the fields of ISO/IEC TS
// 27560 (consent record information structure) and of the Kantara Consent
// Receipt v1.1, plus the proof that the event is in the tenant's log — the
// leaf index, the inclusion proof and a checkpoint signed by the tenant's
// ledger key, as ledger.Evidence.
//
// Like Register it carries JSON tags: it is a document handed to a person
// and checked offline by `garde verify receipt`, and it is that person's
// own data. It holds personal data (the subject identifier), so garde never
// logs it.
type Receipt struct {
	Version          string           `json:"version"`
	ConformsTo       []string         `json:"conforms_to"`
	ConsentReceiptID string           `json:"consent_receipt_id"`
	Jurisdiction     string           `json:"jurisdiction"`
	ConsentTimestamp time.Time        `json:"consent_timestamp"`
	CollectionMethod string           `json:"collection_method"`
	Channel          string           `json:"channel,omitempty"`
	Language         string           `json:"language"`
	PIIPrincipalID   string           `json:"pii_principal_id"`
	PIIControllers   []register.Party `json:"pii_controllers"`
	DPO              register.Party   `json:"dpo"`
	Notice           ReceiptNotice    `json:"notice"`
	Services         []ReceiptService `json:"services"`
	Sensitive        bool             `json:"sensitive"`
	Action           string           `json:"action"`         // grant or withdraw
	ConsentStatus    string           `json:"consent_status"` // active or withdrawn
	RecordedBy       string           `json:"recorded_by"`
	Tenant           string           `json:"tenant"`
	LogOrigin        string           `json:"log_origin"`
	LeafIndex        int64            `json:"leaf_index"`
	Evidence         ledger.Evidence  `json:"evidence"`
}

// ReceiptNotice identifies the exact notice text the person saw.
type ReceiptNotice struct {
	Version  int    `json:"version"`
	Language string `json:"language"`
	Hash     string `json:"hash"`
}

// ReceiptService groups purposes, as in the Kantara receipt.
type ReceiptService struct {
	Service  string           `json:"service"`
	Purposes []ReceiptPurpose `json:"purposes"`
}

// ReceiptPurpose is one purpose consented to (or withdrawn from).
type ReceiptPurpose struct {
	Purpose              string   `json:"purpose"`
	Description          string   `json:"purpose_description,omitempty"`
	LegalBasis           string   `json:"legal_basis"`
	ConsentType          string   `json:"consent_type"`
	PIICategories        []string `json:"pii_category"`
	PrimaryPurpose       bool     `json:"primary_purpose"`
	Termination          string   `json:"termination"`
	ThirdPartyDisclosure bool     `json:"third_party_disclosure"`
	ThirdPartyNames      []string `json:"third_party_name,omitempty"`
	OnWithdrawal         string   `json:"on_withdrawal,omitempty"`
}

// Consents is what the other capabilities need of package consent, wired
// by the composition root: an export holds the subject's consents with
// their receipts; a journal replay applies a withdrawal again.
type Consents interface {
	ExportConsents(ctx context.Context, tx Tx, tenant TenantID, subject string, rec SubjectRecord, sl *keyring.Sealer) ([]ConsentView, []Receipt, error)
	ReplayWithdrawal(ctx context.Context, e JournalEntry) (int, error)
}

// Retention purges the messages whose retention has passed (package
// vault); the rights jobs run it.
type Retention interface {
	PurgeExpired(ctx context.Context, batch int) (int, error)
}
