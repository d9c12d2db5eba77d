package camunda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/auth"
	"github.com/cockpit-engine/cockpit/internal/engine"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// External tasks are the engine's service jobs: a task's topicName is its job type
// (camunda:topic of a camunda:type="external" service task), its id the job's key, and
// its lock the job's lock in the store, in the worker's name (engine.WorkerOwner), so
// NATS workers, these clients and in-process handlers share one queue and one set of
// rules. A task is named by its id alone; the lock an outcome is for is the one the
// store holds now, and it must be the calling worker's.

// maxLongPoll bounds how long a fetchAndLock waits: below the HTTP server's write
// timeout (a minute, internal/app), which would cut off an answer written after it.
const maxLongPoll = 50 * time.Second

// fetchRequest is fetchAndLock's body.
type fetchRequest struct {
	WorkerID             string         `json:"workerId"`
	MaxTasks             *int           `json:"maxTasks"`
	UsePriority          bool           `json:"usePriority"`
	AsyncResponseTimeout *int64         `json:"asyncResponseTimeout"`
	Topics               []topicRequest `json:"topics"`
}

// topicRequest is one topic of a fetchAndLock.
type topicRequest struct {
	TopicName                   string                     `json:"topicName"`
	LockDuration                *int64                     `json:"lockDuration"`
	Variables                   []string                   `json:"variables"`
	LocalVariables              bool                       `json:"localVariables"`
	BusinessKey                 string                     `json:"businessKey"`
	ProcessDefinitionID         string                     `json:"processDefinitionId"`
	ProcessDefinitionIDIn       []string                   `json:"processDefinitionIdIn"`
	ProcessDefinitionKey        string                     `json:"processDefinitionKey"`
	ProcessDefinitionKeyIn      []string                   `json:"processDefinitionKeyIn"`
	ProcessDefinitionVersionTag string                     `json:"processDefinitionVersionTag"`
	ProcessVariables            map[string]json.RawMessage `json:"processVariables"`
	WithoutTenantID             bool                       `json:"withoutTenantId"`
	TenantIDIn                  []string                   `json:"tenantIdIn"`
	DeserializeValues           bool                       `json:"deserializeValues"`
	IncludeExtensionProperties  bool                       `json:"includeExtensionProperties"`
}

// lockedTask is Camunda's LockedExternalTaskDto.
type lockedTask struct {
	taskDTO
	Variables           map[string]variable `json:"variables"`
	ExtensionProperties map[string]string   `json:"extensionProperties"`
}

// taskDTO is Camunda's ExternalTaskDto.
type taskDTO struct {
	ActivityID                  string `json:"activityId"`
	ActivityInstanceID          string `json:"activityInstanceId"`
	ErrorMessage                any    `json:"errorMessage"`
	ErrorDetails                any    `json:"errorDetails,omitempty"`
	ExecutionID                 string `json:"executionId"`
	ID                          string `json:"id"`
	LockExpirationTime          any    `json:"lockExpirationTime"`
	CreateTime                  any    `json:"createTime"`
	ProcessDefinitionID         string `json:"processDefinitionId"`
	ProcessDefinitionKey        string `json:"processDefinitionKey"`
	ProcessDefinitionVersionTag any    `json:"processDefinitionVersionTag"`
	ProcessInstanceID           string `json:"processInstanceId"`
	Retries                     any    `json:"retries"`
	Suspended                   bool   `json:"suspended"`
	WorkerID                    any    `json:"workerId"`
	TopicName                   string `json:"topicName"`
	TenantID                    any    `json:"tenantId"`
	Priority                    int64  `json:"priority"`
	BusinessKey                 any    `json:"businessKey"`
}

// newTaskDTO describes a job row as Camunda describes an external task. Retries are
// null until a failure set them, as in Camunda (clients compute the next retries from
// them: a first failure finds null); a lock that has ended shows no worker.
func newTaskDTO(j *store.Job, businessKey string) taskDTO {
	d := taskDTO{ActivityID: j.ElementID, ActivityInstanceID: j.ElementID + ":" + j.TokenID, ExecutionID: j.InstanceID, ID: j.ID,
		CreateTime: formatDate(j.CreatedAt), ProcessDefinitionID: j.DefinitionID, ProcessDefinitionKey: j.DefinitionKey,
		ProcessInstanceID: j.InstanceID, Suspended: j.Suspended, TopicName: j.Type}
	if j.LastError != "" {
		d.ErrorMessage = j.LastError
	}
	if j.Attempt > 0 || j.Retries <= 0 {
		d.Retries = j.Retries
	}
	if ref, ok := engine.WorkerLock(j); ok {
		d.WorkerID, d.LockExpirationTime = ref.Worker, formatDate(ref.Deadline)
	}
	if businessKey != "" {
		d.BusinessKey = businessKey
	}
	return d
}

