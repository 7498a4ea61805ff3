package notify

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// What is signed: a label naming the scheme, then the timestamp, the
// delivery id and the body, separated by line feeds (the id holds none, the
// timestamp is digits), so that no two deliveries sign the same bytes and a
// signature made for one use of a key never passes for another.
const (
	webhookLabel  = "garde-webhook-v2"
	callbackLabel = "garde-callback-v1"
)

func signed(label string, ts int64, id string, body []byte) []byte {
	b := make([]byte, 0, len(label)+len(id)+len(body)+24)
	b = append(b, label...)
	b = append(b, '\n')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '\n')
	b = append(b, id...)
	b = append(b, '\n')
	return append(b, body...)
}

// Sign returns the Garde-Signature value of a webhook: "v2=" and the hex
// HMAC-SHA256 under secret of "garde-webhook-v2\n<ts>\n<id>\n<body>".
func Sign(secret []byte, ts int64, id string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(signed(webhookLabel, ts, id, body))
	return "v2=" + hex.EncodeToString(m.Sum(nil))
}

// SignCallback returns the X-OpenDSR-Signature value of a callback: the
// base64 Ed25519 signature under the tenant's callback key of
// "garde-callback-v1\n<ts>\n<id>\n<body>".
func SignCallback(key ed25519.PrivateKey, ts int64, id string, body []byte) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, signed(callbackLabel, ts, id, body)))
}

// Verification errors. ErrReplayed is returned only for a delivery whose
// signature and timestamp are good: garde retries a delivery under the same
// id when it did not see the receiver's answer, so a receiver that has
// already acted on that id can answer 2xx and do nothing more.
var (
	ErrBadSignature = errors.New("webhook: bad signature")
	ErrStale        = errors.New("webhook: timestamp outside the tolerance window")
	ErrReplayed     = errors.New("webhook: delivery id already seen")
	ErrMalformed    = errors.New("webhook: missing or malformed signature headers")
)

// DefaultTolerance is how far a delivery's timestamp may be from the
// receiver's clock.
const DefaultTolerance = 5 * time.Minute

// Verifier checks garde's deliveries as a receiver should: the signature
// (HMAC with Secret, or Ed25519 with PublicKey for OpenDSR callbacks), the
// timestamp within Tolerance of Now, and the delivery id never seen while
// its timestamp is within the window. Past the window the timestamp alone
// refuses a replay, so ids need remembering only that long. Safe for
// concurrent use; one Verifier per key.
type Verifier struct {
	Secret    []byte            // shared secret of HMAC webhooks
	PublicKey ed25519.PublicKey // the tenant's callback key (GET /opendsr/key)
	Tolerance time.Duration     // default DefaultTolerance
	Now       func() time.Time  // default time.Now

	mu   sync.Mutex
	seen map[string]time.Time // delivery id → its signed timestamp
}

// Verify checks one delivery's headers and body and returns its id.
func (v *Verifier) Verify(h http.Header, body []byte) (string, error) {
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	tsh, id := h.Get(HeaderTimestamp), h.Get(HeaderDelivery)
	ts, err := strconv.ParseInt(tsh, 10, 64)
	if err != nil || id == "" || strings.ContainsAny(id, "\r\n") {
		return "", ErrMalformed
	}
	msg := signed(webhookLabel, ts, id, body)
	switch {
	case v.PublicKey != nil:
		if len(v.PublicKey) != ed25519.PublicKeySize {
			return "", errors.New("webhook: the verifier's public key is not an Ed25519 key")
		}
		sig, err := base64.StdEncoding.DecodeString(h.Get(HeaderOpenDSRSignature))
		if err != nil || !ed25519.Verify(v.PublicKey, signed(callbackLabel, ts, id, body), sig) {
			return "", ErrBadSignature
		}
	case v.Secret != nil:
		m := hmac.New(sha256.New, v.Secret)
		m.Write(msg)
		want := "v2=" + hex.EncodeToString(m.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(h.Get(HeaderSignature))) {
			return "", ErrBadSignature
		}
	default:
		return "", errors.New("webhook: the verifier has no key")
	}
	at := time.Unix(ts, 0)
	if d := now.Sub(at); d > tol || d < -tol {
		return "", ErrStale
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, t := range v.seen {
		if now.Sub(t) > tol {
			delete(v.seen, k)
		}
	}
	if _, ok := v.seen[id]; ok {
		return id, ErrReplayed
	}
	if v.seen == nil {
		v.seen = map[string]time.Time{}
	}
	v.seen[id] = at
	return id, nil
}
