package command_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// incidents starts n nodefault instances that stop at a noMatchingFlow incident and
// returns their instance ids.
func (v *env) incidents(n int) []string {
	v.t.Helper()
	ids := make([]string, n)
	for i := range n {
		ids[i] = v.startInstance("nodefault", map[string]any{"amount": 50}).ID
	}
	return ids
}

func TestBulkRetryWithProgress(t *testing.T) {
	t.Parallel()
	v := newEnv(t) // BulkChunkSize 10
	instances := v.incidents(50)
	// Noise: an expression incident (amount missing) of the same definition stays open.
	other := v.startInstance("nodefault", nil)
	if inc := v.openIncident(other.ID); inc.Type != store.IncidentExpression {
		t.Fatalf("noise incident is %s", inc.Type)
	}

	var progress []command.Progress
	res, err := v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{
		Meta: meta("ann"), DefinitionKey: "nodefault", ElementID: "check", Type: store.IncidentNoMatchingFlow,
		Variables: map[string]any{"amount": 500},
	}, func(p command.Progress) { progress = append(progress, p) })
	noErr(t, err)

	if res.Matched != 50 || res.Selected != 50 || res.Retried != 50 || res.Failed != 0 || res.Incomplete || len(res.Errors) != 0 {
		t.Fatalf("result %+v", res)
	}
	for _, id := range instances {
		if s := v.state(id); s != store.InstanceCompleted {
			t.Fatalf("instance %s is %s after the bulk retry", id, s)
		}
	}
	if s := v.state(other.ID); s != store.InstanceActive || len(v.openIncidentsOf(other.ID)) != 1 {
		t.Errorf("the incident outside the filter was touched: %s", s)
	}

	// Start, one per chunk of 10, finished.
	if len(progress) != 7 {
		t.Fatalf("%d progress messages, want 7: %+v", len(progress), progress)
	}
	for i, p := range progress {
		if p.RequestID != res.RequestID || p.Command != command.VerbRetryIncidents || p.Total != 50 || p.Failed != 0 {
			t.Errorf("progress %d: %+v", i, p)
		}
		if want := min(i*10, 50); p.Done != want || p.Succeeded != want {
			t.Errorf("progress %d: done %d, want %d", i, p.Done, want)
		}
		if p.Finished != (i == len(progress)-1) {
			t.Errorf("progress %d: finished %v", i, p.Finished)
		}
	}

	// One audit row per incident plus the bulk command's own.
	rows := v.audit(store.AuditFilter{Actor: "ann", Limit: 1000})
	perItem := 0
	for _, a := range rows {
		if a.Command != command.VerbRetryIncidents || a.Result != "ok" {
			t.Errorf("audit %+v", a)
		}
		if a.Target != "nodefault" {
			perItem++
		}
	}
	if perItem != 50 || len(rows) != 51 {
		t.Errorf("audit: %d rows, %d per incident", len(rows), perItem)
	}
}

func (v *env) openIncidentsOf(instanceID string) []*store.Incident {
	var out []*store.Incident
	for _, i := range v.detail(instanceID).Incidents {
		if i.State == store.IncidentOpen {
			out = append(out, i)
		}
	}
	return out
}

