package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/egress"
	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/notify"
	"github.com/garde-privacy/garde/sqlite"
)

// Backups stay erased. The keys that open personal data live in the key
// store (DATA-DIR/keys.db beside the master key; the garde_keys schema on
// PostgreSQL), never in the data store, so a backup of garde.db holds no
// key: restored anywhere, it opens nothing without the live key store,
// which no longer holds an erased subject's key. The key store also keeps
// the journal of destructive operations (erasures, off-boardings,
// withdrawals, retention purges); opening the data (garde serve and every
// command) and `garde restore` replay it, so that the rows of an erased
// subject, or messages purged since, do not come back with an old backup.

// enforceErasures imports the erasure journal file of garde before the key
// store (once), then replays the key store's journal on the data store.
func enforceErasures(ctx context.Context, svc *app.Service, ks garde.KeyStore, dataDir string, stderr io.Writer) error {
	if dataDir != "" {
		n, err := rights.ImportLegacyJournal(ctx, ks, filepath.Join(dataDir, rights.LegacyJournalFile))
		if err != nil {
			return fmt.Errorf("import %s: %w", rights.LegacyJournalFile, err)
		}
		if n > 0 {
			fmt.Fprintf(stderr, "garde: %d entries of %s moved into the key store's journal\n", n, rights.LegacyJournalFile)
		}
	}
	n, err := svc.Rights.ReplayJournal(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(stderr, "garde: the journal applied %d destructive operation(s) again that the data store did not reflect (a restored backup)\n", n)
	}
	return nil
}

const backupUsage = "usage: garde backup [--data-dir DIR] FILE"

// runBackup copies the SQLite database to FILE while garde may be serving.
func runBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "./garde-data", "data directory holding garde.db")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{backupUsage}
	}
	src := filepath.Join(*dataDir, "garde.db")
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	db, err := sqlite.Open(ctx, src, sqlite.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	if err := db.Backup(ctx, rest[0]); err != nil {
		return err
	}
	fi, _ := os.Stat(rest[0])
	fmt.Fprintf(stdout, "backed up %s to %s (%d bytes, %s)\nThe backup holds no key: it is read with %s and the key store %s, which are backed up apart.\n",
		src, rest[0], fi.Size(), time.Since(start).Round(time.Millisecond), filepath.Join(*dataDir, "master.key"), sqlite.KeyStorePath(src))
	return nil
}

const restoreUsage = "usage: garde restore [--data-dir DIR] [--new-epoch] FILE   (refused while garde serve runs on DIR)"

