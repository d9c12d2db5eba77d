package web

import (
	"sync"
	"time"

	"github.com/cockpit-engine/cockpit/internal/command"
	"github.com/cockpit-engine/cockpit/web/templates/pages"
)

// bulkKeep is how long a finished bulk action's result stays viewable at /actions/{id};
// bulkMaxJobs bounds the registry (the oldest finished ones go first).
const (
	bulkKeep    = 30 * time.Minute
	bulkMaxJobs = 1000
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
	finished time.Time
	done     chan struct{}
}

func newBulkRegistry() *bulkRegistry { return &bulkRegistry{jobs: map[string]*bulkJob{}} }

// add registers a running bulk action; now drives the expiry of finished ones.
func (r *bulkRegistry) add(view pages.BulkProgress, now time.Time) *bulkJob {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evictLocked(now)
	j := &bulkJob{view: view, done: make(chan struct{})}
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
	v := j.view
	v.Errors = append([]pages.BulkItemError(nil), j.view.Errors...)
	return v, true
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
