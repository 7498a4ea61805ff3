package garde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

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
		return checkAuditTable(ctx, tx, tenant, rep.Audit)
	})
	return rep, err
}

// checkAuditTable compares the audit table, which GET /v1/audit serves,
// with the audit entries of the verified log, event by event: a row
// removed, changed or added is named by the log entry it disagrees with.
// Rows older than the log (written before it existed) are skipped.
func checkAuditTable(ctx context.Context, tx Tx, tenant TenantID, entries int) error {
	if entries == 0 {
		return nil
	}
	var rows []AuditEvent
	for after := int64(0); ; {
		page, err := tx.Audit(ctx, tenant, AuditFilter{AfterSeq: after, Limit: MaxAuditPage})
		if err != nil {
			return err
		}
		rows = append(rows, page...)
		if len(page) < MaxAuditPage {
			break
		}
		after = page[len(page)-1].Seq
	}
	if len(rows) < entries {
		return fmt.Errorf("%w: tenant %s: the audit table has %d events, the log %d: rows were removed", ErrLedger, tenant, len(rows), entries)
	}
	rows = rows[len(rows)-entries:]
	i := 0
	for from := int64(0); ; {
		batch, err := tx.LedgerLeaves(ctx, tenant, from, 4096)
		if err != nil {
			return err
		}
		for _, l := range batch {
			if l.Kind != LeafAudit {
				continue
			}
			want, err := auditContentOf(rows[i])
			if err != nil {
				return err
			}
			var got auditContent
			if err := json.Unmarshal(l.Content, &got); err != nil || got != want {
				return fmt.Errorf("%w: tenant %s: entry %d: audit event %d of the table differs from the log", ErrLedger, tenant, l.Index, rows[i].Seq)
			}
			i++
		}
		if len(batch) < 4096 {
			return nil
		}
		from = batch[len(batch)-1].Index + 1
	}
}

// auditContentOf is the ledger content of a stored audit event, at the
// table's precision (microseconds).
func auditContentOf(e AuditEvent) (auditContent, error) {
	return auditContent{V: 1, At: e.At.UTC().Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action, Purpose: e.Purpose,
		SubjectRef: e.SubjectRef, Outcome: e.Outcome, Count: e.Count, Reason: e.Reason}, nil
}

// uncached reads stored hashes straight from the database: verification
// must not trust a cache, and its memory must stay flat.
type uncached struct{ r *hashReader }

func (u uncached) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return u.r.tx.LedgerHashes(u.r.ctx, u.r.tenant, indexes)
}
