package command

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/internal/incidents"
)

// incident.retry-bulk runs the incident queue's bulk retry (incidents.Retry: one engine
// command per incident, each failing alone) in audited chunks, BulkConcurrency at a
// time, which the engine's group commit turns into few store transactions. (An
// operation of kind incident.retry runs the same retry, stored and on every node.)

func runRetryIncidents(ctx context.Context, s *Service, r *BulkRetryRequest, x *call) (any, error) {
	if r.Retries < 0 {
		return nil, errorf(CodeInvalidInput, "field \"retries\": %d is negative", r.Retries)
	}
	ids, matched, err := s.selectIncidents(ctx, r)
	if err != nil {
		return nil, err
	}
	res := &BulkRetryResult{RequestID: x.requestID, Matched: matched, Selected: len(ids)}
	prog := Progress{RequestID: x.requestID, Command: x.verb, Total: len(ids)}
	s.publishProgress(prog)
	opts := incidents.RetryOptions{Variables: r.Variables, Retries: r.Retries}
	var auditErr error
	for start := 0; start < len(ids); start += s.opts.BulkChunkSize {
		if ctx.Err() != nil {
			break
		}
		chunk := ids[start:min(start+s.opts.BulkChunkSize, len(ids))]
		audit := make([]*store.AuditEntry, 0, len(chunk))
		for _, id := range chunk {
			audit = append(audit, &store.AuditEntry{
				ID: newID(), Time: s.clock.Now(), Actor: x.actor, Command: x.verb, Target: id, Reason: x.reason,
				Request: itemRequest(x.requestID, id),
			})
		}
		// No item runs without its audit row (see audit.go): stop here.
		if auditErr = s.beginAudit(audit...); auditErr != nil {
			s.log.Error("bulk retry stopped", "request_id", x.requestID, "err", auditErr)
			break
		}
		errs := incidents.Retry(ctx, s.e, chunk, opts, s.opts.BulkConcurrency)
		for i, id := range chunk {
			a := audit[i]
			a.Result = "ok"
			prog.Done++
			if errs[i] == nil {
				res.Retried++
				prog.Succeeded++
			} else {
				rep := s.fail(x, errs[i])
				a.Result, a.Error = string(rep.code), rep.detail
				res.Failed++
				prog.Failed++
				if rep.code == CodeUnavailable {
					res.Incomplete = true
				}
				if len(res.Errors) < MaxItemErrors {
					res.Errors = append(res.Errors, ItemError{ID: id, Code: rep.code, Message: rep.msg})
				} else {
					res.ErrorsTruncated = true
				}
			}
		}
		s.finishAudit(audit...)
		s.publishProgress(prog)
	}
	if prog.Done < len(ids) {
		res.Incomplete = true
	}
	prog.Finished = true
	s.publishProgress(prog)
	if auditErr != nil && prog.Done == 0 {
		return nil, auditErr // nothing ran: the command failed as a whole
	}
	return res, nil
}

// selectIncidents resolves a bulk selection to incident ids, oldest first, and says how
// many matched before the cap. The incident queue reads every match (keyset pages), so
// matched is exact.
func (s *Service) selectIncidents(ctx context.Context, r *BulkRetryRequest) (ids []string, matched int, err error) {
	limit := r.Max
	if limit == 0 {
		limit = DefaultBulkMax
	}
	if limit < 0 || limit > MaxBulk {
		return nil, 0, errorf(CodeInvalidInput, "field \"max\": %d is not between 1 and %d", r.Max, MaxBulk)
	}
	f := r.Filter()
	filtered := !f.IsZero()
	if len(r.IncidentIDs) > 0 {
		if filtered || r.All {
			return nil, 0, errorf(CodeInvalidInput, "give either \"incidentIds\" or a filter, not both")
		}
		seen := make(map[string]bool, len(r.IncidentIDs))
		for i, id := range r.IncidentIDs {
			if strings.TrimSpace(id) == "" {
				return nil, 0, errorf(CodeInvalidInput, "field \"incidentIds\"[%d] is empty", i)
			}
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		if len(ids) > limit {
			return nil, 0, errorf(CodeInvalidInput, "field \"incidentIds\" lists %d incidents, more than max %d", len(ids), limit)
		}
		return ids, len(ids), nil
	}
	if !filtered && !r.All {
		return nil, 0, errorf(CodeInvalidInput, "nothing selected: give \"incidentIds\", a filter (\"definitionKey\", \"elementId\", \"type\", \"messageContains\", \"errorCode\", \"fingerprint\") or \"all\": true")
	}
	sel, err := incidents.Select(ctx, s.e.Store(), f, s.clock.Now(), limit)
	if errors.Is(err, incidents.ErrInvalid) {
		return nil, 0, errorf(CodeInvalidInput, "%v", err)
	}
	if err != nil {
		return nil, 0, err
	}
	return sel.IDs(), sel.Matched, nil
}

// Filter is the incident queue's filter of a bulk selection: open incidents.
func (r *BulkRetryRequest) Filter() incidents.Filter {
	return incidents.Filter{State: store.IncidentOpen, DefinitionKey: r.DefinitionKey, ElementID: r.ElementID, Type: r.Type,
		MessageContains: r.MessageContains, ErrorCode: r.ErrorCode, Fingerprint: r.Fingerprint}
}

// itemRequest is the audit request of one item of a bulk retry: it leads back to the
// bulk command's own row through the request id.
func itemRequest(requestID, incidentID string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"requestId": requestID, "incidentId": incidentID})
	return b
}

// publishProgress tells watchers how far a bulk command is. Progress is best effort: a
// lost message only makes a progress bar jump.
func (s *Service) publishProgress(p Progress) {
	b, err := json.Marshal(p)
	if err == nil {
		err = s.nc.Publish(ProgressSubject(s.opts.Prefix, p.RequestID), b)
	}
	if err != nil {
		s.log.Warn("publish command progress", "request_id", p.RequestID, "err", err)
	}
}
