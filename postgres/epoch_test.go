package postgres_test

import (
	"context"
	"testing"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/postgres"
	"github.com/jackc/pgx/v5"
)

// restorable is the data store in a fresh schema and the checkpoint store
// in another (as garde_keys is apart from the data schema). A backup
// copies every table of the data schema into a third schema; restoring
// empties the data schema's tables and copies them back, as restoring a
// pg_dump of the schema would, while the checkpoint store is untouched.
func restorable(t *testing.T) (garde.Store, garde.CheckpointStore, func(*testing.T) func(*testing.T) garde.Store) {
	t.Helper()
	ctx := context.Background()
	db, dsn, schema := openDB(t)
	cs, err := postgres.NewCheckpointStore(ctx, db.Pool(), newSchema(t, dsn))
	if err != nil {
		t.Fatal(err)
	}
	backup := func(t *testing.T) func(*testing.T) garde.Store {
		bk := newSchema(t, dsn)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname`, schema)
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range tables {
			if _, err := conn.Exec(ctx, `CREATE TABLE `+pgx.Identifier{bk, tb}.Sanitize()+` AS SELECT * FROM `+pgx.Identifier{schema, tb}.Sanitize()); err != nil {
				t.Fatal(err)
			}
		}
		return func(t *testing.T) garde.Store {
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			// Foreign keys are checked by triggers: off while the rows go
			// back in any order (the test role is a superuser).
			if _, err := tx.Exec(ctx, `SET LOCAL session_replication_role = replica`); err != nil {
				t.Fatal(err)
			}
			for _, tb := range tables {
				dst, src := pgx.Identifier{schema, tb}.Sanitize(), pgx.Identifier{bk, tb}.Sanitize()
				if _, err := tx.Exec(ctx, `DELETE FROM `+dst); err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, `INSERT INTO `+dst+` OVERRIDING SYSTEM VALUE SELECT * FROM `+src); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			return db
		}
	}
	return db, cs, backup
}

func TestEpochs(t *testing.T) {
	testDSN(t)
	gardetest.RunEpochs(t, restorable)
}
