package garde

import (
	"context"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// LedgerLeaf is one entry of a tenant's log as it is stored.
type LedgerLeaf struct {
	Index int64
	Kind  string // LeafConsent or LeafAudit
	// Record is ledger.Commit(salt, content): what the Merkle tree hashes.
	Record []byte
	// Salt and Content are kept in the clear for audit entries, which hold
	// no personal data, so that anyone can check them against Record. They
	// are nil for consent entries, whose salt and content are sealed under
	// the subject's key in the consent record (ConsentRecord.Sealed).
	Salt, Content []byte
	CreatedAt     time.Time
}

// SignedCheckpoint is a checkpoint of a tenant's log, signed by the
// tenant's ledger key, in the signed-note format of Go's checksum database.
type SignedCheckpoint struct {
	Size      int64
	Note      []byte
	CreatedAt time.Time
	// Origin is the log identity that signed it, set by the signer (data
	// stores need not keep it: it is in Note).
	Origin string
}

// LedgerKey is a tenant's checkpoint signing key. The signer (private) key
// is only ever stored sealed under a tenant data key; the verifier (public)
// key is stored in the clear and published.
type LedgerKey struct {
	Tenant       TenantID
	Verifier     string // note verifier key: garde/<tenant>+<hash>+<key>
	SealedSigner []byte // note signer key sealed under tenant data key KeyVersion
	KeyVersion   uint32
	CreatedAt    time.Time
}

// Store is what a storage backend provides: transactions. Each use case runs
// in one transaction, so that nothing is ever half-written.
type Store interface {
	// Update runs fn in a read-write transaction, committed if fn returns
	// nil and rolled back otherwise.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Ping checks that the database answers, for readiness probes.
	Ping(ctx context.Context) error
	Close() error
}

// AuditLedger is a store whose write transactions put every audit event on
// its tenant's log, in the same transaction (package trail's OnLedger). The
// kernel accepts no other: nothing can be audited off the ledger.
type AuditLedger interface {
	Store
	AuditsOnLedger()
	// Unwrap returns the storage backend below.
	Unwrap() Store
}

// Tx is one transaction: the unit of work. It is the stores of every
// aggregate together, so that a use case that touches several (an erasure
// purges messages and consents and closes requests) commits them all or
// none. Every method names its tenant explicitly: no query ever crosses
// tenants, and a backend never infers the tenant from context.
type Tx interface {
	TenantStore
	RegisterStore
	MessageStore
	AuditStore
	LedgerStore
	ConsentStore
	RightsStore
	BreachStore
}

// TenantStore holds the tenants and their API keys.
type TenantStore interface {
	CreateTenant(ctx context.Context, t Tenant) error
	Tenant(ctx context.Context, id TenantID) (Tenant, error)
	Tenants(ctx context.Context) ([]Tenant, error)
	CreateAPIKey(ctx context.Context, k APIKey) error
	// APIKeyByPrefix finds a key by its public prefix. It is the one lookup
	// that does not start from a tenant: the credential is what names it.
	APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, error)
	APIKeys(ctx context.Context, tenant TenantID) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, tenant TenantID, id string, at time.Time) error
}

// RegisterStore holds the versions of each tenant's register of processing.
type RegisterStore interface {
	PutRegister(ctx context.Context, tenant TenantID, r RegisterVersion) error
	// Register returns version v of the tenant's register, or the latest
	// when v is 0.
	Register(ctx context.Context, tenant TenantID, v int) (RegisterVersion, error)
	// RegisterVersionNumber returns the latest version number (0 if none).
	RegisterVersionNumber(ctx context.Context, tenant TenantID) (int, error)
}

