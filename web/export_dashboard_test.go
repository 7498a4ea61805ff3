package web

import "github.com/garde-privacy/garde"

// PageRoles returns the roles allowed on a signed-in dashboard page
// guarded by perm; nil for a public page.
func PageRoles(perm garde.Permission) []garde.Role { return pageRoles(perm) }
