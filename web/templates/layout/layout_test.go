package layout_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/a-h/templ"

	"github.com/cockpit-engine/cockpit/web/templates/layout"
)

var update = flag.Bool("update", false, "rewrite testdata/page.html")

// TestPageGolden pins the page frame: head, skip link, navigation with the current
// section marked, search and theme toggle.
func TestPageGolden(t *testing.T) {
	content := templ.Raw(`<h1>Content</h1>`)
	var buf bytes.Buffer
	ctx := templ.WithChildren(context.Background(), content)
	if err := layout.Page(layout.Props{Title: "Instances", Nav: layout.NavInstances, AssetVersion: "v1", Search: "B-1"}).Render(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(buf.String(), "><", ">\n<") + "\n"
	for _, want := range []string{"<title>Instances · Cockpit</title>", `href="#main"`, `<a href="/instances" aria-current="page">`,
		`value="B-1"`, `<h1>Content</h1>`, `/static/app.js?v=v1`} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	const path = "testdata/page.html"
	if *update {
		_ = os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("page differs from %s (run with -update if intended):\n%s", path, got)
	}
}
