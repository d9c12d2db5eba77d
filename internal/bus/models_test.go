package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestModelKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		service, key string
		version      int
		want         string
	}{
		{"orders", "order", 3, "orders/order/3"},
		{"orders", "a/b.c d", 12, "orders/a/b.c d/12"},
	} {
		got := ModelKey(c.service, c.key, c.version)
		if got != c.want {
			t.Errorf("ModelKey = %q, want %q", got, c.want)
		}
		s, k, v, ok := ParseModelKey(got)
		if !ok || s != c.service || k != c.key || v != c.version {
			t.Errorf("ParseModelKey(%q) = %q %q %d %v", got, s, k, v, ok)
		}
	}
	for _, bad := range []string{"", "orders", "orders/order", "orders/order/x", "orders/order/0", "a.b/order/1"} {
		if _, _, _, ok := ParseModelKey(bad); ok {
			t.Errorf("ParseModelKey(%q) accepted", bad)
		}
	}
	cfg, err := ModelBucketConfig(StreamOptions{Prefix: "acme.cockpit-test"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Bucket != "ACME_COCKPIT_TEST_MODELS" || cfg.MaxBytes != DefaultModelsMaxBytes || cfg.TTL != 0 || cfg.Storage != jetstream.FileStorage {
		t.Errorf("bucket %+v", cfg)
	}
}

// deployVersion deploys a new version of the test flow (its name makes the bytes
// differ) and returns its definition.
func deployVersion(t *testing.T, f *flow, name string) *store.Definition {
	t.Helper()
	defs, err := bpmn.Build(flowKey, bpmn.Name(name)).Start("start").ServiceTask("work", bpmn.JobType("work")).End("end").Definitions()
	if err != nil {
		t.Fatal(err)
	}
	dep, err := f.e.DeployModel(deadline(t, 10*time.Second), "order.bpmn", defs)
	if err != nil {
		t.Fatal(err)
	}
	if !dep.Processes[0].Created {
		t.Fatalf("%s made no new version", name)
	}
	return dep.Processes[0].Definition
}

func newTestModelPublisher(t *testing.T, f *flow, nc *nats.Conn, prefix string) *ModelPublisher {
	t.Helper()
	p, err := NewModelPublisher(ModelPublisherOptions{Store: f.st, Conn: nc, Prefix: prefix, Service: testService,
		Retry: 20 * time.Millisecond, Timeout: 2 * time.Second, Logger: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkModel fetches a version's model and compares it with the definition (the
// deployment time to the millisecond: a store keeps microseconds, the deployment's
// result has the clock's nanoseconds).
func checkModel(t *testing.T, js jetstream.JetStream, prefix string, d *store.Definition) {
	t.Helper()
	m, err := FetchModel(deadline(t, 10*time.Second), js, prefix, testService, d.Key, d.Version)
	if err != nil {
		t.Fatalf("fetch version %d: %v", d.Version, err)
	}
	if dt := m.DeployedAt.Sub(d.DeployedAt); !bytes.Equal(m.XML, d.XML) || m.DefinitionID != d.ID || m.Checksum != d.Checksum ||
		m.Name != d.Name || dt < -time.Millisecond || dt > time.Millisecond || m.Service != testService || m.ProcessKey != d.Key ||
		m.Version != d.Version || m.Resource != d.Resource {
		xml := m.XML
		m.XML = nil
		t.Errorf("model of version %d: %+v (%d bytes, same: %v), definition %s %q %s %s", d.Version, m, len(xml),
			bytes.Equal(xml, d.XML), d.ID, d.Name, d.Checksum, d.DeployedAt)
	}
}

// TestModelPublisher: definitions deployed before the publisher ran (NATS was down,
// the bucket missing) are published by its reconciliation at start; later deployments
// as they commit; a bucket deleted and an object replaced by another document are
// repaired at the next start.
func TestModelPublisher(t *testing.T) {
	eachTarget(t, func(t *testing.T, tg *target) {
		ctx := deadline(t, 60*time.Second)
		f := newFlow(t) // version 1 deployed, nothing publishes it yet
		v2 := deployVersion(t, f, "Order flow v2")
		nc := tg.connect(t)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FetchModel(ctx, js, tg.prefix, testService, flowKey, 1); !errors.Is(err, ErrModelNotFound) {
			t.Fatalf("fetch before anything was published: %v", err)
		}

		p := newTestModelPublisher(t, f, nc, tg.prefix)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.waitPasses(ctx, 1); err != nil {
			t.Fatal(err)
		}
		var v1 *store.Definition
		if err := f.st.Read(ctx, func(tx store.Tx) error {
			var err error
			v1, err = tx.DefinitionByVersion(ctx, flowKey, 1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		checkModel(t, js, tg.prefix, v1)
		checkModel(t, js, tg.prefix, v2)

		v3 := deployVersion(t, f, "Order flow v3")
		p.Deployed([]*store.Definition{v3})
		if err := p.waitPasses(ctx, 2); err != nil {
			t.Fatal(err)
		}
		checkModel(t, js, tg.prefix, v3)
		if err := p.Stop(ctx); err != nil {
			t.Fatal(err)
		}

		// Another document under version 2's key, and version 3's object deleted: the
		// next start puts both right.
		obs, err := js.ObjectStore(ctx, ModelsBucket(tg.prefix))
		if err != nil {
			t.Fatal(err)
		}
		wrong := *v2
		wrong.XML, wrong.Checksum = []byte("<definitions/>"), "0000"
		if err := PublishModel(ctx, obs, testService, &wrong); err != nil {
			t.Fatal(err)
		}
		if err := obs.Delete(ctx, ModelKey(testService, flowKey, 3)); err != nil {
			t.Fatal(err)
		}
		p2 := newTestModelPublisher(t, f, nc, tg.prefix)
		if err := p2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p2.waitPasses(ctx, 1); err != nil {
			t.Fatal(err)
		}
		checkModel(t, js, tg.prefix, v2)
		checkModel(t, js, tg.prefix, v3)
		if err := p2.Stop(ctx); err != nil {
			t.Fatal(err)
		}

		// The bucket deleted: created again and filled at start.
		if err := js.DeleteObjectStore(ctx, ModelsBucket(tg.prefix)); err != nil {
			t.Fatal(err)
		}
		p3 := newTestModelPublisher(t, f, nc, tg.prefix)
		if err := p3.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p3.waitPasses(ctx, 1); err != nil {
			t.Fatal(err)
		}
		for _, d := range []*store.Definition{v1, v2, v3} {
			checkModel(t, js, tg.prefix, d)
		}
		if err := p3.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestModelPublisherAfterOutage: a deployment made while NATS is down is published once
// the server is back, without a restart of the publisher.
func TestModelPublisherAfterOutage(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	dir := filepath.Join(t.TempDir(), "nats")
	srv, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Port()
	tg := &target{name: "embedded", url: srv.ClientURL(), prefix: DefaultPrefix, embedded: srv}
	f := newFlow(t)
	nc := tg.connect(t)
	p := newTestModelPublisher(t, f, nc, tg.prefix)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := p.Stop(deadline(t, 10*time.Second)); err != nil {
			t.Error(err)
		}
	}()
	if err := p.waitPasses(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	v2 := deployVersion(t, f, "Order flow v2")
	p.Deployed([]*store.Definition{v2})

	srv2, err := StartEmbedded(ctx, EmbeddedOptions{StoreDir: dir, Port: port})
	if err != nil {
		t.Fatalf("restart NATS on port %d: %v", port, err)
	}
	defer func() { _ = srv2.Stop(context.Background()) }()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "version 2's model after the outage", func() bool {
		// A request the restarting server drops is never answered: bound each attempt.
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := FetchModel(actx, js, tg.prefix, testService, flowKey, 2)
		return err == nil
	})
	checkModel(t, js, tg.prefix, v2)
}

// TestModelLimits: a model is never larger than a deployable document, and PublishModel
// refuses a bad service name.
func TestModelLimits(t *testing.T) {
	t.Parallel()
	if MaxModelBytes != bpmn.MaxDocumentBytes {
		t.Fatalf("MaxModelBytes %d, bpmn.MaxDocumentBytes %d", MaxModelBytes, bpmn.MaxDocumentBytes)
	}
	d := &store.Definition{Key: "k", Version: 1, XML: []byte(strings.Repeat("x", MaxModelBytes+1))}
	if err := PublishModel(context.Background(), nil, testService, d); err == nil || !strings.Contains(err.Error(), fmt.Sprint(MaxModelBytes)) {
		t.Errorf("an oversized model: %v", err)
	}
	if err := PublishModel(context.Background(), nil, "a.b", d); !errors.Is(err, ErrInvalidService) {
		t.Errorf("a bad service: %v", err)
	}
}

// TestDocsNameTheContract: docs/events.md names every header, the service field, the
// subject schemes and every metadata key of a model.
func TestDocsNameTheContract(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{
		HeaderSchema, HeaderType, HeaderInstance, HeaderInstanceSeq, HeaderService, HeaderOmitted,
		"`service`", "--service", "--nats-subjects", "<prefix>.events.<service>.<definition>.<type>",
		"<prefix>.events.<definition>.<type>", ModelsBucket("cockpit"), ModelKey("<service>", "<processKey>", 0)[:len("<service>/<processKey>/")],
		ModelSchemaV1, fmt.Sprint(MaxModelBytes>>20, " MiB"), fmt.Sprint(DefaultModelsMaxBytes>>30, " GiB"),
		ModelMetaSchema, ModelMetaService, ModelMetaProcessKey, ModelMetaVersion, ModelMetaDefinitionID, ModelMetaName,
		ModelMetaChecksum, ModelMetaResource, ModelMetaDeployedAt, ModelMetaVersionTag,
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/events.md does not name %q", want)
		}
	}
}
