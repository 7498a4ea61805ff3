package trail

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/ledger"
	"golang.org/x/mod/sumdb/tlog"
)

// LedgerReport is what VerifyLedger found in one tenant's log.
type LedgerReport struct {
	Tenant      garde.TenantID
	Size        int64 // leaves, all consistent with their stored hashes
	Signed      int64 // leaves covered by the largest verified checkpoint
	Checkpoints int
	Audit       int // audit entries whose content matched their commitment
	Consents    int // consent entries (their content is sealed; see VerifyReceipt)
	Verifier    string
	// Epochs are the log's identities, oldest first, when the check knew
	// them (a checkpoint store, or checkpoints of several origins).
	Epochs []EpochReport
}

// EpochReport is one identity (origin and key) of a tenant's log.
type EpochReport struct {
	Number      int
	Origin      string
	Verifier    string // the pinned key it was checked with, "" if none
	Checkpoints int    // checkpoints of this identity in the data store, all verified
	Signed      int64  // the largest of their sizes
	// Recorded is the largest size the checkpoint store holds under this
	// identity (-1: none, or no store). Lost is set when the log no longer
	// has that tree (a restore): the identity was closed by the next epoch,
	// which names that very checkpoint, so receipts of the lost history
	// verify only against this identity's key and checkpoints.
	Recorded int64
	Lost     bool
}

// ErrLedger marks a log that does not verify. The error names the first
// bad entry (a *ledger.LogError is in its chain when the Merkle structure
// itself is wrong).
var ErrLedger = errors.New("ledger does not verify")

// LedgerCheck says what VerifyLedgerWith trusts: only the verifier keys
// pinned by the caller (one per epoch of the log), never a key read from
// the database it checks.
type LedgerCheck struct {
	Keys []string
	// Checkpoints, when set, is the store of every checkpoint garde signed
	// (kept apart from the data store): its largest checkpoint of each
	// identity must still be a prefix of the log, except for an identity
	// that a later epoch closed naming that checkpoint.
	Checkpoints garde.CheckpointStore
}

// VerifyLedger checks a tenant's whole log in the store (see
// VerifyLedgerWith) against one verifier key; "" uses the key stored in
// the database, which only proves the log is consistent with itself, not
// with what was published: `garde verify ledger` never does that.
func VerifyLedger(ctx context.Context, st garde.Store, tenant garde.TenantID, verifierKey string) (LedgerReport, error) {
	if verifierKey == "" {
		return verifyLedger(ctx, st, tenant, nil, true, nil)
	}
	return verifyLedger(ctx, st, tenant, []string{verifierKey}, false, nil)
}

// VerifyLedgerWith checks a tenant's whole log in the store, as `garde
// verify ledger` does, with no key but the pinned public verifier keys:
// every leaf against the stored hashes recomputed from scratch, every
// signed checkpoint (of any epoch) against the root recomputed at its
// size, every audit and epoch entry's content against its commitment, the
// head against the number of leaves and, with a checkpoint store, that the
// log has not gone back behind a checkpoint it signed.
func VerifyLedgerWith(ctx context.Context, st garde.Store, tenant garde.TenantID, chk LedgerCheck) (LedgerReport, error) {
	if len(chk.Keys) == 0 {
		return LedgerReport{Tenant: tenant}, garde.Errorf(garde.ErrInvalid, "no pinned verifier key: a key read from the database proves nothing")
	}
	return verifyLedger(ctx, st, tenant, chk.Keys, false, chk.Checkpoints)
}

