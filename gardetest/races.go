package gardetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde"
)

// testErasureOnce files ten erasure requests of one subject at once: one
// destroys the key and signs the certificate; the nine others complete as
// "same_as" that one, with no certificate of their own and no second entry
// on the journal.
func testErasureOnce(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := NewTenant(t, s, "A")
	ingest(t, s, a.Service, "zoe", "un", "deux")
	const n = 10
	results := make([]garde.RightsRequest, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			f, err := s.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "zoe", Type: garde.RequestErasure})
			results[i], errs[i] = f.Request, err
		})
	}
	wg.Wait()
	var winner string
	certs := 0
	for i, r := range results {
		if errs[i] != nil {
			t.Fatalf("erasure %d = %v", i, errs[i])
		}
		// A request may still be in progress behind the winner's purge:
		// the tick finishes it.
		if r.Status != garde.StatusCompleted {
			if results[i], errs[i] = s.Rights.ProcessRequest(ctx, a.ID, r.ID); errs[i] != nil || results[i].Status != garde.StatusCompleted {
				t.Fatalf("erasure %d: %s, %v", i, results[i].Status, errs[i])
			}
		}
		if results[i].Certificate != nil {
			certs++
			winner = results[i].ID
		}
	}
	if certs != 1 {
		t.Fatalf("%d certificates for one subject, want 1", certs)
	}
	for _, r := range results {
		if r.ID != winner && r.Outcome != rights.SameAsPrefix+winner {
			t.Errorf("request %s: outcome %q, want %s%s", r.ID, r.Outcome, rights.SameAsPrefix, winner)
		}
	}
	journal, _ := keys(st).Journal(ctx, 0)
	if len(journal) != 1 || journal[0].Request != winner {
		t.Fatalf("journal = %+v, want one erasure by %s", journal, winner)
	}
}

// testErasureWinsRaces runs a hundred writers — messages, batches and
// consents for one subject — against its erasure. Every write either
// committed before the erasure's decision (and is purged with the
// subject) or is refused as subject_erased: never another error, never a
// row left, never an active consent, and nothing is accepted after the
// erasure completed.
func testErasureWinsRaces(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	ingest(t, s, a.Service, "max", "premier")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("max", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	const writers = 100
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	unexpected := map[string]int{}
	batches := 0 // batches that committed: each left one other subject
	for i := range writers {
		wg.Go(func() {
			<-start
			var err error
			switch i % 3 {
			case 0:
				_, err = s.Vault.Ingest(ctx, a.Service, msg("max", "answer_support_request", fmt.Sprintf("message %d", i)))
			case 1:
				_, err = s.Vault.Ingest(ctx, a.Service, append(msg("max", "answer_support_request", "lot"), msg(fmt.Sprintf("other%d", i), "answer_support_request", "lot")...))
			case 2:
				_, err = s.Consent.RecordConsent(ctx, a.Service, Grant("max", "improve_replies"))
			}
			mu.Lock()
			defer mu.Unlock()
			if err == nil && i%3 == 1 {
				batches++
			}
			if err != nil && refusal(err) != "subject_erased" {
				unexpected[err.Error()]++
			}
		})
	}
	var r garde.RightsRequest
	wg.Go(func() {
		<-start
		f, err := s.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "max", Type: garde.RequestErasure})
		if err != nil {
			t.Errorf("erasure = %v", err)
		}
		r = f.Request
	})
	close(start)
	wg.Wait()
	for e, n := range unexpected {
		t.Errorf("%d writes failed with %q, want success or subject_erased", n, e)
	}
	if r.Status != garde.StatusCompleted {
		t.Fatalf("erasure: %s", r.Status)
	}
	if got := texts(t, s, a.Service, "max"); len(got) != 0 {
		t.Fatalf("after the erasure the subject reads %q", got)
	}
	if v, err := s.Consent.SubjectConsents(ctx, a.DPO, "max"); err != nil || len(v.History) != 0 {
		t.Fatalf("consents after the erasure: %+v, %v", v, err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("max", "answer_support_request", "late")); refusal(err) != "subject_erased" {
		t.Fatalf("a write after the erasure = %v, want subject_erased", err)
	}
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("max", "improve_replies")); refusal(err) != "subject_erased" {
		t.Fatalf("a consent after the erasure = %v, want subject_erased", err)
	}
	// No row of the subject is left: the only subjects are the others of
	// the batches that committed, one message each.
	st.View(ctx, func(tx garde.Tx) error {
		subs, _ := tx.Subjects(ctx, a.ID, "", 1000)
		if len(subs) != batches {
			t.Errorf("%d subjects left, want %d (the other subjects of the committed batches)", len(subs), batches)
		}
		for _, sub := range subs {
			if ms, _ := tx.SubjectMessages(ctx, a.ID, sub.ID, "", 1000); len(ms) != 1 {
				t.Errorf("subject %s has %d messages, want 1", sub.ID, len(ms))
			}
		}
		return nil
	})
}

