package sqlite

import (
	"context"
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
// the checkpointed pages hold zeros where the key was. Best effort: a
// reader holding an old snapshot leaves the WAL for the next checkpoint.
func (db *DB) Scrub(ctx context.Context) error {
	_, err := db.writer.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return translate(err)
}
