package sqlstore

import (
	"strconv"
	"strings"
)

// Query assembles a statement with optional filters from fixed fragments (never from
// caller text: values always travel as parameters). Fragments are written with "?"; each
// becomes the dialect's next placeholder.
type Query struct {
	d     *Dialect
	sb    strings.Builder
	where int
	args  []any
}

// NewQuery starts a query in d with head, a fragment without parameters.
func NewQuery(d *Dialect, head string) *Query {
	q := &Query{d: d, args: make([]any, 0, 8)}
	q.sb.WriteString(head)
	return q
}

// And adds one condition with its arguments, joined to the others by AND.
func (q *Query) And(cond string, args ...any) {
	if q.where == 0 {
		q.sb.WriteString(" WHERE ")
	} else {
		q.sb.WriteString(" AND ")
	}
	q.where++
	q.add(cond, args)
}

// In adds "col IN list" (not: NOT IN) for a list of strings, as one parameter.
func (q *Query) In(col string, not bool, list []string) {
	cond, arg := q.d.in(col, not, list)
	q.And(cond, arg)
}

// Tail appends a fragment (ORDER BY, LIMIT, ...).
func (q *Query) Tail(frag string, args ...any) { q.add(frag, args) }

// add writes frag with its "?" numbered after the arguments so far.
func (q *Query) add(frag string, args []any) {
	for {
		i := strings.IndexByte(frag, '?')
		if i < 0 {
			break
		}
		if len(args) == 0 {
			panic("sqlstore: query fragment with more placeholders than arguments: " + frag)
		}
		q.sb.WriteString(frag[:i])
		q.args = append(q.args, args[0])
		args = args[1:]
		if q.d.pg {
			q.sb.WriteString("$" + strconv.Itoa(len(q.args)))
		} else {
			q.sb.WriteByte('?')
		}
		frag = frag[i+1:]
	}
	q.sb.WriteString(frag)
	if len(args) != 0 {
		panic("sqlstore: query fragment with more arguments than placeholders: " + frag)
	}
}

// String is the statement's text.
func (q *Query) String() string { return q.sb.String() }

// Args are the statement's arguments, in placeholder order.
func (q *Query) Args() []any { return q.args }
