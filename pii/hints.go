package pii

import "unicode/utf8"

// SpecialHints reports which special categories of data (GDPR Art. 9) the
// words of text hint at. It is deliberately a word list: a hint asks a
// human or a stricter rule to look, it does not prove anything, and a
// list is auditable. Words are matched whole, folded (lower case, no
// accents), in French and English.
func SpecialHints(text string) Special {
	var f Special
	var buf [48]byte
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf && !isAlpha(c) {
			i++
			continue
		}
		e := i
		for e < len(text) && isAlpha(text[e]) {
			e++
		}
		if e == i || (e < len(text) && text[e] >= utf8.RuneSelf) {
			ok, n := letterAt(text, i)
			if !ok {
				i += n
				continue
			}
			e = wordEnd(text, i)
		}
		// Most words fail the (first letter, last letter, length) filter
		// and are never folded nor hashed.
		if l := e - i; l >= 3 && l <= 40 && specialMaybe(c, text[e-1], l) {
			if k, h, ok := foldHash(&buf, text[i:e]); ok {
				v, _ := specialTable.getHash(k, h)
				f |= v
			}
		}
		i = e
	}
	return f
}

// specialMaybe is the filter; every special word has at least three
// letters, so the commonest short words never reach it.
func specialMaybe(first, last byte, l int) bool {
	if first >= utf8.RuneSelf || last >= utf8.RuneSelf {
		return true
	}
	return specialFilter[firstIdx(first)*27+firstIdx(last)]&(1<<l) != 0
}

// specialMaybe2 adds the second letter: (first, second) pairs are rarer
// than first letters, so most words that pass specialMaybe stop here.
func specialMaybe2(w string) bool {
	l := len(w)
	if !specialMaybe(w[0], w[l-1], l) {
		return false
	}
	if w[1] >= utf8.RuneSelf {
		return true
	}
	return specialSecond[firstIdx(w[0])*27+firstIdx(w[1])]&(1<<l) != 0
}

var (
	specialTable  wordTable[Special]
	specialFilter [27 * 27]uint64
	specialSecond [27 * 27]uint64
)

var specialWords = map[string]Special{}

func init() {
	add := func(f Special, words string) {
		for w := range setOf(collapse(words)) {
			specialWords[w] |= f
		}
	}
	add(Health, `sante malade maladie maladies malades diabete diabetique cancer cancers tumeur chimio
		chimiotherapie hopital hospitalise hospitalisee hospitalisation medecin medecins docteur
		ordonnance traitement medicament medicaments enceinte grossesse depression depressif
		depressive handicap handicape handicapee invalidite vih sida seropositif seropositive
		allergie allergique asthme epilepsie alzheimer parkinson autisme autiste psychiatre
		psychiatrique therapie arret maladie chirurgie operation insuline avc infarctus covid
		health illness sick disease diabetes diabetic tumour tumor chemo chemotherapy hospital
		hospitalized hospitalised doctor prescription medication medicine pregnant pregnancy
		depressed disability disabled hiv aids allergy allergic asthma epilepsy psychiatrist
		therapy surgery insulin stroke`)
	add(Religion, `religion religieux religieuse musulman musulmane musulmans islam islamique mosquee
		chretien chretienne catholique protestant protestante eglise juif juive juifs judaisme
		synagogue bouddhiste bouddhisme hindou hindouisme sikh athee ramadan halal casher kasher
		careme priere pretre imam rabbin
		religious muslim muslims islamic mosque christian catholic protestant church jew jewish
		judaism buddhist buddhism hindu atheist kosher prayer priest rabbi`)
	add(PoliticalOpinion, `politique politiques militant militante electeur electrice
		socialiste communiste ecologiste republicain republicaine gaulliste anarchiste
		manifestation manifestant
		political politics activist voter leftist socialist communist republican democrat
		democrats conservative liberal labour tory protest`)
	add(SexualOrientation, `gay gays lesbienne lesbiennes homosexuel homosexuelle bisexuel bisexuelle
		lgbt lgbtq lgbtqia queer transgenre pacse
		lesbian lesbians homosexual bisexual transgender`)
	defer func() {
		specialTable = newWordTable(specialWords)
		for w := range specialWords {
			for l := len(w); l <= 2*len(w) && l < 64; l++ {
				specialFilter[firstIdx(w[0])*27+firstIdx(w[len(w)-1])] |= 1 << l
				specialSecond[firstIdx(w[0])*27+firstIdx(w[1])] |= 1 << l
			}
		}
	}()
	add(UnionMembership, `syndicat syndicats syndique syndiquee syndical syndicale cgt cfdt cftc
		cfe cgc unsa sud
		unionized unionised syndicalist`)
}

// collapse turns white space runs into single spaces for setOf.
func collapse(s string) string {
	b := make([]byte, 0, len(s))
	sp := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\n' || c == '\t' {
			if !sp {
				b = append(b, ' ')
			}
			sp = true
			continue
		}
		sp = false
		b = append(b, c)
	}
	return string(b)
}
