package flow_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/flow"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

func openT(t *testing.T) *flow.Engine {
	t.Helper()
	eng, err := flow.Open(t.Context(), flow.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return eng
}

// deployOne deploys a one-task process whose job has one attempt, starts the engine and
// an instance with vars, and waits for its incident.
func deployOne(t *testing.T, eng *flow.Engine, vars map[string]any) string {
	t.Helper()
	ctx := t.Context()
	m := flow.Build("p").Start("s").ServiceTask("work", flow.JobType("work"), flow.Retries(1)).End("e")
	if _, err := eng.DeployModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "p", flow.StartOptions{Variables: vars})
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	wait.For(t, "the incident", func() bool {
		d, err := eng.Instance(ctx, in.ID)
		if err != nil || len(d.OpenIncidents) == 0 {
			return false
		}
		msg = d.OpenIncidents[0].Message
		return true
	})
	return msg
}

// TestHandleJSONRefusesWhatDoesNotFit: variables that do not fit the handler's input, and
// a result that is not a JSON object, are failed attempts naming the problem.
func TestHandleJSONRefusesWhatDoesNotFit(t *testing.T) {
	t.Run("input", func(t *testing.T) {
		eng := openT(t)
		flow.HandleJSON(eng, "work", func(context.Context, *flow.Job, struct {
			Amount float64 `json:"amount"`
		}) (struct{}, error) {
			return struct{}{}, nil
		})
		if msg := deployOne(t, eng, map[string]any{"amount": "ten"}); !strings.Contains(msg, "do not fit") {
			t.Fatalf("incident %q", msg)
		}
	})
	t.Run("result", func(t *testing.T) {
		eng := openT(t)
		flow.HandleJSON(eng, "work", func(context.Context, *flow.Job, map[string]any) (int, error) { return 7, nil })
		if msg := deployOne(t, eng, nil); !strings.Contains(msg, "not a JSON object") {
			t.Fatalf("incident %q", msg)
		}
	})
}

// TestAwaitEndsWithItsContext: Await on an instance that waits returns the context's error.
func TestAwaitEndsWithItsContext(t *testing.T) {
	eng := openT(t)
	ctx := t.Context()
	m := flow.Build("w").Start("s").UserTask("u").End("e")
	if _, err := eng.DeployModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "w", flow.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := eng.Await(cctx, in.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("Await: %v, want context.Canceled", err)
	}
	if _, err := eng.Await(ctx, "missing"); !errors.Is(err, flow.ErrNotFound) {
		t.Fatalf("Await(missing): %v, want ErrNotFound", err)
	}
}
