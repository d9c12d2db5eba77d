package bus

// Models: the BPMN document (with its diagram interchange) of every deployed definition,
// in a JetStream object store bucket, so that a viewer draws a service's processes
// without the service's store. docs/events.md ("Models") is the contract.
//
// Invariants:
//   - One object per definition version, named ModelKey(service, key, version); its
//     metadata names the definition, and "checksum" is the store's checksum of the
//     bytes, so an object is current when its checksum is the definition's.
//   - A deployment is published after it committed (ModelPublisher.Deployed); what was
//     not published then (NATS down, the process stopped, the bucket deleted) is found
//     by the reconciliation a ModelPublisher runs at Start and after every failure,
//     which publishes each definition whose object is missing or has another checksum.
//   - The store stays the source of truth: the bucket is a copy, and a failed
//     publication never fails or delays a deployment.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/clock"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/startstop"
)

// ModelSchemaV1 names the metadata layout of model objects (docs/events.md, "Models").
const ModelSchemaV1 = "cockpit.model/v1"

// Model bucket limits.
const (
	// MaxModelBytes is the largest model object: the largest document a deployment
	// accepts (bpmn.MaxDocumentBytes), so every deployed definition fits.
	MaxModelBytes = bpmn.MaxDocumentBytes
	// DefaultModelsMaxBytes bounds the bucket (StreamOptions.ModelsMaxBytes). Objects
	// have no TTL: a model must stay as long as instances of its version may be shown;
	// a full bucket refuses new models (logged, retried), it never drops old ones.
	DefaultModelsMaxBytes = 1 << 30 // 1 GiB
	// modelPendingMax bounds the deployments queued for publication; past it the queue is
	// dropped for a reconciliation, which finds them all.
	modelPendingMax = 1024
	// maxModelRetry is the longest wait between two reconciliations after failures.
	maxModelRetry = time.Minute
)

// Metadata keys of a model object.
const (
	ModelMetaSchema       = "schema" // ModelSchemaV1
	ModelMetaService      = "service"
	ModelMetaProcessKey   = "processKey"
	ModelMetaVersion      = "version"
	ModelMetaDefinitionID = "definitionId"
	ModelMetaName         = "name"
	ModelMetaChecksum     = "checksum"   // sha256 of the document, hex (the store's)
	ModelMetaResource     = "resource"   // the file name given at deploy time
	ModelMetaDeployedAt   = "deployedAt" // RFC 3339, UTC
	ModelMetaVersionTag   = "versionTag" // only when the process has one
)

// ErrModelNotFound is returned by FetchModel when the bucket holds no model under the
// key (or the bucket does not exist); it wraps jetstream.ErrObjectNotFound.
var ErrModelNotFound = fmt.Errorf("model not found: %w", jetstream.ErrObjectNotFound)

// ModelsBucket is the name of the models bucket for a prefix (COCKPIT_MODELS; its
// stream is OBJ_COCKPIT_MODELS).
func ModelsBucket(prefix string) string { return streamBase(prefix) + "_MODELS" }

// ModelKey is the object name of a definition version's model:
// <service>/<processKey>/<version>, e.g. orders/order/3. The process key is kept as it
// is (object names are not subjects); the service has no '/' and the version is digits,
// so the key is everything between the first and the last '/'.
func ModelKey(service, processKey string, version int) string {
	return service + "/" + processKey + "/" + strconv.Itoa(version)
}

// ParseModelKey splits an object name made by ModelKey.
func ParseModelKey(name string) (service, processKey string, version int, ok bool) {
	service, rest, ok1 := strings.Cut(name, "/")
	i := strings.LastIndexByte(rest, '/')
	if !ok1 || i < 0 {
		return "", "", 0, false
	}
	v, err := strconv.Atoi(rest[i+1:])
	if err != nil || v < 1 || CheckService(service) != nil {
		return "", "", 0, false
	}
	return service, rest[:i], v, true
}

