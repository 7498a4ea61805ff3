// Package problem holds garde's error kinds and the validation error that
// lists every field problem of an input at once. It is a leaf: the kernel
// (package garde) re-exports it, and leaves such as package register use it
// without importing the kernel.
package problem

import (
	"errors"
	"fmt"
	"strings"
)

// Error kinds. Every error a use case returns wraps one of them, and the web
// layer maps each kind to one HTTP status. Messages never contain personal
// data: subjects are named by opaque reference only.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalid         = errors.New("invalid")
	ErrConflict        = errors.New("conflict")
	ErrForbidden       = errors.New("forbidden")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrTooLarge        = errors.New("too large")
	// ErrNoConsent is a forbidden write: the purpose needs the subject's
	// consent and none is current.
	ErrNoConsent = fmt.Errorf("no current consent: %w", ErrForbidden)
	// ErrLastAdminKey is a conflicting revocation: the key is the last
	// valid admin key of its tenant.
	ErrLastAdminKey = fmt.Errorf("last admin key: %w", ErrConflict)
)

// Problem is one thing wrong with one field of an input, named by its path
// (`purposes[1].legal_basis`).
type Problem struct {
	Field   string
	Message string
}

// ValidationError lists every problem found in an input, so that a user
// fixes them all in one round.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Field)
		b.WriteString(": ")
		b.WriteString(p.Message)
	}
	return b.String()
}

// Unwrap makes a ValidationError an ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Add records a problem.
func (e *ValidationError) Add(field, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns e if it holds problems, nil otherwise.
func (e *ValidationError) Err() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Invalid returns a validation error about one field.
func Invalid(field, format string, args ...any) error {
	e := &ValidationError{}
	e.Add(field, format, args...)
	return e
}

// kindError attaches a kind to a message.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Errorf returns an error of the given kind whose message is the formatted
// text alone (the kind is not repeated in it).
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
