package web

import (
	"bytes"
	"encoding/json"
)

// displayJSON returns JSON text as a person reads it: each string written with its
// characters (encoding/json's Marshal writes <, > and & as \u003c, \u003e, \u0026, and a
// client may have escaped anything), objects and arrays indented when indent is set. The
// order of members is kept. The page escapes the result as HTML like any text (templ),
// so showing "<script>" as such is safe. Invalid JSON is returned as it is.
func displayJSON(raw []byte, indent bool) string {
	if !json.Valid(raw) {
		return string(raw)
	}
	out := make([]byte, 0, len(raw))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := 0; i < len(raw); {
		if raw[i] != '"' {
			out = append(out, raw[i])
			i++
			continue
		}
		// A string token: up to the closing quote (a backslash always starts an escape).
		j := i + 1
		for j < len(raw) && raw[j] != '"' {
			if raw[j] == '\\' {
				j++
			}
			j++
		}
		tok := raw[i:min(j+1, len(raw))]
		var s string
		buf.Reset()
		if json.Unmarshal(tok, &s) == nil && enc.Encode(s) == nil {
			out = append(out, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		} else {
			out = append(out, tok...)
		}
		i = j + 1
	}
	if t := bytes.TrimSpace(out); indent && len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		var ind bytes.Buffer
		if json.Indent(&ind, out, "", "  ") == nil {
			return ind.String()
		}
	}
	return string(out)
}
