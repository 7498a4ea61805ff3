package pii

import (
	"net/netip"
	"strings"
)

// builtin is the recognizer for every type garde knows, in a single pass.
//
// Why hand-written: running one regular expression per type means ten or
// more passes, each at the 1–3 MB/s Go's regexp reaches on such patterns,
// and most of the text is ordinary words. Here one loop classifies each
// byte with a table and stops only where something could start: a digit
// run, a '+', an '@', a "://", a colon in a hex run, an upper-case letter.
// Each trigger validates a small window (checksums, lengths, context
// words), and then the loop skips past what it has consumed, so each byte
// is looked at a small constant number of times.
type builtin struct {
	fr, en bool
	want   func(entityType string) bool
}

// Recognize implements Recognizer.
func (b *builtin) Recognize(dst []Entity, text string) []Entity {
	dst, _ = b.recognize(dst, text, false)
	return dst
}

// recognize also collects special-category hints (see SpecialHints) when
// hints is set, from the words the pass walks anyway.
func (b *builtin) recognize(dst []Entity, text string, hints bool) ([]Entity, Special) {
	s := scan{b: b, t: text, out: dst, hints: hints}
	s.win.pos, s.lastEnd = -1, -1
	s.run()
	return s.out, s.special
}

// hint checks one word for special-category hints.
func (s *scan) hint(i, e int) {
	if l := e - i; l >= 3 && l <= 40 && specialMaybe(s.t[i], s.t[e-1], l) {
		var buf [48]byte
		if k, h, ok := foldHash(&buf, s.t[i:e]); ok {
			v, _ := specialTable.getHash(k, h)
			s.special |= v
		}
	}
}

// scan is the state of one pass over one text; it lives on the stack of
// recognize.
type scan struct {
	b   *builtin
	t   string
	out []Entity
	win ctxWindow // context before the last candidate, computed once
	// phoneStart is where the current digit run's phone number would start
	// (at its opening parenthesis, if any).
	phoneStart int
	lastEnd    int // end of the last entity emitted, or -1
	hints      bool
	special    Special
	// chunkStart and chunkEnd bound the last chunk analysed.
	chunkStart, chunkEnd int
}

// longChunk is the length beyond which a chunk is analysed only once.
const longChunk = 256

// emit records an entity if its type is wanted and its edges are word
// boundaries.
func (s *scan) emit(typ string, start, end int, score float64) {
	if !s.b.want(typ) {
		return
	}
	// An entity glued to a letter or digit is part of a longer token;
	// after anonymisation its neighbour would become a placeholder and the
	// entity would appear. Addresses and URLs check their own edges.
	if typ != EmailAddress && typ != URL && (!s.startsWord(start) || wordCharAt(s.t, end)) {
		// A '+' or '(' opening a phone number delimits it on the left:
		// only a digit before it ("45+31…") makes it part of a formula.
		glued := wordCharAt(s.t, end) || start == 0 || isDigit(s.t[start-1]) || (s.t[start] != '+' && s.t[start] != '(')
		if typ != PhoneNumber || glued {
			return
		}
	}
	if score > 1 {
		score = 1
	}
	s.lastEnd = end
	s.out = append(s.out, Entity{Type: typ, Start: start, End: end, Score: score})
}

// run walks the text: white space and punctuation byte by byte, anything
// else through token, which returns where to go on.
func (s *scan) run() {
	t := s.t
	for i := 0; i < len(t); {
		c := t[i]
		if c < 0x80 {
			cl := class[c]
			if cl&cSpace != 0 {
				i++
				continue
			}
			if cl&cPunct != 0 && c != '+' && c != '(' && c != '<' && c != ':' {
				i++
				continue
			}
		}
		next := s.token(i)
		if next <= i {
			next = i + 1
		}
		i = next
	}
}

// Chunk flags.
const (
	fAt = 1 << iota
	fColon
	fDot
)

// chunk returns the end of the run of characters that can belong to one
// e-mail address, URL or IP address, and what it contains.
func chunk(t string, i int) (end int, flags int) {
	for end = i; end < len(t); end++ {
		switch t[end] {
		case ' ', '\t', '\n', '\r', '<', '>', '"', '(', ')', ',', ';', '{', '}', '|', '\\', '`':
			return end, flags
		case '@':
			flags |= fAt
		case ':':
			flags |= fColon
		case '.':
			flags |= fDot
		case 0xC2:
			if end+1 < len(t) && t[end+1] == 0xA0 {
				return end, flags
			}
		}
	}
	return end, flags
}

