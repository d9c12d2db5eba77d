package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

var t0Internal = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// FuzzVariablesEventIsWhatIsPublished: the variables.changed data setVariables builds (and
// measures against the limits) is byte for byte what json.Marshal gives, which is what
// the relay publishes; a value over the limit is refused and stores nothing.
func FuzzVariablesEventIsWhatIsPublished(f *testing.F) {
	for _, s := range []string{"", "<", "<script>&amp;</script>", "\u2028\x00\"\\", "\xff\xfe", "日本"} {
		f.Add("v", s, 3)
	}
	// Just under and just over MaxVariableBytes once escaped (6 bytes per '<', 2 quotes).
	f.Add("v", "<", (MaxVariableBytes-2)/6)
	f.Add("v", "<", (MaxVariableBytes-2)/6+1)
	f.Fuzz(func(t *testing.T, name, s string, repeat int) {
		if name == "" || len(name) > MaxNameBytes {
			return
		}
		repeat = max(1, repeat%(1<<16))
		value := bytes.Repeat([]byte(s), repeat)
		if len(value) > 2*MaxVariableBytes {
			return
		}
		e := &Engine{clock: clock.NewFake(t0Internal)}
		r := e.newRun(t.Context(), nil, nil)
		r.inst = &store.Instance{ID: "i"}
		vars := map[string]any{name: string(value), "n": 1}
		err := r.setVariables(vars, nil, nil)
		norm := map[string]any{}
		for k, v := range vars {
			// Invalid UTF-8 is replaced (U+FFFD) on the way in, as json.Marshal does.
			if sv, ok := v.(string); ok && !utf8.ValidString(sv) {
				b, _ := json.Marshal(sv)
				var back string
				_ = json.Unmarshal(b, &back)
				v = back
			}
			norm[k] = v
		}
		want, _ := json.Marshal(map[string]any{"variables": norm})
		enc, _ := json.Marshal(norm[name])
		if len(enc) > MaxVariableBytes || len(want) > MaxVariablesBytes {
			if !errors.Is(err, ErrInvalidInput) || len(r.events) != 0 || len(r.putVars) != 0 {
				t.Fatalf("%d bytes accepted (err %v)", len(enc), err)
			}
			return
		}
		if err != nil || len(r.events) != 1 {
			t.Fatalf("err %v, %d events", err, len(r.events))
		}
		if got := r.events[0].Data; !bytes.Equal(got, want) {
			t.Fatalf("event data\n got %.200s\nwant %.200s", got, want)
		}
	})
}
