package register

import (
	"net/url"
	"strings"

	"github.com/garde-privacy/garde/problem"
)

// Residency (DESIGN principle 7): EU residency is checked, not declared.
// A register cannot be applied with a region or a recipient outside the
// EU/EEA unless a transfer with its safeguard is recorded (Validate). The
// checks here add the deployment itself — where garde and its database run
// — and every sending of data.

// CheckDeployment checks that a deployment in region may hold the data of
// this register: the region must be in the EU/EEA, or the register must
// record a transfer to its country with a safeguard. It also re-checks the
// register's own region, for registers applied before a rule changed.
func (r *Register) CheckDeployment(region string) error {
	for _, rg := range []struct{ what, region string }{{"register region", r.Region}, {"deployment region", region}} {
		if rg.region == "" {
			continue
		}
		country, ok := RegionCountry(rg.region)
		switch {
		case !ok:
			return problem.Errorf(problem.ErrForbidden, "%s %q is not a known cloud region nor an ISO 3166 country code", rg.what, rg.region)
		case !InEEA(country) && !r.hasTransfer(nil, country, ""):
			return problem.Errorf(problem.ErrForbidden, "%s %q is in %s, outside the EU/EEA, and the register records no transfer to %s with a safeguard", rg.what, rg.region, country, country)
		}
	}
	return nil
}

// CheckRecipient checks that the register lists a recipient at endpoint,
// and that sending to it is lawful: the recipient is in the EU/EEA or a
// transfer to its country is recorded. garde sends personal data nowhere
// else.
func (r *Register) CheckRecipient(endpoint string) error {
	for i := range r.Purposes {
		p := &r.Purposes[i]
		for _, rc := range p.Recipients {
			if rc.Endpoint == "" || !sameEndpoint(rc.Endpoint, endpoint) {
				continue
			}
			if !InEEA(rc.Country) && !r.hasTransfer(p, rc.Country, rc.Name) {
				return problem.Errorf(problem.ErrForbidden, "recipient %q is in %s, outside the EU/EEA, with no transfer recorded", rc.Name, rc.Country)
			}
			return nil
		}
	}
	// The endpoint is not echoed: a URL may carry a token.
	return problem.Errorf(problem.ErrForbidden, "the current register lists no recipient at this endpoint")
}

// sameEndpoint compares two URLs as garde sends to them: scheme and host
// case-insensitively, path and query exactly.
func sameEndpoint(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return strings.EqualFold(ua.Scheme, ub.Scheme) && strings.EqualFold(ua.Host, ub.Host) &&
		ua.EscapedPath() == ub.EscapedPath() && ua.RawQuery == ub.RawQuery && ua.User.String() == ub.User.String()
}
