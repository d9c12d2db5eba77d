package web

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/internal/engine/store"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// bulkKeep is how long a finished bulk action's result stays viewable at /actions/{id};
// bulkMaxJobs bounds the registry (the oldest finished ones go first).
const (
	bulkKeep    = 30 * time.Minute
	bulkMaxJobs = 1000
)

// The outcome that matters after a bulk retry is how many failed again: a retried step
// runs after the command answered, and a failure opens a new incident at the same place.
// The result page checks the open incidents when it is drawn, at most once per
// bulkRecheckEvery per action (however many watch it), and the page keeps asking for
// bulkRecheckFor after the command finished, so the count follows the retried jobs as
// they run; later, a reload checks again.
const (
	bulkRecheckEvery = time.Second
	bulkRecheckFor   = time.Minute
	// bulkStillFailingShown bounds the still-failing incidents listed on the page.
	bulkStillFailingShown = 50
)

// bulkRegistry keeps the progress of the bulk actions this web server started, keyed by
// their command request id, so the progress page can be drawn (and re-drawn by the
// browser) while the command runs in the background. It is per process and in memory:
// the command service's reply and the audit log are the record, this is only the view.
type bulkRegistry struct {
	mu   sync.Mutex
	jobs map[string]*bulkJob
}

type bulkJob struct {
	view     pages.BulkProgress
	items    []bulkItem
	finished time.Time
	checked  time.Time // last still-failing check (zero: never)
	done     chan struct{}
}

// bulkItem is one incident of a bulk retry and where it stood when the retry started.
type bulkItem struct {
	IncidentID, InstanceID, ElementID, DefinitionKey string
}

func newBulkRegistry() *bulkRegistry { return &bulkRegistry{jobs: map[string]*bulkJob{}} }

// add registers a running bulk action; now drives the expiry of finished ones.
func (r *bulkRegistry) add(view pages.BulkProgress, items []bulkItem, now time.Time) *bulkJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evictLocked(now)
	j := &bulkJob{view: view, items: items, done: make(chan struct{})}
	r.jobs[view.ID] = j
	return j
}

// progress records a progress message of the command service.
func (r *bulkRegistry) progress(j *bulkJob, p command.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if j.view.Done {
		return
	}
	j.view.Total, j.view.Completed, j.view.Succeeded, j.view.Failed = p.Total, p.Done, p.Succeeded, p.Failed
}

// finish records the command's reply (or its error) and wakes whoever waits on the job.
func (r *bulkRegistry) finish(j *bulkJob, res *command.BulkRetryResult, err error, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j.view.Done, j.finished = true, now
	if err != nil {
		j.view.Error = commandMessage("The bulk retry", err)
	}
	if res != nil {
		j.view.Matched, j.view.Total = res.Matched, res.Selected
		j.view.Completed, j.view.Succeeded, j.view.Failed = res.Retried+res.Failed, res.Retried, res.Failed
		j.view.Incomplete, j.view.ErrorsTruncated = res.Incomplete, res.ErrorsTruncated
		for _, e := range res.Errors {
			j.view.Errors = append(j.view.Errors, pages.BulkItemError{ID: e.ID, Code: string(e.Code), Message: e.Message})
		}
	}
	close(j.done)
}

// get returns a copy of a job's view, or false when there is none (never, or expired).
func (r *bulkRegistry) get(id string, now time.Time) (pages.BulkProgress, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evictLocked(now)
	j, ok := r.jobs[id]
	if !ok {
		return pages.BulkProgress{}, false
	}
	return copyView(j), true
}

func copyView(j *bulkJob) pages.BulkProgress {
	v := j.view
	v.Errors = append([]pages.BulkItemError(nil), j.view.Errors...)
	v.StillFailingList = append([]pages.BulkStillFailing(nil), j.view.StillFailingList...)
	return v
}

