// Package sqlstore is the SQL that the SQLite and the PostgreSQL stores share: the column
// lists, the statements and the filtered queries of every store method whose SQL differs
// between the two only in dialect, the scanning of rows into store types, and the page
// cursor. Each is written once, with "?" placeholders, and a small Dialect turns it into
// the text and arguments one database takes (placeholders, time encoding, lists, JSON).
//
// A driver's transaction embeds Queries with its Dialect and a Conn (how it runs one
// statement) and implements the rest of store.Tx itself: what truly differs per database
// (Apply and the merged writes, LoadInstance, LockJobs, WaitingTokens, ApplyMetrics, the
// element counters, savepoints, migrations and error translation).
package sqlstore

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is what differs between the SQL of the two databases. The two values are SQLite
// and Postgres.
type Dialect struct {
	id   int
	name string
	// pg: PostgreSQL, whose parameters are $1, $2, … and times timestamptz values; else
	// SQLite, whose parameters are "?" and times INTEGER unix microseconds.
	pg bool
}

// The dialects. Their ids index Stmt.text.
var (
	SQLite   = &Dialect{id: 0, name: "sqlite"}
	Postgres = &Dialect{id: 1, name: "postgres", pg: true}
)

const numDialects = 2

// String returns the dialect's name.
func (d *Dialect) String() string { return d.name }

// Time encodes a time parameter.
func (d *Dialect) Time(t time.Time) any {
	if !d.pg {
		return t.UnixMicro()
	}
	return t
}

// NullTime encodes an optional time parameter (nil is NULL).
func (d *Dialect) NullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return d.Time(*t)
}

// Bool encodes a boolean parameter (SQLite keeps 0 and 1).
func (d *Dialect) Bool(b bool) any {
	if !d.pg {
		if b {
			return int64(1)
		}
		return int64(0)
	}
	return b
}

// Limit encodes a LIMIT parameter; n <= 0 means no limit.
func (d *Dialect) Limit(n int) any {
	switch {
	case n > 0:
		return int64(n)
	case d.pg:
		return nil // LIMIT NULL
	}
	return int64(-1) // SQLite's LIMIT -1
}

// JSON encodes a JSON document parameter: nil is NULL, anything else must be valid JSON.
func (d *Dialect) JSON(v json.RawMessage) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !d.pg && !json.Valid(v) { // JSONValue trusts compact text on SQLite
		return nil, fmt.Errorf("invalid JSON value %.40q", v)
	}
	s, err := d.JSONValue(v)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// JSONValue returns the text of a JSON value to store or compare (nil and empty are JSON
// null). SQLite compares JSON as text, so its text is the compact form, as json.Marshal
// writes it; PostgreSQL parses jsonb itself and gets the value as it is, once checked.
func (d *Dialect) JSONValue(v json.RawMessage) (string, error) {
	if len(v) == 0 {
		return "null", nil
	}
	if d.pg {
		if !json.Valid(v) {
			return "", fmt.Errorf("invalid JSON value %.40q", v)
		}
		return string(v), nil
	}
	if bytes.IndexAny(v, " \t\r\n") < 0 {
		return string(v), nil // already compact, as json.Marshal writes it
	}
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return "", fmt.Errorf("invalid JSON value: %w", err)
	}
	return b.String(), nil
}

// jsonParam is a JSON parameter in a statement.
func (d *Dialect) jsonParam() string {
	if d.pg {
		return `?::jsonb`
	}
	return `?`
}

// indexedBy names the index SQLite must use for a table (PostgreSQL's planner is left
// to choose): for a partial index whose rows are few but which SQLite, without
// statistics, ranks below a wider one that also fits.
func (d *Dialect) indexedBy(index string) string {
	if d.pg {
		return ""
	}
	return ` INDEXED BY ` + index
}

// int8 casts an aggregate that PostgreSQL widens (sum of bigint is numeric) back to bigint.
func (d *Dialect) int8(expr string) string {
	if d.pg {
		return expr + `::bigint`
	}
	return expr
}

