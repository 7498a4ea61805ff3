package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"github.com/garde-privacy/garde"
)

// Sessions live in this process's memory (see docs/dashboard.md): a
// random 256-bit id in the cookie, only its SHA-256 kept server-side,
// an idle timeout and an absolute lifetime, both on the service's clock.

const (
	// SessionIdle ends a session nobody used for this long.
	SessionIdle = 15 * time.Minute
	// SessionMax ends any session this long after sign-in.
	SessionMax = 8 * time.Hour
	// maxSessions bounds the in-memory store (oldest dropped first).
	maxSessions = 10000
)

type session struct {
	p        garde.Principal
	csrf     string
	created  time.Time
	lastSeen time.Time
}

// sessionStore holds sessions by the SHA-256 of their id.
type sessionStore struct {
	mu sync.Mutex
	m  map[[32]byte]*session
}

func (st *sessionStore) create(p garde.Principal, now time.Time) (id string, s *session) {
	id, csrf := randomToken(), randomToken()
	s = &session{p: p, csrf: csrf, created: now, lastSeen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	for h, old := range st.m {
		if expired(old, now) {
			delete(st.m, h)
		}
	}
	if len(st.m) >= maxSessions {
		var oldest [32]byte
		var t time.Time
		for h, old := range st.m {
			if t.IsZero() || old.lastSeen.Before(t) {
				oldest, t = h, old.lastSeen
			}
		}
		delete(st.m, oldest)
	}
	st.m[sha256.Sum256([]byte(id))] = s
	return id, s
}

func expired(s *session, now time.Time) bool {
	return now.Sub(s.lastSeen) > SessionIdle || now.Sub(s.created) > SessionMax
}

// get returns the live session of id and marks it used; an expired one is
// deleted and reported as such.
func (st *sessionStore) get(id string, now time.Time) (s session, ok, wasExpired bool) {
	h := sha256.Sum256([]byte(id))
	st.mu.Lock()
	defer st.mu.Unlock()
	ps := st.m[h]
	if ps == nil {
		return session{}, false, false
	}
	if expired(ps, now) {
		delete(st.m, h)
		return session{}, false, true
	}
	ps.lastSeen = now
	return *ps, true, false
}

// dropKey ends every session opened with a key (after its revocation).
func (st *sessionStore) dropKey(keyID string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for h, s := range st.m {
		if s.p.KeyID == keyID {
			delete(st.m, h)
		}
	}
}

func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	delete(st.m, sha256.Sum256([]byte(id)))
	st.mu.Unlock()
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