// recheck counts the retried incidents of a finished bulk action (the caller saw it
// done, which it stays) that failed again (an open incident at the same instance and
// element, other than the one retried), unless that was done less than
// bulkRecheckEvery ago, and returns the job's view (false: no such job any more). A
// failed check keeps the last count: the page is drawn anyway.
func (r *bulkRegistry) recheck(ctx context.Context, id string, eng Engine, now time.Time) (pages.BulkProgress, bool) {
	r.mu.Lock()
	j, ok := r.jobs[id]
	if !ok {
		r.mu.Unlock()
		return pages.BulkProgress{}, false
	}
	if !j.checked.IsZero() && now.Sub(j.checked) < bulkRecheckEvery {
		v := copyView(j)
		r.mu.Unlock()
		return v, true
	}
	j.checked = now
	notRetried := make(map[string]bool, len(j.view.Errors))
	for _, e := range j.view.Errors {
		notRetried[e.ID] = true
	}
	var retried []bulkItem
	unchecked := 0
	for _, it := range j.items {
		switch {
		case notRetried[it.IncidentID]:
		case it.InstanceID == "":
			unchecked++ // where it stood is unknown: it neither passes nor fails
		default:
			retried = append(retried, it)
		}
	}
	r.mu.Unlock()

	// Newest first: a retried step's new incident is among the newest. When every
	// retried incident is of one process (the usual bulk selection), read that process's
	// alone.
	f := store.IncidentFilter{State: store.IncidentOpen, Limit: command.MaxBulk}
	for i, it := range retried {
		if i == 0 {
			f.DefinitionKey = it.DefinitionKey
		} else if it.DefinitionKey != f.DefinitionKey {
			f.DefinitionKey = ""
			break
		}
	}
	open, err := eng.ListIncidents(ctx, f)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil {
		type place struct{ instance, element string }
		at := make(map[place][]*store.Incident, len(open))
		for _, in := range open {
			k := place{in.InstanceID, in.ElementID}
			at[k] = append(at[k], in)
		}
		v := &j.view
		v.StillFailing, v.StillFailingList, v.Checked, v.Unchecked = 0, nil, now, unchecked
		var sameDef, sameEl string // "" until the first, "\x00" once they differ
		note := func(cur *string, v string) {
			if *cur == "" {
				*cur = v
			} else if *cur != v {
				*cur = "\x00"
			}
		}
		for _, it := range retried {
			for _, in := range at[place{it.InstanceID, it.ElementID}] {
				if in.ID == it.IncidentID {
					continue
				}
				v.StillFailing++
				note(&sameDef, in.DefinitionKey)
				note(&sameEl, in.DefinitionKey+"\x00"+in.ElementID)
				if len(v.StillFailingList) < bulkStillFailingShown {
					v.StillFailingList = append(v.StillFailingList, pages.BulkStillFailing{
						InstanceID: in.InstanceID, ElementID: in.ElementID, Message: in.Message})
				}
				break
			}
		}
		v.StillFailingHref = stillFailingHref(sameDef, sameEl)
	}
	j.view.Settled = now.Sub(j.finished) >= bulkRecheckFor
	return copyView(j), true
}

// stillFailingHref is the instance list that shows the still-failing incidents'
// instances, with the narrowest filter that holds them all: def is their one process
// and defEl their one process+NUL+element ("\x00" when they differ).
func stillFailingHref(def, defEl string) string {
	if def == "" || def == "\x00" {
		return instancesURL("hasIncident", "true")
	}
	if _, el, ok := strings.Cut(defEl, "\x00"); ok && el != "" {
		return instancesURL("process", def, "waitingAt", el, "hasIncident", "true")
	}
	return instancesURL("process", def, "hasIncident", "true")
}

func (r *bulkRegistry) evictLocked(now time.Time) {
	for id, j := range r.jobs {
		if j.view.Done && now.Sub(j.finished) > bulkKeep {
			delete(r.jobs, id)
		}
	}
	for len(r.jobs) >= bulkMaxJobs {
		var oldest string
		for id, j := range r.jobs {
			if j.view.Done && (oldest == "" || j.finished.Before(r.jobs[oldest].finished)) {
				oldest = id
			}
		}
		if oldest == "" {
			return // all running: let it grow rather than lose a running one
		}
		delete(r.jobs, oldest)
	}
}
