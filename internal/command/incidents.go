package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
)

// The incident queue's group commands. They write the engine's store (like the stall
// threshold), and the audit log records them like every command: actor, the group's
// fingerprint as the target, the reason.

func runAssignIncidents(ctx context.Context, s *Service, r *IncidentGroupRequest, x *call) (any, error) {
	if err := required("fingerprint", r.Fingerprint); err != nil {
		return nil, err
	}
	if err := required("assignee", r.Assignee); err != nil {
		return nil, err
	}
	if err := incidents.Assign(ctx, s.e.Store(), r.Fingerprint, r.Assignee, x.actor, r.Note, x.at); err != nil {
		return nil, groupErr("assign", r.Fingerprint, err)
	}
	gi, err := incidents.Info(ctx, s.e.Store(), r.Fingerprint, 0)
	if err != nil {
		return nil, err
	}
	return &IncidentGroupResult{Fingerprint: r.Fingerprint, Assignee: gi.Record.Assignee}, nil
}

func runUnassignIncidents(ctx context.Context, s *Service, r *IncidentGroupRequest, x *call) (any, error) {
	if err := required("fingerprint", r.Fingerprint); err != nil {
		return nil, err
	}
	if r.Assignee != "" {
		return nil, errorf(CodeInvalidInput, "field \"assignee\": unassign takes none")
	}
	if err := incidents.Assign(ctx, s.e.Store(), r.Fingerprint, "", x.actor, r.Note, x.at); err != nil {
		return nil, groupErr("unassign", r.Fingerprint, err)
	}
	return &IncidentGroupResult{Fingerprint: r.Fingerprint}, nil
}

func runNoteIncidents(ctx context.Context, s *Service, r *IncidentGroupRequest, x *call) (any, error) {
	if err := required("fingerprint", r.Fingerprint); err != nil {
		return nil, err
	}
	if err := required("note", r.Note); err != nil {
		return nil, err
	}
	if r.Assignee != "" {
		return nil, errorf(CodeInvalidInput, "field \"assignee\": a note takes none (use incident.assign)")
	}
	kind := store.NoteComment
	if r.Resolution {
		kind = store.NoteResolution
	}
	if err := incidents.AddNote(ctx, s.e.Store(), r.Fingerprint, kind, r.Note, x.actor, x.at); err != nil {
		return nil, groupErr("note", r.Fingerprint, err)
	}
	gi, err := incidents.Info(ctx, s.e.Store(), r.Fingerprint, 0)
	if err != nil {
		return nil, err
	}
	return &IncidentGroupResult{Fingerprint: r.Fingerprint, Assignee: gi.Record.Assignee}, nil
}

// groupErr turns the queue's errors into command errors.
func groupErr(verb, fp string, err error) error {
	switch {
	case errors.Is(err, incidents.ErrInvalid):
		return errorf(CodeInvalidInput, "%v", err)
	case errors.Is(err, store.ErrNotFound):
		return errorf(CodeNotFound, "no incident group with fingerprint %q", fp)
	}
	return fmt.Errorf("%s incident group %s: %w", verb, fp, err)
}
