package pii

import (
	"unicode"
	"unicode/utf8"
)

// Byte classes drive the single pass in builtin.go: one table lookup per
// byte decides whether a position can start anything worth validating.
const (
	cSpace = 1 << iota // ASCII white space
	cDigit
	cUpper
	cLower
	cHex
	cEmailLocal // may appear in the local part of an address
	cHost       // may appear in a host name
	cURL        // may appear in a URL after the host
	cPunct
	cWordEnd // ends a plain word: white space and , ' ? ! ; )
)

var class [256]uint16

// lowerBit is 0x20 for upper-case ASCII letters, 0 otherwise.
var lowerBit [256]byte

func init() {
	for c := 0; c < 256; c++ {
		var f uint16
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			f |= cSpace
		case c >= '0' && c <= '9':
			f |= cDigit | cHex | cEmailLocal | cHost | cURL
		case c >= 'A' && c <= 'Z':
			f |= cUpper | cEmailLocal | cHost | cURL
			if c <= 'F' {
				f |= cHex
			}
		case c >= 'a' && c <= 'z':
			f |= cLower | cEmailLocal | cHost | cURL
			if c <= 'f' {
				f |= cHex
			}
		case c >= 0x80:
			// Part of a multi-byte rune: handled by decoding.
		default:
			f |= cPunct
		}
		switch c {
		case '.', '_', '%', '+', '-':
			f |= cEmailLocal
		}
		switch c {
		case '.', '-':
			f |= cHost
		}
		switch c {
		case '.', '-', '_', '~', ':', '/', '?', '#', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%':
			f |= cURL
		}
		switch c {
		case ' ', '\t', '\n', '\r', ',', '\'', '?', '!', ';', ')':
			f |= cWordEnd
		}
		class[c] = f
		if c >= 'A' && c <= 'Z' {
			lowerBit[c] = 0x20
		}
	}
}

func isDigit(c byte) bool { return c-'0' < 10 }
func isUpper(c byte) bool { return c-'A' < 26 }
func isLower(c byte) bool { return c-'a' < 26 }
func isAlpha(c byte) bool { return (c|0x20)-'a' < 26 }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// letterAt reports whether text has a letter (ASCII or not) starting at i,
// and its width.
func letterAt(text string, i int) (bool, int) {
	c := text[i]
	if c < utf8.RuneSelf {
		return isAlpha(c), 1
	}
	r, n := utf8.DecodeRuneInString(text[i:])
	return unicode.IsLetter(r), n
}

