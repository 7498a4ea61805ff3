package garde

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
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
			return Errorf(ErrForbidden, "%s %q is not a known cloud region nor an ISO 3166 country code", rg.what, rg.region)
		case !InEEA(country) && !r.hasTransfer(nil, country, ""):
			return Errorf(ErrForbidden, "%s %q is in %s, outside the EU/EEA, and the register records no transfer to %s with a safeguard", rg.what, rg.region, country, country)
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
				return Errorf(ErrForbidden, "recipient %q is in %s, outside the EU/EEA, with no transfer recorded", rc.Name, rc.Country)
			}
			return nil
		}
	}
	// The endpoint is not echoed: a URL may carry a token.
	return Errorf(ErrForbidden, "the current register lists no recipient at this endpoint")
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

// CheckResidency checks every tenant's current register against the
// deployment's region (empty: the deployment declares none, and only the
// registers' own regions are re-checked). `garde serve` refuses to start on
// an error; the message names the tenants by id, nothing else.
func (s *Service) CheckResidency(ctx context.Context, region string) error {
	if region != "" {
		if _, ok := RegionCountry(region); !ok {
			return Invalid("region", "%q is not a known cloud region nor an ISO 3166 country code", region)
		}
	}
	outside := ""
	if c, _ := RegionCountry(region); region != "" && !InEEA(c) {
		outside = c
	}
	var errs []error
	err := s.store.View(ctx, func(tx Tx) error {
		ts, err := tx.Tenants(ctx)
		if err != nil {
			return err
		}
		if outside != "" && len(ts) == 0 {
			errs = append(errs, Errorf(ErrForbidden, "deployment region %q is in %s, outside the EU/EEA, and no register records a transfer there", region, outside))
		}
		for _, t := range ts {
			reg, _, err := s.currentRegister(ctx, tx, t.ID)
			switch {
			case errors.Is(err, ErrForbidden) && outside == "":
				continue // no register yet: nothing is processed
			case errors.Is(err, ErrForbidden):
				errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, Errorf(ErrForbidden, "deployment region %q is outside the EU/EEA and the tenant has no register recording a transfer", region)))
				continue
			case err != nil:
				return err
			}
			if err := reg.CheckDeployment(region); err != nil {
				errs = append(errs, fmt.Errorf("tenant %s: %w", t.ID, err))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}
