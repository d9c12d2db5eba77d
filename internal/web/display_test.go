package web

import "testing"

// Stored JSON is shown with its characters: HTML-escaped and \u-escaped strings read as
// what they say, member order and other escapes are kept, and invalid JSON is left alone.
func TestDisplayJSON(t *testing.T) {
	for _, c := range []struct {
		name, raw string
		indent    bool
		want      string
	}{
		{"html escapes", `"\u003cscript\u003ealert(1)\u003c/script\u003e \u0026"`, false, `"<script>alert(1)</script> &"`},
		{"other escapes", `"caf\u00e9 \ud83d\ude00 tab\tq\"b\\"`, false, `"café 😀 tab\tq\"b\\"`},
		{"escaped backslash before u", `"\\u003c"`, false, `"\\u003c"`},
		{"control and separators stay escaped", `"a\u0001b\u2028c"`, false, `"a\u0001b\u2028c"`},
		{"object keeps its order", `{"z":"\u003c","a":[1,"\u003e"]}`, false, `{"z":"<","a":[1,">"]}`},
		{"object indented", `{"z":"\u003cb\u003e","a":1}`, true, "{\n  \"z\": \"<b>\",\n  \"a\": 1\n}"},
		{"number", `42.5`, true, `42.5`},
		{"invalid", `{"a":`, true, `{"a":`},
		{"key escaped", `{"\u003ck":true}`, false, `{"<k":true}`},
	} {
		if got := displayJSON([]byte(c.raw), c.indent); got != c.want {
			t.Errorf("%s: displayJSON(%s) = %s, want %s", c.name, c.raw, got, c.want)
		}
	}
}
