package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store/sqlite"
)

// BenchmarkModifyPreview previews an instance modification (move the token at the
// order flow's checkout to shipping: a job cancelled, a job created) on a store with a
// million finished and ten thousand running instances (-pages.finished, -pages.running),
// each iteration on another running instance, and reports the p95. The issue asks for
// less than 100 ms.
//
//	go test -run '^$' -bench BenchmarkModifyPreview -benchtime 500x ./internal/web/
func BenchmarkModifyPreview(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, sqlite.Options{Path: filepath.Join(b.TempDir(), "modify.db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e, err := engine.New(engine.Options{Store: st, Clock: clock.NewFake(analyticsNow), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Stop(ctx)
	order, err := os.ReadFile("../demo/flows/order.bpmn")
	if err != nil {
		b.Fatal(err)
	}
	dep, err := e.Deploy(ctx, "order.bpmn", order)
	if err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	seed(b, st, dep.Processes[0].Definition, *pagesFinished, *pagesRunning)
	b.Logf("seeded %d finished and %d running instances in %v", *pagesFinished, *pagesRunning, time.Since(began).Round(time.Second))

	// seed puts every fourth running instance's token at Task_Checkout.
	var ids []string
	for i := *pagesFinished; i < *pagesFinished+*pagesRunning; i++ {
		if i%4 == 0 {
			ids = append(ids, fmt.Sprintf("00000000-0000-7000-8000-%012d", i))
		}
	}
	req := engine.ModifyRequest{Actor: "bench", Reason: "bench",
		Steps: []engine.ModifyStep{{Kind: engine.ModifyMove, From: "Task_Checkout", ElementID: "Task_ShipOrder"}}}
	lats := make([]time.Duration, 0, b.N)
	n := 0
	for b.Loop() {
		id := ids[n%len(ids)]
		n++
		t0 := time.Now()
		res, err := e.PreviewModify(ctx, id, req)
		lats = append(lats, time.Since(t0))
		if err != nil || len(res.JobsCreated) != 1 || res.Applied {
			b.Fatalf("preview of %s: %v %+v", id, err, res)
		}
	}
	sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
	b.ReportMetric(float64(lats[len(lats)*95/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
}
