package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// tickerXML is a process "ticker" whose start event is start (the element "s").
func tickerXML(start string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="ticker" isExecutable="true">
    %s
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>`, start))
}

func timerStartXML(cycle string) []byte {
	return tickerXML(`<bpmn:startEvent id="s"><bpmn:timerEventDefinition><bpmn:timeCycle>` + cycle +
		`</bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>`)
}

// gateStore holds the first transaction that reads a timer start job until released,
// so that a test can commit something else in between.
type gateStore struct {
	store.Store
	once                   sync.Once
	reached, release, done chan struct{}
}

func newGateStore(st store.Store) *gateStore {
	return &gateStore{Store: st, reached: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
}

func (g *gateStore) Write(ctx context.Context, fn func(store.Tx) error) error {
	tx := &gateTx{g: g}
	err := g.Store.Write(ctx, func(inner store.Tx) error { tx.Tx = inner; return fn(tx) })
	if tx.gated {
		close(g.done)
	}
	return err
}

type gateTx struct {
	store.Tx
	g     *gateStore
	gated bool
}

func (t *gateTx) GetJob(ctx context.Context, id string) (*store.Job, error) {
	j, err := t.Tx.GetJob(ctx, id)
	if err == nil && j.Kind == store.JobTimerStart {
		t.g.once.Do(func() {
			t.gated = true
			close(t.g.reached)
			<-t.g.release
		})
	}
	return j, err
}

// A timer start that fires while a new version without it is deployed (on another node,
// or in the other transaction of PostgreSQL's commit pipeline) must not write its job
// back: the old version's timer would fire for ever.
func TestRedeployDuringTimerStartFiringRemovesTheTimer(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := open(t)
		t.Cleanup(func() { st.Close() })
		g := newGateStore(st)
		deployer := newEnvOn(t, st, false, func(o *engine.Options) { o.NodeID = "deployer" })
		firer := newEnvOn(t, g, false, func(o *engine.Options) { o.NodeID = "firer" })
		v1, err := deployer.e.Deploy(deployer.ctx, "ticker.bpmn", timerStartXML("R/PT1M"))
		if err != nil {
			t.Fatal(err)
		}
		firer.start()
		firer.advance(time.Minute)
		<-g.reached // the firer has read the v1 timer and is about to start an instance

		deployed := make(chan error, 1)
		go func() {
			_, err := deployer.e.Deploy(deployer.ctx, "ticker.bpmn", tickerXML(`<bpmn:startEvent id="s"/>`))
			deployed <- err
		}()
		if st.Dialect() != "sqlite" {
			// PostgreSQL: the deployment commits while the firing transaction is open.
			if err := <-deployed; err != nil {
				t.Fatal(err)
			}
		}
		close(g.release)
		if st.Dialect() == "sqlite" {
			// One writer: the deployment waits for the firing to commit.
			if err := <-deployed; err != nil {
				t.Fatal(err)
			}
		}
		v1ID := v1.Processes[0].Definition.ID
		startJobs := func() []*store.Job {
			var out []*store.Job
			jobs, err := deployer.e.ListJobs(deployer.ctx, store.JobFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range jobs {
				if j.Kind == store.JobTimerStart {
					out = append(out, j)
				}
			}
			return out
		}
		// The firing either committed before the deployment (SQLite) or was undone and
		// found its job gone (PostgreSQL); either way nothing of v1 is left to fire.
		<-g.done
		if jobs := startJobs(); len(jobs) != 0 {
			t.Fatalf("timer start jobs after deploying a version without a timer: %+v (v1 is %s)", jobs[0], v1ID)
		}
		// SQLite: the firing committed first (one instance); PostgreSQL: it was undone.
		if n := len(deployer.instancesOf(v1ID)); n > 1 {
			t.Errorf("v1 started %d instances", n)
		}
	})
}
