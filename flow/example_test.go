package flow_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/cockpit-engine/cockpit/flow"
)

// open opens an engine on a fresh embedded store in a temporary directory, quiet.
func open(ctx context.Context) (*flow.Engine, func()) {
	dir, err := os.MkdirTemp("", "flow-example")
	if err != nil {
		log.Fatal(err)
	}
	eng, err := flow.Open(ctx, flow.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	return eng, func() {
		if err := eng.Close(ctx); err != nil {
			log.Fatal(err)
		}
		os.RemoveAll(dir)
	}
}

// A service embeds the engine: its own handler does the work of a service task, with
// typed input and output.
func Example() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	type charge struct {
		Amount   float64 `json:"amount"`
		Currency string  `json:"currency"`
	}
	type receipt struct {
		Receipt string `json:"receipt"`
	}
	flow.HandleJSON(eng, "payment.charge", func(ctx context.Context, job *flow.Job, in charge) (receipt, error) {
		return receipt{Receipt: fmt.Sprintf("charged %.2f %s", in.Amount, in.Currency)}, nil
	})

	order := flow.Build("order", flow.Name("Order")).
		Start("placed").
		ServiceTask("charge", flow.JobType("payment.charge")).
		End("done")
	if _, err := eng.DeployModel(ctx, order); err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}

	in, err := eng.StartInstance(ctx, "order", flow.StartOptions{BusinessKey: "order-1",
		Variables: map[string]any{"amount": 42, "currency": "EUR"}})
	if err != nil {
		log.Fatal(err)
	}
	ended, err := eng.Await(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	d, err := eng.Instance(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ended.BusinessKey, ended.State)
	fmt.Println(d.Variables["receipt"])
	// Output:
	// order-1 completed
	// charged 42.00 EUR
}

// A person's work: the instance waits at a user task until it is completed, and the
// variables it is completed with decide the way on.
func ExampleEngine_CompleteUserTask() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	review := flow.Build("review").
		Start("start").
		UserTask("approve", flow.Name("Approve the refund"), flow.CandidateGroups("support")).
		ExclusiveGateway("approved?").
		Condition("approved == true").End("refunded").
		Default().End("refused")
	if _, err := eng.DeployModel(ctx, review); err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "review", flow.StartOptions{})
	if err != nil {
		log.Fatal(err)
	}
	tasks, err := eng.UserTasks(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tasks[0].Name, "for", tasks[0].CandidateGroups)
	if err := eng.CompleteUserTask(ctx, tasks[0].ID, map[string]any{"approved": true}); err != nil {
		log.Fatal(err)
	}
	d, err := eng.Instance(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.State)
	// Output:
	// Approve the refund for support
	// completed
}

// A document the engine cannot run is refused, naming every problem where it is.
func ExampleDeployError() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	_, err := eng.Deploy(ctx, "broken.bpmn", []byte(`<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">
  <process id="p" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f" sourceRef="start" targetRef="missing"/>
  </process>
</definitions>`))
	var derr *flow.DeployError
	if errors.As(err, &derr) {
		for _, p := range derr.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// f (line 4, column 5): targetRef "missing" is not a flow node of this process
}

// A message reaches the instance that waits for it with the same correlation key.
func ExampleEngine_CorrelateMessage() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	shipping := flow.Build("shipping").
		Start("start").
		MessageCatch("delivered", "parcel.delivered", "= parcel").
		End("done")
	if _, err := eng.DeployModel(ctx, shipping); err != nil {
		log.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "shipping", flow.StartOptions{Variables: map[string]any{"parcel": "P-7"}})
	if err != nil {
		log.Fatal(err)
	}
	c, err := eng.CorrelateMessage(ctx, "parcel.delivered", "P-7", map[string]any{"signedBy": "Ada"})
	if err != nil {
		log.Fatal(err)
	}
	d, err := eng.Instance(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.InstanceID == in.ID, d.State, d.Variables["signedBy"])
	// Output:
	// true completed Ada
}