// ModelBucketConfig returns the configuration of the models bucket.
func ModelBucketConfig(o StreamOptions) (jetstream.ObjectStoreConfig, error) {
	o.defaults()
	if err := CheckPrefix(o.Prefix); err != nil {
		return jetstream.ObjectStoreConfig{}, err
	}
	return jetstream.ObjectStoreConfig{
		Bucket:      ModelsBucket(o.Prefix),
		Description: "Cockpit models: the BPMN document of each deployed definition, key <service>/<processKey>/<version> (" + ModelSchemaV1 + ")",
		MaxBytes:    o.ModelsMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    o.Replicas,
	}, nil
}

// EnsureModelBucket creates the models bucket, or updates it to o's configuration, and
// returns it.
func EnsureModelBucket(ctx context.Context, js jetstream.JetStream, o StreamOptions) (jetstream.ObjectStore, error) {
	cfg, err := ModelBucketConfig(o)
	if err != nil {
		return nil, err
	}
	obs, err := js.CreateOrUpdateObjectStore(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create or update bucket %s: %w", cfg.Bucket, err)
	}
	return obs, nil
}

// Model is a published model as a viewer reads it.
type Model struct {
	Service      string
	ProcessKey   string
	Version      int
	DefinitionID string
	Name         string
	Checksum     string
	Resource     string
	VersionTag   string
	DeployedAt   time.Time
	// XML is the deployed document, diagram interchange included. A document may hold
	// several processes: draw the one whose id is ProcessKey.
	XML []byte
}

// modelMeta is the object's name and metadata for a definition of service.
func modelMeta(service string, d *store.Definition) jetstream.ObjectMeta {
	md := map[string]string{
		ModelMetaSchema: ModelSchemaV1, ModelMetaService: service, ModelMetaProcessKey: d.Key,
		ModelMetaVersion: strconv.Itoa(d.Version), ModelMetaDefinitionID: d.ID, ModelMetaName: d.Name,
		ModelMetaChecksum: d.Checksum, ModelMetaResource: d.Resource,
		ModelMetaDeployedAt: d.DeployedAt.UTC().Format(time.RFC3339Nano),
	}
	if d.VersionTag != "" {
		md[ModelMetaVersionTag] = d.VersionTag
	}
	return jetstream.ObjectMeta{
		Name:        ModelKey(service, d.Key, d.Version),
		Description: d.Name,
		Headers:     nats.Header{"Content-Type": []string{"application/xml"}},
		Metadata:    md,
	}
}

// PublishModel puts the model of definition d of service into the bucket (a new
// revision when it is there already; ModelPublisher looks first).
func PublishModel(ctx context.Context, obs jetstream.ObjectStore, service string, d *store.Definition) error {
	if err := CheckService(service); err != nil {
		return fmt.Errorf("publish model: %w", err)
	}
	if len(d.XML) > MaxModelBytes {
		return fmt.Errorf("publish model of %s version %d: %d bytes, more than %d", d.Key, d.Version, len(d.XML), MaxModelBytes)
	}
	if _, err := obs.Put(ctx, modelMeta(service, d), bytes.NewReader(d.XML)); err != nil {
		return fmt.Errorf("publish model of %s version %d: %w", d.Key, d.Version, err)
	}
	return nil
}

