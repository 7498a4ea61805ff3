package notify_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/gardetest"
	"github.com/garde-privacy/garde/notify"
	"github.com/garde-privacy/garde/sqlite"
)

// mailServer is a minimal RFC 5321 server on loopback that keeps what it
// receives.
type mailServer struct {
	ln         net.Listener
	rejectRcpt bool
	tls        *tls.Config // when set, offers STARTTLS
	mu         sync.Mutex
	mail       []received
}

type received struct {
	from string
	to   []string
	data string
}

func newMailServer(t *testing.T) *mailServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mailServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *mailServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	r := bufio.NewReader(c)
	say := func(line string) { io.WriteString(c, line+"\r\n") }
	say("220 localhost ESMTP test")
	var m received
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch verb {
		case "EHLO", "HELO":
			say("250-localhost")
			if _, ok := c.(*tls.Conn); s.tls != nil && !ok {
				say("250-STARTTLS")
			}
			say("250 8BITMIME")
		case "STARTTLS":
			say("220 ready")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r = tc, bufio.NewReader(tc)
		case "MAIL":
			addr, _, _ := strings.Cut(line[len("MAIL FROM:"):], " ") // drop BODY=8BITMIME and the like
			m = received{from: strings.Trim(addr, "<>")}
			say("250 OK")
		case "RCPT":
			if s.rejectRcpt {
				say("550 5.1.1 " + line[len("RCPT TO:"):] + ": Recipient address rejected")
				continue
			}
			m.to = append(m.to, strings.TrimSuffix(strings.TrimPrefix(line[len("RCPT TO:"):], "<"), ">"))
			say("250 OK")
		case "DATA":
			say("354 end with <CRLF>.<CRLF>")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			m.data = b.String()
			s.mu.Lock()
			s.mail = append(s.mail, m)
			s.mu.Unlock()
			say("250 OK queued")
		case "RSET", "NOOP":
			say("250 OK")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 not implemented")
		}
	}
}

func (s *mailServer) received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.mail...)
}

// hookReceiver verifies each webhook's signature as a receiver would.
type hookReceiver struct {
	mu       sync.Mutex
	ok, bad  int
	payloads []string
}

