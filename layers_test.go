package garde_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The dependency rule of docs/architecture.md, kept by a test: each package
// of the module has a layer, each layer the layers it may import.

const module = "github.com/garde-privacy/garde"

// layerOf places every package of the module, by path inside the module
// ("" is the root). A path ending in "/..." places a whole tree.
var layerOf = map[string]string{
	"pii": "leaf", "keyring": "leaf", "ledger": "leaf", "egress": "leaf",
	"problem": "leaf", "register": "leaf", "notify": "leaf", "internal/mdpdf": "leaf",
	"":      "kernel",
	"trail": "trail",
	"vault": "capability", "consent": "capability", "rights": "capability", "breach": "capability", "tenancy": "capability",
	"app":    "app",
	"sqlite": "storage", "postgres": "storage",
	"web/internal/errkind": "webinternal", "web/internal/notice": "webinternal",
	"web/dashboard":         "dashboard",
	"web":                   "web",
	"cmd/garde":             "cmd",
	"gardetest":             "conformance",
	"postgres/postgrestest": "testhelper", "web/internal/dashtest": "testhelper",
	"bench/...": "tool", "test/...": "tool",
}

// below is what every transport may import.
var below = []string{"app", "capability", "trail", "kernel", "leaf", "storage"}

// mayImport lists, per layer, the layers its non-test files may import.
// Test files may import anything: that is how gardetest is used.
var mayImport = map[string][]string{
	"leaf":        {"leaf"},
	"kernel":      {"leaf"},
	"trail":       {"kernel", "leaf"},
	"capability":  {"trail", "kernel", "leaf"},
	"storage":     {"kernel", "leaf"},
	"app":         {"capability", "trail", "kernel", "leaf"},
	"webinternal": below,
	"dashboard":   append([]string{"webinternal"}, below...),
	"web":         append([]string{"dashboard", "webinternal"}, below...),
	"cmd":         append([]string{"web", "dashboard", "webinternal"}, below...),
	"conformance": {"app", "capability", "trail", "kernel", "leaf"},
	"testhelper":  {"testhelper", "storage", "kernel", "leaf"},
	"tool":        {"*"},
}

// why says, for an arrow from one layer to another it may not import, what
// the rule is. The first entry that matches wins; "*" matches any layer.
var why = []struct{ from, to, rule string }{
	{"capability", "capability", "a capability never imports another capability (go through an interface in the kernel)"},
	{"storage", "storage", "a storage adapter never imports another"},
	{"*", "conformance", "gardetest is test support: only tests import it"},
	{"*", "testhelper", "test helpers are imported only by tests and other test helpers"},
	{"dashboard", "web", "the dashboard never imports web (share code through web/internal)"},
	{"storage", "*", "a storage adapter imports only the kernel and leaves"},
	{"leaf", "*", "a leaf imports nothing of garde but other leaves"},
	{"kernel", "*", "the kernel imports only leaves"},
	{"trail", "*", "the trail imports only the kernel and leaves"},
	{"capability", "*", "a capability imports only the trail, the kernel and leaves"},
	{"app", "*", "app imports only capabilities, the trail, the kernel and leaves (it never picks a storage or a transport)"},
	{"*", "*", "a layer imports only the layers below it"},
}

// forbidden lists imports from outside the module that a layer may not
// make; an entry ending in "/" is a prefix.
var forbidden = map[string][]string{
	"kernel": {"net/http", "net/http/", "database/sql", "database/sql/"},
	"leaf": {"database/sql", "database/sql/", "modernc.org/sqlite", "modernc.org/sqlite/",
		"github.com/jackc/pgx/", "github.com/lib/pq", "github.com/mattn/go-sqlite3"},
}

// narrower lists packages held to less than their layer allows: the
// leaves each import only the leaves named here, and tenancy, a capability
// that signs nothing, does not import the trail.
var narrower = map[string][]string{
	"pii": {}, "keyring": {}, "ledger": {}, "egress": {}, "problem": {}, "internal/mdpdf": {},
	"register": {"problem"},
	"notify":   {"egress"},
	"tenancy":  {"", "pii", "keyring", "ledger", "egress", "problem", "register", "notify", "internal/mdpdf"},
}

// pkg is what the rules read of `go list -json`.
type pkg struct {
	ImportPath   string
	Imports      []string // non-test files
	TestImports  []string // in-package tests: not restricted
	XTestImports []string // external tests: not restricted
}

func TestLayering(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go not in PATH: cannot list packages")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(goTool, "list", "-json", "./...")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -json ./...: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []pkg
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < len(layerOf) {
		t.Fatalf("go list listed %d packages, want at least %d", len(pkgs), len(layerOf))
	}
	for _, v := range checkLayers(pkgs) {
		t.Error(v)
	}
}

