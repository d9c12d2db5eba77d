package engine_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/bpmn"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// TestUnservedJobType: a service task whose job type has no handler deploys with a
// warning naming the type, and its waiting jobs are found by UnservedJobs (all, per
// definition, per instance) until a handler serves the type.
func TestUnservedJobType(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(*testing.T) store.Store) {
		v := newEnv(t, open)
		dep := v.deploy("service.bpmn")
		// The warning is located like a deploy problem: process, element, line, column.
		if len(dep.Warnings) != 1 || !strings.Contains(dep.Warnings[0].Message, `job type "work"`) {
			t.Fatalf("warnings %+v, want one naming job type \"work\"", dep.Warnings)
		}
		if w := dep.Warnings[0]; w.Process != "service" || w.ElementID != "work" || w.Kind != bpmn.KindServiceTask || w.Line != 6 || w.Col != 5 {
			t.Errorf("warning at %+v, want process service, serviceTask work at 6:5", w)
		}
		if v.e.Serves("work") {
			t.Fatal("Serves(work) without a handler")
		}
		a := v.startInstance("service", map[string]any{"amount": 1})
		v.startInstance("service", map[string]any{"amount": 2})
		want := []store.JobTypeCount{{Type: "work", Jobs: 2}}
		for _, f := range []store.JobTypeFilter{{}, {DefinitionKey: "service"}} {
			got, err := v.e.UnservedJobs(v.ctx, f)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("UnservedJobs(%+v) = %+v, %v; want %+v", f, got, err, want)
			}
		}
		got, err := v.e.UnservedJobs(v.ctx, store.JobTypeFilter{InstanceID: a.ID})
		if err != nil || !reflect.DeepEqual(got, []store.JobTypeCount{{Type: "work", Jobs: 1}}) {
			t.Fatalf("UnservedJobs(instance) = %+v, %v", got, err)
		}
		if got, _ := v.e.UnservedJobs(v.ctx, store.JobTypeFilter{DefinitionKey: "other"}); len(got) != 0 {
			t.Fatalf("UnservedJobs(other) = %+v", got)
		}

		// Once a handler serves the type, nothing is unserved, and deploying again
		// warns of nothing.
		v.e.Handle("work", func(context.Context, *engine.Job) (map[string]any, error) { return nil, nil })
		if !v.e.Serves("work") {
			t.Fatal("Serves(work) with a handler")
		}
		if got, err := v.e.UnservedJobs(v.ctx, store.JobTypeFilter{}); err != nil || len(got) != 0 {
			t.Fatalf("UnservedJobs with a handler = %+v, %v", got, err)
		}
		if dep := v.deploy("service.bpmn"); len(dep.Warnings) != 0 {
			t.Fatalf("warnings with a handler: %+v", dep.Warnings)
		}
	})
}