func TestBulkRetryByIDsReportsItemErrors(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	instances := v.incidents(3)
	var ids []string
	for _, id := range instances {
		ids = append(ids, v.openIncident(id).ID)
	}
	// The first incident is resolved already; the last instance is suspended.
	if _, err := v.client.RetryIncident(v.ctx, command.RetryIncidentRequest{Meta: meta("ann"), IncidentID: ids[0], Variables: map[string]any{"amount": 500}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.client.SuspendInstance(v.ctx, command.InstanceRequest{Meta: meta("ann"), InstanceID: instances[2]}); err != nil {
		t.Fatal(err)
	}

	res, err := v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{
		Meta: meta("bob"), IncidentIDs: append(ids, "no-such-incident", ids[1]), Variables: map[string]any{"amount": 500},
	}, nil)
	noErr(t, err)
	if res.Matched != 4 || res.Selected != 4 || res.Retried != 1 || res.Failed != 3 || res.Incomplete {
		t.Fatalf("result %+v", res)
	}
	got := map[string]command.Code{}
	for _, e := range res.Errors {
		got[e.ID] = e.Code
		if e.Message == "" {
			t.Errorf("item error without message: %+v", e)
		}
	}
	want := map[string]command.Code{ids[0]: command.CodeInvalidState, ids[2]: command.CodeInvalidState, "no-such-incident": command.CodeNotFound}
	if len(got) != len(want) {
		t.Errorf("item errors %v, want %v", got, want)
	}
	for id, code := range want {
		if got[id] != code {
			t.Errorf("item %s: %s, want %s", id, got[id], code)
		}
	}
	if s := v.state(instances[1]); s != store.InstanceCompleted {
		t.Errorf("instance %s", s)
	}
	if a := v.lastAudit("no-such-incident"); a.Actor != "bob" || a.Result != string(command.CodeNotFound) || a.Command != command.VerbRetryIncidents {
		t.Errorf("audit %+v", a)
	}
}

func TestBulkRetrySelection(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	v.incidents(5)
	v.startInstance("nodefault", nil) // expression incident: "amount" is unknown

	// max caps the selection, oldest first.
	res, err := v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{Meta: meta("ann"), All: true, Max: 2}, nil)
	noErr(t, err)
	if res.Matched != 6 || res.Selected != 2 || res.Retried != 2 {
		t.Errorf("capped: %+v", res)
	}
	// messageContains is case-insensitive. Retried without a fix, the incidents open again.
	open, err := v.e.ListIncidents(v.ctx, store.IncidentFilter{State: store.IncidentOpen})
	noErr(t, err)
	var exprMsg string
	for _, inc := range open {
		if inc.Type == store.IncidentExpression {
			exprMsg = inc.Message
		}
	}
	if exprMsg == "" {
		t.Fatal("no expression incident")
	}
	res, err = v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{Meta: meta("ann"), MessageContains: "AMOUNT"}, nil)
	noErr(t, err)
	if res.Matched == 0 {
		t.Errorf("messageContains matched nothing (message %q)", exprMsg)
	}
	res, err = v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{Meta: meta("ann"), Type: store.IncidentExpression}, nil)
	noErr(t, err)
	if res.Matched != 1 || res.Retried != 1 {
		t.Errorf("by type: %+v", res)
	}
	res, err = v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{Meta: meta("ann"), DefinitionKey: "usertask"}, nil)
	noErr(t, err)
	if res.Matched != 0 || res.Retried != 0 {
		t.Errorf("other definition: %+v", res)
	}

	for name, req := range map[string]command.BulkRetryRequest{
		"nothing selected":  {Meta: meta("ann")},
		"ids and filter":    {Meta: meta("ann"), IncidentIDs: []string{"a"}, DefinitionKey: "nodefault"},
		"max too large":     {Meta: meta("ann"), All: true, Max: command.MaxBulk + 1},
		"negative max":      {Meta: meta("ann"), All: true, Max: -1},
		"more ids than max": {Meta: meta("ann"), IncidentIDs: []string{"a", "b", "c"}, Max: 2},
		"empty id":          {Meta: meta("ann"), IncidentIDs: []string{""}},
		"negative retries":  {Meta: meta("ann"), All: true, Retries: -1},
	} {
		_, err := v.client.RetryIncidents(v.ctx, req, nil)
		if cerr := wantCode(t, err, command.CodeInvalidInput); cerr.Message == "" {
			t.Errorf("%s: no message", name)
		}
	}
	_, err = v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{All: true}, nil)
	wantCode(t, err, command.CodeUnauthorized)
}

