package web_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/incidents/fingerprint"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/web"
)

var (
	pagesFinished = flag.Int("pages.finished", 1_000_000, "finished instances seeded for BenchmarkPages")
	pagesRunning  = flag.Int("pages.running", 10_000, "running instances seeded for BenchmarkPages")
)

// BenchmarkPages renders the pages people open most on a store with a million finished
// and ten thousand running instances (the scale; -pages.finished/-pages.running
// change it) and reports each page's p95 server time. Seeding takes a while; the
// benchmark runs only with -bench.
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 200x ./internal/web/
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "pages.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	// The history and the pages are dated by a fake clock standing at a fixed instant (the
	// engine is not started: nothing here waits on it); the latencies are real time.
	fc := clock.NewFake(analyticsNow)
	e, err := engine.New(engine.Options{Store: st, Clock: fc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Stop(ctx)
	order, err := os.ReadFile("../demo/flows/order.bpmn")
	if err != nil {
		b.Fatal(err)
	}
	dep, err := e.Deploy(ctx, "order.bpmn", order)
	if err != nil {
		b.Fatal(err)
	}
	def := dep.Processes[0].Definition
	began := time.Now()
	seed(b, st, def, *pagesFinished, *pagesRunning)
	b.Logf("seeded %d finished and %d running instances in %v", *pagesFinished, *pagesRunning, time.Since(began).Round(time.Second))

	// The analytics pages read rollups: those of a million finished instances over 30 days.
	model, err := e.Model(ctx, def.ID)
	if err != nil {
		b.Fatal(err)
	}
	began = time.Now()
	seedRollups(b, st, def, model, *pagesFinished, 30, analyticsNow)
	b.Logf("seeded the rollups of %d instances over 30 days in %v", *pagesFinished, time.Since(began).Round(time.Second))
	mon, err := monitor.New(monitor.Options{Store: st, Clock: fc})
	if err != nil {
		b.Fatal(err)
	}

	ui := web.New(web.Options{Engine: e, Metrics: mon, Logger: slog.New(slog.DiscardHandler)})
	pages := []struct{ name, path string }{
		{"dashboard", "/"},
		{"process", "/processes/order"},
		{"instances-filtered", "/instances?process=order&state=active&waitingAt=Task_ShipOrder"},
		{"instances-variable", "/instances?process=order&var=customer&value=%22c7%22"},
		{"incidents", "/incidents"},
		{"incidents-filtered", "/incidents?process=order&type=failedJob&message=declined&age=gt1h"},
		{"incidents-unassigned", "/incidents?assignee=-&element=Task_Ship"},
		{"incidents-resolved", "/incidents?state=resolved"},
		{"incident-group", "/incidents/groups/" + fingerprint.Of(def.Key, "Task_Checkout", store.IncidentFailedJob, benchIncidentCauses[0])},
		{"incident-group-page-2", "/incidents/groups/" + fingerprint.Of(def.Key, "Task_Checkout", store.IncidentFailedJob, benchIncidentCauses[0]) +
			"?after=" + url.QueryEscape(fmt.Sprint(analyticsNow.Add(-30*24*time.Hour).Add(time.Duration(*pagesFinished+4000)*time.Second).UnixMicro())+".0")},
		{"analytics-24h", "/processes/order/analytics"},
		{"analytics-7d-p95", "/processes/order/analytics?range=7d&heat=p95"},
		{"analytics-30d", "/processes/order/analytics?range=30d"},
		{"analytics-30d-compare", "/processes/order/analytics?range=30d&compare=1"},
		{"chart-throughput-30d", "/processes/order/analytics/charts/throughput.svg?range=30d"},
		{"chart-incidents-7d", "/processes/order/analytics/charts/incidents.svg?range=7d"},
		{"chart-durations-30d", "/processes/order/analytics/charts/durations.svg?range=30d"},
		{"chart-slowest-30d", "/processes/order/analytics/charts/slowest.svg?range=30d"},
		{"elements.csv-30d", "/processes/order/analytics/elements.csv?range=30d"},
		{"series.csv-7d", "/processes/order/analytics/series.csv?range=7d"},
		{"instances.csv-running", "/instances.csv?process=order&state=active"},
		// Issue 13's list columns ("waiting at", "since": one token query per page) and
		// selection boxes, the instance page with its element filter and variable edits,
		// and the task list with its claim buttons.
		{"instances", "/instances"},
		{"instances-running", "/instances?state=active"},
		{"instances-running-200", "/instances?state=active&limit=200"},
		{"instance-running", "/instances/" + fmt.Sprintf("00000000-0000-7000-8000-%012d", *pagesFinished+*pagesRunning-1)},
		{"instance-running-filtered", "/instances/" + fmt.Sprintf("00000000-0000-7000-8000-%012d", *pagesFinished+*pagesRunning-1) + "?element=Task_Ship"},
		{"tasks", "/tasks"},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			lats := make([]time.Duration, 0, b.N)
			for b.Loop() {
				rec := httptest.NewRecorder()
				t0 := time.Now()
				ui.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				lats = append(lats, time.Since(t0))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d %s", p.path, rec.Code, rec.Body.String()[:min(300, rec.Body.Len())])
				}
			}
			sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
			b.ReportMetric(float64(lats[len(lats)*95/100].Microseconds())/1000, "p95-ms")
		})
	}
	// The export of every instance is a download, not a page: timed once (whatever
	// -benchtime says) and logged as rows per second.
	rec := httptest.NewRecorder()
	t0 := time.Now()
	ui.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/instances.csv?process=order", nil))
	took := time.Since(t0)
	rows := bytes.Count(rec.Body.Bytes(), []byte("\n")) - 1
	if rec.Code != http.StatusOK || rows != *pagesFinished+*pagesRunning {
		b.Fatalf("instances.csv: %d, %d rows", rec.Code, rows)
	}
	b.Logf("instances.csv of every instance: %d rows, %d MB in %v (%.0f rows/s)", rows, rec.Body.Len()>>20,
		took.Round(time.Millisecond), float64(rows)/took.Seconds())
}

