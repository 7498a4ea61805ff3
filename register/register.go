// Package register is the register of processing (GDPR Art. 30) as a
// document: its schema, parsing (YAML or JSON) with every problem listed at
// once, validation, residency (regions and transfers), the fideslang data
// categories and the special ones, the Art. 30 record and the diff between
// versions. It is a leaf: the kernel reads it, it imports only package
// problem. Applying a register to a tenant is package tenancy's.
//
// Its page: docs/register.md.
package register

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/garde-privacy/garde/problem"
	"go.yaml.in/yaml/v3"
)

// Register is the register of processing (GDPR Art. 30) as garde enforces
// it: who the controller and the DPO are, where data is stored, and each
// purpose with its legal basis, the data categories it may use, how long
// it keeps them and who receives them.
//
// Unlike the domain's other types it carries field tags: it is a document
// that users write (YAML or JSON) and read back, and it holds no personal
// data about end users.
type Register struct {
	Controller       Party      `yaml:"controller" json:"controller"`
	DPO              Party      `yaml:"dpo" json:"dpo"`
	Region           string     `yaml:"region" json:"region"`
	Purposes         []Purpose  `yaml:"purposes" json:"purposes"`
	Transfers        []Transfer `yaml:"transfers,omitempty" json:"transfers,omitempty"`
	SecurityMeasures []string   `yaml:"security_measures,omitempty" json:"security_measures,omitempty"`
}

// Party is a controller, a DPO or a representative.
type Party struct {
	Name    string `yaml:"name" json:"name"`
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
	Contact string `yaml:"contact,omitempty" json:"contact,omitempty"`
	Email   string `yaml:"email,omitempty" json:"email,omitempty"`
	Phone   string `yaml:"phone,omitempty" json:"phone,omitempty"`
}

// Purpose is one line of the register.
type Purpose struct {
	ID           string      `yaml:"id" json:"id"`
	Description  string      `yaml:"description,omitempty" json:"description,omitempty"`
	LegalBasis   string      `yaml:"legal_basis" json:"legal_basis"`
	DataSubjects []string    `yaml:"data_subjects,omitempty" json:"data_subjects,omitempty"`
	Categories   []string    `yaml:"categories" json:"categories"`
	Retention    Duration    `yaml:"retention" json:"retention"`
	Recipients   []Recipient `yaml:"recipients,omitempty" json:"recipients,omitempty"`
	Transfers    []Transfer  `yaml:"transfers,omitempty" json:"transfers,omitempty"`
	// Anonymize maps a data category to the operator applied to personal
	// data of that category found in free text (see package pii).
	Anonymize map[string]string `yaml:"anonymize,omitempty" json:"anonymize,omitempty"`
	// OnWithdrawal says what happens to stored data when a consent for
	// this purpose is withdrawn: stop, anonymize or erase.
	OnWithdrawal string `yaml:"on_withdrawal,omitempty" json:"on_withdrawal,omitempty"`
}

// Recipient is someone the data of a purpose is disclosed to.
type Recipient struct {
	Name    string `yaml:"name" json:"name"`
	Country string `yaml:"country" json:"country"`
	Role    string `yaml:"role" json:"role"`
	// Endpoint is where erasure and other notices are sent (webhook URL).
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
}

// Transfer records a lawful transfer outside the EEA (GDPR chapter V).
type Transfer struct {
	Country   string `yaml:"country" json:"country"`
	Recipient string `yaml:"recipient,omitempty" json:"recipient,omitempty"`
	Safeguard string `yaml:"safeguard" json:"safeguard"`
	Reference string `yaml:"reference,omitempty" json:"reference,omitempty"`
}

// The legal bases of GDPR Art. 6(1).
var legalBases = []string{"consent", "contract", "legal_obligation", "vital_interests", "public_task", "legitimate_interests"}

// The safeguards of GDPR Art. 45–49.
var safeguards = []string{"adequacy", "scc", "bcr", "code_of_conduct", "certification", "derogation"}

var recipientRoles = []string{"processor", "controller", "joint_controller", "recipient"}

// The operators of package pii that a register may name.
var operators = []string{"redact", "replace", "mask", "pseudonymize", "encrypt", "keep"}

var withdrawalActions = []string{"stop", "anonymize", "erase"}

var PurposeIDPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// Purpose returns the purpose with the given id.
func (r *Register) Purpose(id string) (*Purpose, bool) {
	for i := range r.Purposes {
		if r.Purposes[i].ID == id {
			return &r.Purposes[i], true
		}
	}
	return nil, false
}

// Allows reports whether the purpose may use data of category c.
func (p *Purpose) Allows(c string) bool {
	for _, l := range p.Categories {
		if Covers(l, c) {
			return true
		}
	}
	return false
}

// Duration is a retention period: "365d", "12w", "2y", "72h" or any Go
// duration. A year counts 365 days.
type Duration time.Duration

var durationPattern = regexp.MustCompile(`^([0-9]{1,6})([dwy])$`)

// ParseDuration parses a retention period.
func ParseDuration(s string) (Duration, error) {
	if m := durationPattern.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		day := 24 * time.Hour
		unit := map[string]time.Duration{"d": day, "w": 7 * day, "y": 365 * day}[m[2]]
		return Duration(time.Duration(n) * unit), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 365d, 12w, 2y or 72h", s)
	}
	return Duration(d), nil
}

// String formats the duration in days when it is a whole number of days.
func (d Duration) String() string {
	day := Duration(24 * time.Hour)
	if d > 0 && d%day == 0 {
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// UnmarshalYAML reads "365d" and the like.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads the duration from text.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	*d = v
	return err
}

// MaxRegisterSize bounds a register document.
const MaxRegisterSize = 1 << 20

// ParseRegister reads a register from YAML or JSON (JSON is YAML) and
// validates it. Every problem is reported with its path.
func ParseRegister(src []byte) (*Register, error) {
	if len(src) > MaxRegisterSize {
		return nil, problem.Errorf(problem.ErrTooLarge, "register is larger than %d bytes", MaxRegisterSize)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		return nil, problem.Invalid("register", "cannot be parsed: %s", yamlMessage(err))
	}
	if root.Kind == 0 {
		return nil, problem.Invalid("register", "is empty")
	}
	ve := &problem.ValidationError{}
	checkKnownFields(&root, reflect.TypeFor[Register](), "", ve)
	if err := ve.Err(); err != nil {
		return nil, err
	}
	var r Register
	if err := root.Decode(&r); err != nil {
		return nil, problem.Invalid("register", "%s", yamlMessage(err))
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func yamlMessage(err error) string {
	return strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "unmarshal errors:\n  ")
}

// checkKnownFields walks a YAML node against the Go type it decodes into
// and reports every key the type does not have, with its path, so that a
// typo ("legal_bases") is an error rather than a silently missing field.
func checkKnownFields(n *yaml.Node, t reflect.Type, path string, ve *problem.ValidationError) {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		checkKnownFields(n.Content[0], t, path, ve)
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name != "" && name != "-" {
				fields[name] = f.Type
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ft, ok := fields[key]
			p := joinPath(path, key)
			if !ok {
				ve.Add(p, "unknown field")
				continue
			}
			checkKnownFields(n.Content[i+1], ft, p, ve)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			checkKnownFields(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i), ve)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Validate checks the register and returns a *ValidationError listing every
// problem, each named by its path.
func (r *Register) Validate() error {
	ve := &problem.ValidationError{}
	if strings.TrimSpace(r.Controller.Name) == "" {
		ve.Add("controller.name", "is required")
	}
	if r.DPO.Email == "" && r.DPO.Contact == "" {
		ve.Add("dpo.email", "is required: the DPO's contact goes into every record and breach notice")
	} else if r.DPO.Email != "" && !strings.Contains(r.DPO.Email, "@") {
		ve.Add("dpo.email", "is not an email address")
	}
	switch country, ok := RegionCountry(r.Region); {
	case r.Region == "":
		ve.Add("region", "is required: the region where this deployment stores data")
	case !ok:
		ve.Add("region", "%q is not a known cloud region nor an ISO 3166 country code", r.Region)
	case !InEEA(country) && !r.hasTransfer(nil, country, ""):
		ve.Add("region", "%q is in %s, outside the EU/EEA: add a transfers entry for %s with its safeguard", r.Region, country, country)
	}
	for i, t := range r.Transfers {
		validateTransfer(t, fmt.Sprintf("transfers[%d]", i), ve)
	}
	if len(r.Purposes) == 0 {
		ve.Add("purposes", "at least one purpose is required")
	}
	seen := map[string]bool{}
	for i := range r.Purposes {
		p := &r.Purposes[i]
		at := func(f string) string { return fmt.Sprintf("purposes[%d].%s", i, f) }
		switch {
		case !PurposeIDPattern.MatchString(p.ID):
			ve.Add(at("id"), "must match %s", PurposeIDPattern)
		case seen[p.ID]:
			ve.Add(at("id"), "%q is used twice", p.ID)
		}
		seen[p.ID] = true
		if !slices.Contains(legalBases, p.LegalBasis) {
			ve.Add(at("legal_basis"), "must be one of %s", strings.Join(legalBases, ", "))
		}
		if len(p.Categories) == 0 {
			ve.Add(at("categories"), "at least one data category is required")
		}
		for j, c := range p.Categories {
			if !IsCategory(c) {
				ve.Add(fmt.Sprintf("purposes[%d].categories[%d]", i, j), "%q is not a fideslang data category", c)
			}
		}
		if p.Retention <= 0 {
			ve.Add(at("retention"), "is required and must be positive (e.g. 365d)")
		}
		for j, rc := range p.Recipients {
			rp := fmt.Sprintf("purposes[%d].recipients[%d]", i, j)
			if strings.TrimSpace(rc.Name) == "" {
				ve.Add(rp+".name", "is required")
			}
			if !slices.Contains(recipientRoles, rc.Role) {
				ve.Add(rp+".role", "must be one of %s", strings.Join(recipientRoles, ", "))
			}
			switch {
			case !IsCountry(rc.Country):
				ve.Add(rp+".country", "%q is not an ISO 3166 country code", rc.Country)
			case !InEEA(rc.Country) && !r.hasTransfer(p, rc.Country, rc.Name):
				ve.Add(rp+".country", "%s is outside the EU/EEA: add a transfers entry for %s with its safeguard", rc.Country, rc.Country)
			}
			if rc.Endpoint != "" && !strings.HasPrefix(rc.Endpoint, "https://") && !strings.HasPrefix(rc.Endpoint, "http://") {
				ve.Add(rp+".endpoint", "must be an http(s) URL")
			}
		}
		for j, t := range p.Transfers {
			validateTransfer(t, fmt.Sprintf("purposes[%d].transfers[%d]", i, j), ve)
		}
		for c, op := range p.Anonymize {
			if !IsCategory(c) {
				ve.Add(at("anonymize."+c), "is not a fideslang data category")
			}
			if !slices.Contains(operators, op) {
				ve.Add(at("anonymize."+c), "operator must be one of %s", strings.Join(operators, ", "))
			}
		}
		switch {
		case p.OnWithdrawal == "":
		case !slices.Contains(withdrawalActions, p.OnWithdrawal):
			ve.Add(at("on_withdrawal"), "must be one of %s", strings.Join(withdrawalActions, ", "))
		case p.LegalBasis != "consent":
			ve.Add(at("on_withdrawal"), "only applies to a purpose whose legal basis is consent")
		}
	}
	return ve.Err()
}

func validateTransfer(t Transfer, path string, ve *problem.ValidationError) {
	if !IsCountry(t.Country) {
		ve.Add(path+".country", "%q is not an ISO 3166 country code", t.Country)
	}
	if !slices.Contains(safeguards, t.Safeguard) {
		ve.Add(path+".safeguard", "must be one of %s", strings.Join(safeguards, ", "))
	}
}

// hasTransfer reports whether a transfer to country (for recipient, if it
// is named) is recorded on the purpose or for the whole register.
func (r *Register) hasTransfer(p *Purpose, country, recipient string) bool {
	match := func(ts []Transfer) bool {
		for _, t := range ts {
			if t.Country == country && (t.Recipient == "" || t.Recipient == recipient) && slices.Contains(safeguards, t.Safeguard) {
				return true
			}
		}
		return false
	}
	if p != nil && match(p.Transfers) {
		return true
	}
	return match(r.Transfers)
}

// CanonicalJSON is the stored form of a register: stable bytes for the
// same content.
func (r *Register) CanonicalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(r)
	return bytes.TrimSpace(b.Bytes()), err
}
