package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/storetest"
	"github.com/cockpit-engine/cockpit/internal/event"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// completes reports whether c records the completion of a job at element.
func completes(c *store.Change, element string) bool {
	for _, ev := range c.Events {
		if ev.Type == event.JobCompleted && ev.ElementID == element {
			return true
		}
	}
	return false
}

// TestJobOutcomeWriteFailures: a failed write of a job's outcome is retried with backoff
// on the engine's clock. A permanent failure ends in an incident that says the handler's
// result was not written (and the handler is not run again until it is retried); a
// transient one leaves the job locked until its lock expires, and it runs again then; a
// transient one that passes within the retries completes the job once.
func TestJobOutcomeWriteFailures(t *testing.T) {
	cases := []struct {
		name string
		// err is what the store answers the job's completion; failures is how many
		// times (0: always).
		err      error
		failures int
	}{
		{name: "permanent", err: errors.New("value cannot be stored (injected)")},
		{name: "transient", err: store.Unavailable(errors.New("connection refused (injected)"))},
		{name: "transient-then-ok", err: store.Unavailable(errors.New("connection reset (injected)")), failures: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
				// The refused Apply fails the write as a store would: the command gets the
				// error, the rest of its batch is unharmed. Shared: the engine treats the
				// store as one other processes write too, whichever store is wrapped.
				fs := storetest.NewFaultStore(open(t))
				fs.Shared = true
				t.Cleanup(func() { _ = fs.Close() })
				v := newEnvOn(t, fs, false)
				defs, err := bpmn.Build("outcome").Start("start").
					ServiceTask("call", bpmn.JobType("call")).End("end").Definitions()
				if err != nil {
					t.Fatal(err)
				}
				var runs atomic.Int32
				v.e.Handle("call", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
					runs.Add(1)
					return map[string]any{"answer": 42}, nil
				})
				var refusals atomic.Int32
				fs.OnApply(func(ch *store.Change) error {
					if !completes(ch, "call") {
						return nil
					}
					if c.failures > 0 && int(refusals.Load()) >= c.failures {
						return nil
					}
					refusals.Add(1)
					return c.err
				})
				if _, err := v.e.DeployModel(v.ctx, "outcome.bpmn", defs); err != nil {
					t.Fatal(err)
				}
				v.start()
				inst := v.startInstance("outcome", nil)

				// Each refusal is followed by a wait on the fake clock: move it until the
				// next attempt comes (or the outcome is settled).
				settled := func() bool {
					d := v.detail(inst.ID)
					return d.Instance.State == store.InstanceCompleted || len(v.openIncidents(inst.ID)) > 0 ||
						int(refusals.Load()) >= 4
				}
				wait.Until(t, wait.Timeout, "the outcome to settle", func() error {
					if settled() {
						return nil
					}
					v.clock.Advance(250 * time.Millisecond)
					return fmt.Errorf("%d refusals", refusals.Load())
				})

				switch c.name {
				case "permanent":
					v.waitFor("incident", func() bool { return len(v.openIncidents(inst.ID)) == 1 })
					inc := v.openIncidents(inst.ID)[0]
					if inc.Type != store.IncidentFailedJob || !strings.Contains(inc.Message, "handler's result was not written") ||
						!strings.Contains(inc.Message, "value cannot be stored (injected)") ||
						!strings.Contains(inc.Details, "handler completed the job") {
						t.Errorf("incident %q / %q", inc.Message, inc.Details)
					}
					if n := refusals.Load(); n != 4 {
						t.Errorf("completion tried %d times, want 4", n)
					}
					j := v.detail(inst.ID).Jobs[0]
					if j.Retries != 0 || j.LockOwner != "" {
						t.Errorf("job after the incident: retries %d, lock %q", j.Retries, j.LockOwner)
					}
					if n := runs.Load(); n != 1 {
						t.Errorf("handler ran %d times, want 1", n)
					}
				case "transient":
					// The executor gives up after the fourth attempt (its worker returns).
					v.waitFor("the executor to give up", func() bool { return v.e.ExecutorStats().Running == 0 })
					// Left to the lock: no incident, still locked by this node.
					j := v.detail(inst.ID).Jobs[0]
					if len(v.openIncidents(inst.ID)) != 0 || j.LockOwner == "" {
						t.Fatalf("after transient failures: incidents %v, lock %q", v.openIncidents(inst.ID), j.LockOwner)
					}
					if n := v.countEvents(event.JobFailed, ""); n != 0 {
						t.Errorf("%d job.failed events, want none", n)
					}
					// The store recovers; when the lock expires the job runs again.
					fs.OnApply(nil)
					v.advance(5 * time.Minute)
					v.waitState(inst.ID, store.InstanceCompleted)
					if n := runs.Load(); n != 2 {
						t.Errorf("handler ran %d times, want 2", n)
					}
				case "transient-then-ok":
					v.waitState(inst.ID, store.InstanceCompleted)
					if n := runs.Load(); n != 1 {
						t.Errorf("handler ran %d times, want 1", n)
					}
					if n := refusals.Load(); n != 2 {
						t.Errorf("%d refusals, want 2", n)
					}
				}
			})
		})
	}
}

// TestHandlerErrorTextIsStorable: a handler error (or BPMN error) whose text the
// PostgreSQL store cannot hold (a NUL byte, invalid UTF-8) is recorded alike on both
// stores, the bytes replaced, instead of failing the outcome write.
func TestHandlerErrorTextIsStorable(t *testing.T) {
	for name, hostile := range map[string]string{"nul": "nul\x00byte", "utf8": "bad utf8 \xff\xfe", "both": "both\x00\xc3"} {
		t.Run(name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
				v := newEnv(t, open)
				defs, err := bpmn.Build("hostile").Start("start").
					ServiceTask("call", bpmn.JobType("call"), bpmn.Retries(1)).End("end").Definitions()
				if err != nil {
					t.Fatal(err)
				}
				v.e.Handle("call", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
					return nil, &detailedError{msg: hostile, details: "details " + hostile}
				})
				if _, err := v.e.DeployModel(v.ctx, "hostile.bpmn", defs); err != nil {
					t.Fatal(err)
				}
				v.start()
				inst := v.startInstance("hostile", nil)
				v.waitFor("incident", func() bool { return len(v.openIncidents(inst.ID)) == 1 })
				inc := v.openIncidents(inst.ID)[0]
				for _, s := range []string{inc.Message, inc.Details} {
					if strings.ContainsRune(s, 0) || !strings.ContainsRune(s, '\uFFFD') {
						t.Errorf("stored text %q", s)
					}
				}
			})
		})
	}
}

type detailedError struct{ msg, details string }

func (d *detailedError) Error() string   { return d.msg }
func (d *detailedError) Details() string { return d.details }
