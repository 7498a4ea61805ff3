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

	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/trail"

	"github.com/garde-privacy/garde"
)

const verifyUsage = `usage:
  garde verify receipt FILE --key KEY          check a consent receipt offline
  garde verify certificate FILE --key KEY      check an erasure certificate offline
  garde verify ledger --key KEY|FILE [--key …] [--data-dir DIR | --db URL] [--tenant ID]
                                               check each tenant's whole log against pinned keys

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
	r, err := consent.ParseReceipt(data)
	if err != nil {
		return exitCode{1, fmt.Errorf("invalid: %w", err)}
	}
	if err := consent.VerifyReceipt(r, key); err != nil {
		return exitCode{1, fmt.Errorf("invalid: %w", err)}
	}
	_, epoch := trail.LogOriginTenant(r.LogOrigin)
	fmt.Fprintf(stdout, "valid: consent %s (%s of %s) at %s, leaf %d of log %s (epoch %d), signed at size %s\n",
		r.ConsentReceiptID, r.Action, purposeOf(r), r.ConsentTimestamp.Format("2006-01-02T15:04:05Z07:00"), r.LeafIndex, r.LogOrigin, epoch, checkpointSize(r))
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

// noKeyHelp is what `garde verify ledger` says when no key is pinned.
const noKeyHelp = `garde verify ledger needs the tenants' verifier keys, pinned: --key KEY or --key FILE (one key per line; repeatable).
A key read from the database it checks would prove nothing: whoever can rewrite the log can rewrite that key.
Get each tenant's key once, while you trust the server, and keep it apart from it:
  curl -H "Authorization: Bearer $KEY" https://garde.example/v1/ledger/key >> pinned.keys
After a new ledger epoch, add the new key printed by garde ledger new-epoch (keep the old one: old receipts need it).`

// keyList is a repeatable --key: verifier keys, or files of them.
type keyList []string

func (k *keyList) String() string { return strings.Join(*k, ",") }

func (k *keyList) Set(s string) error {
	b, err := os.ReadFile(s)
	if err != nil {
		if strings.Contains(s, "+") {
			*k = append(*k, strings.TrimSpace(s))
			return nil
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the value may be anything (a secret set by mistake): do not echo it
		}
		return fmt.Errorf("neither a verifier key nor a readable file: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			*k = append(*k, line)
		}
	}
	return nil
}

func runVerifyLedger(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify ledger", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "database: a postgres:// URL, or empty for SQLite in --data-dir")
	dataDir := fs.String("data-dir", "./garde-data", "directory holding the SQLite database")
	tenant := fs.String("tenant", "", "check only this tenant (default: every tenant)")
	var keys keyList
	fs.Var(&keys, "key", "a pinned verifier key, or a file of them (one per line); repeatable: one per tenant and epoch")
	rest, err := parseFlags(fs, args, getenv)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return usageError{"usage: garde verify ledger --key KEY|FILE [--key …] [--data-dir DIR | --db URL] [--tenant ID]"}
	}
	if len(keys) == 0 {
		return usageError{noKeyHelp}
	}
	byTenant := map[garde.TenantID][]string{}
	for _, k := range keys {
		name, _, _ := strings.Cut(k, "+")
		tn, n := trail.LogOriginTenant(name)
		if n == 0 {
			return usageError{fmt.Sprintf("--key: %q is not a garde ledger verifier key (garde/<tenant>[/e<n>]+<hash>+<key>)", name)}
		}
		byTenant[tn] = append(byTenant[tn], k)
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
	// The checkpoint store shows a log that went back behind what garde
	// signed; without it only the data store is checked, and that is said.
	cs, err := openCheckpointStore(st)
	switch {
	case err == nil:
	case errors.Is(err, garde.ErrNotFound):
		fmt.Fprintf(stdout, "warning: %v: a log restored behind what garde signed cannot be detected\n", err)
		cs = nil
	default:
		return err
	}
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
		if len(byTenant[t]) == 0 {
			err := fmt.Errorf("%w: tenant %s: no pinned key (--key)", trail.ErrLedger, t)
			fmt.Fprintf(stdout, "tenant %s: INVALID: %v\n", t, err)
			failed = append(failed, err)
			continue
		}
		rep, err := trail.VerifyLedgerWith(ctx, st, t, trail.LedgerCheck{Keys: byTenant[t], Checkpoints: cs})
		if err != nil {
			fmt.Fprintf(stdout, "tenant %s: INVALID: %v\n", t, err)
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(stdout, "tenant %s: ok: %d entries (%d consent, %d audit), %d signed by %d checkpoints\n",
			t, rep.Size, rep.Consents, rep.Audit, rep.Signed, rep.Checkpoints)
		for i, e := range rep.Epochs {
			state := "closed"
			if i == len(rep.Epochs)-1 {
				state = "current"
			}
			fmt.Fprintf(stdout, "  epoch %d: log %s (%s): %d checkpoints in the log, up to size %d", e.Number, e.Origin, state, e.Checkpoints, e.Signed)
			if e.Lost {
				fmt.Fprintf(stdout, "; its history up to size %d was lost with a restore: receipts of it verify against this epoch's key only", e.Recorded)
			}
			fmt.Fprintln(stdout)
		}
	}
	if len(failed) > 0 {
		return exitCode{1, fmt.Errorf("%d of %d logs do not verify: %w", len(failed), len(tenants), errors.Join(failed...))}
	}
	return nil
}