// A process with a conditional start event starts when EvaluateStartConditions is
// handed variables for which its condition holds.
func ExampleEngine_EvaluateStartConditions() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	restock := flow.Build("restock").ConditionalStart("low", "stock < 10").UserTask("order").End("ordered")
	if _, err := eng.DeployModel(ctx, restock); err != nil {
		log.Fatal(err)
	}
	for _, stock := range []int{40, 3} {
		started, err := eng.EvaluateStartConditions(ctx, flow.ConditionOptions{Variables: map[string]any{"stock": stock}})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("stock", stock, "started", len(started))
	}
	// Output:
	// stock 40 started 0
	// stock 3 started 1
}

// A signal is broadcast: every instance waiting for it moves on, and a process with a
// signal start event of that name starts.
func ExampleEngine_BroadcastSignal() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	shift := flow.Build("shift").Start("start").SignalCatch("closing", "store.closing").End("home")
	report := flow.Build("report").SignalStart("closed", "store.closing").End("written")
	for _, m := range []*flow.Builder{shift, report} {
		if _, err := eng.DeployModel(ctx, m); err != nil {
			log.Fatal(err)
		}
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}
	var waiting []string
	for range 3 {
		in, err := eng.StartInstance(ctx, "shift", flow.StartOptions{})
		if err != nil {
			log.Fatal(err)
		}
		waiting = append(waiting, in.ID)
	}
	if _, err := eng.BroadcastSignal(ctx, "store.closing", map[string]any{"at": "22:00"}); err != nil {
		log.Fatal(err)
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, id := range waiting {
		in, err := eng.Await(actx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(in.State)
	}
	// The broadcast reached the waiting instances and the signal start event in one
	// step (a step takes up to 64 subscriptions), so the report instance ran meanwhile.
	page, err := eng.Instances(ctx, flow.InstanceQuery{ProcessKey: "report"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("report", len(page.Instances), page.Instances[0].State)
	// Output:
	// completed
	// completed
	// completed
	// report 1 completed
}

// An escalation thrown inside a subprocess is caught by a boundary event of the
// subprocess: a non-interrupting one lets the work inside go on.
func ExampleBuilder_BoundaryEscalation() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	claim := flow.Build("claim").
		Start("start").
		SubProcess("handle", func(b *flow.Builder) {
			b.Start("s").EscalationThrow("tooLarge", "LARGE").UserTask("assess").End("e")
		}).
		End("done").
		MoveTo("handle").BoundaryEscalation("notify", "LARGE", flow.NonInterrupting()).UserTask("inform").End("informed")
	if _, err := eng.DeployModel(ctx, claim); err != nil {
		log.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "claim", flow.StartOptions{})
	if err != nil {
		log.Fatal(err)
	}
	tasks, err := eng.UserTasks(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	for _, t := range tasks {
		fmt.Println(t.ElementID)
	}
	// Output:
	// inform
	// assess
}

// A conditional event waits until the instance's variables make its condition true.
func ExampleBuilder_ConditionalCatch() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	restock := flow.Build("restock").Start("start").ConditionalCatch("low", "= stock < 10").End("ordered")
	if _, err := eng.DeployModel(ctx, restock); err != nil {
		log.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "restock", flow.StartOptions{Variables: map[string]any{"stock": 40}})
	if err != nil {
		log.Fatal(err)
	}
	d, _ := eng.Instance(ctx, in.ID)
	fmt.Println(d.State)
	if err := eng.SetVariables(ctx, in.ID, map[string]any{"stock": 8}); err != nil {
		log.Fatal(err)
	}
	d, _ = eng.Instance(ctx, in.ID)
	fmt.Println(d.State)
	// Output:
	// active
	// completed
}

// Instances are listed newest first, a page at a time, filtered by process, business key
// and state.
func ExampleEngine_Instances() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	approval := flow.Build("approval").Start("s").UserTask("approve").End("e")
	if _, err := eng.DeployModel(ctx, approval); err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"A-1", "A-2", "A-3"} {
		if _, err := eng.StartInstance(ctx, "approval", flow.StartOptions{BusinessKey: key}); err != nil {
			log.Fatal(err)
		}
	}
	page, err := eng.Instances(ctx, flow.InstanceQuery{ProcessKey: "approval", States: []flow.State{flow.Active}, Limit: 2})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(page.Instances), page.Next != "")
	rest, err := eng.Instances(ctx, flow.InstanceQuery{ProcessKey: "approval", Limit: 2, After: page.Next})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(rest.Instances), rest.Next == "")
	one, err := eng.Instances(ctx, flow.InstanceQuery{BusinessKey: "A-2"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(one.Instances[0].BusinessKey, one.Instances[0].State, one.Instances[0].ProcessKey)
	// Output:
	// 2 true
	// 1 true
	// A-2 active approval
}

// An event subprocess runs when its trigger comes while its scope runs: here a
// cancellation message, keyed by the order, interrupts the order wherever it stands, and
// an error thrown inside the process is caught by an error start.
func ExampleBuilder_EventSubProcess() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	order := flow.Build("order").
		Start("placed").
		ExclusiveGateway("card").
		Condition(`card == "stolen"`).End("refused", flow.ErrorEnd("CARD_BLOCKED")).
		Default().UserTask("pack").End("shipped").
		EventSubProcess("cancellation", func(b *flow.Builder) {
			b.MessageStart("cancelled", "order.cancel", flow.CorrelationKey("orderId")).End("refunded")
		}).
		EventSubProcess("blocked", func(b *flow.Builder) {
			b.ErrorStart("cardBlocked", "CARD_BLOCKED").UserTask("callCustomer").End("dropped")
		})
	if _, err := eng.DeployModel(ctx, order); err != nil {
		log.Fatal(err)
	}
	show := func(id string) {
		d, err := eng.Instance(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(d.State, d.WaitingAt)
	}

	a, err := eng.StartInstance(ctx, "order", flow.StartOptions{Variables: map[string]any{"orderId": "A-1", "card": "good"}})
	if err != nil {
		log.Fatal(err)
	}
	show(a.ID)
	if _, err := eng.CorrelateMessage(ctx, "order.cancel", "A-1", nil); err != nil {
		log.Fatal(err)
	}
	show(a.ID)

	b, err := eng.StartInstance(ctx, "order", flow.StartOptions{Variables: map[string]any{"orderId": "B-2", "card": "stolen"}})
	if err != nil {
		log.Fatal(err)
	}
	show(b.ID)
	// Output:
	// active [pack]
	// completed []
	// active [blocked callCustomer]
}

// A task's static headers configure its handler: the same handler serves two tasks that
// differ only in where they send.
func ExampleTaskHeader() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	eng.Handle("notify", func(ctx context.Context, job *flow.Job) (map[string]any, error) {
		fmt.Println(job.ElementID, "->", job.Headers["channel"])
		return nil, nil
	})
	notify := flow.Build("notify").
		Start("start").
		ServiceTask("ops", flow.JobType("notify"), flow.TaskHeader("channel", "#ops")).
		ServiceTask("sales", flow.JobType("notify"), flow.TaskHeader("channel", "#sales")).
		End("done")
	if _, err := eng.DeployModel(ctx, notify); err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "notify", flow.StartOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := eng.Await(ctx, in.ID); err != nil {
		log.Fatal(err)
	}
	// Output:
	// ops -> #ops
	// sales -> #sales
}

