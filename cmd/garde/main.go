// Command garde runs the privacy layer and administers it.
//
//	garde serve                      run the HTTP API (SQLite under ./garde-data)
//	garde tenant create NAME         create a tenant and print its first admin key
//	garde operator key               create an operator credential
//	garde register apply FILE        apply a register of processing through the API
//	garde keys rotate                rotate the master key or a tenant key
//	garde keys backup|restore        key store backups that expire
//	garde scan [FILE...]             find personal data in text
//	garde verify receipt|ledger      check receipts and ledgers offline
//	garde migrate                    apply database migrations
//
// Every flag can also be set with a GARDE_* environment variable
// (--data-dir ↔ GARDE_DATA_DIR); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "garde:", err)
			}
			os.Exit(2)
		}
		var ec exitCode
		if errors.As(err, &ec) {
			fmt.Fprintln(os.Stderr, "garde:", ec.err)
			os.Exit(ec.code)
		}
		fmt.Fprintln(os.Stderr, "garde:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitCode carries a specific exit status.
type exitCode struct {
	code int
	err  error
}

func (e exitCode) Error() string { return e.err.Error() }

const usage = `garde — the privacy layer

Usage:
  garde serve [flags]                        run the HTTP API
  garde tenant create NAME [--json]          create a tenant; prints its first admin key once
  garde operator key [--json]                create an operator credential (creates tenants over the API)
  garde tenant offboard ID --out FILE        export a tenant's data, then destroy its keys (Art. 28(3)(g))
  garde tenant recover-admin ID [--json]     issue a new admin key to a tenant that lost its own; shown once
  garde register apply FILE --server URL --key KEY
                                             apply a register of processing
  garde keys rotate [--tenant ID]            rotate the master key (default) or a tenant key
  garde keys backup FILE [--retention 720h]  sealed backup of the key store, restorable until it expires
  garde keys restore FILE                    merge a key store backup back (garde stopped)
  garde scan [flags] [FILE...]               find personal data in text (stdin by default)
  garde verify receipt FILE --key PUBKEY     check a consent receipt offline
  garde verify ledger --key PUBKEY [--tenant ID]
                                             check each tenant's ledger against its pinned keys
  garde verify certificate FILE --key PUBKEY check an erasure certificate offline
  garde migrate [--db URL]                   apply database migrations and exit
  garde backup [--data-dir DIR] FILE         copy the SQLite database while garde serves
  garde restore [--data-dir DIR] FILE        restore a backup (garde stopped); erasures since stay erased
                 [--new-epoch]               and start new ledger identities where the log went back
  garde ledger new-epoch [--tenant ID]       start a new ledger identity (origin and key) after a restore
  garde breach list|create|show|notice|clock the breach register, its notices and its 72-hour clock

Every command that works on the data takes --data-dir (default ./garde-data).
Every flag has an environment variable: --data-dir is GARDE_DATA_DIR.
Run 'garde COMMAND -h' for a command's flags.
`

// run is main without the process: arguments, environment and streams are
// parameters, so tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"a command is required"}
	}
	if err := enterGate(args); err != nil { // commands.go
		return err
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "tenant":
		if len(rest) > 0 && rest[0] == "offboard" {
			return runTenantOffboard(ctx, rest[1:], getenv, stdout, stderr) // backup.go
		}
		if len(rest) > 0 && rest[0] == "recover-admin" {
			return runTenantRecoverAdmin(ctx, rest[1:], getenv, stdout, stderr) // admin.go
		}
		if len(rest) == 0 || rest[0] != "create" {
			return usageError{"usage: garde tenant create|recover-admin|offboard …"}
		}
		return runTenantCreate(ctx, rest[1:], getenv, stdout, stderr)
	case "operator":
		if len(rest) == 0 || rest[0] != "key" {
			return usageError{"usage: garde operator key [--data-dir DIR] [--json]"}
		}
		return runOperatorKey(ctx, rest[1:], getenv, stdout, stderr)
	case "register":
		if len(rest) == 0 || rest[0] != "apply" {
			return usageError{"usage: garde register apply FILE --server URL --key KEY"}
		}
		return runRegisterApply(ctx, rest[1:], getenv, stdout, stderr)
	case "keys":
		switch {
		case len(rest) > 0 && rest[0] == "rotate":
			return runKeysRotate(ctx, rest[1:], getenv, stdout, stderr)
		case len(rest) > 0 && rest[0] == "backup":
			return runKeysBackup(ctx, rest[1:], getenv, stdout, stderr)
		case len(rest) > 0 && rest[0] == "restore":
			return runKeysRestore(ctx, rest[1:], getenv, stdout, stderr)
		}
		return usageError{"usage: garde keys rotate|backup|restore ... (garde help)"}
	case "scan":
		return runScan(ctx, rest, stdin, stdout, stderr)
	case "verify":
		return runVerify(ctx, rest, getenv, stdout, stderr)
	case "backup":
		return runBackup(ctx, rest, getenv, stdout, stderr)
	case "restore":
		return runRestore(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "ledger":
		return runLedger(ctx, rest, getenv, stdout, stderr) // ledger.go
	case "breach":
		return runBreach(ctx, rest, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

// parseFlags parses args, then fills every flag not given on the command
// line from its GARDE_* variable, and returns the positional arguments.
// Flags may come before or after positional arguments.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := "GARDE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(env); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = usageError{fmt.Sprintf("%s=%q: %v", env, v, e)}
			}
		}
	})
	return positional, err
}
