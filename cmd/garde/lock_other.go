//go:build !unix

package main

// lockFile has no flock to use on this system: it says so, and the
// commands warn that they run unlocked (docs/security.md), instead of
// pretending to lock.
func lockFile(path string, exclusive bool) (func(), error) {
	return nil, errNoFileLock
}
