package pii

import (
	"github.com/nyaruka/phonenumbers"
)

// A digit run: groups of digits separated by single spaces, dots, hyphens,
// slashes or parentheses, as people write phone, card and social security
// numbers. Recognizers then read it group by group.
type digitRun struct {
	d    [40]byte // digits, and 'A'/'B' for a Corsican department in a NIR
	nd   int
	gEnd [16]int  // digits count at the end of each group
	gPos [16]int  // byte offset of the end of each group
	sep  [16]byte // separator after each group ('(' ')' folded into ' ')
	ng   int
	plus bool // written with a leading '+'
}

// collect reads the digit run starting at i.
func collect(t string, i int, r *digitRun) {
	j := i
	if t[j] == '(' && j+1 < len(t) && t[j+1] == '+' {
		j++ // "(+45) 12 34 56 78"
	}
	if t[j] == '+' {
		r.plus = true
		j++
		if j < len(t) && t[j] == ' ' {
			j++
		}
	}
	if j < len(t) && t[j] == '(' {
		j++
	}
	for r.ng < len(r.gEnd) {
		k := j
		for k < len(t) && isDigit(t[k]) && r.nd < len(r.d) {
			r.d[r.nd] = t[k]
			r.nd++
			k++
			// A NIR's department may be 2A or 2B (Corsica), right after the
			// first five digits and a '2'.
			if r.nd == 6 && k+1 < len(t) && t[k-1] == '2' && (t[k] == 'A' || t[k] == 'B') && (isDigit(t[k+1]) || spaceAt(t, k+1) > 0) {
				r.d[r.nd] = t[k]
				r.nd++
				k++
			}
		}
		if k == j {
			break
		}
		r.gEnd[r.ng] = r.nd
		r.gPos[r.ng] = k
		r.ng++
		// Separator.
		p := k
		sep := byte(0)
		if p < len(t) && t[p] == ')' {
			p++
			sep = ' '
		}
		if n := spaceAt(t, p); n > 0 {
			p += n
			sep = ' '
		}
		if p < len(t) && (t[p] == '.' || t[p] == '-' || t[p] == '/') {
			// "0176 - 123", "176/ 123": a mark with spaces counts as the mark.
			sep = t[p]
			p++
			p += spaceAt(t, p)
		}
		if p < len(t) && t[p] == '(' {
			p++
			if sep == 0 {
				sep = ' '
			}
		}
		if sep == 0 || p >= len(t) || !isDigit(t[p]) {
			break
		}
		r.sep[r.ng-1] = sep
		j = p
	}
}