// fetchAndLock locks up to maxTasks tasks of the topics for the worker. With
// asyncResponseTimeout it waits (a long poll) until a task is due or the time is up, and
// answers as soon as one is: a task committed on any node wakes it.
func (s *Server) fetchAndLock(w http.ResponseWriter, r *http.Request) error {
	var req fetchRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	switch {
	case req.WorkerID == "":
		return badRequest("workerId is required")
	case req.MaxTasks == nil:
		return badRequest("maxTasks is required")
	case *req.MaxTasks < 0 || *req.MaxTasks > engine.MaxActivateJobs:
		return badRequest("maxTasks must be 0 to %d (the most one fetch locks), not %d", engine.MaxActivateJobs, *req.MaxTasks)
	case len(req.Topics) > engine.MaxWorkerTypes:
		return badRequest("at most %d topics, not %d", engine.MaxWorkerTypes, len(req.Topics))
	}
	if err := s.mayTake(r, req.Topics); err != nil {
		return err
	}
	if *req.MaxTasks == 0 || len(req.Topics) == 0 {
		writeJSON(w, http.StatusOK, []lockedTask{})
		return nil
	}
	topics, byTopic, err := engineTopics(req.Topics)
	if err != nil {
		return err
	}
	if len(topics) == 0 { // every topic's filters select nothing
		writeJSON(w, http.StatusOK, []lockedTask{})
		return nil
	}
	var wait time.Duration
	if req.AsyncResponseTimeout != nil {
		if *req.AsyncResponseTimeout < 0 {
			return badRequest("asyncResponseTimeout must not be negative")
		}
		// Camunda takes up to 30 minutes; a long poll here ends after maxLongPoll with
		// no tasks, and the client asks again.
		wait = min(time.Duration(*req.AsyncResponseTimeout)*time.Millisecond, maxLongPoll)
	}
	ctx := r.Context()
	if wait > 0 {
		select {
		case s.waiting <- struct{}{}:
			defer func() { <-s.waiting }()
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			stop := context.AfterFunc(s.waits, cancel)
			defer stop()
		default:
			wait = 0 // too many wait already: answer at once
		}
	}
	jobs, err := s.o.Engine.ActivateTopics(ctx, req.WorkerID, *req.MaxTasks, wait, topics)
	if err != nil {
		return err
	}
	out := make([]lockedTask, len(jobs))
	for i, j := range jobs {
		t := byTopic[j.Type]
		rows := j.Rows
		if t.LocalVariables {
			rows = j.Local
		}
		if ref, ok := engine.WorkerLock(j.Row); ok {
			s.locks.put(ref)
		}
		out[i] = lockedTask{taskDTO: newTaskDTO(j.Row, j.BusinessKey), Variables: fromRows(rows, t.DeserializeValues),
			ExtensionProperties: map[string]string{}}
		if t.IncludeExtensionProperties && j.Headers != nil {
			out[i].ExtensionProperties = j.Headers
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// mayTake refuses topics an API token limited to some job types may not take.
func (s *Server) mayTake(r *http.Request, topics []topicRequest) error {
	id := auth.FromContext(r.Context())
	if id == nil || len(id.JobTypes) == 0 {
		return nil
	}
	for _, t := range topics {
		if !slices.Contains(id.JobTypes, t.TopicName) {
			return &apiError{http.StatusForbidden, "AuthorizationException",
				fmt.Sprintf("the API token may take the topics %v, not %q", id.JobTypes, t.TopicName)}
		}
	}
	return nil
}

// engineTopics turns a fetch's topics into the engine's: one per topic and process
// version or key it is limited to (Camunda's …In lists). byTopic finds a task's topic
// again; a topic name given twice is refused, as Camunda refuses it.
func engineTopics(in []topicRequest) ([]engine.ActivateRequest, map[string]topicRequest, error) {
	byTopic := make(map[string]topicRequest, len(in))
	var out []engine.ActivateRequest
	for _, t := range in {
		if t.TopicName == "" {
			return nil, nil, badRequest("a topic needs a topicName")
		}
		if _, dup := byTopic[t.TopicName]; dup {
			return nil, nil, badRequest("topic %q is given twice", t.TopicName)
		}
		byTopic[t.TopicName] = t
		if t.LockDuration == nil || *t.LockDuration <= 0 {
			return nil, nil, badRequest("topic %q: lockDuration must be a positive number of milliseconds", t.TopicName)
		}
		lock := time.Duration(*t.LockDuration) * time.Millisecond
		if lock > engine.MaxJobLock {
			return nil, nil, badRequest("topic %q: lockDuration must be at most %d ms (%s)", t.TopicName, engine.MaxJobLock.Milliseconds(), engine.MaxJobLock)
		}
		lock = max(lock, engine.MinJobLock) // the store's lock is at least a second
		if t.ProcessDefinitionVersionTag != "" || len(t.TenantIDIn) > 0 {
			continue // Cockpit has no version tags and no tenants: nothing matches
		}
		vars, err := plainValues(t.TopicName, t.ProcessVariables)
		if err != nil {
			return nil, nil, err
		}
		ids, ok := oneOf(t.ProcessDefinitionID, t.ProcessDefinitionIDIn)
		if !ok {
			continue
		}
		keys, ok := oneOf(t.ProcessDefinitionKey, t.ProcessDefinitionKeyIn)
		if !ok {
			continue
		}
		var names []string
		if t.Variables != nil {
			names = slices.Clone(t.Variables)
		}
		for _, id := range ids {
			for _, key := range keys {
				r := engine.ActivateRequest{Types: []string{t.TopicName}, LockFor: lock, ProcessKey: key, DefinitionID: id,
					BusinessKey: t.BusinessKey, ProcessVariables: vars, Variables: names}
				// Topics that differ only in their name are one selection of several job
				// types: one look at the store (one transaction) instead of one each.
				if i := slices.IndexFunc(out, func(o engine.ActivateRequest) bool { return sameSelection(o, r) }); i >= 0 {
					out[i].Types = append(out[i].Types, t.TopicName)
					continue
				}
				out = append(out, r)
			}
		}
	}
	if len(out) > engine.MaxWorkerTypes {
		return nil, nil, badRequest("the topics and their process definition lists make %d selections, more than the limit of %d", len(out), engine.MaxWorkerTypes)
	}
	return out, byTopic, nil
}

// sameSelection reports whether two engine topics select and lock alike (their job
// types aside). Topics with a process variables filter are never merged.
func sameSelection(a, b engine.ActivateRequest) bool {
	return a.LockFor == b.LockFor && a.ProcessKey == b.ProcessKey && a.DefinitionID == b.DefinitionID &&
		a.BusinessKey == b.BusinessKey && a.ProcessVariables == nil && b.ProcessVariables == nil &&
		(a.Variables == nil) == (b.Variables == nil) && slices.Equal(a.Variables, b.Variables)
}

// oneOf is the values a filter of one value and a list of values allows: [""] for no
// filter; ok false when they allow nothing (both given, and the one not in the list).
func oneOf(one string, list []string) ([]string, bool) {
	switch {
	case len(list) == 0:
		return []string{one}, true
	case one == "":
		slices.Sort(list)
		return slices.Compact(slices.Clone(list)), true
	case slices.Contains(list, one):
		return []string{one}, true
	}
	return nil, false
}

// plainValues reads processVariables: plain JSON values (Camunda takes them untyped
// here), a typed one also taken.
func plainValues(topic string, in map[string]json.RawMessage) (map[string]any, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(in))
	for name, raw := range in {
		var typed variable
		if store.ValueType(raw) == store.TypeObject && json.Unmarshal(raw, &typed) == nil && typed.Type != "" {
			v, err := typed.engineValue()
			if err != nil {
				return nil, badRequest("topic %q: processVariables %q: %v", topic, name, err)
			}
			out[name] = v
			continue
		}
		out[name] = raw
	}
	return out, nil
}

// Outcomes.

// lockedBy is the lock an outcome of workerID for task id is for: the one the store holds
// now, which must be that worker's (500, as Camunda answers, when it is another's or
// none: "External Task … cannot be completed by worker …").
func (s *Server) lockedBy(ctx context.Context, id, workerID, verb string) (engine.JobRef, error) {
	if workerID == "" {
		return engine.JobRef{}, badRequest("workerId is required")
	}
	j, err := s.o.Engine.LookupJob(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return engine.JobRef{}, taskNotFound(id)
	}
	if err != nil {
		return engine.JobRef{}, err
	}
	ref, ok := engine.WorkerLock(j)
	if !ok || ref.Worker != workerID {
		holder := "null"
		if ok {
			holder = ref.Worker
		}
		return engine.JobRef{}, &apiError{http.StatusInternalServerError, "RestException",
			fmt.Sprintf("External Task %s cannot be %s by worker '%s'. It is locked by worker '%s'.", id, verb, workerID, holder)}
	}
	return ref, nil
}

// report runs an outcome of workerID on task id with the lock it is for: the one this
// node handed out (locks), else the one the store holds (lockedBy). A remembered lock
// that is not the task's any more (extended on another node, taken again, the task gone)
// makes the engine answer ErrLostLock; then the store's is read and the outcome tried
// once more. A reported task's lock is forgotten.
func (s *Server) report(ctx context.Context, id, workerID, verb string, do func(engine.JobRef) error) (engine.JobRef, error) {
	if workerID == "" {
		return engine.JobRef{}, badRequest("workerId is required")
	}
	if ref, ok := s.locks.get(id, workerID); ok {
		err := do(ref)
		if !errors.Is(err, engine.ErrLostLock) {
			s.locks.drop(id)
			return ref, err
		}
	}
	s.locks.drop(id)
	ref, err := s.lockedBy(ctx, id, workerID, verb)
	if err != nil {
		return ref, err
	}
	return ref, do(ref)
}

// maxRemembered bounds the locks a node remembers (lockCache): past it they are all
// forgotten, and outcomes read their lock from the store until fetches fill it again.
const maxRemembered = 1 << 16

// lockCache remembers the locks this node's fetches handed out, by task id, so that an
// outcome needs no read of the job to name its lock. It is only a shortcut: the engine
// checks every outcome's lock against the store.
type lockCache struct {
	mu sync.Mutex
	m  map[string]engine.JobRef
}

func (c *lockCache) put(ref engine.JobRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxRemembered {
		c.m = make(map[string]engine.JobRef)
	}
	c.m[ref.Key] = ref
}

func (c *lockCache) get(key, worker string) (engine.JobRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref, ok := c.m[key]
	return ref, ok && ref.Worker == worker
}

func (c *lockCache) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

func taskNotFound(id string) error {
	return notFound("External task with id %s does not exist", id)
}

// outcome answers an engine outcome: 204; the task gone meanwhile (its instance moved
// on or was cancelled) 404, as Camunda; the lock taken meanwhile 500 as lockedBy.
func (s *Server) outcome(w http.ResponseWriter, ref engine.JobRef, verb string, err error) error {
	switch {
	case err == nil, errors.Is(err, engine.ErrDuplicateOutcome):
		noContent(w)
		return nil
	case errors.Is(err, engine.ErrInvalidState):
		return taskNotFound(ref.Key)
	case errors.Is(err, engine.ErrLostLock):
		return &apiError{http.StatusInternalServerError, "RestException",
			fmt.Sprintf("External Task %s cannot be %s by worker '%s': its lock ended and it was taken again, or its instance moved on.", ref.Key, verb, ref.Worker)}
	}
	return err
}

type completeRequest struct {
	WorkerID       string              `json:"workerId"`
	Variables      map[string]variable `json:"variables"`
	LocalVariables map[string]variable `json:"localVariables"`
}

// completeTask completes a task: its variables are set (or seen by the task's output
// mappings, with the local ones) and the token moves on.
func (s *Server) completeTask(w http.ResponseWriter, r *http.Request) error {
	var req completeRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	vars, err := toEngine("variables", req.Variables)
	if err != nil {
		return err
	}
	local, err := toEngine("localVariables", req.LocalVariables)
	if err != nil {
		return err
	}
	ctx := context.WithoutCancel(r.Context())
	ref, err := s.report(ctx, r.PathValue("id"), req.WorkerID, "completed", func(ref engine.JobRef) error {
		return s.o.Engine.CompleteJobLocal(ctx, ref, vars, local)
	})
	return s.outcome(w, ref, "completed", err)
}

type failureRequest struct {
	WorkerID     string `json:"workerId"`
	ErrorMessage string `json:"errorMessage"`
	ErrorDetails string `json:"errorDetails"`
	Retries      *int   `json:"retries"`
	RetryTimeout *int64 `json:"retryTimeout"`
}

// failTask records a failed attempt: with retries left the task is offered again after
// retryTimeout; with none (retries 0) an incident opens with the message and details.
func (s *Server) failTask(w http.ResponseWriter, r *http.Request) error {
	var req failureRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	f := engine.JobFailure{Message: req.ErrorMessage, Details: req.ErrorDetails, Retries: req.Retries}
	if req.Retries != nil && (*req.Retries < 0 || *req.Retries > engine.MaxWorkerRetries) {
		return badRequest("retries must be 0 to %d, not %d", engine.MaxWorkerRetries, *req.Retries)
	}
	if req.RetryTimeout != nil {
		if *req.RetryTimeout < 0 || time.Duration(*req.RetryTimeout)*time.Millisecond > engine.MaxWorkerBackoff {
			return badRequest("retryTimeout must be 0 to %d ms (%s)", engine.MaxWorkerBackoff.Milliseconds(), engine.MaxWorkerBackoff)
		}
		f.Backoff = time.Duration(*req.RetryTimeout) * time.Millisecond
		if f.Backoff == 0 && req.Retries != nil && *req.Retries > 0 {
			// Camunda offers the task again at once; the engine's 0 means "the task's
			// policy", so ask for the shortest backoff instead.
			f.Backoff = time.Millisecond
		}
	}
	ctx := context.WithoutCancel(r.Context())
	ref, err := s.report(ctx, r.PathValue("id"), req.WorkerID, "failed", func(ref engine.JobRef) error {
		return s.o.Engine.FailJob(ctx, ref, f)
	})
	return s.outcome(w, ref, "failed", err)
}

type bpmnErrorRequest struct {
	WorkerID     string              `json:"workerId"`
	ErrorCode    string              `json:"errorCode"`
	ErrorMessage string              `json:"errorMessage"`
	Variables    map[string]variable `json:"variables"`
}

// bpmnError throws a BPMN error from the task: its variables are set, then a boundary
// error event with the code catches it (an incident when none does).
func (s *Server) bpmnError(w http.ResponseWriter, r *http.Request) error {
	var req bpmnErrorRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.ErrorCode == "" {
		return badRequest("errorCode is required")
	}
	vars, err := toEngine("variables", req.Variables)
	if err != nil {
		return err
	}
	ctx := context.WithoutCancel(r.Context())
	ref, err := s.report(ctx, r.PathValue("id"), req.WorkerID, "reported", func(ref engine.JobRef) error {
		return s.o.Engine.ThrowJobError(ctx, ref, req.ErrorCode, req.ErrorMessage, vars)
	})
	return s.outcome(w, ref, "reported", err)
}

type extendRequest struct {
	WorkerID    string `json:"workerId"`
	NewDuration *int64 `json:"newDuration"`
}

// extendLock moves the end of the worker's lock to newDuration from now.
func (s *Server) extendLock(w http.ResponseWriter, r *http.Request) error {
	var req extendRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	lock, err := lockDuration("newDuration", req.NewDuration)
	if err != nil {
		return err
	}
	ctx := context.WithoutCancel(r.Context())
	var until time.Time
	ref, err := s.report(ctx, r.PathValue("id"), req.WorkerID, "extended", func(ref engine.JobRef) error {
		var err error
		until, err = s.o.Engine.ExtendJobLock(ctx, ref, lock)
		return err
	})
	if err == nil {
		ref.Deadline = until
		s.locks.put(ref) // the lock the next outcome names
	}
	return s.outcome(w, ref, "extended", err)
}

type lockRequest struct {
	WorkerID     string `json:"workerId"`
	LockDuration *int64 `json:"lockDuration"`
}

// lockTask locks one task for the worker (or moves the worker's own lock).
func (s *Server) lockTask(w http.ResponseWriter, r *http.Request) error {
	var req lockRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if req.WorkerID == "" {
		return badRequest("workerId is required")
	}
	lock, err := lockDuration("lockDuration", req.LockDuration)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	s.locks.drop(id)
	_, err = s.o.Engine.LockJob(context.WithoutCancel(r.Context()), req.WorkerID, id, lock)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return taskNotFound(id)
	case errors.Is(err, engine.ErrLostLock), errors.Is(err, engine.ErrInvalidState):
		return badRequest("External Task %s cannot be locked by worker '%s': %v", id, req.WorkerID, err)
	case err != nil:
		return err
	}
	noContent(w)
	return nil
}

// unlockTask gives a task back unharmed, whoever holds it (Camunda's unlock names no
// worker): it is offered again at once. A task no worker holds is left as it is.
func (s *Server) unlockTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	ctx := context.WithoutCancel(r.Context())
	j, err := s.o.Engine.LookupJob(ctx, id)
	if errors.Is(err, engine.ErrNotFound) {
		return taskNotFound(id)
	}
	if err != nil {
		return err
	}
	ref, ok := engine.WorkerLock(j)
	if !ok {
		noContent(w)
		return nil
	}
	s.locks.drop(id)
	return s.outcome(w, ref, "unlocked", s.o.Engine.ReturnJob(ctx, ref))
}

