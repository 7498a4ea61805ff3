package garde_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/garde-privacy/garde/breach"
	"github.com/garde-privacy/garde/rights"

	"github.com/garde-privacy/garde"
)

// One definition per rule (issue #13, point 8). Each test here fails if a
// second copy of a rule comes back, or if what documents the rule drifts
// from its definition.

// rootConsts parses the package's non-test files and returns its string
// constants whose names start with prefix, by name.
func rootConsts(t *testing.T, prefix string) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	out := map[string]string{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						v, _ := strconv.Unquote(lit.Value)
						out[n.Name] = v
					}
				}
			}
		}
	}
	return out
}

// TestAuditActionsComplete: every Action constant of the package is in
// garde.AuditActions, once, with its labels. A new action that is not
// added there would be missing from the dashboard's filter and the docs.
func TestAuditActionsComplete(t *testing.T) {
	consts := rootConsts(t, "Action")
	if len(consts) < 30 {
		t.Fatalf("found %d Action constants; the parser missed some", len(consts))
	}
	listed := map[string]int{}
	for _, a := range garde.AuditActions {
		listed[a.Action]++
		if a.Label == "" || a.LabelFR == "" {
			t.Errorf("audit action %s has no label", a.Action)
		}
	}
	for name, v := range consts {
		if listed[v] != 1 {
			t.Errorf("%s (%q) is listed %d times in garde.AuditActions, want 1", name, v, listed[v])
		}
	}
	values := map[string]bool{}
	for _, v := range consts {
		values[v] = true
	}
	for v := range listed {
		if !values[v] {
			t.Errorf("garde.AuditActions lists %q, which no Action constant defines", v)
		}
	}
}

// docTable returns the rows of the first Markdown table at or after the
// first line of a docs page containing marker, each row's cells trimmed,
// without the header.
func docTable(t *testing.T, page, marker string) [][]string {
	t.Helper()
	s := readDoc(t, page)
	i := strings.Index(s, marker)
	if i < 0 {
		t.Fatalf("docs/%s has no %q", page, marker)
	}
	i = strings.LastIndex(s[:i], "\n") + 1
	var rows [][]string
	inTable := false
	for _, line := range strings.Split(s[i:], "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for k := range cells {
			cells[k] = strings.TrimSpace(cells[k])
		}
		if strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows = append(rows, cells)
	}
	if len(rows) > 0 {
		rows = rows[1:] // the header
	}
	return rows
}

func readDoc(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("docs", page))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuditActionsDocumented: docs/api.md lists exactly garde.AuditActions,
// in order, with the same labels and scope.
func TestAuditActionsDocumented(t *testing.T) {
	rows := docTable(t, "api.md", "## Audit actions")
	var got, want []string
	for _, r := range rows {
		got = append(got, strings.Join(r, " | "))
	}
	for _, a := range garde.AuditActions {
		where := "yes"
		if a.Operator {
			where = "no: the operator's only"
		}
		want = append(want, "`"+a.Action+"` | "+a.Label+" | "+where)
	}
	if !slices.Equal(got, want) {
		t.Errorf("docs/api.md audit actions differ from garde.AuditActions:\n got  %q\n want %q", got, want)
	}
}

// TestPermissionTable: every permission has a name and at least one role,
// names are unique, and a tenant key may have exactly garde.TenantRoles.
func TestPermissionTable(t *testing.T) {
	names := map[string]bool{}
	for _, p := range garde.Permissions() {
		if len(p.Roles()) == 0 || p.String() == "" || p.String() == "permission(?)" {
			t.Errorf("permission %d: name %q, roles %v", p, p, p.Roles())
		}
		if names[p.String()] {
			t.Errorf("permission name %q used twice", p)
		}
		names[p.String()] = true
	}
	if garde.PermNone.Roles() != nil {
		t.Errorf("PermNone.Roles() = %v, want none", garde.PermNone.Roles())
	}
	// The copy returned cannot change the matrix.
	r := garde.PermKeyManage.Roles()
	r[0] = garde.RoleService
	if garde.PermKeyManage.Allows(garde.RoleService) {
		t.Fatal("changing the slice Roles returned changed the matrix")
	}
	for _, role := range []garde.Role{garde.RoleAdmin, garde.RoleService, garde.RoleDPO, garde.RoleOperator, garde.RoleHost, "root"} {
		_, err := garde.ParseRole(string(role))
		if ok := slices.Contains(garde.TenantRoles, role); ok != (err == nil) {
			t.Errorf("ParseRole(%q) = %v, want accepted %v (garde.TenantRoles)", role, err, ok)
		}
	}
}

