package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/garde-privacy/garde/rights"
)

const keysBackupUsage = "usage: garde keys backup FILE [--retention 720h] [--data-dir DIR | --db URL]"

// runKeysBackup writes a sealed, expiring backup of the key store.
func runKeysBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	retention := fs.Duration("retention", rights.DefaultKeyBackupRetention, "how long the backup can be restored; after that it is refused, and retiring its master key version makes it unreadable")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{keysBackupUsage}
	}
	f, err := os.OpenFile(rest[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keys backup: %w", err)
	}
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		f.Close()
		os.Remove(rest[0])
		return err
	}
	defer db.Close()
	info, err := svc.Rights.BackupKeys(ctx, f, *retention)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(rest[0])
		return fmt.Errorf("keys backup: %w", err)
	}
	fmt.Fprintf(stdout, "key store backed up to %s: %d tenants, %d subject keys, %d journal entries, sealed under master key version %d\nrestorable until %s; after that, `garde keys rotate --retire` makes it unreadable everywhere\n",
		rest[0], info.Tenants, info.SubjectKeys, info.JournalEntries, info.MasterVersion, info.Expires.Format(time.RFC3339))
	return nil
}

// runKeysRestore merges a key store backup into the live key store.
func runKeysRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var d dataFlags
	d.register(fs)
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"usage: garde keys restore FILE [--data-dir DIR | --db URL]   (stop garde serve first)"}
	}
	f, err := os.Open(rest[0])
	if err != nil {
		return fmt.Errorf("keys restore: %w", err)
	}
	defer f.Close()
	// Like garde restore: refused while anything serves the data (lock.go).
	unlock, err := d.lockAlone(ctx, "garde keys restore", stderr)
	if err != nil {
		return err
	}
	defer unlock()
	svc, db, _, err := d.open(ctx, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	info, err := svc.Rights.RestoreKeys(ctx, f)
	if errors.Is(err, rights.ErrKeyBackupExpired) {
		return exitCode{1, fmt.Errorf("keys restore: %s expired at %s: refused", rest[0], info.Expires.Format(time.RFC3339))}
	}
	if err != nil {
		return fmt.Errorf("keys restore: %w", err)
	}
	fmt.Fprintf(stdout, "key store backup of %s merged: %d subject keys, %d journal entries; every erasure since it was made was applied again\n",
		info.Created.Format(time.RFC3339), info.SubjectKeys, info.JournalEntries)
	return nil
}