func TestEscalationByEmailAndWebhook(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "garde.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	start := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	clk := gardetest.NewClock(start)
	svc := garde.NewService(db, gardetest.MasterKeys(t), clk)
	a := gardetest.NewTenant(t, svc, "A")
	aware := start
	desc := "A support export was sent to the wrong customer."
	b, err := svc.CreateBreach(ctx, a.DPO, garde.NewBreach{BreachChange: garde.BreachChange{AwareAt: &aware, Nature: []string{garde.NatureConfidentiality}, Description: &desc}})
	if err != nil {
		t.Fatal(err)
	}

	ms := newMailServer(t)
	secret := []byte("webhook secret")
	hr := &hookReceiver{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hr.mu.Lock()
		defer hr.mu.Unlock()
		if err := notify.Verify(secret, r.Header.Get(notify.HeaderTimestamp), r.Header.Get(notify.HeaderSignature), body, clk.Now(), 5*time.Minute); err != nil {
			hr.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		hr.ok++
		hr.payloads = append(hr.payloads, string(body))
	}))
	defer ts.Close()

	c := garde.BreachClock{
		Email:   &notify.SMTP{Addr: ms.ln.Addr().String(), From: "garde@operator.example"},
		Webhook: &notify.Webhook{URL: ts.URL, Secret: secret, Now: clk.Now},
	}
	for _, step := range []time.Duration{0, 24 * time.Hour, 24 * time.Hour, 18 * time.Hour} {
		clk.Advance(step)
		if _, err := svc.EscalateBreaches(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	mails := ms.received()
	if len(mails) != 4 {
		t.Fatalf("SMTP server received %d emails, want 4", len(mails))
	}
	last := mails[3]
	if last.from != "garde@operator.example" || len(last.to) != 1 || last.to[0] != "dpo@example.com" {
		t.Fatalf("envelope from %q to %q", last.from, last.to)
	}
	msg, err := mail.ReadMessage(strings.NewReader(last.data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || !strings.Contains(subject, b.ID) || !strings.Contains(subject, "6 h left") {
		t.Fatalf("Subject = %q, %v", subject, err)
	}
	body, _ := io.ReadAll(quotedprintable.NewReader(msg.Body))
	for _, want := range []string{"To Camille Durand", b.ID, "Notify by: 2026-03-05T08:00:00Z", "Temps restant : 6 h"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("email body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(string(body), desc) {
		t.Errorf("email carries the breach description")
	}
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if hr.ok != 4 || hr.bad != 0 || !strings.Contains(hr.payloads[0], `"point":"0s"`) {
		t.Fatalf("webhooks: %d verified, %d refused, first %s", hr.ok, hr.bad, hr.payloads[0])
	}
}

func TestVerifyRefusesTamperingAndReplay(t *testing.T) {
	secret := []byte("s")
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"breach":"brc_1"}`)
	sig := notify.Sign(secret, now.Unix(), body)
	ts := "1800000000"
	if err := notify.Verify(secret, ts, sig, body, now, time.Minute); err != nil {
		t.Fatalf("Verify(good) = %v", err)
	}
	for name, tc := range map[string]struct {
		ts, sig string
		body    []byte
		now     time.Time
	}{
		"tampered body":  {ts, sig, []byte(`{"breach":"brc_2"}`), now},
		"other secret":   {ts, notify.Sign([]byte("t"), now.Unix(), body), body, now},
		"replayed later": {ts, sig, body, now.Add(time.Hour)},
		"moved stamp":    {"1800000001", sig, body, now},
	} {
		if err := notify.Verify(secret, tc.ts, tc.sig, tc.body, tc.now, time.Minute); err == nil {
			t.Errorf("%s: Verify = nil, want an error", name)
		}
	}
}

// TestSMTPErrorsCarryNoAddress: a refusal's text, which repeats the
// recipient's address, stays out of the error (errors go to logs).
func TestSMTPErrorsCarryNoAddress(t *testing.T) {
	ms := newMailServer(t)
	ms.rejectRcpt = true
	s := &notify.SMTP{Addr: ms.ln.Addr().String(), From: "garde@operator.example"}
	err := s.Notify(context.Background(), garde.Escalation{BreachID: "brc_1", DPO: garde.Party{Email: "dpo@example.com"}, At: time.Now(), NotifyBy: time.Now().Add(time.Hour)})
	if err == nil || !strings.Contains(err.Error(), "550") || strings.Contains(err.Error(), "dpo@example.com") {
		t.Fatalf("Notify to a refused recipient = %v; want the code 550 and no address", err)
	}
}

// TestSMTPStartTLS sends through a server that offers STARTTLS, as nearly
// every real one does: the upgrade must name the server (ServerName), or
// crypto/tls refuses to handshake and no escalation email ever leaves.
func TestSMTPStartTLS(t *testing.T) {
	hs := httptest.NewUnstartedServer(nil)
	hs.StartTLS()
	defer hs.Close()
	roots := x509.NewCertPool()
	roots.AddCert(hs.Certificate())
	ms := newMailServer(t)
	ms.tls = &tls.Config{Certificates: hs.TLS.Certificates}
	s := &notify.SMTP{Addr: ms.ln.Addr().String(), From: "garde@operator.example", TLSConfig: &tls.Config{RootCAs: roots}}
	err := s.Notify(context.Background(), garde.Escalation{BreachID: "brc_1", DPO: garde.Party{Email: "dpo@example.com"}, At: time.Now(), NotifyBy: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("Notify over STARTTLS = %v, want nil", err)
	}
	if got := ms.received(); len(got) != 1 || len(got[0].to) != 1 || got[0].to[0] != "dpo@example.com" {
		t.Fatalf("received %+v, want one mail to the DPO", got)
	}
}
