package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Client sends commands to the command service. It is safe for concurrent use; the web
// UI holds one and fills in Meta.Actor from the signed-in operator on every call.
//
// A failed command returns an *Error (errors.As) whose Code says why; transport failures
// (the context ended before an answer) return the context's error, wrapped. When the
// context ends first the command may still have run: send it again with the same
// Meta.RequestID to get its answer without running it twice.
type Client struct {
	nc     *nats.Conn
	prefix string
	// service, when set, scopes every request to one service's command services
	// (ServiceSubject); see ForService.
	service string
	// signer, when set, signs every request (WithSigner).
	signer *Signer
	// Timeout bounds calls whose context has no deadline (default 30 s); BulkTimeout
	// does the same for RetryIncidents (default 10 min).
	Timeout     time.Duration
	BulkTimeout time.Duration
}

// NewClient returns a client for the service serving on prefix (empty: "cockpit").
func NewClient(nc *nats.Conn, prefix string) *Client {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Client{nc: nc, prefix: prefix, Timeout: 30 * time.Second, BulkTimeout: 10 * time.Minute}
}

// ForService returns a client that sends every command to the command services of one
// service (<prefix>.cmd.<service>.<verb>), with c's timeouts: whichever engine runs the
// service answers, and no other. When none listens, a command fails with code
// unavailable and ErrServiceNotAnswering ("service orders is not answering"), unsent.
func (c *Client) ForService(service string) *Client {
	sc := *c
	sc.service = service
	return &sc
}

// WithSigner returns a client that signs every request with s (the SignatureHeader a
// command service with trusted keys requires; signed.go).
func (c *Client) WithSigner(s *Signer) *Client {
	sc := *c
	sc.signer = s
	return &sc
}

// Service is the service the client sends to ("" for the unscoped subjects).
func (c *Client) Service() string { return c.service }

// subject is where a verb's requests go.
func (c *Client) subject(verb string) string {
	if c.service != "" {
		return ServiceSubject(c.prefix, c.service, verb)
	}
	return Subject(c.prefix, verb)
}

// RetryIncident resolves an open incident and resumes its token.
func (c *Client) RetryIncident(ctx context.Context, req RetryIncidentRequest) (*RetryIncidentResult, error) {
	return roundTrip[RetryIncidentResult](ctx, c, VerbRetryIncident, &req, c.Timeout)
}

