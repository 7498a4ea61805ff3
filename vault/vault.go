// Package vault keeps the messages of a tenant's end users: ingest (the
// scan, the purpose's anonymisation, sealing under the subject's key),
// reads, rectification and retention. It runs on the kernel (package
// garde) and imports no other capability.
//
// Its page: docs/api.md (messages) and docs/pii.md (what ingest finds).
package vault

import "github.com/garde-privacy/garde"

// Service runs the vault's use cases.
type Service struct {
	*garde.Kernel
	ingests garde.GroupQueue[NewMessage, garde.MessageView] // group commit of single messages (message.go)
}

// New returns the vault over k.
func New(k *garde.Kernel) *Service { return &Service{Kernel: k} }
