package bus

import (
	"slices"
	"testing"
	"time"
)

// TestPresence: each running relay announces its node with its service and build; a
// discovery of the prefix finds them all, another prefix's none; a stopped relay is
// gone.
func TestPresence(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg *target) {
		f := newFlow(t)
		nc := tg.connect(t)
		a := newTestRelayOpts(t, f, nc, RelayOptions{Prefix: tg.prefix, Owner: "node-a", Service: "orders"})
		b := newTestRelayOpts(t, f, tg.connect(t), RelayOptions{Prefix: tg.prefix, Owner: "node-b", Service: "shipping"})
		ctx := deadline(t, 20*time.Second)
		for _, r := range []*Relay{a, b} {
			if err := r.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		nodes := func(prefix string) []string {
			found, err := Discover(ctx, tg.connect(t), prefix, 300*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, n := range found {
				if n.Build == "" || n.ID == "" {
					t.Errorf("node %+v", n)
				}
				out = append(out, n.Service+"/"+n.Node)
			}
			slices.Sort(out)
			return out
		}
		waitFor(t, ctx, "both nodes announced", func() bool {
			return slices.Equal(nodes(tg.prefix), []string{"orders/node-a", "shipping/node-b"})
		})
		if got := nodes(tg.prefix + "_other"); len(got) != 0 {
			t.Errorf("another prefix's discovery: %v", got)
		}
		stopRelay(t, b)
		waitFor(t, ctx, "the stopped node gone", func() bool { return slices.Equal(nodes(tg.prefix), []string{"orders/node-a"}) })
		stopRelay(t, a)
	})
}
