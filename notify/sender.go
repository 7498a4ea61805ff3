package notify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde/egress"
)

// Sender posts garde's signed webhooks — erasure notices to the register's
// recipients, OpenDSR status callbacks, request alarms — through the egress
// policy. Each one carries its timestamp (Garde-Timestamp) and its delivery
// id (Garde-Delivery), and is signed over both and the body: with HMAC
// (Garde-Signature) when the webhook has a secret, with the tenant's
// callback key (X-OpenDSR-Signature) when it is an OpenDSR callback. A
// receiver that checks the signature, the timestamp window and the ids it
// has seen cannot be replayed to (Verifier). Retries and dead letters are
// garde's (delivery.go): Send makes one attempt.
type Sender struct {
	// Policy is where garde may connect; nil allows public addresses only.
	Policy *egress.Policy
	// Timeout bounds one attempt (default 30 s).
	Timeout time.Duration
	// Now is the signing time (default time.Now).
	Now func() time.Time
}

// Hook is one webhook to post.
type Hook struct {
	URL  string
	Body []byte
	// Secret signs with HMAC-SHA256 (Garde-Signature); CallbackKey signs
	// an OpenDSR callback with Ed25519 (X-OpenDSR-Signature).
	Secret      []byte
	CallbackKey ed25519.PrivateKey
	// ID is the delivery id, the same on each retry (random when empty).
	ID      string
	Headers map[string]string
}

// HeaderOpenDSRSignature carries an OpenDSR callback's signature.
const HeaderOpenDSRSignature = "X-OpenDSR-Signature"

// Send posts one webhook and fails unless the receiver answers 2xx.
func (s *Sender) Send(ctx context.Context, w Hook) error {
	id := w.ID
	if id == "" {
		id = randomID()
	}
	if strings.ContainsAny(id, "\r\n") {
		return errors.New("webhook: the delivery id holds a line break")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(w.Body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := now().Unix()
	if w.Secret != nil || w.CallbackKey != nil {
		// Set after w.Headers: nothing garde computed elsewhere may stand
		// in for the signature.
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderDelivery, id)
	}
	if w.Secret != nil {
		req.Header.Set(HeaderSignature, Sign(w.Secret, ts, id, w.Body))
	}
	if w.CallbackKey != nil {
		req.Header.Set(HeaderOpenDSRSignature, SignCallback(w.CallbackKey, ts, id, w.Body))
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// A client per attempt, closed after it: deliveries are rare, and a
	// kept-alive connection would outlive the check made when it opened.
	client := s.Policy.Client(timeout)
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which may carry a token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook: %w", err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("webhook: receiver answered %d", res.StatusCode)
	}
	return nil
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return "wh_" + hex.EncodeToString(b[:])
}
