package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garde-privacy/garde/egress"
)

// TestClassify: every special-use range is refused by default, including
// IPv4 smuggled inside IPv6; public addresses pass.
func TestClassify(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": egress.ReasonLoopback, "127.255.0.9": egress.ReasonLoopback, "::1": egress.ReasonLoopback,
		"10.1.2.3": egress.ReasonPrivate, "172.16.0.1": egress.ReasonPrivate, "192.168.1.1": egress.ReasonPrivate,
		"fd00::1": egress.ReasonPrivate, "fc00::1": egress.ReasonPrivate,
		"100.64.0.1": egress.ReasonSharedCGNAT, "100.127.255.254": egress.ReasonSharedCGNAT,
		"169.254.169.254": egress.ReasonLinkLocal, "fe80::1": egress.ReasonLinkLocal, "fe80::1%eth0": egress.ReasonLinkLocal, "fec0::1": egress.ReasonLinkLocal,
		"0.0.0.0": egress.ReasonUnspecified, "0.1.2.3": egress.ReasonUnspecified, "::": egress.ReasonUnspecified,
		"224.0.0.1": egress.ReasonMulticast, "239.1.1.1": egress.ReasonMulticast, "ff02::1": egress.ReasonMulticast,
		"240.0.0.1": egress.ReasonReserved, "255.255.255.255": egress.ReasonReserved, "192.0.2.1": egress.ReasonReserved,
		"198.18.0.1": egress.ReasonReserved, "2001:db8::1": egress.ReasonReserved, "100::1": egress.ReasonReserved,
		"2001:2::1": egress.ReasonReserved, "4000::1": egress.ReasonReserved,
		// IPv4-mapped and NAT64: judged as the embedded IPv4.
		"::ffff:127.0.0.1": egress.ReasonLoopback, "::ffff:10.0.0.1": egress.ReasonPrivate, "::ffff:169.254.169.254": egress.ReasonLinkLocal,
		"64:ff9b::7f00:1": egress.ReasonLoopback, "64:ff9b::a00:1": egress.ReasonPrivate, "64:ff9b::a9fe:a9fe": egress.ReasonLinkLocal,
		"64:ff9b::f000:1": egress.ReasonReserved,
		// Tunnels and deprecated forms: refused outright, whatever they embed.
		"2002:7f00:1::": egress.ReasonTransition, "2002:808:808::1": egress.ReasonTransition,
		"2001:0:4136:e378:8000:63bf:3fff:fdd2": egress.ReasonTransition, "2001::1": egress.ReasonTransition,
		"::127.0.0.1": egress.ReasonTransition, "::8.8.8.8": egress.ReasonTransition, "64:ff9b:1::808:808": egress.ReasonTransition,
		// Public.
		"8.8.8.8": "", "1.1.1.1": "", "2001:4860:4860::8888": "", "::ffff:8.8.8.8": "", "64:ff9b::808:808": "", "2a00:1450::1": "",
	} {
		if got := egress.Classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Classify(%s) = %q, want %q", addr, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	p, err := egress.Parse(" 127.0.0.1, ::1 ,10.0.0.0/8, hooks.internal, *.corp.example ,::ffff:192.168.1.9")
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::ffff:127.0.0.1": true, "::1": true, "10.200.0.1": true, "127.0.0.2": false,
		"169.254.169.254": false, "8.8.8.8": true, "192.168.1.9": true, "::ffff:192.168.1.9": true, "192.168.1.10": false,
	} {
		if got := p.Check(netip.MustParseAddr(addr)) == nil; got != want {
			t.Errorf("Check(%s) allowed = %v, want %v", addr, got, want)
		}
	}
	for host, want := range map[string]bool{"hooks.internal": true, "HOOKS.internal.": true, "a.corp.example": true, "corp.example": false, "evilhooks.internal": false} {
		if got := p.AllowsHost(host); got != want {
			t.Errorf("AllowsHost(%s) = %v, want %v", host, got, want)
		}
	}
	for _, bad := range []string{"http://x", "10.0.0.0/33", "fe80::1%eth0", "a b"} {
		if _, err := egress.Parse(bad); err == nil {
			t.Errorf("Parse(%q) = nil error", bad)
		}
	}
}

