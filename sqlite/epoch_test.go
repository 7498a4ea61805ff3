package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/sqlite"
)

// restorable is the data store in DIR/garde.db, the checkpoint store in
// DIR/keys.db, and a backup that is VACUUM INTO (garde backup) restored by
// copying the file back over garde.db (garde restore).
func restorable(t *testing.T) (garde.Store, garde.CheckpointStore, func(*testing.T) func(*testing.T) garde.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "garde.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	kdb, err := sqlite.OpenKeysDB(filepath.Join(dir, "keys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kdb.Close() })
	cs, err := sqlite.NewCheckpointStore(ctx, kdb)
	if err != nil {
		t.Fatal(err)
	}
	backup := func(t *testing.T) func(*testing.T) garde.Store {
		bk := filepath.Join(t.TempDir(), "backup.db")
		if err := db.Backup(ctx, bk); err != nil {
			t.Fatal(err)
		}
		return func(t *testing.T) garde.Store {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(bk)
			if err != nil {
				t.Fatal(err)
			}
			for _, suffix := range []string{"-wal", "-shm"} {
				os.Remove(path + suffix)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			re, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { re.Close() })
			return re
		}
	}
	return db, cs, backup
}

func TestEpochs(t *testing.T) { gardetest.RunEpochs(t, restorable) }
