package pii

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// capital handles a token starting with an upper-case letter: codes written
// in capitals (IBAN, VAT number, licence plate, UK postcode), dates with a
// month name, and names.
func (s *scan) capital(i int) int {
	t := s.t
	if i+1 < len(t) && isUpper(t[i]) && (isUpper(t[i+1]) || isDigit(t[i+1])) {
		if j := s.upperCode(i); j > 0 {
			return j
		}
	}
	we := nameWordEnd(t, i)
	if we == i {
		_, n := letterAt(t, i)
		return i + n
	}
	fl := lookup(t[i:we])
	if fl == 0 {
		// A compound first name not listed whole ("Anne-Sophie") counts
		// by its first part.
		if h := hyphenAt(t[i:we]); h > 0 {
			fl = lookup(t[i:i+h]) & wFirst
		}
	}
	if fl&wMonthEN != 0 {
		if j := s.monthFirstDate(i, we); j > 0 {
			return j
		}
	}
	if fl&(wTitle|wGreet|wClose|wMonthFR|wMonthEN) != 0 && fl&wFirst == 0 {
		return we
	}
	if !s.b.want(Person) {
		return we
	}
	trig := s.prevTrigger(i)
	known := fl&(wFirst|wLast) != 0
	switch {
	case fl&wStop != 0 && !(trig == 2 && known):
		return we
	case trig == 0 && fl&wFirst == 0:
		return we
	case trig == 1 && !known:
		return we
	}
	// An acronym is no name ("Bonjour SAV"), but an initial is ("M. J.
	// Dupont").
	initial := we-i == 1 && we < len(t) && t[we] == '.'
	if we-i <= 3 && allCaps(t[i:we]) && !known && !initial {
		return we
	}
	end, words, nknown, lastKnown := s.nameSpan(i, we, fl)
	if words == 0 {
		return we
	}
	var score float64
	switch {
	case trig == 2:
		score = 0.85
		if nknown > 0 {
			score = 0.95
		}
	case trig == 1:
		score = 0.8
	case words >= 2 && lastKnown:
		score = 0.9
	case words >= 2 && fl&wAmbig == 0:
		score = 0.75
	case words >= 2:
		score = 0.45 // "May Day", "April Fools": below the usual threshold
	case fl&wAmbig != 0:
		return we
	default:
		score = 0.6
	}
	s.emit(Person, i, end, score)
	return end
}

func isDigitAt(t string, i int) bool { return i < len(t) && isDigit(t[i]) }

func hyphenAt(w string) int {
	for k := 1; k < len(w); k++ {
		if w[k] == '-' {
			return k
		}
	}
	return 0
}

func allCaps(w string) bool {
	for k := 0; k < len(w); k++ {
		if isLower(w[k]) {
			return false
		}
	}
	return true
}

// nameWordEnd returns the end of a name word: letters, with inner hyphens
// and apostrophes ("Jean-Pierre", "O'Brien").
func nameWordEnd(t string, i int) int {
	e := wordEnd(t, i)
	for e+1 < len(t) {
		switch {
		case t[e] == '-' || t[e] == '\'':
			if ok, _ := letterAt(t, e+1); ok {
				e = wordEnd(t, e+1)
				continue
			}
		case t[e] == 0xE2 && e+3 < len(t) && t[e+1] == 0x80 && t[e+2] == 0x99: // ’
			if ok, _ := letterAt(t, e+3); ok && upperAt(t, e+3) {
				e = wordEnd(t, e+3)
				continue
			}
		}
		break
	}
	return e
}