// lockDuration reads a lock duration in milliseconds (at least engine.MinJobLock is
// kept: the store's locks are at least a second).
func lockDuration(field string, ms *int64) (time.Duration, error) {
	if ms == nil || *ms <= 0 {
		return 0, badRequest("%s must be a positive number of milliseconds", field)
	}
	d := time.Duration(*ms) * time.Millisecond
	if d > engine.MaxJobLock {
		return 0, badRequest("%s must be at most %d ms (%s)", field, engine.MaxJobLock.Milliseconds(), engine.MaxJobLock)
	}
	return max(d, engine.MinJobLock), nil
}

// Queries.

// taskQuery reads the filters of GET /external-task (query parameters) or of its POST
// form (a JSON body with the same names).
type taskQuery struct {
	ExternalTaskID       string `json:"externalTaskId"`
	TopicName            string `json:"topicName"`
	WorkerID             string `json:"workerId"`
	Locked               bool   `json:"locked"`
	NotLocked            bool   `json:"notLocked"`
	WithRetriesLeft      bool   `json:"withRetriesLeft"`
	NoRetriesLeft        bool   `json:"noRetriesLeft"`
	ActivityID           string `json:"activityId"`
	ExecutionID          string `json:"executionId"`
	ProcessInstanceID    string `json:"processInstanceId"`
	ProcessDefinitionID  string `json:"processDefinitionId"`
	ProcessDefinitionKey string `json:"processDefinitionKey"`
	FirstResult          int    `json:"firstResult"`
	MaxResults           *int   `json:"maxResults"`
}

