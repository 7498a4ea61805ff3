package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/garde-privacy/garde/postgres"
	"github.com/garde-privacy/garde/sqlite"
)

// runMigrate applies the database migrations and exits: `garde migrate
// --db postgres://…` as a deployment step before rolling out new nodes.
// (Nodes also migrate on start, under a lock; this makes it explicit.)
// With --status it only reports the schema version.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "database: a postgres:// URL, or empty for SQLite in --data-dir")
	dataDir := fs.String("data-dir", "./garde-data", "directory holding the SQLite database")
	status := fs.Bool("status", false, "print the schema version and what is pending, apply nothing")
	if rest, err := parseFlags(fs, args, getenv); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageError{fmt.Sprintf("migrate takes no arguments, got %q", rest)}
	}
	switch {
	case *db == "" || *db == "sqlite":
		if *status {
			return usageError{"--status is for PostgreSQL; SQLite migrates when opened"}
		}
		s, err := sqlite.Open(ctx, filepath.Join(*dataDir, "garde.db"), sqlite.Options{})
		if err != nil {
			return err
		}
		defer s.Close()
		v, err := s.Version(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "sqlite schema at version %d\n", v)
		return nil
	case !isPostgresURL(*db):
		return usageError{"--db: want a postgres:// URL, or nothing for SQLite in --data-dir"}
	}
	pg, err := postgres.Connect(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer pg.Close()
	before, err := pg.Version(ctx)
	if err != nil {
		return err
	}
	latest := postgres.LatestVersion()
	if *status {
		fmt.Fprintf(stdout, "postgres schema at version %d; this garde migrates to %d (%d pending)\n", before, latest, max(0, latest-before))
		return nil
	}
	applied, err := pg.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "postgres schema up to date at version %d\n", before)
		return nil
	}
	fmt.Fprintf(stdout, "postgres schema migrated from version %d to %d\n", before, applied[len(applied)-1])
	return nil
}