// receiver is a loopback HTTP server that counts the requests reaching it.
func receiver(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(ts.Close)
	return ts, &hits
}

func post(c *http.Client, url string) error {
	res, err := c.Post(url, "application/json", strings.NewReader(`{}`))
	if err == nil {
		res.Body.Close()
	}
	return err
}

// TestClientRefusesInside: by default, no URL that leads inside garde's
// network is dialled — literal addresses in every disguise and a name that
// resolves to loopback — and the receiver is never reached.
func TestClientRefusesInside(t *testing.T) {
	ts, hits := receiver(t)
	port := ts.URL[strings.LastIndex(ts.URL, ":")+1:]
	c := (*egress.Policy)(nil).Client(5 * time.Second)
	for _, u := range []string{
		ts.URL, "http://localhost:" + port, "http://[::1]:" + port, "http://[::ffff:127.0.0.1]:" + port,
		"http://[64:ff9b::7f00:1]:" + port, "http://[2002:7f00:1::]:" + port, "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:" + port,
		"http://0.0.0.0:" + port, "http://240.0.0.1/", "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
		"http://100.64.0.1/", "http://[fd00::1]/", "http://[fe80::1%25lo]/",
	} {
		err := post(c, u)
		if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("POST %s = %v, want ErrRefused", u, err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the loopback receiver was reached %d times", n)
	}
}

// TestClientRebinding: a resolver that answers a public address first and
// loopback next cannot get a connection inside, since the address is
// checked as it is dialled, not when the name is first looked up.
func TestClientRebinding(t *testing.T) {
	ts, hits := receiver(t)
	port := ts.URL[strings.LastIndex(ts.URL, ":")+1:]
	// The attacker's DNS answers a public address first, loopback after.
	dns := fakeDNS(t, netip.MustParseAddr("93.184.215.14"), netip.MustParseAddr("127.0.0.1"))
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", dns)
	}}
	// A check made when the URL is accepted sees a public address…
	addrs, err := r.LookupNetIP(context.Background(), "ip4", "rebind.example")
	if err != nil || len(addrs) != 1 || egress.Classify(addrs[0]) != "" {
		t.Fatalf("first look-up = %v, %v; want one public address", addrs, err)
	}
	// …but the connection, made later, is checked on what it dials.
	p := &egress.Policy{Resolver: r}
	err = post(p.Client(5*time.Second), "http://rebind.example:"+port+"/")
	if !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("POST to a name resolving to loopback = %v, want ErrRefused", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the loopback receiver was reached")
	}
}

// TestClientAllowed: what the operator allows is reached — by address,
// by CIDR and by name.
func TestClientAllowed(t *testing.T) {
	ts, hits := receiver(t)
	port := ts.URL[strings.LastIndex(ts.URL, ":")+1:]
	for allow, u := range map[string]string{
		"127.0.0.1":     ts.URL,
		"127.0.0.0/8":   ts.URL,
		"localhost":     "http://localhost:" + port,
		"127.0.0.1,::1": "http://localhost:" + port,
	} {
		if err := post(egress.MustParse(allow).Client(5*time.Second), u); err != nil {
			t.Errorf("with %q allowed, POST %s = %v", allow, u, err)
		}
	}
	if n := hits.Load(); n != 4 {
		t.Fatalf("receiver reached %d times, want 4", n)
	}
	// Allowing one address allows no other.
	if err := post(egress.MustParse("127.0.0.2").Client(5*time.Second), ts.URL); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("with 127.0.0.2 allowed, POST %s = %v, want ErrRefused", ts.URL, err)
	}
}

