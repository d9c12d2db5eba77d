package sqlstore

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func TestBindNumbersPlaceholdersOutsideLiterals(t *testing.T) {
	in := `SELECT '?', "a?b" FROM t WHERE a = ? AND b IN (?, ?) AND c = '?''x?'`
	if got := SQLite.bind(in); got != in {
		t.Errorf("SQLite bind changed the text: %s", got)
	}
	want := `SELECT '?', "a?b" FROM t WHERE a = $1 AND b IN ($2, $3) AND c = '?''x?'`
	if got := Postgres.bind(in); got != want {
		t.Errorf("Postgres bind\n got %s\nwant %s", got, want)
	}
}

func TestQueryNumbersArgumentsAcrossFragments(t *testing.T) {
	q := NewQuery(Postgres, `SELECT x FROM t`)
	q.And(`a = ?`, 1)
	q.In(`b`, false, []string{"p", "q"})
	q.In(`c`, true, []string{"r"})
	q.Tail(` LIMIT ?`, Postgres.Limit(0))
	want := `SELECT x FROM t WHERE a = $1 AND b = ANY($2::text[]) AND c <> ALL($3::text[]) LIMIT $4`
	if q.String() != want {
		t.Errorf("got  %s\nwant %s", q.String(), want)
	}
	if len(q.Args()) != 4 || q.Args()[3] != nil {
		t.Errorf("args %v: want 4, the last NULL (no limit)", q.Args())
	}

	s := NewQuery(SQLite, `SELECT x FROM t`)
	s.In(`b`, false, []string{"p", `q"`})
	s.Tail(` LIMIT ?`, SQLite.Limit(0))
	if want := `SELECT x FROM t WHERE b IN (SELECT value FROM json_each(?)) LIMIT ?`; s.String() != want {
		t.Errorf("got  %s\nwant %s", s.String(), want)
	}
	if s.Args()[0] != `["p","q\""]` || s.Args()[1] != int64(-1) {
		t.Errorf("args %v", s.Args())
	}
}

func TestQueryPanicsOnMismatchedArguments(t *testing.T) {
	for _, f := range []func(q *Query){
		func(q *Query) { q.And(`a = ?`) },
		func(q *Query) { q.And(`a = 1`, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f(NewQuery(SQLite, `SELECT 1`))
		}()
	}
}

// quoted matches the quoted literals of a statement, where a "?" is text.
var quoted = regexp.MustCompile(`'[^']*'`)

func TestStatementsHaveOneTextPerDialect(t *testing.T) {
	for _, s := range Statements() {
		if strings.Contains(quoted.ReplaceAllString(s.Text(Postgres), ""), "?") {
			t.Errorf("statement %d keeps a ? for PostgreSQL: %s", s.ID(), s.Text(Postgres))
		}
		if strings.Contains(s.Text(SQLite), "$1") || strings.Contains(s.Text(SQLite), "::") {
			t.Errorf("statement %d has PostgreSQL syntax for SQLite: %s", s.ID(), s.Text(SQLite))
		}
		if Statements()[s.ID()] != s {
			t.Errorf("statement %d is not at its index", s.ID())
		}
	}
}

func TestInstanceCursorRoundTrip(t *testing.T) {
	in := &store.Instance{ID: "a:b/c", StartedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
	c := instanceCursor(in)
	at, id, err := parseInstanceCursor(c)
	if err != nil || id != in.ID || !at.Equal(in.StartedAt) {
		t.Fatalf("parse(%q) = %v %q %v", c, at, id, err)
	}
	for _, bad := range []string{"%%", "bm9jb2xvbg", "eDph", "OTk5OTk5OTk5OTk5OTk5OTk5OmE"} {
		if _, _, err := parseInstanceCursor(bad); !errors.Is(err, store.ErrInvalidCursor) {
			t.Errorf("parse(%q): %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func TestJSONValue(t *testing.T) {
	for _, c := range []struct {
		d    *Dialect
		in   string
		want string
		bad  bool
	}{
		{SQLite, ``, `null`, false},
		{SQLite, `{"a": [1, 2]}`, `{"a":[1,2]}`, false}, // compact: SQLite compares text
		{SQLite, `{"a":1}`, `{"a":1}`, false},
		{SQLite, `{"a": }`, ``, true},
		{Postgres, `{"a": [1, 2]}`, `{"a": [1, 2]}`, false}, // jsonb normalises it
		{Postgres, `{"a":`, ``, true},
	} {
		got, err := c.d.JSONValue(json.RawMessage(c.in))
		if (err != nil) != c.bad || got != c.want {
			t.Errorf("%s JSONValue(%q) = %q, %v", c.d, c.in, got, err)
		}
	}
	if _, err := SQLite.JSON(json.RawMessage(`{`)); err == nil {
		t.Error("SQLite JSON accepted {")
	}
	if v, err := Postgres.JSON(nil); v != nil || err != nil {
		t.Errorf("JSON(nil) = %v, %v; want NULL", v, err)
	}
}

func TestTimeEncoding(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	if SQLite.Time(at) != at.UnixMicro() || Postgres.Time(at) != at {
		t.Error("time parameters")
	}
	if SQLite.NullTime(nil) != nil || Postgres.NullTime(nil) != nil {
		t.Error("nil time is not NULL")
	}
	var got time.Time
	if err := SQLite.timeDest(&got).(interface{ Scan(any) error }).Scan(at.UnixMicro()); err != nil || !got.Equal(at) || got.Location() != time.UTC {
		t.Errorf("scan micros: %v %v", got, err)
	}
	var p *time.Time = &got
	if err := SQLite.nullTimeDest(&p).(interface{ Scan(any) error }).Scan(nil); err != nil || p != nil {
		t.Errorf("scan NULL: %v %v", p, err)
	}
	if err := SQLite.timeDest(&got).(interface{ Scan(any) error }).Scan("x"); err == nil {
		t.Error("scan text as time: no error")
	}
}
