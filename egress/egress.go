// Package egress is the one policy every outgoing connection of garde goes
// through: webhooks, erasure notices to recipients, OpenDSR callbacks,
// request alarms, breach alerts and escalation emails. Some of those
// destinations are named by API callers (an OpenDSR status_callback_url),
// so without a policy any credential could make garde connect to the inside
// of its own network (SSRF): the cloud metadata service, a database on
// loopback, an admin port on a private address.
//
// The policy is deny by default: only public unicast addresses, unless the
// operator allows hosts or CIDRs (GARDE_EGRESS_ALLOW). It is checked on the
// address actually dialled, after DNS resolution, for every connection
// attempt (net.Dialer.Control), so a name that resolves to a public address
// once and to loopback the next time (DNS rebinding) cannot pass. HTTP
// redirects are refused: the signed body is meant for the endpoint garde
// was given, not for wherever that endpoint points.
//
// The package imports nothing of garde, so any sender can use it.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrRefused is the error every refusal wraps.
var ErrRefused = errors.New("egress: refused")

// RefusedError says why a connection was refused. It carries the address
// of the server, never anything of a subject.
type RefusedError struct {
	Addr   netip.Addr // zero for a refused redirect
	Reason string     // one of the Reason constants
}

// Refusal reasons: fixed codes, safe for logs and delivery records.
const (
	ReasonLoopback    = "loopback"
	ReasonPrivate     = "private"     // RFC 1918, ULA fc00::/7
	ReasonSharedCGNAT = "shared"      // 100.64.0.0/10
	ReasonLinkLocal   = "link_local"  // 169.254/16 (the metadata service), fe80::/10
	ReasonUnspecified = "unspecified" // 0.0.0.0/8, ::
	ReasonMulticast   = "multicast"
	ReasonReserved    = "reserved"   // 240/4, documentation, benchmarking, IETF ranges
	ReasonTransition  = "transition" // 6to4, Teredo, IPv4-compatible, local-use NAT64
	ReasonRedirect    = "redirect"
	ReasonInvalid     = "invalid"
)

func (e *RefusedError) Error() string {
	if e.Reason == ReasonRedirect {
		return "egress: refused a redirect"
	}
	return fmt.Sprintf("egress: refused %s (%s)", e.Addr, e.Reason)
}

// Is makes errors.Is(err, ErrRefused) hold.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

// Code is the fixed code a delivery records (garde reads it through an
// interface, so it need not import this package).
func (e *RefusedError) Code() string { return "egress_refused_" + e.Reason }

// Policy decides which addresses garde may connect to. The zero value, and
// a nil *Policy, allow public addresses only.
type Policy struct {
	prefixes []netip.Prefix
	hosts    []string // lower case, no trailing dot; "*.x" matches below x
	// Resolver, when set, resolves names (tests point it elsewhere).
	Resolver *net.Resolver
}

// Parse reads a comma-separated list of hosts and CIDRs the operator
// allows beside the public internet, as GARDE_EGRESS_ALLOW holds it:
// "127.0.0.1,::1", "10.0.0.0/8", "hooks.internal", "*.corp.example".
// An address is a one-address prefix. A host is matched on the name in the
// URL (or the SMTP address), whatever it resolves to: allow a name only if
// you trust its DNS.
func Parse(s string) (*Policy, error) {
	p := &Policy{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			if a.Zone() != "" {
				return nil, fmt.Errorf("%q: an address with a zone cannot be allowed", f)
			}
			a = a.Unmap() // ::ffff:10.0.0.1 allows 10.0.0.1, however it is dialled
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if pr, err := netip.ParsePrefix(f); err == nil {
			p.prefixes = append(p.prefixes, pr.Masked())
			continue
		}
		h := strings.TrimSuffix(strings.ToLower(f), ".")
		if !validHost(strings.TrimPrefix(h, "*.")) {
			return nil, fmt.Errorf("%q is neither an address, a CIDR nor a host name", f)
		}
		p.hosts = append(p.hosts, h)
	}
	return p, nil
}