func verifyLedger(ctx context.Context, st garde.Store, tenant garde.TenantID, keys []string, trustStored bool, cs garde.CheckpointStore) (LedgerReport, error) {
	rep := LedgerReport{Tenant: tenant}
	var epochs []garde.LedgerEpoch
	if cs != nil {
		var err error
		if epochs, err = cs.Epochs(ctx, tenant); err != nil {
			return rep, err
		}
	}
	var epochLeaves []garde.LedgerLeaf
	err := st.View(ctx, func(tx garde.Tx) error {
		head, err := tx.LedgerHead(ctx, tenant)
		if err != nil {
			return err
		}
		if trustStored {
			k, err := tx.LedgerKey(ctx, tenant)
			switch {
			case err == nil:
				keys = append(keys, k.Verifier)
			case !errors.Is(err, garde.ErrNotFound):
				return err
			}
		}
		cps, err := tx.Checkpoints(ctx, tenant)
		if err != nil {
			return err
		}
		verifierKey := ""
		if len(keys) > 0 {
			verifierKey = keys[0]
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
			keys = []string{verifierKey}
		}
		pinned := map[string]string{}
		for _, k := range keys {
			name, _, _ := strings.Cut(k, "+")
			if OriginEpoch(string(tenant), name) == 0 {
				return fmt.Errorf("%w: tenant %s: key %s is not a key of this tenant's log", ErrLedger, tenant, name)
			}
			pinned[name] = k
		}
		byOrigin := map[string]*EpochReport{}
		for _, c := range cps {
			cp, err := ledger.PeekCheckpoint(c.Note)
			if err != nil {
				return fmt.Errorf("%w: tenant %s: checkpoint of size %d: %v", ErrLedger, tenant, c.Size, err)
			}
			if pinned[cp.Origin] == "" {
				return fmt.Errorf("%w: tenant %s: the log has checkpoints of identity %s, whose key is not pinned: pin it too (GET /v1/ledger/key while it is current, or the epoch-start entry a pinned key signed)", ErrLedger, tenant, cp.Origin)
			}
			e := byOrigin[cp.Origin]
			if e == nil {
				e = &EpochReport{Number: OriginEpoch(string(tenant), cp.Origin), Origin: cp.Origin, Verifier: pinned[cp.Origin], Recorded: -1}
				byOrigin[cp.Origin] = e
			}
			e.Checkpoints++
			e.Signed = max(e.Signed, cp.Size)
		}
		rep.Verifier = verifierKey
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
						case LeafEpoch:
							rec, err := ledger.Commit(l.Salt, l.Content)
							if err != nil || !bytes.Equal(rec, l.Record) {
								contentIdx = l.Index
								contentErr = fmt.Errorf("%w: entry %d: epoch content does not match its commitment", ErrLedger, l.Index)
							}
							epochLeaves = append(epochLeaves, l)
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
		r := NewHashReader(ctx, tx, tenant, NewLogState())
		sum, err := ledger.VerifyLogKeys(iter.Seq2[ledger.Leaf, error](leaves), uncached{r}, notes, keys)
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
		if err := checkAuditTable(ctx, tx, tenant, rep.Audit); err != nil {
			return err
		}
		if cs == nil {
			if len(byOrigin) > 1 {
				for n := 1; len(rep.Epochs) < len(byOrigin); n++ {
					if e := byOrigin[EpochOrigin(tenant, n)]; e != nil {
						rep.Epochs = append(rep.Epochs, *e)
					}
				}
			}
			return nil
		}
		rep.Epochs, err = checkRecorded(ctx, tx, cs, tenant, head, epochs, epochLeaves, pinned, byOrigin)
		return err
	})
	return rep, err
}

// checkRecorded compares the checkpoint store with the verified log: each
// identity's largest recorded checkpoint must be signed by its pinned key
// and be a prefix of the log, unless the next epoch closed the identity
// naming exactly that checkpoint; each epoch must begin with its
// epoch-start entry.
func checkRecorded(ctx context.Context, tx garde.Tx, cs garde.CheckpointStore, tenant garde.TenantID, head int64, epochs []garde.LedgerEpoch, leaves []garde.LedgerLeaf,
	pinned map[string]string, byOrigin map[string]*EpochReport) ([]EpochReport, error) {
	starts := map[int64]epochContent{}
	for _, l := range leaves {
		var c epochContent
		if err := json.Unmarshal(l.Content, &c); err == nil && c.Event == "start" {
			starts[l.Index] = c
		}
	}
	var out []EpochReport
	r := uncached{NewHashReader(ctx, tx, tenant, NewLogState())}
	for n := 1; n <= len(epochs)+1; n++ {
		origin := EpochOrigin(tenant, n)
		e := byOrigin[origin]
		if e == nil {
			e = &EpochReport{Number: n, Origin: origin, Verifier: pinned[origin], Recorded: -1}
		}
		var next *garde.LedgerEpoch
		if n <= len(epochs) {
			next = &epochs[n-1]
		}
		if n >= 2 {
			ep := epochs[n-2]
			if ep.Number != n || ep.Origin != origin {
				return nil, fmt.Errorf("%w: tenant %s: the checkpoint store's epoch %d is %d (%s)", ErrLedger, tenant, n, ep.Number, ep.Origin)
			}
			if pinned[origin] != "" && pinned[origin] != ep.Verifier {
				return nil, fmt.Errorf("%w: tenant %s: identity %s has key %s in the checkpoint store, not the pinned one", ErrLedger, tenant, origin, ep.Verifier)
			}
			if c, ok := starts[ep.StartSize]; !ok || c.Origin != origin || c.Verifier != ep.Verifier || c.PrevOrigin != ep.PrevOrigin {
				return nil, fmt.Errorf("%w: tenant %s: entry %d: epoch %d does not begin with its epoch-start entry", ErrLedger, tenant, ep.StartSize, n)
			}
		}
		last, err := cs.LatestRecorded(ctx, tenant, origin)
		switch {
		case errors.Is(err, garde.ErrNotFound):
		case err != nil:
			return nil, err
		default:
			e.Recorded = last.Size
			if pinned[origin] == "" {
				return nil, fmt.Errorf("%w: tenant %s: identity %s signed checkpoints, and its key is not pinned: pin it too", ErrLedger, tenant, origin)
			}
			cp, err := ledger.OpenCheckpoint(last.Note, pinned[origin])
			if err != nil || cp.Size != last.Size || cp.Hash != last.Root {
				return nil, fmt.Errorf("%w: tenant %s: the checkpoint store's checkpoint of %s at size %d is not signed by the pinned key", ErrLedger, tenant, origin, last.Size)
			}
			inLog := last.Size <= head
			if inLog {
				root, err := ledger.TreeHash(last.Size, r)
				if err != nil {
					return nil, err
				}
				inLog = root == last.Root
			}
			if !inLog {
				if next == nil || !bytes.Equal(next.PrevCheckpoint, last.Note) {
					return nil, fmt.Errorf("%w: tenant %s: identity %s signed a tree of size %d that this log does not have (the log went back: a restored backup?), and no epoch closed it",
						ErrLedger, tenant, origin, last.Size)
				}
				e.Lost = true
			}
		}
		out = append(out, *e)
	}
	return out, nil
}

