package rights

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/keyring"
	"github.com/garde-privacy/garde/notify"
)

// Deliveries: erasure notices to the register's recipients (Art. 19) and
// OpenDSR status callbacks, sent by the background jobs with retries and
// exponential backoff, then given up (dead letter) after
// MaxDeliveryAttempts. Each delivery's state is on the request.

// MaxDeliveryAttempts is how many times a delivery is tried before it is
// given up and marked dead.
const MaxDeliveryAttempts = 8

// deliveryBackoff is the wait after the n-th failed attempt: 30 s, 1 min,
// 2 min… capped at 6 hours.
func deliveryBackoff(n int) time.Duration {
	d := 30 * time.Second << max(0, n-1)
	return min(d, 6*time.Hour)
}

// HeaderOpenDSRProcessor names the processor in an OpenDSR callback (the
// signature's header is notify.HeaderOpenDSRSignature).
const HeaderOpenDSRProcessor = "X-OpenDSR-Processor-Domain"

// OpenDSRAPIVersion is the OpenDSR version garde speaks.
const OpenDSRAPIVersion = "3.0"

// OpenDSRStatus maps a request status to OpenDSR's request_status.
func OpenDSRStatus(status string) string {
	switch status {
	case garde.StatusReceived, garde.StatusVerified:
		return "pending"
	case garde.StatusInProgress:
		return "in_progress"
	case garde.StatusCompleted:
		return "completed"
	}
	return "cancelled"
}

// OpenDSRStatusBody is the JSON of an OpenDSR status (GET and callbacks).
type OpenDSRStatusBody struct {
	ControllerID           string    `json:"controller_id"`
	ExpectedCompletionTime time.Time `json:"expected_completion_time"`
	SubjectRequestID       string    `json:"subject_request_id"`
	RequestStatus          string    `json:"request_status"`
	APIVersion             string    `json:"api_version"`
	ResultsURL             *string   `json:"results_url"`
	StatusCallbackURL      string    `json:"status_callback_url,omitempty"`
}

// OpenDSRStatusOf is the OpenDSR status of a request.
func OpenDSRStatusOf(r garde.RightsRequest) OpenDSRStatusBody {
	return OpenDSRStatusBody{ControllerID: string(r.Tenant), ExpectedCompletionTime: r.DueAt, SubjectRequestID: r.ExternalID,
		RequestStatus: OpenDSRStatus(r.Status), APIVersion: OpenDSRAPIVersion}
}

func validateWebhookURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > 2000 {
		return errors.New("must be an http or https URL")
	}
	return nil
}

// queueCallbacks queues an OpenDSR status callback to each of the
// request's callback URLs. A failure is left to the request's status
// endpoint: the controller can always poll.
func (s *Service) queueCallbacks(ctx context.Context, r garde.RightsRequest) {
	if len(r.CallbackURLs) == 0 {
		return
	}
	now := s.Now()
	_ = s.Update(context.WithoutCancel(ctx), func(tx garde.Tx) error {
		existing, err := tx.Deliveries(ctx, r.Tenant, r.ID)
		if err != nil {
			return err
		}
		tk, err := s.TenantKeys(ctx, tx, r.Tenant, 0)
		if err != nil {
			return err
		}
		seq := len(existing)
		var ds []garde.Delivery
		for _, u := range r.CallbackURLs {
			body := OpenDSRStatusOf(r)
			body.StatusCallbackURL = u
			b, err := json.Marshal(body)
			if err != nil {
				return err
			}
			seq++
			d := garde.Delivery{Tenant: r.Tenant, RequestID: r.ID, Seq: seq, Kind: garde.DeliveryCallback, Recipient: hostOf(u), Endpoint: u, KeyVersion: tk.Current, Status: garde.DeliveryPending, NextAt: now}
			if d.SealedBody, err = tk.Data[tk.Current].Seal(b, deliveryAD(r.Tenant, r.ID, seq)); err != nil {
				return err
			}
			ds = append(ds, d)
		}
		return tx.InsertDeliveries(ctx, ds)
	})
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// recipientSecret is the HMAC secret of the erasure notices sent to one
// endpoint: derived from the tenant's secret, one per endpoint, so that a
// recipient can verify its notices and forge no other recipient's.
func recipientSecret(tk *garde.TenantKeys, endpoint string) []byte {
	k := keyring.Derive(tk.Audit, "rights-webhook\x00"+endpoint)
	return k[:]
}

// RecipientWebhookSecret returns the hex HMAC secret that signs the
// erasure notices sent to endpoint, to configure at the recipient.
func (s *Service) RecipientWebhookSecret(ctx context.Context, p garde.Principal, endpoint string) (string, error) {
	if _, err := garde.Enter(p, garde.OpRecipientSecret); err != nil {
		return "", err
	}
	if err := validateWebhookURL(endpoint); err != nil {
		return "", garde.Invalid("endpoint", "%s", err)
	}
	var out string
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		out = hex.EncodeToString(recipientSecret(tk, endpoint))
		return nil
	})
	return out, err
}

