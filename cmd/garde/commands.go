package main

import (
	"strings"

	"github.com/garde-privacy/garde"
)

// command is one command of the command line and the operation it enters
// the gate with (garde.Enter) before it does anything: run enters it as
// the host (cliHost) for the host's own operations, and as the operator
// (cliOperator) for the operations it shares with the API, so the command
// line goes through the same table. Whoever runs it holds the data
// directory and the master key already: the gate here is the table and
// its audit trail, not a lock. A command that only talks to the API (over
// HTTP, with the caller's key) is marked overAPI: the server's route
// enters the operation; TestCommandsEnterTheGate checks that such a route
// exists. help enters nothing.
type command struct {
	name    string // "keys rotate": the words that select it
	op      garde.Op
	overAPI bool
}

var commands = []command{
	{name: "serve", op: garde.OpServe},
	{name: "tenant create", op: garde.OpTenantCreate},
	{name: "tenant recover-admin", op: garde.OpAdminRecover},
	{name: "tenant offboard", op: garde.OpTenantOffboard},
	{name: "operator key", op: garde.OpOperatorKey},
	{name: "register apply", op: garde.OpRegisterApply, overAPI: true},
	{name: "keys rotate", op: garde.OpKeysRotate},
	{name: "keys backup", op: garde.OpKeysBackup},
	{name: "keys restore", op: garde.OpKeysRestore},
	{name: "scan", op: garde.OpScan},
	{name: "verify receipt", op: garde.OpOfflineVerify},
	{name: "verify certificate", op: garde.OpOfflineVerify},
	{name: "verify ledger", op: garde.OpLedgerVerify},
	{name: "migrate", op: garde.OpMigrate},
	{name: "backup", op: garde.OpBackup},
	{name: "restore", op: garde.OpRestore},
	{name: "ledger new-epoch", op: garde.OpLedgerEpoch},
	{name: "breach list", op: garde.OpBreachRead},
	{name: "breach show", op: garde.OpBreachRead},
	{name: "breach notice", op: garde.OpBreachRead},
	{name: "breach create", op: garde.OpBreachWrite},
	{name: "breach clock", op: garde.OpBreachWrite},
}

// lookupCommand finds the command args select: the longest name whose
// words begin args.
func lookupCommand(args []string) (command, bool) {
	var best command
	found := false
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(words) > len(args) || (found && len(words) <= len(strings.Fields(best.name))) {
			continue
		}
		match := true
		for i, w := range words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match {
			best, found = c, true
		}
	}
	return best, found
}

// enterGate enters the operation of the command args select. A command
// the table does not know is left to run's usage error.
func enterGate(args []string) error {
	c, ok := lookupCommand(args)
	if !ok || c.overAPI {
		return nil
	}
	p := cliOperator
	if c.op.Perm() == garde.PermHost {
		p = cliHost
	}
	_, err := garde.Enter(p, c.op)
	return err
}

// cliHost is the command line acting as the host (garde.RoleHost).
var cliHost = garde.Principal{KeyID: "cli", Role: garde.RoleHost}