func (s *Server) readTaskQuery(w http.ResponseWriter, r *http.Request) (store.JobFilter, error) {
	var q taskQuery
	if r.Method == http.MethodPost {
		if err := decode(w, r, &q); err != nil {
			return store.JobFilter{}, err
		}
	} else {
		v := r.URL.Query()
		q = taskQuery{ExternalTaskID: v.Get("externalTaskId"), TopicName: v.Get("topicName"), WorkerID: v.Get("workerId"),
			ActivityID: v.Get("activityId"), ExecutionID: v.Get("executionId"), ProcessInstanceID: v.Get("processInstanceId"),
			ProcessDefinitionID: v.Get("processDefinitionId"), ProcessDefinitionKey: v.Get("processDefinitionKey")}
		for name, p := range map[string]*bool{"locked": &q.Locked, "notLocked": &q.NotLocked, "withRetriesLeft": &q.WithRetriesLeft, "noRetriesLeft": &q.NoRetriesLeft} {
			if s := v.Get(name); s != "" {
				b, err := strconv.ParseBool(s)
				if err != nil {
					return store.JobFilter{}, badRequest("%s must be true or false, not %q", name, s)
				}
				*p = b
			}
		}
		var err error
		if q.FirstResult, q.MaxResults, err = page(v.Get("firstResult"), v.Get("maxResults")); err != nil {
			return store.JobFilter{}, err
		}
	}
	if q.ExecutionID != "" {
		if q.ProcessInstanceID != "" && q.ProcessInstanceID != q.ExecutionID {
			return store.JobFilter{}, errNoMatch
		}
		q.ProcessInstanceID = q.ExecutionID // an execution here is its instance
	}
	f := store.JobFilter{Kind: store.JobService, ID: q.ExternalTaskID, Type: q.TopicName, ElementID: q.ActivityID,
		InstanceID: q.ProcessInstanceID, DefinitionID: q.ProcessDefinitionID, DefinitionKey: q.ProcessDefinitionKey,
		Now: s.o.Engine.Clock().Now(), Offset: q.FirstResult, Limit: maxResults}
	if q.MaxResults != nil {
		f.Limit = *q.MaxResults
	}
	if q.WorkerID != "" {
		f.LockOwner, f.Locked = engine.WorkerOwner(q.WorkerID), ptr(true)
	}
	switch {
	case q.Locked && q.NotLocked, q.WithRetriesLeft && q.NoRetriesLeft:
		return store.JobFilter{}, errNoMatch
	case q.Locked:
		f.Locked = ptr(true)
	case q.NotLocked:
		if q.WorkerID != "" {
			return store.JobFilter{}, errNoMatch
		}
		f.Locked = ptr(false)
	}
	switch {
	case q.WithRetriesLeft:
		f.HasRetries = ptr(true)
	case q.NoRetriesLeft:
		f.HasRetries = ptr(false)
	}
	if f.Offset < 0 || f.Limit < 0 || f.Limit > maxResults {
		return store.JobFilter{}, badRequest("firstResult must be at least 0 and maxResults 0 to %d", maxResults)
	}
	return f, nil
}

