package camunda

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Typed variables: Camunda's {value, type, valueInfo}. A value JSON can tell (String,
// Boolean, Null, an Integer) is stored as plain JSON, so expressions and every other API
// see it as it is; the others are stored as engine.Typed, their JSON with the type name
// in the variable's row:
//
//	Short, Long, Double   the number
//	Date                  the date as Camunda writes it (yyyy-MM-dd'T'HH:mm:ss.SSSZ, UTC)
//	Json                  the JSON document itself (an object for expressions)
//	Object                the JSON document itself; the row's type is "Object:" and the
//	                      objectTypeName (only serializationDataFormat application/json)
//	Bytes                 the base64 text
//	File                  {"filename", "mimeType", "encoding", "data": base64}
//
// Reading a row back gives its stored type, or for a plain value the type its JSON tells
// (an integral number within 32 bits is an Integer, within 64 a Long, any other a Double;
// an object or array is Json).

// Type names as Camunda writes them.
const (
	typeString  = "String"
	typeBoolean = "Boolean"
	typeShort   = "Short"
	typeInteger = "Integer"
	typeLong    = "Long"
	typeDouble  = "Double"
	typeDate    = "Date"
	typeNull    = "Null"
	typeJSON    = "Json"
	typeObject  = "Object"
	typeBytes   = "Bytes"
	typeFile    = "File"
	// objectPrefix starts the stored type of an Object: "Object:" and its objectTypeName.
	objectPrefix = "Object:"
	// jsonFormat is the one Object serialization taken.
	jsonFormat = "application/json"
	// maxVariables bounds the variables of one request.
	maxVariables = 1000
)

// variable is a typed value as Camunda's REST API writes and reads it.
type variable struct {
	Value     json.RawMessage `json:"value"`
	Type      string          `json:"type,omitempty"`
	ValueInfo map[string]any  `json:"valueInfo"`
}

// fileValue is what a File variable stores.
type fileValue struct {
	Filename string `json:"filename"`
	MimeType string `json:"mimeType,omitempty"`
	Encoding string `json:"encoding,omitempty"`
	Data     string `json:"data"`
}

// toEngine turns typed variables into the values the engine stores (what names them in
// errors: "variables", "localVariables", …).
func toEngine(what string, in map[string]variable) (map[string]any, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > maxVariables {
		return nil, badRequest("%s: %d variables, more than the limit of %d", what, len(in), maxVariables)
	}
	out := make(map[string]any, len(in))
	for name, v := range in {
		ev, err := v.engineValue()
		if err != nil {
			return nil, badRequest("Cannot set variable %q (%s): %v", name, what, err)
		}
		out[name] = ev
	}
	return out, nil
}