// checkAuditTable compares the audit table, which GET /v1/audit serves,
// with the audit entries of the verified log, event by event: a row
// removed, changed or added is named by the log entry it disagrees with.
// Rows older than the log (written before it existed) are skipped.
func checkAuditTable(ctx context.Context, tx garde.Tx, tenant garde.TenantID, entries int) error {
	if entries == 0 {
		return nil
	}
	var rows []garde.AuditEvent
	for after := int64(0); ; {
		page, err := tx.Audit(ctx, tenant, garde.AuditFilter{AfterSeq: after, Limit: garde.MaxAuditPage})
		if err != nil {
			return err
		}
		rows = append(rows, page...)
		if len(page) < garde.MaxAuditPage {
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
			want, err := AuditContentOf(rows[i])
			if err != nil {
				return err
			}
			var got AuditContent
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

// uncached reads stored hashes straight from the database: verification
// must not trust a cache, and its memory must stay flat.
type uncached struct{ r *HashReader }

func (u uncached) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	return u.r.tx.LedgerHashes(u.r.ctx, u.r.tenant, indexes)
}

// LedgerHealth is the state of a tenant's consent and audit log as the
// dashboard shows it.
type LedgerHealth struct {
	Size int64
	// Checkpoint is the latest signed checkpoint; zero when none.
	Checkpoint garde.SignedCheckpoint
	// Verified is whether the whole log and its checkpoints verified
	// against the tenant's verifier key just now.
	Verified bool
	// Problem says why verification failed (no personal data: sizes and
	// indexes only).
	Problem string
	Report  LedgerReport
	At      time.Time
}

// LedgerHealth verifies the caller's log, as garde verify would, and
// returns the latest checkpoint with the result. It reads the whole log:
// fine for a page a DPO opens, not for a probe polled every second.
func (s *Service) LedgerHealth(ctx context.Context, p garde.Principal) (LedgerHealth, error) {
	if _, err := garde.Enter(p, garde.OpLedgerHealth); err != nil {
		return LedgerHealth{}, err
	}
	h := LedgerHealth{At: s.Now()}
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		var err error
		if h.Size, err = tx.LedgerHead(ctx, p.Tenant); err != nil {
			return err
		}
		h.Checkpoint, err = tx.LatestCheckpoint(ctx, p.Tenant)
		if errors.Is(err, garde.ErrNotFound) {
			err = nil
		}
		return err
	})
	if err != nil {
		return LedgerHealth{}, err
	}
	// The server checking itself: every epoch's key as it holds them, and
	// the checkpoint store, so that a log gone back shows here too.
	epochs, err := s.LedgerEpochs(ctx, p.Tenant)
	if err != nil {
		return LedgerHealth{}, err
	}
	var keys []string
	for _, e := range epochs {
		keys = append(keys, e.Verifier)
	}
	rep, err := verifyLedger(ctx, s.Store, p.Tenant, keys, len(keys) == 0, s.CheckpointStore())
	switch {
	case err == nil:
		h.Verified, h.Report = true, rep
	case errors.Is(err, ErrLedger):
		h.Problem, h.Report = err.Error(), rep
	default:
		return LedgerHealth{}, err
	}
	return h, nil
}
