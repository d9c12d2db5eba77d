package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

func TestCodeOf(t *testing.T) {
	cases := []struct {
		err  error
		want Code
	}{
		{fmt.Errorf("cancel: %w", engine.ErrNotFound), CodeNotFound},
		{fmt.Errorf("x: %w", engine.ErrInvalidState), CodeInvalidState},
		{fmt.Errorf("x: %w", engine.ErrInvalidInput), CodeInvalidInput},
		{&engine.DeployError{Resource: "a.bpmn", Err: &bpmn.CheckError{}}, CodeInvalidInput},
		{fmt.Errorf("x: %w", engine.ErrStopped), CodeUnavailable},
		{context.DeadlineExceeded, CodeUnavailable},
		{errorf(CodeUnauthorized, "no"), CodeUnauthorized},
		{fmt.Errorf("wrapped: %w", errorf(CodeNotFound, "no")), CodeNotFound},
		{errors.New("disk full"), CodeInternal},
		// Transient store failures are safe to retry.
		{fmt.Errorf("apply: %w", store.Unavailable(errors.New("dial tcp 127.0.0.1:5432: connect: connection refused"))), CodeUnavailable},
		{fmt.Errorf("commit: %w", store.ErrUnavailable), CodeUnavailable},
		{fmt.Errorf("apply: %w (serialization failure)", store.ErrConflict), CodeUnavailable},
		{fmt.Errorf("x: %w", context.Canceled), CodeUnavailable},
	}
	for _, c := range cases {
		if got := codeOf(c.err); got != c.want {
			t.Errorf("codeOf(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

func TestErrorMatchesEngineSentinels(t *testing.T) {
	err := fmt.Errorf("call: %w", &Error{Code: CodeNotFound, Message: "gone"})
	if !errors.Is(err, engine.ErrNotFound) || errors.Is(err, engine.ErrInvalidState) {
		t.Error("errors.Is does not follow the code")
	}
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Code != CodeNotFound || cerr.Error() != "not_found: gone" {
		t.Errorf("errors.As: %v", cerr)
	}
}

func TestCodeStatus(t *testing.T) {
	for code, want := range map[Code]string{
		CodeNotFound: "404", CodeInvalidState: "409", CodeInvalidInput: "400",
		CodeUnauthorized: "401", CodeUnavailable: "503", CodeInternal: "500",
	} {
		if got := code.status(); got != want {
			t.Errorf("%s: %s, want %s", code, got, want)
		}
	}
}

func TestHeaderText(t *testing.T) {
	if got := headerText("deploy \"a\":\n  - one\r\n  - two"); got != `deploy "a": - one - two` {
		t.Errorf("got %q", got)
	}
	if got := headerText(strings.Repeat("x", 5000)); len(got) != 1024 {
		t.Errorf("length %d", len(got))
	}
}

func TestWithField(t *testing.T) {
	got := withField([]byte(`{"actor":"ann"}`), "requestId", "r1")
	var m map[string]string
	if err := json.Unmarshal(got, &m); err != nil || m["actor"] != "ann" || m["requestId"] != "r1" {
		t.Errorf("got %s (%v)", got, err)
	}
}

func TestCheckPrefix(t *testing.T) {
	for _, p := range []string{"cockpit", "test.a-b_1"} {
		if err := checkPrefix(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	for _, p := range []string{"", "a..b", "a.*", "a.>", "a b", ".a"} {
		if checkPrefix(p) == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestReplayCache(t *testing.T) {
	fc := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c := newReplayCache(fc, time.Minute, 2)
	ok := &reply{body: []byte(`{"ok":true}`)}

	f, fresh := c.begin("a", "v")
	if !fresh {
		t.Fatal("first begin is not fresh")
	}
	again, fresh := c.begin("a", "v")
	if fresh || again != f {
		t.Fatal("a repeat while running is fresh")
	}
	c.finish(f, ok)
	<-again.done
	if again.rep != ok {
		t.Error("the repeat does not see the answer")
	}

	// Unavailable answers are not kept.
	u, _ := c.begin("u", "v")
	c.finish(u, failure("u", errorf(CodeUnavailable, "stopping")))
	if _, fresh := c.begin("u", "v"); !fresh {
		t.Error("an unavailable answer was kept")
	}

	// Window: after a minute "a" is forgotten.
	fc.Advance(2 * time.Minute)
	if _, fresh := c.begin("a", "v"); !fresh {
		t.Error("an answer outlived the window")
	}

	// Size: finished entries beyond max leave, oldest first; running ones stay.
	c = newReplayCache(fc, time.Hour, 2)
	for _, id := range []string{"1", "2", "3", "4"} {
		f, _ := c.begin(id, "v")
		c.finish(f, ok)
	}
	if _, fresh := c.begin("1", "v"); !fresh {
		t.Error("the oldest entry stayed beyond max")
	}
	if len(c.flights) > 3 {
		t.Errorf("%d entries kept, max 2 (+1 new)", len(c.flights))
	}
}

func TestDecodeErrorNamesFieldAndOffset(t *testing.T) {
	var r InstanceRequest
	err := json.Unmarshal([]byte(`{"actor":"ann","instanceId":true}`), &r)
	e := decodeError(err, 0)
	if !strings.Contains(e.Message, `"instanceId"`) || !strings.Contains(e.Message, "a string") || !strings.Contains(e.Message, "bool") {
		t.Errorf("message %q", e.Message)
	}
}
