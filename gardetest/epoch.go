package gardetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/rights"
	"github.com/garde-privacy/garde/trail"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/ledger"
)

// Restorable is a backend for RunEpochs: a fresh data store, a checkpoint
// store apart from it (which a restore of the data store leaves alone),
// and backup, which snapshots the data store and returns restore: it
// stops using the store, puts the snapshot back and returns the data store
// reopened, as `garde restore` then `garde serve` would.
type Restorable func(t *testing.T) (st garde.Store, cs garde.CheckpointStore, backup func(t *testing.T) (restore func(t *testing.T) garde.Store))

// RunEpochs is the suite of "one log identity, one history": a log that a
// restored backup took back behind a checkpoint garde signed is never
// signed again under the same identity, and a new epoch makes it signable
// under a new origin and key without making any old receipt lie.
func RunEpochs(t *testing.T, open Restorable) {
	t.Run("RestoreRefusesToSign", func(t *testing.T) { testRestoreRefuses(t, open) })
	t.Run("NewEpochAfterRestore", func(t *testing.T) { testNewEpochAfterRestore(t, open) })
	t.Run("NewEpochForward", func(t *testing.T) { testNewEpochForward(t, open) })
	t.Run("CertificateInclusion", func(t *testing.T) { testCertificateInclusion(t, open) })
	t.Run("PendingRecords", func(t *testing.T) { testPendingRecords(t, open) })
	t.Run("UpgradeRecords", func(t *testing.T) { testUpgradeRecords(t, open) })
	t.Run("TenantNewerThanBackup", func(t *testing.T) { testTenantNewerThanBackup(t, open) })
}

