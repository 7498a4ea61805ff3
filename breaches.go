package garde

import "time"

// BreachRecord is a breach as a scope sees it in storage: the owner's row
// carries the affected tenants; an affected tenant's row only points at
// the owner.
type BreachRecord struct {
	Tenant    TenantID // the scope whose row this is
	ID        string
	Owner     TenantID
	Tenants   []TenantID // affected tenants; set on the owner's row only
	CreatedAt time.Time
	CreatedBy string
	// DetectorKey names the detector window that opened the breach, so
	// that a detector opens one draft per finding; "" when declared.
	DetectorKey string
}

// BreachEvent is one entry of a breach's history, written by one scope.
type BreachEvent struct {
	Tenant   TenantID // the scope that wrote it
	BreachID string
	Seq      int // 1, 2, … per breach and scope
	At       time.Time
	Actor    string
	Kind     string
	Body     []byte // the BreachChange, as JSON
}

// EscalationKey names one escalation of a breach. With the addressed
// tenant it is the unique key of the escalation table.
type EscalationKey struct {
	BreachID string
	Point    time.Duration
	Channel  string
}

// EscalationRecord is one claimed or sent escalation.
type EscalationRecord struct {
	Tenant     TenantID // whose DPO it addresses (OperatorTenant: the operator's)
	Key        EscalationKey
	Node       string
	ClaimedAt  time.Time
	LeaseUntil time.Time
	Attempts   int
	SentAt     time.Time // zero until sent
}