// seps reports whether the separators between the first k groups are all
// within the allowed set (0 = none, i.e. one group).
func (r *digitRun) seps(k int, allowed string) bool {
	for g := 0; g < k-1; g++ {
		ok := false
		for a := 0; a < len(allowed); a++ {
			if r.sep[g] == allowed[a] {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// sameSep reports whether the first k groups use one separator.
func (r *digitRun) sameSep(k int) bool {
	for g := 1; g < k-1; g++ {
		if r.sep[g] != r.sep[0] {
			return false
		}
	}
	return true
}

func (r *digitRun) groupLen(g int) int {
	if g == 0 {
		return r.gEnd[0]
	}
	return r.gEnd[g] - r.gEnd[g-1]
}

func (r *digitRun) groupVal(g int) int {
	a := 0
	if g > 0 {
		a = r.gEnd[g-1]
	}
	v := 0
	for _, c := range r.d[a:r.gEnd[g]] {
		v = v*10 + int(c-'0')
	}
	return v
}

// number handles a token starting with a digit, '+' or '('.
func (s *scan) number(i int) int {
	t := s.t
	// Inside a longer number ("v1.2.3", "1,5"): skip the digits. The end
	// of an entity found just before is a boundary, as its placeholder
	// will be once anonymised.
	if i > 1 && (t[i-1] == '.' || t[i-1] == '-' || t[i-1] == '/' || t[i-1] == ',') && isDigit(t[i-2]) && s.lastEnd != i-1 {
		return skipAlnum(t, i)
	}
	var r digitRun
	collect(t, i, &r)
	if r.ng == 0 {
		return i + 1
	}
	// Phone numbers keep an opening parenthesis ("(541) 754-3010"); other
	// identifiers start at their first digit.
	start := i
	if t[i] == '(' {
		start = i + 1
	}
	s.phoneStart = i
	end0 := r.gPos[0]
	// Digits glued to letters: passports, ID cards, "221B", "12h30", "3kg".
	if end0 < len(t) && isAlpha(t[end0]) && r.nd == r.gEnd[0] {
		return s.alnum(i)
	}
	for k := r.ng; k >= 1; k-- {
		if j := s.classify(&r, start, k); j > 0 {
			return j
		}
	}
	// Nothing starts here. Skip a long run whole, so that part of a number
	// failing its checksum (a NIR with a wrong key) is never read as
	// something else (a phone number in its middle); after a short one,
	// look again from the next group ("23 8 Wressle Road").
	if r.nd >= 9 {
		// Letters glued to the run belong to it ("…000A.Br").
		return skipAlnum(t, r.gPos[r.ng-1])
	}
	return end0
}

func skipAlnum(t string, i int) int {
	for i < len(t) && (isAlnum(t[i]) || ((t[i] == '.' || t[i] == '-' || t[i] == '/' || t[i] == ',') && i+1 < len(t) && isDigit(t[i+1]))) {
		i++
	}
	return i
}

// classify tries to read the first k groups of r as one identifier. It
// returns the end of what it consumed, or 0.
func (s *scan) classify(r *digitRun, start, k int) int {
	negCtx := func() bool { return s.ctxNear(start, 24, kwNotPII) }
	t := s.t
	nd := r.gEnd[k-1]
	end := r.gPos[k-1]
	d := r.d[:nd]
	// The number must end on a boundary: "0612345678abc" is not a phone,
	// but "986.291.2294x751" is one with an extension.
	ext := end
	if end < len(t) && isAlpha(t[end]) {
		if ext = extension(t, end); ext == end {
			return 0
		}
	}
	if end+1 < len(t) && (t[end] == '.' || t[end] == ',') && isDigit(t[end+1]) {
		return 0 // a longer decimal or dotted number
	}
	// IPv4: four dotted groups of at most three digits.
	if k == 4 && r.seps(k, ".") && !r.plus {
		for g := 0; g < 4; g++ {
			if r.groupLen(g) > 3 || r.groupVal(g) > 255 {
				return end // dotted quad that is no address: consume it
			}
		}
		if s.ctxNear(start, 24, kwVersion) {
			return end
		}
		score := 0.85
		if s.ctx(start, kwIP) {
			score = 1
		}
		s.emit(IPAddress, start, end, score)
		return end
	}
	// Dates: three groups with one separator, day-month-year or ISO.
	if k == 3 && r.sameSep(k) && (r.sep[0] == '/' || r.sep[0] == '.' || r.sep[0] == '-') {
		if validDate(r) {
			if s.ctx(start, kwBirth) {
				s.emit(DateOfBirth, start, end, 0.9)
			}
			return end
		}
	}
	if r.plus || (nd > 2 && d[0] == '0' && d[1] == '0') {
		if r.seps(k, " .-/") {
			if score := s.intlPhone(r, d); score > 0 {
				if s.ctx(start, kwPhone) {
					score = 1
				}
				end = extension(t, end)
				s.emit(PhoneNumber, s.phoneStart, end, score)
				return end
			}
		}
		if k == r.ng && nd >= 8 && nd <= 15 && s.ctxNear(start, 32, kwPhoneStrict) {
			s.emit(PhoneNumber, s.phoneStart, end, 0.55)
			return end
		}
		return 0
	}
	// Only phone numbers have extensions.
	whole := k == r.ng && ext == end
	if whole && nd >= 13 && nd <= 19 && r.seps(k, " -") && cardIIN(d) && luhn(d) {
		score := 0.85
		if s.ctx(start, kwCard) {
			score = 1
		}
		s.emit(CreditCard, start, end, score)
		return end
	}
	// NIR: 15 characters, spaces allowed.
	if whole && nd == 15 && r.seps(k, " .") && nirValid(d) {
		score := 0.9
		if s.ctx(start, kwNIR) {
			score = 1
		}
		s.emit(FRNIR, start, end, score)
		return end
	}
	// SIRET and SIREN: Luhn; formatted 3-3-3(-5) or preceded by a keyword.
	if whole && ((nd == 14 && siretValid(d)) || (nd == 9 && sirenValid(d))) {
		if r.seps(k, " .") {
			typ := FRSIREN
			if nd == 14 {
				typ = FRSIRET
			}
			formatted := k == 1 || (r.groupLen(0) == 3 && r.groupLen(1) == 3 && r.groupLen(2) == 3)
			score := 0.0
			switch {
			case s.ctx(start, kwSIREN):
				score = 0.95
			case negCtx():
			case formatted && k > 1:
				score = 0.6
			case formatted:
				score = 0.4
			}
			if score > 0 {
				s.emit(typ, start, end, score)
				return end
			}
		}
	}
	// National phone numbers.
	if nd >= 9 && nd <= 11 && r.seps(k, " .-") && (ext == end || k == r.ng) && (!negCtx() || s.ctx(start, kwPhone)) {
		if score := s.nationalPhone(r, k, d); score > 0 {
			if s.ctx(start, kwPhone) {
				score += 0.2
			}
			end = extension(t, end)
			s.emit(PhoneNumber, s.phoneStart, end, score)
			return end
		}
	}
	// Any other run of 7–15 digits right after "phone", "tél"… is a phone
	// number the numbering plans do not know (yet, or abroad): the writer
	// said what it is.
	if k == r.ng && nd >= 7 && nd <= 15 && r.seps(k, " .-") && !negCtx() && s.ctxNear(start, 32, kwPhoneStrict) {
		end = extension(t, end)
		s.emit(PhoneNumber, s.phoneStart, end, 0.55)
		return end
	}
	// Old ID card: 12 digits, only with an ID-card keyword.
	if whole && nd == 12 && r.seps(k, " ") && s.ctx(start, kwIDCard) {
		s.emit(FRIDCard, start, end, 0.85)
		return end
	}
	if k == 1 {
		if j := s.afterSingle(r, start, end); j > 0 {
			return j
		}
	}
	return 0
}

func validDate(r *digitRun) bool {
	a, b, c := r.groupLen(0), r.groupLen(1), r.groupLen(2)
	x, y, z := r.groupVal(0), r.groupVal(1), r.groupVal(2)
	switch {
	case a == 4 && b <= 2 && c <= 2: // ISO
		return x >= 1900 && x <= 2100 && y >= 1 && y <= 12 && z >= 1 && z <= 31
	case a <= 2 && b <= 2 && (c == 4 || c == 2):
		// Day first (French, British) or month first (US).
		return x >= 1 && x <= 31 && y >= 1 && y <= 31 && (x <= 12 || y <= 12)
	}
	return false
}

// intlPhone validates a number written with '+' or "00": France and NANP
// by their numbering plans, others with libphonenumber's metadata.
func (s *scan) intlPhone(r *digitRun, d []byte) float64 {
	if !r.plus {
		d = d[2:]
	}
	if len(d) < 8 || len(d) > 15 {
		return 0
	}
	// +33 (0)6 12 34 56 78: drop the trunk zero in parentheses.
	if d[0] == '3' && d[1] == '3' {
		n := d[2:]
		if len(n) == 10 && n[0] == '0' {
			n = n[1:]
		}
		if frValid(n) {
			return 0.95
		}
		return 0
	}
	// +1 and +44 go through the plan tables too.
	if d[0] == '1' {
		if nanpValid(d[1:]) {
			return 0.9
		}
		return 0
	}
	if d[0] == '4' && d[1] == '4' {
		n := d[2:]
		if len(n) > 0 && n[0] == '0' {
			n = n[1:]
		}
		if gbValid(n) {
			return 0.9
		}
		return 0
	}
	// Split the country calling code (the codes are prefix-free) and ask
	// libphonenumber's metadata about the national number directly:
	// building the number skips Parse, which runs several regular
	// expressions per call and dominated the profile.
	for l := 1; l <= 3 && l < len(d); l++ {
		cc := atoi(d[:l])
		region := phonenumbers.GetRegionCodeForCountryCode(cc)
		if region == "ZZ" || region == "" {
			continue
		}
		n := d[l:]
		italian := false
		if len(n) > 0 && n[0] == '0' {
			if region == "IT" || region == "SM" || region == "VA" {
				italian = true
			} else {
				n = n[1:] // "+44 (0)20 …": the trunk prefix written by habit
			}
		}
		if len(n) < 4 || len(n) > 14 {
			return 0
		}
		if validNumber(int32(cc), n, italian, "") {
			return 0.9
		}
		return 0
	}
	return 0
}

// nationalPhone validates a number without country code: French
// (0 then nine digits), British (0 then nine or ten digits), or North
// American (ten digits, or eleven starting with 1). It returns a base
// score, or 0.
func (s *scan) nationalPhone(r *digitRun, k int, d []byte) float64 {
	if d[0] == '0' {
		if s.b.fr && len(d) == 10 && frValid(d[1:]) {
			// Written in pairs, or unbroken, as the French do.
			pairs := k == 1
			if k == 5 {
				pairs = true
				for g := 0; g < 5; g++ {
					if r.groupLen(g) != 2 {
						pairs = false
					}
				}
			}
			if pairs {
				return 0.75
			}
			return 0.6
		}
		if s.b.en && (len(d) == 10 || len(d) == 11) && gbValid(d[1:]) {
			return 0.7
		}
		return 0
	}
	if !s.b.en {
		return 0
	}
	n := d
	if len(n) == 11 && n[0] == '1' {
		n = n[1:]
	}
	// NANP: area code and exchange start with 2–9 and are not N11.
	if len(n) != 10 || n[0] < '2' || n[3] < '2' || (n[1] == '1' && n[2] == '1') || (n[4] == '1' && n[5] == '1') {
		return 0
	}
	if k == 1 && !s.ctx(r.gPos[0]-len(d), kwPhone) {
		return 0 // ten bare digits: as likely an order number
	}
	if !nanpValid(n) {
		return 0
	}
	return 0.7
}

// afterSingle handles one group of digits followed by words: street
// addresses ("12 rue de la Paix", "221 Baker Street"), postcode and city
// ("75011 Paris"), dates with a month name ("3 mars 1985"), old licence
// plates ("123 ABC 45").
func (s *scan) afterSingle(r *digitRun, start, end int) int {
	t := s.t
	nd := r.nd
	if r.gEnd[0] != nd || r.plus || end >= len(t) {
		return 0
	}
	// Every rule below needs a space, a comma or a hyphen after the number;
	// the word after it is looked up once.
	sp := spaceAt(t, end)
	if sp == 0 && t[end] != ',' && t[end] != '-' {
		return 0
	}
	var fl uint32
	if k := end + sp; sp > 0 && k < len(t) && isAlpha(t[k]) || k < len(t) && t[k] >= 0x80 {
		if we := wordEnd(t, k); we > k {
			fl = lookup(t[k:we])
		}
	}
	if nd <= 2 && fl&(wMonthFR|wMonthEN) != 0 {
		if j := s.monthDate(start, end); j > 0 {
			return j
		}
	}
	if nd <= 4 && end+1 < len(t) && isUpper(t[end+1]) {
		if j := s.oldPlate(start, end); j > 0 {
			return j
		}
	}
	if nd <= 5 {
		if j := s.address(start, end, fl); j > 0 {
			return j
		}
	}
	if nd == 5 {
		if j := s.postcodeCity(start, end, false); j > 0 {
			s.emit(Location, start, j, 0.65)
			return j
		}
		if s.ctxNear(start, 24, kwPostcode) {
			j := s.postcodeCity(start, end, true)
			if j == 0 {
				j = end
			}
			s.emit(Location, start, j, 0.8)
			return j
		}
	}
	return 0
}

// alnum handles a word starting with digits and continuing with letters:
// French passports (2 digits, 2 letters, 5 digits), new ID cards (9
// characters, with a keyword), street numbers ("221B Baker Street").
func (s *scan) alnum(i int) int {
	t := s.t
	e := i
	for e < len(t) && isAlnum(t[e]) {
		e++
	}
	w := t[i:e]
	if len(w) == 9 && isDigit(w[0]) && isDigit(w[1]) && isUpper(w[2]) && isUpper(w[3]) && allDigits(w[4:]) {
		score := 0.6
		if s.ctx(i, kwPassport) {
			score = 0.95
		} else if s.ctx(i, kwIDCard) {
			s.emit(FRIDCard, i, e, 0.85)
			return e
		}
		s.emit(FRPassport, i, e, score)
		return e
	}
	if len(w) == 9 && allUpperAlnum(w) && s.ctx(i, kwIDCard) {
		s.emit(FRIDCard, i, e, 0.85)
		return e
	}
	// Street number with a letter: 12B, 221b.
	d := i
	for d < e && isDigit(t[d]) {
		d++
	}
	if e-d == 1 && d-i <= 4 {
		if j := s.address(i, e, 0); j > 0 {
			return j
		}
	}
	return e
}

func allDigits(s string) bool {
	for k := 0; k < len(s); k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	return len(s) > 0
}

func allUpperAlnum(s string) bool {
	digits := 0
	for k := 0; k < len(s); k++ {
		switch {
		case isDigit(s[k]):
			digits++
		case isUpper(s[k]):
		default:
			return false
		}
	}
	return digits > 0 && digits < len(s)
}

// extension returns the end of a phone extension written after the number
// ending at end ("x751", " ext 44", " ext. 12"), or end.
func extension(t string, end int) int {
	k := end
	if k < len(t) && t[k] == ' ' {
		k++
	}
	w := k
	for k < len(t) && isAlpha(t[k]) && k-w < 4 {
		k++
	}
	if !isAnyFold(t[w:k], "x", "ext", "poste") {
		return end
	}
	if k < len(t) && t[k] == '.' {
		k++
	}
	if k < len(t) && t[k] == ' ' {
		k++
	}
	d := k
	for k < len(t) && isDigit(t[k]) && k-d < 6 {
		k++
	}
	if k == d || wordCharAt(t, k) {
		return end
	}
	return k
}
