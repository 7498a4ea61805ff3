package web

import "github.com/garde-privacy/garde"

// PageRoles returns the roles allowed on a signed-in dashboard page
// guarded by perm; nil for a public page.
func PageRoles(perm garde.Permission) []garde.Role { return pageRoles(perm) }

// Label returns the dashboard's text for key in lang, and whether that
// catalogue has it (no fall-back).
func Label(lang, key string) (string, bool) {
	s, ok := catalogue[lang][key]
	return s, ok
}
