package trail

import (
	"context"
	"errors"
	"fmt"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

func ledgerSignerAD(t garde.TenantID) keyring.AD {
	return keyring.AD{Tenant: string(t), Field: "ledger-signer"}
}

// ledgerKey returns the tenant's ledger key, creating it on first use
// (only in a write transaction).
func (s *Service) ledgerKey(ctx context.Context, tx garde.Tx, tenant garde.TenantID, create bool) (garde.LedgerKey, error) {
	k, err := tx.LedgerKey(ctx, tenant)
	if err == nil || !errors.Is(err, garde.ErrNotFound) || !create {
		return k, err
	}
	tk, err := s.TenantKeys(ctx, tx, tenant, 0)
	if err != nil {
		return garde.LedgerKey{}, err
	}
	signer, verifier, err := ledger.GenerateKey(ledger.TenantOrigin(string(tenant)))
	if err != nil {
		return garde.LedgerKey{}, err
	}
	sealed, err := tk.Data[tk.Current].Seal([]byte(signer), ledgerSignerAD(tenant))
	if err != nil {
		return garde.LedgerKey{}, err
	}
	k = garde.LedgerKey{Tenant: tenant, Verifier: verifier, SealedSigner: sealed, KeyVersion: tk.Current, CreatedAt: s.Now()}
	if err := tx.PutLedgerKey(ctx, k); err != nil {
		if errors.Is(err, garde.ErrConflict) {
			return garde.LedgerKey{}, garde.ErrRetry // another node created it: start again and use theirs
		}
		return garde.LedgerKey{}, err
	}
	return k, nil
}

// SignCheckpoint signs and stores the checkpoint of the tenant's log at its
// current size in this transaction, under the log's current identity.
func (s *Service) SignCheckpoint(ctx context.Context, tx garde.Tx, tenant garde.TenantID) (garde.SignedCheckpoint, error) {
	id, err := s.LogIdentity(ctx, tx, tenant, true)
	if err != nil {
		return garde.SignedCheckpoint{}, err
	}
	return s.signCheckpointAs(ctx, tx, tenant, id)
}

// OpenSigner opens the signer key of a log identity.
func (s *Service) OpenSigner(ctx context.Context, tx garde.Tx, tenant garde.TenantID, id logIdentity) ([]byte, error) {
	tk, err := s.TenantKeys(ctx, tx, tenant, id.keyVersion)
	if err != nil {
		return nil, err
	}
	signer, err := tk.Data[id.keyVersion].Open(id.sealed, id.ad)
	if err != nil {
		return nil, fmt.Errorf("open ledger key: %w", err)
	}
	return signer, nil
}

// signCheckpointAs signs the checkpoint under identity id. With a
// checkpoint store, it first refuses a tree the store's largest checkpoint
// of that origin is not a prefix of, and records the checkpoint there
// before it is stored or returned: no checkpoint is published that the
// store does not hold.
func (s *Service) signCheckpointAs(ctx context.Context, tx garde.Tx, tenant garde.TenantID, id logIdentity) (garde.SignedCheckpoint, error) {
	st, err := LogFor(ctx, tx, tenant)
	if err != nil {
		return garde.SignedCheckpoint{}, err
	}
	r := NewHashReader(ctx, tx, tenant, st)
	if cs := s.CheckpointStore(); cs != nil {
		if err := checkLineage(ctx, cs, tx, tenant, id.origin, st.size, r, true); err != nil {
			return garde.SignedCheckpoint{}, err
		}
	}
	signer, err := s.OpenSigner(ctx, tx, tenant, id)
	if err != nil {
		return garde.SignedCheckpoint{}, err
	}
	defer clear(signer)
	c, err := ledger.NewCheckpoint(id.origin, st.size, r)
	if err != nil {
		return garde.SignedCheckpoint{}, err
	}
	msg, err := ledger.SignCheckpoint(c, string(signer))
	if err != nil {
		return garde.SignedCheckpoint{}, err
	}
	if err := s.record(ctx, tx, tenant, c, msg); err != nil {
		return garde.SignedCheckpoint{}, err
	}
	sc := garde.SignedCheckpoint{Size: st.size, Note: msg, CreatedAt: s.Now(), Origin: id.origin}
	return sc, tx.PutCheckpoint(ctx, tenant, sc)
}

// LedgerCheckpoint returns the latest signed checkpoint of the caller's
// log, signing a new one first if entries were appended since the last.
func (s *Service) LedgerCheckpoint(ctx context.Context, p garde.Principal) (garde.SignedCheckpoint, error) {
	if _, err := garde.Enter(p, garde.OpLedgerRead); err != nil {
		return garde.SignedCheckpoint{}, err
	}
	var out garde.SignedCheckpoint
	stored := false
	err := s.Update(ctx, func(tx garde.Tx) error {
		size, err := tx.LedgerHead(ctx, p.Tenant)
		if err != nil {
			return err
		}
		latest, err := tx.LatestCheckpoint(ctx, p.Tenant)
		if err == nil && latest.Size == size {
			out, stored = latest, true
			return nil
		}
		if err != nil && !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		out, err = s.SignCheckpoint(ctx, tx, p.Tenant)
		return err
	})
	if err == nil && stored {
		err = s.published(ctx, p.Tenant, out.Note)
	}
	if err != nil {
		return garde.SignedCheckpoint{}, err
	}
	return out, nil
}

// LedgerVerifierKey returns the caller's log verifier key, in the note
// verifier format: the one thing besides a receipt that checking it
// offline needs.
func (s *Service) LedgerVerifierKey(ctx context.Context, p garde.Principal) (string, error) {
	if _, err := garde.Enter(p, garde.OpLedgerRead); err != nil {
		return "", err
	}
	var out string
	err := s.Update(ctx, func(tx garde.Tx) error {
		id, err := s.LogIdentity(ctx, tx, p.Tenant, true)
		out = id.verifier
		return err
	})
	return out, err
}

// InclusionProof proves that leaf Index is in the tree of Size leaves.
type InclusionProof struct {
	Index, Size int64
	LeafHash    tlog.Hash
	Proof       tlog.RecordProof
	// Checkpoint is the signed checkpoint of that size, when there is one.
	Checkpoint []byte
}

// ConsistencyProof proves that the tree of New leaves extends the tree of
// Old leaves.
type ConsistencyProof struct {
	Old, New int64
	Proof    tlog.TreeProof
	// OldCheckpoint and NewCheckpoint are the signed checkpoints of those
	// sizes, when there are.
	OldCheckpoint, NewCheckpoint []byte
}

// proofSize resolves a requested tree size: 0 means the latest signed
// checkpoint's size.
func proofSize(ctx context.Context, tx garde.Tx, tenant garde.TenantID, size int64, field string) (int64, []byte, error) {
	head, err := tx.LedgerHead(ctx, tenant)
	if err != nil {
		return 0, nil, err
	}
	if size == 0 {
		c, err := tx.LatestCheckpoint(ctx, tenant)
		if errors.Is(err, garde.ErrNotFound) {
			return 0, nil, garde.Errorf(garde.ErrNotFound, "the log has no signed checkpoint yet: GET /v1/ledger/checkpoint first")
		}
		return c.Size, c.Note, err
	}
	if size < 0 || size > head {
		return 0, nil, garde.Invalid(field, "must be between 1 and the log's size, %d", head)
	}
	c, err := tx.CheckpointAt(ctx, tenant, size)
	if errors.Is(err, garde.ErrNotFound) {
		return size, nil, nil
	}
	return size, c.Note, err
}

// LedgerInclusion returns the proof that leaf index is in the caller's log
// at size (0: the latest signed checkpoint).
func (s *Service) LedgerInclusion(ctx context.Context, p garde.Principal, index, size int64) (InclusionProof, error) {
	if _, err := garde.Enter(p, garde.OpLedgerRead); err != nil {
		return InclusionProof{}, err
	}
	var out InclusionProof
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		sz, note, err := proofSize(ctx, tx, p.Tenant, size, "size")
		if err != nil {
			return err
		}
		if index < 0 || index >= sz {
			return garde.Invalid("index", "must be a leaf index below the tree size %d", sz)
		}
		st := NewLogState()
		r := NewHashReader(ctx, tx, p.Tenant, st)
		proof, err := ledger.ProveInclusion(index, sz, r)
		if err != nil {
			return err
		}
		lh, err := r.ReadHashes([]int64{tlog.StoredHashIndex(0, index)})
		if err != nil {
			return err
		}
		out = InclusionProof{Index: index, Size: sz, LeafHash: lh[0], Proof: proof, Checkpoint: note}
		return nil
	})
	if err == nil {
		err = s.published(ctx, p.Tenant, out.Checkpoint)
	}
	if err != nil {
		return InclusionProof{}, err
	}
	return out, nil
}

