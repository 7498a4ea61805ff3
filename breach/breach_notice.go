package breach

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"
)

// Notice kinds: from the processor to each affected controller
// (Art. 33(2)), from the controller to the supervisory authority
// (Art. 33(3)), and to the people concerned (Art. 34).
const (
	NoticeController = "controller"
	NoticeAuthority  = "authority"
	NoticeSubjects   = "subjects"
)

// NoticeDraft is a generated breach notice, in Markdown. It carries the DPO contact
// from the controller's register.
type NoticeDraft struct {
	Kind     string
	Lang     string
	Title    string
	Markdown string
	Late     bool
}

// noticeText holds a language's wording.
type noticeText map[string]string

var noticeTexts = map[string]noticeText{
	"en": {
		"title.controller":        "Personal data breach: information from your processor",
		"title.authority":         "Notification of a personal data breach to the supervisory authority",
		"title.subjects":          "Important information about your personal data",
		"law.controller":          "Article 33(2) GDPR: the processor informs the controller without undue delay after becoming aware of a breach.",
		"law.authority":           "Article 33 GDPR. Phase of this notification: %s.",
		"phase.initial":           "initial notification (complementary information will follow as it becomes available, Art. 33(4))",
		"phase.complementary":     "complementary notification",
		"ref":                     "Reference",
		"controller":              "Controller",
		"processor":               "Processor",
		"processorName":           "the operator of the garde privacy layer, acting as your processor",
		"dpo":                     "Data protection officer",
		"aware":                   "Awareness of the breach",
		"deadline":                "Deadline to notify the authority (72 hours)",
		"date":                    "Date of this notice",
		"status":                  "Status",
		"h.nature":                "Nature of the breach",
		"h.people":                "People concerned",
		"h.records":               "Personal data records concerned",
		"h.contact":               "Contact point",
		"h.consequences":          "Likely consequences",
		"h.measures":              "Measures taken or proposed",
		"h.severity":              "Severity assessment",
		"h.delay":                 "Reasons for the delay",
		"h.subjects":              "Communication to the people concerned",
		"h.impact":                "What the audit trail shows for your organisation",
		"h.next":                  "What you need to do",
		"nature.confidentiality":  "loss of confidentiality (unauthorised or accidental disclosure of, or access to, personal data)",
		"nature.integrity":        "loss of integrity (unauthorised or accidental alteration of personal data)",
		"nature.availability":     "loss of availability (accidental or unauthorised loss of access to, or destruction of, personal data)",
		"categories.people":       "Categories of people",
		"approx.people":           "Approximate number of people",
		"categories.data":         "Categories of personal data",
		"approx.records":          "Approximate number of records",
		"unknown":                 "not yet known; will be provided in a complementary notification",
		"none":                    "none recorded yet",
		"taken":                   "Measures taken",
		"proposed":                "Measures proposed, including to mitigate possible adverse effects",
		"severity":                "Method of ENISA (SE = DPC × EI + CB): DPC %s (%s), EI %s (%s), CB %s. Score %s: **%s**.",
		"level.low":               "low",
		"level.medium":            "medium",
		"level.high":              "high",
		"level.very_high":         "very high",
		"recommend.authority.yes": "Recommendation: notify the supervisory authority.",
		"recommend.authority.no":  "Recommendation: no notification to the authority; the breach is documented in the register.",
		"recommend.subjects.yes":  "Recommendation: tell the people concerned without undue delay (Art. 34(1)).",
		"recommend.subjects.no":   "Recommendation: telling the people concerned is not required.",
		"sealed":                  "The data was sealed (AES-256-GCM, per-person keys) under keys that stayed safe: it is unintelligible to anyone not authorised (Art. 34(3)(a)).",
		"subjects.planned":        "The people concerned will be informed.",
		"subjects.done":           "The people concerned were informed on %s.",
		"subjects.not":            "The people concerned are not being informed: %s",
		"subjects.open":           "The decision on informing the people concerned has not been taken yet.",
		"impact.line":             "Subjects concerned: %d. Records read: %d. Records written: %d. Denied attempts: %d. Window: %s to %s.",
		"next.controller":         "As controller, assess the risk and, unless the breach is unlikely to result in a risk, notify your supervisory authority (for France, the CNIL) within 72 hours of becoming aware. garde drafts that notification for you: GET /v1/breaches/%s/notices/authority.",
		"s.intro":                 "We are writing to tell you about a security incident that concerns your personal data, what it means for you, and what we are doing about it.",
		"s.what":                  "What happened",
		"s.data":                  "Which information is concerned",
		"s.consequences":          "What this could mean for you",
		"s.doing":                 "What we have done",
		"s.you":                   "What you can do",
		"s.advice":                "Be wary of unexpected messages that mention this incident or ask for passwords or payment details. Change the password of your account if you reuse it elsewhere.",
		"s.contact":               "Who to contact",
		"s.contactline":           "Our data protection officer answers your questions: %s. You may also lodge a complaint with the supervisory authority (in France, the CNIL: www.cnil.fr).",
		"s.when":                  "We became aware of the incident on %s.",
	},
	"fr": {
		"title.controller":        "Violation de données personnelles : information de votre sous-traitant",
		"title.authority":         "Notification d'une violation de données personnelles à l'autorité de contrôle",
		"title.subjects":          "Information importante sur vos données personnelles",
		"law.controller":          "Article 33.2 du RGPD : le sous-traitant notifie au responsable du traitement toute violation dans les meilleurs délais après en avoir pris connaissance.",
		"law.authority":           "Article 33 du RGPD. Nature de cette notification : %s.",
		"phase.initial":           "notification initiale (des informations complémentaires suivront dès qu'elles seront disponibles, art. 33.4)",
		"phase.complementary":     "notification complémentaire",
		"ref":                     "Référence",
		"controller":              "Responsable du traitement",
		"processor":               "Sous-traitant",
		"processorName":           "l'exploitant de la couche de confidentialité garde, votre sous-traitant",
		"dpo":                     "Délégué à la protection des données",
		"aware":                   "Prise de connaissance de la violation",
		"deadline":                "Date limite de notification à l'autorité (72 heures)",
		"date":                    "Date de ce document",
		"status":                  "Statut",
		"h.nature":                "Nature de la violation",
		"h.people":                "Personnes concernées",
		"h.records":               "Enregistrements de données concernés",
		"h.contact":               "Point de contact",
		"h.consequences":          "Conséquences probables",
		"h.measures":              "Mesures prises ou envisagées",
		"h.severity":              "Évaluation de la gravité",
		"h.delay":                 "Motifs du retard",
		"h.subjects":              "Communication aux personnes concernées",
		"h.impact":                "Ce que montre le journal d'audit pour votre organisation",
		"h.next":                  "Ce que vous devez faire",
		"nature.confidentiality":  "perte de confidentialité (divulgation ou accès non autorisé ou accidentel à des données personnelles)",
		"nature.integrity":        "perte d'intégrité (altération non autorisée ou accidentelle de données personnelles)",
		"nature.availability":     "perte de disponibilité (perte d'accès ou destruction accidentelle ou non autorisée de données personnelles)",
		"categories.people":       "Catégories de personnes",
		"approx.people":           "Nombre approximatif de personnes",
		"categories.data":         "Catégories de données personnelles",
		"approx.records":          "Nombre approximatif d'enregistrements",
		"unknown":                 "pas encore connu ; sera communiqué dans une notification complémentaire",
		"none":                    "aucune pour l'instant",
		"taken":                   "Mesures prises",
		"proposed":                "Mesures envisagées, y compris pour atténuer les éventuelles conséquences négatives",
		"severity":                "Méthode de l'ENISA (SE = DPC × EI + CB) : DPC %s (%s), EI %s (%s), CB %s. Score %s : **%s**.",
		"level.low":               "faible",
		"level.medium":            "moyenne",
		"level.high":              "élevée",
		"level.very_high":         "très élevée",
		"recommend.authority.yes": "Recommandation : notifier l'autorité de contrôle.",
		"recommend.authority.no":  "Recommandation : pas de notification à l'autorité ; la violation est documentée dans le registre.",
		"recommend.subjects.yes":  "Recommandation : informer les personnes concernées dans les meilleurs délais (art. 34.1).",
		"recommend.subjects.no":   "Recommandation : l'information des personnes concernées n'est pas requise.",
		"sealed":                  "Les données étaient scellées (AES-256-GCM, une clé par personne) sous des clés restées sûres : elles sont incompréhensibles pour toute personne non autorisée (art. 34.3.a).",
		"subjects.planned":        "Les personnes concernées seront informées.",
		"subjects.done":           "Les personnes concernées ont été informées le %s.",
		"subjects.not":            "Les personnes concernées ne sont pas informées : %s",
		"subjects.open":           "La décision d'informer les personnes concernées n'est pas encore prise.",
		"impact.line":             "Personnes concernées : %d. Enregistrements lus : %d. Enregistrements écrits : %d. Tentatives refusées : %d. Période : du %s au %s.",
		"next.controller":         "En tant que responsable du traitement, évaluez le risque et, sauf si la violation n'est pas susceptible d'engendrer un risque, notifiez-la à votre autorité de contrôle (en France, la CNIL) dans les 72 heures après en avoir pris connaissance. garde prépare cette notification : GET /v1/breaches/%s/notices/authority.",
		"s.intro":                 "Nous vous informons d'un incident de sécurité qui concerne vos données personnelles, de ce qu'il signifie pour vous et de ce que nous faisons.",
		"s.what":                  "Ce qui s'est passé",
		"s.data":                  "Les informations concernées",
		"s.consequences":          "Ce que cela peut signifier pour vous",
		"s.doing":                 "Ce que nous avons fait",
		"s.you":                   "Ce que vous pouvez faire",
		"s.advice":                "Méfiez-vous des messages inattendus qui évoquent cet incident ou demandent un mot de passe ou des coordonnées bancaires. Changez le mot de passe de votre compte si vous l'utilisez ailleurs.",
		"s.contact":               "Qui contacter",
		"s.contactline":           "Notre délégué à la protection des données répond à vos questions : %s. Vous pouvez aussi introduire une réclamation auprès de l'autorité de contrôle (en France, la CNIL : www.cnil.fr).",
		"s.when":                  "Nous avons pris connaissance de l'incident le %s.",
	},
}

