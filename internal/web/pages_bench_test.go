package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
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

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/pgtest"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/incidents/fingerprint"
	"github.com/cockpit-engine/cockpit/internal/monitor"
	"github.com/cockpit-engine/cockpit/internal/operation"
	"github.com/cockpit-engine/cockpit/internal/web"
)

var (
	pagesFinished = flag.Int("pages.finished", 1_000_000, "finished instances seeded for BenchmarkPages")
	pagesRunning  = flag.Int("pages.running", 10_000, "running instances seeded for BenchmarkPages")
	pagesStore    = flag.String("pages.store", "sqlite", "store of BenchmarkPages and BenchmarkModifyPreview: sqlite, or postgres (COCKPIT_TEST_DATABASE_URL)")
	pagesServices = flag.Int("pages.services", 1, "services the seeded instances belong to: with more than one the store is an observing cockpit's read model "+
		"(SQLite only): services svc-1…svc-N each deploy the process, each owns every Nth instance, and the pages are timed with service filters too")
	pagesDB = flag.String("pages.db", "", "seeded store to reuse across runs: a SQLite file, or a PostgreSQL schema with -pages.store postgres; "+
		"seeded on the first run (kept afterwards), reused when it holds the same -pages.finished/-pages.running; empty: a fresh store, removed after")
)

