package event

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// declared reads the constants of event.go as the compiler sees them: name → value, for
// every exported constant, so a name added later is checked without being listed here.
func declared(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !n.IsExported() || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					continue // MaxDataBytes, checked on its own
				}
				v := constant.MakeFromLiteral(lit.Value, lit.Kind, 0)
				if v.Kind() == constant.String {
					out[n.Name] = constant.StringVal(v)
				}
			}
		}
	}
	if len(out) < 30 {
		t.Fatalf("found only %d constants in event.go: %v", len(out), out)
	}
	return out
}

// TestDocsListEveryName: docs/events.md is the documentation of this package, so it
// names (in backticks) every event type, kind, data field and element.cancelled reason
// declared here, and the size bound.
func TestDocsListEveryName(t *testing.T) {
	b, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for name, v := range declared(t) {
		if !strings.Contains(doc, "`"+v+"`") {
			t.Errorf("docs/events.md does not name %s (`%s`)", name, v)
		}
	}
	for _, r := range []string{ReasonErrorCaught("CODE", "BOUNDARY"), ReasonTimer("BOUNDARY"), ReasonTerminated("END"), ReasonInterrupted("ES"),
		ReasonCompletionCondition("ACTIVITY"), ReasonTransactionCancelled("END")} {
		if !strings.Contains(doc, "`"+r+"`") {
			t.Errorf("docs/events.md does not name the reason `%s`", r)
		}
	}
	if want := fmt.Sprintf("%d KiB", MaxDataBytes>>10); MaxDataBytes%1024 != 0 || !strings.Contains(doc, want) {
		t.Errorf("docs/events.md does not give MaxDataBytes as %s", want)
	}
}

// TestTypesAreTwoTokens: every type is kind.what, each part a plain subject token, so its
// subject is exactly <prefix>.events.<service>.<definition>.<type> (scheme 1: without the
// service) and its kind is declared.
func TestTypesAreTwoTokens(t *testing.T) {
	kinds := map[Kind]bool{}
	types := map[Type]string{}
	for name, v := range declared(t) {
		switch {
		case strings.HasPrefix(name, "Kind"):
			kinds[Kind(v)] = true
		case strings.HasPrefix(name, "Field"), strings.HasPrefix(name, "Reason"), strings.HasPrefix(name, "ElementType"):
		default:
			types[Type(v)] = name
		}
	}
	for typ, name := range types {
		kind, what, ok := strings.Cut(string(typ), ".")
		if !ok || strings.Contains(what, ".") || !plain(kind) || !plain(what) {
			t.Errorf("%s = %q is not two plain tokens", name, typ)
			continue
		}
		if typ.Kind() != Kind(kind) || !kinds[typ.Kind()] {
			t.Errorf("%s = %q: kind %q is not a declared Kind", name, typ, typ.Kind())
		}
	}
	for _, c := range []struct {
		t    Type
		want Kind
	}{{"", ""}, {"instance", ""}, {".x", ""}, {"a.b.c", "a"}, {InstanceStarted, KindInstance}, {StallCleared, KindStall}} {
		if got := c.t.Kind(); got != c.want {
			t.Errorf("Type(%q).Kind() = %q, want %q", c.t, got, c.want)
		}
	}
}

func plain(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func TestIsIncident(t *testing.T) {
	for typ, want := range map[Type]bool{IncidentOpened: true, IncidentResolved: true, InstanceStarted: false,
		JobFailed: false, "incident.other": false, StallDetected: false} {
		if typ.IsIncident() != want {
			t.Errorf("%s.IsIncident() = %v", typ, !want)
		}
	}
}

// TestLeaf: the package imports nothing of the project, so every package can use it.
func TestLeaf(t *testing.T) {
	for _, imp := range imports(t, ".") {
		if strings.HasPrefix(imp, "github.com/cockpit-engine/cockpit/") {
			t.Errorf("package event imports %s", imp)
		}
	}
}

// imports lists the imports of the package's non-test Go files.
func imports(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			out = append(out, strings.Trim(imp.Path.Value, `"`))
		}
	}
	return out
}
