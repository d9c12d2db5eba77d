package web_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine"
)

// BenchmarkModifyPreview previews an instance modification (move the token at the
// order flow's checkout to shipping: a job cancelled, a job created) on a store with a
// million finished and ten thousand running instances (-pages.finished, -pages.running;
// -pages.store and -pages.db as for BenchmarkPages),
// each iteration on another running instance, and reports the p95. The issue asks for
// less than 100 ms.
//
//	go test -run '^$' -bench BenchmarkModifyPreview -benchtime 500x ./internal/web/
func BenchmarkModifyPreview(b *testing.B) {
	ctx := context.Background()
	bs := openBenchStore(b)
	e := bs.e
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
	reportLatencies(b, lats)
}