// token handles a token starting at i and returns the position after
// what it consumed.
func (s *scan) token(i int) int {
	t := s.t
	c := t[i]
	// Fast path for the common case, a plain ASCII word followed by a space
	// or a comma: it cannot hold an address, a URL or an IP.
	if isAlpha(c) {
		j := i + 1
		for j < len(t) && isAlpha(t[j]) {
			j++
		}
		// A word ending a sentence ("commande.") is plain too.
		if j == len(t) || class[t[j]]&cWordEnd != 0 || t[j] == '.' && (j+1 == len(t) || class[t[j+1]]&cSpace != 0) {
			if s.hints && j-i >= 3 && j-i <= 40 && specialMaybe2(t[i:j]) {
				s.hint(i, j)
			}
			if isUpper(c) {
				return s.capital(i)
			}
			return j
		}
	}
	// Digits not followed by '@', ':', a letter or ".letter" cannot start
	// an address, a URL or an IPv6 address: straight to the number rules.
	if isDigit(c) {
		j := i + 1
		for j < len(t) && isDigit(t[j]) && j-i < 64 {
			j++
		}
		if j == len(t) || j-i >= 64 || !(t[j] == '@' || t[j] == ':' || isAlpha(t[j]) || t[j] == '.' && j+1 < len(t) && isAlpha(t[j+1])) {
			return s.number(i)
		}
	}
	// A chunk is analysed from its start; a token inside a long chunk
	// analysed already (base64, minified data, runs of dots) is not
	// analysed again, which would make the pass quadratic.
	var end, flags int
	if i < s.chunkEnd && s.chunkEnd-s.chunkStart > longChunk {
		end = s.chunkEnd
	} else {
		end, flags = chunk(t, i)
		s.chunkStart, s.chunkEnd = i, end
	}
	// E-mail addresses and URLs are taken only when they start at this
	// token; one starting further in the chunk ("0::!http://…") waits for
	// the loop to reach it, so that what comes before is scanned first, as
	// it will be once the address is replaced by a placeholder.
	later := 0 // where an address starting further in begins
	if flags&fAt != 0 {
		j := s.email(i, end)
		if j > 0 {
			return j
		}
		later = -j
	}
	if flags&(fColon|fDot) != 0 {
		j := s.url(i, end, flags)
		if j > 0 {
			return j
		}
		if j < 0 && (later == 0 || -j < later) {
			later = -j
		}
		if flags&fAt != 0 && later == 0 {
			return end // a broken address: no part of it is another entity
		}
		if flags&fColon != 0 && (class[c]&cHex != 0 || c == ':') {
			if j := s.ipv6(i, end); j != 0 {
				if j < 0 {
					return -j // a hex-and-colon run that is no address: skip it
				}
				return j
			}
		}
	}
	switch {
	case isDigit(c):
		return s.number(i)
	case c == '+' && i+1 < len(t) && isDigit(t[i+1]):
		// Glued to a word ("45+31…") it is no phone number, which emit
		// checks; the digits are consumed either way.
		return s.number(i)
	case c == '(' && i+1 < len(t) && isDigit(t[i+1]):
		return s.number(i)
	case c == '(' && i+2 < len(t) && t[i+1] == '+' && isDigit(t[i+2]):
		return s.number(i)
	case c == '+' && i+2 < len(t) && t[i+1] == ' ' && isDigit(t[i+2]):
		return s.number(i)
	case c == '<':
		return placeholderEnd(t, i)
	case c < 0x80 && !isAlpha(c):
		return i + 1
	}
	if s.hints {
		if we := wordEnd(t, i); we > i {
			s.hint(i, we)
		}
	}
	if upperAt(t, i) {
		return s.capital(i)
	}
	// An IBAN typed in lower case: "fr76 3000 …".
	if i+3 < len(t) && isLower(c) && isLower(t[i+1]) && isDigit(t[i+2]) && isDigit(t[i+3]) {
		if j := s.iban(i); j > 0 {
			return j
		}
	}
	// Lower-case word: skip it and any digits glued to it ("v1", "x86"),
	// but not into an address that starts inside ("地址test@test.com").
	j := wordEnd(t, i)
	for j < len(t) && isAlnum(t[j]) {
		j++
	}
	if later > i && j > later {
		j = later
	}
	if j == i {
		_, n := letterAt(t, i)
		return i + n
	}
	return j
}

// startsWord reports whether a token may start at i: after a non-word
// character, or right where the previous entity ended (its placeholder
// will be a boundary once anonymised).
func (s *scan) startsWord(i int) bool {
	return !wordCharBefore(s.t, i) || s.lastEnd == i
}

