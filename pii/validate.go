package pii

// Checksums and validity rules. Each works on ASCII digits already
// extracted from the text, with no allocation.

// luhn reports whether digits (ASCII) pass the Luhn check used by payment
// cards, SIREN and SIRET.
func luhn(d []byte) bool {
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if double {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		double = !double
	}
	return sum%10 == 0
}

// cardIIN reports whether a card number of this length starts with an
// issuer identification number in use: Visa, Mastercard (51–55,
// 2221–2720), American Express, Discover, Diners, JCB, UnionPay, Maestro.
// French Cartes Bancaires are co-branded Visa or Mastercard.
func cardIIN(d []byte) bool {
	n := len(d)
	p2 := int(d[0]-'0')*10 + int(d[1]-'0')
	p4 := p2*100 + int(d[2]-'0')*10 + int(d[3]-'0')
	p3 := p4 / 10
	p6 := p4*100 + int(d[4]-'0')*10 + int(d[5]-'0')
	switch {
	case d[0] == '4':
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return n == 16
	case p2 == 34 || p2 == 37:
		return n == 15
	case p4 == 6011, p2 == 65, p3 >= 644 && p3 <= 649, p6 >= 622126 && p6 <= 622925:
		return n >= 16 && n <= 19
	case p2 == 36, p2 == 38, p3 >= 300 && p3 <= 305:
		return n >= 14 && n <= 19
	case p4 >= 3528 && p4 <= 3589:
		return n >= 16 && n <= 19
	case p2 == 62:
		return n >= 16 && n <= 19
	case p4 == 5018, p4 == 5020, p4 == 5038, p4 == 5893, p4 == 6304, p4 == 6759, p4 == 6761, p4 == 6762, p4 == 6763:
		return n >= 12 && n <= 19
	}
	return false
}

// mod97 returns the value of the decimal digits d modulo 97, starting from
// the remainder r; long numbers (IBAN, NIR) never fit in an int64 whole.
func mod97(r int, d []byte) int {
	for _, c := range d {
		r = (r*10 + int(c-'0')) % 97
	}
	return r
}

// ibanLength is the length of the IBAN in each country of the SWIFT
// registry (release 2024), French overseas territories included.
var ibanLength = map[[2]byte]int{
	{'A', 'D'}: 24, {'A', 'E'}: 23, {'A', 'L'}: 28, {'A', 'T'}: 20, {'A', 'Z'}: 28,
	{'B', 'A'}: 20, {'B', 'E'}: 16, {'B', 'G'}: 22, {'B', 'H'}: 22, {'B', 'R'}: 29,
	{'B', 'Y'}: 28, {'C', 'H'}: 21, {'C', 'R'}: 22, {'C', 'Y'}: 28, {'C', 'Z'}: 24,
	{'D', 'E'}: 22, {'D', 'K'}: 18, {'D', 'O'}: 28, {'E', 'E'}: 20, {'E', 'G'}: 29,
	{'E', 'S'}: 24, {'F', 'I'}: 18, {'F', 'O'}: 18, {'F', 'R'}: 27, {'G', 'B'}: 22,
	{'G', 'E'}: 22, {'G', 'I'}: 23, {'G', 'L'}: 18, {'G', 'R'}: 27, {'G', 'T'}: 28,
	{'H', 'R'}: 21, {'H', 'U'}: 28, {'I', 'E'}: 22, {'I', 'L'}: 23, {'I', 'Q'}: 23,
	{'I', 'S'}: 26, {'I', 'T'}: 27, {'J', 'O'}: 30, {'K', 'W'}: 30, {'K', 'Z'}: 20,
	{'L', 'B'}: 28, {'L', 'C'}: 32, {'L', 'I'}: 21, {'L', 'T'}: 20, {'L', 'U'}: 20,
	{'L', 'V'}: 21, {'M', 'C'}: 27, {'M', 'D'}: 24, {'M', 'E'}: 22, {'M', 'K'}: 19,
	{'M', 'R'}: 27, {'M', 'T'}: 31, {'M', 'U'}: 30, {'N', 'L'}: 18, {'N', 'O'}: 15,
	{'P', 'K'}: 24, {'P', 'L'}: 28, {'P', 'S'}: 29, {'P', 'T'}: 25, {'Q', 'A'}: 29,
	{'R', 'O'}: 24, {'R', 'S'}: 22, {'S', 'A'}: 24, {'S', 'C'}: 31, {'S', 'E'}: 24,
	{'S', 'I'}: 19, {'S', 'K'}: 24, {'S', 'M'}: 27, {'S', 'T'}: 25, {'S', 'V'}: 28,
	{'T', 'L'}: 23, {'T', 'N'}: 24, {'T', 'R'}: 26, {'U', 'A'}: 29, {'V', 'A'}: 22,
	{'V', 'G'}: 24, {'X', 'K'}: 20,
	{'G', 'P'}: 27, {'M', 'Q'}: 27, {'R', 'E'}: 27, {'P', 'M'}: 27, {'N', 'C'}: 27,
	{'P', 'F'}: 27, {'Y', 'T'}: 27, {'B', 'L'}: 27, {'M', 'F'}: 27, {'G', 'F'}: 27,
	{'T', 'F'}: 27, {'W', 'F'}: 27,
}

