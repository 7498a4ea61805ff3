package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/sqlite"
)

// openStore opens the database: PostgreSQL when dsn is a postgres:// URL,
// otherwise SQLite in the data directory.
func openStore(ctx context.Context, dsn, dataDir, sqliteSync string) (garde.Store, error) {
	switch {
	case dsn == "" || dsn == "sqlite":
		return sqlite.Open(ctx, filepath.Join(dataDir, "garde.db"), sqlite.Options{Synchronous: sqliteSync})
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return nil, fmt.Errorf("--db %s: PostgreSQL is not supported by this build yet", "postgres://…")
	}
	return nil, fmt.Errorf("--db: want a postgres:// URL, or nothing for SQLite in --data-dir")
}