// engineValue is the value the engine stores for v.
func (v variable) engineValue() (any, error) {
	raw := bytes.TrimSpace(v.Value)
	isNull := len(raw) == 0 || string(raw) == "null"
	typ := strings.ToLower(v.Type)
	if typ == "" {
		typ = inferType(raw)
	}
	if isNull && typ != "null" && typ != "file" && typ != "bytes" {
		// Camunda keeps the type of a null value; JSON null says enough here.
		return nil, nil
	}
	switch typ {
	case "null":
		return nil, nil
	case "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("a String must be a JSON string")
		}
		return s, nil
	case "boolean":
		switch string(raw) {
		case "true", `"true"`:
			return true, nil
		case "false", `"false"`:
			return false, nil
		}
		return nil, fmt.Errorf("a Boolean must be true or false")
	case "short", "integer", "long":
		n, err := integer(raw)
		if err != nil {
			return nil, err
		}
		switch {
		case typ == "short" && (n < math.MinInt16 || n > math.MaxInt16):
			return nil, fmt.Errorf("%d is out of a Short's range", n)
		case typ == "integer" && (n < math.MinInt32 || n > math.MaxInt32):
			return nil, fmt.Errorf("%d is out of an Integer's range", n)
		case typ == "integer":
			return n, nil // a plain number: it reads back as an Integer
		case typ == "short":
			return engine.Typed{Type: typeShort, Value: n}, nil
		}
		return engine.Typed{Type: typeLong, Value: json.Number(strconv.FormatInt(n, 10))}, nil
	case "double":
		f, err := number(raw)
		if err != nil {
			return nil, err
		}
		return engine.Typed{Type: typeDouble, Value: f}, nil
	case "date":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("a Date must be a string as yyyy-MM-dd'T'HH:mm:ss.SSSZ")
		}
		t, err := parseDate(s)
		if err != nil {
			return nil, err
		}
		return engine.Typed{Type: typeDate, Value: t.UTC().Format(dateLayout)}, nil
	case "json":
		doc, err := document(raw)
		if err != nil {
			return nil, fmt.Errorf("a Json value must be JSON text: %v", err)
		}
		return engine.Typed{Type: typeJSON, Value: doc}, nil
	case "object":
		if f, _ := v.ValueInfo["serializationDataFormat"].(string); f != "" && f != jsonFormat {
			return nil, fmt.Errorf("an Object must be serialized as %s, not %s (Cockpit runs no Java)", jsonFormat, f)
		}
		name, _ := v.ValueInfo["objectTypeName"].(string)
		if len(name) > engine.MaxNameBytes-len(objectPrefix) {
			return nil, fmt.Errorf("objectTypeName is more than %d bytes", engine.MaxNameBytes-len(objectPrefix))
		}
		doc, err := document(raw)
		if err != nil {
			return nil, fmt.Errorf("an Object must be JSON text: %v", err)
		}
		return engine.Typed{Type: objectPrefix + name, Value: doc}, nil
	case "bytes", "file":
		var s string
		if !isNull {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, fmt.Errorf("a %s value must be base64 text", v.Type)
			}
			if _, err := b64.DecodeString(s); err != nil {
				return nil, fmt.Errorf("a %s value must be base64 text: %v", v.Type, err)
			}
		}
		if typ == "bytes" {
			return engine.Typed{Type: typeBytes, Value: s}, nil
		}
		f := fileValue{Data: s}
		f.Filename, _ = v.ValueInfo["filename"].(string)
		f.Encoding, _ = v.ValueInfo["encoding"].(string)
		if f.MimeType, _ = v.ValueInfo["mimeType"].(string); f.MimeType == "" {
			f.MimeType, _ = v.ValueInfo["mimetype"].(string) // as the JavaScript client writes it
		}
		if f.Filename == "" {
			return nil, fmt.Errorf("a File needs valueInfo.filename")
		}
		return engine.Typed{Type: typeFile, Value: f}, nil
	}
	return nil, fmt.Errorf("unknown type %q: Cockpit takes String, Boolean, Short, Integer, Long, Double, Date, Null, Json, Object, Bytes and File", v.Type)
}

// inferType is the type of an untyped value, as Camunda infers it from the JSON.
func inferType(raw []byte) string {
	switch store.ValueType(raw) {
	case store.TypeString:
		return "string"
	case store.TypeBoolean:
		return "boolean"
	case store.TypeNull:
		return "null"
	case store.TypeNumber:
		return strings.ToLower(numberType(raw))
	}
	return "json"
}

// integer reads a whole number (or its decimal text).
func integer(raw []byte) (int64, error) {
	s := strings.Trim(string(raw), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a whole number of at most 64 bits", s)
	}
	return n, nil
}

// number reads a finite number (or its decimal text).
func number(raw []byte) (float64, error) {
	s := strings.Trim(string(raw), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("%s is not a finite number", s)
	}
	return f, nil
}

// document reads a Json or Object value: JSON text in a string (as the clients send
// it), or the JSON itself.
func document(raw []byte) (json.RawMessage, error) {
	if store.ValueType(raw) == store.TypeString {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		raw = []byte(s)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("invalid JSON")
	}
	return json.RawMessage(raw), nil
}

// numberType is the Camunda type of a plain JSON number.
func numberType(raw []byte) string {
	if n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64); err == nil {
		if n >= math.MinInt32 && n <= math.MaxInt32 {
			return typeInteger
		}
		return typeLong
	}
	// 1e3 or 2.0: a whole number written as a float is still a whole number.
	if f, err := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		if f >= math.MinInt32 && f <= math.MaxInt32 {
			return typeInteger
		}
		return typeLong
	}
	return typeDouble
}

