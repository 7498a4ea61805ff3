package register

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Art30Record is the record of processing activities of GDPR Art. 30,
// generated from one version of a tenant's register, never typed twice:
// the controller's record (Art. 30(1), one row per purpose) and the
// operator's record as the tenant's processor (Art. 30(2)).
type Art30Record struct {
	Version    int
	AppliedAt  time.Time
	Controller Party
	DPO        Party
	Region     string
	Activities []Art30Activity
	// Processor is the operator's record for this tenant.
	Processor Art30Processor
}

// Art30Activity is one line of the controller's record: the CNIL's
// "fiche de registre" of one processing activity.
type Art30Activity struct {
	Ref               string // purpose id
	Name              string // description, or the id
	CreatedAt         time.Time
	UpdatedAt         time.Time
	Purpose           string
	LegalBasis        string
	SubjectCategories []string
	DataCategories    []string
	Sensitive         []string // categories of Art. 9 or 10 among DataCategories
	Retention         string
	Recipients        []string // "name (country, role)"
	Transfers         []string // "country: safeguard (reference)"
	Security          []string
}

// Art30Processor is the Art. 30(2) record the operator keeps as the
// tenant's processor.
type Art30Processor struct {
	Processor  Party // filled by the caller that knows the operator
	Controller Party
	DPO        Party
	// Categories are the categories of processing carried out on behalf of
	// the controller: one per purpose, "id: description".
	Categories    []string
	SubProcessors []string
	Transfers     []string
	Security      []string
}

// Applied is one applied version of a register, as the Art. 30 record
// reads a register's history.
type Applied struct {
	Version   int
	AppliedAt time.Time
	Register  *Register
}

// NewArt30 builds the Art. 30 record of the last version of history (the
// versions applied so far, oldest first; versions missing or unreadable
// may be absent). The creation date of an activity is when its purpose
// first appeared; its update date when its line last changed.
func NewArt30(history []Applied) Art30Record {
	rv := history[len(history)-1]
	reg := rv.Register
	created, updated := map[string]time.Time{}, map[string]time.Time{}
	prev := map[string]string{}
	for _, old := range history {
		for _, pu := range old.Register.Purposes {
			line := fmt.Sprintf("%#v", pu)
			if _, ok := created[pu.ID]; !ok {
				created[pu.ID] = old.AppliedAt
			}
			if prev[pu.ID] != line {
				updated[pu.ID] = old.AppliedAt
				prev[pu.ID] = line
			}
		}
	}
	out := Art30Record{Version: rv.Version, AppliedAt: rv.AppliedAt, Controller: reg.Controller, DPO: reg.DPO, Region: reg.Region}
	out.Processor = Art30Processor{Controller: reg.Controller, DPO: reg.DPO, Security: reg.SecurityMeasures}
	subs := map[string]bool{}
	for _, pu := range reg.Purposes {
		a := Art30Activity{
			Ref: pu.ID, Name: cmp.Or(pu.Description, pu.ID), CreatedAt: created[pu.ID], UpdatedAt: updated[pu.ID],
			Purpose: cmp.Or(pu.Description, pu.ID), LegalBasis: pu.LegalBasis,
			SubjectCategories: pu.DataSubjects, DataCategories: pu.Categories,
			Retention: pu.Retention.String(), Security: reg.SecurityMeasures,
		}
		for _, c := range pu.Categories {
			if Sensitive(c) {
				a.Sensitive = append(a.Sensitive, c)
			}
		}
		for _, r := range pu.Recipients {
			a.Recipients = append(a.Recipients, fmt.Sprintf("%s (%s, %s)", r.Name, r.Country, r.Role))
			if r.Role == "processor" && !subs[r.Name] {
				subs[r.Name] = true
				out.Processor.SubProcessors = append(out.Processor.SubProcessors, fmt.Sprintf("%s (%s)", r.Name, r.Country))
			}
		}
		for _, t := range append(slices.Clone(reg.Transfers), pu.Transfers...) {
			a.Transfers = append(a.Transfers, transferText(t))
		}
		out.Activities = append(out.Activities, a)
		out.Processor.Categories = append(out.Processor.Categories, pu.ID+": "+cmp.Or(pu.Description, pu.LegalBasis))
	}
	for _, t := range reg.Transfers {
		out.Processor.Transfers = append(out.Processor.Transfers, transferText(t))
	}
	return out
}

func transferText(t Transfer) string {
	s := t.Country + ": " + t.Safeguard
	if t.Recipient != "" {
		s = t.Recipient + ", " + s
	}
	if t.Reference != "" {
		s += " (" + t.Reference + ")"
	}
	return s
}

// Diff is a line diff between two versions of a register's
// canonical text (its applied source), for the DPO to read what changed.
type Diff struct {
	From, To int
	Lines    []DiffLine
}

// DiffLine is one line of a diff: Op is ' ', '+' or '-'.
type DiffLine struct {
	Op   byte
	Text string
}

// NewDiff compares two versions' applied sources, line by line.
func NewDiff(from, to int, a, b []byte) Diff {
	return Diff{From: from, To: to, Lines: diffLines(splitLines(string(a)), splitLines(string(b)))}
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffLines is a longest-common-subsequence diff: registers are small
// (MaxRegisterSize bounds them; a line cap keeps the table small too).
func diffLines(a, b []string) []DiffLine {
	const maxLines = 3000
	if len(a) > maxLines || len(b) > maxLines {
		var out []DiffLine
		for _, l := range a {
			out = append(out, DiffLine{'-', l})
		}
		for _, l := range b {
			out = append(out, DiffLine{'+', l})
		}
		return out
	}
	n, m := len(a), len(b)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []DiffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			out = append(out, DiffLine{' ', a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, DiffLine{'-', a[i]})
			i++
		default:
			out = append(out, DiffLine{'+', b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, DiffLine{'-', a[i]})
	}
	for ; j < m; j++ {
		out = append(out, DiffLine{'+', b[j]})
	}
	return out
}
