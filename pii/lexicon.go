package pii

import (
	"bufio"
	"embed"
	"strings"
	"unicode/utf8"
)

//go:embed data/first_names.txt data/surnames.txt
var dataFS embed.FS

// Word flags in the lexicon. One map lookup per capitalised word tells
// everything the name and address rules need about it.
const (
	wFirst    uint32 = 1 << iota // frequent first name
	wLast                        // frequent surname
	wAmbig                       // first name that is also a common word
	wStop                        // capitalised word that is never a name
	wTitle                       // Madame, Mr, Dr…
	wGreet                       // Bonjour, Hello, Dear…
	wClose                       // Cordialement, Regards…
	wIntro                       // last word of "je m'appelle", "my name is"…
	wWeak                        // weak introduction: "je suis", "I am", "c'est"
	wMonthEN                     // January…
	wMonthFR                     // janvier…
	wStreetFR                    // rue, avenue… (before the name)
	wStreetEN                    // Street, Road… (after the name)
	wUnit                        // Apt, Suite, bât…
	wParticle                    // de, du, van, von… inside names
	wState                       // US state code
)

// lexicon maps folded words (lower case, no accents) to their flags.
var lexicon = map[string]uint32{}

func addWords(flag uint32, words string) {
	for _, w := range strings.Fields(words) {
		lexicon[w] |= flag
	}
}

func init() {
	for _, f := range []struct {
		name string
		flag uint32
	}{{"data/first_names.txt", wFirst}, {"data/surnames.txt", wLast}} {
		file, err := dataFS.Open(f.name)
		if err != nil {
			panic(err) // embedded: cannot happen
		}
		sc := bufio.NewScanner(file)
		var buf [64]byte
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' {
				continue
			}
			// Compound surnames ("Le Gall") count by their last word.
			if k := strings.LastIndexByte(line, ' '); k >= 0 {
				line = line[k+1:]
			}
			lexicon[string(foldWord(&buf, line))] |= f.flag
			// Also the parts of compound first names.
			for _, part := range strings.Split(line, "-") {
				if part != line {
					lexicon[string(foldWord(&buf, part))] |= f.flag
				}
			}
		}
		file.Close()
	}
	addWords(wFirst, `rose grace hope joy faith will may june april mark bill art guy max don pat sue`)
	addWords(wAmbig, `rose grace hope joy faith will may june april august mark bill art guy max don pat sue
		pierre marine claire ambre lou jade camille dominique noel rene paris china georgia virginia
		long young king white green black brown gray grey rice hunt ward bell cook wood stone fox price
		holmes hill hall mills rose reed west cole ford marshall porter mason shaw hunter palmer
		petit blanc roux brun roy rey gay lamy joly baron breton cousin germain masson marchand
		leger lucas louis martin bernard thomas richard robert michel simon vincent david paul jean
		sam ben tom tim li le lee kim long chen wang ali adam henry jordan`)
	addWords(wStop, `je j il elle on nous vous ils elles le la les l un une des du de d mon ma mes ton ta tes
		son sa ses notre nos votre vos leur leurs ce cet cette ces ca cela ceci merci oui non ok okay
		bonjour bonsoir salut coucou hello hi hey dear cher chere cordialement regards thanks thank
		cheers sincerely best kind warm madame monsieur mademoiselle mme mlle mr mrs ms miss sir madam
		dr docteur pr professeur maitre me m et mais ou donc or ni car si avec sans pour par sur sous
		dans en au aux a apres avant depuis hier aujourd demain quand comment pourquoi qui que quoi
		quel quelle quels quelles est sont suis etes sommes ai avez avons ont peut pouvez pourriez
		pouvons voici voila y il est c service client clients support equipe team sav commande colis
		facture numero carte compte adresse livraison paiement remboursement produit article
		i i'm im we you he she it they the a an my your our his her its their this that these those
		please yes no can could would should will shall is are was were be been what when where why
		how who which if and but or so also just today tomorrow yesterday now then there here all
		everyone everybody anyone guys folks customer customers account order orders card delivery
		refund payment invoice package parcel product item number address email phone mobile
		lundi mardi mercredi jeudi vendredi samedi dimanche monday tuesday wednesday thursday friday
		saturday sunday janvier fevrier mars avril mai juin juillet aout septembre octobre novembre
		decembre january february march april may june july august september october november december
		france paris lyon marseille london england uk usa us europe english french anglais francais
		internet google apple amazon microsoft paypal visa mastercard iban bic rib siret siren tva
		cdiscount fnac darty orange sfr bouyges free la poste chronopost colissimo dhl ups fedex
		urgent important attention info note objet subject re fwd tel fax mail
		bien bonne bon tres super parfait genial desole pardon excusez sorry thx ty nope
		rue avenue boulevard place chemin allee impasse quai route street road lane drive
		cedex bp cs apt suite appt bat etage
		signe signed envoye sent from de la part justice clerk advocate general president juge greffier
		court cour tribunal gouvernement government ministere ministry commission office
		chief chancellor secretary minister ministre prefet maire mayor`)
	addWords(wTitle, `m mr mrs ms miss mme mmes mlle mademoiselle madame monsieur messieurs dr docteur doctor
		pr prof professeur professor maitre me sir madam lady lord rev`)
	addWords(wGreet, `bonjour bonsoir salut coucou hello hi hey dear cher chere greetings allo`)
	addWords(wClose, `cordialement regards thanks thank merci cheers sincerely salutations amicalement bisous
		bises respectueusement best wishes yours love`)
	addWords(wIntro, `appelle appele appelles name nom prenom is est signe signed nee
		firstname lastname surname forename
		nomme nommee denomme denommee prenomme prenommee surnomme named called
		mari femme epouse epoux fils fille fiance fiancee compagnon compagne frere soeur
		mere pere conjoint conjointe voisin voisine collegue conseiller conseillere
		husband wife son daughter brother sister mother father partner boyfriend girlfriend
		colleague neighbour neighbor fiance
		inspecteur inspectrice sergent capitaine commissaire lieutenant brigadier agent
		officer detective sergeant captain constable`)
	addWords(wWeak, `suis am m ici c this`)
	addWords(wMonthEN, `january february march april may june july august september october november december
		jan feb mar apr jun jul aug sep sept oct nov dec`)
	addWords(wMonthFR, `janvier fevrier mars avril mai juin juillet aout septembre octobre novembre decembre
		janv fevr avr juil sept oct nov dec`)
	addWords(wStreetFR, `rue avenue av boulevard bd bld place pl chemin allee impasse imp quai route rte cours
		square sq passage voie residence lotissement hameau sentier villa cite esplanade promenade
		faubourg fbg parvis rond-point domaine lieu-dit montee traverse ruelle carrefour mail clos
		za zi zac`)
	addWords(wStreetEN, `street st road rd avenue ave lane ln drive dr boulevard blvd court ct way place pl
		terrace close crescent square sq parkway pkwy highway hwy row gardens grove hill mews walk
		circle cir trail park alley`)
	addWords(wUnit, `apt apartment suite unit flat appt appartement bat batiment etage escalier porte
		floor building bldg`)
	addWords(wParticle, `de du des la le van von der den da di del della dos das bin ben al el ter`)
	defer buildTable()
	addWords(wState, `al ak az ar ca co ct de fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj
		nm ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy dc`)
}

