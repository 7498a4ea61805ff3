package breach

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/garde-privacy/garde"
	"github.com/garde-privacy/garde/register"
)

// A breach is a record and a list of changes: validating a change, and
// folding the changes into the breach as one tenant sees it.

// BreachChange is one update of a breach: the fields it sets. Nil fields
// and nil lists change nothing; an empty list clears one.
//
// Like Register it carries field tags: it is a document people write and
// read back, stored as the body of a breach event, and it must hold no
// end user's personal data (descriptions say what happened, not to whom).
type BreachChange struct {
	Status      *string    `json:"status,omitempty"`
	Phase       *string    `json:"phase,omitempty"`
	AwareAt     *time.Time `json:"aware_at,omitempty"`
	Nature      []string   `json:"nature,omitempty"`
	Description *string    `json:"description,omitempty"`
	// Categories of personal data concerned (fideslang keys).
	Categories []string `json:"categories,omitempty"`
	// SubjectCategories are the categories of people concerned
	// (customers, employees…).
	SubjectCategories []string `json:"subject_categories,omitempty"`
	SubjectsApprox    *int     `json:"subjects_approx,omitempty"`
	RecordsApprox     *int     `json:"records_approx,omitempty"`
	Consequences      *string  `json:"consequences,omitempty"`
	MeasuresTaken     []string `json:"measures_taken,omitempty"`
	MeasuresProposed  []string `json:"measures_proposed,omitempty"`
	// Decision is notify or no_notify; DecisionReason is required with it.
	Decision       *string `json:"decision,omitempty"`
	DecisionReason *string `json:"decision_reason,omitempty"`
	NotifySubjects *bool   `json:"notify_subjects,omitempty"`
	// ControllerNotifiedAt is when the processor told the controller
	// (Art. 33(2)); AuthorityNotifiedAt and SubjectsNotifiedAt when the
	// controller notified the authority and the people.
	ControllerNotifiedAt *time.Time `json:"controller_notified_at,omitempty"`
	AuthorityNotifiedAt  *time.Time `json:"authority_notified_at,omitempty"`
	SubjectsNotifiedAt   *time.Time `json:"subjects_notified_at,omitempty"`
	// DelayReason explains a notification made after the 72 hours
	// (Art. 33(1)); it is required once the deadline has passed.
	DelayReason *string     `json:"delay_reason,omitempty"`
	Assessment  *Assessment `json:"assessment,omitempty"`
	Impact      *Impact     `json:"impact,omitempty"`
}

// controllerFields reports whether c sets only what an affected tenant
// (the controller) records for itself.
func (c *BreachChange) controllerFields() bool {
	return c.Status == nil && c.AwareAt == nil && c.Nature == nil && c.Description == nil &&
		c.Categories == nil && c.SubjectCategories == nil && c.SubjectsApprox == nil &&
		c.RecordsApprox == nil && c.Assessment == nil && c.Impact == nil && c.ControllerNotifiedAt == nil
}

// apply folds one change into the breach.
func (b *Breach) apply(c *BreachChange) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	setTime := func(dst *time.Time, src *time.Time) {
		if src != nil {
			*dst = src.UTC()
		}
	}
	set(&b.Status, c.Status)
	set(&b.Phase, c.Phase)
	setTime(&b.AwareAt, c.AwareAt)
	if c.Nature != nil {
		b.Nature = c.Nature
	}
	set(&b.Description, c.Description)
	if c.Categories != nil {
		b.Categories = c.Categories
	}
	if c.SubjectCategories != nil {
		b.SubjectCategories = c.SubjectCategories
	}
	if c.SubjectsApprox != nil {
		b.SubjectsApprox = *c.SubjectsApprox
	}
	if c.RecordsApprox != nil {
		b.RecordsApprox = *c.RecordsApprox
	}
	set(&b.Consequences, c.Consequences)
	if c.MeasuresTaken != nil {
		b.MeasuresTaken = c.MeasuresTaken
	}
	if c.MeasuresProposed != nil {
		b.MeasuresProposed = c.MeasuresProposed
	}
	set(&b.Decision, c.Decision)
	set(&b.DecisionReason, c.DecisionReason)
	if c.NotifySubjects != nil {
		v := *c.NotifySubjects
		b.NotifySubjects = &v
	}
	setTime(&b.ControllerNotifiedAt, c.ControllerNotifiedAt)
	setTime(&b.AuthorityNotifiedAt, c.AuthorityNotifiedAt)
	setTime(&b.SubjectsNotifiedAt, c.SubjectsNotifiedAt)
	set(&b.DelayReason, c.DelayReason)
	if c.Assessment != nil {
		b.Assessment = *c.Assessment
	}
	if c.Impact != nil {
		imp := *c.Impact
		b.Impact = &imp
	}
	if !b.AwareAt.IsZero() {
		b.NotifyBy = b.AwareAt.Add(BreachDeadline)
	}
}