var frMonths = []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}

func formatDate(lang string, t time.Time) string {
	t = t.UTC()
	if lang == "fr" {
		return fmt.Sprintf("%d %s %d à %02d h %02d UTC", t.Day(), frMonths[t.Month()-1], t.Year(), t.Hour(), t.Minute())
	}
	return t.Format("2 January 2006 at 15:04 UTC")
}

// categoryNames are plain words for the categories people recognise.
var categoryNames = map[string][2]string{
	"user.contact.email":             {"email addresses", "adresses électroniques"},
	"user.contact.phone_number":      {"phone numbers", "numéros de téléphone"},
	"user.contact.address":           {"postal addresses", "adresses postales"},
	"user.contact":                   {"contact details", "coordonnées"},
	"user.name":                      {"names", "noms"},
	"user.content.private":           {"the content of messages exchanged with customer support", "le contenu des messages échangés avec le service client"},
	"user.financial":                 {"financial information", "informations financières"},
	"user.financial.bank_account":    {"bank account numbers", "numéros de compte bancaire"},
	"user.financial.credit_card":     {"payment card numbers", "numéros de carte de paiement"},
	"user.government_id":             {"identity document numbers", "numéros de pièces d'identité"},
	"user.health_and_medical":        {"health data", "données de santé"},
	"user.authorization.credentials": {"login credentials", "identifiants de connexion"},
	"user.location":                  {"location data", "données de localisation"},
	"user.device.ip_address":         {"IP addresses", "adresses IP"},
}