// BenchmarkPages renders the pages people open most on a store with a million finished
// and ten thousand running instances (the scale; -pages.finished/-pages.running
// change it), with the data of issue 13's pages: a hundred thousand resolved incidents
// and ten thousand open ones in hundreds of groups (some assigned, with notes), three
// hundred operations (one of 10,000 items done, one of 10,000 running), and some fifty
// thousand audit rows. It reports each page's p50 and p95 server time. With
// -pages.services N the store is an observing cockpit's read model of N services
// (spreadServices) and the service-filtered pages are timed too. Seeding takes a
// while (-pages.db keeps the seeded store for the next run); the benchmark runs only with
// -bench.
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 100x ./internal/web/
//	go test -run '^$' -bench BenchmarkPages -benchtime 100x ./internal/web/ -args -pages.db /var/tmp/pages.db
//	COCKPIT_TEST_DATABASE_URL=postgres://… go test -run '^$' -bench BenchmarkPages ./internal/web/ -args -pages.store postgres
func BenchmarkPages(b *testing.B) {
	bs := openBenchStore(b)
	st, e, def := bs.st, bs.e, bs.def
	fc := bs.clock
	mon, err := monitor.New(monitor.Options{Store: st, Clock: fc})
	if err != nil {
		b.Fatal(err)
	}
	cmds := benchCommands(b, e)
	ui := web.New(web.Options{Engine: e, Metrics: mon, Commands: cmds, Logger: slog.New(slog.DiscardHandler)})
	running := func(i int) string { return fmt.Sprintf("00000000-0000-7000-8000-%012d", *pagesFinished+i) }
	lastRunning := running(*pagesRunning - 1)
	// seed puts every fourth running instance's token at Task_Checkout.
	checkout := running(*pagesRunning - *pagesRunning%4)
	if *pagesRunning%4 == 0 {
		checkout = running(*pagesRunning - 4)
	}
	move, _ := json.Marshal(engine.ModifyStep{Kind: engine.ModifyMove, From: "Task_Checkout", ElementID: "Task_ShipOrder"})
	fp0 := fingerprint.Of(def.Key, "Task_Checkout", store.IncidentFailedJob, benchIncidentCauses[0])
	resolvedFP := fingerprint.Of(def.Key, "Task_Ship", store.IncidentFailedJob, benchIncidentCauses[1])
	auditFrom := analyticsNow.Add(-10 * 24 * time.Hour).Format("2006-01-02T15:04")
	auditTo := analyticsNow.Add(-9 * 24 * time.Hour).Format("2006-01-02T15:04")
	pages := []struct{ name, path string }{
		{"dashboard", "/"},
		{"process", "/processes/order?version=1"},
		{"instances-filtered", "/instances?process=order&state=active&waitingAt=Task_ShipOrder"},
		{"instances-variable", "/instances?process=order&var=customer&value=%22c7%22"},
		{"incidents", "/incidents"},
		{"incidents-filtered", "/incidents?process=order&type=failedJob&message=declined&age=gt1h"},
		{"incidents-unassigned", "/incidents?assignee=-&element=Task_Ship"},
		{"incidents-assignee", "/incidents?assignee=ann"},
		{"incidents-resolved", "/incidents?state=resolved"},
		{"incidents-resolved-filtered", "/incidents?state=resolved&process=order&element=Task_Ship&message=timed"},
		{"incident-group", "/incidents/groups/" + fp0},
		{"incident-group-page-2", "/incidents/groups/" + fp0 +
			"?after=" + url.QueryEscape(fmt.Sprint(analyticsNow.Add(-30*24*time.Hour).Add(time.Duration(*pagesFinished+4000)*time.Second).UnixMicro())+".0")},
		{"incident-group-resolved", "/incidents/groups/" + resolvedFP + "?state=resolved"},
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
		// selection boxes, the instance page with its element filter, audit card and
		// variable edits, and the task list with its claim buttons.
		{"instances", "/instances"},
		{"instances-running", "/instances?state=active"},
		{"instances-running-200", "/instances?state=active&limit=200"},
		{"instance-running", "/instances/" + lastRunning},
		{"instance-running-filtered", "/instances/" + lastRunning + "?element=Task_Ship"},
		{"tasks", "/tasks"},
		// Issue 13's new pages: modification (picking, and a previewed step through the
		// command service), operations, the audit log.
		{"modify", "/instances/" + checkout + "/modify"},
		{"modify-picked", "/instances/" + checkout + "/modify?element=Task_ShipOrder"},
		{"modify-preview", "/instances/" + checkout + "/modify?step=" + url.QueryEscape(string(move))},
		// The migration page: every running instance of version 1 checked against the
		// proposal (a quarter refused: their token is at the renamed task), and with the
		// task mapped (all migratable, three previewed in full).
		{"migrate", "/processes/order/migrate?version=1&target=2"},
		{"migrate-mapped", "/processes/order/migrate?version=1&target=2&" + migrateMapping(b, e, def)},
		{"migrate-instance", "/processes/order/migrate?version=1&target=2&instance=" + checkout},
		{"operations", "/operations"},
		{"operations-running", "/operations?state=running"},
		{"operations-cancel", "/operations?kind=instance.cancel"},
		{"operation-big", "/operations/" + benchBigOperation},
		{"operation-big-failed", "/operations/" + benchBigOperation + "?state=failed"},
		{"operation-big-page-90", "/operations/" + benchBigOperation + "?after=9000"},
		{"operation-running", "/operations/" + benchRunningOperation},
		{"operation-running-pending", "/operations/" + benchRunningOperation + "?state=pending"},
		{"audit", "/audit"},
		{"audit-page-2", "/audit?before=" + url.QueryEscape(analyticsNow.Add(-24*time.Hour).Format(time.RFC3339Nano)+"|z")},
		{"audit-actor", "/audit?actor=operator-7"},
		{"audit-command", "/audit?command=instance.suspend"},
		{"audit-instance", "/audit?instance=" + running(20)},
		{"audit-target", "/audit?target=" + running(20)},
		{"audit-result", "/audit?result=not_found"},
		{"audit-day", "/audit?from=" + auditFrom + "&to=" + auditTo},
		{"audit-actor-day", "/audit?actor=operator-3&from=" + auditFrom + "&to=" + auditTo},
	}
	if *pagesServices > 1 {
		// A read model of several services: a version is one service's, and the pages
		// that filter by service are timed too (svc-2: a share of every table).
		for i, p := range pages {
			if strings.Contains(p.path, "version=") {
				pages[i].path += "&service=svc-1"
			}
		}
		pages = append(pages, []struct{ name, path string }{
			{"services-instances", "/instances?service=svc-2"},
			{"services-instances-running", "/instances?service=svc-2&state=active"},
			{"services-instances-process", "/instances?service=svc-2&process=order&version=1"},
			{"services-process", "/processes/order?service=svc-2"},
			{"services-incidents", "/incidents?service=svc-2"},
			{"services-tasks", "/tasks?service=svc-2"},
			{"services-analytics-7d", "/processes/order/analytics?range=7d&service=svc-2"},
		}...)
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
				if strings.HasPrefix(p.name, "migrate") && !strings.Contains(rec.Body.String(), `data-testid="migrate-total"`) {
					b.Fatalf("GET %s: no migration preview: %s", p.path, rec.Body.String())
				}
				if strings.Contains(p.name, "preview") && !strings.Contains(rec.Body.String(), `data-testid="modify-preview"`) {
					b.Fatalf("GET %s: no preview: %s", p.path, rec.Body.String())
				}
			}
			reportLatencies(b, lats)
		})
	}
	// The exports are downloads, not pages: each timed once (whatever -benchtime says)
	// and logged as rows per second.
	for _, d := range []struct {
		path string
		rows int
	}{{"/instances.csv?process=order", *pagesFinished + *pagesRunning}, {"/audit.csv", benchAuditCSVRows}} {
		rec := httptest.NewRecorder()
		t0 := time.Now()
		ui.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, d.path, nil))
		took := time.Since(t0)
		rows := bytes.Count(rec.Body.Bytes(), []byte("\n")) - 1
		if rec.Code != http.StatusOK || rows != d.rows {
			b.Fatalf("%s: %d, %d rows, want %d", d.path, rec.Code, rows, d.rows)
		}
		b.Logf("%s: %d rows, %d KB in %v (%.0f rows/s)", d.path, rows, rec.Body.Len()>>10,
			took.Round(time.Millisecond), float64(rows)/took.Seconds())
	}
}

