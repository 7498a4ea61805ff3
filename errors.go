package garde

import "github.com/garde-privacy/garde/problem"

// The error kinds and the validation error are package problem's (a leaf,
// so that the register's parser can use them without the kernel); the
// kernel re-exports them so that every layer names them garde.ErrNotFound.
var (
	ErrNotFound        = problem.ErrNotFound
	ErrInvalid         = problem.ErrInvalid
	ErrConflict        = problem.ErrConflict
	ErrForbidden       = problem.ErrForbidden
	ErrUnauthenticated = problem.ErrUnauthenticated
	ErrTooLarge        = problem.ErrTooLarge
	ErrNoConsent       = problem.ErrNoConsent
	ErrLastAdminKey    = problem.ErrLastAdminKey
)

// Problem is one thing wrong with one field of an input.
type Problem = problem.Problem

// ValidationError lists every problem found in an input.
type ValidationError = problem.ValidationError

// Invalid returns a validation error about one field.
func Invalid(field, format string, args ...any) error { return problem.Invalid(field, format, args...) }

// Errorf returns an error of the given kind whose message is the formatted
// text alone.
func Errorf(kind error, format string, args ...any) error {
	return problem.Errorf(kind, format, args...)
}