// MessageStore holds subjects (opaque ids and blind indexes) and their sealed
// messages.
type MessageStore interface {
	// SubjectByIndex finds a subject by the blind index of its identifier.
	SubjectByIndex(ctx context.Context, tenant TenantID, index []byte) (SubjectRecord, error)
	// SubjectsByIndex finds the subjects among the given blind indexes, in
	// one query; indexes with no subject are simply absent from the result.
	SubjectsByIndex(ctx context.Context, tenant TenantID, indexes [][]byte) ([]SubjectRecord, error)
	CreateSubject(ctx context.Context, s SubjectRecord) error
	// Subjects lists subjects in id order after the given id, for batch
	// jobs such as key rotation.
	Subjects(ctx context.Context, tenant TenantID, after string, limit int) ([]SubjectRecord, error)
	// DeleteSubject deletes the subject row and with it the blind index.
	DeleteSubject(ctx context.Context, tenant TenantID, subjectID string) error
	InsertMessages(ctx context.Context, ms []Message) error
	// Messages lists a subject's messages collected for one purpose, oldest
	// first.
	Messages(ctx context.Context, tenant TenantID, subjectID, purpose string) ([]Message, error)
	// SubjectMessages lists a subject's messages of every purpose in id
	// order after the given id (exports, erasure).
	SubjectMessages(ctx context.Context, tenant TenantID, subjectID, after string, limit int) ([]Message, error)
	// MessageByID returns one message.
	MessageByID(ctx context.Context, tenant TenantID, id string) (Message, error)
	// UpdateMessage replaces a message's sealed text, fields (nil: none)
	// and span record (nil: none — the old record described, and may hold
	// sealed originals of, the old text).
	UpdateMessage(ctx context.Context, tenant TenantID, id string, sealedText, sealedFields, sealedSpans []byte) error
	// DeleteMessages deletes a subject's messages of one purpose and says
	// how many there were.
	DeleteMessages(ctx context.Context, tenant TenantID, subjectID, purpose string) (int, error)
	// DeleteMessagesBefore deletes those collected at or before the time
	// (replaying a withdrawal's erasure on a restored data store).
	DeleteMessagesBefore(ctx context.Context, tenant TenantID, subjectID, purpose string, before time.Time) (int, error)
	// DeleteSubjectMessages deletes up to limit of a subject's messages and
	// says how many it deleted.
	DeleteSubjectMessages(ctx context.Context, tenant TenantID, subjectID string, limit int) (int, error)
	// DeleteExpiredMessages deletes up to limit messages whose expires_at
	// is before now and returns how many per purpose.
	DeleteExpiredMessages(ctx context.Context, tenant TenantID, now time.Time, limit int) (map[string]int, error)
}

// AuditStore holds the audit trail (each event is also a leaf of the tenant's
// log: the kernel appends both in one transaction).
type AuditStore interface {
	AppendAudit(ctx context.Context, events []AuditEvent) error
	Audit(ctx context.Context, tenant TenantID, f AuditFilter) ([]AuditEvent, error)
}

