package engine

import "github.com/cockpit-engine/cockpit/internal/engine/store"

// batch is what a command may touch while it runs: the batch's transaction, the instance
// cache, the jobs it pushes to this node's executor and the history events it wrote. The
// committer (committer.go) hands the same batch to each command of a group commit in
// turn, undoes what a failed command left in it (mark, undo), and settles the rest when
// the transaction ends: cache writes applied or dropped, pushed jobs handed over or
// answered void, events to OnCommit. Nothing a command does reaches another goroutine
// before its transaction has committed.
type batch struct {
	tx store.Tx
	// cache is the committer's instance cache; nil: none. Reads see what this batch and
	// the one committing before it staged; writes are staged, applied after the commit.
	cache *instanceCache
	// events are the history events of the batch's commands so far, in order.
	events []*store.Event
	// pushed are the reservations the batch's commands took (see push.go): each is
	// answered once on pushCh, with its job after the commit or void.
	pushed []pushedJob
	pushCh chan<- pushedJob
}

// cached returns the latest state of an instance this node wrote (staged or committed),
// or nil: read it from the store.
func (b *batch) cached(instanceID string) *snapshot {
	if b.cache == nil {
		return nil
	}
	return b.cache.get(instanceID)
}

// evict forgets a cached instance at once: it is behind the store (another node moved
// it, or a write of it failed).
func (b *batch) evict(instanceID string) {
	if b.cache != nil {
		delete(b.cache.entries, instanceID)
	}
}

// wrote records a command's successful Apply: its events, and its instance's new state
// staged for the cache (an ended instance is evicted after the commit).
func (b *batch) wrote(r *run) {
	b.events = append(b.events, r.events...)
	if b.cache != nil {
		if r.ended() {
			b.cache.stage(r.inst.ID, nil)
		} else {
			b.cache.stage(r.inst.ID, r.snapshot())
		}
	}
}

// lockedJob records a job lock this node took, to be patched into its cached instance
// after the commit.
func (b *batch) lockedJob(j *store.Job) {
	if b.cache != nil {
		b.cache.stageLock(j)
	}
}

// push records a pushed-job reservation (a job nil: one whose command is failing).
func (b *batch) push(p pushedJob) { b.pushed = append(b.pushed, p) }

// batchMark is where a command started in its batch's bookkeeping.
type batchMark struct{ events, pushed, cache int }

func (b *batch) mark() batchMark {
	return batchMark{events: len(b.events), pushed: len(b.pushed), cache: b.cacheMark()}
}

// undo drops what a failed command left in the batch: its events and staged cache writes
// (the entries it touched evicted), and its reservations, answered void at once.
func (b *batch) undo(m batchMark) {
	b.events = b.events[:m.events]
	answerPushed(b.pushCh, b.pushed[m.pushed:], false)
	b.pushed = b.pushed[:m.pushed]
	if b.cache != nil {
		b.cache.rollback(m.cache)
	}
}

func (b *batch) cacheMark() int {
	if b.cache == nil {
		return 0
	}
	return b.cache.mark()
}
