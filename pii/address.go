package pii

import "strings"

// Postal addresses, by a small grammar rather than a model:
//
//	FR: number [bis|ter] [,] street-type name-words [, [complement] postcode city]
//	EN: number name-words street-type [, unit] [, city [, state zip | postcode]]
//
// plus "75011 Paris" on its own. The grammar needs the street type, which is
// what tells "12 rue des Lilas" from "12 roses".

// address reads a street address starting with the number at start..numEnd.
//
// next holds the lexicon flags of the word right after the number when
// the caller looked it up already (0 otherwise).
func (s *scan) address(start, numEnd int, next uint32) int {
	if !s.b.want(Location) {
		return 0
	}
	t := s.t
	k := numEnd
	n := spaceAt(t, k)
	if n == 0 && !(k < len(t) && t[k] == ',') {
		return 0
	}
	k += n
	moved := false
	// "12 bis", "12 ter".
	if we := wordEnd(t, k); we > k && we-k <= 6 {
		if isAnyFold(t[k:we], "bis", "ter", "quater") {
			if m := spaceAt(t, we); m > 0 {
				k = we + m
				moved = true
			}
		}
	}
	if k < len(t) && t[k] == ',' {
		k++
		k += spaceAt(t, k)
		moved = true
	}
	we := wordEnd(t, k)
	if we == k {
		return 0
	}
	fl := next
	if moved || n == 0 || fl == 0 {
		fl = lookup(t[k:we])
	}
	end := 0
	if fl&wStreetFR != 0 && s.b.fr {
		e := we
		if e < len(t) && t[e] == '.' {
			e++
		}
		if e2, ok := s.streetName(e); ok {
			end = e2
		}
	}
	if end == 0 && s.b.en {
		// Up to four words, then the street type.
		p := k
		for w := 0; w < 5 && p < len(t); w++ {
			pe := wordEnd(t, p)
			if pe == p {
				// Ordinals: "5th Avenue".
				for pe < len(t) && isAlnum(t[pe]) {
					pe++
				}
				if pe == p {
					break
				}
			}
			if w > 0 && maybeStreetEN(t[p:pe]) && lookup(t[p:pe])&wStreetEN != 0 {
				end = pe
				if end < len(t) && t[end] == '.' {
					end++
				}
				break
			}
			if m := spaceAt(t, pe); m > 0 {
				p = pe + m
				continue
			}
			break
		}
	}
	if end == 0 {
		return 0
	}
	// Directional suffix: "Avenue NW".
	if m := spaceAt(t, end); m > 0 {
		switch p := end + m; {
		case p+2 <= len(t) && (t[p:p+2] == "NW" || t[p:p+2] == "NE" || t[p:p+2] == "SW" || t[p:p+2] == "SE") && !wordCharAt(t, p+2):
			end = p + 2
		}
	}
	end, score := s.addressTail(end)
	s.emit(Location, unitBefore(t, start), end, score)
	return end
}

// unitBefore extends an address back over "Flat 3, " or "Apt 4B ".
func unitBefore(t string, start int) int {
	k := start
	for k > 0 && (t[k-1] == ' ' || t[k-1] == ',') && start-k < 2 {
		k--
	}
	e := k
	for k > 0 && isAlnum(t[k-1]) {
		k--
	}
	if k == e || !isDigit(t[k]) {
		return start
	}
	n := 0
	for k > 0 && t[k-1] == ' ' && n < 1 {
		k--
		n++
	}
	we := k
	k = wordStart(t, we)
	if k == we || lookup(t[k:we])&wUnit == 0 {
		return start
	}
	return k
}

// streetName reads the name after a French street type: capitalised words,
// particles (de, du, des, la, l', d'…) and numbers ("rue du 8 Mai 1945").
func (s *scan) streetName(k int) (int, bool) {
	t := s.t
	end, names := 0, 0
	for w := 0; w < 8; w++ {
		n := spaceAt(t, k)
		if n == 0 {
			break
		}
		p := k + n
		if p >= len(t) {
			break
		}
		if isDigit(t[p]) {
			e := p
			for e < len(t) && isDigit(t[e]) {
				e++
			}
			if e-p > 4 || e-p == 5 {
				break
			}
			k, end = e, e
			names++
			continue
		}
		pe := nameWordEnd(t, p)
		if pe == p {
			break
		}
		if upperAt(t, p) {
			k, end = pe, pe
			names++
			continue
		}
		// Lower-case: particles only ("de la", "l'Église", "d'Alsace").
		fl := lookup(t[p:wordEnd(t, p)])
		if fl&wParticle != 0 || (pe > p+2 && (t[p+1] == '\'' || t[p+1] == 0xE2)) {
			k = pe
			if pe > p+2 && (t[p+1] == '\'') {
				end = pe
				names++
			}
			continue
		}
		break
	}
	return end, names > 0
}

