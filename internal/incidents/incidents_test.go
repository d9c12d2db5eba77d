package incidents_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/incidents"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// onStores runs fn on SQLite, and on PostgreSQL when COCKPIT_TEST_DATABASE_URL is set.
func onStores(t *testing.T, fn func(t *testing.T, open func() store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		fn(t, func() store.Store {
			st, err := sqlite.Open(context.Background(), sqlite.Options{Path: filepath.Join(dir, "cockpit.db")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL()
		if url == "" {
			t.Skip("COCKPIT_TEST_DATABASE_URL not set")
		}
		schema := pgtest.Schema(t, url)
		fn(t, func() store.Store {
			st := pgtest.Open(t, postgres.Options{URL: url, Schema: schema})
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}

func putIncidents(t *testing.T, st store.Store, list ...*store.Incident) {
	t.Helper()
	if err := st.Write(t.Context(), func(tx store.Tx) error {
		return tx.Apply(t.Context(), &store.Change{PutIncidents: list})
	}); err != nil {
		t.Fatal(err)
	}
}

func incident(id, el, msg string, at time.Time) *store.Incident {
	return &store.Incident{ID: id, InstanceID: "i-" + id, TokenID: "t-" + id, ElementID: el, DefinitionKey: "order",
		Type: store.IncidentFailedJob, Message: msg, State: store.IncidentOpen, CreatedAt: at}
}

// TestGroupsByGroupFields: a filter on what a fingerprint determines (process, element,
// type, error code) is checked on the groups' records, and the groups it keeps count
// every incident of theirs that the rest of the filter (state, message, age) selects,
// resolved ones as well as open ones.
func TestGroupsByGroupFields(t *testing.T) {
	onStores(t, func(t *testing.T, open func() store.Store) {
		st := open()
		var list []*store.Incident
		for i := range 40 {
			el := []string{"charge", "ship"}[i%2]
			msg := []string{"order %d declined", "gateway timed out after %d ms"}[i/2%2]
			in := incident(fmt.Sprintf("g%03d", i), el, fmt.Sprintf(msg, i), t0.Add(time.Duration(i)*time.Second))
			if i%5 == 0 {
				in.Type, in.Message = store.IncidentUnhandledError, fmt.Sprintf(`error "E%d" thrown by charge was not caught`, i%2)
			}
			list = append(list, in)
		}
		putIncidents(t, st, list...)
		// Resolve the first ten (their groups' records stay).
		var resolved []*store.Incident
		for _, in := range list[:10] {
			r := *in
			at := in.CreatedAt.Add(time.Minute)
			r.State, r.ResolvedAt = store.IncidentResolved, &at
			resolved = append(resolved, &r)
		}
		putIncidents(t, st, resolved...)
		ctx := t.Context()
		now := t0.Add(time.Hour)
		count := func(f incidents.Filter) (groups, total int) {
			t.Helper()
			gs, _, err := incidents.Groups(ctx, st, f, now, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range gs {
				total += g.Count
				if g.Sample == nil || (f.ElementID != "" && g.Sample.ElementID != f.ElementID) {
					t.Errorf("%+v: group %s sample %+v", f, g.Fingerprint, g.Sample)
				}
			}
			return len(gs), total
		}
		want := func(f incidents.Filter, keep func(in *store.Incident) bool) {
			t.Helper()
			n := 0
			for i, in := range list {
				state := store.IncidentOpen
				if i < 10 {
					state = store.IncidentResolved
				}
				if state == f.State && keep(in) {
					n++
				}
			}
			if _, total := count(f); total != n {
				t.Errorf("%+v: groups count %d incidents, want %d", f, total, n)
			}
		}
		for _, state := range []string{store.IncidentOpen, store.IncidentResolved} {
			want(incidents.Filter{State: state, ElementID: "ship"}, func(in *store.Incident) bool { return in.ElementID == "ship" })
			want(incidents.Filter{State: state, DefinitionKey: "order", Type: store.IncidentFailedJob},
				func(in *store.Incident) bool { return in.Type == store.IncidentFailedJob })
			want(incidents.Filter{State: state, DefinitionKey: "other"}, func(*store.Incident) bool { return false })
			want(incidents.Filter{State: state, ElementID: "charge", MessageContains: "timed out"}, func(in *store.Incident) bool {
				return in.ElementID == "charge" && in.Type == store.IncidentFailedJob && in.Message[0] == 'g'
			})
		}
		if g, total := count(incidents.Filter{State: store.IncidentOpen, Type: store.IncidentUnhandledError, ErrorCode: "E1"}); g != 1 || total != 3 {
			t.Errorf("error code E1: %d groups of %d incidents, want 1 of 3", g, total)
		}
	})
}

// TestSelectIsComplete: more incidents than one store page are all selected, a bound is
// explicit and Matched counts past it, and groups count every incident.
func TestSelectIsComplete(t *testing.T) {
	onStores(t, func(t *testing.T, open func() store.Store) {
		st := open()
		n := incidents.SelectPage*2 + 7
		var list []*store.Incident
		for i := range n {
			el := "charge"
			if i%3 == 0 {
				el = "ship"
			}
			list = append(list, incident(fmt.Sprintf("x%05d", i), el, fmt.Sprintf("order %d declined", i), t0.Add(time.Duration(i)*time.Millisecond)))
		}
		putIncidents(t, st, list...)
		ctx := t.Context()
		now := t0.Add(time.Hour)
		sel, err := incidents.Select(ctx, st, incidents.Filter{State: store.IncidentOpen}, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(sel.Incidents) != n || sel.Matched != n || sel.Incidents[0].ID != "x00000" || sel.Incidents[n-1].ID != fmt.Sprintf("x%05d", n-1) {
			t.Fatalf("selected %d (matched %d), want all %d oldest first", len(sel.Incidents), sel.Matched, n)
		}
		sel, err = incidents.Select(ctx, st, incidents.Filter{ElementID: "ship"}, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(sel.Incidents) != 10 || sel.Matched != (n+2)/3 {
			t.Fatalf("bounded: %d selected of %d matched, want 10 of %d", len(sel.Incidents), sel.Matched, (n+2)/3)
		}
		groups, more, err := incidents.Groups(ctx, st, incidents.Filter{State: store.IncidentOpen}, now, 10)
		if err != nil {
			t.Fatal(err)
		}
		if more || len(groups) != 2 || groups[0].Count+groups[1].Count != n || groups[0].Sample == nil {
			t.Fatalf("groups %+v more %v, want 2 covering %d", groups, more, n)
		}
		if groups[0].Sample.ID != fmt.Sprintf("x%05d", n-1) {
			t.Fatalf("newest group's sample %s, want the newest incident", groups[0].Sample.ID)
		}
		// Age: incidents older than 2s (created before t0+... at now) only.
		sel, err = incidents.Select(ctx, st, incidents.Filter{OlderThan: now.Sub(t0.Add(5 * time.Millisecond))}, now, 0)
		if err != nil {
			t.Fatal(err)
		}
		if sel.Matched != 5 {
			t.Fatalf("older than: %d matched, want 5", sel.Matched)
		}
		if _, err := incidents.Select(ctx, st, incidents.Filter{MessageContains: string(make([]byte, incidents.MaxFilterText+1))}, now, 0); !errors.Is(err, incidents.ErrInvalid) {
			t.Fatalf("long filter: %v, want ErrInvalid", err)
		}
	})
}

func TestAssignAndNotes(t *testing.T) {
	onStores(t, func(t *testing.T, open func() store.Store) {
		st := open()
		ctx := t.Context()
		putIncidents(t, st, incident("a1", "charge", "card 1 declined", t0))
		sel, err := incidents.Select(ctx, st, incidents.Filter{}, t0, 0)
		if err != nil {
			t.Fatal(err)
		}
		fp := sel.Incidents[0].Fingerprint
		if err := incidents.Assign(ctx, st, fp, "ann", "bob", "provider outage", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := incidents.AddNote(ctx, st, fp, store.NoteResolution, "provider is back; retried", "ann", t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := incidents.AddNote(ctx, st, "nope", store.NoteComment, "x", "ann", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("note on unknown group: %v", err)
		}
		if err := incidents.AddNote(ctx, st, fp, store.NoteComment, string(make([]byte, incidents.MaxNoteBytes+1)), "ann", t0); !errors.Is(err, incidents.ErrInvalid) {
			t.Fatalf("long note: %v", err)
		}
		gi, err := incidents.Info(ctx, st, fp, 10)
		if err != nil {
			t.Fatal(err)
		}
		if gi.Record.Assignee != "ann" || len(gi.Notes) != 2 || gi.Notes[0].Kind != store.NoteResolution ||
			gi.Notes[1].Text != "assigned to ann: provider outage" {
			t.Fatalf("info %+v notes %+v", gi.Record, gi.Notes)
		}
		if err := incidents.Assign(ctx, st, fp, "", "bob", "", t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if gi, _ = incidents.Info(ctx, st, fp, 10); gi.Record.Assignee != "" || gi.Notes[0].Kind != store.NoteUnassign {
			t.Fatalf("after unassign %+v %+v", gi.Record, gi.Notes[0])
		}
	})
}

// retrier records the incidents it retried and fails "b".
type retrier struct {
	mu   sync.Mutex
	seen map[string]engine.RetryOptions
}

func (r *retrier) RetryIncident(ctx context.Context, id string, o engine.RetryOptions) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[id] = o
	if id == "b" {
		return errors.New("boom")
	}
	return nil
}

func TestRetry(t *testing.T) {
	r := &retrier{seen: map[string]engine.RetryOptions{}}
	errs := incidents.Retry(t.Context(), r, []string{"a", "b", "c"}, incidents.RetryOptions{Retries: 2}, 2)
	if errs[0] != nil || errs[1] == nil || errs[2] != nil || len(r.seen) != 3 || r.seen["c"].Retries != 2 {
		t.Fatalf("errs %v seen %v", errs, r.seen)
	}
}

// hook is a webhook receiver that records what it got and answers with the next status
// of its script (200 when the script is done).
type hook struct {
	mu       sync.Mutex
	script   []int
	requests []received
}

type received struct {
	header http.Header
	body   []byte
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests = append(h.requests, received{r.Header.Clone(), body})
	status := http.StatusOK
	if len(h.script) > 0 {
		status, h.script = h.script[0], h.script[1:]
	}
	h.mu.Unlock()
	w.WriteHeader(status)
}

func (h *hook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests)
}

func noticeState(t *testing.T, st store.Store, fp string) *store.IncidentGroupRecord {
	t.Helper()
	var rec *store.IncidentGroupRecord
	if err := st.Read(context.Background(), func(tx store.Tx) error {
		var err error
		rec, err = tx.GetIncidentGroup(context.Background(), fp)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestNotifier: a new fingerprint is posted once, signed; a failure is retried after the
// backoff on the fake clock; a restart neither loses nor repeats a notice; a notice
// that keeps failing ends failed after MaxAttempts.
func TestNotifier(t *testing.T) {
	onStores(t, func(t *testing.T, open func() store.Store) {
		st := open()
		h := &hook{script: []int{500}}
		srv := httptest.NewServer(h)
		defer srv.Close()
		clk := clock.NewFake(t0)
		newNotifier := func() *incidents.Notifier {
			n, err := incidents.NewNotifier(incidents.NotifierOptions{Store: st, URL: srv.URL, Secret: "s3cret", Clock: clk,
				Interval: time.Second, BaseBackoff: 10 * time.Second, MaxAttempts: 3, BaseURL: "http://cockpit"})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		putIncidents(t, st, incident("a1", "charge", "card 1 declined", t0), incident("a2", "charge", "card 2 declined", t0))
		n := newNotifier()
		ctx := t.Context()
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		// The first attempt gets a 500.
		wait.For(t, "the first attempt", func() bool { return h.count() == 1 })
		sel, _ := incidents.Select(ctx, st, incidents.Filter{}, t0, 0)
		fp := sel.Incidents[0].Fingerprint
		wait.For(t, "the failure recorded", func() bool { return noticeState(t, st, fp).NotifyError != "" })
		rec := noticeState(t, st, fp)
		if rec.NotifyState != store.NoticePending || rec.NotifyAttempts != 1 || !rec.NotifyNextAt.Equal(t0.Add(10*time.Second)) {
			t.Fatalf("after a failed attempt: %+v", rec)
		}
		// Restart before the retry is due: nothing is lost, nothing sent early.
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		n = newNotifier()
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := n.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		clk.Advance(5 * time.Second)
		if got, _ := n.Pass(ctx); got != 0 || h.count() != 1 {
			t.Fatalf("before the backoff: delivered %d, %d requests", got, h.count())
		}
		// The loop waits on the fake clock: move it on in small steps until the retry ran.
		ticking := func(cond func() bool) func() bool {
			return func() bool {
				if cond() {
					return true
				}
				clk.Advance(time.Second)
				return false
			}
		}
		wait.For(t, "delivery", ticking(func() bool { return noticeState(t, st, fp).NotifyState == store.NoticeDelivered }))
		if h.count() != 2 {
			t.Fatalf("%d requests, want 2 (one group, one retry)", h.count())
		}
		h.mu.Lock()
		req := h.requests[1]
		h.mu.Unlock()
		ts := req.header.Get(incidents.HeaderTimestamp)
		if !incidents.Verify("s3cret", ts, req.body, req.header.Get(incidents.HeaderSignature)) {
			t.Fatalf("signature %q does not verify", req.header.Get(incidents.HeaderSignature))
		}
		if incidents.Verify("other", ts, req.body, req.header.Get(incidents.HeaderSignature)) {
			t.Fatal("signature verifies with another secret")
		}
		var nt incidents.Notice
		if err := json.Unmarshal(req.body, &nt); err != nil {
			t.Fatal(err)
		}
		if nt.Fingerprint != fp || nt.Message != "card <n> declined" || nt.Attempt != 2 || nt.FirstIncidentID == "" ||
			req.header.Get(incidents.HeaderDelivery) != fp || nt.URL != "http://cockpit/incidents?fingerprint="+fp {
			t.Fatalf("notice %+v headers %v", nt, req.header)
		}
		// Delivered is delivered: later passes and restarts send nothing.
		clk.Advance(time.Hour)
		if got, _ := n.Pass(ctx); got != 0 || h.count() != 2 {
			t.Fatalf("after delivery: delivered %d, %d requests", got, h.count())
		}

		// A cause whose webhook keeps failing ends failed after MaxAttempts.
		h.mu.Lock()
		h.script = []int{503, 503, 503}
		h.mu.Unlock()
		putIncidents(t, st, &store.Incident{ID: "b1", InstanceID: "i-b1", ElementID: "ship", DefinitionKey: "order",
			Type: store.IncidentFailedJob, Message: "no carrier", State: store.IncidentOpen, CreatedAt: clk.Now()})
		sel, _ = incidents.Select(ctx, st, incidents.Filter{ElementID: "ship"}, clk.Now(), 0)
		fpB := sel.Incidents[0].Fingerprint
		wait.For(t, "failed", ticking(func() bool { return noticeState(t, st, fpB).NotifyState == store.NoticeFailed }))
		if rec := noticeState(t, st, fpB); rec.NotifyError == "" || h.count() != 5 {
			t.Fatalf("failed notice %+v after %d requests", rec, h.count())
		}
	})
}

// TestNotifierExpires: a notice older than MaxAge is not sent.
func TestNotifierExpires(t *testing.T) {
	onStores(t, func(t *testing.T, open func() store.Store) {
		st := open()
		h := &hook{}
		srv := httptest.NewServer(h)
		defer srv.Close()
		putIncidents(t, st, incident("a1", "charge", "old cause", t0))
		clk := clock.NewFake(t0.Add(48 * time.Hour))
		n, err := incidents.NewNotifier(incidents.NotifierOptions{Store: st, URL: srv.URL, Secret: "x", Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Pass(t.Context()); err != nil {
			t.Fatal(err)
		}
		sel, _ := incidents.Select(t.Context(), st, incidents.Filter{}, t0, 0)
		if rec := noticeState(t, st, sel.Incidents[0].Fingerprint); rec.NotifyState != store.NoticeExpired || h.count() != 0 {
			t.Fatalf("old notice %+v, %d requests", rec, h.count())
		}
	})
}

func TestNewNotifierChecksOptions(t *testing.T) {
	for _, o := range []incidents.NotifierOptions{
		{URL: "http://x", Secret: "s"},
		{Store: nilStore{}, URL: "ftp://x", Secret: "s"},
		{Store: nilStore{}, URL: "http://x"},
		{Store: nilStore{}, URL: "http://x", Secret: "s", Batch: incidents.MaxNotifyBatch + 1},
	} {
		if _, err := incidents.NewNotifier(o); err == nil {
			t.Errorf("NewNotifier(%+v) accepted", o)
		}
	}
}

type nilStore struct{ store.Store }
