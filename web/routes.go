package web

import (
	"net/http"

	"github.com/garde-privacy/garde"
)

// Route is one entry of the API surface.
type Route struct {
	Method  string
	Pattern string
	// Op is the operation the route's use case enters the gate with
	// (garde.Enter); its row's permission, from the one role matrix, gives
	// the roles that may call the route. No Op means the route serves no
	// data and needs no credential (health, metrics, the API description,
	// OpenDSR discovery); TestRoutesEnterTheGate holds both to it.
	Op garde.Op
	// Perm is a dashboard page's permission (its pages check it against
	// their session); API routes take theirs from Op.
	Perm     garde.Permission
	Summary  string
	Request  string // schema of the body, in the OpenAPI components
	Response string // schema of the success body
	Status   int    // success status
	Query    []Param
	// Dashboard marks a page of the DPO's dashboard (web/dashboard):
	// HTML behind a session cookie, not part of the JSON API, so the API's
	// route tests and the OpenAPI document skip it; web/dashboard's tests
	// cover it.
	Dashboard bool
	handler   func(http.ResponseWriter, *http.Request) error
}

// Param is a query parameter.
type Param struct {
	Name, Type, Description string
	Required                bool
}

// Roles are the roles that may call the route with a Bearer key: those of
// its permission. A dashboard page has none here (it is authenticated by
// its session and checks its permission itself), nor has a public route.
func (rt Route) Roles() []garde.Role {
	if rt.Dashboard {
		return nil
	}
	return rt.Op.Roles()
}

// routeTable is the whole HTTP surface of garde, in one place.
func (s *Server) routeTable() []Route {
	core := []Route{
		{Method: "GET", Pattern: "/healthz", Summary: "Liveness: the process answers.", Response: "Health", Status: 200, handler: s.healthz},
		{Method: "GET", Pattern: "/readyz", Summary: "Readiness: the database answers.", Response: "Health", Status: 200, handler: s.readyz},
		{Method: "GET", Pattern: "/openapi.json", Summary: "This API description (OpenAPI 3.1).", Status: 200, handler: s.openapi},
		{Method: "GET", Pattern: "/metrics", Summary: "Prometheus metrics (no personal data, no tenant labels).", Status: 200, handler: s.metricsHandler},

		{Method: "POST", Pattern: "/v1/tenants", Op: garde.OpTenantCreate, Summary: "Create a tenant and its first admin key (shown once).", Request: "TenantCreate", Response: "TenantCreated", Status: 201, handler: s.createTenant},
		{Method: "POST", Pattern: "/v1/keys", Op: garde.OpKeyCreate, Summary: "Create an API key in the caller's tenant (shown once).", Request: "KeyCreate", Response: "KeyCreated", Status: 201, handler: s.createKey},
		{Method: "GET", Pattern: "/v1/keys", Op: garde.OpKeyList, Summary: "List the tenant's API keys (ids, roles, dates; never secrets).", Response: "KeyList", Status: 200, handler: s.listKeys},
		{Method: "DELETE", Pattern: "/v1/keys/{id}", Op: garde.OpKeyRevoke, Summary: "Revoke an API key (409 last-admin-key for the tenant's last valid admin key).", Status: 204, handler: s.revokeKey},

		{Method: "PUT", Pattern: "/v1/register", Op: garde.OpRegisterApply, Summary: "Apply a new version of the register of processing (YAML or JSON).", Request: "Register", Response: "RegisterVersion", Status: 201, handler: s.putRegister},
		{Method: "GET", Pattern: "/v1/register", Op: garde.OpRegisterRead, Summary: "The register of processing: latest, or ?version=N.", Response: "RegisterVersion", Status: 200,
			Query: []Param{{Name: "version", Type: "integer", Description: "version to return (default: latest)"}}, handler: s.getRegister},

		{Method: "POST", Pattern: "/v1/messages", Op: garde.OpMessageIngest, Summary: "Ingest one message, sealed under its subject's key.", Request: "MessageIn", Response: "Message", Status: 201, handler: s.postMessage},
		{Method: "POST", Pattern: "/v1/messages:batch", Op: garde.OpMessageIngest, Summary: "Ingest many messages, all or nothing.", Request: "MessageBatch", Response: "MessageList", Status: 201, handler: s.postMessages},
		{Method: "GET", Pattern: "/v1/subjects/{subject}/messages", Op: garde.OpMessageRead, Summary: "A subject's messages collected for a purpose, decrypted.", Response: "MessageList", Status: 200,
			Query: []Param{{Name: "purpose", Type: "string", Description: "the purpose the read serves; must be in the register", Required: true}}, handler: s.subjectMessages},

		{Method: "GET", Pattern: "/v1/audit", Op: garde.OpAuditRead, Summary: "The tenant's audit trail.", Response: "AuditList", Status: 200,
			Query: []Param{
				{Name: "since", Type: "string", Description: "RFC 3339 time, inclusive"},
				{Name: "until", Type: "string", Description: "RFC 3339 time, exclusive"},
				{Name: "action", Type: "string", Description: "e.g. message.read"},
				{Name: "actor", Type: "string", Description: "API key id"},
				{Name: "purpose", Type: "string", Description: "purpose id"},
				{Name: "after", Type: "integer", Description: "return events after this sequence number (paging)"},
				{Name: "limit", Type: "integer", Description: "at most this many events (max 1000)"},
			}, handler: s.audit},
	}
	// Each capability adds its routes from its own file.
	var all []Route
	for _, part := range [][]Route{core, s.consentRoutes(), s.breachRoutes(), s.dashboardRoutes(), s.rightsRoutes()} {
		all = append(all, part...)
	}
	return all
}

// dashboardRoutes mounts the dashboard's pages (web/dashboard lists them,
// each with the permission of the use case it shows) behind the same
// middleware as the API: request id, headers, limits, log and metrics.
func (s *Server) dashboardRoutes() []Route {
	var out []Route
	for _, pg := range s.dash.Pages() {
		out = append(out, Route{Method: pg.Method, Pattern: pg.Pattern, Perm: pg.Perm, Summary: pg.Summary,
			Status: http.StatusOK, Dashboard: true, handler: pg.Serve})
	}
	return out
}
