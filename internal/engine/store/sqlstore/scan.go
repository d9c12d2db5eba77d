package sqlstore

import (
	"time"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/event"
)

// Column lists, in the order the scan methods below read them.
const (
	DefinitionCols = `id, key, version, name, checksum, resource, xml, deployed_at, version_tag, service`
	InstanceCols   = `id, definition_id, definition_key, definition_version, business_key, state, version, incident_count, started_at, ended_at, event_seq,
	parent_instance_id, parent_token_id, parent_element_id, call_depth`
	TokenCols        = `id, instance_id, element_id, scope_id, state, flow, created_at`
	VariableCols     = `instance_id, name, type, value, updated_at, scope`
	JobCols          = `id, kind, type, instance_id, token_id, element_id, definition_id, definition_key, retries, attempt, due_at, suspended, lock_owner, locked_until, repeat, last_error, error_details, created_at`
	SubscriptionCols = `id, instance_id, token_id, element_id, definition_id, definition_key, message_name, correlation_key, created_at, kind`
	UserTaskCols     = `id, instance_id, token_id, element_id, definition_key, name, assignee, candidate_groups, form_key, state, created_at, due_at, completed_at`
	IncidentCols     = `id, instance_id, token_id, element_id, definition_key, job_id, type, message, details, state, created_at, resolved_at,
	cause_incident_id`
	EventCols = `seq, id, instance_id, instance_seq, definition_id, definition_key, type, element_id, element_type, token_id, job_id, incident_id, time, data`
	// EventInsertCols are the columns an insert gives (seq is handed out by the database).
	EventInsertCols = `id, instance_id, instance_seq, definition_id, definition_key, type, element_id,
	element_type, token_id, job_id, incident_id, time, data`
	AuditCols          = `id, time, actor, command, target, reason, request, result, error, instance_id`
	StallCols          = `id, token_id, instance_id, definition_id, definition_key, element_id, since, threshold, incident, detected_at, state, cleared_at, published`
	StallThresholdCols = `definition_key, element_id, threshold, updated_at, updated_by`
	RollupCols         = `step, definition_id, bucket, kind, element_id, started, completed, cancelled, incidents,
	entered, exited, taken, d_count, d_sum, d_max, d_buckets, w_count, w_sum, w_max, w_buckets`
	ParkedCols = `seq, id, instance_id, type, bytes, reason, placeholder, parked_at`

	CompensationCols = `id, instance_id, scope_id, element_id, handler_id, inner_scope_id, seq, throw_token_id, position, completed_at`
)

// ScanDefinition reads a DefinitionCols row.
func (d *Dialect) ScanDefinition(s Scanner) (*store.Definition, error) {
	var x store.Definition
	if err := s.Scan(&x.ID, &x.Key, &x.Version, &x.Name, &x.Checksum, &x.Resource, &x.XML,
		d.timeDest(&x.DeployedAt), &x.VersionTag, &x.Service); err != nil {
		return nil, err
	}
	x.DeployedAt = utc(x.DeployedAt)
	return &x, nil
}

// ScanInstance reads an InstanceCols row.
func (d *Dialect) ScanInstance(s Scanner) (*store.Instance, error) {
	var in store.Instance
	if err := s.Scan(&in.ID, &in.DefinitionID, &in.DefinitionKey, &in.DefinitionVersion, &in.BusinessKey, &in.State,
		&in.Version, &in.IncidentCount, d.timeDest(&in.StartedAt), d.nullTimeDest(&in.EndedAt), &in.EventSeq,
		&in.ParentInstanceID, &in.ParentTokenID, &in.ParentElementID, &in.CallDepth); err != nil {
		return nil, err
	}
	in.StartedAt = utc(in.StartedAt)
	in.EndedAt = utcPtr(in.EndedAt)
	return &in, nil
}

