package main

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
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

// parsePrefixes parses a comma-separated list of addresses and CIDRs.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
