package garde

// permission names one thing a role may do.
type permission int

const (
	permTenantCreate permission = iota
	permKeyManage
	permRegisterWrite
	permRegisterRead
	permIngest
	permMessageRead
	permAuditRead
	permNoticeWrite
	permConsentWrite
	permConsentRead
	permLedgerRead
	permRequestFile
	permRequestRead
	permRequestManage
	permSubjectExport
	permRequestVouch
)

// grants is the role matrix, in one place. The web tests check every route
// against it.
var grants = map[permission][]Role{
	permTenantCreate:  {RoleOperator},
	permKeyManage:     {RoleAdmin},
	permRegisterWrite: {RoleAdmin},
	permRegisterRead:  {RoleAdmin, RoleDPO, RoleService},
	permIngest:        {RoleService},
	permMessageRead:   {RoleService, RoleDPO},
	permAuditRead:     {RoleAdmin, RoleDPO},
	permNoticeWrite:   {RoleAdmin},
	permConsentWrite:  {RoleService},
	permConsentRead:   {RoleService, RoleDPO},
	permLedgerRead:    {RoleAdmin, RoleDPO, RoleService},
	permRequestFile:   {RoleAdmin, RoleDPO, RoleService},
	permRequestRead:   {RoleAdmin, RoleDPO, RoleService},
	permRequestManage: {RoleAdmin, RoleDPO},
	// An export holds every message of every purpose: only the roles that
	// may read messages and oversee requests — the DPO. An admin manages
	// keys and the register, and reads no message (permMessageRead).
	permSubjectExport: {RoleDPO},
	permRequestVouch:  {RoleDPO},
}

// authorize fails with ErrForbidden unless p's role holds perm. An operator
// credential never acts inside a tenant, and a tenant credential never acts
// as the operator.
func authorize(p Principal, perm permission) error {
	if (p.Role == RoleOperator) != (p.Tenant == OperatorTenant) {
		return Errorf(ErrForbidden, "credential scope does not match its role")
	}
	for _, r := range grants[perm] {
		if r == p.Role {
			return nil
		}
	}
	return Errorf(ErrForbidden, "role %s may not do this", p.Role)
}
