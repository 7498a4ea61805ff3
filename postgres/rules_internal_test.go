package postgres

import (
	"os"
	"strings"
	"testing"
)

// TestOpenStatusesMatchIndex: the test of an open request, built from
// garde.ClosedStatuses, is the predicate of the partial index on due dates.
// If a status is added to or removed from the closed ones, this fails until
// a migration rebuilds the index with the same list (else the planner would
// stop using it, or the index would miss open requests).
func TestOpenStatusesMatchIndex(t *testing.T) {
	b, err := os.ReadFile("migrations/0006_rights.sql")
	if err != nil {
		t.Fatal(err)
	}
	want := "ON requests (tenant_id, due_at) WHERE " + notClosed + ";"
	if !strings.Contains(string(b), want) {
		t.Errorf("migrations/0006_rights.sql has no index %q", want)
	}
}