// benchIncidentCauses are the causes of the seeded incidents: each message names its
// order and a reference, which the fingerprint masks.
var benchIncidentCauses = []string{"card of order 1 declined (ref 0192f3a4-5b6c-7d8e-9f00-112233445566)",
	"payment gateway timed out after 30000 ms", "address of customer 7 failed validation", "stock service answered 503",
	"fraud check rejected order 9 (score 0.97)"}

// benchIncident is the open incident of running instance i: one of the causes, except
// every 40th, whose message is its own (200 causes of one incident among the 10,000).
func benchIncident(instanceID, element, key string, i int, at time.Time) *store.Incident {
	msg := benchIncidentCauses[i%len(benchIncidentCauses)]
	msg = strings.ReplaceAll(msg, " 1 ", fmt.Sprintf(" %d ", i))
	if i%40 == 0 {
		msg = "unexpected answer " + strings.Repeat(string(rune('a'+i/40%26)), 1+i/1040) + string(rune('a'+i/40/26%26))
	}
	return &store.Incident{ID: fmt.Sprintf("00000000-0000-7000-9000-%012d", i), InstanceID: instanceID, TokenID: instanceID + "-t",
		ElementID: element, DefinitionKey: key, Type: store.IncidentFailedJob, Message: msg, State: store.IncidentOpen, CreatedAt: at}
}

// seed writes instances straight through the store seam in large batches: finished ones
// with their start and end events, running ones waiting at one of the order flow's tasks.
func seed(b *testing.B, st store.Store, def *store.Definition, finished, running int) {
	b.Helper()
	ctx := context.Background()
	waits := []string{"Task_Checkout", "Task_Ship", "Event_ShipmentConfirmed", "Task_ReserveInventory"}
	t0 := analyticsNow.Add(-30 * 24 * time.Hour)
	const batch = 5000
	for start := 0; start < finished+running; start += batch {
		err := st.Write(ctx, func(tx store.Tx) error {
			for i := start; i < min(start+batch, finished+running); i++ {
				id := fmt.Sprintf("00000000-0000-7000-8000-%012d", i)
				at := t0.Add(time.Duration(i) * time.Second)
				in := &store.Instance{ID: id, DefinitionID: def.ID, DefinitionKey: def.Key, DefinitionVersion: def.Version,
					BusinessKey: fmt.Sprintf("ORD-%d", i), State: store.InstanceActive, Version: 1, StartedAt: at, EventSeq: 1}
				c := &store.Change{Instance: in, Created: true,
					PutVariables: []*store.Variable{{InstanceID: id, Name: "customer", Type: store.TypeString,
						Value: []byte(fmt.Sprintf("%q", fmt.Sprintf("c%d", i%1000))), UpdatedAt: at}},
					Events: []*store.Event{{ID: id + "-s", InstanceID: id, InstanceSeq: 1, DefinitionID: def.ID,
						DefinitionKey: def.Key, Type: event.InstanceStarted, Time: at}}}
				if i < finished {
					end := at.Add(time.Duration(1+i%300) * time.Second)
					in.State, in.EndedAt, in.EventSeq = store.InstanceCompleted, &end, 2
					c.Events = append(c.Events, &store.Event{ID: id + "-e", InstanceID: id, InstanceSeq: 2, DefinitionID: def.ID,
						DefinitionKey: def.Key, Type: event.InstanceCompleted, Time: end})
				} else {
					c.PutTokens = []*store.Token{{ID: id + "-t", InstanceID: id, ElementID: waits[i%len(waits)],
						State: store.TokenActive, CreatedAt: at}}
					// Every running instance stands at an open incident (the 10,000).
					in.IncidentCount = 1
					c.PutIncidents = []*store.Incident{benchIncident(id, waits[i%len(waits)], def.Key, i, at)}
				}
				if err := tx.Apply(ctx, c); err != nil {
					return err
				}
			}
			// The seeded history is not for NATS: keep the outbox empty.
			evs, err := tx.ListOutbox(ctx, 2*batch+10)
			if err != nil {
				return err
			}
			seqs := make([]int64, len(evs))
			for i, ev := range evs {
				seqs[i] = ev.Seq
			}
			return tx.DeleteOutbox(ctx, seqs)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
