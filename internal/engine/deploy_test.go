package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// gateStore holds the first write transaction that reads a timer start job (or, with
// onLatest, the latest version of a process) until released, so that a test can commit
// something else in between.
type gateStore struct {
	store.Store
	onLatest               bool
	once                   sync.Once
	reached, release, done chan struct{}
}

func newGateStore(st store.Store) *gateStore {
	return &gateStore{Store: st, reached: make(chan struct{}), release: make(chan struct{}), done: make(chan struct{})}
}

func (t *gateTx) hold() {
	t.g.once.Do(func() {
		t.gated = true
		close(t.g.reached)
		<-t.g.release
	})
}

func (t *gateTx) LatestDefinition(ctx context.Context, key string) (*store.Definition, error) {
	d, err := t.Tx.LatestDefinition(ctx, key)
	if t.g.onLatest {
		t.hold()
	}
	return d, err
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
	if err == nil && j.Kind == store.JobTimerStart && !t.g.onLatest {
		t.hold()
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

// refusedModel is a valid executable process with the replacements (old, new, ...) made.
func refusedModel(t *testing.T, pairs ...string) []byte {
	t.Helper()
	doc := `<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" id="d">
  <message id="m" name="paid"/><error id="e" errorCode="E"/>
  <process id="p" isExecutable="true">
    <startEvent id="s"><outgoing>f1</outgoing></startEvent>
    <task id="t"><incoming>f1</incoming><outgoing>f2</outgoing></task>
    <endEvent id="end"><incoming>f2</incoming></endEvent>
    <sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
    <sequenceFlow id="f2" sourceRef="t" targetRef="end"/>
  </process>
  <bpmndi:BPMNDiagram id="dg"><bpmndi:BPMNPlane id="pl" bpmnElement="p"></bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</definitions>`
	for i := 0; i+1 < len(pairs); i += 2 {
		if !strings.Contains(doc, pairs[i]) {
			t.Fatalf("the model has no %q", pairs[i])
		}
		doc = strings.Replace(doc, pairs[i], pairs[i+1], 1)
	}
	return []byte(doc)
}

const (
	startTag = `<startEvent id="s"><outgoing>f1</outgoing></startEvent>`
	taskTag  = `<task id="t"><incoming>f1</incoming><outgoing>f2</outgoing></task>`
)

// Every problem Deploy refuses a document for, Validate (and so `cockpit validate`)
// reports with the same words; references that point at nothing are refused whatever
// their kind, and those of the diagram are warnings.
func TestValidateReportsWhatDeployRefuses(t *testing.T) {
	timer := func(kind, text string) string {
		return `<startEvent id="s"><outgoing>f1</outgoing><timerEventDefinition><` + kind + `>` + text + `</` + kind + `></timerEventDefinition></startEvent>`
	}
	boundary := func(def string) string {
		return taskTag + `<boundaryEvent id="b" attachedToRef="t">` + def + `</boundaryEvent>`
	}
	deep := strings.Repeat(`<subProcess>`, 70) + strings.Repeat(`</subProcess>`, 70)
	tests := []struct {
		name string
		doc  []byte
		want string
	}{
		// Dangling references, one of each kind.
		{"outgoing names nothing", refusedModel(t, startTag, `<startEvent id="s"><outgoing>nope</outgoing></startEvent>`),
			`outgoing "nope" names no sequence flow of this process`},
		{"outgoing names another node's flow", refusedModel(t, startTag, `<startEvent id="s"><outgoing>f1</outgoing><outgoing>f2</outgoing></startEvent>`),
			`outgoing "f2" is the sequence flow from "t" to "end"`},
		{"outgoing listed twice", refusedModel(t, startTag, `<startEvent id="s"><outgoing>f1</outgoing><outgoing>f1</outgoing></startEvent>`),
			`outgoing "f1" is listed twice`},
		{"flow missing from outgoing", refusedModel(t, `<endEvent id="end"><incoming>f2</incoming></endEvent>`,
			`<endEvent id="end"><incoming>f2</incoming><incoming>f3</incoming></endEvent><sequenceFlow id="f3" sourceRef="t" targetRef="end"/>`),
			`sequence flow "f3" leaves it but is not among its outgoing flows`},
		{"incoming names nothing", refusedModel(t, taskTag, `<task id="t"><incoming>ghost</incoming><outgoing>f2</outgoing></task>`),
			`incoming "ghost" names no sequence flow of this process`},
		{"flow missing from incoming", refusedModel(t, `<endEvent id="end"><incoming>f2</incoming></endEvent>`, `<endEvent id="end"/>`,
			`<incoming>f1</incoming><outgoing>f2</outgoing></task>`, `<incoming>f1</incoming><outgoing>f2</outgoing></task><endEvent id="end2"><incoming>f2</incoming></endEvent>`),
			`incoming "f2" is the sequence flow from "t" to "end"`},
		{"sourceRef names nothing", refusedModel(t, `sourceRef="t"`, `sourceRef="ghost"`), `sourceRef "ghost" is not a flow node of this process`},
		{"targetRef names nothing", refusedModel(t, `targetRef="end"`, `targetRef="ghost"`), `targetRef "ghost" is not a flow node of this process`},
		{"default flow names nothing", refusedModel(t, `<task id="t">`, `<task id="t" default="ghost">`), `default flow "ghost" is not an outgoing sequence flow of it`},
		{"attachedToRef names nothing", refusedModel(t, taskTag, taskTag+`<boundaryEvent id="b" attachedToRef="ghost"><timerEventDefinition><timeDuration>PT1H</timeDuration></timerEventDefinition></boundaryEvent>`),
			`attachedToRef "ghost" is not a flow node of the same scope`},
		{"messageRef names nothing", refusedModel(t, taskTag, `<intermediateCatchEvent id="t"><incoming>f1</incoming><outgoing>f2</outgoing><messageEventDefinition messageRef="ghost"/></intermediateCatchEvent>`),
			`messageRef "ghost" names no message`},
		{"errorRef names nothing", refusedModel(t, taskTag, boundary(`<errorEventDefinition errorRef="ghost"/>`)), `errorRef "ghost" names no error`},
		{"signalRef names nothing", refusedModel(t, taskTag, boundary(`<signalEventDefinition signalRef="ghost"/>`)), `signalRef "ghost" names no signal`},
		{"escalationRef names nothing", refusedModel(t, taskTag, boundary(`<escalationEventDefinition escalationRef="ghost"/>`)), `escalationRef "ghost" names no escalation`},
		// Timers.
		{"timer start cycle of 1 ms", refusedModel(t, startTag, timer("timeCycle", "R/PT0.001S")), "more often than the minimum of once every 1s"},
		{"cron cycle @every 1ms", refusedModel(t, startTag, timer("timeCycle", "@every 1ms")), "more often than the minimum of once every 1s"},
		{"boundary cycle of 0.5 s", refusedModel(t, taskTag, boundary(`<timerEventDefinition><timeCycle>R/PT0.5S</timeCycle></timerEventDefinition>`)),
			"more often than the minimum of once every 1s"},
		{"timer that does not parse", refusedModel(t, startTag, timer("timeCycle", "every hour")), "every hour"},
		// Expressions and settings only the compiler reads.
		{"condition that does not compile", refusedModel(t,
			taskTag, `<exclusiveGateway id="t" default="f2"><incoming>f1</incoming><outgoing>f2</outgoing><outgoing>f3</outgoing></exclusiveGateway>`,
			`<endEvent id="end"><incoming>f2</incoming></endEvent>`,
			`<endEvent id="end"><incoming>f2</incoming><incoming>f3</incoming></endEvent><sequenceFlow id="f3" sourceRef="t" targetRef="end"><conditionExpression>a +</conditionExpression></sequenceFlow>`),
			`condition of flow "f3"`},
		{"condition nested too deep", refusedModel(t,
			taskTag, `<exclusiveGateway id="t" default="f2"><incoming>f1</incoming><outgoing>f2</outgoing><outgoing>f3</outgoing></exclusiveGateway>`,
			`<endEvent id="end"><incoming>f2</incoming></endEvent>`,
			`<endEvent id="end"><incoming>f2</incoming><incoming>f3</incoming></endEvent><sequenceFlow id="f3" sourceRef="t" targetRef="end"><conditionExpression>`+
				strings.Repeat("(", 100000)+"true"+strings.Repeat(")", 100000)+`</conditionExpression></sequenceFlow>`),
			"more than the limit of 65536"},
		// The document itself.
		{"nested too deep", refusedModel(t, startTag, startTag+deep), "nest more than 64 levels deep"},
		{"no executable process", refusedModel(t, `isExecutable="true"`, `isExecutable="false"`), "no executable process"},
		{"unsupported element", refusedModel(t, taskTag, `<complexGateway id="t"><incoming>f1</incoming><outgoing>f2</outgoing></complexGateway>`),
			"complex gateways are not supported"},
	}
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		for _, tt := range tests {
			_, derr := v.e.Deploy(v.ctx, tt.name+".bpmn", tt.doc)
			var de *engine.DeployError
			if !errors.As(derr, &de) || !errors.Is(derr, engine.ErrInvalidInput) || !strings.Contains(derr.Error(), tt.want) {
				t.Errorf("%s: deploy: %v, want an invalid-input DeployError saying %q", tt.name, derr, tt.want)
				continue
			}
			// Every reason is a structured problem, located in the document: nobody has
			// to read the error text back.
			probs := de.Problems()
			found := false
			for _, p := range probs {
				found = found || strings.Contains(p.Message, tt.want)
				if whole := tt.name == "no executable process"; whole != (p.Line == 0 && p.Col == 0 && p.ElementID == "") ||
					!whole && (p.Line <= 0 || p.Col <= 0) {
					t.Errorf("%s: problem %+v is not located (or a problem of the whole document is)", tt.name, p)
				}
				if strings.Contains(p.Message, engine.ErrInvalidInput.Error()) {
					t.Errorf("%s: problem %+v carries the sentinel's text", tt.name, p)
				}
			}
			if !found {
				t.Errorf("%s: problems %+v, want one saying %q", tt.name, probs, tt.want)
			}
			val, verr := engine.Validate(tt.doc)
			if verr == nil {
				verr = val.Err()
			}
			if verr == nil || verr.Error() != de.Err.Error() {
				t.Errorf("%s: validate says %v,\ndeploy says %v", tt.name, verr, de.Err)
			}
		}
		defs, err := v.e.ListDefinitions(v.ctx, store.DefinitionFilter{})
		if err != nil || len(defs) != 0 {
			t.Errorf("refused documents stored %d definitions (%v)", len(defs), err)
		}
	})
}

