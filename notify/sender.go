package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/garde-privacy/garde"
)

// Sender posts garde's other signed webhooks — erasure notices to the
// register's recipients, OpenDSR status callbacks, request alarms — with
// the same HMAC scheme as Webhook (Garde-Timestamp, Garde-Signature) when
// the webhook has a secret, plus any headers garde computed (an OpenDSR
// signature). Retries and dead letters are garde's (delivery.go): Send
// makes one attempt.
type Sender struct {
	Client *http.Client
	// Now is the signing time (default time.Now).
	Now func() time.Time
}

var _ garde.WebhookSender = (*Sender)(nil)

// Send posts one webhook and fails unless the receiver answers 2xx.
func (s *Sender) Send(ctx context.Context, w garde.Webhook) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(w.Body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if w.Secret != nil {
		now := time.Now
		if s.Now != nil {
			now = s.Now
		}
		ts := now().Unix()
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, Sign(w.Secret, ts, w.Body))
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
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
