package pii

import (
	"slices"
	"strings"
	"sync"
)

// Recognizer finds entities of some types in a text. The built-in
// recognizer is one implementation; a statistical model (an NER network
// for names, say) can join later as another, and the Scanner merges what
// all of them find.
type Recognizer interface {
	// Recognize appends the entities found in text to dst and returns the
	// extended slice. It must be safe for concurrent use.
	Recognize(dst []Entity, text string) []Entity
}

// RecognizerFunc adapts a function to the Recognizer interface.
type RecognizerFunc func(dst []Entity, text string) []Entity

// Recognize calls f.
func (f RecognizerFunc) Recognize(dst []Entity, text string) []Entity { return f(dst, text) }

// Options configures a Scanner. The zero value scans French and English
// text for every type and keeps every candidate.
type Options struct {
	// Languages lists the languages expected, "fr" and/or "en"; empty (or
	// "auto") means both. It selects national phone plans: French national
	// numbers need "fr", British and North American ones "en"; numbers
	// written with +CC are found either way. Context words of both
	// languages always count.
	Languages []string
	// Types keeps only these entity types; empty keeps all.
	Types []string
	// MinScore drops entities scoring below it.
	MinScore float64
	// Recognizers run after the built-in one; their entities go through
	// the same filtering and overlap resolution.
	Recognizers []Recognizer
	// NoBuiltin turns the built-in recognizer off, leaving Recognizers.
	NoBuiltin bool
}

// Scanner finds personal data in text. It holds no mutable state, so one
// Scanner serves any number of goroutines.
type Scanner struct {
	builtin  *builtin
	extra    []Recognizer
	types    map[string]bool // nil: all
	minScore float64
}

// NewScanner returns a Scanner for opts.
func NewScanner(opts Options) *Scanner {
	s := &Scanner{extra: opts.Recognizers, minScore: opts.MinScore}
	if len(opts.Types) > 0 {
		s.types = make(map[string]bool, len(opts.Types))
		for _, t := range opts.Types {
			s.types[strings.ToUpper(strings.TrimSpace(t))] = true
		}
	}
	if !opts.NoBuiltin {
		b := &builtin{fr: true, en: true}
		if len(opts.Languages) > 0 {
			b.fr, b.en = false, false
			for _, l := range opts.Languages {
				switch strings.ToLower(l) {
				case "fr":
					b.fr = true
				case "en":
					b.en = true
				default: // "auto" or unknown: both
					b.fr, b.en = true, true
				}
			}
		}
		b.want = func(t string) bool { return s.types == nil || s.types[t] }
		s.builtin = b
	}
	return s
}

// Scan returns the entities in text sorted by Start, without overlaps: when
// two candidates overlap, the higher score wins, then the longer, then the
// earlier, then the type name, so the result never depends on recognizer
// order.
func (s *Scanner) Scan(text string) []Entity {
	out, _ := s.scan(text, false)
	return out
}

func (s *Scanner) scan(text string, hints bool) ([]Entity, Special) {
	// Scan into a pooled buffer and return an exact-size copy: one
	// allocation for a message with entities, none without. (A buffer on
	// the stack would escape: entities are appended through a pointer.)
	bp := scanBufs.Get().(*[]Entity)
	found, special := s.appendScan((*bp)[:0], text, hints)
	var out []Entity
	if len(found) > 0 {
		out = make([]Entity, len(found))
		copy(out, found)
	}
	*bp = found[:0]
	scanBufs.Put(bp)
	return out, special
}

var scanBufs = sync.Pool{New: func() any { b := make([]Entity, 0, 32); return &b }}

// AppendScan is Scan appending to dst, so that a caller scanning many
// messages can reuse one slice and allocate nothing per message.
func (s *Scanner) AppendScan(dst []Entity, text string) []Entity {
	dst, _ = s.appendScan(dst, text, false)
	return dst
}

