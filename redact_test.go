package garde_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/garde-privacy/garde/consent"
	"github.com/garde-privacy/garde/vault"

	"github.com/garde-privacy/garde"
)

func TestPersonalTypesRedact(t *testing.T) {
	secret := "jeanne.martin@example.fr"
	values := []any{
		vault.NewMessage{Subject: secret, Purpose: "p", Text: secret, Fields: map[string]string{"user.contact.email": secret}},
		consent.ConsentInput{Subject: secret, Purpose: "p"},
		garde.MessageView{ID: "msg_1", Subject: secret, Text: secret},
	}
	for _, v := range values {
		var logs bytes.Buffer
		slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "v", v)
		for where, s := range map[string]string{"%v": fmt.Sprintf("%v", v), "%s": fmt.Sprintf("%s", v), "slog": logs.String()} {
			if strings.Contains(s, secret) {
				t.Errorf("%T formatted with %s shows the personal data: %s", v, where, s)
			}
		}
	}
}