// LedgerStore holds each tenant's append-only Merkle log: leaves, stored
// hashes, signed checkpoints and the signing key.
type LedgerStore interface {
	// LedgerHead returns the size of the tenant's log, 0 when it has no
	// entry yet. In a read-write transaction a backend that allows
	// concurrent writers (PostgreSQL) must lock the head row here (SELECT
	// … FOR UPDATE, after inserting a size-0 row if there is none), so that
	// appends to one tenant's log are serialised across nodes. SQLite
	// serialises every write transaction already (BEGIN IMMEDIATE).
	LedgerHead(ctx context.Context, tenant TenantID) (int64, error)
	// AppendLedger writes leaves (whose Index fields run from oldSize on),
	// the stored hashes that belong at consecutive stored-hash indexes from
	// tlog.StoredHashIndex(0, oldSize), and sets the head to
	// oldSize+len(leaves) — only if the head is still oldSize (a missing
	// head counts as 0). Otherwise nothing is written and the error is an
	// ErrConflict: another node appended first.
	AppendLedger(ctx context.Context, tenant TenantID, oldSize int64, leaves []LedgerLeaf, hashes []tlog.Hash) error
	// LedgerHashes returns the stored hashes at the given stored-hash
	// indexes, in the same order. A missing index is an ErrNotFound.
	LedgerHashes(ctx context.Context, tenant TenantID, indexes []int64) ([]tlog.Hash, error)
	// LedgerLeaves returns up to limit leaves with Index >= from, in index
	// order, as they are stored (verification relies on seeing gaps and
	// extra rows, so nothing is filtered or renumbered).
	LedgerLeaves(ctx context.Context, tenant TenantID, from int64, limit int) ([]LedgerLeaf, error)
	// PutCheckpoint stores a signed checkpoint. A second checkpoint of the
	// same size is ignored (it is the same text under the same key).
	PutCheckpoint(ctx context.Context, tenant TenantID, c SignedCheckpoint) error
	// LatestCheckpoint returns the checkpoint of the largest size, or an
	// ErrNotFound.
	LatestCheckpoint(ctx context.Context, tenant TenantID) (SignedCheckpoint, error)
	// CheckpointAt returns the checkpoint of exactly that size, or an
	// ErrNotFound.
	CheckpointAt(ctx context.Context, tenant TenantID, size int64) (SignedCheckpoint, error)
	// Checkpoints returns every checkpoint of the tenant's log, by size.
	Checkpoints(ctx context.Context, tenant TenantID) ([]SignedCheckpoint, error)
	// PutLedgerKey stores the tenant's signing key; ErrConflict if it
	// already has one.
	PutLedgerKey(ctx context.Context, k LedgerKey) error
	// LedgerKey returns the tenant's signing key, or an ErrNotFound.
	LedgerKey(ctx context.Context, tenant TenantID) (LedgerKey, error)
}

// ConsentStore holds notices and consent events (their leaves are on the
// ledger).
type ConsentStore interface {
	// PutNotice stores a notice version; ErrConflict if that (purpose,
	// language, version) exists.
	PutNotice(ctx context.Context, n Notice) error
	// Notices lists the notices of a purpose, by language then version.
	Notices(ctx context.Context, tenant TenantID, purpose string) ([]Notice, error)
	// InsertConsents stores consent events.
	InsertConsents(ctx context.Context, cs []ConsentRecord) error
	// SubjectConsents lists a subject's consent events in log order
	// (LeafIndex ascending), every purpose.
	SubjectConsents(ctx context.Context, tenant TenantID, subjectID string) ([]ConsentRecord, error)
	// LatestConsent returns the subject's consent event for purpose with
	// the largest LeafIndex, or an ErrNotFound.
	LatestConsent(ctx context.Context, tenant TenantID, subjectID, purpose string) (ConsentRecord, error)
	// DeleteSubjectConsents deletes a subject's consent rows (their ledger
	// leaves, commitments only, stay) and says how many.
	DeleteSubjectConsents(ctx context.Context, tenant TenantID, subjectID string) (int, error)
}