// callbackKey is the Ed25519 key that signs the tenant's OpenDSR
// callbacks. It is derived for that one job and is not the ledger's key:
// a signature over a callback must never pass for a checkpoint or a
// certificate, nor the other way round.
func callbackKey(tk *garde.TenantKeys) ed25519.PrivateKey {
	seed := keyring.Derive(tk.Audit, "opendsr-callback-signing")
	defer clear(seed[:])
	return ed25519.NewKeyFromSeed(seed[:])
}

// OpenDSRPublicKey returns the Ed25519 public key (base64) that signs the
// tenant's OpenDSR callbacks (X-OpenDSR-Signature; docs/rights.md says how
// to verify one).
func (s *Service) OpenDSRPublicKey(ctx context.Context, p garde.Principal) (string, error) {
	if _, err := garde.Enter(p, garde.OpCallbackKey); err != nil {
		return "", err
	}
	var out string
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		tk, err := s.TenantKeys(ctx, tx, p.Tenant, 0)
		if err != nil {
			return err
		}
		k := callbackKey(tk)
		defer clear(k)
		out = base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
		return nil
	})
	return out, err
}

// DeliveryID is the id a delivery is sent under (Garde-Delivery): the same
// on each retry, different for every delivery of every request.
func DeliveryID(d garde.Delivery) string {
	return d.RequestID + "." + strconv.Itoa(d.Seq)
}