// RetryIncidents retries many open incidents (see BulkRetryRequest). When onProgress is
// set it is called, on one goroutine and in order, with each progress message before
// RetryIncidents returns; a request id is generated for that if req has none.
func (c *Client) RetryIncidents(ctx context.Context, req BulkRetryRequest, onProgress func(Progress)) (*BulkRetryResult, error) {
	if onProgress == nil {
		return roundTrip[BulkRetryResult](ctx, c, VerbRetryIncidents, &req, c.BulkTimeout)
	}
	if req.RequestID == "" {
		req.RequestID = newID()
	}
	if !requestIDPattern.MatchString(req.RequestID) {
		return nil, errorf(CodeInvalidInput, "field \"requestId\": %q must be 1-64 letters, digits, '-' or '_'", req.RequestID)
	}
	ctx, cancel := withDefaultTimeout(ctx, c.BulkTimeout)
	defer cancel()
	// Progress messages are pushed into ch by the connection's reader in the order the
	// service sent them, and the service sends its reply last; so once the reply is in,
	// every progress message is in ch, and draining ch after it loses none.
	ch := make(chan *nats.Msg, 1024)
	sub, err := c.nc.ChanSubscribe(ProgressSubject(c.prefix, req.RequestID), ch)
	if err != nil {
		return nil, fmt.Errorf("%s: subscribe to progress: %w", VerbRetryIncidents, err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	deliver := func(m *nats.Msg) {
		var p Progress
		if json.Unmarshal(m.Data, &p) == nil {
			onProgress(p)
		}
	}
	go func() {
		defer close(done)
		for {
			select {
			case m := <-ch:
				deliver(m)
			case <-stop:
				for {
					select {
					case m := <-ch:
						deliver(m)
					default:
						return
					}
				}
			}
		}
	}()
	// The server must know the subscription before the service publishes the first message.
	if err = c.nc.FlushWithContext(ctx); err != nil {
		err = fmt.Errorf("%s: subscribe to progress: %w", VerbRetryIncidents, err)
	}
	var res *BulkRetryResult
	if err == nil {
		res, err = roundTrip[BulkRetryResult](ctx, c, VerbRetryIncidents, &req, c.BulkTimeout)
	}
	_ = sub.Unsubscribe()
	close(stop)
	<-done
	return res, err
}

// CancelInstance cancels an active or suspended instance; Meta.Reason goes into its history.
func (c *Client) CancelInstance(ctx context.Context, req InstanceRequest) (*InstanceStateResult, error) {
	return roundTrip[InstanceStateResult](ctx, c, VerbCancelInstance, &req, c.Timeout)
}

// ModifyInstance moves an instance's tokens (see ModifyInstanceRequest). A refusal is an
// *Error with code invalid_input or invalid_state that names the step.
func (c *Client) ModifyInstance(ctx context.Context, req ModifyInstanceRequest) (*ModifyInstanceResult, error) {
	return roundTrip[ModifyInstanceResult](ctx, c, VerbModifyInstance, &req, c.Timeout)
}

// PreviewModify runs a modification and rolls it back: the result is what
// ModifyInstance would do now.
func (c *Client) PreviewModify(ctx context.Context, req ModifyInstanceRequest) (*ModifyInstanceResult, error) {
	return roundTrip[ModifyInstanceResult](ctx, c, VerbPreviewModify, &req, c.Timeout)
}

// SuspendInstance stops an instance from moving until ResumeInstance.
func (c *Client) SuspendInstance(ctx context.Context, req InstanceRequest) (*InstanceStateResult, error) {
	return roundTrip[InstanceStateResult](ctx, c, VerbSuspendInstance, &req, c.Timeout)
}

// ResumeInstance undoes SuspendInstance.
func (c *Client) ResumeInstance(ctx context.Context, req InstanceRequest) (*InstanceStateResult, error) {
	return roundTrip[InstanceStateResult](ctx, c, VerbResumeInstance, &req, c.Timeout)
}

// SetVariables sets instance variables. Values must be JSON values: a value that does not
// encode (NaN, a channel) fails here with code invalid_input, before anything is sent.
func (c *Client) SetVariables(ctx context.Context, req SetVariablesRequest) (*SetVariablesResult, error) {
	return roundTrip[SetVariablesResult](ctx, c, VerbSetVariables, &req, c.Timeout)
}

// EvaluateConditions starts an instance at every process conditional start event whose
// condition holds for the request's variables.
func (c *Client) EvaluateConditions(ctx context.Context, req EvaluateConditionsRequest) (*EvaluateConditionsResult, error) {
	return roundTrip[EvaluateConditionsResult](ctx, c, VerbEvaluateConditions, &req, c.Timeout)
}

// BroadcastSignal throws a signal to every instance waiting for it (and every signal
// start event of its name).
func (c *Client) BroadcastSignal(ctx context.Context, req BroadcastSignalRequest) (*BroadcastSignalResult, error) {
	return roundTrip[BroadcastSignalResult](ctx, c, VerbBroadcastSignal, &req, c.Timeout)
}

// CorrelateMessage delivers a message to the instance waiting for it, or starts one.
func (c *Client) CorrelateMessage(ctx context.Context, req CorrelateMessageRequest) (*CorrelateMessageResult, error) {
	return roundTrip[CorrelateMessageResult](ctx, c, VerbCorrelateMessage, &req, c.Timeout)
}

// StartInstance starts an instance of a process.
func (c *Client) StartInstance(ctx context.Context, req StartInstanceRequest) (*StartInstanceResult, error) {
	return roundTrip[StartInstanceResult](ctx, c, VerbStartInstance, &req, c.Timeout)
}

// CompleteTask completes an open user task.
func (c *Client) CompleteTask(ctx context.Context, req CompleteTaskRequest) (*CompleteTaskResult, error) {
	return roundTrip[CompleteTaskResult](ctx, c, VerbCompleteTask, &req, c.Timeout)
}

// SetStallThreshold sets (or, with an empty Threshold, removes) an operator's stall
// threshold for one element of a process.
func (c *Client) SetStallThreshold(ctx context.Context, req StallThresholdRequest) (*StallThresholdResult, error) {
	return roundTrip[StallThresholdResult](ctx, c, VerbStallThreshold, &req, c.Timeout)
}

// AssignIncidents assigns a group of incidents (one fingerprint) to a person.
func (c *Client) AssignIncidents(ctx context.Context, req IncidentGroupRequest) (*IncidentGroupResult, error) {
	return roundTrip[IncidentGroupResult](ctx, c, VerbAssignIncidents, &req, c.Timeout)
}

// UnassignIncidents clears a group's assignment.
func (c *Client) UnassignIncidents(ctx context.Context, req IncidentGroupRequest) (*IncidentGroupResult, error) {
	return roundTrip[IncidentGroupResult](ctx, c, VerbUnassignIncidents, &req, c.Timeout)
}

// NoteIncidents adds a note (or a resolution note) to a group's log.
func (c *Client) NoteIncidents(ctx context.Context, req IncidentGroupRequest) (*IncidentGroupResult, error) {
	return roundTrip[IncidentGroupResult](ctx, c, VerbNoteIncidents, &req, c.Timeout)
}

// roundTrip sends one request and decodes its reply.
func roundTrip[R any](ctx context.Context, c *Client, verb string, req any, timeout time.Duration) (*R, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, errorf(CodeInvalidInput, "%s: request is not JSON: %v", verb, err)
	}
	actor := ""
	if m, ok := req.(commandRequest); ok {
		actor = m.meta().Actor
	}
	raw, err := c.sendAs(ctx, actor, verb, body, timeout)
	if err != nil {
		return nil, err
	}
	var out R
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s: decode result: %w", verb, err)
	}
	return &out, nil
}