// RightsStore holds data-subject requests, the blocks they put on subjects
// (erased, restricted, objection), deliveries, alarms and leases. Every
// method names its tenant except RequestByToken and AcquireLease, which
// start from no tenant (a token's holder has no credential; a lease is the
// deployment's).
type RightsStore interface {
	// InsertRequest stores a new request; ErrConflict on a duplicate id
	// or a duplicate (tenant, external id).
	InsertRequest(ctx context.Context, r RightsRequest) error
	// UpdateRequest replaces every mutable field of a stored request.
	UpdateRequest(ctx context.Context, r RightsRequest) error
	Request(ctx context.Context, tenant TenantID, id string) (RightsRequest, error)
	// RequestByExternalID finds an OpenDSR request by its
	// subject_request_id.
	RequestByExternalID(ctx context.Context, tenant TenantID, externalID string) (RightsRequest, error)
	// RequestByToken finds the request whose verification token hashes to
	// tokenHash, in any tenant.
	RequestByToken(ctx context.Context, tokenHash []byte) (RightsRequest, error)
	// Requests lists a tenant's requests in id order.
	Requests(ctx context.Context, tenant TenantID, f RequestFilter) ([]RightsRequest, error)
	// RequestsBySubject lists the requests about one subject (blind index).
	RequestsBySubject(ctx context.Context, tenant TenantID, index []byte) ([]RightsRequest, error)
	// PutSubjectBlock inserts or replaces a block (key: tenant, index,
	// kind, purpose).
	PutSubjectBlock(ctx context.Context, b SubjectBlock) error
	// DeleteSubjectBlocks removes a subject's blocks of one kind.
	DeleteSubjectBlocks(ctx context.Context, tenant TenantID, index []byte, kind string) error
	// SubjectBlocks returns the blocks of the given subjects.
	SubjectBlocks(ctx context.Context, tenant TenantID, indexes [][]byte) ([]SubjectBlock, error)
	// InsertDeliveries stores deliveries; UpdateDelivery replaces the
	// mutable fields of one.
	InsertDeliveries(ctx context.Context, ds []Delivery) error
	UpdateDelivery(ctx context.Context, d Delivery) error
	// Deliveries lists a request's deliveries in Seq order.
	Deliveries(ctx context.Context, tenant TenantID, requestID string) ([]Delivery, error)
	// DueDeliveries lists pending deliveries whose NextAt is not after now.
	DueDeliveries(ctx context.Context, tenant TenantID, now time.Time, limit int) ([]Delivery, error)
	// ClaimRequestAlarm claims sending one alarm (kind due_soon or
	// overdue) of a request for node until leaseUntil: true if it inserted
	// the claim, or took over an unsent one whose lease expired at now.
	ClaimRequestAlarm(ctx context.Context, tenant TenantID, requestID, kind, node string, now, leaseUntil time.Time) (bool, error)
	// CompleteRequestAlarm marks a claimed alarm sent.
	CompleteRequestAlarm(ctx context.Context, tenant TenantID, requestID, kind string, sentAt time.Time) error
	// AcquireLease takes or renews the named lease for node until `until`
	// when it is free, expired at now, or already node's.
	AcquireLease(ctx context.Context, name, node string, now, until time.Time) (bool, error)
}

// BreachStore holds the breach register and its escalations.
type BreachStore interface {
	// CreateBreach stores a new breach: the owner's row (r.Tenant ==
	// r.Owner, with r.Tenants) and one row per affected tenant (Tenant =
	// that tenant, same ID, Owner and CreatedAt, no Tenants, no
	// DetectorKey). A second breach of the same owner with the same
	// non-empty DetectorKey is ErrConflict.
	CreateBreach(ctx context.Context, r BreachRecord) error
	// AddBreachTenants replaces the owner's list of affected tenants with
	// tenants and inserts a row for each tenant that has none yet.
	AddBreachTenants(ctx context.Context, owner TenantID, id string, tenants []TenantID) error
	// Breach returns the tenant's row of breach id, or ErrNotFound.
	Breach(ctx context.Context, tenant TenantID, id string) (BreachRecord, error)
	// Breaches lists the tenant's rows (owned and affecting it), newest
	// first (created_at descending, then id descending).
	Breaches(ctx context.Context, tenant TenantID) ([]BreachRecord, error)
	// AppendBreachEvent stores an event written by tenant (e.Tenant). The
	// pair (tenant, breach, seq) is unique: a duplicate is ErrConflict.
	AppendBreachEvent(ctx context.Context, e BreachEvent) error
	// BreachEvents returns the events tenant wrote on breach id, by seq.
	BreachEvents(ctx context.Context, tenant TenantID, id string) ([]BreachEvent, error)
	// ClaimEscalation claims the sending of one escalation for node until
	// leaseUntil. It inserts the row (tenant, breach, point, channel) and
	// returns true; if the row exists and is unsent with a lease that has
	// expired at now, it takes the lease over (attempts+1) and returns
	// true; otherwise it changes nothing and returns false. One statement
	// (INSERT … ON CONFLICT DO UPDATE … WHERE), so that two nodes never
	// both hold a live lease.
	ClaimEscalation(ctx context.Context, tenant TenantID, k EscalationKey, node string, now, leaseUntil time.Time) (bool, error)
	// CompleteEscalation marks a claimed escalation sent at sentAt.
	CompleteEscalation(ctx context.Context, tenant TenantID, k EscalationKey, sentAt time.Time) error
	// Escalations lists the escalations recorded for tenant on breach id,
	// by point then channel.
	Escalations(ctx context.Context, tenant TenantID, id string) ([]EscalationRecord, error)
}