// goFiles returns the module's non-test Go files (bench/ and test/ hold
// load generators, not garde).
func goFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "bench" || path == "test" || path == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoSecondCopy searches the code for the shapes the copies had before
// they were replaced by the one definition: role lists outside the matrix,
// the open statuses spelt out, the due-soon window and the breach deadline
// written as durations, the escalation points as a literal.
func TestNoSecondCopy(t *testing.T) {
	rules := []struct {
		what   string
		re     *regexp.Regexp
		owners []string // the files allowed to hold it
	}{
		{"a list of roles (the role matrix: garde.Permission)", regexp.MustCompile(`\[\](garde\.)?Role\{`), []string{"authz.go"}},
		{"the closed request statuses spelt out (garde.OpenStatuses)", regexp.MustCompile(`'(completed|rejected|cancelled)',\s*'(completed|rejected|cancelled)'|!=\s*(garde\.)?Status(Completed|Rejected|Cancelled)\s*&&[^\n]*!=\s*(garde\.)?Status(Completed|Rejected|Cancelled)`), nil},
		{"a list of request statuses (garde.RequestStatuses)", regexp.MustCompile(`Status(Received|Verified|InProgress|Completed|Rejected|Cancelled),\s*(garde\.)?Status(Received|Verified|InProgress|Completed|Rejected|Cancelled)\b`), []string{"requests.go", "rights/rights.go", "rights/delivery.go"}},
		{"a 7-day window (rights.DueSoonWindow)", regexp.MustCompile(`7 \* 24 \* time\.Hour`), []string{"rights/rights_clock.go", "rights/rights.go"}},
		{"the 72-hour deadline (breach.BreachDeadline)", regexp.MustCompile(`72 \* time\.Hour`), []string{"breach/breach.go"}},
		{"escalation points (breach.DefaultEscalationPoints)", regexp.MustCompile(`24 \* time\.Hour, 48 \* time\.Hour|"0h,24h`), []string{"breach/breach_clock.go"}},
	}
	for _, f := range goFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if slices.Contains(r.owners, f) {
				continue
			}
			for _, loc := range r.re.FindAllIndex(b, -1) {
				line := 1 + strings.Count(string(b[:loc[0]]), "\n")
				t.Errorf("%s:%d holds %s", f, line, r.what)
			}
		}
	}
}

// TestRequestStatuses: the open statuses are every status but the closed
// ones, Open agrees with them, and docs/rights.md lists them all.
func TestRequestStatuses(t *testing.T) {
	want := []string{garde.StatusReceived, garde.StatusVerified, garde.StatusInProgress}
	if got := garde.OpenStatuses(); !slices.Equal(got, want) {
		t.Errorf("OpenStatuses() = %v, want %v", got, want)
	}
	for _, st := range garde.ClosedStatuses {
		if !slices.Contains(garde.RequestStatuses, st) {
			t.Errorf("closed status %q is not in RequestStatuses", st)
		}
	}
	for _, st := range garde.RequestStatuses {
		if got, want := (garde.RightsRequest{Status: st}).Open(), slices.Contains(garde.OpenStatuses(), st); got != want {
			t.Errorf("RightsRequest{Status: %q}.Open() = %v, want %v", st, got, want)
		}
	}
}

func TestRequestStatusesDocumented(t *testing.T) {
	var got, want []string
	for _, r := range docTable(t, "rights.md", "| status | open |") {
		got = append(got, strings.Join(r, " | "))
	}
	for _, st := range garde.RequestStatuses {
		open := "yes"
		if slices.Contains(garde.ClosedStatuses, st) {
			open = "no"
		}
		want = append(want, "`"+st+"` | "+open)
	}
	if !slices.Equal(got, want) {
		t.Errorf("docs/rights.md statuses differ from garde.RequestStatuses:\n got  %q\n want %q", got, want)
	}
}

// TestBreachDeadlineIsArt33: GDPR Art. 33(1) gives the controller 72 hours
// from awareness; everything else reads BreachDeadline.
func TestBreachDeadlineIsArt33(t *testing.T) {
	if breach.BreachDeadline != 72*time.Hour {
		t.Errorf("BreachDeadline = %v, want 72h (Art. 33(1))", breach.BreachDeadline)
	}
	for _, p := range breach.DefaultEscalationPoints {
		if p < 0 || p >= breach.BreachDeadline {
			t.Errorf("escalation point %v is outside the %v clock", p, breach.BreachDeadline)
		}
	}
}

