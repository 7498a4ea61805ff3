package register

import "strings"

// categories is fideslang's data-category taxonomy (the "user" branch that
// describes people, plus the "system" branch), as published by the Fides
// project. A register may name any of these keys; a purpose that lists a
// key covers every key below it (user.contact covers user.contact.email).
var categories = map[string]bool{}

func init() {
	for _, c := range strings.Fields(`
user
user.account user.account.settings user.account.username
user.authorization user.authorization.biometric user.authorization.credentials user.authorization.password
user.behavior user.behavior.browsing_history user.behavior.media_consumption user.behavior.purchase_history user.behavior.search_history
user.biometric user.biometric.fingerprint user.biometric.retinal user.biometric.voice user.biometric.health
user.childrens
user.contact user.contact.address user.contact.address.city user.contact.address.country user.contact.address.postal_code
user.contact.address.state user.contact.address.street user.contact.email user.contact.fax_number user.contact.organization
user.contact.phone_number user.contact.url user.contact.social_url
user.content user.content.private user.content.public user.content.self_image
user.criminal_history
user.demographic user.demographic.age_range user.demographic.date_of_birth user.demographic.gender user.demographic.language
user.demographic.marital_status user.demographic.political_opinion user.demographic.profile user.demographic.race_ethnicity
user.demographic.religious_belief user.demographic.sexual_orientation
user.device user.device.cookie user.device.cookie_id user.device.device_id user.device.ip_address
user.financial user.financial.bank_account user.financial.credit_card
user.government_id user.government_id.birth_certificate user.government_id.drivers_license_number
user.government_id.immigration user.government_id.national_identification_number user.government_id.passport_number
user.government_id.vehicle_registration
user.health_and_medical user.health_and_medical.genetic user.health_and_medical.insurance_beneficiary_id
user.health_and_medical.medical_record_id
user.job_title user.location user.location.imprecise user.location.precise
user.name user.name.first user.name.last
user.payment user.privacy_preferences user.sensor user.social user.telemetry
user.unique_id user.unique_id.pseudonymous
user.workplace
user.union_membership
system system.authentication system.operations
`) {
		categories[c] = true
	}
}

// IsCategory reports whether c is a fideslang data category key.
func IsCategory(c string) bool { return categories[c] }

// Covers reports whether the listed category covers c: equal, or a parent
// of it in the taxonomy.
func Covers(listed, c string) bool {
	return listed == c || (strings.HasPrefix(c, listed) && len(c) > len(listed) && c[len(listed)] == '.')
}

// SpecialCategory reports whether c is a special category of personal data
// (GDPR Art. 9): health, biometric and genetic data, political opinions,
// religious beliefs, sexual orientation, racial or ethnic origin, union
// membership.
func SpecialCategory(c string) bool {
	for _, s := range [...]string{
		"user.health_and_medical", "user.biometric", "user.demographic.political_opinion",
		"user.demographic.religious_belief", "user.demographic.sexual_orientation",
		"user.demographic.race_ethnicity", "user.union_membership",
	} {
		// c is special if it is one of them or holds one (a purpose that
		// lists "user.demographic" may collect political opinions).
		if Covers(s, c) || Covers(c, s) {
			return true
		}
	}
	return false
}

// Sensitive reports data that the GDPR protects apart: a special category
// (Art. 9) or data about criminal convictions and offences (Art. 10). The
// Art. 30 record lists these per activity.
func Sensitive(c string) bool {
	return SpecialCategory(c) || Covers("user.criminal_history", c) || Covers(c, "user.criminal_history")
}
