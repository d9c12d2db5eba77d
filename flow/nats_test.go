package flow_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/cockpit-engine/cockpit/flow"
	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/wait"
)

// natsConn starts an embedded NATS server for the test and connects to it.
func natsConn(t *testing.T) *nats.Conn {
	t.Helper()
	srv, err := bus.StartEmbedded(t.Context(), bus.EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop(context.Background()) })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSPublishing: with Options.NATS the engine publishes its events under its
// service (subject, header, payload) in the prefix's streams, and its models in the
// bucket, those deployed before Start included.
func TestNATSPublishing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	nc := natsConn(t)
	eng, err := flow.Open(ctx, flow.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Service: "shipping", NATS: nc, NATSPrefix: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	m := flow.Build("ship.parcel").Start("s").UserTask("pack").End("e")
	if _, err := eng.DeployModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	// An instance started before Start: its events wait in the outbox.
	in, err := eng.StartInstance(ctx, "ship.parcel", flow.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, "ACME_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	var raw *jetstream.RawStreamMsg
	wait.For(t, "the instance.started event", func() bool {
		raw, err = stream.GetLastMsgForSubject(ctx, "acme.events.shipping.ship_parcel.instance.started")
		return err == nil
	})
	msg, err := bus.DecodeMessage(raw.Data)
	if err != nil || msg.Service != "shipping" || msg.InstanceID != in.ID || raw.Header.Get(bus.HeaderService) != "shipping" {
		t.Errorf("event %+v, headers %v: %v", msg, raw.Header, err)
	}
	var model *bus.Model
	wait.For(t, "the model", func() bool {
		model, err = bus.FetchModel(ctx, js, "acme", "shipping", "ship.parcel", 1)
		return err == nil
	})
	if model.DefinitionID == "" || !strings.Contains(string(model.XML), `id="ship.parcel"`) {
		t.Errorf("model %+v", model.DefinitionID)
	}
}

// TestNATSOptionsChecked: a bad service name or prefix is refused by Open.
func TestNATSOptionsChecked(t *testing.T) {
	t.Parallel()
	nc := &nats.Conn{}
	for _, o := range []flow.Options{{Service: "orders.eu", NATS: nc}, {Service: "orders", NATSPrefix: "a.>", NATS: nc}} {
		o.DataDir = t.TempDir()
		if _, err := flow.Open(t.Context(), o); !errors.Is(err, flow.ErrInvalidInput) {
			t.Errorf("Open(service %q, prefix %q) = %v", o.Service, o.NATSPrefix, err)
		}
	}
}

// TestNATSCommands: with Options.NATS the embedded engine answers the commands sent to
// its service (as an observing cockpit sends them), and only those: the unscoped
// subjects are `cockpit serve`'s, and another service's commands find no one.
func TestNATSCommands(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	nc := natsConn(t)
	eng, err := flow.Open(ctx, flow.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Service: "shipping", NATS: nc, NATSPrefix: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := eng.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	if _, err := eng.DeployModel(ctx, flow.Build("ship.parcel").Start("s").UserTask("pack").End("e")); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "ship.parcel", flow.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := command.NewClient(nc, "acme")
	req := command.InstanceRequest{Meta: command.Meta{Actor: "ops", Reason: "test"}, InstanceID: in.ID}
	if _, err := client.CancelInstance(ctx, req); !errors.Is(err, command.ErrNoService) || errors.Is(err, command.ErrServiceNotAnswering) {
		t.Errorf("unscoped cancel = %v, want no command service", err)
	}
	if _, err := client.ForService("billing").CancelInstance(ctx, req); !errors.Is(err, command.ErrServiceNotAnswering) ||
		!strings.Contains(err.Error(), "service billing is not answering") {
		t.Errorf("cancel sent to billing = %v", err)
	}
	res, err := client.ForService("shipping").CancelInstance(ctx, req)
	if err != nil || res.State != string(flow.Cancelled) {
		t.Fatalf("cancel sent to shipping = %+v, %v", res, err)
	}
	got, err := eng.Instance(ctx, in.ID)
	if err != nil || got.State != flow.Cancelled {
		t.Errorf("instance after the command: %+v, %v", got, err)
	}
}

// TestNATSSignedCommands: an embedded engine with CommandTrustedKeys takes only the
// commands a trusted cockpit signed.
func TestNATSSignedCommands(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	nc := natsConn(t)
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	eng, err := flow.Open(ctx, flow.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Service: "shipping", NATS: nc, NATSPrefix: "signed", CommandTrustedKeys: []string{pub}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(context.Background()) })
	if _, err := eng.DeployModel(ctx, flow.Build("ship.parcel").Start("s").UserTask("pack").End("e")); err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	in, err := eng.StartInstance(ctx, "ship.parcel", flow.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := command.NewClient(nc, "signed").ForService("shipping")
	req := command.InstanceRequest{Meta: command.Meta{Actor: "ops", Reason: "test"}, InstanceID: in.ID}
	var cerr *command.Error
	if _, err := client.CancelInstance(ctx, req); !errors.As(err, &cerr) || cerr.Code != command.CodeUnauthorized {
		t.Fatalf("an unsigned cancel = %v", err)
	}
	signer, err := command.NewSigner(seed)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.WithSigner(signer).CancelInstance(ctx, req); err != nil {
		t.Fatalf("a signed cancel = %v", err)
	}
	if got, err := eng.Instance(ctx, in.ID); err != nil || got.State != flow.Cancelled {
		t.Errorf("instance after the signed command: %+v, %v", got, err)
	}
}