// runRestore replaces the data directory's database with a backup, after
// replaying the erasure journal on it.
func runRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	newEpoch := fs.Bool("new-epoch", false, "start a new ledger identity for every tenant whose log the backup takes behind a checkpoint garde signed")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 || d.db != "" {
		return usageError{restoreUsage}
	}
	// Refused while anything serves the directory: the swap below would
	// pull the database from under it (lock.go).
	unlock, err := d.lockAlone(ctx, "garde restore", stderr)
	if err != nil {
		return err
	}
	defer unlock()
	in, err := os.ReadFile(rest[0])
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(d.dataDir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(d.dataDir, "garde.db.restoring")
	os.Remove(tmp)
	if err := os.WriteFile(tmp, in, 0o600); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	keyFile := d.keyFile
	if keyFile == "" {
		keyFile = filepath.Join(d.dataDir, "master.key")
	}
	mk, _, err := keyring.LoadOrCreateFile(keyFile, time.Now())
	if err != nil {
		return err
	}
	dst := filepath.Join(d.dataDir, "garde.db")
	// The backup is opened with the live key store: the keys it never held.
	db, err := sqlite.Open(ctx, tmp, sqlite.Options{Synchronous: "FULL", KeyStorePath: sqlite.KeyStorePath(dst)})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	svc := app.New(db, mk, garde.SystemClock{})
	err = enforceErasures(ctx, svc, db.KeyStore(), d.dataDir, stderr)
	if err == nil {
		err = restoreEpochs(ctx, svc, db, d.dataDir, *newEpoch, stdout) // ledger.go
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dst + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("restore: %w", err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored %s into %s; destructive operations since the backup were applied again from the key store's journal\n", rest[0], dst)
	return nil
}

// runRightsJobs runs the background work of rights (deadline alarms,
// deliveries, retention purge) until ctx ends. The alarm webhook is
// GARDE_RIGHTS_WEBHOOK (with GARDE_RIGHTS_WEBHOOK_SECRET for its HMAC).
func runRightsJobs(ctx context.Context, svc *app.Service, logger *slog.Logger, getenv func(string) string, policy *egress.Policy) {
	host, _ := os.Hostname()
	c := rights.RightsJobs{
		Node:        fmt.Sprintf("%s/%d", host, os.Getpid()),
		AlarmURL:    getenv("GARDE_RIGHTS_WEBHOOK"),
		AlarmSecret: []byte(getenv("GARDE_RIGHTS_WEBHOOK_SECRET")),
		Sender:      &notify.Sender{Policy: policy},
		Logger:      logger,
		OnError:     func(err error) { logger.Error("rights jobs", "err", err.Error()) },
	}
	if err := svc.Rights.RunRightsJobs(ctx, c); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("rights jobs stopped", "err", err.Error())
	}
}

// runVerifyCertificate checks an erasure certificate offline.
func runVerifyCertificate(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify certificate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyArg := fs.String("key", "", "the tenant's ledger verifier key (GET /v1/ledger/key), or a file holding it")
	asJSON := fs.Bool("json", false, "print the certificate's content as JSON")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 || *keyArg == "" {
		return usageError{"usage: garde verify certificate FILE --key KEY"}
	}
	key, err := readKey(*keyArg)
	if err != nil {
		return usageError{err.Error()}
	}
	data, err := os.ReadFile(rest[0])
	if err != nil {
		return exitCode{1, err}
	}
	c, err := rights.VerifyCertificate(data, key)
	if err != nil {
		return exitCode{1, fmt.Errorf("invalid: %w", err)}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(c)
	}
	var keys []string
	for _, k := range c.KeysDestroyed {
		keys = append(keys, k.ID)
	}
	fmt.Fprintf(stdout, "valid: %s certificate of tenant %s", c.Kind, c.Tenant)
	if c.Request != "" {
		fmt.Fprintf(stdout, ", request %s", c.Request)
	}
	fmt.Fprintf(stdout, "\nkey destroyed %s, completed %s\nkeys destroyed: %s\npurged: %v\nrecipients notified: %s\nledger %s at size %d (signed checkpoint verified), its audit entry %d proved in it\n",
		c.KeyDestroyedAt.Format(time.RFC3339), c.CompletedAt.Format(time.RFC3339), strings.Join(keys, ", "), c.Purged, strings.Join(c.Recipients, ", "), c.Ledger.Origin, c.Ledger.Size, c.Entry.Index)
	return nil
}

// runTenantOffboard ends a tenant's contract: every subject's data is
// written to --out as JSON lines (one object per subject, its messages
// inline), then the tenant's keys are destroyed and the signed certificate
// written to --out.certificate.
func runTenantOffboard(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tenant offboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	out := fs.String("out", "", "file to write the tenant's export to (JSON lines); the certificate goes to FILE.certificate")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 || *out == "" {
		return usageError{"usage: garde tenant offboard ID --out FILE [--data-dir DIR]"}
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	type subjectOut struct {
		rights.SubjectExport
		Messages []garde.MessageView
	}
	enc := json.NewEncoder(f)
	var cur *subjectOut
	flush := func() error {
		if cur == nil {
			return nil
		}
		err := enc.Encode(cur)
		cur = nil
		return err
	}
	subjects := 0
	cert, err := svc.Rights.OffboardTenant(ctx, cliOperator, garde.TenantID(rest[0]), func(h rights.SubjectExport) error {
		if err := flush(); err != nil {
			return err
		}
		subjects++
		cur = &subjectOut{SubjectExport: h}
		return nil
	}, func(m garde.MessageView) error {
		cur.Messages = append(cur.Messages, m)
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := os.WriteFile(*out+".certificate", cert, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant %s off-boarded: %d subjects exported to %s, keys destroyed; certificate in %s.certificate\n", rest[0], subjects, *out, *out)
	return nil
}
