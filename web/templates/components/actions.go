package components

import (
	"strconv"
	"strings"
)

// rowID names an input of a variable editor row; the template row (-1) gets ids that
// app.js rewrites when it clones the row.
func rowID(i int, part string) string {
	if i < 0 {
		return "var-new-" + part
	}
	return "var-" + strconv.Itoa(i) + "-" + part
}

func nameOrNew(name string) string {
	if name == "" {
		return "the new variable"
	}
	return name
}

// rowsFor sizes a value's text box to its lines (1 to 12).
func rowsFor(v string) string {
	n := strings.Count(v, "\n") + 1
	return strconv.Itoa(min(max(n, 1), 12))
}

func rowTestID(i int) string {
	if i < 0 {
		return "var-row-template"
	}
	return "var-row"
}
