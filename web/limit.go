package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/internal/errkind"
	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what one API key and one client address may ask of the
// server, and lock an address out after repeated failed authentications.
// The zero value limits nothing; `garde serve` starts with DefaultLimits.
//
// The client address is the peer of the TCP connection (r.RemoteAddr),
// or what a trusted proxy says in X-Forwarded-For (TrustedProxies).
type Limits struct {
	// PerKey is the sustained rate, in requests per second, one API key
	// may make (a burst of one second's worth is allowed). 0: no limit.
	PerKey float64
	// PerAddr is the same for one client address, counted before
	// authentication, so that guessing keys costs the guesser. 0: no limit.
	PerAddr float64
	// LockoutFailures failed authentications from one address within
	// LockoutWindow lock that address out of every authenticated route for
	// LockoutFor. 0: no lock-out.
	LockoutFailures int
	LockoutWindow   time.Duration // default 1 minute
	LockoutFor      time.Duration // default 5 minutes
	// TrustedProxies are the load balancers or reverse proxies in front of
	// garde: from their connections the client address is read from
	// X-Forwarded-For. Empty: the TCP peer is the client.
	TrustedProxies []netip.Prefix
	// Now is the clock (default time.Now); tests inject their own.
	Now func() time.Time
}

// DefaultLimits are high enough for garde's own benchmarks on loopback
// (one key sustains ~5,000 single writes per second on two cores) and low
// enough to stop a runaway client or a key-guessing loop.
var DefaultLimits = Limits{PerKey: 5000, PerAddr: 10000, LockoutFailures: 20, LockoutWindow: time.Minute, LockoutFor: 5 * time.Minute}

// errLimited is rendered as 429 Too Many Requests (web/internal/errkind).
var errLimited = errkind.ErrLimited

// maxTracked bounds each table of the limiter, so that a flood of
// distinct addresses or keys cannot grow memory without end.
const maxTracked = 100_000

type bucket struct {
	tokens float64
	last   time.Time
}

// buckets is a set of token buckets, one per name, all of one rate.
type buckets struct {
	rate float64
	mu   sync.Mutex
	m    map[string]*bucket
}

// take spends a token of name's bucket, or says how long until one is
// available.
func (b *buckets) take(name string, now time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	burst := math.Max(b.rate, 1)
	k := b.m[name]
	if k == nil {
		if len(b.m) >= maxTracked {
			b.sweep(now, burst)
		}
		k = &bucket{tokens: burst, last: now}
		b.m[name] = k
	}
	if d := now.Sub(k.last); d > 0 {
		k.tokens = math.Min(burst, k.tokens+d.Seconds()*b.rate)
		k.last = now
	}
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	return false, time.Duration((1 - k.tokens) / b.rate * float64(time.Second))
}

// sweep forgets the buckets that have refilled (forgetting them changes
// nothing), or, if all are busy, the whole table rather than growing.
func (b *buckets) sweep(now time.Time, burst float64) {
	for name, k := range b.m {
		if k.tokens+now.Sub(k.last).Seconds()*b.rate >= burst {
			delete(b.m, name)
		}
	}
	if len(b.m) >= maxTracked {
		clear(b.m)
	}
}

type failures struct {
	count       int
	windowStart time.Time
	lockedUntil time.Time
}

// limiter applies Limits.
type limiter struct {
	l       Limits
	perKey  *buckets
	perAddr *buckets
	secret  []byte // keys the pseudonyms of addresses in logs and audit

	mu    sync.Mutex
	fails map[string]*failures

	// refused counts 429s by cause (key, addr, lockout) and lockouts the
	// addresses locked out: no label names a key, a tenant or an address.
	refused  *prometheus.CounterVec
	lockouts prometheus.Counter
}

func newLimiter(l Limits, reg prometheus.Registerer) *limiter {
	if l.Now == nil {
		l.Now = time.Now
	}
	if l.LockoutWindow <= 0 {
		l.LockoutWindow = time.Minute
	}
	if l.LockoutFor <= 0 {
		l.LockoutFor = 5 * time.Minute
	}
	lim := &limiter{l: l, fails: map[string]*failures{}, secret: make([]byte, 32),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "garde_http_limited_total", Help: "Requests refused with 429, by cause: key, addr (rate limits) or lockout.",
		}, []string{"cause"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "garde_auth_lockouts_total", Help: "Client addresses locked out after repeated failed authentications.",
		}),
	}
	reg.MustRegister(lim.refused, lim.lockouts)
	rand.Read(lim.secret)
	if l.PerKey > 0 {
		lim.perKey = &buckets{rate: l.PerKey, m: map[string]*bucket{}}
	}
	if l.PerAddr > 0 {
		lim.perAddr = &buckets{rate: l.PerAddr, m: map[string]*bucket{}}
	}
	return lim
}