// placeholderEnd skips tokens written by Anonymize ("<EMAIL_ADDRESS>",
// "<PHONE_NUMBER_3f9a…>") so that scanning anonymised text finds nothing in
// them.
func placeholderEnd(t string, i int) int {
	j := i + 1
	for j < len(t) && (isUpper(t[j]) || t[j] == '_') {
		j++
	}
	if j == i+1 {
		return i + 1
	}
	for j < len(t) && (isDigit(t[j]) || (t[j] >= 'a' && t[j] <= 'f')) {
		j++
	}
	if j < len(t) && t[j] == '>' {
		return j + 1
	}
	return i + 1
}

// email validates an address around the first '@' in t[i:end] (or returns
// minus its start when it starts after i): a local part
// of letters, digits and ._%+- not starting or ending with a dot, nor with
// two dots in a row; a host of at least two labels of letters, digits and
// hyphens with an alphabetic top-level label, or an IP literal in brackets.
func (s *scan) email(i, end int) int {
	t := s.t
	at := i
	for at < end && t[at] != '@' {
		at++
	}
	ls := at
	for ls > i && class[t[ls-1]]&cEmailLocal != 0 {
		ls--
	}
	if ls > i && ls < at {
		return -ls // starts further in: see token
	}
	if ls == at || at-ls > 64 || t[ls] == '.' || t[at-1] == '.' {
		return 0
	}
	for k := ls + 1; k < at; k++ {
		if t[k] == '.' && t[k-1] == '.' {
			return 0
		}
	}
	// Host.
	h := at + 1
	var he int
	if h < end && t[h] == '[' {
		k := h + 1
		for k < end && t[k] != ']' {
			k++
		}
		if k >= end {
			return 0
		}
		if a, err := netip.ParseAddr(t[h+1 : k]); err != nil || !a.Is4() {
			return 0
		}
		he = k + 1
	} else {
		he = h
		for he < end && class[t[he]]&cHost != 0 {
			he++
		}
		for he > h && (t[he-1] == '.' || t[he-1] == '-') {
			he--
		}
		if he < end && (t[he] == '_' || t[he] == '@') {
			return 0
		}
		if !hostOK(t[h:he], false) {
			return 0
		}
	}
	score := 0.95
	if s.ctx(ls, kwEmail) {
		score = 1
	}
	s.emit(EmailAddress, ls, he, score)
	return he
}

// hostOK checks a host name: at least two non-empty labels, the last made
// of letters only and at least two long. loose accepts hyphens at label
// edges, which browsers do.
func hostOK(h string, loose bool) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	labels, start := 0, 0
	for k := 0; k <= len(h); k++ {
		if k < len(h) && h[k] != '.' {
			continue
		}
		l := h[start:k]
		if len(l) == 0 || len(l) > 63 {
			return false
		}
		if !loose && (l[0] == '-' || l[len(l)-1] == '-') {
			return false
		}
		labels++
		if k == len(h) {
			if len(l) < 2 {
				return false
			}
			for j := 0; j < len(l); j++ {
				if !isAlpha(l[j]) {
					return false
				}
			}
		}
		start = k + 1
	}
	return labels >= 2
}

// url finds a URL starting at t[i:end] (or returns minus the start of a
// scheme URL starting further in): a scheme (http, https, ftp, ws…)
// and "://", or "www.", or a bare host whose top-level label is a common
// TLD ("example.fr/contact"). The host is checked, then the path runs to
// the end of the chunk less trailing punctuation.
func (s *scan) url(i, end, flags int) int {
	t := s.t
	start, h := -1, -1
	score := 0.0
	if flags&fColon != 0 {
		for k := i; k+3 <= end; k++ {
			if t[k] == ':' && t[k+1] == '/' && t[k+2] == '/' {
				a := k
				for a > i && isAlpha(t[a-1]) {
					a--
				}
				if isAnyFold(t[a:k], "http", "https", "ftp", "ftps", "sftp", "ws", "wss") {
					if a > i {
						return -a // starts further in: see token
					}
					start, h, score = a, k+3, 0.95
				}
				break
			}
		}
	}
	if start < 0 && wordCharBefore(t, i) && !s.startsWord(i) {
		return 0 // a host glued to a longer token is not one
	}
	if start < 0 && end-i > 4 && (t[i] == 'w' || t[i] == 'W') && strings.EqualFold(t[i:i+4], "www.") {
		start, h, score = i, i, 0.85
	}
	bare := false
	if start < 0 {
		if flags&fDot == 0 || !isAlnum(t[i]) || (i > 0 && (t[i-1] == '/' || t[i-1] == ':' || t[i-1] == '@' || t[i-1] == '.')) {
			return 0
		}
		start, h, score, bare = i, i, 0.6, true
	}
	// Host: name, IPv4, localhost or [IPv6].
	he := h
	if he < end && t[he] == '[' {
		for he < end && t[he] != ']' {
			he++
		}
		if he >= end {
			return 0
		}
		if _, err := netip.ParseAddr(t[h+1 : he]); err != nil {
			return 0
		}
		he++
	} else {
		for he < end && class[t[he]]&cHost != 0 {
			he++
		}
		for he > h && t[he-1] == '.' {
			he--
		}
		host := t[h:he]
		switch {
		case bare:
			if !hostOK(host, false) || !commonTLD(host) || (he < end && !isURLStop(t[he])) {
				return 0
			}
		case strings.EqualFold(host, "localhost"):
		case isIPv4(host):
		default:
			if !hostOK(host, true) {
				return 0
			}
		}
	}
	// Port, path, query, fragment.
	e := he
	for e < end && class[t[e]]&cURL != 0 {
		e++
	}
	for e > he {
		switch t[e-1] {
		case '.', ',', ':', ';', '!', '?', '\'', ')', ']':
			e--
			continue
		}
		break
	}
	if s.ctx(start, kwURL) {
		score += 0.1
	}
	s.emit(URL, start, e, score)
	return e
}