func categoryName(lang, c string) string {
	if n, ok := categoryNames[c]; ok {
		if lang == "fr" {
			return n[1] + " (" + c + ")"
		}
		return n[0] + " (" + c + ")"
	}
	return c
}

func partyLine(p register.Party) string {
	var parts []string
	for _, s := range []string{p.Name, p.Address, p.Email, p.Phone, p.Contact} {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(parts, s) {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// BreachNotice drafts a notice for a breach, for the controller tenant:
// the caller's own tenant, or — for the operator — the affected tenant
// named. The DPO contact and the controller come from that tenant's
// register. An authority notice drafted after the deadline needs the
// reason for the delay.
func (s *Service) BreachNotice(ctx context.Context, p garde.Principal, id, kind, lang string, tenant garde.TenantID) (NoticeDraft, error) {
	if _, err := garde.Enter(p, garde.OpBreachRead); err != nil {
		return NoticeDraft{}, err
	}
	ve := &garde.ValidationError{}
	if kind != NoticeController && kind != NoticeAuthority && kind != NoticeSubjects {
		ve.Add("kind", "must be controller, authority or subjects")
	}
	if lang == "" {
		lang = "en"
	}
	words, ok := noticeTexts[lang]
	if !ok {
		ve.Add("lang", "must be fr or en")
	}
	if p.Tenant != garde.OperatorTenant {
		if tenant != "" && tenant != p.Tenant {
			ve.Add("tenant", "a tenant drafts notices for itself only")
		}
		tenant = p.Tenant
	} else if tenant == "" {
		ve.Add("tenant", "is required: the affected tenant (controller) the notice is for")
	}
	if err := ve.Err(); err != nil {
		return NoticeDraft{}, err
	}
	now := s.Now()
	var b *Breach
	var reg *register.Register
	err := s.Store.View(ctx, func(tx garde.Tx) error {
		own, err := s.loadBreach(ctx, tx, p.Tenant, id)
		if err != nil {
			return err
		}
		if p.Tenant == garde.OperatorTenant && !slices.Contains(own.Tenants, tenant) {
			return garde.Invalid("tenant", "is not affected by this breach")
		}
		b = own
		if p.Tenant == garde.OperatorTenant {
			if b, err = s.loadBreach(ctx, tx, tenant, id); err != nil {
				return err
			}
		}
		reg, _, err = s.CurrentRegister(ctx, tx, tenant)
		return err
	})
	if err != nil {
		return NoticeDraft{}, err
	}
	n := NoticeDraft{Kind: kind, Lang: lang, Title: words["title."+kind], Late: b.Late(now)}
	if kind == NoticeAuthority && n.Late && strings.TrimSpace(b.DelayReason) == "" {
		return NoticeDraft{}, garde.Invalid("delay_reason", "is required: the notification is made more than 72 hours after awareness (Art. 33(1)); record it with PATCH /v1/breaches/%s", id)
	}
	var w noticeWriter
	w.words, w.lang = words, lang
	switch kind {
	case NoticeController:
		w.controller(b, reg, now)
	case NoticeAuthority:
		w.authority(b, reg, now)
	case NoticeSubjects:
		w.subjects(b, reg)
	}
	n.Markdown = w.String()
	return n, nil
}

type noticeWriter struct {
	strings.Builder
	words noticeText
	lang  string
}

func (w *noticeWriter) t(key string, args ...any) string {
	s, ok := w.words[key]
	if !ok {
		s = key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

func (w *noticeWriter) h1(s string)             { fmt.Fprintf(w, "# %s\n\n", s) }
func (w *noticeWriter) h2(s string)             { fmt.Fprintf(w, "## %s\n\n", s) }
func (w *noticeWriter) para(s string)           { fmt.Fprintf(w, "%s\n\n", strings.TrimSpace(s)) }
func (w *noticeWriter) field(k, v string)       { fmt.Fprintf(w, "- **%s:** %s\n", k, v) }
func (w *noticeWriter) end()                    { w.WriteString("\n") }
func (w *noticeWriter) date(t time.Time) string { return formatDate(w.lang, t) }

func (w *noticeWriter) list(items []string) {
	if len(items) == 0 {
		w.para("- " + w.t("none"))
		return
	}
	for _, it := range items {
		fmt.Fprintf(w, "- %s\n", strings.TrimSpace(it))
	}
	w.end()
}

func (w *noticeWriter) header(b *Breach, now time.Time) {
	w.field(w.t("ref"), b.ID)
	w.field(w.t("aware"), w.date(b.AwareAt))
	w.field(w.t("deadline"), w.date(b.NotifyBy))
	w.field(w.t("date"), w.date(now))
	w.end()
}

func (w *noticeWriter) nature(b *Breach) {
	w.h2(w.t("h.nature"))
	var ns []string
	for _, n := range b.Nature {
		ns = append(ns, w.t("nature."+n))
	}
	w.list(ns)
	if b.Description != "" {
		w.para(b.Description)
	}
}

func (w *noticeWriter) number(n int) string {
	if n <= 0 {
		return w.t("unknown")
	}
	return fmt.Sprint(n)
}

func (w *noticeWriter) counts(b *Breach) {
	w.h2(w.t("h.people"))
	cats := strings.Join(b.SubjectCategories, ", ")
	if cats == "" {
		cats = w.t("unknown")
	}
	w.field(w.t("categories.people"), cats)
	w.field(w.t("approx.people"), w.number(b.SubjectsApprox))
	w.end()
	w.h2(w.t("h.records"))
	var names []string
	for _, c := range b.Categories {
		names = append(names, categoryName(w.lang, c))
	}
	data := strings.Join(names, "; ")
	if data == "" {
		data = w.t("unknown")
	}
	w.field(w.t("categories.data"), data)
	w.field(w.t("approx.records"), w.number(b.RecordsApprox))
	w.end()
}

func (w *noticeWriter) consequencesAndMeasures(b *Breach) {
	w.h2(w.t("h.consequences"))
	if b.Consequences != "" {
		w.para(b.Consequences)
	} else {
		w.para(w.t("unknown"))
	}
	w.h2(w.t("h.measures"))
	w.para("**" + w.t("taken") + "**")
	w.list(b.MeasuresTaken)
	w.para("**" + w.t("proposed") + "**")
	w.list(b.MeasuresProposed)
}

func (w *noticeWriter) severity(b *Breach) {
	sv := b.Severity
	w.h2(w.t("h.severity"))
	f := func(x float64) string { return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".") }
	w.para(w.t("severity", f(sv.DPC), w.basis(sv.DPCBasis), f(sv.EI), w.basis(sv.EIBasis), f(sv.CB), f(sv.Score), w.t("level."+sv.Level)))
	if sv.NotifyAuthority {
		w.para(w.t("recommend.authority.yes"))
	} else {
		w.para(w.t("recommend.authority.no"))
	}
	if sv.NotifySubjects {
		w.para(w.t("recommend.subjects.yes"))
	} else {
		w.para(w.t("recommend.subjects.no"))
	}
	if b.Impact != nil && b.Impact.SealedUnderSafeKeys {
		w.para(w.t("sealed"))
	}
}

func (w *noticeWriter) dpo(reg *register.Register) string { return partyLine(reg.DPO) }

func (w *noticeWriter) controller(b *Breach, reg *register.Register, now time.Time) {
	w.h1(w.t("title.controller"))
	w.para(w.t("law.controller"))
	w.field(w.t("controller"), partyLine(reg.Controller))
	w.field(w.t("dpo"), w.dpo(reg))
	w.field(w.t("processor"), w.t("processorName"))
	w.header(b, now)
	w.nature(b)
	if b.Impact != nil && len(b.Impact.Tenants) > 0 {
		w.h2(w.t("h.impact"))
		imp := b.Impact
		w.para(w.t("impact.line", imp.Subjects, imp.RecordsRead, imp.RecordsWritten, imp.DeniedReads, w.date(imp.Since), w.date(imp.Until)))
	}
	w.counts(b)
	w.consequencesAndMeasures(b)
	w.severity(b)
	w.h2(w.t("h.next"))
	w.para(w.t("next.controller", b.ID))
}

func (w *noticeWriter) authority(b *Breach, reg *register.Register, now time.Time) {
	w.h1(w.t("title.authority"))
	phase := b.Phase
	if phase == "" {
		phase = PhaseInitial
	}
	w.para(w.t("law.authority", w.t("phase."+phase)))
	w.field(w.t("controller"), partyLine(reg.Controller))
	w.header(b, now)
	w.nature(b)
	w.counts(b)
	w.h2(w.t("h.contact"))
	w.field(w.t("dpo"), w.dpo(reg))
	w.end()
	w.consequencesAndMeasures(b)
	w.severity(b)
	w.h2(w.t("h.subjects"))
	switch {
	case !b.SubjectsNotifiedAt.IsZero():
		w.para(w.t("subjects.done", w.date(b.SubjectsNotifiedAt)))
	case b.NotifySubjects != nil && *b.NotifySubjects:
		w.para(w.t("subjects.planned"))
	case b.NotifySubjects != nil:
		reason := b.DecisionReason
		if reason == "" {
			reason = w.t("recommend.subjects.no")
		}
		w.para(w.t("subjects.not", reason))
	default:
		w.para(w.t("subjects.open"))
	}
	if b.Late(now) {
		w.h2(w.t("h.delay"))
		w.para(b.DelayReason)
	}
}

func (w *noticeWriter) subjects(b *Breach, reg *register.Register) {
	w.h1(w.t("title.subjects"))
	w.para(w.t("s.intro"))
	w.h2(w.t("s.what"))
	if b.Description != "" {
		w.para(b.Description)
	}
	w.para(w.t("s.when", w.date(b.AwareAt)))
	w.h2(w.t("s.data"))
	var names []string
	for _, c := range b.Categories {
		n := categoryName(w.lang, c)
		if i := strings.LastIndex(n, " ("); i > 0 {
			n = n[:i]
		}
		names = append(names, n)
	}
	w.list(names)
	w.h2(w.t("s.consequences"))
	if b.Consequences != "" {
		w.para(b.Consequences)
	} else {
		w.para(w.t("unknown"))
	}
	w.h2(w.t("s.doing"))
	w.list(append(slices.Clone(b.MeasuresTaken), b.MeasuresProposed...))
	w.h2(w.t("s.you"))
	w.para(w.t("s.advice"))
	w.h2(w.t("s.contact"))
	w.para(w.t("s.contactline", w.dpo(reg)))
	if reg.Controller.Name != "" {
		w.para("— " + reg.Controller.Name)
	}
}

// basisFR translates the fixed phrases of a severity's basis (see
// Assess), longest first; free text from an assessment stays as written.
var basisFR = strings.NewReplacer(
	"no category recorded yet: simple data assumed", "aucune catégorie enregistrée : données simples par défaut",
	"financial data, identity documents or credentials", "données financières, pièces d'identité ou identifiants",
	"behavioural data or private content", "données comportementales ou contenu privé",
	"negligible: the data was sealed under keys that stayed safe", "négligeable : données scellées sous des clés restées sûres",
	"maximum: the data includes direct identifiers", "maximale : les données comprennent des identifiants directs",
	"significant: records are tied to a subject (default)", "importante : les enregistrements sont rattachés à une personne (par défaut)",
	"(set by assessment)", "(fixée par l'évaluation)",
	"set by assessment", "fixé par l'évaluation",
	"sensitive data", "données sensibles",
	"simple data", "données simples",
)

func (w *noticeWriter) basis(s string) string {
	if w.lang == "fr" {
		return basisFR.Replace(s)
	}
	return s
}