// checkLayers returns one line per arrow that breaks the rule, and one per
// package of the module that has no layer.
func checkLayers(pkgs []pkg) []string {
	var bad []string
	for _, p := range pkgs {
		from, ok := layer(p.ImportPath)
		if !ok {
			bad = append(bad, fmt.Sprintf("%s has no layer: place it in layerOf (layers_test.go) and docs/architecture.md", short(p.ImportPath)))
			continue
		}
		for _, imp := range p.Imports {
			if !inModule(imp) {
				for _, f := range forbidden[from] {
					if imp == f || strings.HasSuffix(f, "/") && strings.HasPrefix(imp, f) {
						bad = append(bad, fmt.Sprintf("%s imports %s: no %s package imports %s", short(p.ImportPath), imp, from, strings.TrimSuffix(f, "/")))
					}
				}
				continue
			}
			to, ok := layer(imp)
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("%s imports %s, which has no layer", short(p.ImportPath), short(imp)))
			case mayImport[from][0] != "*" && !slices.Contains(mayImport[from], to):
				bad = append(bad, fmt.Sprintf("%s imports %s: %s", short(p.ImportPath), short(imp), rule(from, to)))
			default:
				if only, ok := narrower[rel(p.ImportPath)]; ok && !slices.Contains(only, rel(imp)) {
					bad = append(bad, fmt.Sprintf("%s imports %s: it may import only %q of garde (narrower, layers_test.go)", short(p.ImportPath), short(imp), only))
				}
			}
		}
	}
	return bad
}

func rule(from, to string) string {
	for _, w := range why {
		if (w.from == "*" || w.from == from) && (w.to == "*" || w.to == to) {
			return w.rule
		}
	}
	return ""
}

// rel is a module path inside the module ("" for the root).
func rel(path string) string { return strings.TrimPrefix(strings.TrimPrefix(path, module), "/") }

func inModule(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

// layer returns the layer of a package of the module.
func layer(path string) (string, bool) {
	if !inModule(path) {
		return "", false
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	if l, ok := layerOf[rel]; ok {
		return l, true
	}
	for p, l := range layerOf {
		if tree, ok := strings.CutSuffix(p, "/..."); ok && strings.HasPrefix(rel+"/", tree+"/") {
			return l, true
		}
	}
	return "", false
}

func short(path string) string {
	if path == module {
		return "garde"
	}
	return strings.TrimPrefix(path, module+"/")
}

// TestLayeringReports feeds checkLayers a doctored graph and checks that
// each back edge in it is reported, and nothing else.
func TestLayeringReports(t *testing.T) {
	m := func(rel string) string { return strings.TrimSuffix(module+"/"+rel, "/") }
	pkgs := []pkg{
		{ImportPath: m(""), Imports: []string{m("pii"), m("vault"), "net/http", "fmt"}},
		{ImportPath: m("vault"), Imports: []string{m(""), m("trail"), m("consent")}},
		{ImportPath: m("consent"), Imports: []string{m(""), m("app")}, XTestImports: []string{m("gardetest")}},
		{ImportPath: m("sqlite"), Imports: []string{m(""), m("postgres"), "database/sql", "modernc.org/sqlite"}},
		{ImportPath: m("register"), Imports: []string{m("problem"), "github.com/jackc/pgx/v5"}},
		{ImportPath: m("pii"), Imports: []string{m("keyring")}},
		{ImportPath: m("tenancy"), Imports: []string{m(""), m("trail")}},
		{ImportPath: m("web/dashboard"), Imports: []string{m("web"), m("app")}},
		{ImportPath: m("web"), Imports: []string{m("gardetest"), m("web/dashboard")}},
		{ImportPath: m("bench/load"), Imports: []string{m("gardetest"), m("web")}},
		{ImportPath: m("newpkg"), Imports: []string{m("")}},
	}
	want := []string{
		"garde imports vault: the kernel imports only leaves",
		"garde imports net/http: no kernel package imports net/http",
		"vault imports consent: a capability never imports another capability (go through an interface in the kernel)",
		"consent imports app: a capability imports only the trail, the kernel and leaves",
		"sqlite imports postgres: a storage adapter never imports another",
		"register imports github.com/jackc/pgx/v5: no leaf package imports github.com/jackc/pgx",
		`pii imports keyring: it may import only [] of garde (narrower, layers_test.go)`,
		`tenancy imports trail: it may import only ["" "pii" "keyring" "ledger" "egress" "problem" "register" "notify" "internal/mdpdf"] of garde (narrower, layers_test.go)`,
		"web/dashboard imports web: the dashboard never imports web (share code through web/internal)",
		"web imports gardetest: gardetest is test support: only tests import it",
		"newpkg has no layer: place it in layerOf (layers_test.go) and docs/architecture.md",
	}
	got := checkLayers(pkgs)
	if !slices.Equal(got, want) {
		t.Errorf("checkLayers(doctored graph) =\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}
