package postgres

import (
	"strings"
	"testing"
)

func TestQualifiedJobColsMatchJobCols(t *testing.T) {
	want := "jobs." + strings.ReplaceAll(jobCols, ", ", ", jobs.")
	got := strings.Join(strings.Fields(qualifiedJobCols), " ")
	if got != want {
		t.Fatalf("qualifiedJobCols\n got %s\nwant %s", got, want)
	}
}

// TestSplitSearchPath: schema names as PostgreSQL reads a search_path setting.
func TestSplitSearchPath(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{``, nil},
		{`public`, []string{"public"}},
		{`"$user", public`, []string{"$user", "public"}},
		{` Cockpit_A ,b`, []string{"cockpit_a", "b"}},
		{`"Mixed Case", x`, []string{"Mixed Case", "x"}},
		{`"say ""hi""",y`, []string{`say "hi"`, "y"}},
		{`"ÄÖ",Ä`, []string{"ÄÖ", "Ä"}},
		{`"unterminated`, nil},
		{`a,,b`, []string{"a", "b"}},
	} {
		got := splitSearchPath(c.in)
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("splitSearchPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
