package garde

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"strings"
	"time"
)

// Role is what a credential may do.
type Role string

// The roles. Least privilege: no role both configures a tenant and reads
// its end users' messages.
const (
	// RoleAdmin configures its tenant: register, keys, settings.
	RoleAdmin Role = "admin"
	// RoleService is the integrating application: it ingests messages and
	// reads them back for a purpose.
	RoleService Role = "service"
	// RoleDPO oversees its tenant: register, audit, requests; it may read
	// one subject's data for a purpose but never list messages in bulk.
	RoleDPO Role = "dpo"
	// RoleOperator is the platform itself: it creates tenants and reads no
	// tenant's data.
	RoleOperator Role = "operator"
	// RoleHost is garde's command line on the machine that holds the
	// master key: key rotation and backups, restores, new ledger epochs.
	// No API key has it (ParseRole refuses it; operator keys are
	// RoleOperator), so no request can act as the host.
	RoleHost Role = "host"
)

// ParseRole checks that s names a role a tenant key may have.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); {
	case slices.Contains(TenantRoles, r):
		return r, nil
	case r == RoleOperator:
		return "", Invalid("role", "operator keys are created with `garde operator key`, not through a tenant")
	}
	return "", Invalid("role", "must be one of admin, service, dpo")
}

// APIKey is a stored credential. Only the SHA-256 of the secret is kept:
// keys carry 256 random bits, so a fast hash is as strong as a slow one and
// keeps authentication cheap.
type APIKey struct {
	ID        string
	Tenant    TenantID
	Role      Role
	Prefix    string
	Hash      []byte
	CreatedAt time.Time
	CreatedBy string
	RevokedAt time.Time // zero while the key is valid
}

// Principal is who makes a call: the key, its tenant and its role.
type Principal struct {
	KeyID  string
	Tenant TenantID
	Role   Role
}

const keyScheme = "garde"

// NewAPIKey returns a fresh key and the secret text to hand out once:
// "garde_<prefix>_<secret>". The prefix is public and finds the row; the
// secret is checked against the stored hash.
func NewAPIKey(tenant TenantID, role Role, createdBy string, now time.Time) (APIKey, string) {
	prefix := randomString(10)
	secret := randomString(32)
	text := keyScheme + "_" + prefix + "_" + secret
	sum := sha256.Sum256([]byte(text))
	return APIKey{
		ID:        NewID("key_", now),
		Tenant:    tenant,
		Role:      role,
		Prefix:    prefix,
		Hash:      sum[:],
		CreatedAt: now,
		CreatedBy: createdBy,
	}, text
}

// splitAPIKey returns the prefix of a key text, or false if the text does
// not have the shape of a garde key.
func splitAPIKey(text string) (prefix string, ok bool) {
	rest, ok := strings.CutPrefix(text, keyScheme+"_")
	if !ok || len(text) > 200 {
		return "", false
	}
	prefix, secret, ok := strings.Cut(rest, "_")
	if !ok || prefix == "" || secret == "" {
		return "", false
	}
	return prefix, true
}

// matches compares the hash of text with the stored hash in constant time.
func (k APIKey) matches(text string) bool {
	sum := sha256.Sum256([]byte(text))
	return subtle.ConstantTimeCompare(sum[:], k.Hash) == 1
}