// errNoMatch is a query whose filters contradict each other: it selects nothing.
var errNoMatch = errors.New("no task matches")

func ptr[T any](v T) *T { return &v }

// page reads firstResult and maxResults (maxResults at most maxResults; absent: that).
func page(first, most string) (int, *int, error) {
	f := 0
	if first != "" {
		n, err := strconv.Atoi(first)
		if err != nil || n < 0 {
			return 0, nil, badRequest("firstResult must be a whole number of at least 0, not %q", first)
		}
		f = n
	}
	if most == "" {
		return f, nil, nil
	}
	n, err := strconv.Atoi(most)
	if err != nil || n < 0 || n > maxResults {
		return 0, nil, badRequest("maxResults must be 0 to %d (the largest page served), not %q", maxResults, most)
	}
	return f, &n, nil
}

// listTasks lists external tasks (the service jobs), ordered by due time.
func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) error {
	f, err := s.readTaskQuery(w, r)
	if errors.Is(err, errNoMatch) || (err == nil && f.Limit == 0) {
		writeJSON(w, http.StatusOK, []taskDTO{})
		return nil
	}
	if err != nil {
		return err
	}
	jobs, err := s.o.Engine.ListJobs(r.Context(), f)
	if err != nil {
		return err
	}
	out := make([]taskDTO, len(jobs))
	for i, j := range jobs {
		out[i] = newTaskDTO(j, "")
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// countTasks counts the external tasks listTasks would list.
func (s *Server) countTasks(w http.ResponseWriter, r *http.Request) error {
	f, err := s.readTaskQuery(w, r)
	if errors.Is(err, errNoMatch) {
		writeJSON(w, http.StatusOK, map[string]int64{"count": 0})
		return nil
	}
	if err != nil {
		return err
	}
	n, err := s.o.Engine.CountJobs(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int64{"count": n})
	return nil
}

// getTask describes one external task.
func (s *Server) getTask(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	j, err := s.o.Engine.LookupJob(r.Context(), id)
	if errors.Is(err, engine.ErrNotFound) {
		return taskNotFound(id)
	}
	if err != nil {
		return err
	}
	bk := ""
	if inst, err := s.o.Engine.GetInstanceRow(r.Context(), j.InstanceID); err == nil {
		bk = inst.BusinessKey
	}
	d := newTaskDTO(j, bk)
	if j.ErrorDetails != "" {
		d.ErrorDetails = j.ErrorDetails
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}