// LedgerConsistency returns the proof that the caller's log at newSize (0:
// the latest signed checkpoint) extends the log at oldSize.
func (s *Service) LedgerConsistency(ctx context.Context, p garde.Principal, oldSize, newSize int64) (ConsistencyProof, error) {
	if _, err := garde.Enter(p, garde.OpLedgerRead); err != nil {
		return ConsistencyProof{}, err
	}
	var out ConsistencyProof
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		nsz, nnote, err := proofSize(ctx, tx, p.Tenant, newSize, "new")
		if err != nil {
			return err
		}
		if oldSize < 1 || oldSize > nsz {
			return garde.Invalid("old", "must be between 1 and the newer size %d", nsz)
		}
		_, onote, err := proofSize(ctx, tx, p.Tenant, oldSize, "old")
		if err != nil {
			return err
		}
		r := NewHashReader(ctx, tx, p.Tenant, NewLogState())
		proof, err := ledger.ProveConsistency(oldSize, nsz, r)
		if err != nil {
			return err
		}
		out = ConsistencyProof{Old: oldSize, New: nsz, Proof: proof, OldCheckpoint: onote, NewCheckpoint: nnote}
		return nil
	})
	if err == nil {
		err = errors.Join(s.published(ctx, p.Tenant, out.OldCheckpoint), s.published(ctx, p.Tenant, out.NewCheckpoint))
	}
	if err != nil {
		return ConsistencyProof{}, err
	}
	return out, nil
}
