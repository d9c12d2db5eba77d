// Package fingerprint names the cause of an incident: a hash of its process, element,
// type and message with the parts that differ between occurrences of one cause (ids,
// numbers) masked, so a thousand incidents of one cause share one fingerprint.
//
// The stores compute it when they write an incident and keep it in a column, so
// grouping is a GROUP BY. It must therefore stay stable across releases: changing the
// masking changes every fingerprint, which splits old groups from new ones (and sends
// their webhook notices again). A change here is a versioned change with a migration
// that recomputes the column.
package fingerprint

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
)

// MaxMessageBytes bounds the part of a message that is masked and hashed: two messages
// that differ only after it share a fingerprint. Long messages are stack traces whose
// first line names the cause.
const MaxMessageBytes = 2048

var (
	// uuidRE matches UUIDs (any version), the engine's own ids.
	uuidRE = regexp.MustCompile(`(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	// hexRE matches words of hex digits with at least one digit; Mask replaces those of
	// 12 characters or more (hashes, object ids) and leaves shorter ones to numRE.
	hexRE = regexp.MustCompile(`(?i)\b[0-9a-f]*[0-9][0-9a-f]*\b`)
	// numRE matches numbers (with decimal and thousands separators).
	numRE = regexp.MustCompile(`[0-9]+(?:[.,:][0-9]+)*`)
)

// Mask returns the message with its first MaxMessageBytes cut, UUIDs replaced by "<id>",
// hex ids of 12 or more characters by "<id>" and numbers by "<n>". Whitespace runs
// become one space.
func Mask(message string) string {
	if len(message) > MaxMessageBytes {
		message = strings.ToValidUTF8(message[:MaxMessageBytes], "")
	}
	s := uuidRE.ReplaceAllString(message, "<id>")
	s = hexRE.ReplaceAllStringFunc(s, func(m string) string {
		if len(m) >= 12 {
			return "<id>"
		}
		return m
	})
	s = numRE.ReplaceAllString(s, "<n>")
	return strings.Join(strings.Fields(s), " ")
}

// Of returns the fingerprint of an incident: 32 hex characters. The error code goes in
// unmasked (codes such as "E42" and "E43" are different causes).
func Of(definitionKey, elementID, typ, message string) string {
	h := sha256.New()
	for _, part := range []string{definitionKey, elementID, typ, ErrorCode(typ, message), Mask(message)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// errorCodeRE matches the engine's message for a BPMN error nothing catches
// (`error "CODE" thrown by "task" is not caught by any boundary event`).
var errorCodeRE = regexp.MustCompile(`^error "((?:[^"\\]|\\.)*)" thrown by `)

// MaxErrorCodeBytes bounds the error code kept with an incident.
const MaxErrorCodeBytes = 256

// ErrorCode returns the BPMN error code of an incident ("" when it has none): the code
// of an uncaught BPMN error (type unhandledError).
func ErrorCode(typ, message string) string {
	if typ != "unhandledError" {
		return ""
	}
	m := errorCodeRE.FindStringSubmatch(message)
	if m == nil {
		return ""
	}
	code := strings.ReplaceAll(m[1], `\"`, `"`)
	if len(code) > MaxErrorCodeBytes {
		code = strings.ToValidUTF8(code[:MaxErrorCodeBytes], "")
	}
	return code
}