// testPendingRecords: a process that dies after recording a checkpoint and
// before its transaction commits leaves a pending record nobody was given.
// It must not block the log; but a pending record whose checkpoint the
// data store holds (the process died after the commit, before marking it)
// may have been handed out, and binds.
func testPendingRecords(t *testing.T, open Restorable) {
	ctx := context.Background()
	st, cs, backup := open(t)
	mk := MasterKeys(t)
	clk := NewClock(epoch)
	s := app.New(st, mk, clk)
	s.SetCheckpointStore(cs)
	a := ConsentTenant(t, s, "A")
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("kim", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	c, err := s.Trail.LedgerCheckpoint(ctx, a.DPO)
	if err != nil {
		t.Fatal(err)
	}
	cp, _ := ledger.PeekCheckpoint(c.Note)
	// A phantom two entries ahead, with a root no tree had.
	phantom := garde.RecordedCheckpoint{Origin: cp.Origin, Size: cp.Size + 2, Root: cp.Hash, Note: c.Note, Pending: true}
	if _, err := cs.RecordCheckpoint(ctx, a.ID, phantom); err != nil {
		t.Fatal(err)
	}
	if forks, err := s.Trail.LedgerForks(ctx); err != nil || len(forks) != 0 {
		t.Fatalf("LedgerForks with a phantom pending record = %+v, %v; want none", forks, err)
	}
	r, err := s.Consent.RecordConsent(ctx, a.Service, Grant("lou", "improve_replies"))
	if err != nil {
		t.Fatalf("RecordConsent over a phantom pending record = %v", err)
	}
	if pend, err := cs.PendingCheckpoints(ctx, a.ID, cp.Origin); err != nil || len(pend) != 0 {
		t.Fatalf("pending records after a signature = %+v, %v; want none (phantom forgotten, the new one published)", pend, err)
	}
	// Now the other case: the newest checkpoint is committed but (as if
	// the process died before marking it) still pending; a restore then
	// takes the log back. That checkpoint binds.
	restore := backup(t)
	got, _ := ledger.PeekCheckpoint(r.Receipt.Evidence.Checkpoint)
	r2, err := s.Consent.RecordConsent(ctx, a.Service, Grant("max", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	last, _ := ledger.PeekCheckpoint(r2.Receipt.Evidence.Checkpoint)
	if got.Size >= last.Size {
		t.Fatalf("sizes %d then %d", got.Size, last.Size)
	}
	if err := cs.ForgetCheckpoint(ctx, a.ID, last.Origin, last.Size, last.Hash); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RecordCheckpoint(ctx, a.ID, garde.RecordedCheckpoint{Origin: last.Origin, Size: last.Size, Root: last.Hash, Note: r2.Receipt.Evidence.Checkpoint, Pending: true}); err != nil {
		t.Fatal(err)
	}
	// Served again from the data store: marked published before it goes out.
	if c, err := s.Trail.LedgerCheckpoint(ctx, a.DPO); err != nil || c.Size != last.Size {
		t.Fatalf("LedgerCheckpoint = %d, %v; want the stored checkpoint of size %d", c.Size, err, last.Size)
	}
	if rec, err := cs.LatestRecorded(ctx, a.ID, last.Origin); err != nil || rec.Size != last.Size {
		t.Fatalf("LatestRecorded after serving = %+v, %v; want size %d published", rec, err, last.Size)
	}
	st2 := restore(t)
	s2 := app.New(st2, mk, clk)
	s2.SetCheckpointStore(cs)
	if _, err := s2.Consent.RecordConsent(ctx, a.Service, Grant("ola", "improve_replies")); !errors.Is(err, trail.ErrLedgerFork) {
		t.Fatalf("RecordConsent after restore = %v, want ErrLedgerFork", err)
	}
}

// histories collects every checkpoint garde hands out and fails the test
// at the second tree of one size under one origin.
type histories map[string]ledger.Checkpoint

func (h histories) add(t *testing.T, note []byte) {
	t.Helper()
	c, err := ledger.PeekCheckpoint(note)
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("%s@%d", c.Origin, c.Size)
	if old, ok := h[k]; ok && old.Hash != c.Hash {
		t.Fatalf("two checkpoints of size %d under %s with different roots: %v and %v", c.Size, c.Origin, old.Hash, c.Hash)
	}
	h[k] = c
}

// forkedTenant runs the attack up to the restore: a consent signed before
// the backup, one signed after (the lost branch), then the restore.
type forked struct {
	s        *app.Service
	st       garde.Store
	cs       garde.CheckpointStore
	a        Tenant
	key1     string
	kept     garde.Receipt // signed before the backup: still in the log
	lost     garde.Receipt // signed after the backup: gone with the restore
	h        histories
	restored garde.Store
}

func restoreAttack(t *testing.T, open Restorable) *forked {
	t.Helper()
	ctx := context.Background()
	st, cs, backup := open(t)
	mk := MasterKeys(t)
	clk := NewClock(epoch)
	s := app.New(st, mk, clk)
	s.SetCheckpointStore(cs)
	a := ConsentTenant(t, s, "A")
	f := &forked{cs: cs, a: a, h: histories{}}
	r1, err := s.Consent.RecordConsent(ctx, a.Service, Grant("kim", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	f.kept = r1.Receipt
	f.h.add(t, r1.Receipt.Evidence.Checkpoint)
	if f.key1, err = s.Trail.LedgerVerifierKey(ctx, a.DPO); err != nil {
		t.Fatal(err)
	}
	restore := backup(t)
	r2, err := s.Consent.RecordConsent(ctx, a.Service, Grant("lou", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	f.lost = r2.Receipt
	f.h.add(t, r2.Receipt.Evidence.Checkpoint)
	f.restored = restore(t)
	// A restart: a new service on the restored data, the same master key
	// and the same checkpoint store.
	f.s = app.New(f.restored, mk, clk)
	f.s.SetCheckpointStore(cs)
	f.st = f.restored
	return f
}

func testRestoreRefuses(t *testing.T, open Restorable) {
	ctx := context.Background()
	f := restoreAttack(t, open)
	forks, err := f.s.Trail.LedgerForks(ctx)
	if err != nil || len(forks) != 1 || forks[0].Tenant != f.a.ID || forks[0].Origin != trail.EpochOrigin(f.a.ID, 1) {
		t.Fatalf("LedgerForks after restore = %+v, %v; want tenant %s", forks, err, f.a.ID)
	}
	// The attack: the restored log is one consent shorter. A consent now
	// would be signed at the size the lost one was, with another root.
	if r, err := f.s.Consent.RecordConsent(ctx, f.a.Service, Grant("max", "improve_replies")); !errors.Is(err, trail.ErrLedgerFork) || !errors.Is(err, garde.ErrConflict) {
		f.h.add(t, r.Receipt.Evidence.Checkpoint)
		t.Fatalf("RecordConsent after restore = %v, want ErrLedgerFork (an ErrConflict)", err)
	}
	// Grow the log past the lost size with audit entries (reads), then
	// ask for a checkpoint: still another tree, still refused.
	for range 3 {
		if _, err := f.s.Vault.Ingest(ctx, f.a.Service, []vault.NewMessage{{Subject: "kim", Purpose: "answer_support_request", Text: "bonjour"}}); err != nil {
			t.Fatal(err)
		}
	}
	if c, err := f.s.Trail.LedgerCheckpoint(ctx, f.a.DPO); !errors.Is(err, trail.ErrLedgerFork) {
		f.h.add(t, c.Note)
		t.Fatalf("LedgerCheckpoint after restore = %v, want ErrLedgerFork", err)
	}
	// verify ledger: no key, refused; the pinned key and the store show
	// that the log went back.
	if _, err := trail.VerifyLedgerWith(ctx, f.st, f.a.ID, trail.LedgerCheck{Checkpoints: f.cs}); !errors.Is(err, garde.ErrInvalid) {
		t.Fatalf("VerifyLedgerWith(no key) = %v, want ErrInvalid", err)
	}
	if _, err := trail.VerifyLedgerWith(ctx, f.st, f.a.ID, trail.LedgerCheck{Keys: []string{f.key1}, Checkpoints: f.cs}); !errors.Is(err, trail.ErrLedger) || !strings.Contains(err.Error(), "went back") {
		t.Fatalf("VerifyLedgerWith after restore = %v, want ErrLedger naming the log going back", err)
	}
	// Both receipts handed out still verify with the key they were
	// signed with: nothing garde said has become false.
	for _, r := range []garde.Receipt{f.kept, f.lost} {
		if err := consent.VerifyReceipt(r, f.key1); err != nil {
			t.Fatalf("VerifyReceipt(leaf %d) = %v", r.LeafIndex, err)
		}
	}
}

func testNewEpochAfterRestore(t *testing.T, open Restorable) {
	ctx := context.Background()
	f := restoreAttack(t, open)
	e, err := f.s.Trail.NewLedgerEpoch(ctx, f.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Number != 2 || e.Origin != trail.EpochOrigin(f.a.ID, 2) || e.PrevClosed || e.PrevOrigin != trail.EpochOrigin(f.a.ID, 1) || e.PrevVerifier != f.key1 {
		t.Fatalf("NewLedgerEpoch = %+v; want epoch 2 after a log gone back (not closed by the old key)", e)
	}
	if !bytes.Equal(e.PrevCheckpoint, f.lost.Evidence.Checkpoint) {
		t.Fatalf("the new epoch names the old identity's last checkpoint %q, want the lost one %q", e.PrevCheckpoint, f.lost.Evidence.Checkpoint)
	}
	key2, err := f.s.Trail.LedgerVerifierKey(ctx, f.a.DPO)
	if err != nil || key2 == f.key1 || !strings.HasPrefix(key2, e.Origin+"+") {
		t.Fatalf("LedgerVerifierKey after the new epoch = %q, %v; want a new key for %s", key2, err, e.Origin)
	}
	if forks, err := f.s.Trail.LedgerForks(ctx); err != nil || len(forks) != 0 {
		t.Fatalf("LedgerForks after the new epoch = %+v, %v; want none", forks, err)
	}
	r3, err := f.s.Consent.RecordConsent(ctx, f.a.Service, Grant("max", "improve_replies"))
	if err != nil {
		t.Fatalf("RecordConsent in the new epoch = %v", err)
	}
	f.h.add(t, r3.Receipt.Evidence.Checkpoint)
	if r3.Receipt.LogOrigin != e.Origin {
		t.Fatalf("receipt of the new epoch names log %s, want %s", r3.Receipt.LogOrigin, e.Origin)
	}
	if err := consent.VerifyReceipt(r3.Receipt, key2); err != nil {
		t.Fatalf("VerifyReceipt(new, new key) = %v", err)
	}
	if err := consent.VerifyReceipt(r3.Receipt, f.key1); !errors.Is(err, consent.ErrReceipt) {
		t.Fatalf("VerifyReceipt(new, old key) = %v, want ErrReceipt", err)
	}
	for _, r := range []garde.Receipt{f.kept, f.lost} {
		if err := consent.VerifyReceipt(r, f.key1); err != nil {
			t.Fatalf("VerifyReceipt(old leaf %d, old key) = %v", r.LeafIndex, err)
		}
		if err := consent.VerifyReceipt(r, key2); !errors.Is(err, consent.ErrReceipt) {
			t.Fatalf("VerifyReceipt(old leaf %d, new key) = %v, want ErrReceipt", r.LeafIndex, err)
		}
	}
	// A second epoch cannot be recorded twice.
	if err := f.cs.PutEpoch(ctx, e); !errors.Is(err, garde.ErrConflict) {
		t.Fatalf("PutEpoch(same number) = %v, want ErrConflict", err)
	}
	rep, err := trail.VerifyLedgerWith(ctx, f.st, f.a.ID, trail.LedgerCheck{Keys: []string{f.key1, key2}, Checkpoints: f.cs})
	if err != nil {
		t.Fatalf("VerifyLedgerWith(both keys) = %v", err)
	}
	if len(rep.Epochs) != 2 || !rep.Epochs[0].Lost || rep.Epochs[1].Lost || rep.Epochs[1].Checkpoints == 0 || rep.Epochs[1].Origin != e.Origin {
		t.Fatalf("VerifyLedgerWith epochs = %+v; want epoch 1 with a lost history, epoch 2 signed", rep.Epochs)
	}
	// Pinning only the old key is not enough to vouch for the new one.
	if _, err := trail.VerifyLedgerWith(ctx, f.st, f.a.ID, trail.LedgerCheck{Keys: []string{f.key1}, Checkpoints: f.cs}); !errors.Is(err, trail.ErrLedger) {
		t.Fatalf("VerifyLedgerWith(old key only) = %v, want ErrLedger", err)
	}
	// A key from another tenant is refused by name.
	b := ConsentTenant(t, f.s, "B")
	kb, err := f.s.Trail.LedgerVerifierKey(ctx, b.DPO)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trail.VerifyLedgerWith(ctx, f.st, f.a.ID, trail.LedgerCheck{Keys: []string{f.key1, kb}, Checkpoints: f.cs}); !errors.Is(err, trail.ErrLedger) {
		t.Fatalf("VerifyLedgerWith(another tenant's key) = %v, want ErrLedger", err)
	}
}

func testNewEpochForward(t *testing.T, open Restorable) {
	ctx := context.Background()
	st, cs, _ := open(t)
	s := app.New(st, MasterKeys(t), NewClock(epoch))
	s.SetCheckpointStore(cs)
	a := ConsentTenant(t, s, "A")
	r1, err := s.Consent.RecordConsent(ctx, a.Service, Grant("kim", "improve_replies"))
	if err != nil {
		t.Fatal(err)
	}
	key1, _ := s.Trail.LedgerVerifierKey(ctx, a.DPO)
	e, err := s.Trail.NewLedgerEpoch(ctx, a.ID)
	if err != nil || !e.PrevClosed || e.Number != 2 {
		t.Fatalf("NewLedgerEpoch on a consistent log = %+v, %v; want epoch 2, the old identity closed by its own key", e, err)
	}
	// The old identity's last checkpoint covers the epoch-end entry, which
	// names the new origin and key: a holder of the old key learns the new.
	last, err := cs.LatestRecorded(ctx, a.ID, trail.EpochOrigin(a.ID, 1))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ledger.OpenCheckpoint(last.Note, key1); err != nil || c.Size != e.StartSize {
		t.Fatalf("old identity's last checkpoint = %+v, %v; want size %d (the epoch-end entry)", c, err, e.StartSize)
	}
	key2, _ := s.Trail.LedgerVerifierKey(ctx, a.DPO)
	rep, err := trail.VerifyLedgerWith(ctx, st, a.ID, trail.LedgerCheck{Keys: []string{key1, key2}, Checkpoints: cs})
	if err != nil || len(rep.Epochs) != 2 || rep.Epochs[0].Lost || rep.Epochs[0].Signed != e.StartSize || rep.Epochs[1].Signed != e.StartSize+1 {
		t.Fatalf("VerifyLedgerWith = %+v, %v; want epoch 1 signed to %d, epoch 2 from %d", rep.Epochs, err, e.StartSize, e.StartSize+1)
	}
	if err := consent.VerifyReceipt(r1.Receipt, key1); err != nil {
		t.Fatal(err)
	}
	// The old identity signs no more.
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("lou", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	if again, err := cs.LatestRecorded(ctx, a.ID, trail.EpochOrigin(a.ID, 1)); err != nil || again.Size != last.Size {
		t.Fatalf("old identity signed again: %+v, %v", again, err)
	}
}

func testCertificateInclusion(t *testing.T, open Restorable) {
	ctx := context.Background()
	st, cs, _ := open(t)
	s := app.New(st, MasterKeys(t), NewClock(epoch))
	s.SetCheckpointStore(cs)
	a := NewTenant(t, s, "A")
	if _, err := s.Vault.Ingest(ctx, a.Service, []vault.NewMessage{{Subject: "kim", Purpose: "answer_support_request", Text: "bonjour"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Trail.NewLedgerEpoch(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rights.FileRequest(ctx, a.DPO, rights.NewRequest{Subject: "kim", Type: garde.RequestErasure})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := s.Trail.LedgerVerifierKey(ctx, a.DPO)
	cert := r.Request.Certificate
	c, err := rights.VerifyCertificate(cert, key)
	if err != nil {
		t.Fatalf("VerifyCertificate = %v", err)
	}
	if c.Entry == nil || c.Ledger.Origin != trail.EpochOrigin(a.ID, 2) || c.Entry.Index >= c.Ledger.Size {
		t.Fatalf("certificate = %+v; want its audit entry in the epoch-2 checkpoint", c)
	}
	rep, err := trail.VerifyLedgerWith(ctx, st, a.ID, trail.LedgerCheck{Keys: []string{key}, Checkpoints: cs})
	if err == nil {
		t.Fatalf("VerifyLedgerWith(epoch-2 key only) = %+v; want the unpinned epoch-1 key named", rep)
	}
}

// testUpgradeRecords: a log signed before the checkpoint store existed is
// recorded at the first start with one, and a restore after that is
// caught.
func testUpgradeRecords(t *testing.T, open Restorable) {
	ctx := context.Background()
	st, cs, backup := open(t)
	mk := MasterKeys(t)
	clk := NewClock(epoch)
	s := app.New(st, mk, clk) // no checkpoint store yet
	a := ConsentTenant(t, s, "A")
	restore := backup(t)
	if _, err := s.Consent.RecordConsent(ctx, a.Service, Grant("kim", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	s = app.New(st, mk, clk)
	s.SetCheckpointStore(cs)
	if forks, err := s.Trail.LedgerForks(ctx); err != nil || len(forks) != 0 {
		t.Fatalf("LedgerForks at the first start with a store = %+v, %v", forks, err)
	}
	s = app.New(restore(t), mk, clk)
	s.SetCheckpointStore(cs)
	if forks, err := s.Trail.LedgerForks(ctx); err != nil || len(forks) != 1 {
		t.Fatalf("LedgerForks after a restore = %+v, %v; want the tenant", forks, err)
	}
}

// testTenantNewerThanBackup: a tenant created after the backup is gone
// with the restore; it has nothing left to sign and blocks nothing.
func testTenantNewerThanBackup(t *testing.T, open Restorable) {
	ctx := context.Background()
	st, cs, backup := open(t)
	mk := MasterKeys(t)
	clk := NewClock(epoch)
	s := app.New(st, mk, clk)
	s.SetCheckpointStore(cs)
	restore := backup(t)
	b := ConsentTenant(t, s, "B")
	if _, err := s.Consent.RecordConsent(ctx, b.Service, Grant("kim", "improve_replies")); err != nil {
		t.Fatal(err)
	}
	s = app.New(restore(t), mk, clk)
	s.SetCheckpointStore(cs)
	if forks, err := s.Trail.LedgerForks(ctx); err != nil || len(forks) != 0 {
		t.Fatalf("LedgerForks with a tenant newer than the backup = %+v, %v; want none", forks, err)
	}
}
