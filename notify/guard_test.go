package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/notify"
)

func TestIsPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "fd00::1": false, "100.64.0.1": false, "0.0.0.0": false,
		"224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
		"8.8.8.8": true, "2001:4860:4860::8888": true, "::ffff:8.8.8.8": true,
	} {
		if got := notify.IsPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsPublic(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestPublicOnlyClient: a webhook to a loopback receiver (standing for the
// inside of garde's network) is refused before any byte is sent.
func TestPublicOnlyClient(t *testing.T) {
	hit := false
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit = true }))
	defer ts.Close()
	s := &notify.Sender{Client: notify.PublicOnlyClient(5 * time.Second)}
	for _, url := range []string{ts.URL, "http://localhost:" + ts.URL[len("http://127.0.0.1:"):]} {
		err := s.Send(context.Background(), garde.Webhook{URL: url, Body: []byte(`{}`)})
		if !errors.Is(err, notify.ErrPrivateAddress) {
			t.Errorf("Send(%s) = %v, want ErrPrivateAddress", url, err)
		}
	}
	if hit {
		t.Fatal("the loopback receiver was reached")
	}
	// The default client still reaches it (tests and private deployments).
	if err := (&notify.Sender{}).Send(context.Background(), garde.Webhook{URL: ts.URL, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
}
