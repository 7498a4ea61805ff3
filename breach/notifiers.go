package breach

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/garde-privacy/garde/egress"
	"github.com/garde-privacy/garde/notify"
)

// The escalations' channels: mail to the DPO and a signed webhook, both
// sent through package notify.

// Mailer sends one email (notify.SMTP).
type Mailer interface {
	Send(ctx context.Context, m notify.Mail) error
}

// EmailNotifier sends escalations by email to the DPO's address from the
// register.
type EmailNotifier struct{ Mailer Mailer }

var _ Notifier = EmailNotifier{}

// Notify sends one escalation.
func (n EmailNotifier) Notify(ctx context.Context, e Escalation) error {
	if e.DPO.Email == "" {
		return errors.New("smtp: the DPO has no email address in the register")
	}
	return n.Mailer.Send(ctx, e.Mail())
}

// Mail is the escalation as an email to the DPO.
func (e Escalation) Mail() notify.Mail {
	return notify.Mail{
		To: e.DPO.Email, Subject: e.Subject(), Body: e.Body(), Date: e.At,
		ID:      fmt.Sprintf("%s.%d.%s", e.BreachID, int64(e.Point/time.Second), e.Tenant),
		Headers: map[string]string{"X-Garde-Breach": e.BreachID},
	}
}

// WebhookNotifier posts escalations as JSON through the egress policy, signed with
// HMAC-SHA256 under a shared secret over the timestamp, the delivery id
// and the body (Sign). Each escalation (a breach and a point of its clock)
// has its own id, so a receiver that remembers ids refuses a replay.
type WebhookNotifier struct {
	URL    string
	Secret []byte
	// Policy is where garde may connect; nil allows public addresses only.
	Policy *egress.Policy
	// Now is the signing time (default time.Now).
	Now func() time.Time
}

var _ Notifier = (*WebhookNotifier)(nil)

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
func (w *WebhookNotifier) Notify(ctx context.Context, e Escalation) error {
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
	s := notify.Sender{Policy: w.Policy, Now: w.Now}
	id := fmt.Sprintf("%s.%s.%d", e.Tenant, e.BreachID, int64(e.Point/time.Second))
	return s.Send(ctx, notify.Hook{URL: w.URL, Body: body, Secret: secret, ID: id})
}
