package garde

import (
	"time"
	"unicode/utf8"
)

// TenantID identifies a client company. It always comes from the
// credential that made a call, never from the call's body or path.
type TenantID string

// OperatorTenant is the scope of the platform's own credentials: they
// create tenants and read no tenant's data.
const OperatorTenant TenantID = ""

// Tenant is one client company: a controller whose end users' data garde
// holds as a processor.
type Tenant struct {
	ID        TenantID
	Name      string
	CreatedAt time.Time
}

// Tenant key kinds. A tenant has versioned data keys, which wrap its
// subjects' data keys and rotate, and one secret, from which its blind
// index, pseudonym and audit keys are derived and which never rotates
// (rotating it would change every blind index).
const (
	TenantKeyData   = "data"
	TenantKeySecret = "secret"
)

// TenantKey is one version of one tenant key, wrapped under a master key
// version.
type TenantKey struct {
	Tenant        TenantID
	Kind          string
	Version       uint32
	Wrapped       []byte
	MasterVersion uint32
	CreatedAt     time.Time
}

func ValidateTenantName(name string) error {
	switch {
	case name == "":
		return Invalid("name", "is required")
	case !utf8.ValidString(name):
		return Invalid("name", "is not valid UTF-8")
	case len(name) > 200:
		return Invalid("name", "is longer than 200 bytes")
	}
	return nil
}