// fromRow is a stored variable in Camunda's typed form. deserialize is Camunda's
// deserializeValues: an Object's value is then its JSON document, else the document's
// text.
func fromRow(row *store.Variable, deserialize bool) variable {
	raw := row.Value
	switch t := row.Type; {
	case t == typeShort || t == typeLong || t == typeDouble || t == typeDate || t == typeBytes:
		return variable{Value: raw, Type: t, ValueInfo: map[string]any{}}
	case t == typeJSON:
		return variable{Value: quoted(raw), Type: typeJSON, ValueInfo: map[string]any{}}
	case strings.HasPrefix(t, objectPrefix):
		v := variable{Value: quoted(raw), Type: typeObject, ValueInfo: map[string]any{
			"objectTypeName": strings.TrimPrefix(t, objectPrefix), "serializationDataFormat": jsonFormat}}
		if deserialize {
			v.Value = raw
		}
		return v
	case t == typeFile:
		var f fileValue
		_ = json.Unmarshal(raw, &f)
		info := map[string]any{"filename": f.Filename}
		if f.MimeType != "" {
			info["mimeType"] = f.MimeType
		}
		if f.Encoding != "" {
			info["encoding"] = f.Encoding
		}
		return variable{Value: json.RawMessage("null"), Type: typeFile, ValueInfo: info}
	}
	switch store.ValueType(raw) {
	case store.TypeString:
		return variable{Value: raw, Type: typeString, ValueInfo: map[string]any{}}
	case store.TypeBoolean:
		return variable{Value: raw, Type: typeBoolean, ValueInfo: map[string]any{}}
	case store.TypeNull:
		return variable{Value: json.RawMessage("null"), Type: typeNull, ValueInfo: map[string]any{}}
	case store.TypeNumber:
		return variable{Value: raw, Type: numberType(raw), ValueInfo: map[string]any{}}
	}
	return variable{Value: quoted(raw), Type: typeJSON, ValueInfo: map[string]any{}}
}

// quoted is raw JSON as a JSON string (a Json value's text).
func quoted(raw json.RawMessage) json.RawMessage {
	b, _ := json.Marshal(string(raw))
	return b
}

// fromRows is fromRow over a map of rows.
func fromRows(rows map[string]*store.Variable, deserialize bool) map[string]variable {
	out := make(map[string]variable, len(rows))
	for name, row := range rows {
		out[name] = fromRow(row, deserialize)
	}
	return out
}

// fileData is the content of a File or Bytes variable, with its media type and file name.
func fileData(row *store.Variable) (data []byte, mediaType, filename string, err error) {
	switch row.Type {
	case typeFile:
		var f fileValue
		if err := json.Unmarshal(row.Value, &f); err != nil {
			return nil, "", "", fmt.Errorf("variable %q: stored file unreadable: %w", row.Name, err)
		}
		data, err := b64.DecodeString(f.Data)
		if err != nil {
			return nil, "", "", fmt.Errorf("variable %q: stored file unreadable: %w", row.Name, err)
		}
		mt := f.MimeType
		if _, _, perr := mime.ParseMediaType(mt); mt == "" || perr != nil {
			mt = "application/octet-stream"
		}
		if f.Encoding != "" && !strings.Contains(mt, "charset") {
			mt += "; charset=" + f.Encoding
		}
		return data, mt, f.Filename, nil
	case typeBytes:
		var s string
		if err := json.Unmarshal(row.Value, &s); err != nil {
			return nil, "", "", fmt.Errorf("variable %q: stored bytes unreadable: %w", row.Name, err)
		}
		data, err := b64.DecodeString(s)
		if err != nil {
			return nil, "", "", fmt.Errorf("variable %q: stored bytes unreadable: %w", row.Name, err)
		}
		return data, "application/octet-stream", "", nil
	}
	return nil, "", "", badRequest("variable %q is a %s, not a File or Bytes: it has no binary data", row.Name, fromRow(row, false).Type)
}

// variableData answers the content of a File or Bytes variable of an instance (the
// JavaScript client's File.load asks /execution/{processInstanceId}/localVariables/…).
func (s *Server) variableData(w http.ResponseWriter, r *http.Request) error {
	id, name := r.PathValue("id"), r.PathValue("name")
	d, err := s.o.Engine.GetInstance(r.Context(), id)
	if err != nil {
		return err
	}
	for _, row := range d.Variables {
		if row.Name != name || row.Scope != "" {
			continue
		}
		data, mt, filename, err := fileData(row)
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", mt)
		if filename != "" {
			w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return nil
	}
	return notFound("the instance %s has no variable %q", id, name)
}
