package notify_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/garde-privacy/garde/app"
	"github.com/garde-privacy/garde/breach"

	"github.com/garde-privacy/garde/register"

	"github.com/garde-privacy/garde/egress"
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
	svc := app.New(db, gardetest.MasterKeys(t), clk)
	a := gardetest.NewTenant(t, svc, "A")
	aware := start
	desc := "A support export was sent to the wrong customer."
	b, err := svc.Breach.CreateBreach(ctx, a.DPO, breach.NewBreach{BreachChange: breach.BreachChange{AwareAt: &aware, Nature: []string{breach.NatureConfidentiality}, Description: &desc}})
	if err != nil {
		t.Fatal(err)
	}

	ms := newMailServer(t)
	secret := []byte("webhook secret")
	hr := &hookReceiver{}
	v := &notify.Verifier{Secret: secret, Now: clk.Now}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		hr.mu.Lock()
		defer hr.mu.Unlock()
		if _, err := v.Verify(r.Header, body); err != nil {
			hr.bad++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		hr.ok++
		hr.payloads = append(hr.payloads, string(body))
	}))
	defer ts.Close()

	c := breach.BreachClock{
		Email:   breach.EmailNotifier{Mailer: &notify.SMTP{Addr: ms.ln.Addr().String(), From: "garde@operator.example", Policy: gardetest.LoopbackEgress}},
		Webhook: &breach.WebhookNotifier{URL: ts.URL, Secret: secret, Now: clk.Now, Policy: gardetest.LoopbackEgress},
	}
	for _, step := range []time.Duration{0, 24 * time.Hour, 24 * time.Hour, 18 * time.Hour} {
		clk.Advance(step)
		if _, err := svc.Breach.EscalateBreaches(ctx, c); err != nil {
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

// TestVerifyRefusesTamperingAndReplay attacks the receiver's side of
// both schemes: a changed body, id or timestamp, another key, the same
// delivery sent twice, an old one sent again, and — for callbacks — a
// signature made with the tenant's ledger key instead of its callback key.
func TestVerifyRefusesTamperingAndReplay(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"breach":"brc_1"}`)
	_, callbackKey, _ := ed25519.GenerateKey(nil)
	_, ledgerKey, _ := ed25519.GenerateKey(nil)
	secret := []byte("s")
	type scheme struct {
		sign func(ts int64, id string, body []byte) http.Header
		v    func() *notify.Verifier
	}
	hdr := func(ts int64, id, name, sig string) http.Header {
		h := http.Header{}
		h.Set(notify.HeaderTimestamp, strconv.FormatInt(ts, 10))
		h.Set(notify.HeaderDelivery, id)
		h.Set(name, sig)
		return h
	}
	schemes := map[string]scheme{
		"hmac": {
			sign: func(ts int64, id string, b []byte) http.Header {
				return hdr(ts, id, notify.HeaderSignature, notify.Sign(secret, ts, id, b))
			},
			v: func() *notify.Verifier { return &notify.Verifier{Secret: secret, Now: func() time.Time { return now }} },
		},
		"callback": {
			sign: func(ts int64, id string, b []byte) http.Header {
				return hdr(ts, id, notify.HeaderOpenDSRSignature, notify.SignCallback(callbackKey, ts, id, b))
			},
			v: func() *notify.Verifier {
				return &notify.Verifier{PublicKey: callbackKey.Public().(ed25519.PublicKey), Now: func() time.Time { return now }}
			},
		},
	}
	for name, sc := range schemes {
		t.Run(name, func(t *testing.T) {
			v := sc.v()
			good := sc.sign(now.Unix(), "dsr_1.1", body)
			if id, err := v.Verify(good, body); err != nil || id != "dsr_1.1" {
				t.Fatalf("Verify(good) = %q, %v", id, err)
			}
			// The same delivery again: refused as a replay.
			if _, err := v.Verify(good, body); !errors.Is(err, notify.ErrReplayed) {
				t.Fatalf("Verify(replayed) = %v, want ErrReplayed", err)
			}
			// Captured, and sent again after the window: refused as stale,
			// even by a receiver that forgot the id (a fresh verifier).
			late := sc.v()
			late.Now = func() time.Time { return now.Add(6 * time.Minute) }
			if _, err := late.Verify(good, body); !errors.Is(err, notify.ErrStale) {
				t.Fatalf("Verify(old timestamp) = %v, want ErrStale", err)
			}
			moved := good.Clone()
			moved.Set(notify.HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			otherID := good.Clone()
			otherID.Set(notify.HeaderDelivery, "dsr_1.2")
			noID := good.Clone()
			noID.Del(notify.HeaderDelivery)
			for what, h := range map[string]http.Header{"moved timestamp": moved, "other id": otherID, "no id": noID} {
				if _, err := sc.v().Verify(h, body); err == nil {
					t.Errorf("Verify(%s) = nil, want an error", what)
				}
			}
			if _, err := sc.v().Verify(good, []byte(`{"breach":"brc_2"}`)); !errors.Is(err, notify.ErrBadSignature) {
				t.Errorf("Verify(tampered body) = %v, want ErrBadSignature", err)
			}
		})
	}
	// Another secret, and the ledger key in place of the callback key.
	if _, err := schemes["hmac"].v().Verify(hdr(now.Unix(), "x", notify.HeaderSignature, notify.Sign([]byte("t"), now.Unix(), "x", body)), body); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("HMAC under another secret = %v, want ErrBadSignature", err)
	}
	cv := &notify.Verifier{PublicKey: ledgerKey.Public().(ed25519.PublicKey), Now: func() time.Time { return now }}
	if _, err := cv.Verify(schemes["callback"].sign(now.Unix(), "x", body), body); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("a callback checked against the ledger key = %v, want ErrBadSignature", err)
	}
	// The old scheme — Ed25519 over the bare body, which anyone who saw one
	// callback could replay forever — no longer verifies.
	bare := hdr(now.Unix(), "x", notify.HeaderOpenDSRSignature, base64.StdEncoding.EncodeToString(ed25519.Sign(callbackKey, body)))
	if _, err := schemes["callback"].v().Verify(bare, body); !errors.Is(err, notify.ErrBadSignature) {
		t.Errorf("a bare-body signature = %v, want ErrBadSignature", err)
	}
}

// TestNotifyRefusesInsideByDefault: with no egress policy set, neither the
// escalation email nor the webhook reaches a loopback server.
func TestNotifyRefusesInsideByDefault(t *testing.T) {
	ms := newMailServer(t)
	var hit atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Store(true) }))
	defer ts.Close()
	e := breach.Escalation{BreachID: "brc_1", DPO: register.Party{Email: "dpo@example.com"}, At: time.Now(), NotifyBy: time.Now().Add(time.Hour)}
	for name, n := range map[string]breach.Notifier{
		"smtp":            breach.EmailNotifier{Mailer: &notify.SMTP{Addr: ms.ln.Addr().String(), From: "garde@operator.example"}},
		"webhook":         &breach.WebhookNotifier{URL: ts.URL, Secret: []byte("s")},
		"webhook by name": &breach.WebhookNotifier{URL: strings.Replace(ts.URL, "127.0.0.1", "localhost", 1), Secret: []byte("s")},
	} {
		if err := n.Notify(context.Background(), e); !errors.Is(err, egress.ErrRefused) {
			t.Errorf("%s: Notify = %v, want egress.ErrRefused", name, err)
		}
	}
	if len(ms.received()) != 0 || hit.Load() {
		t.Fatal("a loopback server was reached")
	}
}

// TestSMTPErrorsCarryNoAddress: a refusal's text, which repeats the
// recipient's address, stays out of the error (errors go to logs).
func TestSMTPErrorsCarryNoAddress(t *testing.T) {
	ms := newMailServer(t)
	ms.rejectRcpt = true
	s := &notify.SMTP{Addr: ms.ln.Addr().String(), From: "garde@operator.example", Policy: gardetest.LoopbackEgress}
	err := (breach.EmailNotifier{Mailer: s}).Notify(context.Background(), breach.Escalation{BreachID: "brc_1", DPO: register.Party{Email: "dpo@example.com"}, At: time.Now(), NotifyBy: time.Now().Add(time.Hour)})
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
	s := &notify.SMTP{Addr: ms.ln.Addr().String(), From: "garde@operator.example", TLSConfig: &tls.Config{RootCAs: roots}, Policy: gardetest.LoopbackEgress}
	err := (breach.EmailNotifier{Mailer: s}).Notify(context.Background(), breach.Escalation{BreachID: "brc_1", DPO: register.Party{Email: "dpo@example.com"}, At: time.Now(), NotifyBy: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("Notify over STARTTLS = %v, want nil", err)
	}
	if got := ms.received(); len(got) != 1 || len(got[0].to) != 1 || got[0].to[0] != "dpo@example.com" {
		t.Fatalf("received %+v, want one mail to the DPO", got)
	}
}
