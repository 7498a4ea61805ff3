// Package notify delivers garde's escalations: by email through an SMTP
// server (net/smtp) and by signed webhook. It implements breach.Notifier;
// the breach clock in package garde decides what is due and to whom.
package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/garde-privacy/garde/breach"
	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde/egress"
)

// SMTP sends escalations by email to the DPO's address from the register.
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

var _ breach.Notifier = (*SMTP)(nil)

// Notify sends one email.
func (s *SMTP) Notify(ctx context.Context, e breach.Escalation) error {
	to := e.DPO.Email
	if to == "" {
		return errors.New("smtp: the DPO has no email address in the register")
	}
	msg := Message(s.From, to, e)
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

// Message formats the email of an escalation (RFC 5322, UTF-8 body in
// quoted-printable, subject in RFC 2047).
func Message(from, to string, e breach.Escalation) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", from)
	hdr("To", to)
	hdr("Subject", mime.QEncoding.Encode("utf-8", e.Subject()))
	hdr("Date", e.At.Format(time.RFC1123Z))
	hdr("Message-ID", fmt.Sprintf("<%s.%d.%s@garde>", e.BreachID, int64(e.Point/time.Second), e.Tenant))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("X-Garde-Breach", e.BreachID)
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(e.Body(), "\n", "\r\n")))
	qp.Close()
	return b.Bytes()
}

// Webhook headers.
const (
	HeaderTimestamp = "Garde-Timestamp" // Unix seconds of the signature
	HeaderDelivery  = "Garde-Delivery"  // the delivery's id: the same on each retry
	HeaderSignature = "Garde-Signature" // "v2=<hex HMAC-SHA256>"
)

// Webhook posts escalations as JSON through the egress policy, signed with
// HMAC-SHA256 under a shared secret over the timestamp, the delivery id
// and the body (Sign). Each escalation (a breach and a point of its clock)
// has its own id, so a receiver that remembers ids refuses a replay.
type Webhook struct {
	URL    string
	Secret []byte
	// Policy is where garde may connect; nil allows public addresses only.
	Policy *egress.Policy
	// Now is the signing time (default time.Now).
	Now func() time.Time
}

var _ breach.Notifier = (*Webhook)(nil)

// Payload is the JSON body of an escalation webhook.
type Payload struct {
	Type     string    `json:"type"`
	Breach   string    `json:"breach"`
	Tenant   string    `json:"tenant,omitempty"`
	Point    string    `json:"point"`
	AwareAt  time.Time `json:"aware_at"`
	NotifyBy time.Time `json:"notify_by"`
	Late     bool      `json:"late"`
	Nature   []string  `json:"nature"`
	Phase    string    `json:"phase"`
	Summary  string    `json:"summary"`
}

// Notify posts one escalation.
func (w *Webhook) Notify(ctx context.Context, e breach.Escalation) error {
	body, err := json.Marshal(Payload{
		Type: "breach.escalation", Breach: e.BreachID, Tenant: string(e.Tenant), Point: e.Point.String(),
		AwareAt: e.AwareAt, NotifyBy: e.NotifyBy, Late: e.Left() <= 0, Nature: e.Nature, Phase: e.Phase, Summary: e.Subject(),
	})
	if err != nil {
		return err
	}
	secret := w.Secret
	if secret == nil {
		secret = []byte{} // escalations are always signed
	}
	s := Sender{Policy: w.Policy, Now: w.Now}
	id := fmt.Sprintf("%s.%s.%d", e.Tenant, e.BreachID, int64(e.Point/time.Second))
	return s.Send(ctx, rights.Webhook{URL: w.URL, Body: body, Secret: secret, ID: id})
}
