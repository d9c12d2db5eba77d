package schedule

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

const whatDate = "ISO 8601 date-time"

// ParseDate parses an ISO 8601 date-time or date. Without an offset the
// time is taken as UTC; with one, the result keeps that offset.
func ParseDate(s string) (time.Time, error) {
	text := strings.TrimSpace(s)
	if text == "" {
		return time.Time{}, syntaxErr(whatDate, s, "empty")
	}
	// Pick the one layout the text's shape calls for, so that the error
	// says what is wrong with it rather than that nothing matched.
	layout := "2006-01-02"
	if t := strings.IndexAny(text, "Tt"); t == len(layout) {
		clock := text[t+1:]
		offset := ""
		if z := strings.IndexAny(clock, "Zz+-"); z >= 0 {
			clock, offset = clock[:z], "Z07:00"
		}
		layout = "2006-01-02T15:04"
		if strings.Count(clock, ":") >= 2 {
			layout += ":05"
		}
		layout += offset
		// time.Parse wants upper case T and Z.
		text = text[:t] + "T" + strings.Replace(text[t+1:], "z", "Z", 1)
	} else if t >= 0 {
		// Let time.Parse report the malformed date part.
		layout = "2006-01-02T15:04:05Z07:00"
	}
	t, err := time.Parse(layout, strings.Replace(text, ",", ".", 1))
	if err != nil {
		return time.Time{}, &SyntaxError{What: whatDate, Text: s, Msg: describeTimeError(err), Err: err}
	}
	if !strings.HasSuffix(layout, "Z07:00") {
		t = t.UTC() // time.Parse already yields UTC; this states the rule
	}
	return t, nil
}

// layoutNames turns time.Parse's layout elements into words.
var layoutNames = map[string]string{
	"2006": "year", "01": "month", "02": "day", "15": "hour", "04": "minute",
	"05": "second", "Z07:00": "UTC offset (Z or ±hh:mm)", "-": "'-'", "T": "'T'", ":": "':'",
	".999999999": "fraction",
}

func describeTimeError(err error) string {
	var pe *time.ParseError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	if pe.Message != "" {
		return strings.TrimPrefix(pe.Message, ": ")
	}
	if pe.ValueElem == "" {
		if name, ok := layoutNames[pe.LayoutElem]; ok {
			return "missing " + name
		}
		return "too short"
	}
	if pe.LayoutElem == "" {
		return "unexpected " + quote(pe.ValueElem) + " at the end"
	}
	if name, ok := layoutNames[pe.LayoutElem]; ok {
		return "cannot parse " + quote(pe.ValueElem) + " as " + name
	}
	return "cannot parse " + quote(pe.ValueElem)
}

func quote(s string) string {
	const max = 20
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}