// ScanToken reads a TokenCols row.
func (d *Dialect) ScanToken(s Scanner) (*store.Token, error) {
	var t store.Token
	if err := s.Scan(&t.ID, &t.InstanceID, &t.ElementID, &t.ScopeID, &t.State, &t.Flow, d.timeDest(&t.CreatedAt)); err != nil {
		return nil, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	return &t, nil
}

// ScanVariable reads a VariableCols row.
func (d *Dialect) ScanVariable(s Scanner) (*store.Variable, error) {
	var v store.Variable
	var value []byte
	if err := s.Scan(&v.InstanceID, &v.Name, &v.Type, &value, d.timeDest(&v.UpdatedAt), &v.Scope); err != nil {
		return nil, err
	}
	v.Value = value
	v.UpdatedAt = utc(v.UpdatedAt)
	return &v, nil
}

// ScanJob reads a JobCols row.
func (d *Dialect) ScanJob(s Scanner) (*store.Job, error) {
	var j store.Job
	if err := s.Scan(&j.ID, &j.Kind, &j.Type, &j.InstanceID, &j.TokenID, &j.ElementID, &j.DefinitionID, &j.DefinitionKey,
		&j.Retries, &j.Attempt, d.timeDest(&j.DueAt), &j.Suspended, &j.LockOwner, d.nullTimeDest(&j.LockedUntil),
		&j.Repeat, &j.LastError, &j.ErrorDetails, d.timeDest(&j.CreatedAt)); err != nil {
		return nil, err
	}
	j.DueAt = utc(j.DueAt)
	j.LockedUntil = utcPtr(j.LockedUntil)
	j.CreatedAt = utc(j.CreatedAt)
	return &j, nil
}

// SignalCols are the columns of a signals row, in ScanSignal's order.
const SignalCols = `id, name, variables, upto, last_id, instance_id, delivered, created_at`

// ScanSignal reads a SignalCols row.
func (d *Dialect) ScanSignal(s Scanner) (*store.Signal, error) {
	var sg store.Signal
	if err := s.Scan(&sg.ID, &sg.Name, &sg.Variables, &sg.Upto, &sg.LastID, &sg.InstanceID, &sg.Delivered,
		d.timeDest(&sg.CreatedAt)); err != nil {
		return nil, err
	}
	sg.CreatedAt = utc(sg.CreatedAt)
	return &sg, nil
}

// ScanSubscription reads a SubscriptionCols row.
func (d *Dialect) ScanSubscription(s Scanner) (*store.Subscription, error) {
	var sub store.Subscription
	if err := s.Scan(&sub.ID, &sub.InstanceID, &sub.TokenID, &sub.ElementID, &sub.DefinitionID, &sub.DefinitionKey,
		&sub.MessageName, &sub.CorrelationKey, d.timeDest(&sub.CreatedAt), &sub.Kind); err != nil {
		return nil, err
	}
	sub.CreatedAt = utc(sub.CreatedAt)
	return &sub, nil
}

// ScanUserTask reads a UserTaskCols row.
func (d *Dialect) ScanUserTask(s Scanner) (*store.UserTask, error) {
	var t store.UserTask
	if err := s.Scan(&t.ID, &t.InstanceID, &t.TokenID, &t.ElementID, &t.DefinitionKey, &t.Name, &t.Assignee,
		&t.CandidateGroups, &t.FormKey, &t.State, d.timeDest(&t.CreatedAt), d.nullTimeDest(&t.DueAt),
		d.nullTimeDest(&t.CompletedAt)); err != nil {
		return nil, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	t.DueAt = utcPtr(t.DueAt)
	t.CompletedAt = utcPtr(t.CompletedAt)
	return &t, nil
}

// ScanIncident reads an IncidentCols row.
func (d *Dialect) ScanIncident(s Scanner) (*store.Incident, error) {
	var in store.Incident
	if err := s.Scan(&in.ID, &in.InstanceID, &in.TokenID, &in.ElementID, &in.DefinitionKey, &in.JobID, &in.Type,
		&in.Message, &in.Details, &in.State, d.timeDest(&in.CreatedAt), d.nullTimeDest(&in.ResolvedAt), &in.CauseIncidentID); err != nil {
		return nil, err
	}
	in.CreatedAt = utc(in.CreatedAt)
	in.ResolvedAt = utcPtr(in.ResolvedAt)
	return &in, nil
}

// ScanCompensation reads a CompensationCols row.
func (d *Dialect) ScanCompensation(s Scanner) (*store.Compensation, error) {
	var c store.Compensation
	if err := s.Scan(&c.ID, &c.InstanceID, &c.ScopeID, &c.ElementID, &c.HandlerID, &c.InnerScopeID, &c.Seq,
		&c.ThrowTokenID, &c.Position, d.timeDest(&c.CompletedAt)); err != nil {
		return nil, err
	}
	c.CompletedAt = utc(c.CompletedAt)
	return &c, nil
}

// ScanEvent reads an EventCols row.
func (d *Dialect) ScanEvent(s Scanner) (*store.Event, error) {
	var e store.Event
	var typ string // a plain string takes both drivers' direct scan paths
	var data []byte
	if err := s.Scan(&e.Seq, &e.ID, &e.InstanceID, &e.InstanceSeq, &e.DefinitionID, &e.DefinitionKey, &typ,
		&e.ElementID, &e.ElementType, &e.TokenID, &e.JobID, &e.IncidentID, d.timeDest(&e.Time), &data); err != nil {
		return nil, err
	}
	e.Type = event.Type(typ)
	e.Time = utc(e.Time)
	if data != nil {
		e.Data = data
	}
	return &e, nil
}

// ScanAudit reads an AuditCols row.
func (d *Dialect) ScanAudit(s Scanner) (*store.AuditEntry, error) {
	var a store.AuditEntry
	var req []byte
	if err := s.Scan(&a.ID, d.timeDest(&a.Time), &a.Actor, &a.Command, &a.Target, &a.Reason, &req, &a.Result,
		&a.Error, &a.InstanceID); err != nil {
		return nil, err
	}
	a.Time = utc(a.Time)
	if req != nil {
		a.Request = req
	}
	return &a, nil
}

// ScanStall reads a StallCols row.
func (d *Dialect) ScanStall(s Scanner) (*store.Stall, error) {
	var st store.Stall
	var threshold int64
	if err := s.Scan(&st.ID, &st.TokenID, &st.InstanceID, &st.DefinitionID, &st.DefinitionKey, &st.ElementID,
		d.timeDest(&st.Since), &threshold, &st.Incident, d.timeDest(&st.DetectedAt), &st.State,
		d.nullTimeDest(&st.ClearedAt), &st.Published); err != nil {
		return nil, err
	}
	st.Since, st.DetectedAt, st.ClearedAt = utc(st.Since), utc(st.DetectedAt), utcPtr(st.ClearedAt)
	st.Threshold = time.Duration(threshold) * time.Microsecond
	return &st, nil
}

// ScanStallThreshold reads a StallThresholdCols row.
func (d *Dialect) ScanStallThreshold(s Scanner) (*store.StallThreshold, error) {
	var th store.StallThreshold
	var threshold int64
	if err := s.Scan(&th.DefinitionKey, &th.ElementID, &threshold, d.timeDest(&th.UpdatedAt), &th.UpdatedBy); err != nil {
		return nil, err
	}
	th.Threshold = time.Duration(threshold) * time.Microsecond
	th.UpdatedAt = utc(th.UpdatedAt)
	return &th, nil
}

// ScanRollup reads a RollupCols row.
func (d *Dialect) ScanRollup(s Scanner) (*store.Rollup, error) {
	var r store.Rollup
	if err := s.Scan(&r.Step, &r.DefinitionID, d.timeDest(&r.Bucket), &r.Kind, &r.ElementID,
		&r.Started, &r.Completed, &r.Cancelled, &r.Incidents, &r.Entered, &r.Left, &r.Taken,
		&r.Duration.Count, &r.Duration.SumMs, &r.Duration.MaxMs, &r.Duration.Buckets,
		&r.Waiting.Count, &r.Waiting.SumMs, &r.Waiting.MaxMs, &r.Waiting.Buckets); err != nil {
		return nil, err
	}
	r.Bucket = utc(r.Bucket)
	return &r, nil
}

// ScanParked reads a ParkedCols row.
func (d *Dialect) ScanParked(s Scanner) (*store.ParkedEvent, error) {
	var p store.ParkedEvent
	var typ string
	if err := s.Scan(&p.Seq, &p.ID, &p.InstanceID, &typ, &p.Bytes, &p.Reason, &p.Placeholder,
		d.timeDest(&p.ParkedAt)); err != nil {
		return nil, err
	}
	p.Type = event.Type(typ)
	p.ParkedAt = utc(p.ParkedAt)
	return &p, nil
}

// ScanWaitingToken reads a row of a driver's WaitingTokens query: token id, instance id,
// element id, arrival time, whether an incident holds it.
func (d *Dialect) ScanWaitingToken(s Scanner) (*store.WaitingToken, error) {
	var w store.WaitingToken
	if err := s.Scan(&w.TokenID, &w.InstanceID, &w.ElementID, d.timeDest(&w.Since), &w.Incident); err != nil {
		return nil, err
	}
	w.Since = utc(w.Since)
	return &w, nil
}
