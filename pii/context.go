package pii

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Context keywords raise (or, for references, lower) the score of a
// candidate when they occur in the few words before it. Each list is a
// bit; ctxIndex maps the last word of every keyword phrase to the phrases
// ending with it, so that the window before a candidate is folded and cut
// into words once, and each word costs one map lookup, whatever the number
// of lists.
type ctxBit uint32

const (
	kwEmail ctxBit = 1 << iota
	kwURL
	kwIP
	kwPhone
	kwPhoneStrict // names a phone number outright, for numbers no plan validates
	kwCard
	kwNIR
	kwSIREN
	kwTVA
	kwPassport
	kwIDCard
	kwPlate
	kwBirth
	kwVersion
	kwPostcode
	kwAddress
	kwIBAN
	kwNotPII // a reference, not personal data: "commande", "order", "n°"
)

var ctxLists = []struct {
	bit   ctxBit
	words string // phrases separated by commas, folded (lower case, no accents)
}{
	{kwEmail, "email, e-mail, mail, courriel, adresse electronique, adresse mail"},
	{kwURL, "site, lien, link, url, page, website"},
	{kwIP, "ip, ipv4, ipv6, adresse ip, ip address, address, adresse, serveur, server"},
	{kwPhone, "tel, telephone, phone, portable, mobile, cell, appeler, appelez, rappeler, rappelez, joindre, numero, number, fax, whatsapp, sms, call, contact, joignable, reach"},
	{kwPhoneStrict, "tel, telephone, phone, portable, mobile, cell, appeler, appelez, call, fax, whatsapp, sms, joindre, reach me, joignable"},
	{kwCard, "carte, card, cb, visa, mastercard, amex, credit, debit, paiement, payment, bancaire"},
	{kwNIR, "securite sociale, secu, nir, insee, carte vitale, social security, numero ss, n ss, no ss"},
	{kwSIREN, "siren, siret, rcs, entreprise, societe, company, immatriculee, immatriculation, sas, sarl, eurl, sa, auto-entrepreneur, micro-entreprise, kbis"},
	{kwTVA, "tva, vat, intracommunautaire, intra-communautaire"},
	{kwPassport, "passeport, passport"},
	{kwIDCard, "carte d'identite, carte nationale d'identite, cni, piece d'identite, identity card, id card, national id"},
	{kwPlate, "immatriculation, immatriculee, immatricule, immat, plaque, vehicule, voiture, auto, moto, license plate, licence plate, registration, car, plate"},
	{kwBirth, "ne le, nee le, ne(e) le, ne en, nee en, naissance, nee, date of birth, birth date, birthdate, date de naiss, born, dob, d.o.b, birthday, anniversaire, ddn"},
	{kwVersion, "version, v, build, firmware, release, mise a jour, maj, update, patch, upgrade, logiciel, software, app"},
	{kwPostcode, "code postal, cp, postcode, post code, zip, zip code"},
	{kwAddress, "address, adresse"},
	{kwIBAN, "iban, rib, bic, virement, transfer, compte, account, bank, banque"},
	{kwNotPII, "commande, order, no, n, num, ref, reference, suivi, tracking, colis, parcel, facture, invoice, ticket, dossier, case, transaction, version, build, article, sku, code produit, lot, serie, serial, montant, prix, total, eur, euros, usd, price, amount, page, chapitre"},
}

// ctxPhrase is a keyword phrase indexed by its last word; prev holds the
// words before it, last first.
type ctxPhrase struct {
	prev []string
	bits ctxBit
}

var (
	ctxIndex = map[string][]ctxPhrase{}
	ctxTable wordTable[[]ctxPhrase]
)

func init() {
	defer func() {
		ctxTable = newWordTable(ctxIndex)
		for w := range ctxIndex {
			// Folded lengths can be shorter than the text's (é is two bytes):
			// mark every length up to twice the folded one.
			for l := len(w); l <= 2*len(w) && l < 64; l++ {
				ctxFilter[firstIdx(w[0])*27+firstIdx(w[len(w)-1])] |= 1 << l
			}
		}
	}()
	for _, l := range ctxLists {
		for _, ph := range strings.Split(l.words, ",") {
			words := strings.FieldsFunc(ph, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
			})
			if len(words) == 0 {
				continue
			}
			last := words[len(words)-1]
			var prev []string
			for k := len(words) - 2; k >= 0; k-- {
				prev = append(prev, words[k])
			}
			list := ctxIndex[last]
			merged := false
			for n := range list {
				if strings.Join(list[n].prev, " ") == strings.Join(prev, " ") {
					list[n].bits |= l.bit
					merged = true
				}
			}
			if !merged {
				list = append(list, ctxPhrase{prev: prev, bits: l.bit})
			}
			ctxIndex[last] = list
		}
	}
}