// migrateMapping is the query of the order's mapping from version 1 to 2 with the renamed
// task mapped: every flow node of version 1 to its id, Task_Checkout to Task_CheckoutV2.
func migrateMapping(b *testing.B, e *engine.Engine, def *store.Definition) string {
	b.Helper()
	model, err := e.Model(context.Background(), def.ID)
	if err != nil {
		b.Fatal(err)
	}
	q := url.Values{}
	var walk func(c *bpmn.Container)
	walk = func(c *bpmn.Container) {
		for _, el := range c.Elements {
			if !el.Kind.IsFlowNode() {
				continue
			}
			to := el.ID
			if to == "Task_Checkout" {
				to = "Task_CheckoutV2"
			}
			q.Add("map", el.ID+"="+to)
			if el.Children != nil {
				walk(el.Children)
			}
		}
	}
	walk(&model.Process(def.Key).Container)
	return q.Encode()
}

// reportLatencies reports the p50 and p95 of a sub-benchmark's iterations.
func reportLatencies(b *testing.B, lats []time.Duration) {
	b.Helper()
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*95/100].Microseconds())/1000, "p95-ms")
}

// benchStore is the seeded store of the page benchmarks, with an engine on it (not
// started: nothing here waits on it) whose fake clock stands at analyticsNow: the
// history and the pages are dated by it; the latencies are real time.
type benchStore struct {
	st    store.Store
	e     *engine.Engine
	def   *store.Definition
	clock *clock.Fake
}