// TestClientRedirect: an allowed server that redirects to a forbidden one
// does not get garde there — redirects are refused, whatever the status.
func TestClientRedirect(t *testing.T) {
	inside, hits := receiver(t)
	for _, code := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		out := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, strings.Replace(inside.URL, "127.0.0.1", "localhost", 1), code)
		}))
		defer out.Close()
		// The redirecting server is allowed by address; the target by nothing.
		err := post(egress.MustParse(strings.TrimPrefix(out.URL, "http://")[:len("127.0.0.1")]).Client(5*time.Second), out.URL)
		var re *egress.RefusedError
		if !errors.As(err, &re) || re.Reason != egress.ReasonRedirect {
			t.Errorf("%d redirect: POST = %v, want a refused redirect", code, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("the redirect target was reached")
	}
}

// TestDialerSMTP: the dialer (SMTP's path) applies the same policy.
func TestDialerSMTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if _, err := (*egress.Policy)(nil).Dialer(time.Second)(context.Background(), "tcp", ln.Addr().String()); !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("dial %s = %v, want ErrRefused", ln.Addr(), err)
	}
	c, err := egress.MustParse("127.0.0.1").Dialer(time.Second)(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial %s with loopback allowed = %v", ln.Addr(), err)
	}
	c.Close()
}

// fakeDNS serves A records on loopback UDP: the first query for a name is
// answered with first, every later one with then — a rebinding attacker's
// DNS. AAAA and other queries get an empty answer. It returns the address.
func fakeDNS(t *testing.T, first, then netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		var n int
		buf := make([]byte, 1500)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:k]
			if len(q) < 12 {
				continue
			}
			i := 12
			for i < len(q) && q[i] != 0 {
				i += int(q[i]) + 1
			}
			if i+5 > len(q) {
				continue
			}
			end := i + 5 // the zero label, QTYPE, QCLASS
			isA := q[i+1] == 0 && q[i+2] == 1
			resp := append([]byte{q[0], q[1], 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0}, q[12:end]...)
			if isA {
				a := then
				if n == 0 {
					a = first
				}
				n++
				resp[7] = 1
				ip := a.As4()
				resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, ip[0], ip[1], ip[2], ip[3])
			}
			pc.WriteTo(resp, from)
		}
	}()
	return pc.LocalAddr().String()
}

// FuzzClassify: an IPv4 address cannot change its verdict by hiding in
// IPv6 — mapped and NAT64 forms are judged as the address itself, 6to4 and
// IPv4-compatible forms are refused whatever they carry — and Parse never
// panics on what an operator types.
func FuzzClassify(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1}, "127.0.0.1,::1")
	f.Add([]byte{8, 8, 8, 8}, "10.0.0.0/8,hooks.internal")
	f.Add([]byte{169, 254, 169, 254}, "*.corp.example")
	f.Fuzz(func(t *testing.T, b []byte, allow string) {
		if p, err := egress.Parse(allow); err == nil && p.String() == "" {
			t.Fatal("a parsed policy describes itself as nothing")
		}
		if len(b) != 4 {
			return
		}
		v4 := netip.AddrFrom4([4]byte(b))
		want := egress.Classify(v4)
		mapped := netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
		nat := netip.AddrFrom16([16]byte{0: 0, 1: 0x64, 2: 0xff, 3: 0x9b, 12: b[0], 13: b[1], 14: b[2], 15: b[3]})
		sixToFour := netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: b[0], 3: b[1], 4: b[2], 5: b[3]})
		if got := egress.Classify(mapped); got != want {
			t.Fatalf("Classify(%s) = %q, Classify(%s) = %q", mapped, got, v4, want)
		}
		if got := egress.Classify(nat); got != want {
			t.Fatalf("Classify(%s) = %q, Classify(%s) = %q", nat, got, v4, want)
		}
		if got := egress.Classify(sixToFour); got != egress.ReasonTransition {
			t.Fatalf("Classify(%s) = %q, want transition", sixToFour, got)
		}
		if compat := netip.AddrFrom16([16]byte{12: b[0], 13: b[1], 14: b[2], 15: b[3]}); b[0] != 0 && egress.Classify(compat) != egress.ReasonTransition {
			t.Fatalf("Classify(%s) = %q, want transition", compat, egress.Classify(compat))
		}
	})
}
