package garde

import "log/slog"

// The input types below carry personal data (a subject identifier, free
// text, consent evidence, a whole export). Like MessageView they format as
// a redaction, so that a stray %v or slog attribute cannot leak them.

// String redacts the personal data.
func (m NewMessage) String() string {
	return "message for purpose " + m.Purpose + " (content redacted)"
}

// LogValue redacts the personal data in structured logs.
func (m NewMessage) LogValue() slog.Value {
	return slog.GroupValue(slog.String("purpose", m.Purpose), slog.String("channel", m.Channel))
}

// String redacts the personal data.
func (c ConsentInput) String() string {
	return "consent for purpose " + c.Purpose + " (subject redacted)"
}

// LogValue redacts the personal data in structured logs.
func (c ConsentInput) LogValue() slog.Value {
	return slog.GroupValue(slog.String("purpose", c.Purpose))
}

// String redacts the personal data.
func (SubjectExport) String() string { return "subject export (content redacted)" }

// LogValue redacts the personal data in structured logs.
func (SubjectExport) LogValue() slog.Value {
	return slog.StringValue("subject export (content redacted)")
}
