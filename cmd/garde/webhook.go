package main

import (
	"net/http"
	"time"

	"github.com/garde-privacy/garde/notify"
)

// webhookClient is the HTTP client of the rights webhooks (erasure notices,
// OpenDSR status callbacks, alarms). With GARDE_WEBHOOK_PUBLIC_ONLY=1 it
// connects only to public addresses, so that a callback URL named by an API
// caller cannot reach inside garde's network (docs/security.md); leave it
// unset when recipients live on a private network. nil is the default
// client.
func webhookClient(getenv func(string) string) *http.Client {
	if getenv("GARDE_WEBHOOK_PUBLIC_ONLY") == "1" {
		return notify.PublicOnlyClient(30 * time.Second)
	}
	return nil
}