// CheckpointStore keeps every checkpoint garde signs, and the chain of log
// identities (epochs) of each tenant, outside the data store.
type CheckpointStore interface {
	// RecordCheckpoint records a checkpoint before it is published,
	// pending until MarkPublished. A checkpoint of the same origin and
	// size is kept once: recording the same root again is not an error
	// (inserted is false); another root is an ErrConflict, so that the
	// store itself never holds two trees for one size under one origin.
	RecordCheckpoint(ctx context.Context, tenant TenantID, c RecordedCheckpoint) (inserted bool, err error)
	// MarkPublished marks a recorded checkpoint as committed to the data
	// store, hence possibly handed out; ErrNotFound if it is not recorded.
	MarkPublished(ctx context.Context, tenant TenantID, origin string, size int64) error
	// ForgetCheckpoint removes a pending checkpoint (never a published
	// one): one whose transaction did not commit, never handed out.
	ForgetCheckpoint(ctx context.Context, tenant TenantID, origin string, size int64, root tlog.Hash) error
	// LatestRecorded returns the published checkpoint of the largest size
	// under origin, or an ErrNotFound.
	LatestRecorded(ctx context.Context, tenant TenantID, origin string) (RecordedCheckpoint, error)
	// PendingCheckpoints returns the pending checkpoints under origin.
	PendingCheckpoints(ctx context.Context, tenant TenantID, origin string) ([]RecordedCheckpoint, error)
	// RecordedTenants lists every tenant with a recorded checkpoint.
	RecordedTenants(ctx context.Context) ([]TenantID, error)
	// PutEpoch records a new epoch of a tenant's log; ErrConflict if that
	// epoch number exists.
	PutEpoch(ctx context.Context, e LedgerEpoch) error
	// ForgetEpoch removes an epoch that PutEpoch recorded for a transaction
	// that then failed.
	ForgetEpoch(ctx context.Context, tenant TenantID, number int) error
	// Epochs returns the tenant's epochs from 2 on, by number (none while
	// the log still has its first identity).
	Epochs(ctx context.Context, tenant TenantID) ([]LedgerEpoch, error)
}

// RecordedCheckpoint is a signed checkpoint as the CheckpointStore keeps
// it: the parsed origin, size and root next to the signed note.
type RecordedCheckpoint struct {
	Origin    string
	Size      int64
	Root      tlog.Hash
	Note      []byte
	CreatedAt time.Time
	// Pending is set from recording until the data store committed it: a
	// crash in between leaves a pending checkpoint that nobody was given,
	// which must not block the log forever.
	Pending bool
}

// LedgerEpoch is one log identity of a tenant after the first: the same
// Merkle tree (the leaves stay where they are), signed from StartSize on
// under a new origin and a new key. Epoch 1 is the log's first identity
// (origin garde/<tenant>, the ledger key of the data store) and has no row.
type LedgerEpoch struct {
	Tenant       TenantID
	Number       int    // 2, 3, …
	Origin       string // garde/<tenant>/e<Number>
	Verifier     string
	SealedSigner []byte // note signer key sealed under tenant data key KeyVersion
	KeyVersion   uint32
	// The previous identity, and the largest checkpoint recorded under it
	// (nil if it never signed one): where the old history ends.
	PrevOrigin, PrevVerifier string
	PrevCheckpoint           []byte
	// PrevClosed is true when the old identity could still sign its last
	// checkpoint over the epoch-end leaf (the log had not gone backwards).
	PrevClosed bool
	StartSize  int64 // leaves before the epoch-start leaf
	CreatedAt  time.Time
}