// in is "col IN list" for a list of strings passed as one parameter (so the statement
// text does not depend on the list's length): a JSON array that SQLite's json_each reads,
// or a text[] for PostgreSQL. not negates it.
func (d *Dialect) in(col string, not bool, list []string) (string, any) {
	if d.pg {
		if not {
			return col + ` <> ALL(?::text[])`, list
		}
		return col + ` = ANY(?::text[])`, list
	}
	b, _ := json.Marshal(list) // strings always marshal
	op := ` IN `
	if not {
		op = ` NOT IN `
	}
	return col + op + `(SELECT value FROM json_each(?))`, string(b)
}

// bind turns the "?" placeholders of text into the dialect's. A "?" inside a quoted
// literal or identifier is left alone.
func (d *Dialect) bind(text string) string {
	if !d.pg || !strings.Contains(text, "?") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Stmt is a static statement: its text for each dialect, made once, and its index among
// the statements a driver may prepare (Statements).
type Stmt struct {
	text  [numDialects]string
	id    int
	write bool
}

// Text returns the statement's text in d.
func (s *Stmt) Text(d *Dialect) string { return s.text[d.id] }

// ID is the statement's index in Statements.
func (s *Stmt) ID() int { return s.id }

// Write reports whether the statement writes (it runs on the writer only).
func (s *Stmt) Write() bool { return s.write }

// statements are all static statements, in declaration order.
var statements []*Stmt

// Statements returns every static statement, indexed by ID, for a driver that prepares
// them when it opens.
func Statements() []*Stmt { return statements }

func newStmt(write bool, text func(d *Dialect) string) *Stmt {
	s := &Stmt{id: len(statements), write: write}
	for _, d := range []*Dialect{SQLite, Postgres} {
		s.text[d.id] = d.bind(text(d))
	}
	statements = append(statements, s)
	return s
}

// read and write declare a static statement whose text is the same in both dialects up to
// placeholders; readf and writef one whose text the dialect shapes.
func read(text string) *Stmt                    { return newStmt(false, func(*Dialect) string { return text }) }
func write(text string) *Stmt                   { return newStmt(true, func(*Dialect) string { return text }) }
func readf(text func(d *Dialect) string) *Stmt  { return newStmt(false, text) }
func writef(text func(d *Dialect) string) *Stmt { return newStmt(true, text) }

// Scanning of times: a driver scans a time column through the destination the dialect
// gives (the field itself for PostgreSQL; an adapter from microseconds for SQLite).

// microsTime scans INTEGER microseconds into a time.Time (UTC).
type microsTime time.Time

func (m *microsTime) Scan(src any) error {
	v, ok := src.(int64)
	if !ok {
		return fmt.Errorf("scan time: want INTEGER microseconds, got %T", src)
	}
	*m = microsTime(time.UnixMicro(v).UTC())
	return nil
}

// nullMicros scans INTEGER microseconds or NULL into a *time.Time.
type nullMicros struct{ p **time.Time }

func (m nullMicros) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*m.p = nil
	case int64:
		t := time.UnixMicro(v).UTC()
		*m.p = &t
	default:
		return fmt.Errorf("scan time: want INTEGER microseconds or NULL, got %T", src)
	}
	return nil
}

var (
	_ sql.Scanner = (*microsTime)(nil)
	_ sql.Scanner = nullMicros{}
)

// timeDest is the scan destination of a time column.
func (d *Dialect) timeDest(p *time.Time) any {
	if !d.pg {
		return (*microsTime)(p)
	}
	return p
}

// nullTimeDest is the scan destination of an optional time column.
func (d *Dialect) nullTimeDest(p **time.Time) any {
	if !d.pg {
		return nullMicros{p}
	}
	return p
}

// utc gives times in UTC, whatever zone the driver handed back.
func utc(t time.Time) time.Time { return t.UTC() }

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// errNoRows is what a single-row read found nothing with (see One).
var errNoRows = errors.New("no rows")

// IsIdent accepts the plain identifiers (letters, digits after the first, "_"; at most 63
// bytes) that a driver may splice into SQL: savepoint and schema names.
func IsIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, c := range []byte(s) {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
