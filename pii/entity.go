package pii

import "unicode/utf8"

// Entity types. The names follow Microsoft Presidio where Presidio has the
// type, so that its evaluation tools read garde's output unchanged.
const (
	EmailAddress   = "EMAIL_ADDRESS"
	PhoneNumber    = "PHONE_NUMBER"
	CreditCard     = "CREDIT_CARD"
	IBANCode       = "IBAN_CODE"
	IPAddress      = "IP_ADDRESS"
	URL            = "URL"
	FRNIR          = "FR_NIR"
	FRSIREN        = "FR_SIREN"
	FRSIRET        = "FR_SIRET"
	FRTVA          = "FR_TVA"
	FRPassport     = "FR_PASSPORT"
	FRIDCard       = "FR_ID_CARD"
	FRLicensePlate = "FR_LICENSE_PLATE"
	DateOfBirth    = "DATE_OF_BIRTH"
	Person         = "PERSON"
	Location       = "LOCATION"
)

// Types lists every entity type the built-in recognizers produce.
var Types = []string{
	EmailAddress, PhoneNumber, CreditCard, IBANCode, IPAddress, URL,
	FRNIR, FRSIREN, FRSIRET, FRTVA, FRPassport, FRIDCard, FRLicensePlate,
	DateOfBirth, Person, Location,
}

// Structured reports whether t is validated by its syntax (and usually a
// checksum) rather than guessed from context, as PERSON and LOCATION are.
func Structured(t string) bool { return t != Person && t != Location }

// Entity is one piece of personal data found in a text. Start and End are
// byte offsets into the scanned string (End exclusive), which is what Go
// slicing wants; use RuneOffsets for the code-point offsets JSON consumers
// (Presidio, Python) expect.
type Entity struct {
	Type       string
	Start, End int
	Score      float64 // in [0,1]; validated identifiers score higher
}

// Text returns the part of text the entity covers.
func (e Entity) Text(text string) string { return text[e.Start:e.End] }

// RuneOffsets converts the byte offsets of e into code-point offsets in text.
// For many entities prefer RuneOffsetsAll, which walks the text once.
func (e Entity) RuneOffsets(text string) (start, end int) {
	start = utf8.RuneCountInString(text[:e.Start])
	end = start + utf8.RuneCountInString(text[e.Start:e.End])
	return start, end
}

// RuneOffsetsAll converts the byte offsets of entities sorted by Start into
// code-point offsets in one pass over text. It returns start and end pairs,
// two ints per entity, appended to dst.
func RuneOffsetsAll(dst []int, text string, entities []Entity) []int {
	// Walk the text once, advancing a (byte, rune) cursor; entity ends may
	// go past later starts only if entities overlap, so ends are counted
	// from their own start.
	b, r := 0, 0
	for _, e := range entities {
		if e.Start < b { // unsorted or overlapping: restart
			b, r = 0, 0
		}
		r += utf8.RuneCountInString(text[b:e.Start])
		b = e.Start
		dst = append(dst, r, r+utf8.RuneCountInString(text[e.Start:e.End]))
	}
	return dst
}

// categories maps entity types to fideslang data categories (taxonomy
// 3.2, https://ethyca.github.io/fideslang/), the vocabulary the register
// uses for purposes and retention. SIREN, SIRET and VAT numbers identify a
// person when the company is a sole trader's, hence user.government_id.
var categories = map[string]string{
	EmailAddress:   "user.contact.email",
	PhoneNumber:    "user.contact.phone_number",
	CreditCard:     "user.financial.credit_card",
	IBANCode:       "user.financial.bank_account",
	IPAddress:      "user.device.ip_address",
	URL:            "user.contact.social_url", // user.contact.url until fideslang 3.2
	FRNIR:          "user.government_id.national_identification_number",
	FRSIREN:        "user.government_id",
	FRSIRET:        "user.government_id",
	FRTVA:          "user.government_id",
	FRPassport:     "user.government_id.passport_number",
	FRIDCard:       "user.government_id.national_identification_number",
	FRLicensePlate: "user.government_id.vehicle_registration",
	DateOfBirth:    "user.demographic.date_of_birth",
	Person:         "user.name",
	Location:       "user.contact.address",
}

// Category returns the fideslang data category of an entity type, or
// "user" (the root of the user categories) for a type it does not know, so
// that an unknown type still falls under the strictest default rule.
func Category(entityType string) string {
	if c, ok := categories[entityType]; ok {
		return c
	}
	return "user"
}
