package web

import "github.com/garde-privacy/garde"

// PageRoles returns the roles allowed on a signed-in dashboard route ("GET
// /dashboard/overview"); nil for a public page.
func PageRoles(route string) []garde.Role {
	pageRoles.Lock()
	defer pageRoles.Unlock()
	return pageRoles.m[route]
}
