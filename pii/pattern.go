package pii

import "regexp"

// NewPatternRecognizer returns a Recognizer that reports every match of re
// as entityType with the given score, if validate (when not nil) accepts
// the matched text. It is how a deployment adds an identifier of its own
// (a customer number, say) without touching the built-in scanner; it is
// also the naive baseline the benchmarks compare against.
func NewPatternRecognizer(entityType string, re *regexp.Regexp, score float64, validate func(string) bool) Recognizer {
	return RecognizerFunc(func(dst []Entity, text string) []Entity {
		for _, m := range re.FindAllStringIndex(text, -1) {
			if validate != nil && !validate(text[m[0]:m[1]]) {
				continue
			}
			dst = append(dst, Entity{Type: entityType, Start: m[0], End: m[1], Score: score})
		}
		return dst
	})
}