// References of the diagram that point at nothing are warnings: the process deploys.
func TestDanglingDiagramReferencesAreWarnings(t *testing.T) {
	doc := refusedModel(t, `<bpmndi:BPMNPlane id="pl" bpmnElement="p">`, `<bpmndi:BPMNPlane id="pl" bpmnElement="p">`+
		`<bpmndi:BPMNShape id="sh" bpmnElement="ghost"><dc:Bounds xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" x="0" y="0" width="10" height="10"/></bpmndi:BPMNShape>`+
		`<bpmndi:BPMNEdge id="ed" bpmnElement="nothing"/>`)
	val, err := engine.Validate(doc)
	if err != nil || val.Err() != nil {
		t.Fatalf("validate: %v %v", err, val.Err())
	}
	var got []string
	for _, w := range val.Report.Warnings {
		got = append(got, w.ElementID+": "+w.Message)
	}
	want := []string{`sh: bpmnElement "ghost" names no element: the shape is drawn empty`,
		`ed: bpmnElement "nothing" names no element: the edge is drawn without one`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		dep, err := v.e.Deploy(v.ctx, "warned.bpmn", doc)
		if err != nil || len(dep.Report.Warnings) != 2 {
			t.Fatalf("deploy: %v", err)
		}
	})
}

// Two nodes deploying new versions of one process at once both succeed, one after the
// other, and the start timers belong to the newest version alone.
func TestConcurrentRedeploysKeepOneSetOfStartTimers(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		st := open(t)
		t.Cleanup(func() { st.Close() })
		g := newGateStore(st)
		g.onLatest = true
		a := newEnvOn(t, g, false, func(o *engine.Options) { o.NodeID = "a" })
		b := newEnvOn(t, st, false, func(o *engine.Options) { o.NodeID = "b" })
		if _, err := b.e.Deploy(b.ctx, "ticker.bpmn", timerStartXML("R/PT1M")); err != nil {
			t.Fatal(err)
		}
		deployedA := make(chan error, 1)
		go func() {
			_, err := a.e.Deploy(a.ctx, "ticker.bpmn", timerStartXML("R/PT2M"))
			deployedA <- err
		}()
		<-g.reached // a read version 1 and is about to write version 2
		deployedB := make(chan error, 1)
		go func() {
			_, err := b.e.Deploy(b.ctx, "ticker.bpmn", timerStartXML("R/PT3M"))
			deployedB <- err
		}()
		if st.Dialect() != "sqlite" {
			if err := <-deployedB; err != nil { // b writes version 2 first
				t.Fatal(err)
			}
		}
		close(g.release)
		if err := <-deployedA; err != nil {
			t.Fatalf("the deployment that lost the race: %v", err)
		}
		if st.Dialect() == "sqlite" {
			if err := <-deployedB; err != nil {
				t.Fatal(err)
			}
		}
		defs, err := b.e.ListDefinitions(b.ctx, store.DefinitionFilter{Key: "ticker"})
		if err != nil || len(defs) != 3 {
			t.Fatalf("definitions %d %v", len(defs), err)
		}
		newest := defs[len(defs)-1]
		jobs, err := b.e.ListJobs(b.ctx, store.JobFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var starts []*store.Job
		for _, j := range jobs {
			if j.Kind == store.JobTimerStart {
				starts = append(starts, j)
			}
		}
		if len(starts) != 1 || starts[0].DefinitionID != newest.ID {
			t.Errorf("start timers %+v, want one of version %d (%s)", starts, newest.Version, newest.ID)
		}
	})
}

