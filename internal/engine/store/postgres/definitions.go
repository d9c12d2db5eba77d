package postgres

import (
	"context"
	"fmt"
	"strconv"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// Definitions: deployed process versions.

func (t *tx) InsertDefinition(ctx context.Context, d *store.Definition) error {
	xml := d.XML
	if xml == nil {
		xml = []byte{}
	}
	_, err := t.exec(ctx, "insert definition", insertDefinitionSQL, d.ID, d.Key, d.Version, d.Name, d.Checksum, d.Resource, xml, d.DeployedAt)
	if err != nil {
		return wrapErr(fmt.Sprintf("insert definition %s version %d", d.Key, d.Version), err)
	}
	return nil
}

func (t *tx) GetDefinition(ctx context.Context, id string) (*store.Definition, error) {
	return queryOne(ctx, t, "get definition", "definition "+strconv.Quote(id), getDefinitionSQL, scanDefinition, id)
}

func (t *tx) LatestDefinition(ctx context.Context, key string) (*store.Definition, error) {
	return queryOne(ctx, t, "latest definition", "latest definition "+strconv.Quote(key), latestDefinitionSQL, scanDefinition, key)
}

func (t *tx) DefinitionByVersion(ctx context.Context, key string, version int) (*store.Definition, error) {
	return queryOne(ctx, t, "definition by version", fmt.Sprintf("definition %q version %d", key, version),
		definitionByVersionSQL, scanDefinition, key, version)
}

func (t *tx) ListDefinitions(ctx context.Context, f store.DefinitionFilter) ([]*store.Definition, error) {
	q := newQuery(listDefinitionsSQL)
	if f.Key != "" {
		q.and(`key = ?`, f.Key)
	}
	if f.LatestOnly {
		q.and(latestOnlyCond)
	}
	q.tail(` ORDER BY key, version`)
	ds, err := queryAll(ctx, t, "list definitions", false, q.String(), scanDefinition, q.args...)
	if err != nil {
		return nil, wrapErr("list definitions", err)
	}
	return ds, nil
}

// Instances.