func isURLStop(c byte) bool {
	switch c {
	case '/', ':', '?', '#', '.', ',', '!', ';', '\'', ')', ']':
		return true
	}
	return false
}

// isAnyFold reports whether s equals one of words, ignoring ASCII case,
// without allocating.
func isAnyFold(s string, words ...string) bool {
	for _, w := range words {
		if len(s) == len(w) && strings.EqualFold(s, w) {
			return true
		}
	}
	return false
}

// commonTLD reports whether the last label of host is a top-level domain
// common enough that "word.tld" in a chat means a web site; file
// extensions (pdf, jpg, txt…) are deliberately absent.
func commonTLD(host string) bool {
	k := len(host) - 1
	for k >= 0 && host[k] != '.' {
		k--
	}
	var buf [16]byte
	tld := host[k+1:]
	if len(tld) > len(buf) {
		return false
	}
	b := buf[:len(tld)]
	for j := range b {
		b[j] = tld[j] | 0x20
	}
	_, ok := tlds[string(b)]
	return ok
}

var tlds = setOf("com org net edu gov int mil fr uk de eu be ch ca us lu es it nl pt at ie dk se no fi pl cz gr ro hu " +
	"io co ai app dev ly ms si sa au nz jp cn in br ru me tv fm info biz shop store online site tech cloud academy aws " +
	"gouv asso paris bzh re gp mq nc pf yt ma tn dz sn ci cm ")

func setOf(words string) map[string]struct{} {
	m := make(map[string]struct{})
	start := -1
	for k := 0; k <= len(words); k++ {
		if k == len(words) || words[k] == ' ' {
			if start >= 0 {
				m[words[start:k]] = struct{}{}
			}
			start = -1
		} else if start < 0 {
			start = k
		}
	}
	return m
}

func isIPv4(s string) bool {
	// Only digits and dots can be one; checking first spares the error
	// value ParseAddr allocates for every host name.
	for k := 0; k < len(s); k++ {
		if !isDigit(s[k]) && s[k] != '.' {
			return false
		}
	}
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// ipv6 validates a run of hex digits, colons and dots with at least two
// colons as an IPv6 address. Times ("10:30:00") and MAC addresses fail
// the parse. It returns the end of the address, or minus the end of a run
// that looked like one and must be skipped whole, or 0.
func (s *scan) ipv6(i, end int) int {
	t := s.t
	e, colons := i, 0
	for e < end && (class[t[e]]&cHex != 0 || t[e] == ':' || t[e] == '.') {
		if t[e] == ':' {
			colons++
		}
		e++
	}
	if e < end && t[e] != '/' && t[e] != '%' && class[t[e]]&(cPunct) == 0 {
		return 0 // glued to a letter: not an address
	}
	for e > i && t[e-1] == '.' {
		e--
	}
	if colons < 2 {
		return 0
	}
	if e+1 < len(t) && t[e] == '.' && wordCharAt(t, e+1) {
		return 0 // "::.x": a dot joins it to what follows
	}
	if colons < 7 && !strings.Contains(t[i:e], "::") {
		// Fewer than eight groups need "::"; "10:30:00" is a time. Saying
		// so here spares the error value ParseAddr allocates.
		if colons >= 3 {
			return -e
		}
		return 0
	}
	a, err := netip.ParseAddr(t[i:e])
	if err != nil || !a.Is6() || !s.startsWord(i) {
		if colons >= 3 {
			return -e
		}
		return 0
	}
	score := 0.85
	if s.ctx(i, kwIP) {
		score = 1
	}
	s.emit(IPAddress, i, e, score)
	return e
}
