package trail

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// One log identity, one history. A restored backup brings a tenant's log
// back to an older size, with the same origin and key: left alone, garde
// would sign a second tree of a size it had already signed, and both would
// verify. So every checkpoint garde signs is first recorded in a
// CheckpointStore kept apart from the data store (beside the key store:
// DATA-DIR/keys.db, or the garde_keys schema), which a restore of the data
// store does not roll back. Before signing, the checkpoint is compared with
// the largest one recorded for its origin: if that one is not a prefix of
// the tree about to be signed (same size and another root, or a larger
// size: the log went backwards), garde refuses to sign until the operator
// starts a new epoch — a new origin and key — with `garde restore
// --new-epoch` or `garde ledger new-epoch`.

// LeafEpoch is the kind of the leaves that record a change of log
// identity. Their salt and content are kept in the clear, as for audit
// entries: they hold keys and origins, no personal data.
const LeafEpoch = "epoch"

// epochContent is the canonical content of an epoch leaf. Event "end" is
// the old identity's last leaf (signed by the old key); "start" is the new
// identity's first (signed by the new key).
type epochContent struct {
	V              int    `json:"v"`
	Event          string `json:"event"`
	At             string `json:"at"`
	Origin         string `json:"origin"`
	Verifier       string `json:"verifier"`
	NextOrigin     string `json:"next_origin,omitempty"`
	NextVerifier   string `json:"next_verifier,omitempty"`
	PrevOrigin     string `json:"prev_origin,omitempty"`
	PrevVerifier   string `json:"prev_verifier,omitempty"`
	PrevCheckpoint string `json:"prev_checkpoint,omitempty"`
}

// ErrLedgerFork marks a checkpoint garde refuses to sign because the
// CheckpointStore holds one of the same identity that is not a prefix of
// this tree. It is an ErrConflict.
var ErrLedgerFork = fmt.Errorf("the ledger would sign a second history under one identity: %w", garde.ErrConflict)

// EpochOrigin is the origin of a tenant's log in epoch n: garde/<tenant>
// for the first, garde/<tenant>/e<n> after.
func EpochOrigin(tenant garde.TenantID, n int) string {
	if n <= 1 {
		return ledger.TenantOrigin(string(tenant))
	}
	return ledger.TenantOrigin(string(tenant)) + "/e" + strconv.Itoa(n)
}

