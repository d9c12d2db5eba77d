package app

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/bench"
	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

func TestMetricsRebuild(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"COCKPIT_DATA_DIR": dir}
	if r := runApp(t, env, "metrics", "rebuild"); r.code != exitError || !strings.Contains(r.stderr, "no database") {
		t.Fatalf("rebuild without a database: exit %d\n%s", r.code, r.stderr)
	}
	if r := runApp(t, env, "metrics"); r.code != exitUsage {
		t.Fatalf("no action: exit %d", r.code)
	}
	if r := runApp(t, env, "metrics", "compact"); r.code != exitUsage || !strings.Contains(r.stderr, "unknown action") {
		t.Fatalf("unknown action: exit %d\n%s", r.code, r.stderr)
	}

	// A history of two instances of the reference flow.
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(dir, "cockpit.db")})
	if err != nil {
		t.Fatal(err)
	}
	// A fixed instant (the engine is not started): the rebuild folds the history whatever its date.
	e, err := engine.New(engine.Options{Store: st, Clock: clock.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Deploy(ctx, "bench.bpmn", []byte(bench.ReferenceFlow)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := e.StartInstance(ctx, bench.ProcessKey, engine.StartOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var events int
	_ = st.Read(ctx, func(tx store.Tx) error {
		evs, err := tx.ListEvents(ctx, store.EventFilter{})
		events = len(evs)
		return err
	})
	if err := e.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r := runApp(t, env, "metrics", "rebuild")
	if want := "metrics rebuilt from " + strconv.Itoa(events) + " events"; r.code != exitOK || !strings.Contains(r.stdout, want) {
		t.Fatalf("rebuild: exit %d, want %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
}
