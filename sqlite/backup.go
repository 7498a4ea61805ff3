// Backups of the data store taken while it stays open (VACUUM INTO), and
// Scrub, which truncates the WAL so that no page image written before an
// erasure outlives it.

package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// Backup writes a consistent copy of the database to dst with VACUUM INTO,
// while the database stays open for reads and writes (this process's or
// another garde serve's: in WAL mode the copy reads one snapshot and
// blocks no writer). dst must not exist.
func (db *DB) Backup(ctx context.Context, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("backup: %s exists", dst)
	}
	if _, err := db.reader.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return translate(fmt.Errorf("backup: %w", err))
	}
	return os.Chmod(dst, 0o600)
}

// Scrub checkpoints the WAL into the database and truncates it, so that
// page images written before an erasure (which may hold a destroyed
// wrapped key) do not outlive it in the WAL file. With secure_delete on,
// the checkpointed pages hold zeros where the key was. It runs on a
// connection of its own with a short busy timeout, so that it never
// holds garde's writer waiting for readers: when readers keep an old
// snapshot it gives up, and the next automatic checkpoint does the work.
func (db *DB) Scrub(ctx context.Context) error {
	c, err := sql.Open("sqlite", "file:"+db.path+"?_pragma=busy_timeout(250)")
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return translate(err)
}
