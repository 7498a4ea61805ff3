package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/web/internal/errkind"
)

// readBody reads the whole (bounded) body and rejects bytes that are not
// UTF-8: encoding/json would silently replace them, and a message must be
// stored as it was sent or refused.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, garde.Invalid("body", "cannot be read")
	}
	if !utf8.Valid(b) {
		return nil, garde.Invalid("body", "is not valid UTF-8")
	}
	return b, nil
}

var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]{0,63}$`)

// decodeJSON reads a JSON body into v, refusing unknown fields, trailing
// data and wrong types with an error naming the field.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		// curl -d sends application/x-www-form-urlencoded by default: the
		// body is still parsed as JSON, which is what every route takes.
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json") ||
			mt == "application/x-www-form-urlencoded" || mt == "text/plain") {
			return fmt.Errorf("%w: send application/json", errkind.ErrMediaType)
		}
	}
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return unmarshalStrict(b, v)
}

func unmarshalStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return garde.Invalid("body", "is empty: a JSON object is required")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return garde.Invalid("body", "has data after the JSON value")
	}
	if _, err := dec.Token(); err != io.EOF {
		return garde.Invalid("body", "has data after the JSON value")
	}
	return nil
}

// jsonError turns encoding/json's errors into field problems.
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return garde.Invalid("body", "malformed JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "body"
		}
		// te.Value is "number 0612345678" for a number: name the kind only,
		// the value may be personal data.
		kind, _, _ := strings.Cut(te.Value, " ")
		return garde.Invalid(field, "must be %s, not %s", jsonType(te.Type.Kind().String()), kind)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return garde.Invalid("body", "malformed JSON: unexpected end")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		// A field name is echoed only if it looks like one: a client
		// may put anything in a key, personal data included.
		if f := strings.Trim(name, `"`); fieldName.MatchString(f) {
			return garde.Invalid(f, "unknown field")
		}
		return garde.Invalid("body", "has an unknown field")
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return garde.Invalid("body", "malformed JSON")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	}
	return "a number"
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
