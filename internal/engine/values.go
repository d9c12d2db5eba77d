package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Size limits of what a command stores. Every event goes to NATS as one message, and a
// message larger than the server's max_payload (1 MiB by default) can never be published,
// so values are measured as they are published: JSON as encoding/json writes it, which
// escapes <, > and & as \u003c (a string of "<" grows sixfold). Keys and names are also
// bounded because the stores index them: PostgreSQL refuses a B-tree entry over about
// 2.7 KB. Behind them all, no event's data may pass event.MaxDataBytes (run.flush).
const (
	// MaxVariableBytes bounds one variable's value, JSON-encoded as published.
	MaxVariableBytes = 256 << 10
	// MaxVariablesBytes bounds all the variables one command (or one step: a script's
	// result, a handler's output, a mapping) sets, encoded together as the
	// variables.changed event that carries them.
	MaxVariablesBytes = 512 << 10
	// MaxBusinessKeyBytes bounds a business key and a message correlation key (a message
	// start event makes its correlation key the instance's business key).
	MaxBusinessKeyBytes = store.MaxKeyBytes
	// MaxNameBytes bounds a variable name, a message name, a process key, an element or
	// flow id, a job type, an assignee and an error code.
	MaxNameBytes = store.MaxNameBytes
	// MaxHeadersBytes bounds the static headers of one task (zeebe:taskHeaders: keys and
	// values together), which travel with every job of the task to its handler or worker.
	MaxHeadersBytes = 64 << 10
	// MaxReasonBytes bounds the reason given for a cancellation.
	MaxReasonBytes = 4 << 10
	// MaxErrorMessageBytes is where a handler's error message, or a thrown error's code
	// and message, is cut (a failure is never refused: it is recorded, shortened).
	MaxErrorMessageBytes = 8 << 10
	// MaxErrorDetailsBytes is where a failure's details (a stack trace, a response body)
	// are cut: enough for any stack, small enough that one failure cannot make its
	// incident's event or the incident page unbounded.
	MaxErrorDetailsBytes = 64 << 10
)

// checkSize refuses a value longer than limit, naming the limit.
func checkSize(what string, n, limit int) error {
	if n > limit {
		return fmt.Errorf("%s is %d bytes, more than the limit of %d bytes: %w", what, n, limit, ErrInvalidInput)
	}
	return nil
}

// truncate cuts s to at most limit bytes (on a rune boundary) and says so.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	suffix := fmt.Sprintf(" … (cut at %d of %d bytes)", limit, len(s))
	cut := max(limit-len(suffix), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

// Typed is a variable value with a type other than the one its JSON tells, as the
// Camunda 7 REST API (internal/camunda) sets them: Short, Long, Date, Bytes, File, …. The
// value is stored as JSON, and expressions, handlers and workers see it as any other; the
// type (1 to MaxNameBytes bytes) is kept in the variable's row (store.Variable.Type) for
// the API to give back. A later plain value of the variable takes its JSON's type again.
type Typed struct {
	Type  string
	Value any
}

// encodeValue turns a Go value into the stored JSON and its type name. Values must be
// JSON-representable; NaN and infinities are refused because JSON cannot carry them.
func encodeValue(name string, v any) (json.RawMessage, string, error) {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, "", fmt.Errorf("variable %q: %v is not a storable number: %w", name, x, ErrInvalidInput)
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, "", fmt.Errorf("variable %q: %v is not a storable number: %w", name, x, ErrInvalidInput)
		}
	case Typed:
		if x.Type == "" || len(x.Type) > MaxNameBytes || !storable(x.Type) {
			return nil, "", fmt.Errorf("variable %q: a type name must be 1 to %d bytes of text: %w", name, MaxNameBytes, ErrInvalidInput)
		}
		if _, nested := x.Value.(Typed); nested {
			return nil, "", fmt.Errorf("variable %q: a typed value inside a typed value: %w", name, ErrInvalidInput)
		}
		raw, _, err := encodeValue(name, x.Value)
		return raw, x.Type, err
	case json.RawMessage:
		if !json.Valid(x) {
			return nil, "", fmt.Errorf("variable %q: invalid JSON: %w", name, ErrInvalidInput)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, x); err != nil {
			return nil, "", fmt.Errorf("variable %q: %v: %w", name, err, ErrInvalidInput)
		}
		return buf.Bytes(), store.ValueType(buf.Bytes()), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("variable %q: value of type %T cannot be stored: %v: %w", name, v, err, ErrInvalidInput)
	}
	return b, store.ValueType(b), nil
}

// decodeValue turns stored JSON back into the value expressions see (float64, string,
// bool, nil, map[string]any, []any).
func decodeValue(b json.RawMessage) (any, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// normalise round-trips a Go value through JSON so that handlers and expressions always
// see the same types the store gives back after a reload.
func normalise(name string, v any) (any, json.RawMessage, string, error) {
	raw, typ, err := encodeValue(name, v)
	if err != nil {
		return nil, nil, "", err
	}
	dv, err := decodeValue(raw)
	if err != nil {
		return nil, nil, "", fmt.Errorf("variable %q: %w", name, err)
	}
	return dv, raw, typ, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