// A saga: each step that completed has a compensation handler; when shipping fails, the
// error boundary leads to an end event that compensates what completed, latest first.
func ExampleBuilder_CompensatedBy() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	var steps []string // handlers run one after the other, never at once
	step := func(name string, err error) flow.Handler {
		return func(ctx context.Context, job *flow.Job) (map[string]any, error) {
			steps = append(steps, name)
			return nil, err
		}
	}
	eng.Handle("inventory.reserve", step("reserve", nil))
	eng.Handle("payment.charge", step("charge", nil))
	eng.Handle("shipping.ship", step("ship", flow.Throw("NO_CARRIER", "no carrier today")))
	eng.Handle("payment.refund", step("refund", nil))
	eng.Handle("inventory.release", step("release", nil))

	order := flow.Build("order").
		Start("placed").
		ServiceTask("reserve", flow.JobType("inventory.reserve")).
		CompensatedBy(func(h *flow.Builder) { h.ServiceTask("release", flow.JobType("inventory.release")) }).
		ServiceTask("charge", flow.JobType("payment.charge")).
		CompensatedBy(func(h *flow.Builder) { h.ServiceTask("refund", flow.JobType("payment.refund")) }).
		ServiceTask("ship", flow.JobType("shipping.ship")).End("shipped").
		MoveTo("ship").BoundaryError("noCarrier", "NO_CARRIER").End("undone", flow.CompensationEnd(""))
	if _, err := eng.DeployModel(ctx, order); err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "order", flow.StartOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ended, err := eng.Await(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ended.State, steps)
	// Output:
	// completed [reserve charge ship refund release]
}

