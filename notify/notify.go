// Package notify delivers what garde sends: mail through an SMTP server
// (net/smtp) and signed webhooks through the egress policy, and verifies
// webhooks for a receiver. It is a leaf: it knows mail and HTTP, not
// breaches or requests; package breach and package rights say what to send
// and to whom.
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/garde-privacy/garde/egress"
)

// SMTP sends mail through a server.
type SMTP struct {
	// Addr is the server, host:port.
	Addr string
	// From is the envelope and header sender.
	From string
	// Auth, when set, authenticates (net/smtp refuses PLAIN auth without
	// TLS except on localhost).
	Auth smtp.Auth
	// Timeout bounds one delivery (default 30 s).
	Timeout time.Duration
	// TLSConfig, when set, configures STARTTLS (its ServerName defaults to
	// the host of Addr). Without it the system roots verify the server.
	TLSConfig *tls.Config
	// Policy is where garde may connect; nil allows public addresses
	// only, so a relay on loopback or a private network must be allowed.
	Policy *egress.Policy
}

// Mail is one email to send.
type Mail struct {
	To      string
	Subject string
	Body    string // plain text, lines ending in \n
	Date    time.Time
	// ID is the left part of the Message-ID ("<ID@garde>").
	ID string
	// Headers are extra headers (X-Garde-Breach: …).
	Headers map[string]string
}

// Send sends one email.
func (s *SMTP) Send(ctx context.Context, m Mail) error {
	to := m.To
	if to == "" {
		return errors.New("smtp: no recipient address")
	}
	msg := Message(s.From, m)
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	conn, err := s.Policy.Dialer(timeout)(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: %w", err)
	}
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		// crypto/tls refuses a client config without ServerName: the
		// server's name is what its certificate is checked against.
		tc := &tls.Config{}
		if s.TLSConfig != nil {
			tc = s.TLSConfig.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		if err := c.StartTLS(tc); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	}
	if s.Auth != nil {
		if err := c.Auth(s.Auth); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return smtpError("mail", err)
	}
	if err := c.Rcpt(to); err != nil {
		return smtpError("rcpt", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("data", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpError("data", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("data", err)
	}
	return smtpError("quit", c.Quit())
}

// smtpError keeps a server's reply code and drops its text, which often
// repeats the recipient's address: errors end up in logs.
func smtpError(stage string, err error) error {
	var te *textproto.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return fmt.Errorf("smtp %s: server replied %d", stage, te.Code)
	}
	return fmt.Errorf("smtp %s: %w", stage, err)
}

// Message formats an email (RFC 5322, UTF-8 body in quoted-printable,
// subject in RFC 2047).
func Message(from string, m Mail) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from)
	hdr("To", m.To)
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	hdr("Date", m.Date.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+m.ID+"@garde>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		hdr(k, m.Headers[k])
	}
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// Webhook headers.
const (
	HeaderTimestamp = "Garde-Timestamp" // Unix seconds of the signature
	HeaderDelivery  = "Garde-Delivery"  // the delivery's id: the same on each retry
	HeaderSignature = "Garde-Signature" // "v2=<hex HMAC-SHA256>"
)