// SendDeliveries sends the due deliveries of every tenant and returns how
// many were delivered. A failure is retried with backoff; after
// MaxDeliveryAttempts the delivery is dead and its sealed body dropped.
func (s *Service) SendDeliveries(ctx context.Context, c RightsJobs) (int, error) {
	c.defaults()
	if c.Sender == nil {
		return 0, nil
	}
	sent := 0
	err := s.ForEachTenant(ctx, func(tenant garde.TenantID) error {
		var sk ed25519.PrivateKey // the tenant's callback key, once a callback is due
		defer func() { clear(sk) }()
		now := s.Now()
		var due []garde.Delivery
		var secrets [][]byte
		var headers []map[string]string
		var bodies [][]byte
		var refused []error // residency: endpoints the current register does not list (residency.go)
		if err := s.Store.Update(ctx, func(tx garde.Tx) error {
			var err error
			due, err = tx.DueDeliveries(ctx, tenant, now, 100)
			if err != nil || len(due) == 0 {
				return err
			}
			tk, err := s.TenantKeys(ctx, tx, tenant, 0)
			if err != nil {
				return err
			}
			for _, d := range due {
				dk, err := s.TenantKeys(ctx, tx, tenant, d.KeyVersion)
				if err != nil {
					return err
				}
				body, err := dk.Data[d.KeyVersion].Open(d.SealedBody, deliveryAD(tenant, d.RequestID, d.Seq))
				if err != nil {
					return fmt.Errorf("open delivery %s/%d: %w", d.RequestID, d.Seq, err)
				}
				bodies = append(bodies, body)
				if d.Kind == garde.DeliveryCallback {
					// Signed by the sender at send time, over its timestamp,
					// the delivery id and the body (notify.SignCallback).
					if sk == nil {
						sk = callbackKey(tk)
					}
					headers = append(headers, map[string]string{HeaderOpenDSRProcessor: "garde"})
					secrets = append(secrets, nil)
				} else {
					headers = append(headers, nil)
					secrets = append(secrets, recipientSecret(tk, d.Endpoint))
				}
				refused = append(refused, nil)
				if d.Kind == garde.DeliveryRecipient {
					reg, _, err := s.CurrentRegister(ctx, tx, tenant)
					if err == nil {
						err = reg.CheckRecipient(d.Endpoint)
					}
					refused[len(refused)-1] = err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		for i, d := range due {
			err := refused[i]
			if err == nil {
				w := notify.Hook{URL: d.Endpoint, Body: bodies[i], Secret: secrets[i], Headers: headers[i], ID: DeliveryID(d)}
				if d.Kind == garde.DeliveryCallback {
					w.CallbackKey = sk
				}
				err = c.Sender.Send(ctx, w)
			} else {
				d.Attempts = MaxDeliveryAttempts - 1 // never sent: dead at once
			}
			clear(bodies[i])
			now := s.Now()
			d.Attempts++
			reason := "delivered"
			switch {
			case err == nil:
				d.Status, d.DeliveredAt, d.SealedBody, d.LastError = garde.DeliveryDelivered, now, nil, ""
				garde.RightsMetrics.DeliveriesOK.Add(1)
				sent++
			case d.Attempts >= MaxDeliveryAttempts:
				d.Status, d.SealedBody, d.LastError = garde.DeliveryDead, nil, errorCode(err)
				garde.RightsMetrics.Dead.Add(1)
				reason = "dead"
			default:
				d.NextAt, d.LastError = now.Add(deliveryBackoff(d.Attempts)), errorCode(err)
				garde.RightsMetrics.DeliveriesFailed.Add(1)
				reason = "retry"
			}
			if err := s.Store.Update(ctx, func(tx garde.Tx) error {
				if err := tx.UpdateDelivery(ctx, d); err != nil {
					return err
				}
				return tx.AppendAudit(ctx, []garde.AuditEvent{{Tenant: tenant, At: now, Actor: "rights", Action: garde.ActionRecipientNotify, Outcome: garde.OutcomeOK, Count: d.Attempts, Reason: d.Kind + ":" + reason}})
			}); err != nil {
				return err
			}
		}
		return nil
	})
	return sent, err
}

// errorCode reduces a delivery error to a fixed code (no URL, no body).
func errorCode(err error) string {
	msg := err.Error()
	if errors.Is(err, garde.ErrForbidden) {
		return "not_in_register"
	}
	// A sender's own fixed code, such as the egress policy's refusal
	// ("egress_refused_loopback"), read through an interface so that
	// the root package needs no network package.
	var coded interface{ Code() string }
	if errors.As(err, &coded) {
		return coded.Code()
	}
	if i := strings.Index(msg, "answered "); i >= 0 {
		return "http_" + strings.TrimSpace(msg[i+len("answered "):min(len(msg), i+len("answered ")+3)])
	}
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "timeout") {
		return "timeout"
	}
	return "unreachable"
}

// RequestDeliveries lists a request's deliveries: per recipient, its
// status, attempts and last error.
func (s *Service) RequestDeliveries(ctx context.Context, p garde.Principal, id string) ([]garde.Delivery, error) {
	if _, err := garde.Enter(p, garde.OpRequestRead); err != nil {
		return nil, err
	}
	var out []garde.Delivery
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		if _, err := tx.Request(ctx, p.Tenant, id); err != nil {
			return err
		}
		var err error
		out, err = tx.Deliveries(ctx, p.Tenant, id)
		return err
	})
	for i := range out {
		out[i].SealedBody = nil
	}
	return out, err
}
