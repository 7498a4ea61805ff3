package notify

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// ErrPrivateAddress refuses a webhook to an address that is not public.
var ErrPrivateAddress = errors.New("webhook: refused a non-public address")

// PublicOnlyClient returns an HTTP client that connects only to public
// addresses: never loopback, private (RFC 1918, RFC 4193), link-local (the
// cloud metadata service), CGNAT, multicast or unspecified ones. The check
// runs on the address actually dialled, after DNS resolution, so neither a
// hostname pointing inside nor a redirect gets through. Some webhook URLs
// come from API callers (OpenDSR status callbacks): this keeps them from
// using garde to reach the inside of its network (SSRF).
func PublicOnlyClient(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !IsPublic(ap.Addr()) {
			return ErrPrivateAddress
		}
		return nil
	}}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	t.Proxy = nil // a proxy would dial on our behalf, past the check
	return &http.Client{Transport: t, Timeout: timeout}
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// IsPublic reports whether a is a globally routable unicast address.
func IsPublic(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() &&
		!a.IsLinkLocalUnicast() && !a.IsMulticast() && !a.IsUnspecified() && !cgnat.Contains(a)
}