// ctxWindow is the analysed window before one position: which lists
// matched, and how far before the position each match starts.
type ctxWindow struct {
	pos  int // position the window ends at; -1 when empty
	n    int
	bits [12]ctxBit
	dist [12]int32
}

const ctxSpan = 40 // bytes of context looked at before a candidate

// ctxFilter has, for each (first, last) folded letter pair, a bit per
// length of the last words of keyword phrases: it rejects most window
// words before any hashing.
var ctxFilter [27 * 27]uint64

func firstIdx(c byte) int { return int(letterIdx[c]) }

// letterIdx maps a byte to 0–25 for ASCII letters (either case), 26
// otherwise.
var letterIdx = func() (t [256]uint8) {
	for c := range t {
		t[c] = 26
		if c >= 'a' && c <= 'z' {
			t[c] = uint8(c - 'a')
		} else if c >= 'A' && c <= 'Z' {
			t[c] = uint8(c - 'A')
		}
	}
	return t
}()

// analyse cuts the ctxSpan bytes before i into words and records every
// keyword phrase found. Words are folded only when they pass ctxFirst.
func (w *ctxWindow) analyse(t string, i int) {
	w.pos, w.n = i, 0
	a := i - ctxSpan
	if a < 0 {
		a = 0
	}
	for a < i && t[a]&0xC0 == 0x80 {
		a++
	}
	// A word cut by the window's edge is noise: skip it.
	if a > 0 {
		for a < i && t[a] < utf8.RuneSelf && (isAlnum(t[a]) || t[a] == '_') && (isAlnum(t[a-1]) || t[a-1] == '_') {
			a++
		}
	}
	// Word bounds live on the stack of this call only, so that a scan
	// (one per message) does not zero them.
	var words [24][2]int32
	nw := 0
	for k := a; k < i && nw < len(words); {
		c := t[k]
		if c < utf8.RuneSelf && !isAlnum(c) && c != '_' {
			if c == '#' && w.n < len(w.bits) {
				w.bits[w.n], w.dist[w.n] = kwNotPII, int32(i-k)
				w.n++
			}
			k++
			continue
		}
		e := k
		for e < i {
			c := t[e]
			if c < utf8.RuneSelf {
				// '_' keeps placeholders such as <PHONE_NUMBER> one word, so
				// that they never read as the keyword "phone".
				if !isAlnum(c) && c != '_' {
					break
				}
				e++
				continue
			}
			r, sz := utf8.DecodeRuneInString(t[e:])
			if !unicode.IsLetter(r) {
				break
			}
			e += sz
		}
		if e == k { // a non-letter rune
			_, sz := utf8.DecodeRuneInString(t[k:])
			k += sz
			continue
		}
		words[nw] = [2]int32{int32(k - a), int32(e - a)}
		nw++
		k = e
	}
	var buf [48]byte
	for p := 0; p < nw; p++ {
		ws, we := a+int(words[p][0]), a+int(words[p][1])
		if l := we - ws; l > 63 || ctxFilter[firstIdx(t[ws])*27+firstIdx(t[we-1])]&(1<<l) == 0 {
			if t[ws] < utf8.RuneSelf && t[we-1] < utf8.RuneSelf { // non-ASCII edges always go on
				continue
			}
		}
		key, h, ok := foldHash(&buf, t[ws:we])
		if !ok {
			continue
		}
		list, ok := ctxTable.getHash(key, h)
		if !ok {
			continue
		}
	phrases:
		for _, ph := range list {
			if len(ph.prev) > p {
				continue
			}
			for q, pw := range ph.prev {
				ob := words[p-1-q]
				if !foldEqual(t[a+int(ob[0]):a+int(ob[1])], pw) {
					continue phrases
				}
			}
			if w.n < len(w.bits) {
				w.bits[w.n] = ph.bits
				w.dist[w.n] = int32(i - a - int(words[p-len(ph.prev)][0]))
				w.n++
			}
		}
	}
}

// foldEqual reports whether s folds to key.
func foldEqual(s, key string) bool {
	var buf [48]byte
	k, _, ok := foldHash(&buf, s)
	return ok && string(k) == key
}

// ctx reports whether a keyword of the lists in bits occurs in the ctxSpan
// bytes before i.
func (s *scan) ctx(i int, bits ctxBit) bool { return s.ctxNear(i, ctxSpan, bits) }

// ctxNear reports whether a keyword of the lists in bits starts in the n
// bytes before i (n ≤ ctxSpan).
func (s *scan) ctxNear(i, n int, bits ctxBit) bool {
	w := &s.win
	if w.pos != i {
		w.analyse(s.t, i)
	}
	for k := 0; k < w.n; k++ {
		if w.bits[k]&bits != 0 && int(w.dist[k]) <= n {
			return true
		}
	}
	return false
}