// TestOnDeploy: OnDeploy gets the definitions a deployment created, after its commit;
// the same bytes deployed again create none and do not call it.
func TestOnDeploy(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		var calls [][]*store.Definition
		var st store.Store
		v := newEnv(t, func(t *testing.T) store.Store { st = open(t); return st }, func(o *engine.Options) {
			o.OnDeploy = func(defs []*store.Definition) {
				// Committed: the store has them already.
				for _, d := range defs {
					if err := st.Read(context.Background(), func(tx store.Tx) error {
						_, err := tx.GetDefinition(context.Background(), d.ID)
						return err
					}); err != nil {
						t.Errorf("OnDeploy before the commit: %v", err)
					}
				}
				calls = append(calls, defs)
			}
		})
		if _, err := v.e.Deploy(v.ctx, "ticker.bpmn", tickerXML(`<bpmn:startEvent id="s" />`)); err != nil {
			t.Fatal(err)
		}
		if _, err := v.e.Deploy(v.ctx, "ticker.bpmn", tickerXML(`<bpmn:startEvent id="s" />`)); err != nil {
			t.Fatal(err)
		}
		if _, err := v.e.Deploy(v.ctx, "ticker.bpmn", tickerXML(`<bpmn:startEvent id="s" name="Go" />`)); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 || len(calls[0]) != 1 || calls[0][0].Version != 1 || calls[1][0].Version != 2 ||
			calls[1][0].Key != "ticker" || len(calls[1][0].XML) == 0 {
			t.Fatalf("OnDeploy calls %v", calls)
		}
	})
}
