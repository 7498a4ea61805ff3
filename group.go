package garde

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// maxGroupCommit bounds a group commit, and so a leader's wait.
const maxGroupCommit = 500

// GroupQueue commits concurrent single calls of one credential together,
// in one transaction (group commit). A transaction's fixed cost — begin,
// write-ahead log, commit, a signed checkpoint — dominates a one-record
// write; sharing it is what lets one record per HTTP request approach the
// throughput of batches. Each caller still gets its own result or its own
// error.
//
// The first caller leads: it takes every call queued meanwhile and commits
// them as one batch; callers that arrive while it commits queue up, and
// the leader hands over to the first of them when it is done.
type GroupQueue[In, Out any] struct {
	mu      sync.Mutex
	pending map[Principal][]*groupCall[In, Out]
	busy    map[Principal]bool // a leader is committing for this credential
}

type groupCall[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan struct{} // closed when out and err are set
	lead chan struct{} // closed to make this caller the next leader
}

// GroupOps are the operations a group commit needs: commit a batch all or
// nothing, and say which input a batch error is about.
type GroupOps[In, Out any] struct {
	// Batch commits ins in one transaction, all or nothing.
	Batch func(ctx context.Context, p Principal, ins []In) ([]Out, error)
	// Alone commits one input as a single call would, auditing refusals.
	Alone func(ctx context.Context, p Principal, in In) (Out, error)
	// Field is the batch field name ("messages", "consents") whose index
	// batch errors name: messages[3].purpose is about ins[3].
	Field string
}

// Do runs in as part of a group commit.
func (q *GroupQueue[In, Out]) Do(ctx context.Context, p Principal, in In, ops GroupOps[In, Out]) (Out, error) {
	c := &groupCall[In, Out]{in: in, done: make(chan struct{}), lead: make(chan struct{})}
	q.mu.Lock()
	if q.pending == nil {
		q.pending, q.busy = map[Principal][]*groupCall[In, Out]{}, map[Principal]bool{}
	}
	q.pending[p] = append(q.pending[p], c)
	if q.busy[p] {
		q.mu.Unlock()
		select {
		case <-c.done:
			return c.out, c.err
		case <-c.lead: // the leader handed over: lead the next batch
		}
		q.mu.Lock()
	}
	q.busy[p] = true
	batch := q.pending[p]
	if len(batch) > maxGroupCommit {
		q.pending[p] = batch[maxGroupCommit:]
		batch = batch[:maxGroupCommit]
	} else {
		delete(q.pending, p)
	}
	q.mu.Unlock()

	// The batch serves other callers too: it must not fail because this
	// caller went away.
	commitGroup(context.WithoutCancel(ctx), p, batch, ops)

	q.mu.Lock()
	if next := q.pending[p]; len(next) > 0 {
		close(next[0].lead)
	} else {
		q.busy[p] = false
	}
	q.mu.Unlock()
	<-c.done
	return c.out, c.err
}

// commitGroup commits a batch of calls in one transaction. When the error
// names the input that failed, that input is committed alone, for its own
// error, and the others are committed again as a group; otherwise each is
// committed alone.
func commitGroup[In, Out any](ctx context.Context, p Principal, batch []*groupCall[In, Out], ops GroupOps[In, Out]) {
	alone := func(c *groupCall[In, Out]) {
		c.out, c.err = ops.Alone(ctx, p, c.in)
		close(c.done)
	}
	for len(batch) > 1 {
		ins := make([]In, len(batch))
		for i, c := range batch {
			ins[i] = c.in
		}
		out, err := ops.Batch(ctx, p, ins)
		if err == nil {
			for i, c := range batch {
				c.out = out[i]
				close(c.done)
			}
			return
		}
		i := failedIndex(err, ops.Field)
		if i < 0 || i >= len(batch) {
			for _, c := range batch {
				alone(c)
			}
			return
		}
		alone(batch[i])
		batch = append(batch[:i:i], batch[i+1:]...)
	}
	if len(batch) == 1 {
		alone(batch[0])
	}
}

// failedIndex returns i when err is about field[i]…, or -1.
func failedIndex(err error, field string) int {
	name := ""
	var ve *ValidationError
	var re *RefusedError
	switch {
	case errors.As(err, &ve) && len(ve.Problems) > 0:
		name = ve.Problems[0].Field
	case errors.As(err, &re):
		name = re.Field
	}
	var i int
	if _, err := fmt.Sscanf(name, field+"[%d]", &i); err != nil {
		return -1
	}
	return i
}
