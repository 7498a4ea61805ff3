package breach

import (
	"fmt"
	"math"
	"slices"

	"github.com/garde-privacy/garde"

	"github.com/garde-privacy/garde/register"
)

// Severity follows ENISA's "Recommendations for a methodology of the
// assessment of severity of personal data breaches" (2013):
//
//	SE = DPC × EI + CB
//
// DPC (data processing context, 1–4) weighs the kind of data; EI (ease of
// identification, 0.25–1) how easily the people can be identified from
// it; CB (circumstances of the breach) adds the loss of confidentiality,
// integrity and availability (0–0.5 each) and malicious intent (0.5).
// SE < 2 is low, < 3 medium, < 4 high, and very high from 4.

// Severity levels.
const (
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityVeryHigh = "very_high"
)

// Ease of identification, ENISA's four levels.
var easeOfIdentification = map[string]float64{
	"negligible": 0.25, "limited": 0.5, "significant": 0.75, "maximum": 1,
}

// Assessment is the human judgement behind a severity: each field left
// nil or empty is derived from the breach (its categories, nature and
// impact), and the derivation is shown with the result.
type Assessment struct {
	// DPC overrides the data processing context score (1 to 4), e.g. to
	// raise it for a large volume or vulnerable people; DPCReason says why.
	DPC       *float64 `json:"dpc,omitempty"`
	DPCReason string   `json:"dpc_reason,omitempty"`
	// EaseOfIdentification is negligible, limited, significant or maximum.
	EaseOfIdentification string `json:"ease_of_identification,omitempty"`
	// Loss of confidentiality, integrity, availability: 0, 0.25 or 0.5 each.
	Confidentiality *float64 `json:"confidentiality,omitempty"`
	Integrity       *float64 `json:"integrity,omitempty"`
	Availability    *float64 `json:"availability,omitempty"`
	Malicious       *bool    `json:"malicious,omitempty"`
}

func (a *Assessment) validate(ve *garde.ValidationError) {
	if a.DPC != nil && (*a.DPC < 1 || *a.DPC > 4) {
		ve.Add("assessment.dpc", "must be between 1 and 4")
	}
	if len(a.DPCReason) > maxBreachText {
		ve.Add("assessment.dpc_reason", "is longer than %d bytes", maxBreachText)
	}
	if a.EaseOfIdentification != "" {
		if _, ok := easeOfIdentification[a.EaseOfIdentification]; !ok {
			ve.Add("assessment.ease_of_identification", "must be negligible, limited, significant or maximum")
		}
	}
	for f, v := range map[string]*float64{"confidentiality": a.Confidentiality, "integrity": a.Integrity, "availability": a.Availability} {
		if v != nil && *v != 0 && *v != 0.25 && *v != 0.5 {
			ve.Add("assessment."+f, "must be 0, 0.25 or 0.5")
		}
	}
}

// Severity is a breach's assessed severity and what it calls for.
type Severity struct {
	DPC      float64
	DPCBasis string
	EI       float64
	EIBasis  string
	CB       float64
	CBBasis  []string
	Score    float64
	Level    string
	// NotifyAuthority: a breach unlikely to result in a risk (low) is
	// documented in the register only (Art. 33(1)).
	NotifyAuthority bool
	// NotifySubjects: a high risk calls for telling the people
	// (Art. 34(1)), unless the data was unintelligible to anyone not
	// authorised, e.g. encrypted under keys that stayed safe (Art. 34(3)(a)).
	NotifySubjects bool
	Reasons        []string
}

// dataProcessingContext scores categories: 1 simple data, 2 behavioural
// data and private content, 3 financial data and credentials, 4 sensitive
// data (Art. 9 special categories, criminal records, children).
func dataProcessingContext(categories []string) (float64, string) {
	score, basis := 1.0, "simple data"
	raise := func(s float64, what, c string) {
		if s > score {
			score, basis = s, fmt.Sprintf("%s (%s)", what, c)
		}
	}
	for _, c := range categories {
		switch {
		case register.SpecialCategory(c) || register.Covers("user.criminal_history", c) || register.Covers("user.childrens", c):
			raise(4, "sensitive data", c)
		case register.Covers("user.financial", c) || register.Covers("user.payment", c) || register.Covers("user.government_id", c) || register.Covers("user.authorization", c):
			raise(3, "financial data, identity documents or credentials", c)
		case register.Covers("user.behavior", c) || register.Covers("user.location", c) || register.Covers("user.content", c) || register.Covers("user.demographic", c) || register.Covers("user.telemetry", c):
			raise(2, "behavioural data or private content", c)
		}
	}
	return score, basis
}

