package command_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cockpit-engine/cockpit/internal/command"
)

// TestClientNotSent: a request that never reaches a command service is unavailable and
// says why: no service listens (ErrNoService), or NATS is down, whether the connection
// is reconnecting with no room to buffer (ErrReconnectBufExceeded) or closed
// (ErrNATSUnavailable). A request larger than the server's max_payload names the limit.
func TestClientNotSent(t *testing.T) {
	t.Parallel()
	ns := natsServer(t)
	nc, err := nats.Connect(ns.ClientURL(), nats.Name(t.Name()), nats.ReconnectBufSize(-1),
		nats.MaxReconnects(-1), nats.ReconnectWait(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	client := command.NewClient(nc, uniquePrefix())
	req := command.InstanceRequest{Meta: meta("ann"), InstanceID: "i-1"}
	ctx := context.Background()

	_, err = client.CancelInstance(ctx, req)
	wantCode(t, err, command.CodeUnavailable)
	if !errors.Is(err, command.ErrNoService) || errors.Is(err, command.ErrNATSUnavailable) {
		t.Errorf("no service: %v, want ErrNoService", err)
	}

	big := command.SetVariablesRequest{Meta: meta("ann"), InstanceID: "i-1",
		Variables: map[string]any{"note": strings.Repeat("x", int(nc.MaxPayload()))}}
	_, err = client.SetVariables(ctx, big)
	cerr := wantCode(t, err, command.CodeInvalidInput)
	if !strings.Contains(cerr.Message, "limit") || !strings.Contains(cerr.Message, "8388608") {
		t.Errorf("oversized: %q, want the limit named", cerr.Message)
	}

	disconnected := make(chan struct{})
	var once sync.Once
	nc.SetDisconnectErrHandler(func(*nats.Conn, error) { once.Do(func() { close(disconnected) }) })
	ns.Shutdown()
	<-disconnected
	for _, c := range []string{"reconnecting", "closed"} {
		if c == "closed" {
			nc.Close()
		}
		_, err = client.CancelInstance(ctx, req)
		cerr := wantCode(t, err, command.CodeUnavailable)
		if !errors.Is(err, command.ErrNATSUnavailable) || !strings.Contains(cerr.Message, "not sent") {
			t.Errorf("%s: %v, want ErrNATSUnavailable", c, err)
		}
	}
}
