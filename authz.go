package garde

import "slices"

// Permission names one thing a role may do. It is the one definition of
// the role matrix: each use case checks a permission, the web route table
// declares the permission of the use case a route calls and derives its
// roles (and the OpenAPI document's x-garde-roles) from here, and the
// dashboard derives which pages a role sees from here too. Nothing else
// lists roles per action, so the places cannot drift apart.
type Permission int

// The permissions. PermNone is the zero value: a public route, no
// credential needed.
const (
	PermNone Permission = iota
	PermTenantCreate
	PermKeyManage
	PermRegisterWrite
	PermRegisterRead
	PermIngest
	PermMessageRead
	PermAuditRead
	PermNoticeWrite
	PermConsentWrite
	PermConsentRead
	PermLedgerRead
	PermRequestFile
	PermRequestRead
	PermRequestManage
	PermSubjectExport
	// PermRequestVouch vouches for a requester's identity: a request the
	// DPO files proceeds at once, and the DPO verifies one another key filed.
	PermRequestVouch
	// PermBreach declares and follows breaches: the operator for platform
	// incidents, a tenant's admin and DPO for the tenant's own (and to read
	// those affecting it).
	PermBreach
	// PermDashboard signs in to the DPO's dashboard. A page needs it and
	// the permission of the use case it shows.
	PermDashboard
	// PermHost runs garde's command line on the host, with the master key:
	// key rotation and backups, restores, new ledger epochs. Only the
	// operator holds it, and no API route carries an operation that needs
	// it (TestRoutesEnterTheGate). Only the host role holds it: no API key,
	// the operator's included, can enter a host operation.
	PermHost

	permEnd // after the last: Permissions stops here
)

// grants is the role matrix, in one place. It stays unexported so that no
// caller can change it; Permission.Roles reads it.
var grants = map[Permission]struct {
	name  string
	roles []Role
}{
	PermTenantCreate:  {"tenant.create", []Role{RoleOperator}},
	PermKeyManage:     {"key.manage", []Role{RoleAdmin}},
	PermRegisterWrite: {"register.write", []Role{RoleAdmin}},
	PermRegisterRead:  {"register.read", []Role{RoleAdmin, RoleDPO, RoleService}},
	PermIngest:        {"message.write", []Role{RoleService}},
	PermMessageRead:   {"message.read", []Role{RoleService, RoleDPO}},
	PermAuditRead:     {"audit.read", []Role{RoleAdmin, RoleDPO}},
	PermNoticeWrite:   {"notice.write", []Role{RoleAdmin}},
	PermConsentWrite:  {"consent.write", []Role{RoleService}},
	PermConsentRead:   {"consent.read", []Role{RoleService, RoleDPO}},
	PermLedgerRead:    {"ledger.read", []Role{RoleAdmin, RoleDPO, RoleService}},
	PermRequestFile:   {"request.file", []Role{RoleAdmin, RoleDPO, RoleService}},
	PermRequestRead:   {"request.read", []Role{RoleAdmin, RoleDPO, RoleService}},
	PermRequestManage: {"request.manage", []Role{RoleAdmin, RoleDPO}},
	// An export holds every message of every purpose: only the roles that
	// may read messages and oversee requests — the DPO. An admin manages
	// keys and the register, and reads no message (PermMessageRead).
	PermSubjectExport: {"subject.export", []Role{RoleDPO}},
	PermRequestVouch:  {"request.vouch", []Role{RoleDPO}},
	PermBreach:        {"breach", []Role{RoleOperator, RoleAdmin, RoleDPO}},
	PermDashboard:     {"dashboard", []Role{RoleAdmin, RoleDPO}},
	PermHost:          {"host", []Role{RoleHost}},
}

// Permissions lists every permission but PermNone, in declaration order
// (one declared without roles in grants shows up with none, and fails
// TestPermissionTable).
func Permissions() []Permission {
	var out []Permission
	for p := PermNone + 1; p < permEnd; p++ {
		out = append(out, p)
	}
	return out
}

// Roles returns the roles that hold p (a copy: the matrix cannot be changed
// through it), nil for PermNone.
func (p Permission) Roles() []Role { return slices.Clone(grants[p].roles) }

// Allows reports whether role holds p.
func (p Permission) Allows(role Role) bool { return slices.Contains(grants[p].roles, role) }

// String names p in documentation and test output ("audit.read").
func (p Permission) String() string {
	if g, ok := grants[p]; ok {
		return g.name
	}
	if p == PermNone {
		return "none"
	}
	return "permission(?)"
}

// TenantRoles are the roles a tenant's API key may have (the operator's
// credential is made by the command line only). The key-creation schema
// and the dashboard's key form list them from here.
var TenantRoles = []Role{RoleAdmin, RoleService, RoleDPO}

// Authorize fails with ErrForbidden unless p's role holds perm. An operator
// credential never acts inside a tenant, and a tenant credential never acts
// as the operator.
func Authorize(p Principal, perm Permission) error {
	if (p.Role == RoleOperator || p.Role == RoleHost) != (p.Tenant == OperatorTenant) {
		return Errorf(ErrForbidden, "credential scope does not match its role")
	}
	if perm.Allows(p.Role) {
		return nil
	}
	return Errorf(ErrForbidden, "role %s may not do this", p.Role)
}