// prevTrigger looks at the word before i: 2 when it introduces a name
// whatever the name is (a title, a greeting, "je m'appelle", a closing line
// before a signature), 1 when it introduces a name only if the name is in
// the gazetteers ("je suis", "I am", "c'est"), 0 otherwise.
func (s *scan) prevTrigger(i int) int {
	t := s.t
	k := i
	newlines := 0
	for k > 0 {
		c := t[k-1]
		switch {
		case c == ' ' || c == '\t' || c == ',' || c == ':' || c == '.' || c == '\r':
			k--
			continue
		case c == '\n':
			newlines++
			k--
			continue
		case c == 0xA0 && k > 1 && t[k-2] == 0xC2:
			k -= 2
			continue
		}
		break
	}
	if newlines > 1 || i-k > 6 {
		return 0
	}
	e := k
	k = wordStart(t, e)
	if k == e {
		return 0
	}
	fl := lookup(t[k:e])
	if fl == 0 {
		return 0
	}
	if newlines > 0 {
		if fl&wClose != 0 {
			return 2
		}
		return 0
	}
	switch {
	case fl&(wTitle|wGreet|wClose) != 0:
		return 2
	case fl&wIntro != 0:
		isEst := strings.EqualFold(t[k:e], "est")
		if isEst || strings.EqualFold(t[k:e], "is") {
			// "my name is", "mon nom est"; "c'est" is weak.
			p := wordStart(t, skipBack(t, k))
			pw := lookup(t[p:skipBack(t, k)])
			if pw&wIntro != 0 {
				return 2
			}
			if isEst && k > 0 && (t[k-1] == '\'' || t[k-1] == 0x99) {
				return 1
			}
			return 0
		}
		return 2
	case fl&wWeak != 0:
		return 1
	}
	return 0
}

// skipBack returns the position before the spaces and apostrophes that
// end just before k.
func skipBack(t string, k int) int {
	for k > 0 && (t[k-1] == ' ' || t[k-1] == '\'') {
		k--
	}
	if k >= 3 && t[k-3] == 0xE2 && t[k-2] == 0x80 && t[k-1] == 0x99 {
		k -= 3
	}
	return k
}

// wordStart returns the start of the letters ending at e.
func wordStart(t string, e int) int {
	k := e
	for k > 0 {
		c := t[k-1]
		if c < utf8.RuneSelf {
			if !isAlpha(c) {
				break
			}
			k--
			continue
		}
		r, n := utf8.DecodeLastRuneInString(t[:k])
		if !unicode.IsLetter(r) {
			break
		}
		k -= n
	}
	return k
}

// nameSpan reads up to four name words from i: capitalised words, initials
// ("J."), and particles between them ("Charles de Gaulle"). It reports the
// end, the number of words, how many are in the gazetteers, and whether a
// word after the first is a known surname.
//
// The caller passes the end and flags of the first word, looked up already.
func (s *scan) nameSpan(i, firstEnd int, firstFl uint32) (end, words, known int, lastKnown bool) {
	t := s.t
	k := i
	end = i
	for words < 4 && k < len(t) && upperAt(t, k) {
		we, fl := firstEnd, firstFl
		if words > 0 {
			we = nameWordEnd(t, k)
			if we == k {
				break
			}
			fl = lookup(t[k:we])
		}
		if isDigitAt(t, we) {
			break // "B00" is a code, not a name word
		}
		if words > 0 && fl&(wStop|wStreetEN|wMonthEN|wMonthFR) != 0 && fl&(wFirst|wLast) == 0 {
			break
		}
		if fl&(wFirst|wLast) != 0 {
			known++
			if words > 0 && fl&wLast != 0 {
				lastKnown = true
			}
		}
		words++
		end = we
		if we-k == 1 && we < len(t) && t[we] == '.' { // initial
			end = we + 1
			we++
		}
		// Next word: one space, maybe a particle.
		n := spaceAt(t, we)
		if n == 0 {
			break
		}
		k = we + n
		if k < len(t) && isLower(t[k]) {
			pe := wordEnd(t, k)
			if lookup(t[k:pe])&wParticle != 0 {
				if m := spaceAt(t, pe); m > 0 && upperAt(t, pe+m) {
					k = pe + m
					continue
				}
				if pe < len(t) && t[pe] == '\'' && upperAt(t, pe+1) {
					k = pe + 1
					continue
				}
			}
			break
		}
	}
	return end, words, known, lastKnown
}

