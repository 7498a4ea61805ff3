// Package pii finds personal data in free text, in French and English, and
// anonymises it. It needs no model: identifiers are found by their syntax
// and checksums, names and addresses by context rules, gazetteers and a
// small address grammar.
//
// # API
//
//	type Entity struct { Type string; Start, End int; Score float64 } // byte offsets, End exclusive
//	func (e Entity) Text(text string) string
//	func (e Entity) RuneOffsets(text string) (start, end int)        // code points, for JSON consumers
//	func RuneOffsetsAll(dst []int, text string, entities []Entity) []int
//
//	type Recognizer interface { Recognize(dst []Entity, text string) []Entity }
//	type RecognizerFunc func(dst []Entity, text string) []Entity
//	func NewPatternRecognizer(entityType string, re *regexp.Regexp, score float64, validate func(string) bool) Recognizer
//
//	type Options struct { Languages, Types []string; MinScore float64; Recognizers []Recognizer; NoBuiltin bool }
//	func NewScanner(opts Options) *Scanner
//	func (s *Scanner) Scan(text string) []Entity                    // sorted, no overlaps, safe for concurrent use
//	func (s *Scanner) AppendScan(dst []Entity, text string) []Entity // no allocation once dst has room
//	func (s *Scanner) ScanMessage(text string) Result               // Entities + Special (Art. 9 hints)
//	func (s *Scanner) AppendScanMessage(dst []Entity, text string) ([]Entity, Special)
//	func SpecialHints(text string) Special                          // Health | Religion | PoliticalOpinion | SexualOrientation | UnionMembership
//	func (f Special) Categories() []string                          // user.health, user.demographic.religious_belief, …
//
//	type Operator string // Redact, Replace, Mask, Pseudonymize, Encrypt, Keep
//	type OperatorSpec struct { Operator Operator; KeepLast int; Key []byte; Seal func([]byte) ([]byte, error) }
//	type Policy func(entityType string) OperatorSpec
//	type Span struct { Type string; Start, End, OrigStart, OrigEnd int; Operator Operator; Sealed []byte }
//	func Anonymize(text string, entities []Entity, policy Policy) (string, []Span, error)
//	func Reveal(anonymized string, spans []Span, open func(sealed []byte) ([]byte, error)) (string, error)
//
//	func Category(entityType string) string // fideslang data category, e.g. user.contact.email
//	func Structured(entityType string) bool // validated by syntax/checksum, not guessed
//	var Types []string                      // every built-in entity type
//
// # Types
//
// EMAIL_ADDRESS, PHONE_NUMBER (French national and +33, other EU, UK and
// US, validated with libphonenumber metadata), CREDIT_CARD (IIN ranges and
// Luhn), IBAN_CODE (country length and mod 97), IP_ADDRESS (v4, v6), URL,
// FR_NIR (sex, month, department with 2A/2B, key 97 − n mod 97), FR_SIREN
// and FR_SIRET (Luhn, La Poste exception), FR_TVA (key), FR_PASSPORT,
// FR_ID_CARD (old 12-digit and new 9-character numbers, with a keyword),
// FR_LICENSE_PLATE (SIV and FNI), DATE_OF_BIRTH (a date after a birth
// keyword), PERSON and LOCATION (postal addresses, FR and UK/US).
//
// # Scores
//
// Every entity has a score in [0,1]. Checksummed identifiers start high
// (0.85–0.95); weak shapes (ten bare digits, an unformatted SIREN, a
// plate without hyphens) start below 0.5; a context keyword just before a
// candidate ("tél", "IBAN", "né le", "passeport", on word boundaries,
// accents folded) raises it; a reference keyword ("commande", "order",
// "n°", "suivi") drops a weak numeric candidate. 0.5 is the threshold the
// quality figures in docs/pii.md use.
//
// # Speed
//
// Scanning is one pass over the bytes with cheap triggers (see builtin.go
// for why no regular expressions). Scan allocates only the result slice;
// AppendScan with a reused slice allocates nothing for most messages.
package pii
