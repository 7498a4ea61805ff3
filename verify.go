package garde

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// LedgerReport is what VerifyLedger found in one tenant's log.
type LedgerReport struct {
	Tenant      TenantID
	Size        int64 // leaves, all consistent with their stored hashes
	Signed      int64 // leaves covered by the largest verified checkpoint
	Checkpoints int
	Audit       int // audit entries whose content matched their commitment
	Consents    int // consent entries (their content is sealed; see VerifyReceipt)
	Verifier    string
}

// ErrLedger marks a log that does not verify. The error names the first
// bad entry (a *ledger.LogError is in its chain when the Merkle structure
// itself is wrong).
var ErrLedger = errors.New("ledger does not verify")

// VerifyLedger checks a tenant's whole log in the store, as `garde verify
// ledger` does, with no key but the public verifier key: every leaf against
// the stored hashes recomputed from scratch, every signed checkpoint
// against the root recomputed at its size, every audit entry's content
// against its commitment, and the head against the number of leaves.
//
// verifierKey pins the key checkpoints must be signed with; "" uses the key
// stored in the database (which only proves the log is consistent with
// itself, not with what was published).
func VerifyLedger(ctx context.Context, st Store, tenant TenantID, verifierKey string) (LedgerReport, error) {
	rep := LedgerReport{Tenant: tenant}
	err := st.View(ctx, func(tx Tx) error {
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return err
		}
		k, err := tx.LedgerKey(ctx, tenant)
		switch {
		case err == nil:
			if verifierKey == "" {
				verifierKey = k.Verifier
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		cps, err := tx.Checkpoints(ctx, tenant)
		if err != nil {
			return err
		}
		if verifierKey == "" {
			if len(cps) > 0 {
				return fmt.Errorf("%w: tenant %s has checkpoints but no verifier key", ErrLedger, tenant)
			}
			// A log never checkpointed: check its structure with a
			// throwaway key, no signature to check.
			_, verifierKey, err = ledger.GenerateKey(ledger.TenantOrigin(string(tenant)))
			if err != nil {
				return err
			}
		}
		rep.Verifier = verifierKey
		notes := make([][]byte, len(cps))
		for i, c := range cps {
			notes[i] = c.Note
		}
		var contentErr error
		contentIdx := int64(-1)
		leaves := func(yield func(ledger.Leaf, error) bool) {
			var from int64
			for {
				batch, err := tx.LedgerLeaves(ctx, tenant, from, 4096)
				if err != nil {
					yield(ledger.Leaf{}, err)
					return
				}
				for _, l := range batch {
					if contentErr == nil {
						switch l.Kind {
						case LeafAudit:
							rec, err := ledger.Commit(l.Salt, l.Content)
							if err != nil || !bytes.Equal(rec, l.Record) {
								contentIdx = l.Index
								contentErr = fmt.Errorf("%w: entry %d: audit content does not match its commitment", ErrLedger, l.Index)
							}
							rep.Audit++
						case LeafConsent:
							rep.Consents++
						default:
							contentIdx = l.Index
							contentErr = fmt.Errorf("%w: entry %d: unknown kind %q", ErrLedger, l.Index, l.Kind)
						}
					}
					if !yield(ledger.Leaf{Index: l.Index, Record: l.Record}, nil) {
						return
					}
				}
				if len(batch) < 4096 {
					return
				}
				from = batch[len(batch)-1].Index + 1
			}
		}
		r := &hashReader{ctx: ctx, tx: tx, tenant: tenant, st: &logState{cache: map[int64]tlog.Hash{}}}
		sum, err := ledger.VerifyLog(iter.Seq2[ledger.Leaf, error](leaves), uncached{r}, notes, verifierKey)
		if err != nil {
			var le *ledger.LogError
			if contentErr != nil && errors.As(err, &le) && contentIdx < le.Index {
				return fmt.Errorf("tenant %s: %w", tenant, contentErr)
			}
			return fmt.Errorf("%w: tenant %s: %w", ErrLedger, tenant, err)
		}
		if contentErr != nil {
			return fmt.Errorf("tenant %s: %w", tenant, contentErr)
		}
		if sum.Size != head {
			return fmt.Errorf("%w: tenant %s: entry %d: the head says %d entries, the log has %d", ErrLedger, tenant, min(sum.Size, head), head, sum.Size)
		}
		rep.Size, rep.Signed, rep.Checkpoints = sum.Size, sum.Checkpoint.Size, sum.Checkpoints
		return nil
	})
	return rep, err
}

// uncached reads stored hashes straight from the database: verification
// must not trust a cache, and its memory must stay flat.
type uncached struct{ r *hashReader }

func (u uncached) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return u.r.tx.LedgerHashes(u.r.ctx, u.r.tenant, indexes)
}
