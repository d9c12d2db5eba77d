package components_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/a-h/templ"

	"github.com/cockpit-engine/cockpit/web/templates/components"
)

var update = flag.Bool("update", false, "rewrite the golden HTML in testdata/")

var now = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// TestGolden renders each shared component with fixed data and compares the HTML with
// testdata/<name>.html. Run `go test ./web/templates/components -update` after an
// intended change, and review the diff.
func TestGolden(t *testing.T) {
	t.Parallel()
	ended := now.Add(-90 * time.Second)
	cases := []struct {
		name string
		c    templ.Component
	}{
		{"state_pills", join(components.StatePill("active"), components.StatePill("suspended"), components.StatePill("completed"),
			components.StatePill("cancelled"), components.StatePill("incident"), components.StatePill("joining"))},
		{"time", join(components.Time(now.Add(-3*time.Minute), now), components.Time(time.Time{}, now),
			components.OptTime(&ended, now), components.OptTime(nil, now), components.Time(now.Add(2*time.Hour), now))},
		{"id", join(components.ID(components.IDProps{ID: "01a2-x", Href: "/instances/01a2-x"}),
			components.ID(components.IDProps{ID: "t-1", Copy: true}))},
		{"count", join(components.Count(components.Bounded{N: 0}, "active"), components.Count(components.Bounded{N: 7}, "active"),
			components.Count(components.Bounded{N: 1000, Capped: true}, "incident"))},
		{"empty_state", components.EmptyState(components.EmptyProps{Title: "No instances match these filters",
			Body: "Loosen a filter.", ActionHref: "/instances", ActionLabel: "Clear filters"})},
		{"pager", join(components.Pager(components.PagerProps{Shown: 50, NextHref: "/instances?after=abc"}),
			components.Pager(components.PagerProps{Shown: 3, FirstHref: "/instances"}))},
		{"stat", components.Stat(components.StatProps{Label: "Open incidents", Value: "12", Href: "/incidents", Bad: true, TestID: "stat-incidents"})},
		{"unserved", join(components.Unserved(nil), components.Unserved([]components.UnservedType{{Type: "charge <card>", Jobs: 3},
			{Type: "mail", Jobs: 1}, {Type: "ship", Jobs: 0}, {Type: "class:com.acme.Charge", Jobs: 2}}))},
		{"value", join(components.Value("B-17", components.CellChars, "mono"),
			components.Value(`<script>alert(1)</script>`+strings.Repeat("K", 100), 12, ""))},
		{"diagram_placeholder", components.Diagram(components.DiagramProps{Placeholder: "No diagram yet.", Legend: []string{"active", "incident"}})},
		{"diagram_svg", components.Diagram(components.DiagramProps{SVG: []byte(`<svg viewBox="0 0 10 10"><g data-element-id="a"></g></svg>`),
			ElementHref: "/instances?process=p&waitingAt={id}", Legend: []string{"visited"}})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			if err := c.c.Render(context.Background(), &buf); err != nil {
				t.Fatal(err)
			}
			got := strings.ReplaceAll(buf.String(), "><", ">\n<") + "\n"
			path := filepath.Join("testdata", c.name+".html")
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
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
				t.Errorf("%s differs from the golden file (run with -update if intended):\n--- got\n%s\n--- want\n%s", c.name, got, want)
			}
		})
	}
}

func join(cs ...templ.Component) templ.Component { return templ.Join(cs...) }

func TestRelative(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{0, "just now"}, {30 * time.Second, "30s ago"}, {5 * time.Minute, "5m ago"}, {3 * time.Hour, "3h ago"},
		{50 * time.Hour, "2d ago"}, {-10 * time.Minute, "in 10m"},
	} {
		if got := components.Relative(now.Add(-c.d), now); got != c.want {
			t.Errorf("Relative(-%v) = %q, want %q", c.d, got, c.want)
		}
	}
	if got := components.Duration(3*time.Minute + 5*time.Second); got != "3m 05s" {
		t.Errorf("Duration = %q", got)
	}
}