// ibanValid checks an IBAN given as upper-case letters and digits without
// spaces: country length, then ISO 13616 mod 97 = 1 (the first four
// characters moved to the end, letters as 10–35).
func ibanValid(s []byte) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	if n, ok := ibanLength[[2]byte{s[0], s[1]}]; !ok || n != len(s) {
		return false
	}
	r := 0
	add := func(c byte) bool {
		switch {
		case isDigit(c):
			r = (r*10 + int(c-'0')) % 97
		case isUpper(c):
			v := int(c-'A') + 10
			r = (r*100 + v) % 97
		default:
			return false
		}
		return true
	}
	for _, c := range s[4:] {
		if !add(c) {
			return false
		}
	}
	for _, c := range s[:4] {
		if !add(c) {
			return false
		}
	}
	return r == 1
}

// nirValid checks a French social security number (NIR) of 15 characters,
// digits except positions 5–6 which may be "2A" or "2B" (Corsica). It checks
// sex (1, 2; 3, 4, 7, 8 for provisional numbers), month (01–12, 20–42 and
// 50–99 for unknown or provisional), department, and the key
// 97 − (n mod 97) where Corsica's 2A and 2B count as 19 and 18.
func nirValid(s []byte) bool {
	if len(s) != 15 {
		return false
	}
	switch s[0] {
	case '1', '2', '3', '4', '7', '8':
	default:
		return false
	}
	for i, c := range s {
		if (i == 6) && (c == 'A' || c == 'B') {
			continue
		}
		if !isDigit(c) {
			return false
		}
	}
	month := int(s[3]-'0')*10 + int(s[4]-'0')
	if month < 1 || (month > 12 && month < 20) || (month > 42 && month < 50) {
		return false
	}
	var n int
	switch s[6] {
	case 'A', 'B':
		if s[5] != '2' {
			return false
		}
		n = mod97(0, s[:5])
		if s[6] == 'A' {
			n = mod97(n, []byte("19"))
		} else {
			n = mod97(n, []byte("18"))
		}
		n = mod97(n, s[7:13])
	default:
		if s[5] == '0' && s[6] == '0' {
			return false // no department 00
		}
		n = mod97(0, s[:13])
	}
	key := int(s[13]-'0')*10 + int(s[14]-'0')
	return key == 97-n
}

// sirenValid checks a 9-digit SIREN (Luhn).
func sirenValid(d []byte) bool { return len(d) == 9 && luhn(d) && !allSame(d) }

// siretValid checks a 14-digit SIRET: Luhn, except for La Poste (SIREN
// 356 000 000) whose establishments have digit sums divisible by 5.
func siretValid(d []byte) bool {
	if len(d) != 14 || allSame(d) {
		return false
	}
	if string(d[:9]) == "356000000" {
		sum := 0
		for _, c := range d {
			sum += int(c - '0')
		}
		return sum%5 == 0
	}
	return luhn(d)
}

// tvaKey returns the key of the French intra-community VAT number of a
// SIREN: (12 + 3 × (SIREN mod 97)) mod 97.
func tvaKey(siren []byte) int { return (12 + 3*mod97(0, siren)) % 97 }

func allSame(d []byte) bool {
	for _, c := range d[1:] {
		if c != d[0] {
			return false
		}
	}
	return true
}