// FetchModel reads the model of one version of a process of a service from the models
// bucket of prefix. It returns an error wrapping ErrModelNotFound when there is none.
func FetchModel(ctx context.Context, js jetstream.JetStream, prefix, service, processKey string, version int) (*Model, error) {
	key := ModelKey(service, processKey, version)
	obs, err := js.ObjectStore(ctx, ModelsBucket(prefix))
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("fetch model %s: %w", key, ErrModelNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch model %s: %w", key, err)
	}
	res, err := obs.Get(ctx, key)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, fmt.Errorf("fetch model %s: %w", key, ErrModelNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch model %s: %w", key, err)
	}
	defer res.Close()
	info, err := res.Info()
	if err != nil {
		return nil, fmt.Errorf("fetch model %s: %w", key, err)
	}
	xml, err := io.ReadAll(io.LimitReader(res, MaxModelBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch model %s: %w", key, err)
	}
	if len(xml) > MaxModelBytes {
		return nil, fmt.Errorf("fetch model %s: more than %d bytes", key, MaxModelBytes)
	}
	md := info.Metadata
	m := &Model{Service: service, ProcessKey: processKey, Version: version, DefinitionID: md[ModelMetaDefinitionID],
		Name: md[ModelMetaName], Checksum: md[ModelMetaChecksum], Resource: md[ModelMetaResource],
		VersionTag: md[ModelMetaVersionTag], XML: xml}
	m.DeployedAt, _ = time.Parse(time.RFC3339Nano, md[ModelMetaDeployedAt])
	return m, nil
}

// ModelPublisherOptions configure a ModelPublisher. Zero values take the defaults.
type ModelPublisherOptions struct {
	Store store.Store
	// Conn is the NATS connection (required); the publisher does not close it.
	Conn *nats.Conn
	// Prefix (default DefaultPrefix) names the bucket; Service (default
	// DefaultService()) is the first part of every key.
	Prefix  string
	Service string
	// Bucket configures the bucket the publisher creates or updates (its Prefix is
	// Prefix's).
	Bucket StreamOptions
	// Retry is the wait after a failed pass (default 1s), doubled after each failure up to
	// a minute.
	Retry time.Duration
	// Timeout bounds each NATS request (default 10s).
	Timeout time.Duration
	Clock   clock.Clock  // default clock.Real
	Logger  *slog.Logger // default slog.Default()
}

// ModelPublisher publishes the models of a store's definitions to the models bucket:
// every definition missing there at Start (or after a failure), and each deployment
// handed to Deployed. Create it with NewModelPublisher, Start and Stop it.
type ModelPublisher struct {
	opts ModelPublisherOptions
	log  *slog.Logger
	js   jetstream.JetStream
	run  startstop.Runner

	mu      sync.Mutex
	pending []*store.Definition
	full    bool // a reconciliation is due
	wake    chan struct{}

	// passes counts finished reconciliations (tests wait on it).
	passes  int
	changed chan struct{} // closed and replaced at every pass's end
}

// NewModelPublisher checks the options and makes a publisher.
func NewModelPublisher(o ModelPublisherOptions) (*ModelPublisher, error) {
	if o.Store == nil || o.Conn == nil {
		return nil, errors.New("new model publisher: Store and Conn are required")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Service == "" {
		o.Service = DefaultService()
	}
	if err := CheckPrefix(o.Prefix); err != nil {
		return nil, fmt.Errorf("new model publisher: %w", err)
	}
	if err := CheckService(o.Service); err != nil {
		return nil, fmt.Errorf("new model publisher: %w", err)
	}
	o.Bucket.Prefix = o.Prefix
	if o.Retry <= 0 {
		o.Retry = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	js, err := jetstream.New(o.Conn)
	if err != nil {
		return nil, fmt.Errorf("new model publisher: %w", err)
	}
	return &ModelPublisher{opts: o, log: o.Logger.With("component", "models", "service", o.Service), js: js,
		run: startstop.Runner{Name: "model publisher"}, wake: make(chan struct{}, 1), changed: make(chan struct{})}, nil
}

// Deployed queues the definitions a deployment created for publication. It never blocks
// (call it after the deployment committed, e.g. from engine.Options.OnDeploy).
func (p *ModelPublisher) Deployed(defs []*store.Definition) {
	p.mu.Lock()
	if len(p.pending)+len(defs) > modelPendingMax {
		p.pending, p.full = nil, true
	} else {
		p.pending = append(p.pending, defs...)
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Start reconciles the bucket with the store in the background, then publishes each
// deployment handed to Deployed, until Stop.
func (p *ModelPublisher) Start(ctx context.Context) error {
	p.mu.Lock()
	p.full = true
	p.mu.Unlock()
	return p.run.Start(ctx, p.loop)
}

// Stop ends the publisher; a pass in flight is cancelled (what it did not publish is
// found by the next start's reconciliation).
func (p *ModelPublisher) Stop(ctx context.Context) error { return p.run.Stop(ctx) }

func (p *ModelPublisher) loop(ctx context.Context, stopping <-chan struct{}) {
	retry := p.opts.Retry
	for {
		p.mu.Lock()
		full, pending := p.full, p.pending
		p.full, p.pending = false, nil
		p.mu.Unlock()
		var err error
		if full {
			err = p.reconcile(ctx)
		} else if len(pending) > 0 {
			err = p.publishAll(ctx, pending)
		}
		var after <-chan time.Time
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("models: not published, reconciling again later", "err", err, "retry", retry)
			p.mu.Lock()
			p.full = true
			p.mu.Unlock()
			after = p.opts.Clock.After(retry)
			retry = min(2*retry, maxModelRetry)
		} else if full || len(pending) > 0 {
			retry = p.opts.Retry
			p.mu.Lock()
			p.passes++
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		wake := p.wake
		if after != nil {
			wake = nil // back off: a deployment meanwhile waits for the retry
		}
		select {
		case <-wake:
		case <-after:
		case <-stopping:
			return
		case <-ctx.Done():
			return
		}
	}
}

// bucket creates or updates the bucket and returns it.
func (p *ModelPublisher) bucket(ctx context.Context) (jetstream.ObjectStore, error) {
	cctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	return EnsureModelBucket(cctx, p.js, p.opts.Bucket)
}

// publishAll publishes the models of defs that the bucket lacks.
func (p *ModelPublisher) publishAll(ctx context.Context, defs []*store.Definition) error {
	obs, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	for _, d := range defs {
		if _, err := p.publish(ctx, obs, d); err != nil {
			return err
		}
	}
	return nil
}

// publish publishes d's model unless its object is there with d's checksum.
func (p *ModelPublisher) publish(ctx context.Context, obs jetstream.ObjectStore, d *store.Definition) (bool, error) {
	cctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	key := ModelKey(p.opts.Service, d.Key, d.Version)
	info, err := obs.GetInfo(cctx, key)
	switch {
	case err == nil && info.Metadata[ModelMetaChecksum] == d.Checksum:
		return false, nil
	case err != nil && !errors.Is(err, jetstream.ErrObjectNotFound):
		return false, fmt.Errorf("look up model %s: %w", key, err)
	}
	if err := PublishModel(cctx, obs, p.opts.Service, d); err != nil {
		return false, err
	}
	p.log.Info("models: published", "process", d.Key, "version", d.Version, "key", key)
	return true, nil
}

// reconcile publishes every definition of the store whose object is missing or has
// another checksum. It holds one document at a time: it lists the latest version of
// each key, then reads the versions one by one (a row, a lookup, a put when needed), so
// the work is one store read and one NATS request per version, logged with its count.
func (p *ModelPublisher) reconcile(ctx context.Context) error {
	began := p.opts.Clock.Now()
	obs, err := p.bucket(ctx)
	if err != nil {
		return err
	}
	type head struct {
		key    string
		latest int
	}
	var heads []head
	err = p.opts.Store.Read(ctx, func(tx store.Tx) error {
		defs, err := tx.ListDefinitions(ctx, store.DefinitionFilter{LatestOnly: true})
		heads = make([]head, 0, len(defs))
		for _, d := range defs {
			heads = append(heads, head{d.Key, d.Version})
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("list definitions: %w", err)
	}
	checked, published := 0, 0
	for _, h := range heads {
		for v := 1; v <= h.latest; v++ {
			var d *store.Definition
			err := p.opts.Store.Read(ctx, func(tx store.Tx) error {
				var err error
				d, err = tx.DefinitionByVersion(ctx, h.key, v)
				return err
			})
			if errors.Is(err, store.ErrNotFound) {
				continue // versions are never deleted; a gap is not worth failing for
			}
			if err != nil {
				return fmt.Errorf("read definition %s version %d: %w", h.key, v, err)
			}
			ok, err := p.publish(ctx, obs, d)
			if err != nil {
				return err
			}
			checked++
			if ok {
				published++
			}
		}
	}
	p.log.Info("models: reconciled", "processes", len(heads), "versions", checked, "published", published,
		"took", p.opts.Clock.Now().Sub(began).Round(time.Millisecond))
	return nil
}

// waitPasses waits until n reconciliations or publications finished (tests).
func (p *ModelPublisher) waitPasses(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		done, ch := p.passes >= n, p.changed
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
