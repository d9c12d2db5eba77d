package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// Variable types the editor offers; they are the store's types, so a variable keeps its
// type unless the operator changes it.
var variableTypes = []string{store.TypeString, store.TypeNumber, store.TypeBoolean, store.TypeObject, store.TypeArray, store.TypeNull}

// blankVariableRows is how many empty rows an editor offers for new variables (app.js
// adds more on demand).
const blankVariableRows = 2

// The variable editor posts one row per variable as parallel fields, in document order:
// vname, vtype, vvalue, and vorig (the variable's type and JSON value when the page was
// drawn, empty for a new row). Every row has all four, so the lists line up.
const (
	fieldVarName  = "vname"
	fieldVarType  = "vtype"
	fieldVarValue = "vvalue"
	fieldVarOrig  = "vorig"
)

// variableEditorRows shows the instance's variables as editable rows plus blank ones.
// processVariables keeps the process's variables: the editor sets variables of the
// process scope (SetVariables), never a subprocess's or a task's locals.
func processVariables(vars []*store.Variable) []*store.Variable {
	out := make([]*store.Variable, 0, len(vars))
	for _, v := range vars {
		if v.Scope == "" {
			out = append(out, v)
		}
	}
	return out
}

func variableEditorRows(vars []*store.Variable) []pages.VariableInput {
	rows := make([]pages.VariableInput, 0, len(vars)+blankVariableRows)
	for _, v := range vars {
		rows = append(rows, pages.VariableInput{Name: v.Name, Type: v.Type, Value: editorValue(v.Type, v.Value),
			Orig: origToken(v.Type, v.Value), Existing: true})
	}
	return appendBlankRows(rows)
}

func appendBlankRows(rows []pages.VariableInput) []pages.VariableInput {
	for range blankVariableRows {
		rows = append(rows, pages.VariableInput{Type: store.TypeString})
	}
	return rows
}

// editorValue is how a stored value is typed into the editor: strings without their
// quotes, objects and arrays indented, null as nothing.
func editorValue(typ string, raw json.RawMessage) string {
	switch typ {
	case store.TypeString:
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	case store.TypeObject, store.TypeArray:
		return displayJSON(raw, true) // with its characters, not \u003c
	case store.TypeNull:
		return ""
	}
	return string(raw)
}

// origToken records a variable's value as drawn, so an unchanged row is not sent again
// (strings with their characters, as the editor shows them: "<" and "\u003c" are one).
func origToken(typ string, raw json.RawMessage) string {
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(displayJSON(raw, false))) != nil {
		return typ + ":" + string(raw)
	}
	return typ + ":" + buf.String()
}

// parseVariableRows reads the editor's rows from a posted form. It returns the variables
// to set (new rows and rows whose type or value changed), the rows as typed (with an
// error on each bad one, to show the form again), and whether any row was bad.
func parseVariableRows(form url.Values) (vars map[string]any, rows []pages.VariableInput, invalid bool) {
	names, types, values, origs := form[fieldVarName], form[fieldVarType], form[fieldVarValue], form[fieldVarOrig]
	vars = map[string]any{}
	seen := map[string]bool{}
	for i := range names {
		row := pages.VariableInput{Name: strings.TrimSpace(names[i]), Type: at(types, i), Value: at(values, i), Orig: at(origs, i)}
		row.Existing = row.Orig != ""
		if row.Type == "" {
			row.Type = store.TypeString
		}
		rows = append(rows, row)
		r := &rows[len(rows)-1]
		if r.Name == "" {
			if strings.TrimSpace(r.Value) != "" {
				r.Error, invalid = "Give this value a variable name, or clear the value.", true
			}
			continue
		}
		if seen[r.Name] {
			r.Error, invalid = fmt.Sprintf("Variable %q is listed twice; keep one row.", r.Name), true
			continue
		}
		seen[r.Name] = true
		v, err := typedValue(r.Name, r.Type, r.Value)
		if err != nil {
			r.Error, invalid = err.Error(), true
			continue
		}
		if r.Existing && origToken(r.Type, v) == r.Orig {
			continue // unchanged
		}
		vars[r.Name] = v
	}
	return vars, rows, invalid
}

func at(list []string, i int) string {
	if i < len(list) {
		return list[i]
	}
	return ""
}

