package observer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cockpit-engine/cockpit/internal/bus"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// BusModels reads the definitions from the models bucket the engines publish to
// (bus.ModelPublisher): by the version an instance.started event names, else by the
// definition id in the objects' metadata.
func BusModels(js jetstream.JetStream, prefix string) ModelSource {
	return func(ctx context.Context, m *bus.Message) (*store.Definition, error) {
		version := 0
		if m.Type == event.InstanceStarted {
			var d struct {
				Version int `json:"version"`
			}
			if json.Unmarshal(m.Data, &d) == nil {
				version = d.Version
			}
		}
		if version == 0 {
			v, err := versionOf(ctx, js, prefix, m)
			if err != nil {
				return nil, err
			}
			version = v
		}
		model, err := bus.FetchModel(ctx, js, prefix, m.Service, m.DefinitionKey, version)
		if err != nil {
			return nil, err
		}
		if model.DefinitionID != "" && model.DefinitionID != m.DefinitionID {
			return nil, fmt.Errorf("the model of %s version %d of service %q is definition %q, the event's is %q",
				m.DefinitionKey, version, m.Service, model.DefinitionID, m.DefinitionID)
		}
		return &store.Definition{ID: m.DefinitionID, Key: m.DefinitionKey, Version: version, Name: model.Name,
			Checksum: model.Checksum, Resource: model.Resource, XML: model.XML, DeployedAt: model.DeployedAt,
			VersionTag: model.VersionTag, Service: m.Service}, nil
	}
}

// versionOf finds the version of the event's definition among the bucket's objects.
func versionOf(ctx context.Context, js jetstream.JetStream, prefix string, m *bus.Message) (int, error) {
	obs, err := js.ObjectStore(ctx, bus.ModelsBucket(prefix))
	if err != nil {
		return 0, fmt.Errorf("models bucket: %w", err)
	}
	infos, err := obs.List(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoObjectsFound) {
		return 0, fmt.Errorf("models bucket: %w", err)
	}
	for _, info := range infos {
		if info.Metadata[bus.ModelMetaDefinitionID] != m.DefinitionID {
			continue
		}
		if _, _, v, ok := bus.ParseModelKey(info.Name); ok {
			return v, nil
		}
	}
	return 0, fmt.Errorf("no model of definition %q (%s) of service %q: %w", m.DefinitionID, m.DefinitionKey, m.Service,
		bus.ErrModelNotFound)
}
