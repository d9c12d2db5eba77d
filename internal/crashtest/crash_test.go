package crashtest

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cockpit-engine/cockpit/internal/bench"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/postgres"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// Node processes are this test binary started again with these variables set.
const (
	envNode   = "COCKPIT_CRASH_NODE" // the node's incarnation name
	envURL    = "COCKPIT_CRASH_URL"
	envSchema = "COCKPIT_CRASH_SCHEMA"
	// With these set the node also runs the outbox relay (TestRelayFailover).
	envNATS   = "COCKPIT_CRASH_NATS"
	envPrefix = "COCKPIT_CRASH_PREFIX"
	// With this set (items per second) the node runs no job handler and works off bulk
	// operations instead (TestKillDuringOperation).
	envOps = "COCKPIT_CRASH_OPERATION_RATE"
)

// The nodes' settings: a short lock so that jobs of killed nodes come back quickly.
const (
	lockDuration = 2 * time.Second
	nodeWorkers  = 16
)

func TestMain(m *testing.M) {
	if name := os.Getenv(envNode); name != "" {
		os.Exit(runNode(name))
	}
	os.Exit(m.Run())
}

// runNode is one Cockpit node: an engine with recording handlers (and the outbox relay
// when envNATS is set), until SIGTERM (or SIGKILL).
func runNode(name string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("node", name)
	url, schema := os.Getenv(envURL), os.Getenv(envSchema)
	st, err := postgres.Open(ctx, postgres.Options{URL: url, Schema: schema, Logger: log})
	if err != nil {
		log.Error("open store", "err", err)
		return 1
	}
	defer st.Close()
	runs, err := pgxpool.New(ctx, url)
	if err != nil {
		log.Error("open run log", "err", err)
		return 1
	}
	defer runs.Close()
	var onCommit func([]*store.Event)
	if natsURL := os.Getenv(envNATS); natsURL != "" {
		nc, err := bus.Connect(ctx, bus.ConnectOptions{URL: natsURL, Name: name, Logger: log})
		if err != nil {
			log.Error("connect to NATS", "err", err)
			return 1
		}
		defer nc.Close()
		// The relay's defaults: the lease and its rhythm are what the fail-over measures.
		relay, err := bus.NewRelay(bus.RelayOptions{Store: st, Conn: nc, Prefix: os.Getenv(envPrefix), Owner: name, Logger: log})
		if err != nil {
			log.Error("new relay", "err", err)
			return 1
		}
		if err := relay.Start(ctx); err != nil {
			log.Error("start relay", "err", err)
			return 1
		}
		// Deferred before the engine's Stop, so it runs after it: the relay publishes
		// what the engine's last commits wrote.
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := relay.Stop(sctx); err != nil {
				log.Error("stop relay", "err", err)
			}
		}()
		onCommit = func([]*store.Event) { relay.Notify() }
	}
	// The real clock: real processes are killed and their job locks expire in real time.
	e, err := engine.New(engine.Options{Store: st, NodeID: name, Logger: log, LockDuration: lockDuration,
		Workers: nodeWorkers, BatchSize: nodeWorkers, OnCommit: onCommit})
	if err != nil {
		log.Error("new engine", "err", err)
		return 1
	}
	if rate := os.Getenv(envOps); rate != "" {
		return runOperations(ctx, log, st, e, name, rate)
	}
	insert := fmt.Sprintf(`INSERT INTO %s.crash_runs (job_key, node, attempt) VALUES ($1, $2, $3)`, pgx.Identifier{schema}.Sanitize())
	for _, typ := range bench.JobTypes {
		e.Handle(typ, func(ctx context.Context, j *engine.Job) (map[string]any, error) {
			// The run is recorded before the work "happens": a node killed right after
			// still counts as having run the job.
			if _, err := runs.Exec(ctx, insert, j.Key, name, j.Attempt); err != nil {
				return nil, fmt.Errorf("record run: %w", err)
			}
			select {
			case <-time.After(time.Duration(rand.IntN(10)) * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return map[string]any{typ: name}, nil
		})
	}
	if err := e.Start(ctx); err != nil {
		log.Error("start engine", "err", err)
		return 1
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Stop(sctx); err != nil {
		log.Error("stop engine", "err", err)
		return 1
	}
	return 0
}

// cluster runs and kills node processes.
type cluster struct {
	t      *testing.T
	url    string
	schema string

	mu     sync.Mutex
	nodes  map[int]*exec.Cmd // by slot
	names  map[int]string
	gen    int
	killed map[string]bool // incarnations that died by SIGKILL
}

func (c *cluster) start(slot int, env ...string) string {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	name := fmt.Sprintf("n%d-%d", slot, c.gen)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNode+"="+name, envURL+"="+c.url, envSchema+"="+c.schema)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start node %s: %v", name, err)
	}
	c.nodes[slot], c.names[slot] = cmd, name
	return name
}

func (c *cluster) kill(slot int) string {
	c.mu.Lock()
	cmd, name := c.nodes[slot], c.names[slot]
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	c.mu.Lock()
	c.killed[name] = true
	delete(c.nodes, slot)
	c.mu.Unlock()
	return name
}