// upperAt reports whether an upper-case letter starts at i.
func upperAt(text string, i int) bool {
	if i >= len(text) {
		return false
	}
	c := text[i]
	if c < utf8.RuneSelf {
		return isUpper(c)
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsUpper(r)
}

// wordCharAt reports whether text[i] is part of a word (letter or digit);
// used for word boundaries.
//
// An anonymisation placeholder ("<PHONE_NUMBER>") counts as a word: it
// stands for an entity whose edge was a letter or digit, and scanning
// anonymised text must not find entities that its original hid.
func wordCharAt(text string, i int) bool {
	if i < 0 || i >= len(text) {
		return false
	}
	c := text[i]
	if c < utf8.RuneSelf {
		if c == '<' {
			return placeholderEnd(text, i) > i+1
		}
		return isAlnum(c)
	}
	// Continuation bytes: find the rune start.
	for i > 0 && text[i]&0xC0 == 0x80 {
		i--
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wordCharBefore reports whether the rune ending just before i is a letter
// or digit.
func wordCharBefore(text string, i int) bool {
	if i <= 0 {
		return false
	}
	c := text[i-1]
	if c < utf8.RuneSelf {
		if c == '>' {
			return placeholderBefore(text, i)
		}
		return isAlnum(c)
	}
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

// wordEnd returns the end of the run of letters (and apostrophes inside a
// word, as in "aujourd'hui") starting at i.
func wordEnd(text string, i int) int {
	for i < len(text) {
		c := text[i]
		if c < utf8.RuneSelf {
			if !isAlpha(c) {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if !unicode.IsLetter(r) {
			return i
		}
		i += n
	}
	return i
}

// spaceAt returns the width of a horizontal space at i (ASCII space or tab,
// no-break space U+00A0, narrow no-break space U+202F, thin space U+2009),
// or 0. French typography puts the no-break kinds inside numbers.
func spaceAt(text string, i int) int {
	if i >= len(text) {
		return 0
	}
	switch text[i] {
	case ' ', '\t':
		return 1
	case 0xC2:
		if i+1 < len(text) && text[i+1] == 0xA0 {
			return 2
		}
	case 0xE2:
		if i+2 < len(text) && text[i+1] == 0x80 && (text[i+2] == 0xAF || text[i+2] == 0x89) {
			return 3
		}
	}
	return 0
}

// fold writes a lower-case, accent-free ASCII rendering of s into buf and
// returns it; letters outside Latin-1 are kept as '?' so that they never
// match a keyword. It exists so that context keywords ("numéro", "né")
// can be compared byte-wise without allocating.
func fold(buf []byte, s string) []byte {
	buf = buf[:0]
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// ASCII run: lower-case without per-byte appends.
			j := i + 1
			for j < len(s) && s[j] < utf8.RuneSelf {
				j++
			}
			n := len(buf)
			buf = append(buf, s[i:j]...)
			for k := n; k < len(buf); k++ {
				buf[k] |= lowerBit[buf[k]]
			}
			i = j
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		buf = append(buf, foldRune(r))
	}
	return buf
}

func foldRune(r rune) byte {
	switch r {
	case 'à', 'á', 'â', 'ä', 'ã', 'å', 'À', 'Á', 'Â', 'Ä', 'Ã', 'Å':
		return 'a'
	case 'ç', 'Ç':
		return 'c'
	case 'é', 'è', 'ê', 'ë', 'É', 'È', 'Ê', 'Ë':
		return 'e'
	case 'í', 'ì', 'î', 'ï', 'Í', 'Ì', 'Î', 'Ï':
		return 'i'
	case 'ñ', 'Ñ':
		return 'n'
	case 'ó', 'ò', 'ô', 'ö', 'õ', 'ø', 'Ó', 'Ò', 'Ô', 'Ö', 'Õ', 'Ø':
		return 'o'
	case 'ú', 'ù', 'û', 'ü', 'Ú', 'Ù', 'Û', 'Ü':
		return 'u'
	case 'ý', 'ÿ', 'Ý':
		return 'y'
	case 'œ', 'Œ':
		return 'o' // "sœur" folds to "sor": no keyword needs better
	case '’', 'ʼ':
		return '\''
	case '°', 'º':
		return 'o' // "n°" folds to "no"
	case '\u00a0', '\u202f', '\u2009':
		return ' '
	}
	if unicode.IsSpace(r) {
		return ' '
	}
	return '?'
}

// foldWord lower-cases and strips accents from one word for gazetteer
// lookups; the result aliases buf.
func foldWord(buf *[64]byte, w string) []byte {
	if len(w) > len(buf) {
		return nil
	}
	return fold(buf[:0], w)
}

// boundary reports whether i does not cut a valid UTF-8 sequence of s in
// two. Invalid bytes count as one-byte runes, as range loops do.
func boundary(s string, i int) bool {
	if i <= 0 || i >= len(s) || utf8.RuneStart(s[i]) {
		return true
	}
	k := i - 1
	for k > 0 && k > i-utf8.UTFMax && !utf8.RuneStart(s[k]) {
		k--
	}
	_, size := utf8.DecodeRuneInString(s[k:])
	return k+size <= i
}

// placeholderBefore reports whether text[:i] ends with a placeholder
// written by Anonymize: '<', capitals and underscores, optional lower-case
// hex, '>'.
func placeholderBefore(text string, i int) bool {
	k := i - 1 // at '>'
	for k > 0 && (isDigit(text[k-1]) || (text[k-1] >= 'a' && text[k-1] <= 'f')) {
		k--
	}
	n := 0
	for k > 0 && (isUpper(text[k-1]) || text[k-1] == '_') {
		k--
		n++
	}
	return n > 0 && k > 0 && text[k-1] == '<'
}
