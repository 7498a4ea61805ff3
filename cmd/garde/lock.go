package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/garde-privacy/garde/postgres"
)

// The serve lock. `garde serve` holds it shared for its whole life; a
// command that must not run while anything serves the data takes it
// exclusive, without waiting, and refuses when it cannot. Several servers
// on one data directory or one database share it (TestConsentTwoNodes runs
// two), and a server does not start while such a command runs.
//
// On SQLite it is a file lock (flock) on DATA-DIR/serve.lock, on
// PostgreSQL a session advisory lock on a connection of its own; both are
// released by the operating system or the database when the process ends,
// however it ends (a SIGKILL leaves no stale lock).
//
// Which commands take it exclusive: restore, because it swaps the
// database file under the servers (writes acknowledged after the swap
// would land in the file it replaced, or be lost), and keys restore,
// because it merges keys back between reads of the live journal (an
// erasure committing meanwhile could see its key re-added until the
// merge's own reconciliation). The other commands that write — tenant
// create and recover-admin, operator key, keys rotate (its re-wrap only
// updates keys that still exist; two tenant rotations conflict), keys
// backup, tenant offboard, migrate, backup — work through the stores' own
// transactions, as one more server would, and are safe while garde
// serves (README's first steps create a tenant while serve runs).

// serveLockFile is the SQLite serve lock, in the data directory.
const serveLockFile = "serve.lock"

// errLockHeld is what lockFile reports when the lock is held in a
// conflicting mode; errNoFileLock, on a system without flock.
var (
	errLockHeld   = errors.New("lock held")
	errNoFileLock = errors.New("no file lock on this system")
)

// lockServe takes the serve lock shared, for garde serve.
func (d *dataFlags) lockServe(ctx context.Context, stderr io.Writer) (release func(), err error) {
	release, err = d.lock(ctx, false)
	if errors.Is(err, errNoFileLock) {
		fmt.Fprintln(stderr, "garde: warning: no file lock on this system; garde restore cannot tell that this server runs")
		return func() {}, nil
	}
	if errors.Is(err, errLockHeld) {
		return nil, fmt.Errorf("%s: a command that must run alone (garde restore) holds the serve lock; let it finish, then start garde serve again", d.where())
	}
	return release, err
}

// lockAlone takes the serve lock exclusive, for a command that must not
// run while anything serves the data.
func (d *dataFlags) lockAlone(ctx context.Context, command string, stderr io.Writer) (release func(), err error) {
	release, err = d.lock(ctx, true)
	if errors.Is(err, errNoFileLock) {
		fmt.Fprintf(stderr, "garde: warning: no file lock on this system; %s cannot tell whether garde serve runs: stop it first\n", command)
		return func() {}, nil
	}
	if errors.Is(err, errLockHeld) {
		how := fmt.Sprintf("a garde serve holds %s (fuser -v %[1]s names the process)", filepath.Join(d.dataDir, serveLockFile))
		if isPostgresURL(d.db) {
			how = "a garde serve holds the serve lock on this database (pg_locks lists it: locktype advisory, classid 1936028278, on a connection named 'garde serve lock')"
		}
		return nil, fmt.Errorf("%s refused: %s; stop every garde serve on %s, then run it again", command, how, d.where())
	}
	return release, err
}

func (d *dataFlags) lock(ctx context.Context, exclusive bool) (func(), error) {
	if isPostgresURL(d.db) {
		l, err := postgres.LockServe(ctx, d.db, exclusive)
		if errors.Is(err, postgres.ErrLocked) {
			return nil, errLockHeld
		}
		if err != nil {
			return nil, err
		}
		return func() { l.Close() }, nil
	}
	return lockFile(filepath.Join(d.dataDir, serveLockFile), exclusive)
}

// where names the data for a message: the database or the data directory
// (never a URL, which may hold a password).
func (d *dataFlags) where() string {
	if isPostgresURL(d.db) {
		return "the PostgreSQL database"
	}
	return d.dataDir
}