// addressTail extends an address over a unit ("Apt 4B"), a postcode and
// city, or a city with a US state and ZIP or a UK postcode, and scores it.
func (s *scan) addressTail(end int) (int, float64) {
	t := s.t
	score := 0.85
	k := skipAddrSep(t, end)
	// Unit.
	if we := wordEnd(t, k); we > k && lookup(t[k:we])&wUnit != 0 {
		e := we
		if e < len(t) && t[e] == '.' {
			e++
		}
		e += spaceAt(t, e)
		f := e
		for f < len(t) && isAlnum(t[f]) {
			f++
		}
		if f > e {
			end = f
			k = skipAddrSep(t, end)
		}
	}
	// French postcode and city.
	if k+5 <= len(t) && allDigits(t[k:k+5]) && !wordCharAt(t, k+5) {
		if e := s.postcodeCity(k, k+5, false); e > 0 {
			return e, 0.95
		}
	}
	// City, then state and ZIP or UK postcode.
	if upperAt(t, k) {
		e := k
		for w := 0; w < 3; w++ {
			we := nameWordEnd(t, e)
			if we == e {
				break
			}
			e = we
			p := e
			if p < len(t) && t[p] == ',' {
				p++
			}
			p += spaceAt(t, p)
			// State and ZIP.
			if p+2 < len(t) && isUpper(t[p]) && isUpper(t[p+1]) && lookup(t[p:p+2])&wState != 0 {
				q := p + 2 + spaceAt(t, p+2)
				if q+5 <= len(t) && allDigits(t[q:q+5]) && !wordCharAt(t, q+5) {
					q += 5
					if q+5 <= len(t) && t[q] == '-' && allDigits(t[q+1:q+5]) {
						q += 5
					}
					return q, 0.95
				}
			}
			if q := ukPostcode(t, p); q > 0 && !wordCharAt(t, q) {
				return q, 0.95
			}
			if m := spaceAt(t, e); m > 0 && upperAt(t, e+m) {
				e += m
				continue
			}
			break
		}
	}
	// A lone city closing the sentence: "…, Apt 4, Leeds."
	if k > end && t[end] == ',' && upperAt(t, k) {
		we := nameWordEnd(t, k)
		if we > k && (we == len(t) || t[we] == '.' || t[we] == '\n') && lookup(t[k:we])&wStop == 0 {
			return we, score
		}
	}
	// UK postcode straight after the street.
	if q := ukPostcode(t, k); q > 0 && !wordCharAt(t, q) {
		return q, 0.95
	}
	return end, score
}

// skipAddrSep skips ", " or a line break between address lines.
func skipAddrSep(t string, k int) int {
	p := k
	if p < len(t) && t[p] == ',' {
		p++
	} else if p+2 < len(t) && t[p] == ' ' && t[p+1] == '-' && t[p+2] == ' ' {
		p += 2 // "avenue Victor Hugo - 75116 Paris"
	}
	for p < len(t) && (t[p] == ' ' || t[p] == '\n' || t[p] == '\r') && p-k < 4 {
		p++
	}
	return p
}

// postcodeCity reads a city after the five-digit French postcode at
// start..end: one to four capitalised words, joined by hyphens or spaces,
// with an optional "Cedex" and number. The postcode must name a
// department (01–95, 97, 98, or 20 for Corsica).
func (s *scan) postcodeCity(start, end int, comma bool) int {
	t := s.t
	dep := int(t[start]-'0')*10 + int(t[start+1]-'0')
	if dep < 1 || dep > 98 || dep == 96 {
		return 0
	}
	k := end
	if comma && k < len(t) && t[k] == ',' {
		k++
	}
	n := spaceAt(t, k)
	if n == 0 || !upperAt(t, k+n) {
		return 0
	}
	k += n
	e := 0
	for w := 0; w < 4; w++ {
		we := nameWordEnd(t, k)
		if we == k {
			break
		}
		fl := lookup(t[k:we])
		if w == 0 && fl&(wMonthFR|wMonthEN) != 0 {
			return 0
		}
		if w > 0 && fl&wStop != 0 && !strings.EqualFold(t[k:we], "cedex") {
			break
		}
		e = we
		if strings.EqualFold(t[k:we], "cedex") {
			if m := spaceAt(t, e); m > 0 && e+m < len(t) && isDigit(t[e+m]) {
				q := e + m
				for q < len(t) && isDigit(t[q]) {
					q++
				}
				e = q
			}
			break
		}
		m := spaceAt(t, we)
		if m == 0 || !upperAt(t, we+m) {
			break
		}
		k = we + m
	}
	if e == 0 {
		return 0
	}
	return e
}

// streetENFilter has a bit per (first, last) letter pair and length of the
// English street types, so that most words after a number are rejected
// without a lookup.
var streetENFilter [27 * 27]uint64

func maybeStreetEN(w string) bool {
	l := len(w)
	if l == 0 || l > 63 {
		return false
	}
	return streetENFilter[firstIdx(w[0])*27+firstIdx(w[l-1])]&(1<<l) != 0
}
