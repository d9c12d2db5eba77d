package command

import (
	"context"
	"fmt"
	"unicode"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// The audit invariant: a command runs only when its audit row is written. The row is
// written first, with Result store.AuditStarted, in a transaction of its own, and the
// command runs only when that write succeeded; when the command ends the row gets its
// result (UpdateAudit). Writing the row in the command's own transaction would be tighter,
// but a command is one or many engine transactions (a bulk retry is hundreds), group-
// committed with other commands, so there is no single transaction to put it in; and a
// row written only afterwards could be lost while the command stood (the bug this
// replaces: an actor with a NUL byte ran its command and left no row). A row left
// "started" means the command may have run but its end was not recorded.
//
// What goes into the row is checked first, so that the store cannot refuse it for its
// content: actors (CheckActor), and request bodies that are valid UTF-8 without NUL
// characters or lone surrogates (checkRequestText), which PostgreSQL's text and jsonb
// cannot hold.

// MaxActorBytes is the longest actor accepted, in bytes (after trimming spaces).
const MaxActorBytes = 256

// CheckActor reports why actor (already trimmed) cannot name an operator: too long, not
// valid UTF-8, or holding control characters (NUL, newlines, escapes), invisible format
// characters (bidirectional overrides, zero-width characters) or line separators, which
// would let one operator pass for another in logs and lists. The error is a *Error with
// code invalid_input that names the field; an empty actor is unauthorized.
func CheckActor(actor string) error {
	if actor == "" {
		return errorf(CodeUnauthorized, "field \"actor\" is required: every command names the operator who sends it")
	}
	if len(actor) > MaxActorBytes {
		return errorf(CodeInvalidInput, "field \"actor\" is %d bytes, more than the limit of %d (MaxActorBytes)", len(actor), MaxActorBytes)
	}
	if !utf8.ValidString(actor) {
		return errorf(CodeInvalidInput, "field \"actor\" is not valid UTF-8")
	}
	for i, r := range actor {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp) || r == utf8.RuneError {
			return errorf(CodeInvalidInput, "field \"actor\" holds the character %U at byte %d: control, format and separator characters are not allowed", r, i)
		}
	}
	return nil
}

// checkRequestText refuses a request body the audit log could not store: invalid UTF-8,
// and JSON escapes of NUL (\u0000) or of half a surrogate pair, in any field.
func checkRequestText(body []byte) error {
	if !utf8.Valid(body) {
		return errorf(CodeInvalidInput, "request body is not valid UTF-8")
	}
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' || i+1 >= len(body) {
			continue
		}
		if body[i+1] != 'u' {
			i++ // a two-character escape: skip the escaped character
			continue
		}
		r, ok := hex4(body, i+2)
		if !ok {
			continue // not JSON: the decoder names the error
		}
		switch {
		case r == 0:
			return errorf(CodeInvalidInput, "request holds a NUL character (\\u0000) at byte offset %d: no field may contain one", i)
		case 0xD800 <= r && r < 0xDC00:
			// A high surrogate must be followed by a low one.
			lo, ok := hex4(body, i+8)
			if !ok || body[i+6] != '\\' || body[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
				return errorf(CodeInvalidInput, "request holds half a surrogate pair (\\u%04x) at byte offset %d", r, i)
			}
			i += 11
			continue
		case 0xDC00 <= r && r <= 0xDFFF:
			return errorf(CodeInvalidInput, "request holds half a surrogate pair (\\u%04x) at byte offset %d", r, i)
		}
		i += 5
	}
	return nil
}

// hex4 reads four hex digits at b[at:].
func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

// auditEntry is the audit row of a call, without its result.
func (s *Service) auditEntry(x *call) *store.AuditEntry {
	return &store.AuditEntry{
		ID: newID(), Time: x.at, Actor: x.actor, Command: x.verb, Target: x.target,
		Reason: x.reason, Request: x.request,
	}
}

// beginAudit writes the rows of commands about to run, with Result store.AuditStarted.
// An error means they must not run.
func (s *Service) beginAudit(entries ...*store.AuditEntry) error {
	for _, a := range entries {
		a.Result = store.AuditStarted
	}
	if err := s.writeAuditRows("", store.Tx.InsertAudit, entries); err != nil {
		return fmt.Errorf("the command was not carried out: its audit row could not be written: %w", err)
	}
	return nil
}

// finishAudit gives rows written by beginAudit their results. A failure leaves them
// "started" and is logged: the commands ran.
func (s *Service) finishAudit(entries ...*store.AuditEntry) {
	_ = s.writeAuditRows(`write audit result (the rows stay "started")`, store.Tx.UpdateAudit, entries)
}

// writeAuditRows writes entries in one transaction, each with write (InsertAudit or
// UpdateAudit), and returns the failure. With what set, a failure is also logged under
// it (the commands ran, or were refused, regardless); without, the caller handles it.
func (s *Service) writeAuditRows(what string, write func(store.Tx, context.Context, *store.AuditEntry) error, entries []*store.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.base), auditTimeout)
	defer cancel()
	err := s.st.Write(ctx, func(tx store.Tx) error {
		for _, a := range entries {
			a.Error = store.StorableText(a.Error)
			if err := write(tx, ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && what != "" {
		s.log.Error(what, "verb", entries[0].Command, "actor", entries[0].Actor, "entries", len(entries), "err", err)
	}
	return err
}

// setResult puts a reply's outcome into an audit row.
func setResult(a *store.AuditEntry, rep *reply) {
	a.Result, a.Error = "ok", ""
	if rep.code != "" {
		a.Result, a.Error = string(rep.code), rep.detail
	}
}
