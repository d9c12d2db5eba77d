package engine_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// BenchmarkMappedServiceTasks: instances of a flow of three service tasks, each with
// two input mappings and an output mapping, run one after the other to completion on
// the embedded store: the cost of the mapping path (arrive with inputs, push with the
// handler's variables, complete with outputs).
func BenchmarkMappedServiceTasks(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "cockpit.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	done := make(chan struct{}, 1024)
	e, err := engine.New(engine.Options{Store: st, Workers: 4, Logger: slog.New(slog.DiscardHandler),
		OnCommit: func(evs []*store.Event) {
			for _, ev := range evs {
				if ev.Type == event.InstanceCompleted {
					done <- struct{}{}
				}
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	e.Handle("work", func(ctx context.Context, j *engine.Job) (map[string]any, error) {
		return map[string]any{"result": j.Variables["amount"]}, nil
	})
	bld := bpmn.Build("mapped").Start("start")
	for _, id := range []string{"a", "b", "c"} {
		bld = bld.ServiceTask(id, bpmn.JobType("work"), bpmn.Input("amount", "total * 2"), bpmn.Input("tag", `"t-" + id`),
			bpmn.Output("out_"+id, "result"))
	}
	defs, err := bld.End("end").Definitions()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.DeployModel(ctx, "mapped.bpmn", defs); err != nil {
		b.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer e.Stop(ctx)
	b.ResetTimer()
	for range b.N {
		in, err := e.StartInstance(ctx, "mapped", engine.StartOptions{Variables: map[string]any{"total": 21, "id": "x"}})
		if err != nil {
			b.Fatal(err)
		}
		_ = in
		<-done
	}
}
