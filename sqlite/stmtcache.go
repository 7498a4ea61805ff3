// The cache of prepared statements, per connection pool, and the
// transaction wrapper that uses it.

package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStatements bounds the statement cache. Queries are built from a
// fixed set of shapes (multi-row inserts vary only in their row count up to
// insertChunk), so the bound is never reached in practice; past it,
// statements are prepared per transaction as before.
const maxCachedStatements = 2048

// stmtCache keeps statements prepared once per pool. Preparing is a large
// share of a small transaction's cost with this driver; database/sql keeps
// each statement prepared on every connection it has run on, and
// Tx.StmtContext reuses it on the transaction's connection.
type stmtCache struct {
	pool *sql.DB
	mu   sync.Mutex
	m    map[string]*sql.Stmt
	// Statements are prepared on the pool only between transactions: the
	// writer pool has a single connection, which a transaction holds, so
	// preparing on the pool from inside one would wait for itself.
	wg sync.WaitGroup
}

func newStmtCache(pool *sql.DB) *stmtCache {
	return &stmtCache{pool: pool, m: map[string]*sql.Stmt{}}
}

// get returns the cached statement for q, or nil if it is not prepared yet.
func (c *stmtCache) get(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// prepareLater prepares, in the background and once the transaction that
// met them is over, the statements that were not cached yet.
func (c *stmtCache) prepareLater(qs []string) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for _, q := range qs {
			c.mu.Lock()
			have, full := c.m[q] != nil, len(c.m) >= maxCachedStatements
			c.mu.Unlock()
			if have || full {
				continue
			}
			s, err := c.pool.PrepareContext(context.Background(), q)
			if err != nil {
				// The transaction that met q prepared it itself and will
				// again; a failure here costs speed, not correctness.
				continue
			}
			c.mu.Lock()
			if c.m[q] == nil {
				c.m[q] = s
			} else {
				s.Close()
			}
			c.mu.Unlock()
		}
	}()
}

func (c *stmtCache) close() {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.m {
		s.Close()
	}
	clear(c.m)
}

// cachedTx is a *sql.Tx whose queries run on cached prepared statements.
// It has the methods of *sql.Tx that the store uses, so the store's code
// reads as plain database/sql.
type cachedTx struct {
	tx     *sql.Tx
	cache  *stmtCache
	bound  map[string]*sql.Stmt // statements bound to this transaction
	missed []string             // queries to prepare on the pool afterwards
}

// PrepareContext returns the statement bound to this transaction; it is
// closed with the transaction, so callers must not close it.
func (c *cachedTx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	if s := c.bound[q]; s != nil {
		return s, nil
	}
	var s *sql.Stmt
	if shared := c.cache.get(q); shared != nil {
		s = c.tx.StmtContext(ctx, shared)
	} else {
		var err error
		if s, err = c.tx.PrepareContext(ctx, q); err != nil {
			return nil, err
		}
		c.missed = append(c.missed, q)
	}
	if c.bound == nil {
		c.bound = map[string]*sql.Stmt{}
	}
	c.bound[q] = s
	return s, nil
}

func (c *cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (c *cachedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s, err := c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (c *cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	s, err := c.PrepareContext(ctx, q)
	if err != nil {
		// Let database/sql report the same preparation error through the
		// Row, where the caller looks for it.
		return c.tx.QueryRowContext(ctx, q, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

func (c *cachedTx) Commit() error   { return c.tx.Commit() }
func (c *cachedTx) Rollback() error { return c.tx.Rollback() }

func (c *cachedTx) close() {
	for _, s := range c.bound {
		s.Close()
	}
	if len(c.missed) > 0 {
		c.cache.prepareLater(c.missed)
	}
}
