package rights

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/garde-privacy/garde"
)

// ReplayJournal brings the data store in line with the key store's
// journal of destructive operations, for a data store older than the
// journal (a restored backup): every erased subject is tombstoned again and
// its rows purged (its key, never in the data store, stays destroyed), every
// withdrawal's erasure or anonymisation and every retention purge is done
// again up to its cut-off, and a key still present for a journalled
// erasure or off-boarding (a restored key store) is destroyed again.
// garde runs it at every start and `garde restore` before swapping the
// file in. It returns how many operations it had to apply again.
func (s *Service) ReplayJournal(ctx context.Context) (int, error) {
	entries, err := s.KeyStore.Journal(ctx, 0)
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	if entries, err = s.pendingReplays(ctx, entries); err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	applied := 0
	for _, e := range entries {
		n, err := s.replay(ctx, e)
		if err != nil {
			return applied, fmt.Errorf("replay %s of tenant %s (journal entry %d): %w", e.Kind, e.Tenant, e.Seq, err)
		}
		applied += n
	}
	s.ForgetAllTenantKeys()
	if applied > 0 {
		s.ScrubDeleted(ctx)
	}
	return applied, nil
}

// replay applies one journal entry again; it returns 1 when it changed
// anything.
func (s *Service) replay(ctx context.Context, e garde.JournalEntry) (int, error) {
	now := s.Now()
	switch e.Kind {
	case garde.JournalOffboard:
		keys, err := s.KeyStore.TenantKeys(ctx, e.Tenant)
		if err != nil || len(keys) == 0 {
			return 0, err
		}
		return 1, s.KeyStore.Record(ctx, []garde.JournalEntry{e})
	case garde.JournalErase:
		changed := 0
		if e.Subject != "" {
			keys, err := s.KeyStore.SubjectKeys(ctx, e.Tenant, []string{e.Subject})
			if err != nil {
				return 0, err
			}
			if len(keys) > 0 {
				if err := s.KeyStore.Record(ctx, []garde.JournalEntry{e}); err != nil {
					return 0, err
				}
				changed = 1
			}
		}
		var subjectID string
		err := s.Store.Update(ctx, func(tx garde.Tx) error {
			subjectID = ""
			blocks, err := tx.SubjectBlocks(ctx, e.Tenant, [][]byte{e.Index})
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(blocks, func(b garde.SubjectBlock) bool { return b.Kind == garde.BlockErased }) {
				changed = 1
				if err := tx.PutSubjectBlock(ctx, garde.SubjectBlock{Tenant: e.Tenant, Index: e.Index, Kind: garde.BlockErased, Since: e.At, RequestID: e.Request}); err != nil {
					return err
				}
			}
			rec, err := tx.SubjectByIndex(ctx, e.Tenant, e.Index)
			if errors.Is(err, garde.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			subjectID, changed = rec.ID, 1
			return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: e.Tenant, At: now, Actor: "restore", Action: garde.ActionSubjectKeyDrop, Outcome: garde.OutcomeOK, Count: 1, Reason: "journal_replay"}})
		})
		if err != nil || subjectID == "" {
			return changed, err
		}
		_, err = s.purgeSubjectRows(ctx, e.Tenant, subjectID)
		return changed, err
	case garde.JournalRetentionPurge:
		n := 0
		for {
			var counts map[string]int
			if err := s.Store.Update(ctx, func(tx garde.Tx) error {
				var err error
				counts, err = tx.DeleteExpiredMessages(ctx, e.Tenant, e.At, purgeBatch)
				if err != nil || len(counts) == 0 {
					return err
				}
				var events []garde.AuditEvent
				for _, purpose := range slices.Sorted(maps.Keys(counts)) {
					events = append(events, garde.AuditEvent{Tenant: e.Tenant, At: now, Actor: "restore", Action: garde.ActionRetentionPurge, Purpose: purpose, Outcome: garde.OutcomeOK, Count: counts[purpose], Reason: "journal_replay"})
				}
				return tx.AppendAudit(ctx, events)
			}); err != nil {
				return 0, err
			}
			batch := 0
			for _, c := range counts {
				batch += c
			}
			n += batch
			if batch < purgeBatch {
				return btoi(n > 0), nil
			}
		}
	case garde.JournalWithdrawErase, garde.JournalWithdrawAnonymize:
		return s.consents.ReplayWithdrawal(ctx, e)
	case garde.JournalKeyBackup:
		return 0, nil // a record, nothing to do again
	}
	return 0, fmt.Errorf("unknown journal entry kind %q", e.Kind)
}

