package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

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
	case json.RawMessage:
		if !json.Valid(x) {
			return nil, "", fmt.Errorf("variable %q: invalid JSON: %w", name, ErrInvalidInput)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, x); err != nil {
			return nil, "", fmt.Errorf("variable %q: %v: %w", name, err, ErrInvalidInput)
		}
		return buf.Bytes(), jsonType(buf.Bytes()), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("variable %q: value of type %T cannot be stored: %v: %w", name, v, err, ErrInvalidInput)
	}
	return b, jsonType(b), nil
}

// jsonType names the type of an encoded JSON value.
func jsonType(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return store.TypeNull
	}
	switch b[0] {
	case '"':
		return store.TypeString
	case 't', 'f':
		return store.TypeBoolean
	case 'n':
		return store.TypeNull
	case '{':
		return store.TypeObject
	case '[':
		return store.TypeArray
	}
	return store.TypeNumber
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