// openBenchStore opens the store -pages.store and -pages.db name and seeds it, unless it
// holds the seed of the same size already (its last step writes a marker audit row).
func openBenchStore(b *testing.B) *benchStore {
	b.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	switch *pagesStore {
	case "sqlite":
		path := *pagesDB
		if path == "" {
			path = filepath.Join(b.TempDir(), "pages.db")
		}
		st, err = sqlite.Open(ctx, sqlite.Options{Path: path})
	case "postgres":
		u := pgtest.URL()
		if u == "" {
			b.Skip("-pages.store postgres needs COCKPIT_TEST_DATABASE_URL")
		}
		schema := *pagesDB
		if schema == "" {
			schema = pgtest.Schema(b, u)
		}
		st, err = postgres.Open(ctx, postgres.Options{URL: u, Schema: schema, MaxConns: 4})
	default:
		b.Fatalf("-pages.store %q: use sqlite or postgres", *pagesStore)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	fc := clock.NewFake(analyticsNow)
	e, err := engine.New(engine.Options{Store: st, Clock: fc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Stop(context.Background()) })
	order, err := os.ReadFile("../demo/flows/order.bpmn")
	if err != nil {
		b.Fatal(err)
	}
	// Version 1 is the seed's; version 2 (Task_Checkout renamed) is what the migration
	// pages migrate to. A reused store has both: version 1 is not deployed again (it
	// would become version 3).
	defs, err := e.ListDefinitions(ctx, store.DefinitionFilter{Key: "order"})
	if err != nil {
		b.Fatal(err)
	}
	var def *store.Definition
	if len(defs) == 0 {
		dep, err := e.Deploy(ctx, "order.bpmn", order)
		if err != nil {
			b.Fatal(err)
		}
		def = dep.Processes[0].Definition
	} else {
		def = defs[0]
	}
	if _, err := e.Deploy(ctx, "order.bpmn", bytes.ReplaceAll(order, []byte("Task_Checkout"), []byte("Task_CheckoutV2"))); err != nil {
		b.Fatal(err)
	}
	marker := fmt.Sprintf("pages-bench-seed-%d-%d", *pagesFinished, *pagesRunning)
	var found []*store.AuditEntry
	if err := st.Read(ctx, func(tx store.Tx) error {
		var err error
		found, err = tx.ListAudit(ctx, store.AuditFilter{Target: marker, Limit: 1})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if len(found) == 1 {
		b.Logf("reusing the seeded store %s (%d finished, %d running instances)", *pagesDB, *pagesFinished, *pagesRunning)
		return spreadServices(b, &benchStore{st: st, e: e, def: def, clock: fc})
	}
	if *pagesDB != "" {
		var any []*store.Instance
		if err := st.Read(ctx, func(tx store.Tx) error {
			page, err := tx.ListInstances(ctx, store.InstanceFilter{Limit: 1})
			if page != nil {
				any = page.Instances
			}
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if len(any) > 0 {
			b.Fatalf("-pages.db %s holds instances but not the seed of %d finished and %d running: remove it", *pagesDB, *pagesFinished, *pagesRunning)
		}
	}
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
	began = time.Now()
	seedOperations(b, st, *pagesFinished, *pagesRunning)
	b.Logf("seeded operations, audit rows, group assignments and notes in %v", time.Since(began).Round(time.Second))
	if err := st.Write(ctx, func(tx store.Tx) error {
		return tx.InsertAudit(ctx, &store.AuditEntry{ID: marker, Time: analyticsNow.Add(-40 * 24 * time.Hour), Actor: "bench",
			Command: "bench.seed", Target: marker, Result: "ok"})
	}); err != nil {
		b.Fatal(err)
	}
	return spreadServices(b, &benchStore{st: st, e: e, def: def, clock: fc})
}

// benchCommands serves the command service on an embedded NATS server (the
// modification preview goes through it) and returns its client.
func benchCommands(b *testing.B, e *engine.Engine) web.CommandClient {
	b.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats server not ready for connections")
	}
	b.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	svc, err := command.Start(context.Background(), command.Options{Conn: nc, Engine: e, Prefix: "bench",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = svc.Stop(context.Background()) })
	return command.NewClient(nc, "bench")
}

// The seeded operations: the big one (done) and the running one, each of 10,000 items.
const (
	benchBigOperation     = "00000000-0000-7000-a000-000000000001"
	benchRunningOperation = "00000000-0000-7000-a000-000000000002"
	benchSmallOperations  = 300
	benchOtherAudit       = 30_000
	// benchAuditCSVRows is what /audit.csv gives: at most 10,000 rows.
	benchAuditCSVRows = 10_000
)

// seedOperations writes issue 13's data beside the instances: operations (many small
// ones, a big one done with some failed and skipped items, a big one running over the
// open incidents), an audit row per item that ran and tens of thousands of other
// commands by twenty operators over 30 days, and the open incident groups' assignments
// (every third group) and notes (two per group).
func seedOperations(b *testing.B, st store.Store, finished, running int) {
	b.Helper()
	ctx := context.Background()
	t0 := analyticsNow.Add(-30 * 24 * time.Hour)
	span := 30 * 24 * time.Hour
	params, _ := json.Marshal(map[string]string{"reason": "bench"})
	var audit []*store.AuditEntry
	itemAudit := func(op *store.Operation, it *store.OperationItem, at time.Time) {
		req, _ := json.Marshal(map[string]any{"operationId": op.ID, "item": it.Seq})
		res := "ok"
		if it.State == store.ItemFailed {
			res = it.Code
		}
		audit = append(audit, &store.AuditEntry{ID: fmt.Sprintf("%s.%d", op.ID, it.Seq), Time: at, Actor: op.Actor,
			Command: op.Kind, Target: it.Target, InstanceID: it.InstanceID, Reason: op.Reason, Request: req, Result: res, Error: it.Error})
	}
	type opItems struct {
		op    *store.Operation
		items []*store.OperationItem
	}
	var ops []opItems
	finishedID := func(i int) string { return fmt.Sprintf("00000000-0000-7000-8000-%012d", i%max(1, finished)) }
	for k := range benchSmallOperations {
		at := t0.Add(time.Duration(k) * span / benchSmallOperations)
		end := at.Add(time.Minute)
		op := &store.Operation{ID: fmt.Sprintf("00000000-0000-7000-a100-%012d", k), Kind: operation.KindCancelInstances,
			Actor: fmt.Sprintf("operator-%d", k%20), Reason: "bench", Selection: "20 selected instances", Params: params,
			State: store.OperationCompleted, Total: 20, Succeeded: 20, CreatedAt: at, FinishedAt: &end}
		if k%3 == 0 {
			op.Kind = operation.KindRetryIncidents
		}
		var items []*store.OperationItem
		for j := range 20 {
			id := finishedID(k*20 + j)
			done := at.Add(time.Duration(j) * time.Second)
			it := &store.OperationItem{Seq: j, Target: id, InstanceID: id, DefinitionKey: "order", ElementID: "Task_Checkout",
				State: store.ItemOK, DoneAt: &done}
			items = append(items, it)
			itemAudit(op, it, done)
		}
		ops = append(ops, opItems{op, items})
	}
	// The big cancel: 10,000 items, 400 failed, 100 skipped (it was stopped at the end).
	bigAt := analyticsNow.Add(-2 * 24 * time.Hour)
	bigEnd := bigAt.Add(30 * time.Second)
	big := &store.Operation{ID: benchBigOperation, Kind: operation.KindCancelInstances, Actor: "operator-1", Reason: "bench",
		Selection: "instances: process order", Params: params, State: store.OperationCancelled, Total: 10_000,
		Succeeded: 9_500, Failed: 400, Skipped: 100, CreatedAt: bigAt, FinishedAt: &bigEnd}
	var bigItems []*store.OperationItem
	for j := range 10_000 {
		id := finishedID(finished - 1 - j)
		done := bigAt.Add(time.Duration(j) * 3 * time.Millisecond)
		it := &store.OperationItem{Seq: j, Target: id, InstanceID: id, DefinitionKey: "order", State: store.ItemOK, DoneAt: &done}
		switch {
		case j >= 9_900:
			it.State = store.ItemSkipped
		case j%25 == 7:
			it.State, it.Code, it.Error = store.ItemFailed, "invalid_state", "instance "+id+" is completed, not active"
		}
		bigItems = append(bigItems, it)
		if it.State != store.ItemSkipped {
			itemAudit(big, it, done)
		}
	}
	ops = append(ops, opItems{big, bigItems})
	// The running retry over the open incidents: 3,000 done, the rest pending.
	runAt := analyticsNow.Add(-time.Minute)
	run := &store.Operation{ID: benchRunningOperation, Kind: operation.KindRetryIncidents, Actor: "operator-2", Reason: "bench",
		Selection: "incidents: process order", Params: params, State: store.OperationRunning, Total: running, CreatedAt: runAt}
	var runItems []*store.OperationItem
	for j := range running {
		id := fmt.Sprintf("00000000-0000-7000-8000-%012d", finished+j)
		it := &store.OperationItem{Seq: j, Target: fmt.Sprintf("00000000-0000-7000-9000-%012d", finished+j), InstanceID: id,
			DefinitionKey: "order", State: store.ItemPending}
		if j < running*3/10 {
			done := runAt.Add(time.Duration(j) * 10 * time.Millisecond)
			it.State, it.DoneAt = store.ItemOK, &done
			itemAudit(run, it, done)
		}
		runItems = append(runItems, it)
	}
	ops = append(ops, opItems{run, runItems})
	// Other commands, by twenty operators over 30 days, each on a running instance.
	commands := []string{"instance.suspend", "instance.resume", "variables.set", "incident.retry", "task.claim", "instance.cancel"}
	for k := range benchOtherAudit {
		at := t0.Add(time.Duration(k) * span / benchOtherAudit)
		id := fmt.Sprintf("00000000-0000-7000-8000-%012d", finished+k%max(1, running))
		res, msg := "ok", ""
		if k%50 == 0 {
			res, msg = "not_found", "instance "+id+" not found"
		}
		audit = append(audit, &store.AuditEntry{ID: fmt.Sprintf("00000000-0000-7000-b000-%012d", k), Time: at,
			Actor: fmt.Sprintf("operator-%d", k%20), Command: commands[k%len(commands)], Target: id, InstanceID: id,
			Reason: "bench", Request: json.RawMessage(`{"reason":"bench"}`), Result: res, Error: msg})
	}
	for _, o := range ops {
		if err := st.Write(ctx, func(tx store.Tx) error { return tx.InsertOperation(ctx, o.op, o.items) }); err != nil {
			b.Fatal(err)
		}
	}
	for start := 0; start < len(audit); start += 5000 {
		if err := st.Write(ctx, func(tx store.Tx) error {
			for _, a := range audit[start:min(start+5000, len(audit))] {
				if err := tx.InsertAudit(ctx, a); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	// A resolved incident was open once: its group has its record (the store writes it
	// with the first open incident, which the seed skipped).
	if err := st.Write(ctx, func(tx store.Tx) error {
		groups, err := tx.GroupIncidents(ctx, store.IncidentQuery{State: store.IncidentResolved}, 10_000)
		if err != nil {
			return err
		}
		ids := make([]string, len(groups))
		for i, g := range groups {
			ids[i] = g.NewestID
		}
		first, err := tx.QueueIncidents(ctx, store.IncidentQuery{IDs: ids}, store.IncidentCursor{}, len(ids)+1)
		if err != nil {
			return err
		}
		return tx.FingerprintIncidents(ctx, first)
	}); err != nil {
		b.Fatal(err)
	}
	// Assign every third open group, and two notes on each.
	if err := st.Write(ctx, func(tx store.Tx) error {
		groups, err := tx.GroupIncidents(ctx, store.IncidentQuery{State: store.IncidentOpen}, 1000)
		if err != nil {
			return err
		}
		people := []string{"ann", "bob", "cy"}
		for k, g := range groups {
			at := analyticsNow.Add(-time.Duration(k) * time.Minute)
			if k%3 == 0 {
				if err := tx.AssignIncidentGroup(ctx, g.Fingerprint, people[k/3%len(people)], "operator-1", "looking into it", at); err != nil {
					return err
				}
			}
			for n, kind := range []string{store.NoteComment, store.NoteAssign} {
				if err := tx.InsertIncidentNote(ctx, &store.IncidentNote{ID: fmt.Sprintf("%s-%d", g.Fingerprint[:16], n),
					Fingerprint: g.Fingerprint, Kind: kind, Text: "seen in the logs of the payment service", Actor: "operator-1",
					CreatedAt: at.Add(time.Duration(n) * time.Second)}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
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

// benchResolvedIncident is the resolved incident of finished instance i (one in ten has
// one): one of the causes at one of four elements, except every 50th, whose message is its
// own (two thousand groups of one among the hundred thousand).
func benchResolvedIncident(instanceID, element, key string, i int, at, end time.Time) *store.Incident {
	msg := benchIncidentCauses[i/10%len(benchIncidentCauses)]
	if i/10%50 == 0 {
		msg = fmt.Sprintf("unexpected answer %s", strings.Repeat("x", 1+i/500%64)+string(rune('a'+i/500/64%26)))
	}
	return &store.Incident{ID: fmt.Sprintf("00000000-0000-7000-9100-%012d", i), InstanceID: instanceID, TokenID: instanceID + "-t",
		ElementID: element, DefinitionKey: key, Type: store.IncidentFailedJob, Message: msg, State: store.IncidentResolved,
		CreatedAt: at, ResolvedAt: &end}
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
					if i%10 == 0 {
						// One finished instance in ten had an incident, resolved before it ended.
						c.PutIncidents = []*store.Incident{benchResolvedIncident(id, waits[i/10%len(waits)], def.Key, i, at, end)}
					}
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

// spreadServices makes the seeded store an observing cockpit's read model of
// -pages.services services (svc-1…svc-N) when that is more than one: every definition
// becomes svc-1's, each other service gets a copy of each (same key and version, an id
// of its own), and every Nth instance moves to the copy of its service. Applied once: a
// reused store that has the services already is left as it is.
func spreadServices(b *testing.B, bs *benchStore) *benchStore {
	b.Helper()
	n := *pagesServices
	if n <= 1 {
		return bs
	}
	if *pagesStore != "sqlite" {
		b.Fatalf("-pages.services %d: only with -pages.store sqlite", n)
	}
	ctx := context.Background()
	defs, err := bs.e.ListDefinitions(ctx, store.DefinitionFilter{Service: fmt.Sprintf("svc-%d", n)})
	if err != nil {
		b.Fatal(err)
	}
	if len(defs) > 0 {
		return bs
	}
	path := *pagesDB
	if path == "" {
		b.Fatal("-pages.services needs -pages.db (the seeded file)")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(60000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	began := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stmts := []string{`UPDATE definitions SET service = 'svc-1' WHERE service = ''`}
	for k := 2; k <= n; k++ {
		svc := fmt.Sprintf("svc-%d", k)
		stmts = append(stmts,
			`INSERT INTO definitions (id, key, version, name, checksum, resource, xml, deployed_at, service)
			 SELECT id || '-`+svc+`', key, version, name, checksum, resource, xml, deployed_at, '`+svc+`' FROM definitions WHERE service = 'svc-1'`,
			fmt.Sprintf(`UPDATE instances SET definition_id = definition_id || '-%s'
			 WHERE CAST(substr(id, -6) AS INTEGER) %% %d = %d AND definition_id IN (SELECT id FROM definitions WHERE service = 'svc-1')`, svc, n, k-1))
	}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			b.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	b.Logf("spread the instances over %d services in %v", n, time.Since(began).Round(time.Millisecond))
	return bs
}
