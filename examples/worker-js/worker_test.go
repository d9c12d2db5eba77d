// Package workerjs holds the JavaScript worker example; this test runs it against a real
// NATS server and engine.
package workerjs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/wait"
	"github.com/cockpit-engine/cockpit/internal/workers/workerstest"
)

// TestJavaScriptWorker: a worker in another language, written only against
// docs/workers.md (worker.js, Node.js with the nats package), completes the jobs of two
// instances. It needs node and `npm ci` in this directory: .ci/run installs both and sets
// COCKPIT_TEST_NODE=1, which makes their absence a failure instead of a skip.
func TestJavaScriptWorker(t *testing.T) {
	required := os.Getenv("COCKPIT_TEST_NODE") == "1"
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join("node_modules", "nats"))
	}
	if err != nil {
		if required {
			t.Fatalf("COCKPIT_TEST_NODE=1 but node or node_modules/nats is missing (npm ci in examples/worker-js): %v", err)
		}
		t.Skipf("node or node_modules/nats missing (npm ci in examples/worker-js; .ci/run does): %v", err)
	}
	r := workerstest.New(t, workerstest.Options{})
	xml, err := os.ReadFile("../../internal/engine/testdata/service.bpmn")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Engine.Deploy(context.Background(), "service.bpmn", xml); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "worker.js", r.URL, "work", "2")
	out := make(chan []byte, 1)
	var runErr error
	go func() {
		b, err := cmd.CombinedOutput()
		runErr = err
		out <- b
	}()
	ids := []string{r.Start(t, "service", map[string]any{"amount": 3}), r.Start(t, "service", map[string]any{"amount": 5})}
	for _, id := range ids {
		wait.For(t, "instance "+id+" completed by the JavaScript worker", func() bool { return r.State(id) == store.InstanceCompleted })
	}
	b := <-out
	if runErr != nil {
		t.Fatalf("worker.js: %v\n%s", runErr, b)
	}
	for i, want := range []string{"6", "10"} {
		d, err := r.Engine.GetInstance(context.Background(), ids[i])
		if err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{}
		for _, v := range d.Variables {
			vars[v.Name] = string(v.Value)
		}
		// "doubled" is the task's input mapping: local to the task, gone when it completes.
		if vars["handledBy"] != `"node"` || vars["total"] != want || vars["doubled"] != "" {
			t.Errorf("instance %s variables %v, want handledBy node and total %s (and no doubled)", ids[i], vars, want)
		}
	}
}
