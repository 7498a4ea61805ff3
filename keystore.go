package garde

import (
	"context"
	"time"
)

// The key store holds every key that opens personal data — the tenant keys
// (wrapped under the master key) and the subject data keys (wrapped under a
// tenant data key) — apart from the data store, together with the journal
// of destructive operations.
//
// Why apart: a key kept beside the data it opens is copied with it. With
// the subject keys in the data store, every backup, replica, dump, freed
// page or WAL frame taken before an erasure still opens the erased
// subject's data with the master key. With the keys apart, no copy of the
// data store holds anything that opens anything; what an erasure must reach
// is the key store alone, which is small, kept beside the master key, and
// scrubbed after each destruction (package sqlite: secure_delete and a WAL
// checkpoint(TRUNCATE) retried until it succeeds; package postgres: a schema
// of its own, vacuumed, with the residue stated in docs/security.md).
//
// The key store and the data store are two stores, never one transaction,
// so the order of their commits is the design:
//   - keys are created before the data they seal is committed (a key whose
//     data never committed is an orphan that opens nothing);
//   - keys are destroyed after the data store has committed the decision
//     (the tombstone that refuses every later write), and the destruction
//     and its journal entry commit together in the key store;
//   - the journal is replayed at every start and restore, so a data store
//     older than the journal is brought back in line (ReplayJournal).
type KeyStore interface {
	// AddTenantKeys inserts tenant key versions, all or none; a version
	// that exists already is a conflict (ErrConflict): two rotations of
	// one tenant cannot both create its next version.
	AddTenantKeys(ctx context.Context, keys []TenantKey) error
	// RewrapTenantKeys replaces the wrapping of existing tenant key
	// versions (after a master key rotation); a key destroyed meanwhile (an
	// off-boarding) stays destroyed.
	RewrapTenantKeys(ctx context.Context, keys []TenantKey) error
	TenantKeys(ctx context.Context, tenant TenantID) ([]TenantKey, error)

	// AddSubjectKeys inserts subject keys; a (tenant, subject) that already
	// has one is a conflict (ErrConflict) and nothing is written.
	AddSubjectKeys(ctx context.Context, keys []SubjectKey) error
	// SubjectKeys returns the keys of the given subjects; a subject whose
	// key was destroyed (or never committed) is absent.
	SubjectKeys(ctx context.Context, tenant TenantID, ids []string) ([]SubjectKey, error)
	// ListSubjectKeys lists a tenant's subject keys in subject order after
	// the given id (rotation).
	ListSubjectKeys(ctx context.Context, tenant TenantID, after string, limit int) ([]SubjectKey, error)
	// RewrapSubjectKeys replaces the wrapping of existing subject keys in
	// one transaction; a key destroyed meanwhile stays destroyed.
	RewrapSubjectKeys(ctx context.Context, keys []SubjectKey) error

	// Record appends entries to the journal and, in the same transaction,
	// destroys the keys they name: a JournalErase entry the subject's key,
	// a JournalOffboard entry every key of the tenant. An entry whose
	// (tenant, kind, subject, request) is already journalled is not
	// appended twice, but its keys are destroyed again (idempotent).
	Record(ctx context.Context, entries []JournalEntry) error
	// Journal lists the entries after seq, in order.
	Journal(ctx context.Context, after int64) ([]JournalEntry, error)

	// Scrub wipes what the store's own log still holds of destroyed keys.
	Scrub(ctx context.Context) error
}

// KeyStoreProvider is a Store that comes with its key store (both packages
// sqlite and postgres open one beside the data store).
type KeyStoreProvider interface {
	KeyStore() KeyStore
}

// CheckpointStoreProvider is a Store that keeps signed checkpoints apart
// from the data, with its key store (epoch.go).
type CheckpointStoreProvider interface {
	CheckpointStore() CheckpointStore
}

// SubjectKey is a subject's data key, wrapped under version Version of its
// tenant's data key.
type SubjectKey struct {
	Tenant    TenantID
	Subject   string
	Wrapped   []byte
	Version   uint32
	CreatedAt time.Time
}

// JournalEntry is one destructive operation, kept in the key store: what a
// restore of an older data store must do again. It holds no personal data:
// subjects are opaque ids, Index is a keyed hash of the identifier.
type JournalEntry struct {
	Seq     int64
	Kind    string
	Tenant  TenantID
	Subject string    // opaque subject id (erase, withdrawal)
	Index   []byte    // blind index of the identifier (erase)
	Purpose string    // withdrawal: the purpose withdrawn
	Request string    // erase: the rights request
	At      time.Time // when it committed: for purges and withdrawals, the cut-off
}

// Journal entry kinds.
const (
	// JournalErase destroys a subject's key; replay re-writes the
	// tombstone and purges the subject's rows.
	JournalErase = "erase"
	// JournalOffboard destroys every key of a tenant.
	JournalOffboard = "offboard"
	// JournalWithdrawErase erased a subject's messages for a purpose when
	// consent was withdrawn; replay deletes those collected before At.
	JournalWithdrawErase = "withdraw_erase"
	// JournalWithdrawAnonymize anonymised them; replay anonymises again
	// those collected before At.
	JournalWithdrawAnonymize = "withdraw_anonymize"
	// JournalRetentionPurge deleted a tenant's messages whose retention
	// ended at or before At; replay deletes them again.
	JournalRetentionPurge = "retention_purge"
	// JournalKeyBackup records a key store backup: Purpose holds the
	// master key version that seals it, At its expiry. It destroys
	// nothing; it keeps that master version from being retired before
	// the backup expired (MasterVersionsInUse).
	JournalKeyBackup = "key_backup"
)