// upperCode recognises identifiers that start with two capitals or a
// capital and a digit: IBAN, French VAT number, licence plates, UK
// postcodes, new French ID cards.
func (s *scan) upperCode(i int) int {
	t := s.t
	if i+3 < len(t) && isUpper(t[i+1]) && isDigit(t[i+2]) && isDigit(t[i+3]) {
		if j := s.iban(i); j > 0 {
			return j
		}
	}
	if t[i] == 'F' && t[i+1] == 'R' {
		if j := s.tva(i); j > 0 {
			return j
		}
	}
	if j := s.sivPlate(i); j > 0 {
		return j
	}
	if s.b.en {
		if j := ukPostcode(t, i); j > 0 && !wordCharAt(t, j) {
			score := 0.6
			if s.ctx(i, kwPostcode|kwAddress) {
				score = 0.9
			}
			s.emit(Location, i, j, score)
			return j
		}
	}
	// New ID card: nine capitals and digits after an ID-card keyword.
	e := i
	for e < len(t) && (isUpper(t[e]) || isDigit(t[e])) {
		e++
	}
	if e-i == 9 && !wordCharAt(t, e) && allUpperAlnum(t[i:e]) && s.ctx(i, kwIDCard) {
		s.emit(FRIDCard, i, e, 0.85)
		return e
	}
	return 0
}

// iban reads as many characters as the country's IBAN length, skipping
// single spaces between groups, and checks mod 97.
func (s *scan) iban(i int) int {
	t := s.t
	n, ok := ibanLength[[2]byte{t[i] &^ 0x20, t[i+1] &^ 0x20}] // "fr76…" too
	if !ok {
		return 0
	}
	var buf [34]byte
	b := buf[:0]
	k := i
	for k < len(t) && len(b) < n {
		c := t[k]
		switch {
		case isDigit(c) || isUpper(c):
			b = append(b, c)
		case isLower(c):
			b = append(b, c-'a'+'A')
		case c == ' ' && k+1 < len(t) && isAlnum(t[k+1]) && len(b) >= 4:
		default:
			return 0
		}
		k++
	}
	if len(b) != n || wordCharAt(t, k) || !ibanValid(b) {
		return 0
	}
	score := 0.95
	if s.ctx(i, kwIBAN) {
		score = 1
	}
	s.emit(IBANCode, i, k, score)
	return k
}

// tva reads "FR" + two key characters + a SIREN, with optional spaces, and
// checks the key.
func (s *scan) tva(i int) int {
	t := s.t
	var d [11]byte
	nd := 0
	k := i + 2
	for k < len(t) && nd < 11 {
		c := t[k]
		switch {
		case isDigit(c):
			d[nd] = c
			nd++
		case c == ' ' && k+1 < len(t) && isDigit(t[k+1]) && nd > 0 || c == ' ' && nd == 0:
		default:
			goto done
		}
		k++
	}
done:
	if nd != 11 || wordCharAt(t, k) {
		return 0
	}
	key := int(d[0]-'0')*10 + int(d[1]-'0')
	if key != tvaKey(d[2:]) || !luhn(d[2:]) {
		return 0
	}
	score := 0.9
	if s.ctx(i, kwTVA) {
		score = 1
	}
	s.emit(FRTVA, i, k, score)
	return k
}

// sivPlate recognises a French plate of the SIV system (2009–): AA-123-AA,
// with hyphens, spaces or nothing. I, O and U are never used, nor SS, WW
// only for temporary plates, and 000.
func (s *scan) sivPlate(i int) int {
	t := s.t
	plateLetter := func(c byte) bool { return isUpper(c) && c != 'I' && c != 'O' && c != 'U' }
	if i+7 > len(t) || !plateLetter(t[i]) || !plateLetter(t[i+1]) {
		return 0
	}
	k := i + 2
	sep1 := byte(0)
	if t[k] == '-' || t[k] == ' ' {
		sep1 = t[k]
		k++
	}
	if k+3 > len(t) || !isDigit(t[k]) || !isDigit(t[k+1]) || !isDigit(t[k+2]) || t[k:k+3] == "000" {
		return 0
	}
	k += 3
	if k < len(t) && sep1 != 0 && t[k] == sep1 {
		k++
	} else if sep1 != 0 {
		return 0
	}
	if k+2 > len(t) || !plateLetter(t[k]) || !plateLetter(t[k+1]) || wordCharAt(t, k+2) {
		return 0
	}
	k += 2
	if t[i:i+2] == "SS" {
		return 0
	}
	score := 0.55
	if sep1 == '-' {
		score = 0.75
	}
	if s.ctx(i, kwPlate) {
		score = 0.95
	}
	s.emit(FRLicensePlate, i, k, score)
	return k
}