// purgeSubjectRows deletes an erased subject's rows in batches: messages,
// consents, then the subject row and its blind index.
func (s *Service) purgeSubjectRows(ctx context.Context, tenant garde.TenantID, subjectID string) (messages int, err error) {
	for {
		var n int
		if err := s.Store.Update(ctx, func(tx garde.Tx) error {
			var err error
			n, err = tx.DeleteSubjectMessages(ctx, tenant, subjectID, purgeBatch)
			return err
		}); err != nil {
			return messages, err
		}
		messages += n
		if n < purgeBatch {
			break
		}
	}
	err = s.Store.Update(ctx, func(tx garde.Tx) error {
		if _, err := tx.DeleteSubjectConsents(ctx, tenant, subjectID); err != nil {
			return err
		}
		if err := tx.DeleteSubject(ctx, tenant, subjectID); err != nil && !errors.Is(err, garde.ErrNotFound) {
			return err
		}
		return nil
	})
	return messages, err
}

// pendingReplays keeps the journal entries that the stores may not reflect,
// so that a start with a long journal and nothing to do costs a few reads
// per tenant, not a transaction per entry: an erasure whose subject row or
// key is back or whose tombstone is missing (one query each per tenant),
// the latest retention purge of each tenant (it covers the earlier ones),
// and every off-boarding and withdrawal (each checks cheaply itself).
func (s *Service) pendingReplays(ctx context.Context, entries []garde.JournalEntry) ([]garde.JournalEntry, error) {
	erasures := map[garde.TenantID][]garde.JournalEntry{}
	latestPurge := map[garde.TenantID]int{}
	var out []garde.JournalEntry
	for i, e := range entries {
		switch e.Kind {
		case garde.JournalErase:
			erasures[e.Tenant] = append(erasures[e.Tenant], e)
		case garde.JournalRetentionPurge:
			latestPurge[e.Tenant] = i
		default:
			out = append(out, e)
		}
	}
	for _, i := range latestPurge {
		out = append(out, entries[i])
	}
	for tenant, es := range erasures {
		var indexes [][]byte
		var ids []string
		for _, e := range es {
			indexes = append(indexes, e.Index)
			if e.Subject != "" {
				ids = append(ids, e.Subject)
			}
		}
		keys, err := s.KeyStore.SubjectKeys(ctx, tenant, ids)
		if err != nil {
			return nil, err
		}
		keyed := map[string]bool{}
		for _, k := range keys {
			keyed[k.Subject] = true
		}
		live, tomb := map[string]bool{}, map[string]bool{}
		err = s.Store.View(ctx, func(tx garde.Tx) error {
			subjects, err := tx.SubjectsByIndex(ctx, tenant, indexes)
			if err != nil {
				return err
			}
			blocks, err := tx.SubjectBlocks(ctx, tenant, indexes)
			for _, r := range subjects {
				live[string(r.Index)] = true
			}
			for _, b := range blocks {
				if b.Kind == garde.BlockErased {
					tomb[string(b.Index)] = true
				}
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if keyed[e.Subject] || live[string(e.Index)] || !tomb[string(e.Index)] {
				out = append(out, e)
			}
		}
	}
	return out, nil
}
