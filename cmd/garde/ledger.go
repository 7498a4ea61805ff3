package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/garde-privacy/garde/app"

	"github.com/garde-privacy/garde"
)

// One log identity, one history (epoch.go in package garde): every
// checkpoint garde signs is recorded outside the data store first — on
// SQLite in DATA-DIR/keys.db beside master.key, on PostgreSQL in the
// garde_keys schema — so that a restored backup cannot make garde sign a
// second tree of a size it signed already.

// openCheckpointStore returns the checkpoint store that comes with st (in
// the key store: DATA-DIR/keys.db, or the garde_keys schema).
func openCheckpointStore(st garde.Store) (garde.CheckpointStore, error) {
	if cp, ok := st.(garde.CheckpointStoreProvider); ok && cp.CheckpointStore() != nil {
		return cp.CheckpointStore(), nil
	}
	return nil, garde.Errorf(garde.ErrNotFound, "this store keeps no checkpoint store")
}

// reportForks logs, at start, every tenant whose log garde now refuses to
// sign (a restored backup took it behind a checkpoint it signed). Tenant
// ids are opaque: no personal data.
func reportForks(ctx context.Context, svc *app.Service, logger *slog.Logger) error {
	forks, err := svc.Trail.LedgerForks(ctx)
	if err != nil {
		return fmt.Errorf("ledger check: %w", err)
	}
	for _, f := range forks {
		logger.Error("ledger: refusing to sign checkpoints for this tenant: its log is behind or differs from a checkpoint garde signed (a restored backup?); run garde ledger new-epoch --tenant ID",
			"tenant", string(f.Tenant), "origin", f.Origin)
	}
	return nil
}

// newEpochs starts a new epoch for every tenant whose log garde refuses to
// sign, and prints the new keys to pin.
func newEpochs(ctx context.Context, svc *app.Service, stdout io.Writer) (int, error) {
	forks, err := svc.Trail.LedgerForks(ctx)
	if err != nil {
		return 0, err
	}
	for _, f := range forks {
		if err := newEpoch(ctx, svc, f.Tenant, stdout); err != nil {
			return 0, err
		}
	}
	return len(forks), nil
}

func newEpoch(ctx context.Context, svc *app.Service, tenant garde.TenantID, stdout io.Writer) error {
	e, err := svc.Trail.NewLedgerEpoch(ctx, tenant)
	if err != nil {
		return fmt.Errorf("tenant %s: new ledger epoch: %w", tenant, err)
	}
	how := "the old key signed its last checkpoint over the hand-over"
	if !e.PrevClosed {
		how = fmt.Sprintf("the log had gone back: the old identity's history after its restored size is lost (its last checkpoint is named in the new log's first entry, at %d)", e.StartSize)
	}
	fmt.Fprintf(stdout, "tenant %s: ledger epoch %d: log %s, verifier key (pin it, with the old one):\n%s\n(%s; %s)\n", tenant, e.Number, e.Origin, e.Verifier, e.PrevOrigin, how)
	return nil
}

const ledgerUsage = "usage: garde ledger new-epoch [--tenant ID] [--data-dir DIR | --db URL]   (default: every tenant whose log garde refuses to sign)"

// runLedger is `garde ledger new-epoch`: the operator's choice, after a
// restore, to start new log identities rather than sign a second history.
func runLedger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new-epoch" {
		return usageError{ledgerUsage}
	}
	fs := flag.NewFlagSet("ledger new-epoch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	tenant := fs.String("tenant", "", "start a new epoch for this tenant even if its log is consistent (default: every tenant garde refuses to sign)")
	rest, err := parseFlags(fs, args[1:], getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{ledgerUsage}
	}
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if *tenant != "" {
		return newEpoch(ctx, svc, garde.TenantID(*tenant), stdout)
	}
	n, err := newEpochs(ctx, svc, stdout)
	if err == nil && n == 0 {
		fmt.Fprintln(stdout, "every tenant's log is consistent with what garde signed: no new epoch needed")
	}
	return err
}

// restoreEpochs checks the restored database against the checkpoint store
// before it is swapped in. With newEpoch, every tenant whose log went back
// gets a new ledger identity now; without, the tenants are named and garde
// will refuse to sign their logs until the operator decides.
func restoreEpochs(ctx context.Context, svc *app.Service, st garde.Store, dataDir string, newEpoch bool, stdout io.Writer) error {
	cs, err := openCheckpointStore(st)
	if err != nil {
		return fmt.Errorf("checkpoint store: %w", err)
	}
	svc.SetCheckpointStore(cs)
	if newEpoch {
		_, err := newEpochs(ctx, svc, stdout)
		return err
	}
	forks, err := svc.Trail.LedgerForks(ctx)
	if err != nil {
		return err
	}
	for _, f := range forks {
		fmt.Fprintf(stdout, "tenant %s: the backup is behind a checkpoint garde signed for log %s: garde will refuse to sign it; run garde ledger new-epoch (or restore again with --new-epoch)\n", f.Tenant, f.Origin)
	}
	return nil
}