// oldPlate recognises a plate of the FNI system (before 2009): 1–4 digits,
// 1–3 letters, a department: "123 ABC 75".
func (s *scan) oldPlate(start, end int) int {
	t := s.t
	k := end
	if k >= len(t) || (t[k] != ' ' && t[k] != '-') {
		return 0
	}
	sep := t[k]
	k++
	l := k
	for k < len(t) && isUpper(t[k]) && k-l < 3 {
		k++
	}
	if k == l || k >= len(t) || t[k] != sep {
		return 0
	}
	k++
	d := k
	for k < len(t) && (isDigit(t[k]) || (k == d+1 && (t[k] == 'A' || t[k] == 'B'))) && k-d < 3 {
		k++
	}
	if k-d < 2 || wordCharAt(t, k) {
		return 0
	}
	score := 0.5
	if s.ctx(start, kwPlate) {
		score = 0.9
	}
	s.emit(FRLicensePlate, start, k, score)
	return k
}

// ukPostcode returns the end of a UK postcode at i (A9 9AA, A99 9AA,
// AA9 9AA, AA99 9AA, A9A 9AA, AA9A 9AA), or 0.
func ukPostcode(t string, i int) int {
	k := i
	if k >= len(t) || !isUpper(t[k]) {
		return 0
	}
	k++
	if k < len(t) && isUpper(t[k]) {
		k++
	}
	if k >= len(t) || !isDigit(t[k]) {
		return 0
	}
	k++
	if k < len(t) && (isDigit(t[k]) || isUpper(t[k])) {
		k++
	}
	if k >= len(t) || t[k] != ' ' {
		return 0
	}
	k++
	if k+3 > len(t) || !isDigit(t[k]) || !isUpper(t[k+1]) || !isUpper(t[k+2]) {
		return 0
	}
	return k + 3
}

// monthDate reads "3 mars 1985" or "3 March 1985" after the day digits
// ending at end; with birth context it is a DATE_OF_BIRTH, otherwise it is
// consumed so that no part of it is taken for something else.
func (s *scan) monthDate(start, end int) int {
	t := s.t
	k := end
	n := spaceAt(t, k)
	if n == 0 {
		return 0
	}
	k += n
	we := wordEnd(t, k)
	if we == k || lookup(t[k:we])&(wMonthFR|wMonthEN) == 0 {
		return 0
	}
	k = we
	if k < len(t) && t[k] == '.' {
		k++
	}
	n = spaceAt(t, k)
	if n == 0 || k+n+4 > len(t) || !allDigits(t[k+n:k+n+4]) || wordCharAt(t, k+n+4) {
		return 0
	}
	k += n + 4
	if s.ctx(start, kwBirth) {
		s.emit(DateOfBirth, start, k, 0.9)
	}
	return k
}

// monthFirstDate reads "March 12, 1985" from the month word at i.
func (s *scan) monthFirstDate(i, we int) int {
	t := s.t
	k := we
	n := spaceAt(t, k)
	if n == 0 {
		return 0
	}
	k += n
	d := k
	for k < len(t) && isDigit(t[k]) && k-d < 2 {
		k++
	}
	if k == d {
		return 0
	}
	if k+2 <= len(t) && (t[k:k+2] == "st" || t[k:k+2] == "nd" || t[k:k+2] == "rd" || t[k:k+2] == "th") {
		k += 2
	}
	if k < len(t) && t[k] == ',' {
		k++
	}
	n = spaceAt(t, k)
	if n == 0 || k+n+4 > len(t) || !allDigits(t[k+n:k+n+4]) || wordCharAt(t, k+n+4) {
		return 0
	}
	k += n + 4
	if s.ctx(i, kwBirth) {
		s.emit(DateOfBirth, i, k, 0.9)
	}
	return k
}