// foldBreach builds viewer's view of a breach from the owner's events and,
// when the viewer is an affected tenant, its own.
func foldBreach(r garde.BreachRecord, viewer garde.TenantID, events []garde.BreachEvent) (*Breach, error) {
	b := &Breach{ID: r.ID, Owner: r.Owner, Tenants: r.Tenants, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy}
	if viewer != r.Owner {
		b.Tenants = []garde.TenantID{viewer}
	}
	if d, _, ok := strings.Cut(r.DetectorKey, ":"); ok {
		b.Detector = d
	}
	// Time order; at equal times the owner's facts come first, then by
	// scope and seq, so that every node folds the same way.
	slices.SortStableFunc(events, func(x, y garde.BreachEvent) int {
		if c := x.At.Compare(y.At); c != 0 {
			return c
		}
		if (x.Tenant == r.Owner) != (y.Tenant == r.Owner) {
			if x.Tenant == r.Owner {
				return -1
			}
			return 1
		}
		if c := strings.Compare(string(x.Tenant), string(y.Tenant)); c != 0 {
			return c
		}
		return x.Seq - y.Seq
	})
	for i, e := range events {
		var c BreachChange
		if err := json.Unmarshal(e.Body, &c); err != nil {
			return nil, fmt.Errorf("breach %s event %d: %w", r.ID, e.Seq, err)
		}
		if c.Impact != nil && viewer != r.Owner {
			imp := c.Impact.forTenant(viewer)
			c.Impact = &imp
		}
		if viewer != r.Owner && e.Tenant == r.Owner {
			// The owner's figures of an operator breach are the platform's,
			// every tenant's together: an affected tenant gets its own
			// from its share of the impact (below), never the total.
			c.SubjectsApprox, c.RecordsApprox = nil, nil
			if e.Kind == BreachEventImpact {
				c.Categories = nil // filled from every tenant's register
			}
			// The event the viewer gets back says no more than its fold.
			body, err := json.Marshal(c)
			if err != nil {
				return nil, err
			}
			events[i].Body = body
		}
		b.apply(&c)
		b.UpdatedAt = e.At
	}
	if viewer != r.Owner && b.Impact != nil {
		if b.SubjectsApprox == 0 {
			b.SubjectsApprox = b.Impact.Subjects
		}
		if b.RecordsApprox == 0 {
			b.RecordsApprox = b.Impact.RecordsRead + b.Impact.RecordsWritten
		}
		if len(b.Categories) == 0 {
			b.Categories = b.Impact.Categories
		}
	}
	b.Events = events
	b.Severity = Assess(b)
	return b, nil
}

// validate checks a change; creating requires aware_at and nature. now is
// the time of the change, for the checks on notification times.
func (c *BreachChange) validate(creating bool, now time.Time) error {
	ve := &garde.ValidationError{}
	text := func(field string, s *string, required bool) {
		switch {
		case s == nil:
			if required {
				ve.Add(field, "is required")
			}
		case !utf8.ValidString(*s):
			ve.Add(field, "is not valid UTF-8")
		case len(*s) > maxBreachText:
			ve.Add(field, "is longer than %d bytes", maxBreachText)
		case required && strings.TrimSpace(*s) == "":
			ve.Add(field, "is required")
		}
	}
	list := func(field string, l []string) {
		if len(l) > maxBreachItems {
			ve.Add(field, "has more than %d items", maxBreachItems)
		}
		for i, s := range l {
			text(fmt.Sprintf("%s[%d]", field, i), &s, true)
		}
	}
	if creating && c.AwareAt == nil {
		ve.Add("aware_at", "is required: the moment the breach became known starts the 72 hours")
	}
	if c.AwareAt != nil && c.AwareAt.After(now.Add(5*time.Minute)) {
		ve.Add("aware_at", "is in the future")
	}
	if creating && len(c.Nature) == 0 {
		ve.Add("nature", "at least one of confidentiality, integrity, availability is required")
	}
	seen := map[string]bool{}
	for i, n := range c.Nature {
		if !slices.Contains(natures, n) {
			ve.Add(fmt.Sprintf("nature[%d]", i), "must be one of %s", strings.Join(natures, ", "))
		} else if seen[n] {
			ve.Add(fmt.Sprintf("nature[%d]", i), "%s is listed twice", n)
		}
		seen[n] = true
	}
	if c.Status != nil && !slices.Contains(breachStatuses, *c.Status) {
		ve.Add("status", "must be one of %s", strings.Join(breachStatuses, ", "))
	}
	if c.Phase != nil && *c.Phase != PhaseInitial && *c.Phase != PhaseComplementary {
		ve.Add("phase", "must be initial or complementary")
	}
	text("description", c.Description, creating)
	text("consequences", c.Consequences, false)
	text("decision_reason", c.DecisionReason, false)
	text("delay_reason", c.DelayReason, false)
	for i, cat := range c.Categories {
		if !register.IsCategory(cat) {
			ve.Add(fmt.Sprintf("categories[%d]", i), "%q is not a fideslang data category", cat)
		}
	}
	if len(c.Categories) > maxBreachItems {
		ve.Add("categories", "has more than %d items", maxBreachItems)
	}
	list("subject_categories", c.SubjectCategories)
	list("measures_taken", c.MeasuresTaken)
	list("measures_proposed", c.MeasuresProposed)
	for f, n := range map[string]*int{"subjects_approx": c.SubjectsApprox, "records_approx": c.RecordsApprox} {
		if n != nil && *n < 0 {
			ve.Add(f, "must not be negative")
		}
	}
	if c.Decision != nil {
		switch {
		case *c.Decision != DecisionNotify && *c.Decision != DecisionNoNotify:
			ve.Add("decision", "must be notify or no_notify")
		case c.DecisionReason == nil || strings.TrimSpace(*c.DecisionReason) == "":
			ve.Add("decision_reason", "is required with a decision: the register records why (Art. 33(5))")
		}
	}
	for f, t := range map[string]*time.Time{"controller_notified_at": c.ControllerNotifiedAt, "authority_notified_at": c.AuthorityNotifiedAt, "subjects_notified_at": c.SubjectsNotifiedAt} {
		if t != nil && t.After(now.Add(5*time.Minute)) {
			ve.Add(f, "is in the future")
		}
	}
	if c.Assessment != nil {
		c.Assessment.validate(ve)
	}
	slices.SortFunc(ve.Problems, func(a, b garde.Problem) int { return strings.Compare(a.Field, b.Field) })
	return ve.Err()
}
