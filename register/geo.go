package register

import "strings"

// iso3166 lists the ISO 3166-1 alpha-2 country codes.
const iso3166 = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
	"CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
	"GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
	"KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT " +
	"MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
	"SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG " +
	"UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"

// eea lists the European Economic Area: the 27 EU member states plus
// Iceland, Liechtenstein and Norway. Personal data moves freely inside it
// (GDPR chapter V applies to anything leaving it).
const eea = "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK IS LI NO"

// IsCountry reports whether code is an ISO 3166-1 alpha-2 code.
func IsCountry(code string) bool {
	return len(code) == 2 && strings.Contains(iso3166, code)
}

// InEEA reports whether the country is in the European Economic Area.
func InEEA(code string) bool {
	return len(code) == 2 && strings.Contains(eea, code)
}

// cloudRegions maps the region names of common hosting providers to the
// country their data centres are in. A region garde does not know must be
// given as a country code instead: residency is checked, not assumed.
var cloudRegions = map[string]string{
	// AWS
	"eu-west-1": "IE", "eu-west-2": "GB", "eu-west-3": "FR", "eu-central-1": "DE", "eu-central-2": "CH",
	"eu-north-1": "SE", "eu-south-1": "IT", "eu-south-2": "ES",
	"us-east-1": "US", "us-east-2": "US", "us-west-1": "US", "us-west-2": "US", "ca-central-1": "CA",
	"ap-northeast-1": "JP", "ap-southeast-1": "SG", "ap-southeast-2": "AU", "ap-south-1": "IN", "sa-east-1": "BR",
	// Google Cloud
	"europe-west1": "BE", "europe-west2": "GB", "europe-west3": "DE", "europe-west4": "NL", "europe-west6": "CH",
	"europe-west8": "IT", "europe-west9": "FR", "europe-west10": "DE", "europe-west12": "IT", "europe-north1": "FI",
	"europe-southwest1": "ES", "europe-central2": "PL", "us-central1": "US",
	// Azure
	"francecentral": "FR", "francesouth": "FR", "westeurope": "NL", "northeurope": "IE", "germanywestcentral": "DE",
	"swedencentral": "SE", "italynorth": "IT", "polandcentral": "PL", "spaincentral": "ES", "uksouth": "GB", "eastus": "US",
	// OVHcloud, Scaleway, Outscale
	"gra": "FR", "sbg": "FR", "rbx": "FR", "waw": "PL", "de1": "DE", "uk1": "GB",
	"fr-par": "FR", "nl-ams": "NL", "pl-waw": "PL", "eu-west-2-outscale": "FR",
}

// RegionCountry returns the country of a region: a known cloud region name
// or an ISO 3166-1 alpha-2 code.
func RegionCountry(region string) (string, bool) {
	if c, ok := cloudRegions[region]; ok {
		return c, true
	}
	if IsCountry(region) {
		return region, true
	}
	return "", false
}
