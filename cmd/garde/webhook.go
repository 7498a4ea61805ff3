package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/garde-privacy/garde/egress"
)

// egressPolicy is where garde's outgoing connections may go (webhooks,
// erasure notices, OpenDSR callbacks, alerts, SMTP): public addresses only,
// plus the hosts and CIDRs of allow (--egress-allow, GARDE_EGRESS_ALLOW).
// Callback URLs are named by API callers, so nothing inside garde's network
// is reachable unless the operator says so (docs/security.md).
// GARDE_WEBHOOK_PUBLIC_ONLY, which made public-only an option, is
// superseded: it is the default now, and the setting changes nothing.
func egressPolicy(allow string, getenv func(string) string, logger *slog.Logger) (*egress.Policy, error) {
	p, err := egress.Parse(allow)
	if err != nil {
		return nil, usageError{fmt.Sprintf("--egress-allow: %v", err)}
	}
	if v := getenv("GARDE_WEBHOOK_PUBLIC_ONLY"); v != "" && logger != nil {
		logger.Warn("GARDE_WEBHOOK_PUBLIC_ONLY is superseded: every outgoing connection is public-only unless GARDE_EGRESS_ALLOW allows it")
	}
	return p, nil
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