// clientAddr is the client's address, without the port: the connection's
// peer, or, when the peer is a trusted proxy, the right-most address of
// X-Forwarded-For that is not a trusted proxy (the left part of the header
// is whatever the client wrote).
func (lim *limiter) clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if len(lim.l.TrustedProxies) == 0 || !lim.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		a, err := netip.ParseAddr(hop)
		if err != nil {
			break // a malformed hop: stop at the last address we trust
		}
		if !lim.trusted(a.String()) {
			return a.Unmap().String()
		}
		host = a.String()
	}
	return host
}

func (lim *limiter) trusted(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range lim.l.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ref is an opaque pseudonym of an address: a client address is personal
// data and never appears in a log line or an audit event.
func (lim *limiter) ref(addr string) string {
	m := hmac.New(sha256.New, lim.secret)
	m.Write([]byte(addr))
	return "addr_" + hex.EncodeToString(m.Sum(nil)[:8])
}

func tooMany(w http.ResponseWriter, wait time.Duration) error {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return errLimited
}

// admitAddr spends a token of the client address's bucket.
func (lim *limiter) admitAddr(w http.ResponseWriter, r *http.Request) error {
	if lim.perAddr == nil {
		return nil
	}
	if ok, wait := lim.perAddr.take(lim.clientAddr(r), lim.l.Now()); !ok {
		lim.refused.WithLabelValues("addr").Inc()
		return tooMany(w, wait)
	}
	return nil
}

// admitKey spends a token of the API key's bucket.
func (lim *limiter) admitKey(w http.ResponseWriter, keyID string) error {
	if lim.perKey == nil {
		return nil
	}
	if ok, wait := lim.perKey.take(keyID, lim.l.Now()); !ok {
		lim.refused.WithLabelValues("key").Inc()
		return tooMany(w, wait)
	}
	return nil
}

// The lock-out policy. A guess is a presented API key that fails; what it
// counts against depends on what it aimed at, so that a guesser locks out
// only what it attacks:
//
//   - a malformed key or an unknown prefix aims at nothing known: it counts
//     against the client address (its /64 for IPv6, where one host holds a
//     whole /64 and would otherwise walk past an exact-address count);
//   - a wrong secret for a known prefix counts against that key (its
//     tenant and prefix, from any address: walking addresses does not
//     multiply the tries at one key) and against its tenant at the client
//     address (so that guessing at many of one tenant's keys from one
//     address is bounded too);
//   - a revoked key counts against that key only: it can never succeed,
//     and a stale client still using it must not lock its tenant out.
//
// A request is refused (429) when the address is locked for guessing, when
// its key's prefix is locked, or when its key's tenant is locked at the
// address. So one tenant's failures from a shared (NAT) address never
// refuse another tenant's valid keys from it, and a stuffing list gains no
// more than N tries per key, per tenant and address, and per address.
const (
	lockAddr   = "addr"           // unknown and malformed keys, per address
	lockKey    = "key"            // wrong secrets and revoked keys, per key prefix
	lockTenant = "tenant_at_addr" // wrong secrets, per tenant and address
)

// lockName is the name of a lock-out counter.
func lockName(kind string, parts ...string) string {
	return kind + "\x00" + strings.Join(parts, "\x00")
}

// addrBlock is the block an address is counted under: the address itself
// for IPv4, its /64 for IPv6 (the smallest block a network hands one
// host, so that a client cannot walk its own /64).
func addrBlock(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// lockedUntil says until when a counter is locked (zero if it is not).
func (lim *limiter) lockedUntil(name string, now time.Time) time.Time {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	if f := lim.fails[name]; f != nil && now.Before(f.lockedUntil) {
		return f.lockedUntil
	}
	return time.Time{}
}

// refuse answers 429 until the given time.
func (lim *limiter) refuse(w http.ResponseWriter, now, until time.Time) error {
	lim.refused.WithLabelValues("lockout").Inc()
	return tooMany(w, until.Sub(now))
}

// failed counts a failure against a counter. It reports whether this
// failure locked it, and until when.
func (lim *limiter) failed(name string, now time.Time) (locked bool, failuresSeen int, until time.Time) {
	lim.mu.Lock()
	defer lim.mu.Unlock()
	f := lim.fails[name]
	if f == nil {
		if len(lim.fails) >= maxTracked {
			for a, g := range lim.fails {
				if now.Sub(g.windowStart) > lim.l.LockoutWindow && !now.Before(g.lockedUntil) {
					delete(lim.fails, a)
				}
			}
			if len(lim.fails) >= maxTracked {
				clear(lim.fails)
			}
		}
		f = &failures{windowStart: now}
		lim.fails[name] = f
	}
	if now.Sub(f.windowStart) > lim.l.LockoutWindow {
		f.count, f.windowStart = 0, now
	}
	f.count++
	if f.count >= lim.l.LockoutFailures && !now.Before(f.lockedUntil) {
		n := f.count
		f.lockedUntil = now.Add(lim.l.LockoutFor)
		lim.lockouts.Inc()
		f.count, f.windowStart = 0, now
		return true, n, f.lockedUntil
	}
	return false, 0, time.Time{}
}

// authenticateLimited authenticates a request's bearer key under the
// limits (see signInKey).
func (s *Server) authenticateLimited(w http.ResponseWriter, r *http.Request) (garde.Principal, error) {
	h := r.Header.Get("Authorization")
	text, ok := cutPrefixFold(h, "Bearer ")
	if !ok || text == "" {
		return s.authenticate(r) // the same 401; a missing key is no guess
	}
	return s.signInKey(w, r, text)
}

// signInKey checks an API key text under the limits: a request whose
// address is locked for guessing, or whose key's prefix is locked, is
// refused before the key is looked at; a failure counts towards the
// lock-outs of what it aimed at (see the policy above; each lock audited
// when it locks); a good key is refused while its tenant is locked at the
// address, and otherwise spends a token of its own bucket. Every place
// that takes an API key from a client (the bearer header, the dashboard's
// sign-in form) goes through here.
func (s *Server) signInKey(w http.ResponseWriter, r *http.Request, text string) (garde.Principal, error) {
	lim := s.limiter
	if lim.l.LockoutFailures <= 0 {
		p, err := s.svc.Authenticate(r.Context(), text)
		if err != nil {
			return garde.Principal{}, err
		}
		return p, lim.admitKey(w, p.KeyID)
	}
	now := lim.l.Now()
	block := addrBlock(lim.clientAddr(r))
	prefix, wellFormed := garde.APIKeyPrefix(text)
	if until := lim.lockedUntil(lockName(lockAddr, block), now); !until.IsZero() {
		return garde.Principal{}, lim.refuse(w, now, until)
	}
	if wellFormed {
		if until := lim.lockedUntil(lockName(lockKey, prefix), now); !until.IsZero() {
			return garde.Principal{}, lim.refuse(w, now, until)
		}
	}
	p, err := s.svc.Authenticate(r.Context(), text)
	var ae *garde.AuthError
	if errors.As(err, &ae) {
		// A guess at a tenant already locked at this address is refused
		// like a good key would be; the guess that locks is still a 401.
		var tenantLocked time.Time
		if ae.Tenant != "" {
			tenantLocked = lim.lockedUntil(lockName(lockTenant, block, string(ae.Tenant)), now)
		}
		switch ae.Reason {
		case "wrong_secret":
			s.countFailure(r, lockName(lockKey, prefix), lockKey, ae.Tenant, ae.KeyID, now)
			s.countFailure(r, lockName(lockTenant, block, string(ae.Tenant)), lockTenant, ae.Tenant, lim.ref(block), now)
		case "revoked":
			s.countFailure(r, lockName(lockKey, prefix), lockKey, ae.Tenant, ae.KeyID, now)
		default: // malformed, unknown_key
			s.countFailure(r, lockName(lockAddr, block), lockAddr, garde.OperatorTenant, lim.ref(block), now)
		}
		if !tenantLocked.IsZero() {
			return garde.Principal{}, lim.refuse(w, now, tenantLocked)
		}
	}
	if err != nil {
		return garde.Principal{}, err
	}
	if until := lim.lockedUntil(lockName(lockTenant, block, string(p.Tenant)), now); !until.IsZero() {
		return garde.Principal{}, lim.refuse(w, now, until)
	}
	if err := lim.admitKey(w, p.KeyID); err != nil {
		return garde.Principal{}, err
	}
	return p, nil
}

// countFailure counts a failed authentication against one lock-out
// counter, and logs and audits the lock-out when it locks: in the trail of
// the tenant attacked (the operator's for an address), by an opaque actor
// (a key id or an address pseudonym), never by the address.
func (s *Server) countFailure(r *http.Request, name, what string, tenant garde.TenantID, actor string, now time.Time) {
	locked, n, until := s.limiter.failed(name, now)
	if !locked {
		return
	}
	attrs := []any{"lock", what, "failures", n, "until", until.UTC().Format(time.RFC3339)}
	if what == lockKey {
		attrs = append(attrs, "tenant", string(tenant), "key", actor)
	} else {
		attrs = append(attrs, "addr_ref", actor)
		if tenant != garde.OperatorTenant {
			attrs = append(attrs, "tenant", string(tenant))
		}
	}
	s.log.Warn("locked out after failed authentications", attrs...)
	s.svc.RecordLockout(r.Context(), tenant, actor, what, n, until)
}