// typedValue turns what the operator typed into the JSON value of the chosen type. Its
// errors name the variable and the expected type, and JSON errors their position, so they
// can be shown beside the row as they are.
func typedValue(name, typ, raw string) (json.RawMessage, error) {
	t := strings.TrimSpace(raw)
	switch typ {
	case store.TypeString:
		b, _ := json.Marshal(raw)
		return b, nil
	case store.TypeNumber:
		// JSON's number grammar: no NaN, Inf, hex or digit separators, which a JSON
		// variable could not hold anyway.
		if t == "" || !json.Valid([]byte(t)) || !(t[0] == '-' || (t[0] >= '0' && t[0] <= '9')) {
			return nil, fmt.Errorf("variable %q: expected a number such as 42, -1.5 or 2e3, got %s", name, quoteShort(raw))
		}
		if _, err := strconv.ParseFloat(t, 64); err != nil {
			return nil, fmt.Errorf("variable %q: %s is out of range for a number", name, quoteShort(raw))
		}
		return json.RawMessage(t), nil
	case store.TypeBoolean:
		switch strings.ToLower(t) {
		case "true":
			return json.RawMessage("true"), nil
		case "false":
			return json.RawMessage("false"), nil
		}
		return nil, fmt.Errorf("variable %q: expected a boolean (true or false), got %s", name, quoteShort(raw))
	case store.TypeObject, store.TypeArray:
		v, err := parseJSON(raw)
		if err != nil {
			return nil, fmt.Errorf("variable %q: expected a JSON %s, but %w", name, typ, err)
		}
		got := jsonKind(v)
		if got != typ {
			return nil, fmt.Errorf("variable %q: expected a JSON %s (%s), got a JSON %s", name, typ, typeExample(typ), got)
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, []byte(t))
		return buf.Bytes(), nil
	case store.TypeNull:
		if t != "" && t != "null" {
			return nil, fmt.Errorf("variable %q: type null takes no value; clear the value or choose another type", name)
		}
		return json.RawMessage("null"), nil
	}
	return nil, fmt.Errorf("variable %q: unknown type %q; use one of %s", name, typ, strings.Join(variableTypes, ", "))
}

func typeExample(typ string) string {
	if typ == store.TypeObject {
		return `such as {"key": "value"}`
	}
	return "such as [1, 2, 3]"
}

// parseJSON decodes one JSON value. Its error says where the text goes wrong, as line and
// column (1-based) and byte offset.
func parseJSON(raw string) (any, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("the value is empty")
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, jsonPositionError(raw, se.Offset, se.Error())
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, jsonPositionError(raw, int64(len(raw))+1, "unexpected end of JSON input; something is not closed")
		}
		return nil, fmt.Errorf("the JSON is not valid: %v", err)
	}
	if off := dec.InputOffset(); strings.TrimSpace(raw[off:]) != "" {
		rest := len(raw) - len(strings.TrimLeft(raw[off:], " \t\r\n"))
		return nil, jsonPositionError(raw, int64(rest)+1, "unexpected text after the JSON value")
	}
	return v, nil
}

// jsonPositionError names the line and column of a byte offset. Decoders report the
// offset just past the byte that failed; that byte is the one to point at.
func jsonPositionError(raw string, offset int64, msg string) error {
	if offset < 1 {
		offset = 1
	}
	if offset > int64(len(raw))+1 {
		offset = int64(len(raw)) + 1 // the end of the text
	}
	line, col := 1, 1
	for _, r := range raw[:offset-1] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("the JSON is not valid at line %d, column %d (byte %d): %s", line, col, offset, msg)
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return store.TypeObject
	case []any:
		return store.TypeArray
	case string:
		return store.TypeString
	case json.Number:
		return store.TypeNumber
	case bool:
		return store.TypeBoolean
	}
	return store.TypeNull
}

// parseVariablesJSON reads a JSON object of variables (the message form's text box).
// Empty means none.
func parseVariablesJSON(raw string) (map[string]any, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	v, err := parseJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("Variables: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf(`Variables: expected a JSON object such as {"approved": true}, got a JSON %s`, jsonKind(v))
	}
	for name := range obj {
		if strings.TrimSpace(name) == "" {
			return nil, errors.New("Variables: a variable name is empty")
		}
	}
	return obj, nil
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}

// sortedNames lists a variable map's names, sorted, for messages.
func sortedNames(vars map[string]any) []string {
	names := make([]string, 0, len(vars))
	for n := range vars {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