// identifying reports whether a category identifies a person directly.
func identifying(c string) bool {
	for _, p := range []string{"user.name", "user.contact", "user.government_id", "user.account", "user.unique_id", "user.biometric"} {
		if register.Covers(p, c) {
			return true
		}
	}
	return false
}

// Assess computes a breach's severity with ENISA's method.
func Assess(b *Breach) Severity {
	a := b.Assessment
	var s Severity
	s.DPC, s.DPCBasis = dataProcessingContext(b.Categories)
	if len(b.Categories) == 0 {
		s.DPCBasis = "no category recorded yet: simple data assumed"
	}
	if a.DPC != nil {
		s.DPC, s.DPCBasis = *a.DPC, "set by assessment"
		if a.DPCReason != "" {
			s.DPCBasis += ": " + a.DPCReason
		}
	}
	sealed := b.Impact != nil && b.Impact.SealedUnderSafeKeys
	switch {
	case a.EaseOfIdentification != "":
		s.EI, s.EIBasis = easeOfIdentification[a.EaseOfIdentification], a.EaseOfIdentification+" (set by assessment)"
	case sealed:
		s.EI, s.EIBasis = 0.25, "negligible: the data was sealed under keys that stayed safe"
	case slices.ContainsFunc(b.Categories, identifying):
		s.EI, s.EIBasis = 1, "maximum: the data includes direct identifiers"
	default:
		s.EI, s.EIBasis = 0.75, "significant: records are tied to a subject (default)"
	}
	malicious := a.Malicious != nil && *a.Malicious
	loss := func(name string, set *float64, def float64) {
		v := 0.0
		if slices.Contains(b.Nature, name) {
			v = def
		}
		how := "from nature"
		if set != nil {
			v, how = *set, "set by assessment"
		}
		if v > 0 || set != nil {
			s.CB += v
			s.CBBasis = append(s.CBBasis, fmt.Sprintf("loss of %s +%g (%s)", name, v, how))
		}
	}
	conf := 0.25
	if malicious {
		conf = 0.5 // exposed to an unknown number of recipients
	}
	loss(NatureConfidentiality, a.Confidentiality, conf)
	loss(NatureIntegrity, a.Integrity, 0.25)
	loss(NatureAvailability, a.Availability, 0.25)
	if malicious {
		s.CB += 0.5
		s.CBBasis = append(s.CBBasis, "malicious intent +0.5")
	}
	s.Score = math.Round((s.DPC*s.EI+s.CB)*100) / 100
	switch {
	case s.Score < 2:
		s.Level = SeverityLow
	case s.Score < 3:
		s.Level = SeverityMedium
	case s.Score < 4:
		s.Level = SeverityHigh
	default:
		s.Level = SeverityVeryHigh
	}
	s.NotifyAuthority = s.Level != SeverityLow
	if s.NotifyAuthority {
		s.Reasons = append(s.Reasons, "risk to the rights and freedoms of people: notify the supervisory authority within 72 hours (Art. 33(1))")
	} else {
		s.Reasons = append(s.Reasons, "unlikely to result in a risk: document in the breach register, no notification (Art. 33(1), 33(5))")
	}
	high := s.Level == SeverityHigh || s.Level == SeverityVeryHigh
	switch {
	case high && sealed:
		s.Reasons = append(s.Reasons, "high risk, but the data was unintelligible (sealed under keys that stayed safe): telling the people is not required (Art. 34(3)(a))")
	case high:
		s.NotifySubjects = true
		s.Reasons = append(s.Reasons, "high risk: tell the people concerned without undue delay (Art. 34(1))")
	default:
		s.Reasons = append(s.Reasons, "no high risk: telling the people is not required (Art. 34(1))")
	}
	return s
}