// OriginEpoch returns the epoch number of origin if it is one of the
// tenant's log origins, 0 if it is not.
func OriginEpoch(tenant, origin string) int {
	base := ledger.TenantOrigin(tenant)
	if origin == base {
		return 1
	}
	rest, ok := strings.CutPrefix(origin, base+"/e")
	if !ok || rest == "" || rest[0] == '0' {
		return 0
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 2 || strconv.Itoa(n) != rest {
		return 0
	}
	return n
}

// logIdentity is who signs a tenant's checkpoints now.
type logIdentity struct {
	epoch      int
	origin     string
	verifier   string
	sealed     []byte
	keyVersion uint32
	ad         keyring.AD
}

func epochSignerAD(t garde.TenantID, origin string) keyring.AD {
	return keyring.AD{Tenant: string(t), Field: "ledger-signer/" + origin}
}

// LogIdentity returns the tenant's current log identity: its latest
// epoch, or the first identity (creating its key when create is set).
func (s *Service) LogIdentity(ctx context.Context, tx garde.Tx, tenant garde.TenantID, create bool) (logIdentity, error) {
	if cs := s.CheckpointStore(); cs != nil {
		es, err := cs.Epochs(ctx, tenant)
		if err != nil {
			return logIdentity{}, fmt.Errorf("ledger epochs: %w", err)
		}
		if len(es) > 0 {
			e := es[len(es)-1]
			return logIdentity{epoch: e.Number, origin: e.Origin, verifier: e.Verifier, sealed: e.SealedSigner, keyVersion: e.KeyVersion, ad: epochSignerAD(tenant, e.Origin)}, nil
		}
	}
	k, err := s.ledgerKey(ctx, tx, tenant, create)
	if err != nil {
		return logIdentity{}, err
	}
	return logIdentity{epoch: 1, origin: EpochOrigin(tenant, 1), verifier: k.Verifier, sealed: k.SealedSigner, keyVersion: k.KeyVersion, ad: ledgerSignerAD(tenant)}, nil
}

// checkLineage refuses a checkpoint of the tree r reads at size, under
// origin, unless the largest checkpoint recorded for origin is a prefix of
// that tree.
//
// A pending record (recorded, then the process died before or while its
// transaction committed) counts if the data store has that very
// checkpoint, and is a phantom nobody was given otherwise: a checkpoint is
// marked published after its commit and before anyone gets it, and one
// read back from the data store is marked before it is served. With fix
// (the caller holds the tenant's log: a write transaction), phantoms are
// removed and the others marked.
func checkLineage(ctx context.Context, cs garde.CheckpointStore, tx garde.Tx, tenant garde.TenantID, origin string, size int64, r tlog.HashReader, fix bool) error {
	last, err := cs.LatestRecorded(ctx, tenant, origin)
	found := err == nil
	if err != nil && !errors.Is(err, garde.ErrNotFound) {
		return fmt.Errorf("recorded checkpoints: %w", err)
	}
	pending, err := cs.PendingCheckpoints(ctx, tenant, origin)
	if err != nil {
		return fmt.Errorf("recorded checkpoints: %w", err)
	}
	for _, p := range pending {
		_, err := tx.CheckpointAt(ctx, tenant, p.Size)
		if err != nil && !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		if errors.Is(err, garde.ErrNotFound) {
			if fix {
				if err := cs.ForgetCheckpoint(ctx, tenant, origin, p.Size, p.Root); err != nil {
					return fmt.Errorf("forget a checkpoint never published: %w", err)
				}
			}
			continue
		}
		// In the data store: it may have been handed out. (Another note at
		// that size counts too: err on the side of refusing.)
		if fix {
			if err := cs.MarkPublished(ctx, tenant, origin, p.Size); err != nil {
				return fmt.Errorf("recorded checkpoints: %w", err)
			}
		}
		if !found || p.Size > last.Size {
			last, found = p, true
		}
	}
	if !found {
		return nil
	}
	if last.Size > size {
		return fmt.Errorf("%w: tenant %s: log %s signed size %d, the log now has %d entries (a restored backup?): run garde restore --new-epoch or garde ledger new-epoch",
			ErrLedgerFork, tenant, origin, last.Size, size)
	}
	root, err := ledger.TreeHash(last.Size, r)
	if err != nil {
		return err
	}
	if root != last.Root {
		return fmt.Errorf("%w: tenant %s: log %s signed size %d with another root than the log has now (a restored backup?): run garde restore --new-epoch or garde ledger new-epoch",
			ErrLedgerFork, tenant, origin, last.Size)
	}
	return nil
}

// record records a checkpoint about to be stored and published in the
// checkpoint store, pending; it is marked published once the transaction
// commits, and forgotten if it does not.
func (s *Service) record(ctx context.Context, tx garde.Tx, tenant garde.TenantID, c ledger.Checkpoint, note []byte) error {
	cs := s.CheckpointStore()
	if cs == nil {
		return nil
	}
	inserted, err := cs.RecordCheckpoint(ctx, tenant, garde.RecordedCheckpoint{Origin: c.Origin, Size: c.Size, Root: c.Hash, Note: note, CreatedAt: s.Now(), Pending: true})
	if errors.Is(err, garde.ErrConflict) {
		return fmt.Errorf("%w: tenant %s: log %s already signed size %d with another root", ErrLedgerFork, tenant, c.Origin, c.Size)
	}
	if err != nil {
		return fmt.Errorf("record checkpoint: %w", err)
	}
	if inserted {
		OnAbort(tx, func(ctx context.Context) { cs.ForgetCheckpoint(ctx, tenant, c.Origin, c.Size, c.Hash) })
	}
	OnCommit(tx, func(ctx context.Context) error { return cs.MarkPublished(ctx, tenant, c.Origin, c.Size) })
	return nil
}

// published makes sure a checkpoint read back from the data store is
// recorded as published before it is served again (a checkpoint signed
// before the checkpoint store existed is recorded now). It refuses one
// that conflicts with the record.
func (s *Service) published(ctx context.Context, tenant garde.TenantID, note []byte) error {
	cs := s.CheckpointStore()
	if cs == nil || note == nil {
		return nil
	}
	c, err := ledger.PeekCheckpoint(note)
	if err != nil {
		return err
	}
	_, err = cs.RecordCheckpoint(ctx, tenant, garde.RecordedCheckpoint{Origin: c.Origin, Size: c.Size, Root: c.Hash, Note: note, CreatedAt: s.Now()})
	if errors.Is(err, garde.ErrConflict) {
		return fmt.Errorf("%w: tenant %s: log %s already signed size %d with another root", ErrLedgerFork, tenant, c.Origin, c.Size)
	}
	if err != nil {
		return fmt.Errorf("record checkpoint: %w", err)
	}
	return cs.MarkPublished(ctx, tenant, c.Origin, c.Size)
}

// LedgerFork is a tenant whose log garde refuses to sign.
type LedgerFork struct {
	Tenant garde.TenantID
	Origin string
	Reason string
}

// LedgerForks checks every tenant's log against the checkpoint store, as
// `garde serve` does at start: it lists the tenants whose next checkpoint
// garde would refuse to sign, because the log is shorter than, or differs
// from, a checkpoint it already signed. A log whose identity the store has
// no record of yet (signed before the store existed) gets its latest
// checkpoint recorded now, so that a restore from then on is caught.
func (s *Service) LedgerForks(ctx context.Context) ([]LedgerFork, error) {
	cs := s.CheckpointStore()
	if cs == nil {
		return nil, nil
	}
	tenants, err := cs.RecordedTenants(ctx)
	if err != nil {
		return nil, err
	}
	known := map[garde.TenantID]bool{}
	for _, tn := range tenants {
		known[tn] = true
	}
	var unrecorded []garde.SignedCheckpoint
	var unrecordedTenants []garde.TenantID
	err = s.Store.View(ctx, func(tx garde.Tx) error {
		ts, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if known[t.ID] {
				continue
			}
			c, err := tx.LatestCheckpoint(ctx, t.ID)
			if errors.Is(err, garde.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			unrecorded, unrecordedTenants = append(unrecorded, c), append(unrecordedTenants, t.ID)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, c := range unrecorded {
		if err := s.published(ctx, unrecordedTenants[i], c.Note); err != nil {
			return nil, fmt.Errorf("tenant %s: %w", unrecordedTenants[i], err)
		}
	}
	var out []LedgerFork
	for _, tn := range tenants {
		err := s.Store.View(ctx, func(tx garde.Tx) error {
			// A tenant this database does not have (a backup older than
			// it) has nothing left to sign.
			if _, err := tx.Tenant(ctx, tn); errors.Is(err, garde.ErrNotFound) {
				return nil
			} else if err != nil {
				return err
			}
			id, err := s.LogIdentity(ctx, tx, tn, false)
			if errors.Is(err, garde.ErrNotFound) {
				id, err = logIdentity{epoch: 1, origin: EpochOrigin(tn, 1)}, nil
			}
			if err != nil {
				return err
			}
			head, err := tx.LedgerHead(ctx, tn)
			if err != nil {
				return err
			}
			r := NewHashReader(ctx, tx, tn, NewLogState())
			if err := checkLineage(ctx, cs, tx, tn, id.origin, head, r, false); err != nil {
				if !errors.Is(err, ErrLedgerFork) {
					return err
				}
				out = append(out, LedgerFork{Tenant: tn, Origin: id.origin, Reason: err.Error()})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", tn, err)
		}
	}
	return out, nil
}

// NewLedgerEpoch starts a new identity for the tenant's log: a new origin
// and a new key, so that what is signed from now on can never be confused
// with a history the old identity signed and this database lost. If the
// old identity can still sign consistently, it signs one last checkpoint
// over an epoch-end leaf naming the new origin and key; either way an
// epoch-start leaf names the old origin, key and the largest checkpoint
// the store held under it, and the new key signs it first.
func (s *Service) NewLedgerEpoch(ctx context.Context, tenant garde.TenantID) (garde.LedgerEpoch, error) {
	cs := s.CheckpointStore()
	if cs == nil {
		return garde.LedgerEpoch{}, garde.Errorf(garde.ErrInvalid, "no checkpoint store: a new ledger epoch needs one")
	}
	var out garde.LedgerEpoch
	err := s.Update(ctx, func(tx garde.Tx) error {
		old, err := s.LogIdentity(ctx, tx, tenant, true)
		if err != nil {
			return err
		}
		st, err := LogFor(ctx, tx, tenant)
		if err != nil {
			return err
		}
		r := NewHashReader(ctx, tx, tenant, st)
		lineage := checkLineage(ctx, cs, tx, tenant, old.origin, st.size, r, true)
		if lineage != nil && !errors.Is(lineage, ErrLedgerFork) {
			return lineage
		}
		var prev []byte
		if last, err := cs.LatestRecorded(ctx, tenant, old.origin); err == nil {
			prev = last.Note
		} else if !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		n := old.epoch + 1
		origin := EpochOrigin(tenant, n)
		signer, verifier, err := ledger.GenerateKey(origin)
		if err != nil {
			return err
		}
		tk, err := s.TenantKeys(ctx, tx, tenant, 0)
		if err != nil {
			return err
		}
		sealed, err := tk.Data[tk.Current].Seal([]byte(signer), epochSignerAD(tenant, origin))
		if err != nil {
			return err
		}
		now := s.Now()
		at := now.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
		closed := lineage == nil
		if closed {
			if err := appendEpochLeaf(ctx, tx, tenant, now, epochContent{V: 1, Event: "end", At: at, Origin: old.origin, Verifier: old.verifier, NextOrigin: origin, NextVerifier: verifier}); err != nil {
				return err
			}
			if _, err := s.signCheckpointAs(ctx, tx, tenant, old); err != nil {
				return fmt.Errorf("last checkpoint of %s: %w", old.origin, err)
			}
		}
		e := garde.LedgerEpoch{Tenant: tenant, Number: n, Origin: origin, Verifier: verifier, SealedSigner: sealed, KeyVersion: tk.Current,
			PrevOrigin: old.origin, PrevVerifier: old.verifier, PrevCheckpoint: prev, PrevClosed: closed, StartSize: st.size, CreatedAt: now}
		if err := appendEpochLeaf(ctx, tx, tenant, now, epochContent{V: 1, Event: "start", At: at, Origin: origin, Verifier: verifier,
			PrevOrigin: old.origin, PrevVerifier: old.verifier, PrevCheckpoint: string(prev)}); err != nil {
			return err
		}
		if err := cs.PutEpoch(ctx, e); err != nil {
			return fmt.Errorf("record epoch: %w", err)
		}
		OnAbort(tx, func(ctx context.Context) { cs.ForgetEpoch(ctx, tenant, n) })
		id := logIdentity{epoch: n, origin: origin, verifier: verifier, sealed: sealed, keyVersion: tk.Current, ad: epochSignerAD(tenant, origin)}
		if _, err := s.signCheckpointAs(ctx, tx, tenant, id); err != nil {
			return fmt.Errorf("first checkpoint of %s: %w", origin, err)
		}
		out = e
		return nil
	})
	return out, err
}

func appendEpochLeaf(ctx context.Context, tx garde.Tx, tenant garde.TenantID, now time.Time, c epochContent) error {
	content, salt, rec, err := CommitContent(c)
	if err != nil {
		return err
	}
	_, err = AppendLeaves(ctx, tx, tenant, []garde.LedgerLeaf{{Kind: LeafEpoch, Record: rec, Salt: salt, Content: content, CreatedAt: now}})
	return err
}

// LedgerEpochs returns the identities of the tenant's log, the first
// included (as epoch 1, with only its origin and verifier filled in, when
// it has a key), oldest first.
func (s *Service) LedgerEpochs(ctx context.Context, tenant garde.TenantID) ([]garde.LedgerEpoch, error) {
	var out []garde.LedgerEpoch
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		k, err := tx.LedgerKey(ctx, tenant)
		if err == nil {
			out = append(out, garde.LedgerEpoch{Tenant: tenant, Number: 1, Origin: EpochOrigin(tenant, 1), Verifier: k.Verifier, CreatedAt: k.CreatedAt})
		} else if !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if cs := s.CheckpointStore(); cs != nil {
		es, err := cs.Epochs(ctx, tenant)
		if err != nil {
			return nil, err
		}
		if len(es) > 0 && len(out) == 0 {
			out = append(out, garde.LedgerEpoch{Tenant: tenant, Number: 1, Origin: EpochOrigin(tenant, 1), Verifier: es[0].PrevVerifier})
		}
		out = append(out, es...)
	}
	return out, nil
}

// CertEntry is the certificate's own audit entry on the log (the erasure
// or off-boarding event, which holds no personal data) and its inclusion
// proof in the embedded checkpoint.
type CertEntry struct {
	Index   int64       `json:"index"`
	Salt    []byte      `json:"salt"`
	Content []byte      `json:"content"`
	Proof   []tlog.Hash `json:"proof"`
}

// LogOriginTenant returns the tenant and epoch of a log origin
// (garde/<tenant> is epoch 1, garde/<tenant>/e<n> epoch n), or epoch 0 if
// origin is not a garde log origin.
func LogOriginTenant(origin string) (garde.TenantID, int) {
	rest, ok := strings.CutPrefix(origin, "garde/")
	if !ok || rest == "" {
		return "", 0
	}
	tenant, _, _ := strings.Cut(rest, "/")
	n := OriginEpoch(tenant, origin)
	if n == 0 {
		return "", 0
	}
	return garde.TenantID(tenant), n
}