// finish filters and resolves the entities found after base.
func (s *Scanner) finish(dst []Entity, base int, text string) []Entity {
	found := dst[base:]
	n := 0
	for _, e := range found {
		if e.Score < s.minScore || (s.types != nil && !s.types[e.Type]) {
			continue
		}
		if e.Start < 0 || e.End > len(text) || e.Start >= e.End {
			continue
		}
		found[n] = e
		n++
	}
	found = resolve(found[:n])
	return dst[:base+len(found)]
}

// appendScan is AppendScan, also collecting special-category hints in the
// same pass when hints is set.
func (s *Scanner) appendScan(dst []Entity, text string, hints bool) ([]Entity, Special) {
	base := len(dst)
	var special Special
	if s.builtin != nil {
		dst, special = s.builtin.recognize(dst, text, hints)
	} else if hints {
		special = SpecialHints(text)
	}
	for _, r := range s.extra {
		dst = r.Recognize(dst, text)
	}
	return s.finish(dst, base, text), special
}

// resolve sorts entities and removes overlaps in place.
func resolve(es []Entity) []Entity {
	if len(es) < 2 {
		return es
	}
	if !slices.IsSortedFunc(es, byStart) {
		slices.SortFunc(es, byStart)
	}
	out := es[:1]
	for _, e := range es[1:] {
		last := &out[len(out)-1]
		if e.Start >= last.End {
			out = append(out, e)
			continue
		}
		if better(e, *last) {
			*last = e
			// The winner may now overlap earlier kept entities.
			for len(out) > 1 && out[len(out)-2].End > out[len(out)-1].Start {
				a, b := out[len(out)-2], out[len(out)-1]
				if better(a, b) {
					out = out[:len(out)-1]
				} else {
					out[len(out)-2] = b
					out = out[:len(out)-1]
				}
			}
		}
	}
	return out
}

func byStart(a, b Entity) int {
	if a.Start != b.Start {
		return a.Start - b.Start
	}
	if a.End != b.End {
		return b.End - a.End
	}
	return strings.Compare(a.Type, b.Type)
}

// better reports whether a should win over an overlapping b.
func better(a, b Entity) bool {
	if a.Score != b.Score {
		return a.Score > b.Score
	}
	if la, lb := a.End-a.Start, b.End-b.Start; la != lb {
		return la > lb
	}
	if a.Start != b.Start {
		return a.Start < b.Start
	}
	return a.Type < b.Type
}

// Special categories of personal data (GDPR Art. 9) hinted at by a message.
// They are flags, not entities: a word such as "diabète" reveals health data
// about the writer without being an identifier to anonymise.
type Special uint8

const (
	Health Special = 1 << iota
	Religion
	PoliticalOpinion
	SexualOrientation
	UnionMembership
)

// String lists the flags set, comma-separated.
func (f Special) String() string {
	var b strings.Builder
	for i, name := range specialNames {
		if f&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

var specialNames = [...]string{"health", "religion", "political_opinion", "sexual_orientation", "union_membership"}

// specialCategories are the fideslang categories of the flags, in order.
var specialCategories = [...]string{
	"user.health",
	"user.demographic.religious_belief",
	"user.demographic.political_opinion",
	"user.demographic.sexual_orientation",
	"user.demographic.union_membership",
}

// Categories returns the fideslang data categories of the flags set, so
// that the register can require a legal basis under Art. 9(2) for them.
func (f Special) Categories() []string {
	var out []string
	for i, c := range specialCategories {
		if f&(1<<i) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// Result is what ScanMessage finds in one message.
type Result struct {
	Entities []Entity
	Special  Special
}

// AppendScanMessage is ScanMessage appending the entities to dst, for
// callers that reuse one slice (ingest): no allocation per message.
func (s *Scanner) AppendScanMessage(dst []Entity, text string) ([]Entity, Special) {
	return s.appendScan(dst, text, true)
}

// ScanMessage scans a message for entities and for words hinting at a
// special category of data (Art. 9), which call for an explicit legal
// basis before the message is stored. Hints come from the same pass as
// entities; words inside an entity ("18 Church Lane") give no hint.
func (s *Scanner) ScanMessage(text string) Result {
	ents, special := s.scan(text, true)
	return Result{Entities: ents, Special: special}
}