// durationOf is the definition a docs page may cite by name.
var durationOf = map[string]time.Duration{
	"rights.DueSoonWindow":  rights.DueSoonWindow,
	"breach.BreachDeadline": breach.BreachDeadline,
}

// TestDocumentedDurations: wherever the docs write a duration and cite its
// definition ("7 days (`rights.DueSoonWindow`)"), the number is the
// definition's.
func TestDocumentedDurations(t *testing.T) {
	re := regexp.MustCompile("(\\d+) (days|hours|h) \\(`((?:garde|rights|breach)\\.\\w+)`")
	pages, _ := filepath.Glob("docs/*.md")
	seen := map[string]bool{}
	for _, page := range pages {
		b, _ := os.ReadFile(page)
		text := strings.Join(strings.Fields(string(b)), " ")
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			d, ok := durationOf[m[3]]
			if !ok {
				t.Errorf("%s cites %s, which durationOf does not know", page, m[3])
				continue
			}
			n, _ := strconv.Atoi(m[1])
			unit := time.Hour
			if m[2] == "days" {
				unit = 24 * time.Hour
			}
			if time.Duration(n)*unit != d {
				t.Errorf("%s says %q: %s is %v", page, m[0], m[3], d)
			}
			seen[m[3]] = true
		}
	}
	for name := range durationOf {
		if !seen[name] {
			t.Errorf("no docs page states %s", name)
		}
	}
}

// TestEscalationPointsDocumented: docs/breach.md states the default
// escalation points as breach.DefaultEscalationPoints has them.
func TestEscalationPointsDocumented(t *testing.T) {
	var parts []string
	for _, p := range breach.DefaultEscalationPoints {
		if p == 0 {
			parts = append(parts, "at once")
		} else {
			parts = append(parts, strconv.FormatFloat(p.Hours(), 'f', -1, 64)+" h")
		}
	}
	phrase := strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
	text := strings.Join(strings.Fields(readDoc(t, "breach.md")), " ")
	if !strings.Contains(text, "by default **"+phrase+"** (`breach.DefaultEscalationPoints`") {
		t.Errorf("docs/breach.md does not state the default escalation points as %q", phrase)
	}
}

// TestBreachDeadlineTexts: a text about breaches, in the code (notices,
// e-mails, the dashboard's catalogue, CLI output), the templates or the
// docs, that counts hours names the deadline, an escalation point, or the
// time left after one — never another figure. The texts quote Art. 33(1),
// so they are checked against BreachDeadline rather than built from it.
func TestBreachDeadlineTexts(t *testing.T) {
	ok := map[int]bool{int(breach.BreachDeadline.Hours()): true}
	points := breach.DefaultEscalationPoints
	for _, p := range points {
		ok[int(p.Hours())] = true
	}
	ok[int((breach.BreachDeadline - points[len(points)-1]).Hours())] = true // "6 hours before the deadline"
	hours := regexp.MustCompile(`\b(\d+)(-hour| hours?\b| heures?\b| h\b)`)
	breachy := regexp.MustCompile(`(?i)art\.? ?33|breach|violation|deadline|délai|notif|clock|escalat`)
	files := goFiles(t)
	for _, pattern := range []string{"web/dashboard/*.html", "docs/*.md", "README.md"} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if !breachy.MatchString(line) || strings.HasPrefix(f, "docs/benchmarks") {
				continue
			}
			for _, m := range hours.FindAllStringSubmatch(line, -1) {
				n, _ := strconv.Atoi(m[1])
				checked++
				if !ok[n] {
					t.Errorf("%s:%d says %q: the breach clock has %v, points %v", f, i+1, m[0], breach.BreachDeadline, breach.DefaultEscalationPoints)
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("checked %d texts; the search misses them", checked)
	}
}

// TestOpenDSRStatusFollowsOpen: OpenDSR's request_status of an open request
// is pending or in_progress, of a closed one completed or cancelled.
func TestOpenDSRStatusFollowsOpen(t *testing.T) {
	for _, st := range garde.RequestStatuses {
		got := rights.OpenDSRStatus(st)
		open := got == "pending" || got == "in_progress"
		if want := slices.Contains(garde.OpenStatuses(), st); open != want {
			t.Errorf("OpenDSRStatus(%q) = %q: open %v, want %v", st, got, open, want)
		}
	}
}