// lexTable is lexicon in a wordTable, for lookups.
var lexTable wordTable[uint32]

// buildTable runs at the end of init, once lexicon is complete.
func buildTable() {
	lexTable = newWordTable(lexicon)
	for w, f := range lexicon {
		if f&wStreetEN != 0 {
			streetENFilter[firstIdx(w[0])*27+firstIdx(w[len(w)-1])] |= 1 << len(w)
		}
	}
}

// lookup returns the lexicon flags of word w, folding and hashing it in
// one pass without allocating.
func lookup(w string) uint32 {
	var buf [48]byte
	k, h, ok := foldHash(&buf, w)
	if !ok {
		return 0
	}
	v, _ := lexTable.getHash(k, h)
	return v
}

// foldHash folds w like fold into buf and returns it with its FNV-1a
// hash; ok is false when w is empty or too long for buf.
func foldHash(buf *[48]byte, w string) (k []byte, h uint32, ok bool) {
	if len(w) == 0 || len(w) > len(buf) {
		return nil, 0, false
	}
	n := 0
	h = 2166136261
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			c |= lowerBit[c]
			i++
		} else {
			r, sz := utf8.DecodeRuneInString(w[i:])
			c = foldRune(r)
			i += sz
		}
		buf[n] = c
		n++
		h = (h ^ uint32(c)) * 16777619
	}
	return buf[:n], h, true
}
