package diagram

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Font sizes and line height of the default style. Wrapping happens here, on the server,
// so it needs the metrics of the font the style asks for: the table below holds the
// advance widths of Arial / Helvetica / Liberation Sans (metric-compatible), which the
// default font stack names first.
const (
	fontSize      = 12.0 // labels inside activities, pools and lanes
	labelFontSize = 11.0 // external labels of events, gateways, data and flows
	lineHeight    = 1.2  // times the font size
	labelWidth    = 90.0 // bpmn.io's default external label width
)

// arialWidths holds the advance widths of ASCII 32..126 in 1/1000 em.
var arialWidths = [...]int16{
	278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // space../
	556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
	1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
	667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
	333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
	556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
}

// textWidth estimates the rendered width of s at the given font size.
func textWidth(s string, size float64) float64 {
	w := 0
	for _, r := range s {
		switch {
		case r >= 32 && r <= 126:
			w += int(arialWidths[r-32])
		case isWide(r):
			w += 1000
		default:
			w += 556
		}
	}
	return float64(w) * size / 1000
}

// isWide reports East Asian wide characters, which take a full em.
func isWide(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) ||
		(r >= 0xFF00 && r <= 0xFF60)
}

// maxLines is the most lines a name or label is drawn with; a longer text ends in "…" on
// the last line (its element's tooltip and the pages still show all of it). Without a
// cap, one 10 MiB name would be drawn as a million lines on every render.
const maxLines = 40

// wrap breaks text into lines no wider than width: at explicit line breaks, then between
// words, and inside a word only when the word alone is too wide. It returns at most
// maxLines lines.
func wrap(text string, width, size float64) []string {
	// A shape narrower than a letter still gets a letter per line, not a loop forever.
	width = max(width, size)
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	var lines []string
	full := false
	add := func(ls ...string) {
		for _, l := range ls {
			if len(lines) == maxLines {
				full = true
				return
			}
			lines = append(lines, l)
		}
	}
	for para := range strings.SplitSeq(text, "\n") {
		if full {
			break
		}
		words := strings.Fields(para)
		if len(words) == 0 {
			if len(lines) > 0 {
				add("")
			}
			continue
		}
		line := ""
		for _, w := range words {
			if full {
				break
			}
			candidate := w
			if line != "" {
				candidate = line + " " + w
			}
			if textWidth(candidate, size) <= width {
				line = candidate
				continue
			}
			if line != "" {
				add(line)
				line = ""
			}
			if textWidth(w, size) > width {
				parts := splitWord(w, width, size, maxLines)
				add(parts[:len(parts)-1]...)
				w = parts[len(parts)-1]
			}
			line = w
		}
		if line != "" {
			add(line)
		}
	}
	if full {
		lines[len(lines)-1] += "…"
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// cut keeps the first n lines (at least one) and, when it drops some, ends the last line
// kept in "…", shortened until it fits width.
func cut(lines []string, n int, width, size float64) []string {
	n = max(n, 1)
	if len(lines) <= n {
		return lines
	}
	out := append([]string(nil), lines[:n]...)
	last := strings.TrimSuffix(out[n-1], "…")
	for last != "" && textWidth(last+"…", size) > width {
		_, sz := utf8.DecodeLastRuneInString(last)
		last = last[:len(last)-sz]
	}
	out[n-1] = strings.TrimRightFunc(last, unicode.IsSpace) + "…"
	return out
}

// splitWord cuts a word too wide for one line into pieces that fit (at least one rune
// each), in one pass: names can be long. It stops after limit pieces, the last one
// holding the rest.
func splitWord(w string, width, size float64, limit int) []string {
	var parts []string
	start, acc := 0, 0.0
	for i, r := range w {
		cw := textWidth(string(r), size)
		if i > start && acc+cw > width {
			parts = append(parts, w[start:i])
			start, acc = i, 0
			if len(parts) == limit {
				break
			}
		}
		acc += cw
	}
	return append(parts, w[start:])
}

// esc escapes s for XML text and attribute values. Characters XML cannot hold become U+FFFD.
func esc(s string) string {
	if !strings.ContainsAny(s, "<>&'\"\t\n\r") && isPlainXML(s) {
		return s
	}
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func isPlainXML(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == utf8.RuneError || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

// num formats a coordinate: two decimals at most, no trailing zeros, no "-0".
func num(v float64) string {
	v = math.Round(v*100) / 100
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// exact formats a DI value as written, for data attributes that tests compare to the DI.
func exact(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
