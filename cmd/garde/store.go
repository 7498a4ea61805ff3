package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/postgres"
	"github.com/garde-privacy/garde/sqlite"
)

// openStore opens the database: PostgreSQL when dsn is a postgres:// URL,
// otherwise SQLite in the data directory. Pending migrations are applied
// (under an advisory lock on PostgreSQL, so nodes starting together
// migrate once).
func openStore(ctx context.Context, dsn, dataDir, sqliteSync string) (garde.Store, error) {
	switch {
	case dsn == "" || dsn == "sqlite":
		return sqlite.Open(ctx, filepath.Join(dataDir, "garde.db"), sqlite.Options{Synchronous: sqliteSync})
	case isPostgresURL(dsn):
		return postgres.Open(ctx, dsn, postgres.Options{})
	}
	return nil, fmt.Errorf("--db: want a postgres:// URL, or nothing for SQLite in --data-dir")
}

func isPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}
