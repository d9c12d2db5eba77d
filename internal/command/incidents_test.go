package command_test

import (
	"testing"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
)

// TestIncidentGroupCommands: a group of the incident queue is assigned with a note,
// noted (a resolution note), unassigned and retried by fingerprint over NATS, on both
// stores; every command is audited with the fingerprint as its target.
func TestIncidentGroupCommands(t *testing.T) {
	for name, opt := range map[string]envOption{"sqlite": nil, "postgres": onPostgres()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var opts []envOption
			if opt != nil {
				opts = append(opts, opt)
			}
			testIncidentGroupCommands(t, newEnv(t, opts...))
		})
	}
}

func testIncidentGroupCommands(t *testing.T, v *env) {
	a := v.startInstance("nodefault", map[string]any{"amount": 50})
	b := v.startInstance("nodefault", map[string]any{"amount": 70})
	ia, ib := v.openIncident(a.ID), v.openIncident(b.ID)
	sel, err := incidents.Select(v.ctx, v.st, incidents.Filter{IDs: []string{ia.ID, ib.ID}}, t0, 0)
	noErr(t, err)
	if len(sel.Incidents) != 2 || sel.Incidents[0].Fingerprint == "" || sel.Incidents[0].Fingerprint != sel.Incidents[1].Fingerprint {
		t.Fatalf("two incidents of one cause: %+v", sel.Incidents)
	}
	fp := sel.Incidents[0].Fingerprint
	req := command.IncidentGroupRequest{Meta: meta("ann"), Fingerprint: fp, Assignee: "bob", Note: "looks like the rules table"}
	res, err := v.client.AssignIncidents(v.ctx, req)
	noErr(t, err)
	if res.Assignee != "bob" {
		t.Fatalf("assign result %+v", res)
	}
	wantCode(t, errOf(v.client.AssignIncidents(v.ctx, command.IncidentGroupRequest{Meta: meta("ann"), Fingerprint: fp})), command.CodeInvalidInput)
	wantCode(t, errOf(v.client.AssignIncidents(v.ctx, command.IncidentGroupRequest{Meta: meta("ann"), Fingerprint: "nope", Assignee: "x"})), command.CodeNotFound)
	_, err = v.client.NoteIncidents(v.ctx, command.IncidentGroupRequest{Meta: meta("bob"), Fingerprint: fp, Note: "added a default flow", Resolution: true})
	noErr(t, err)
	wantCode(t, errOf(v.client.NoteIncidents(v.ctx, command.IncidentGroupRequest{Meta: meta("bob"), Fingerprint: fp})), command.CodeInvalidInput)
	big := make([]byte, incidents.MaxNoteBytes+1)
	for i := range big {
		big[i] = 'x'
	}
	wantCode(t, errOf(v.client.NoteIncidents(v.ctx, command.IncidentGroupRequest{Meta: meta("bob"), Fingerprint: fp, Note: string(big)})), command.CodeInvalidInput)
	gi, err := incidents.Info(v.ctx, v.st, fp, 10)
	noErr(t, err)
	if gi.Record.Assignee != "bob" || gi.Record.AssignedBy != "ann" || gi.Record.AssignNote != "looks like the rules table" ||
		len(gi.Notes) != 2 || gi.Notes[0].Kind != store.NoteResolution || gi.Notes[0].Actor != "bob" {
		t.Fatalf("group %+v notes %+v", gi.Record, gi.Notes)
	}
	_, err = v.client.UnassignIncidents(v.ctx, command.IncidentGroupRequest{Meta: meta("bob"), Fingerprint: fp, Note: "fixed"})
	noErr(t, err)
	if gi, _ = incidents.Info(v.ctx, v.st, fp, 10); gi.Record.Assignee != "" || gi.Notes[0].Kind != store.NoteUnassign {
		t.Fatalf("after unassign %+v %+v", gi.Record, gi.Notes[0])
	}
	rows := v.audit(store.AuditFilter{Target: fp})
	got := map[string]int{}
	for _, a := range rows {
		got[a.Command+" "+a.Result]++
	}
	want := map[string]int{
		command.VerbAssignIncidents + " ok": 1, command.VerbAssignIncidents + " invalid_input": 1,
		command.VerbNoteIncidents + " ok": 1, command.VerbNoteIncidents + " invalid_input": 2,
		command.VerbUnassignIncidents + " ok": 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("audit %q: %d rows, want %d (all: %v)", k, got[k], n, got)
		}
	}

	// A bulk retry by fingerprint selects the group's incidents.
	bres, err := v.client.RetryIncidents(v.ctx, command.BulkRetryRequest{Meta: meta("ann"), Fingerprint: fp,
		Variables: map[string]any{"amount": 1}}, nil)
	noErr(t, err)
	if bres.Matched != 2 || bres.Selected != 2 {
		t.Fatalf("bulk retry by fingerprint %+v", bres)
	}
}