// sendAs sends a request body (signed for actor when the client has a signer) and
// returns the result of a successful reply.
func (c *Client) sendAs(ctx context.Context, actor, verb string, body []byte, timeout time.Duration) (json.RawMessage, error) {
	ctx, cancel := withDefaultTimeout(ctx, timeout)
	defer cancel()
	subject := c.subject(verb)
	out := &nats.Msg{Subject: subject, Data: body}
	if c.signer != nil {
		// A signed-in user's role goes with the signature: the command service checks it.
		role := ""
		if id := auth.FromContext(ctx); id != nil && id.Via != "local" {
			role = id.Role.String()
		}
		sig, err := c.signer.sign(actor, role, verb, body)
		if err != nil {
			return nil, fmt.Errorf("%s: sign the request: %w", verb, err)
		}
		out.Header = nats.Header{SignatureHeader: []string{sig}}
	}
	msg, err := c.nc.RequestMsgWithContext(ctx, out)
	switch {
	case errors.Is(err, nats.ErrNoResponders) && c.service != "":
		return nil, &Error{Code: CodeUnavailable, notSent: ErrServiceNotAnswering, Service: c.service,
			Message: fmt.Sprintf("service %s is not answering (no node of it serves commands on %s); the command was not sent", c.service, subject)}
	case errors.Is(err, nats.ErrNoResponders):
		return nil, &Error{Code: CodeUnavailable, notSent: ErrNoService,
			Message: fmt.Sprintf("no command service answers on %s (no engine node serves commands); the command was not sent", subject)}
	case errors.Is(err, nats.ErrReconnectBufExceeded), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting):
		return nil, &Error{Code: CodeUnavailable, notSent: ErrNATSUnavailable,
			Message: fmt.Sprintf("NATS is unavailable (%v); the command was not sent", err)}
	case errors.Is(err, nats.ErrMaxPayload):
		return nil, errorf(CodeInvalidInput, "%s: request of %d bytes is more than the limit of %d bytes (the NATS server's max_payload)",
			verb, len(body), c.nc.MaxPayload())
	case err != nil:
		return nil, fmt.Errorf("%s: %w", verb, err)
	}
	var env envelope
	if err := json.Unmarshal(msg.Data, &env); err != nil || (!env.OK && env.Error == nil) {
		// Not our envelope: some other responder, or a micro-level error.
		if desc := msg.Header.Get(micro.ErrorHeader); desc != "" {
			return nil, errorf(CodeInternal, "%s: service error %s: %s", verb, msg.Header.Get(micro.ErrorCodeHeader), desc)
		}
		return nil, fmt.Errorf("%s: unreadable reply %q", verb, truncate(msg.Data, 200))
	}
	if !env.OK {
		return nil, env.Error
	}
	return env.Result, nil
}

func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// CreateOperation stores a bulk operation (its selection fixed now) and answers at once;
// the engine nodes work it off (see OperationInfo).
func (c *Client) CreateOperation(ctx context.Context, req CreateOperationRequest) (*OperationInfo, error) {
	return roundTrip[OperationInfo](ctx, c, VerbCreateOperation, &req, c.Timeout)
}

// GetOperation describes an operation, with a page of its items when asked.
func (c *Client) GetOperation(ctx context.Context, req OperationRequest) (*OperationInfo, error) {
	return roundTrip[OperationInfo](ctx, c, VerbGetOperation, &req, c.Timeout)
}

// ListOperations lists operations, newest first.
func (c *Client) ListOperations(ctx context.Context, req ListOperationsRequest) (*ListOperationsResult, error) {
	return roundTrip[ListOperationsResult](ctx, c, VerbListOperations, &req, c.Timeout)
}

// CancelOperation stops a running operation: the items that have not run are skipped.
func (c *Client) CancelOperation(ctx context.Context, req OperationRequest) (*OperationInfo, error) {
	return roundTrip[OperationInfo](ctx, c, VerbCancelOperation, &req, c.Timeout)
}
