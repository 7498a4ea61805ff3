package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/garde-privacy/garde"
)

const verifyUsage = `usage:
  garde verify receipt FILE --key KEY          check a consent receipt offline
  garde verify certificate FILE --key KEY      check an erasure certificate offline
  garde verify ledger [--data-dir DIR] [--tenant ID] [--key KEY]
                                               check each tenant's whole log

KEY is a tenant's ledger verifier key (GET /v1/ledger/key), or a file holding it.
Exit status: 0 valid, 1 invalid (the reason is printed), 2 usage error.`

// runVerify checks evidence with no access to the server and no secret:
// a receipt against the tenant's published key, or the logs in a data
// directory against their signed checkpoints.
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{verifyUsage}
	}
	switch args[0] {
	case "receipt":
		return runVerifyReceipt(args[1:], getenv, stdout, stderr)
	case "ledger":
		return runVerifyLedger(ctx, args[1:], getenv, stdout, stderr)
	case "certificate":
		return runVerifyCertificate(args[1:], getenv, stdout, stderr) // backup.go
	}
	return usageError{verifyUsage}
}

// readKey takes a verifier key given inline or as a file.
func readKey(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if !strings.Contains(s, "+") {
		b, err := os.ReadFile(s)
		if err != nil {
			return "", fmt.Errorf("--key: neither a verifier key nor a readable file: %w", err)
		}
		s = string(b)
	}
	return strings.TrimSpace(s), nil
}

func runVerifyReceipt(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify receipt", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyArg := fs.String("key", "", "the tenant's ledger verifier key, or a file holding it")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 1 || *keyArg == "" {
		return usageError{"usage: garde verify receipt FILE --key KEY"}
	}
	key, err := readKey(*keyArg)
	if err != nil {
		return usageError{err.Error()}
	}
	var data []byte
	if rest[0] == "-" {
		return usageError{"garde verify receipt: give the receipt as a file"}
	}
	data, err = os.ReadFile(rest[0])
	if err != nil {
		return exitCode{1, err}
	}
	r, err := garde.ParseReceipt(data)
	if err != nil {
		return exitCode{1, fmt.Errorf("invalid: %w", err)}
	}
	if err := garde.VerifyReceipt(r, key); err != nil {
		return exitCode{1, fmt.Errorf("invalid: %w", err)}
	}
	fmt.Fprintf(stdout, "valid: consent %s (%s of %s) at %s, leaf %d of log %s, signed at size %s\n",
		r.ConsentReceiptID, r.Action, purposeOf(r), r.ConsentTimestamp.Format("2006-01-02T15:04:05Z07:00"), r.LeafIndex, r.LogOrigin, checkpointSize(r))
	return nil
}

func purposeOf(r garde.Receipt) string {
	if len(r.Services) > 0 && len(r.Services[0].Purposes) > 0 {
		return r.Services[0].Purposes[0].Purpose
	}
	return "?"
}

func checkpointSize(r garde.Receipt) string {
	lines := strings.SplitN(string(r.Evidence.Checkpoint), "\n", 3)
	if len(lines) < 2 {
		return "?"
	}
	return lines[1]
}

func runVerifyLedger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify ledger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "database: a postgres:// URL, or empty for SQLite in --data-dir")
	dataDir := fs.String("data-dir", "./garde-data", "directory holding the SQLite database")
	tenant := fs.String("tenant", "", "check only this tenant (default: every tenant)")
	keyArg := fs.String("key", "", "verifier key to pin (with --tenant); default: the key stored with the log")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{"usage: garde verify ledger [--data-dir DIR] [--tenant ID] [--key KEY]"}
	}
	key, err := readKey(*keyArg)
	if err != nil {
		return usageError{err.Error()}
	}
	if key != "" && *tenant == "" {
		return usageError{"--key pins one tenant's key: give --tenant too"}
	}
	if *db == "" {
		if _, err := os.Stat(filepath.Join(*dataDir, "garde.db")); err != nil {
			return exitCode{1, fmt.Errorf("no database in %s: %w", *dataDir, err)}
		}
	}
	st, err := openStore(ctx, *db, *dataDir, "NORMAL")
	if err != nil {
		return err
	}
	defer st.Close()
	var tenants []garde.TenantID
	if *tenant != "" {
		tenants = []garde.TenantID{garde.TenantID(*tenant)}
	} else {
		err := st.View(ctx, func(tx garde.Tx) error {
			ts, err := tx.Tenants(ctx)
			for _, t := range ts {
				tenants = append(tenants, t.ID)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	var failed []error
	for _, t := range tenants {
		rep, err := garde.VerifyLedger(ctx, st, t, key)
		if err != nil {
			fmt.Fprintf(stdout, "tenant %s: INVALID: %v\n", t, err)
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(stdout, "tenant %s: ok: %d entries (%d consent, %d audit), %d signed by %d checkpoints\n",
			t, rep.Size, rep.Consents, rep.Audit, rep.Signed, rep.Checkpoints)
	}
	if len(failed) > 0 {
		return exitCode{1, fmt.Errorf("%d of %d logs do not verify: %w", len(failed), len(tenants), errors.Join(failed...))}
	}
	return nil
}
