// The serve lock: a session advisory lock that `garde serve` holds shared
// and that commands which must not run beside a server take exclusive.

package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// serveLock is the first key of the session advisory lock that `garde
// serve` holds shared for its whole life, and that a command which must not
// run while anything serves the database takes exclusive (the second key
// is a hash of the schema, as for migrationLock, so that schemas side by
// side do not lock each other).
const serveLock = 0x73657276 // "serv"

// ErrLocked reports that another session holds the serve lock in a mode
// that conflicts with the one asked for.
var ErrLocked = errors.New("postgres: the serve lock is held by another session")

// SessionLock is the serve lock, held by a connection of its own: a
// session-level advisory lock lasts as long as its session, so it is
// released when the process ends, however it ends, and with Close.
type SessionLock struct {
	conn *pgx.Conn
}

// LockServe takes the serve lock without waiting: shared (any number of
// servers hold it together) or exclusive (no server may hold it). It
// returns ErrLocked when another session holds it in a conflicting mode.
func LockServe(ctx context.Context, dsn string, exclusive bool) (*SessionLock, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may repeat the URL, password included.
		return nil, errors.New("postgres: invalid connection string")
	}
	cfg.RuntimeParams["application_name"] = "garde serve lock"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, translate(fmt.Errorf("serve lock: connect: %w", err))
	}
	fn := "pg_try_advisory_lock_shared"
	if exclusive {
		fn = "pg_try_advisory_lock"
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT `+fn+`($1, hashtext(coalesce(current_schema(), '')))`, serveLock).Scan(&ok); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, translate(fmt.Errorf("serve lock: %w", err))
	}
	if !ok {
		conn.Close(context.WithoutCancel(ctx))
		return nil, ErrLocked
	}
	return &SessionLock{conn: conn}, nil
}

// Close ends the lock's session, which releases the lock.
func (l *SessionLock) Close() error {
	return l.conn.Close(context.Background())
}
