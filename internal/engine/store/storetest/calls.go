package storetest

import (
	"context"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// testCalls: a called instance keeps its link to its caller (instance, token, call
// activity, depth) through Apply, LoadInstance and the instance list, which filters by
// parent; an incident keeps the incident that caused it.
func testCalls(t *testing.T, s store.Store) {
	parent := newInstance("p", "order", at(0))
	child := newInstance("c1", "invoice", at(1))
	child.ParentInstanceID, child.ParentTokenID, child.ParentElementID, child.CallDepth = "p", "p-t1", "callInvoice", 1
	grandchild := newInstance("g1", "charge", at(2))
	grandchild.ParentInstanceID, grandchild.ParentTokenID, grandchild.ParentElementID, grandchild.CallDepth = "c1", "c1-t1", "callCharge", 2
	other := newInstance("c2", "invoice", at(3))
	other.ParentInstanceID, other.ParentTokenID, other.ParentElementID, other.CallDepth = "p", "p-t2", "callInvoice", 1
	cause := &store.Incident{ID: "g1-x", InstanceID: "g1", ElementID: "pay", DefinitionKey: "charge", Type: store.IncidentFailedJob,
		Message: "declined", State: store.IncidentOpen, CreatedAt: at(4)}
	relay := &store.Incident{ID: "c1-x", InstanceID: "c1", TokenID: "c1-t1", ElementID: "callCharge", DefinitionKey: "invoice",
		Type: store.IncidentCalledInstance, Message: "incident in the called instance", State: store.IncidentOpen,
		CreatedAt: at(4), CauseIncidentID: "g1-x"}
	apply(t, s, &store.Change{Instance: parent, Created: true}, &store.Change{Instance: child, Created: true},
		&store.Change{Instance: grandchild, Created: true, PutIncidents: []*store.Incident{cause}},
		&store.Change{Instance: other, Created: true})
	// The link survives an update (which writes only what a command changes).
	child.Version, child.IncidentCount = 2, 1
	apply(t, s, &store.Change{Instance: child, PutIncidents: []*store.Incident{relay}})

	same(t, "LoadInstance of a called instance", load(t, s, "c1").Instance, child)
	same(t, "LoadInstance incident cause", load(t, s, "c1").Incidents, []*store.Incident{relay})
	same(t, "GetInstance of a called instance", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Instance, error) {
		return tx.GetInstance(ctx, "g1")
	}), grandchild)
	same(t, "GetIncident cause", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Incident, error) {
		return tx.GetIncident(ctx, "c1-x")
	}), relay)
	children := func(id string) []string {
		page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
			return tx.ListInstances(ctx, store.InstanceFilter{ParentInstanceID: id})
		})
		var ids []string
		for _, in := range page.Instances {
			ids = append(ids, in.ID)
		}
		return ids
	}
	same(t, "children of p (newest first)", children("p"), []string{"c2", "c1"})
	same(t, "children of c1", children("c1"), []string{"g1"})
	same(t, "children of g1", children("g1"), []string(nil))
	page := get(t, s, func(ctx context.Context, tx store.Tx) (*store.InstancePage, error) {
		return tx.ListInstances(ctx, store.InstanceFilter{ParentInstanceID: "p", HasIncident: ptr(true)})
	})
	if len(page.Instances) != 1 || page.Instances[0].ID != "c1" {
		t.Errorf("children of p with incidents = %+v", page.Instances)
	}
}

// testDefinitionLookups: the version a call activity binds to, by version tag (the
// highest version with the tag) and by the deploying document (its checksum).
func testDefinitionLookups(t *testing.T, s store.Store) {
	v1, v2, v3 := definition("inv:1", "inv", 1), definition("inv:2", "inv", 2), definition("inv:3", "inv", 3)
	v1.VersionTag, v2.VersionTag = "2024.1", "2024.1"
	v3.Checksum = v1.Checksum
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		for _, d := range []*store.Definition{v1, v2, v3} {
			if err := tx.InsertDefinition(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	same(t, "DefinitionByVersionTag", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.DefinitionByVersionTag(ctx, "inv", "2024.1")
	}), v2)
	same(t, "DefinitionByChecksum", get(t, s, func(ctx context.Context, tx store.Tx) (*store.Definition, error) {
		return tx.DefinitionByChecksum(ctx, "inv", v1.Checksum)
	}), v3)
	read(t, s, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.DefinitionByVersionTag(ctx, "inv", "2025.1")
		wantErr(t, err, store.ErrNotFound, "unknown version tag")
		_, err = tx.DefinitionByVersionTag(ctx, "inv", "")
		wantErr(t, err, store.ErrNotFound, "empty version tag")
		_, err = tx.DefinitionByChecksum(ctx, "other", v1.Checksum)
		wantErr(t, err, store.ErrNotFound, "checksum of another key")
		return nil
	})
}
