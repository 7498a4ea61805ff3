package garde

import (
	"slices"
	"time"
)

// Request types.
const (
	RequestAccess        = "access"
	RequestPortability   = "portability"
	RequestErasure       = "erasure"
	RequestRectification = "rectification"
	RequestRestriction   = "restriction"
	RequestObjection     = "objection"
)

// RequestTypes lists the request types, in the order of the Articles.
var RequestTypes = []string{RequestAccess, RequestRectification, RequestErasure, RequestRestriction, RequestPortability, RequestObjection}

// Request statuses. A request moves received → identity_verified →
// in_progress → completed, or ends rejected (with a reason) or cancelled
// (by whoever filed it, before it completes).
const (
	StatusReceived   = "received"
	StatusVerified   = "identity_verified"
	StatusInProgress = "in_progress"
	StatusCompleted  = "completed"
	StatusRejected   = "rejected"
	StatusCancelled  = "cancelled"
)

// RequestStatuses lists every request status, in the order a request moves
// through them: the one list the API's schema and filters, the dashboard
// and the docs read.
var RequestStatuses = []string{StatusReceived, StatusVerified, StatusInProgress, StatusCompleted, StatusRejected, StatusCancelled}

// ClosedStatuses end a request: it no longer runs on the Art. 12(3) clock.
// Every other status is open (RightsRequest.Open, OpenStatuses); the
// storage backends filter open requests with this list, which their
// partial index on due dates spells out too (checked by their tests).
var ClosedStatuses = []string{StatusCompleted, StatusRejected, StatusCancelled}

// OpenStatuses returns the statuses of a request still on the clock.
func OpenStatuses() []string {
	var out []string
	for _, s := range RequestStatuses {
		if !slices.Contains(ClosedStatuses, s) {
			out = append(out, s)
		}
	}
	return out
}

// RightsRequest is a data-subject request as it is stored. The subject's
// identifier is sealed under a tenant data key, never stored in the clear,
// and is dropped once an erasure completes (the keyed blind index and the
// audit reference stay, as evidence of whom the request was about).
type RightsRequest struct {
	Tenant        TenantID
	ID            string
	Type          string
	Status        string
	SubjectIndex  []byte // blind index of the subject identifier
	SubjectRef    string // the audit trail's reference
	SealedSubject []byte // nil once erased
	KeyVersion    uint32 // tenant data key version sealing SealedSubject
	Purpose       string // objection: the purpose objected to
	Source        string // "api" or "opendsr"
	ExternalID    string // OpenDSR subject_request_id
	CallbackURLs  []string
	FiledBy       string // API key id
	ReceivedAt    time.Time
	DueAt         time.Time
	VerifiedAt    time.Time
	StartedAt     time.Time
	CompletedAt   time.Time
	ExtendedAt    time.Time
	Extension     string // the reasons announced with the extension
	Reason        string // rejection or cancellation reason
	LegalHold     string // why an erasure is held; empty when none
	TokenHash     []byte // SHA-256 of the verification token; nil once used
	TokenExpires  time.Time
	// KeyDestroyedAt is, for an erasure, when its decision committed while
	// it is in progress (set: the key is destroyed or about to be), and
	// once completed when the key store's destruction had committed.
	KeyDestroyedAt time.Time
	// Certificate is the signed erasure certificate (a signed note).
	Certificate []byte
	// Outcome says in a fixed form what was done. During an erasure it
	// carries the destroyed key from step to step ("key=sub_…/1"); once
	// completed, "key=sub_… messages=12 consents=2".
	Outcome   string
	UpdatedAt time.Time
}

// Open reports whether the request still runs on the clock.
func (r RightsRequest) Open() bool {
	return !slices.Contains(ClosedStatuses, r.Status)
}

// RequestFilter selects requests. Zero fields do not filter.
type RequestFilter struct {
	Status    string
	Type      string
	OpenOnly  bool
	DueBefore time.Time
	After     string // id, for paging
	Limit     int
}

// MaxRequestPage bounds one page of requests.
const MaxRequestPage = 500

// SubjectBlock is what stops processing for one subject (by blind index,
// so that it holds before the subject exists and after it was erased):
// the tombstone of an erasure, a restriction (Art. 18) or an objection to
// one purpose (Art. 21).
type SubjectBlock struct {
	Tenant    TenantID
	Index     []byte
	Kind      string // BlockErased, BlockRestricted, BlockObjection
	Purpose   string // objection: the purpose; "" otherwise
	Since     time.Time
	RequestID string
}

// Subject block kinds.
const (
	BlockErased     = "erased"
	BlockRestricted = "restricted"
	BlockObjection  = "objection"
)

// Delivery is one signed webhook to send for a request: an erasure notice
// to a recipient of the register (Art. 19), or an OpenDSR status callback.
// Its body may name the subject, so it is sealed under a tenant data key
// and dropped once delivered or given up.
type Delivery struct {
	Tenant      TenantID
	RequestID   string
	Seq         int
	Kind        string // DeliveryRecipient or DeliveryCallback
	Recipient   string // recipient name, or the callback URL's host
	Endpoint    string
	SealedBody  []byte
	KeyVersion  uint32
	Status      string // pending, delivered, dead
	Attempts    int
	NextAt      time.Time
	LastError   string // fixed code: http_503, timeout, …
	DeliveredAt time.Time
}

// Delivery kinds and statuses.
const (
	DeliveryRecipient = "recipient"
	DeliveryCallback  = "callback"
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)