// testJournalReplaysEveryDestruction plays a restore of the data store
// after a retention purge, a withdrawal that erased and one that
// anonymised: the rows they removed or rewrote are put back as a backup
// would, and the replay of the journal removes or rewrites them again —
// and leaves alone what came after (a new grant's messages).
func testJournalReplaysEveryDestruction(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, clk := newService(t, open)
	a := ConsentTenant(t, s, "A")
	rows := func(subject string) []garde.Message {
		t.Helper()
		var out []garde.Message
		st.View(ctx, func(tx garde.Tx) error {
			subs, _ := tx.Subjects(ctx, a.ID, "", 100)
			for _, sub := range subs {
				ms, _ := tx.SubjectMessages(ctx, a.ID, sub.ID, "", 100)
				for _, m := range ms {
					if m.SubjectID == subject {
						out = append(out, m)
					}
				}
			}
			return nil
		})
		return out
	}
	subjectID := func(subject string) string {
		t.Helper()
		views, err := s.Vault.Ingest(ctx, a.Service, msg(subject, "answer_support_request", "marker"))
		if err != nil {
			t.Fatal(err)
		}
		var id string
		st.View(ctx, func(tx garde.Tx) error {
			subs, _ := tx.Subjects(ctx, a.ID, "", 100)
			for _, sub := range subs {
				ms, _ := tx.SubjectMessages(ctx, a.ID, sub.ID, "", 100)
				for _, m := range ms {
					if m.ID == views[0].ID {
						id = sub.ID
					}
				}
			}
			return nil
		})
		return id
	}
	restore := func(ms []garde.Message) {
		t.Helper()
		if err := st.Update(ctx, func(tx garde.Tx) error {
			for _, m := range ms {
				if _, err := tx.DeleteMessagesBefore(ctx, a.ID, m.SubjectID, m.Purpose, m.CreatedAt); err != nil {
					return err
				}
			}
			return tx.InsertMessages(ctx, ms)
		}); err != nil {
			t.Fatal(err)
		}
	}

	// Retention first: answer_support_request keeps 365 days.
	ivan := subjectID("ivan")
	purgedRows := rows(ivan)
	clk.Advance(366 * 24 * time.Hour)
	if n, err := s.Vault.PurgeExpired(ctx, 100); err != nil || n != 1 {
		t.Fatalf("PurgeExpired = %d, %v", n, err)
	}
	// Withdrawal that erases (improve_replies), then a new grant.
	wil := subjectID("wil")
	for _, in := range []consent.ConsentInput{Grant("wil", "improve_replies")} {
		if _, err := s.Consent.RecordConsent(ctx, a.Service, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("wil", "improve_replies", "avant le retrait")); err != nil {
		t.Fatal(err)
	}
	erased := rows(wil)
	// Withdrawal that anonymises (train_assistant).
	ana := subjectID("ana")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("ana", "train_assistant")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("ana", "train_assistant", "écrivez-moi à ana.lopez@example.org")); err != nil {
		t.Fatal(err)
	}
	anonymised := rows(ana)
	clk.Advance(time.Minute)
	for _, in := range []consent.ConsentInput{Withdraw("wil", "improve_replies"), Withdraw("ana", "train_assistant")} {
		if _, err := s.Consent.RecordConsent(ctx, a.Service, in); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("wil", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Vault.Ingest(ctx, a.Service, msg("wil", "improve_replies", "après le nouvel accord")); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	journal, _ := keys(st).Journal(ctx, 0)
	for _, e := range journal {
		kinds[e.Kind]++
	}
	if kinds[garde.JournalWithdrawErase] != 1 || kinds[garde.JournalWithdrawAnonymize] != 1 || kinds[garde.JournalRetentionPurge] != 1 {
		t.Fatalf("journal kinds = %v", kinds)
	}

	// "Restore the backup": the erased, the original and the purged rows.
	var back []garde.Message
	seen := map[string]bool{}
	for _, m := range append(append(erased, anonymised...), purgedRows...) {
		if seen[m.ID] || (m.Purpose == "improve_replies" && m.CreatedAt.After(erased[len(erased)-1].CreatedAt)) {
			continue // once each; the message after the new grant is there already
		}
		seen[m.ID] = true
		back = append(back, m)
	}
	// Replaying on the live data store changes nothing: it holds the
	// withdrawals (a later grant's messages are never touched).
	if n, err := s.Rights.ReplayJournal(ctx); err != nil || n != 0 {
		t.Fatalf("ReplayJournal on the live data store = %d, %v; want 0", n, err)
	}
	restore(back)
	// The restored data store predates the withdrawals: it holds none of
	// the consent events since (here: none at all).
	if err := st.Update(ctx, func(tx garde.Tx) error {
		for _, id := range []string{wil, ana} {
			if _, err := tx.DeleteSubjectConsents(ctx, a.ID, id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Rights.ReplayJournal(ctx); err != nil || n == 0 {
		t.Fatalf("ReplayJournal = %d, %v", n, err)
	}
	// Read wil's improve_replies messages under a current grant again.
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("wil", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, subject := range []string{"ivan", "wil", "ana"} {
		for _, purpose := range []string{"answer_support_request", "improve_replies", "train_assistant"} {
			ms, err := s.Vault.SubjectMessages(ctx, a.DPO, subject, purpose)
			if err != nil {
				continue // a consent purpose without consent: not readable, checked below by rows
			}
			for _, m := range ms {
				got[subject+"/"+purpose] = append(got[subject+"/"+purpose], m.Text)
			}
		}
	}
	if len(got["ivan/answer_support_request"]) != 0 {
		t.Errorf("expired messages back after the replay: %v", got)
	}
	if w := got["wil/improve_replies"]; len(w) != 1 || w[0] != "après le nouvel accord" {
		t.Errorf("wil/improve_replies after the replay = %q, want only the message after the new grant", w)
	}
	for _, text := range got["ana/train_assistant"] {
		if strings.Contains(text, "ana.lopez@example.org") {
			t.Errorf("the anonymised message is back in clear after the replay: %q", text)
		}
	}
	if n, err := s.Rights.ReplayJournal(ctx); err != nil || n != 0 {
		t.Errorf("second ReplayJournal = %d, %v; want 0", n, err)
	}
}

// testKeyBackupExpires: a key store backup restores within its retention
// (merging: the live journal's destructions stay), is refused after it, is
// refused when altered, and once expired no longer keeps its master key
// version from being retired.
func testKeyBackupExpires(t *testing.T, open Open) {
	ctx := context.Background()
	s, st, clk := newService(t, open)
	a := NewTenant(t, s, "A")
	ingest(t, s, a.Service, "kim", "un")
	ingest(t, s, a.Service, "lou", "deux")
	var buf bytes.Buffer
	info, err := s.Rights.BackupKeys(ctx, &buf, 24*time.Hour)
	if err != nil || info.SubjectKeys != 2 || info.Tenants != 1 {
		t.Fatalf("BackupKeys = %+v, %v", info, err)
	}
	backup := buf.Bytes()
	used, _ := s.Tenancy.MasterVersionsInUse(ctx)
	if used[info.MasterVersion] < 2 {
		t.Fatalf("MasterVersionsInUse = %v: the unexpired backup should count", used)
	}
	file(t, s, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestErasure})
	if _, err := s.Rights.RestoreKeys(ctx, bytes.NewReader(backup)); err != nil {
		t.Fatalf("RestoreKeys within retention = %v", err)
	}
	if got := texts(t, s, a.Service, "kim"); len(got) != 0 {
		t.Fatalf("the erased subject reads %q after a key restore", got)
	}
	left, _ := keys(st).ListSubjectKeys(ctx, a.ID, "", 10)
	if len(left) != 1 {
		t.Fatalf("%d subject keys after the restore, want 1 (the erased one stays destroyed)", len(left))
	}
	if got := texts(t, s, a.Service, "lou"); len(got) != 1 {
		t.Fatalf("the other subject reads %q", got)
	}
	altered := bytes.Clone(backup)
	altered[len(altered)-5] ^= 1
	if _, err := s.Rights.RestoreKeys(ctx, bytes.NewReader(altered)); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("RestoreKeys of an altered backup = %v, want ErrInvalid", err)
	}
	clk.Advance(25 * time.Hour)
	if _, err := s.Rights.RestoreKeys(ctx, bytes.NewReader(backup)); !errors.Is(err, rights.ErrKeyBackupExpired) {
		t.Fatalf("RestoreKeys after expiry = %v, want ErrKeyBackupExpired", err)
	}
	used, _ = s.Tenancy.MasterVersionsInUse(ctx)
	if used[info.MasterVersion] != 2 {
		t.Fatalf("MasterVersionsInUse after expiry = %v, want only the tenant keys", used)
	}
}

// testAuditRefsUnlinkable: the audit trail names a subject by a reference
// keyed by the subject's own data key. Before the erasure, every event of
// the subject (write, read, consent, request) carries one reference; after
// it, the only reference anyone can compute for the identifier — the
// tenant-keyed one that a read of the now unknown identifier shows — is a
// different one: nothing links the old events to the person.
func testAuditRefsUnlinkable(t *testing.T, open Open) {
	ctx := context.Background()
	s, _, _ := newService(t, open)
	a := ConsentTenant(t, s, "A")
	ingest(t, s, a.Service, "noa@example.org", "bonjour")
	texts(t, s, a.Service, "noa@example.org")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("noa@example.org", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	r := file(t, s, a.DPO, rights.NewRequest{Subject: "noa@example.org", Type: garde.RequestErasure}).Request
	before, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{})
	refs := map[string]bool{}
	for _, e := range before {
		if e.SubjectRef != "" {
			refs[e.SubjectRef] = true
		}
	}
	if len(refs) != 1 || !refs[r.SubjectRef] {
		t.Fatalf("the subject's events carry references %v, want one (the request's %s)", refs, r.SubjectRef)
	}
	texts(t, s, a.Service, "noa@example.org") // a read of the identifier, now unknown
	after, _ := s.Audit(ctx, a.DPO, garde.AuditFilter{AfterSeq: before[len(before)-1].Seq})
	if len(after) == 0 || after[len(after)-1].Action != garde.ActionMessageRead || after[len(after)-1].SubjectRef == "" {
		t.Fatalf("no read of the identifier audited after the erasure: %+v", after)
	}
	if got := after[len(after)-1].SubjectRef; refs[got] {
		t.Fatalf("after the erasure the identifier still maps to the reference %s of its erased events", got)
	}
}