// A call activity starts an instance of another process and waits for it: here an
// order calls its shipping process, passing the business key and the address, and gets
// the tracking number back.
func ExampleBuilder_CallActivity() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	flow.HandleJSON(eng, "ship", func(ctx context.Context, job *flow.Job, in struct {
		To string `json:"to"`
	}) (map[string]any, error) {
		return map[string]any{"tracking": "TRK-" + in.To}, nil
	})
	shipping := flow.Build("shipping", flow.VersionTag("2024.1")).
		Start("start").
		ServiceTask("ship", flow.JobType("ship")).
		End("shipped")
	order := flow.Build("order").
		Start("placed").
		CallActivity("shipIt", "shipping", flow.CallVersionTag("2024.1"),
			flow.CallBusinessKey("execution.processBusinessKey"),
			flow.CallIn("to", "address"), flow.CallOut("trackingNumber", "tracking")).
		End("done")
	for _, m := range []*flow.Builder{shipping, order} {
		if _, err := eng.DeployModel(ctx, m); err != nil {
			log.Fatal(err)
		}
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}

	in, err := eng.StartInstance(ctx, "order", flow.StartOptions{BusinessKey: "order-7",
		Variables: map[string]any{"address": "Berlin"}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := eng.Await(ctx, in.ID); err != nil {
		log.Fatal(err)
	}
	d, err := eng.Instance(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	called, err := eng.Instances(ctx, flow.InstanceQuery{ParentID: in.ID})
	if err != nil {
		log.Fatal(err)
	}
	c := called.Instances[0]
	fmt.Println(d.Instance.State, d.Variables["trackingNumber"])
	fmt.Println(c.ProcessKey, c.BusinessKey, c.State, c.ParentActivity)
	// Output:
	// completed TRK-Berlin
	// shipping order-7 completed shipIt
}

// A task runs once per item of a list, all at once: each instance gets its item in its
// own variable (and its own "price", declared by an input mapping so the handler's
// result stays in the instance), and the output collection gathers the prices in the
// list's order, whichever answers first.
func ExampleParallelMultiInstance() {
	ctx := context.Background()
	eng, done := open(ctx)
	defer done()

	prices := map[string]float64{"acme": 12.5, "globex": 11, "initech": 13}
	eng.Handle("supplier.quote", func(ctx context.Context, job *flow.Job) (map[string]any, error) {
		return map[string]any{"price": prices[job.Variables["supplier"].(string)]}, nil
	})
	rfq := flow.Build("rfq", flow.Name("Request for quotes")).
		Start("requested").
		ServiceTask("quote", flow.JobType("supplier.quote"), flow.Input("price", "nil"),
			flow.ParallelMultiInstance(flow.LoopSpec{Collection: "suppliers", ElementVariable: "supplier",
				OutputCollection: "quotes", OutputElement: "price"})).
		End("quoted")
	if _, err := eng.DeployModel(ctx, rfq); err != nil {
		log.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		log.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "rfq", flow.StartOptions{
		Variables: map[string]any{"suppliers": []any{"acme", "globex", "initech"}}})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := eng.Await(ctx, in.ID); err != nil {
		log.Fatal(err)
	}
	d, err := eng.Instance(ctx, in.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Variables["quotes"])
	_, leaked := d.Variables["supplier"]
	fmt.Println("supplier in the process:", leaked)
	// Output:
	// [12.5 11 13]
	// supplier in the process: false
}
