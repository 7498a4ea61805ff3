package garde

import (
	"context"
	"time"
)

// ActionAuthLockout is audited when a client address is locked out after
// repeated failed authentications.
const ActionAuthLockout = "auth.lockout"

// RecordLockout audits, in the operator's trail, that the web layer locked
// a client address out until the given time after failures failed
// authentications. The address itself is personal data and is not
// recorded: ref is an opaque pseudonym (a keyed hash valid for the life of
// the process) that lets the operator match the event with the log line.
func (s *Service) RecordLockout(ctx context.Context, ref string, failures int, until time.Time) {
	s.recordDenied(ctx, AuditEvent{Tenant: OperatorTenant, Actor: ref, Action: ActionAuthLockout,
		Count: failures, Reason: "locked_until " + until.UTC().Format(time.RFC3339)})
}