// stop stops one node gracefully (SIGTERM) and waits for it.
func (c *cluster) stop(slot int) string {
	c.t.Helper()
	c.mu.Lock()
	cmd, name := c.nodes[slot], c.names[slot]
	delete(c.nodes, slot)
	c.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		c.t.Errorf("node %s did not stop cleanly: %v", name, err)
	}
	return name
}

// stopAll stops the nodes gracefully.
func (c *cluster) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for slot, cmd := range c.nodes {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			c.t.Errorf("node %s did not stop cleanly: %v", c.names[slot], err)
		}
		delete(c.nodes, slot)
	}
}

// harness sets up a schema with the reference flow and N started instances.
type harness struct {
	t      *testing.T
	ctx    context.Context
	url    string
	schema string
	db     *pgxpool.Pool
	n      int
}

func newHarness(t *testing.T, n int) *harness {
	url := os.Getenv("COCKPIT_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("COCKPIT_TEST_DATABASE_URL not set: crash tests skipped")
	}
	if testing.Short() {
		t.Skip("crash tests skipped in -short mode")
	}
	ctx := t.Context()
	h := &harness{t: t, ctx: ctx, url: url, n: n, schema: fmt.Sprintf("crash_%d_%d", time.Now().UnixNano(), rand.IntN(1000))}
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	h.db = db
	t.Cleanup(func() {
		_, _ = db.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{h.schema}.Sanitize()+` CASCADE`)
		db.Close()
	})
	st, err := postgres.Open(ctx, postgres.Options{URL: url, Schema: h.schema})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := db.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s.crash_runs (job_key text NOT NULL, node text NOT NULL,
		attempt int NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`, pgx.Identifier{h.schema}.Sanitize())); err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Stop(context.Background())
	if _, err := e.Deploy(ctx, "bench.bpmn", []byte(bench.ReferenceFlow)); err != nil {
		t.Fatal(err)
	}
	// Started here, run by the nodes: this engine is never started, so it runs no job.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				if _, err := e.StartInstance(ctx, bench.ProcessKey, engine.StartOptions{BusinessKey: fmt.Sprint(i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return h
}

func (h *harness) q(sql string) string {
	return strings.ReplaceAll(sql, "$S.", pgx.Identifier{h.schema}.Sanitize()+".")
}

func (h *harness) count(sql string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.db.QueryRow(h.ctx, h.q(sql), args...).Scan(&n); err != nil {
		h.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// waitCompleted polls until every instance completed, doing chaos in between.
func (h *harness) waitCompleted(deadline time.Duration, chaos func()) {
	h.t.Helper()
	wait.Until(h.t, deadline, "every instance to complete", func() error {
		var done int
		err := h.db.QueryRow(h.ctx, h.q(`SELECT count(*) FROM $S.instances WHERE state = 'completed'`)).Scan(&done)
		if err == nil && done == h.n {
			return nil
		}
		chaos()
		return fmt.Errorf("%d of %d instances completed (last error %v)", done, h.n, err)
	})
}

// verify checks the end state: instances, jobs, runs and history.
func (h *harness) verify(killed map[string]bool, kills int) {
	t := h.t
	if got := h.count(`SELECT count(*) FROM $S.instances`); got != h.n {
		t.Errorf("%d instances, want %d (lost or duplicated)", got, h.n)
	}
	if got := h.count(`SELECT count(*) FROM $S.instances WHERE state <> 'completed'`); got != 0 {
		t.Errorf("%d instances not completed", got)
	}
	if got := h.count(`SELECT count(*) FROM (SELECT instance_id FROM $S.events WHERE type = 'instance.completed'
		GROUP BY instance_id HAVING count(*) <> 1) x`); got != 0 {
		t.Errorf("%d instances completed other than exactly once", got)
	}
	jobs := h.count(`SELECT count(*) FROM $S.events WHERE type = 'job.created'`)
	if jobs != 3*h.n {
		t.Errorf("%d jobs created, want %d", jobs, 3*h.n)
	}
	if got := h.count(`SELECT count(*) FROM $S.events c WHERE c.type = 'job.created'
		AND NOT EXISTS (SELECT 1 FROM $S.crash_runs r WHERE r.job_key = c.job_id)`); got != 0 {
		t.Errorf("%d jobs never ran", got)
	}
	if got := h.count(`SELECT count(*) FROM (SELECT job_id FROM $S.events WHERE type = 'job.completed'
		GROUP BY job_id HAVING count(*) <> 1) x`); got != 0 {
		t.Errorf("%d jobs completed other than exactly once", got)
	}
	runs := h.count(`SELECT count(*) FROM $S.crash_runs`)
	reruns := runs - jobs
	// A job runs again only when the lock of its previous run expired: because that node
	// was killed, or because it could not finish within the lock (a slow database). So
	// every run after a job's first starts at least one lock duration after the previous
	// one, less a margin: the run is recorded when its handler has started, which under a
	// loaded machine can be a few hundred milliseconds after the lock was taken.
	early := h.count(fmt.Sprintf(`SELECT count(*) FROM (SELECT at, lag(at) OVER (PARTITION BY job_key ORDER BY at) AS prev
		FROM $S.crash_runs) x WHERE prev IS NOT NULL AND at < prev + interval '%d milliseconds'`, (lockDuration / 2).Milliseconds()))
	if early != 0 {
		t.Errorf("%d re-runs started before the previous run's lock could have expired", early)
	}
	// Which re-runs a kill explains, and which a lock that ran out on a live node.
	rows, err := h.db.Query(h.ctx, h.q(`SELECT node FROM (SELECT node, row_number() OVER (PARTITION BY job_key ORDER BY at DESC) AS rn
		FROM $S.crash_runs) x WHERE rn > 1`))
	if err != nil {
		t.Fatal(err)
	}
	earlier, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	byKill := 0
	for _, node := range earlier {
		if killed[node] {
			byKill++
		}
	}
	if killed != nil && byKill > kills*nodeWorkers {
		t.Errorf("%d re-runs after kills, more than %d kills × %d locks a node holds at most", byKill, kills, nodeWorkers)
	}
	// History: per instance, instance_seq runs 1..n without gaps, in seq order, from
	// instance.started to instance.completed.
	if got := h.count(`SELECT count(*) FROM (SELECT instance_id, count(*) AS n, max(instance_seq) AS hi, min(instance_seq) AS lo
		FROM $S.events GROUP BY instance_id) x WHERE n <> hi OR lo <> 1`); got != 0 {
		t.Errorf("%d instances with gaps or repeats in their history", got)
	}
	if got := h.count(`SELECT count(*) FROM (SELECT instance_seq, lag(instance_seq) OVER (PARTITION BY instance_id ORDER BY seq) AS prev
		FROM $S.events) x WHERE prev IS NOT NULL AND instance_seq <> prev + 1`); got != 0 {
		t.Errorf("%d history events out of order", got)
	}
	if got := h.count(`SELECT count(*) FROM $S.events e WHERE e.instance_seq = 1 AND e.type <> 'instance.started'`); got != 0 {
		t.Errorf("%d histories that do not begin with instance.started", got)
	}
	t.Logf("instances %d, jobs %d, runs %d, re-runs %d (%d after a kill, %d after a lock ran out on a live node), kills %d",
		h.n, jobs, runs, reruns, byKill, reruns-byKill, kills)
}

func TestKillNodes(t *testing.T) {
	h := newHarness(t, 3000)
	c := &cluster{t: t, url: h.url, schema: h.schema, nodes: map[int]*exec.Cmd{}, names: map[int]string{}, killed: map[string]bool{}}
	for slot := range 3 {
		c.start(slot)
	}
	defer c.stopAll()
	kills := 0
	const maxKills = 12
	h.waitCompleted(5*time.Minute, func() {
		// Chaos: random pauses (this is the scenario, not a wait for a condition), then a
		// SIGKILL at a random moment and a restart.
		time.Sleep(time.Duration(150+rand.IntN(450)) * time.Millisecond)
		if kills < maxKills {
			slot := rand.IntN(3)
			name := c.kill(slot)
			kills++
			t.Logf("killed %s", name)
			time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
			c.start(slot)
		}
	})
	c.stopAll()
	if kills == 0 {
		t.Fatal("the run finished before any node was killed: make it longer")
	}
	h.verify(c.killed, kills)
}

func TestPostgresRestart(t *testing.T) {
	if os.Getenv("COCKPIT_TEST_PG_RESTART") != "1" {
		t.Skip("COCKPIT_TEST_PG_RESTART=1 not set: the PostgreSQL restart test is skipped (it restarts the shared server)")
	}
	h := newHarness(t, 2000)
	c := &cluster{t: t, url: h.url, schema: h.schema, nodes: map[int]*exec.Cmd{}, names: map[int]string{}, killed: map[string]bool{}}
	for slot := range 3 {
		c.start(slot)
	}
	defer c.stopAll()
	restarted := false
	h.waitCompleted(5*time.Minute, func() {
		time.Sleep(200 * time.Millisecond)
		if restarted || h.count(`SELECT count(*) FROM $S.instances WHERE state = 'completed'`) < h.n/4 {
			return
		}
		restarted = true
		versions, _ := os.ReadDir("/etc/postgresql")
		if len(versions) == 0 {
			t.Fatal("no PostgreSQL cluster under /etc/postgresql")
		}
		out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", versions[0].Name(), "main", "restart").CombinedOutput()
		if err != nil {
			t.Fatalf("restart PostgreSQL: %v: %s", err, out)
		}
		t.Log("PostgreSQL restarted")
		h.db.Reset()
	})
	if !restarted {
		t.Fatal("the run finished before PostgreSQL was restarted: make it longer")
	}
	c.stopAll()
	// Nodes lost in-flight completions while the database was down: re-runs are
	// expected, bounded by the locks the nodes held; no node was killed.
	h.verify(nil, 0)
}
