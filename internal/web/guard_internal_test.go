package web

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/web/templates/components"
)

// leavesServer tells whether a browser would take target somewhere other than a path on
// this server: it drops tabs and newlines anywhere and reads a backslash as a slash
// (the WHATWG URL parser), then resolves the result against this server's address.
func leavesServer(target string) bool {
	cleaned := strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, strings.TrimLeft(target, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "))
	base, _ := url.Parse("http://cockpit.local/")
	u, err := url.Parse(cleaned)
	if err != nil {
		return true
	}
	r := base.ResolveReference(u)
	return r.Host != "cockpit.local" || r.Scheme != "http"
}

var redirectCases = []string{
	"/instances", "/instances/abc?x=1#top", "/incidents?state=open&back=%2F%2Fevil",
	"//evil.example", "/\\evil.example", "/\t/evil.example", "/\n/evil.example", "/\r/evil.example",
	"\t//evil.example", " //evil.example", "/%09/evil.example", "\\\\evil.example", "/\\/evil.example",
	"https://evil.example", "javascript:alert(1)", "http:/evil.example", "evil.example", "", "/a\x00b",
	"/\u0085/evil.example", "/\xff", "///evil.example", "/.//evil.example", "/a/../..//evil.example",
}

// TestLocalPath: no redirect target taken from a request leaves the server; local paths
// are kept as given.
func TestLocalPath(t *testing.T) {
	for _, c := range redirectCases {
		got := localPath(c, "/fallback")
		if leavesServer(got) {
			t.Errorf("localPath(%q) = %q: leaves the server", c, got)
		}
	}
	for _, keep := range []string{"/instances", "/instances/abc?x=1#top", "/incidents?state=open&back=%2F%2Fevil", "/.//evil.example"} {
		if got := localPath(keep, "/fallback"); got != keep {
			t.Errorf("localPath(%q) = %q, want it kept", keep, got)
		}
	}
}

func FuzzLocalPath(f *testing.F) {
	for _, c := range redirectCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if got := localPath(target, "/"); leavesServer(got) {
			t.Errorf("localPath(%q) = %q: leaves the server", target, got)
		}
	})
}

// TestCSVCell: a cell a spreadsheet would run as a formula is made text; numbers and
// everything else are written as they are.
func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://evil","x")`: `'=HYPERLINK("http://evil","x")`,
		"+cmd|' /C calc'!A0":            "'+cmd|' /C calc'!A0",
		"-2+3":                          "'-2+3",
		"@SUM(A1)":                      "'@SUM(A1)",
		"\t=1":                          "'\t=1",
		"\r=1":                          "'\r=1",
		"-5":                            "-5",
		"+1.5e3":                        "+1.5e3",
		"-0.25":                         "-0.25",
		"42":                            "42",
		"":                              "",
		"B-1":                           "B-1",
		"a=b":                           "a=b",
	} {
		if got := csvCell(in); got != want {
			t.Errorf("csvCell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostPolicyIPLiterals: a Host that is an IP literal (a probe or scraper reaching a
// pod by its address) is served with any port, bracketed IPv6 too; names still have to
// be allowed, including names that merely start with an address.
func TestHostPolicyIPLiterals(t *testing.T) {
	p := newHostPolicy([]string{"cockpit.example"})
	for _, h := range []string{"10.1.2.3:8080", "10.1.2.3", "192.168.0.7:80", "[fd00::1]:8080", "[fd00::1]", "[::ffff:10.0.0.1]:9", "cockpit.example:1", "localhost:8080"} {
		if !p.ok(h) {
			t.Errorf("Host %q refused", h)
		}
	}
	for _, h := range []string{"evil.example", "10.1.2.3.evil.example:8080", "[evil.example]:80", "10.1.2.3:8080:1", "", ":8080"} {
		if p.ok(h) {
			t.Errorf("Host %q allowed", h)
		}
	}
}

// TestClipsAreRuneSafe: the bounded texts of errors and the bulk confirm page never cut
// a character in two, and bound user values.
func TestClipsAreRuneSafe(t *testing.T) {
	long := "x" + strings.Repeat("ä", 5000) // 2 bytes each, after an odd byte
	for name, got := range map[string]string{
		"quoteParam":     quoteParam(long),
		"firstLineOf":    firstLineOf(long, components.CellChars),
		"describeFilter": describeFilter(url.Values{"businessKey": {long}}),
	} {
		if !utf8.ValidString(got) || strings.Contains(got, "\\x") || strings.Contains(got, "\uFFFD") {
			t.Errorf("%s: splits a character: %q", name, got[max(0, len(got)-12):])
		}
		if n := utf8.RuneCountInString(got); n > 200 {
			t.Errorf("%s: %d characters, want a bounded text", name, n)
		}
	}
}