func TestBulkRetryOfFailedJobs(t *testing.T) {
	t.Parallel()
	v := newEnv(t)
	defs, err := bpmn.Build("flaky").Start("start").
		ServiceTask("work", bpmn.JobType("flaky"), bpmn.Retries(1)).End("done").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.e.DeployModel(v.ctx, "flaky.bpmn", defs); err != nil {
		t.Fatal(err)
	}
	// The handler fails until the operator sets "fixed".
	v.e.Handle("flaky", func(_ context.Context, job *engine.Job) (map[string]any, error) {
		if job.Variables["fixed"] == true {
			return nil, nil
		}
		return nil, errors.New("upstream said no")
	})
	var instances []string
	for range 5 {
		instances = append(instances, v.startInstance("flaky", nil).ID)
	}
	v.waitFor("5 failed-job incidents", func() bool {
		open, err := v.e.ListIncidents(v.ctx, store.IncidentFilter{State: store.IncidentOpen, DefinitionKey: "flaky"})
		noErr(t, err)
		return len(open) == 5
	})
	res, err := v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{
		Meta: meta("ann"), Type: store.IncidentFailedJob, MessageContains: "said no", Retries: 2,
		Variables: map[string]any{"fixed": true},
	}, nil)
	noErr(t, err)
	if res.Matched != 5 || res.Retried != 5 {
		t.Fatalf("result %+v", res)
	}
	v.waitFor("instances completed", func() bool {
		for _, id := range instances {
			if v.state(id) != store.InstanceCompleted {
				return false
			}
		}
		return true
	})
}

// waitFor is wait.For on the env's test. The executor runs jobs on its own goroutines,
// so there is no commit signal to wait on from outside the engine.
func (v *env) waitFor(what string, cond func() bool) {
	v.t.Helper()
	wait.For(v.t, what, cond)
}

// gatedStore lets a number of reads through once armed, then holds every further read
// until its context ends.
type gatedStore struct {
	store.Store
	mu      sync.Mutex
	armed   bool
	allow   int
	blocked chan struct{} // closed at the first held read
	once    sync.Once
}

func (g *gatedStore) Read(ctx context.Context, fn func(store.Tx) error) error {
	g.mu.Lock()
	hold := g.armed && g.allow <= 0
	if g.armed {
		g.allow--
	}
	g.mu.Unlock()
	if hold {
		g.once.Do(func() { close(g.blocked) })
		<-ctx.Done()
		return ctx.Err()
	}
	return g.Store.Read(ctx, fn)
}

func TestStopDuringBulkRetryReportsIncomplete(t *testing.T) {
	t.Parallel()
	gs := &gatedStore{blocked: make(chan struct{})}
	v := newEnv(t, withEngineStore(func(st store.Store) store.Store {
		gs.Store = st
		return gs
	}))
	v.incidents(30)
	gs.mu.Lock()
	gs.armed, gs.allow = true, 1 // the selection reads; the retries then hang
	gs.mu.Unlock()

	type outcome struct {
		res *command.BulkRetryResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{Meta: meta("ann"), DefinitionKey: "nodefault"}, nil)
		done <- outcome{res, err}
	}()
	select {
	case <-gs.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the bulk retry never reached the store")
	}
	// A stop whose deadline has passed cancels the commands in flight.
	ctx, cancel := context.WithCancel(v.ctx)
	cancel()
	if err := v.svc.Stop(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("stop: %v, want context.Canceled", err)
	}
	var out outcome
	select {
	case out = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("no reply after stop")
	}
	if out.err != nil {
		t.Fatal(out.err)
	}
	res := out.res
	if !res.Incomplete || res.Retried != 0 || res.Selected != 30 || res.Failed == 0 || res.Failed > 10 {
		t.Errorf("result %+v", res)
	}
	for _, e := range res.Errors {
		if e.Code != command.CodeUnavailable {
			t.Errorf("item error %+v", e)
		}
	}
	// The bulk command's own row, and one per item it tried.
	if rows := v.audit(store.AuditFilter{Actor: "ann", Limit: 100}); len(rows) != res.Failed+1 {
		t.Errorf("%d audit rows, want %d", len(rows), res.Failed+1)
	}
}