// MustParse is Parse for fixed lists (tests, examples); it panics on error.
func MustParse(s string) *Policy {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String lists what the policy allows beside public addresses.
func (p *Policy) String() string {
	if p == nil || len(p.prefixes)+len(p.hosts) == 0 {
		return "public addresses only"
	}
	var parts []string
	for _, pr := range p.prefixes {
		parts = append(parts, pr.String())
	}
	parts = append(parts, p.hosts...)
	return "public addresses and " + strings.Join(parts, ", ")
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// AllowsHost reports whether the operator allowed host by name.
func (p *Policy) AllowsHost(host string) bool {
	if p == nil {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, a := range p.hosts {
		if a == h || strings.HasPrefix(a, "*.") && strings.HasSuffix(h, a[1:]) {
			return true
		}
	}
	return false
}

// Check says whether garde may connect to a: nil for a public address or
// one the operator allowed, a *RefusedError otherwise.
func (p *Policy) Check(a netip.Addr) error {
	a = a.WithZone("")
	if !a.IsValid() {
		return &RefusedError{Addr: a, Reason: ReasonInvalid}
	}
	if p != nil {
		for _, pr := range p.prefixes {
			if pr.Contains(a) || a.Is4In6() && pr.Contains(a.Unmap()) {
				return nil
			}
		}
	}
	if r := Classify(a); r != "" {
		return &RefusedError{Addr: a, Reason: r}
	}
	return nil
}

// Classify returns "" for a public unicast address, or the reason it is
// not one. IPv4 embedded in IPv6 is handled so:
//   - IPv4-mapped (::ffff:0:0/96) is IPv4 written in IPv6: decoded and
//     judged as that IPv4 address;
//   - NAT64 with the well-known prefix (64:ff9b::/96, RFC 6052) is decoded
//     too: DNS64 gives it for every public IPv4 name on an IPv6-only
//     network, and the translator reaches the embedded IPv4 — which must
//     itself be public;
//   - 6to4 (2002::/16), Teredo (2001::/32), IPv4-compatible (::/96) and
//     local-use NAT64 (64:ff9b:1::/48) are refused outright: they are
//     deprecated or local transition mechanisms, where the packet's real
//     destination is a tunnel end or a site-chosen translation that this
//     check cannot see; no webhook receiver needs them, and an operator
//     who does can allow the range.
func Classify(a netip.Addr) string {
	a = a.WithZone("")
	if a.Is4In6() {
		a = a.Unmap()
	}
	if a.Is4() {
		return classify4(a)
	}
	if nat64.Contains(a) {
		b := a.As16()
		return classify4(netip.AddrFrom4([4]byte(b[12:16])))
	}
	switch {
	case a.IsUnspecified():
		return ReasonUnspecified
	case a.IsLoopback():
		return ReasonLoopback
	case a.IsMulticast():
		return ReasonMulticast
	case a.IsLinkLocalUnicast() || siteLocal.Contains(a):
		return ReasonLinkLocal
	case a.IsPrivate():
		return ReasonPrivate
	}
	for _, pr := range transition6 {
		if pr.Contains(a) {
			return ReasonTransition
		}
	}
	for _, pr := range reserved6 {
		if pr.Contains(a) {
			return ReasonReserved
		}
	}
	if !global6.Contains(a) {
		return ReasonReserved // outside 2000::/3 nothing is allocated as global unicast
	}
	return ""
}

func classify4(a netip.Addr) string {
	switch {
	case zeroNet.Contains(a):
		return ReasonUnspecified
	case a.IsLoopback():
		return ReasonLoopback
	case a.IsPrivate():
		return ReasonPrivate
	case cgnat.Contains(a):
		return ReasonSharedCGNAT
	case a.IsLinkLocalUnicast():
		return ReasonLinkLocal
	case a.IsMulticast():
		return ReasonMulticast
	}
	for _, pr := range reserved4 {
		if pr.Contains(a) {
			return ReasonReserved
		}
	}
	return ""
}

var (
	zeroNet   = netip.MustParsePrefix("0.0.0.0/8")
	cgnat     = netip.MustParsePrefix("100.64.0.0/10")
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	siteLocal = netip.MustParsePrefix("fec0::/10")
	global6   = netip.MustParsePrefix("2000::/3")
	// The IANA IPv4 special-purpose registry, less what is public.
	reserved4 = prefixes("192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4")
	transition6 = prefixes("::/96", "2002::/16", "2001::/32", "64:ff9b:1::/48")
	// The IANA IPv6 special-purpose registry: discard, IETF protocol
	// assignments (benchmarking, ORCHID…), documentation, SRv6 SIDs.
	reserved6 = prefixes("100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16")
)

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

// Dialer returns a dial function that applies the policy to every
// connection it opens: a literal address is checked before dialling, and
// every address a name resolves to is checked as it is dialled (Control),
// which is what defeats DNS rebinding. A host the operator allowed by name
// is dialled whatever it resolves to.
func (p *Policy) Dialer(timeout time.Duration) func(ctx context.Context, network, address string) (net.Conn, error) {
	var resolver *net.Resolver
	if p != nil {
		resolver = p.Resolver
	}
	open := &net.Dialer{Timeout: timeout, Resolver: resolver}
	checked := &net.Dialer{Timeout: timeout, Resolver: resolver, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Reason: ReasonInvalid}
		}
		return p.Check(ap.Addr())
	}}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if a, err := netip.ParseAddr(host); err == nil {
			if err := p.Check(a); err != nil {
				return nil, err
			}
		} else if p.AllowsHost(host) {
			return open.DialContext(ctx, network, address)
		}
		return checked.DialContext(ctx, network, address)
	}
}

// Client returns an HTTP client under the policy. It uses no proxy (a
// proxy would dial on garde's behalf, past the check) and follows no
// redirect.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = p.Dialer(10 * time.Second)
	return &http.Client{Transport: t, Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return &RefusedError{Reason: ReasonRedirect}
	}}
}
