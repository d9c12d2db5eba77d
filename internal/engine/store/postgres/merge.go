package postgres

import (
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// A group commit applies many commands' Changes in one transaction. Sent one by one, each
// Change costs five to eight statements, and the committer's backend spends most of its
// time executing statements, not writing rows. So the deferred Changes that reach the
// server together (between two control statements) are merged into one Change's worth of
// multi-row statements: one instance update, one token delete and upsert, one events
// insert, and so on, whatever the number of commands. Merging keeps what sending them in
// order would leave behind: per row the last write wins, deletes and puts in the order the
// commands made them.

// merged is the net effect of a run of Changes.
type merged struct {
	inserts []*store.Instance // instances created in the run, in their final state
	// updates are instances changed in the run; base is the version each must have in
	// the table (the first change's version check).
	updates []*store.Instance
	bases   []int64

	tokens    netRows[*store.Token]
	variables netRows[variableRow]
	jobs      netRows[*store.Job]
	subs      netRows[*store.Subscription]
	tasks     netRows[*store.UserTask]
	incidents netRows[*store.Incident]
	events    []*store.Event
}

type variableRow struct {
	v   *store.Variable
	val string // the JSON argument
}

// netRows keeps the last write of each key, in the order keys were first written.
type netRows[T any] struct {
	keys  []string
	index map[string]int
	rows  []T
	live  []bool // false: the last write was a delete
}

func (n *netRows[T]) put(key string, row T) { n.set(key, row, true) }
func (n *netRows[T]) remove(key string)     { var zero T; n.set(key, zero, false) }
func (n *netRows[T]) empty() bool           { return len(n.keys) == 0 }
func (n *netRows[T]) set(key string, row T, live bool) {
	if n.index == nil {
		n.index = make(map[string]int, 16)
	}
	if i, ok := n.index[key]; ok {
		n.rows[i], n.live[i] = row, live
		return
	}
	n.index[key] = len(n.keys)
	n.keys = append(n.keys, key)
	n.rows = append(n.rows, row)
	n.live = append(n.live, live)
}

// split returns the keys whose last write was a delete and the rows last put.
func (n *netRows[T]) split() (deleted []string, puts []T) {
	for i, k := range n.keys {
		if n.live[i] {
			puts = append(puts, n.rows[i])
		} else {
			deleted = append(deleted, k)
		}
	}
	return deleted, puts
}

// deferredChange is an Apply waiting to be sent: the Change and its variables' JSON.
type deferredChange struct {
	c    *store.Change
	vals []string
}

func mergeChanges(run []deferredChange) *merged {
	m := &merged{}
	type inst struct {
		i       int // index in inserts or updates
		created bool
	}
	seen := map[string]inst{}
	for _, d := range run {
		c := d.c
		if in := c.Instance; in != nil {
			if s, ok := seen[in.ID]; ok {
				if s.created {
					m.inserts[s.i] = in
				} else {
					m.updates[s.i] = in
				}
			} else if c.Created {
				seen[in.ID] = inst{i: len(m.inserts), created: true}
				m.inserts = append(m.inserts, in)
			} else {
				seen[in.ID] = inst{i: len(m.updates)}
				m.updates = append(m.updates, in)
				m.bases = append(m.bases, in.Version-1)
			}
		}
		// Within one Change deletes come before puts (an id both deleted and put stays).
		for _, id := range c.DeleteTokens {
			m.tokens.remove(id)
		}
		for _, x := range c.PutTokens {
			m.tokens.put(x.ID, x)
		}
		for _, name := range c.DeleteVariables {
			m.variables.remove(c.Instance.ID + "\x00" + name)
		}
		for i, v := range c.PutVariables {
			m.variables.put(v.InstanceID+"\x00"+v.Name, variableRow{v: v, val: d.vals[i]})
		}
		for _, id := range c.DeleteJobs {
			m.jobs.remove(id)
		}
		for _, x := range c.PutJobs {
			m.jobs.put(x.ID, x)
		}
		for _, id := range c.DeleteSubs {
			m.subs.remove(id)
		}
		for _, x := range c.PutSubs {
			m.subs.put(x.ID, x)
		}
		for _, x := range c.PutTasks {
			m.tasks.put(x.ID, x)
		}
		for _, x := range c.PutIncidents {
			m.incidents.put(x.ID, x)
		}
		m.events = append(m.events, c.Events...)
	}
	return m
}

// statement is one queued statement of a merged write and how to read its result.
type statement struct {
	what string
	read func(br pgx.BatchResults) error
}

// queue adds the merged write's statements to b and returns them in order. With lock, the
// write lock is taken right before the events are inserted (see tx.queuePending).
func (m *merged) queue(b *pgx.Batch, lock bool) []statement {
	var out []statement
	exec := func(what string) statement {
		return statement{what: what, read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		}}
	}
	if len(m.inserts) > 0 {
		b.Queue(insertInstancesSQL, instanceArgs(m.inserts, nil)...)
		out = append(out, exec(fmt.Sprintf("insert %d instances", len(m.inserts))))
	}
	if len(m.updates) > 0 {
		b.Queue(updateInstancesSQL, instanceArgs(m.updates, m.bases)...)
		out = append(out, exec(fmt.Sprintf("update %d instances", len(m.updates))))
	}
	if del, puts := m.tokens.split(); len(del)+len(puts) > 0 {
		if len(del) > 0 {
			b.Queue(deleteTokensSQL, del)
			out = append(out, exec("delete tokens"))
		}
		if len(puts) > 0 {
			b.Queue(upsertTokensSQL, tokenArgs(puts)...)
			out = append(out, exec("put tokens"))
		}
	}
	if del, puts := m.variables.split(); len(del)+len(puts) > 0 {
		if len(del) > 0 {
			inst, names := make([]string, len(del)), make([]string, len(del))
			for i, k := range del {
				inst[i], names[i] = splitVariableKey(k)
			}
			b.Queue(deleteVariablesManySQL, inst, names)
			out = append(out, exec("delete variables"))
		}
		if len(puts) > 0 {
			vs, vals := make([]*store.Variable, len(puts)), make([]string, len(puts))
			for i, p := range puts {
				vs[i], vals[i] = p.v, p.val
			}
			b.Queue(upsertVariablesSQL, variableArgs(vs, vals)...)
			out = append(out, exec("put variables"))
		}
	}
	if del, puts := m.jobs.split(); len(del)+len(puts) > 0 {
		if len(del) > 0 {
			b.Queue(deleteJobsSQL, del)
			out = append(out, exec("delete jobs"))
		}
		if len(puts) > 0 {
			b.Queue(upsertJobsSQL, jobArgs(puts)...)
			out = append(out, exec("put jobs"))
		}
	}
	if del, puts := m.subs.split(); len(del)+len(puts) > 0 {
		if len(del) > 0 {
			b.Queue(deleteSubscriptionsSQL, del)
			out = append(out, exec("delete subscriptions"))
		}
		if len(puts) > 0 {
			b.Queue(upsertSubscriptionsSQL, subscriptionArgs(puts)...)
			out = append(out, exec("put subscriptions"))
		}
	}
	if _, puts := m.tasks.split(); len(puts) > 0 {
		b.Queue(upsertTasksSQL, taskArgs(puts)...)
		out = append(out, exec("put user tasks"))
	}
	if _, puts := m.incidents.split(); len(puts) > 0 {
		b.Queue(upsertIncidentsSQL, incidentArgs(puts)...)
		out = append(out, exec("put incidents"))
	}
	if lock {
		b.Queue(writeLockSQL)
		out = append(out, exec("take the write lock"))
	}
	if len(m.events) > 0 {
		b.Queue(insertEventsSQL, eventArgs(m.events)...)
		evs := m.events
		out = append(out, statement{what: fmt.Sprintf("insert %d events", len(evs)), read: func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			seqs, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			if len(seqs) != len(evs) {
				return fmt.Errorf("%d seqs for %d events", len(seqs), len(evs))
			}
			// Inserted in array order, so ascending seqs are the events in order.
			slices.Sort(seqs)
			for j, e := range evs {
				e.Seq = seqs[j]
			}
			return nil
		}})
	}
	return out
}

func splitVariableKey(k string) (instance, name string) {
	for i := 0; i < len(k); i++ {
		if k[i] == 0 {
			return k[:i], k[i+1:]
		}
	}
	return k, ""
}

// instanceArgs are the column arrays of insertInstancesSQL, or of updateInstancesSQL when
// bases (the versions the rows must have) is given.
func instanceArgs(ins []*store.Instance, bases []int64) []any {
	n := len(ins)
	id, defID, defKey, bk, state := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	defVersion, incidents := make([]int32, n), make([]int32, n)
	version, eventSeq := make([]int64, n), make([]int64, n)
	started := make([]time.Time, n)
	ended := make([]*time.Time, n)
	for i, in := range ins {
		id[i], defID[i], defKey[i], bk[i], state[i] = in.ID, in.DefinitionID, in.DefinitionKey, in.BusinessKey, in.State
		defVersion[i], incidents[i], version[i], eventSeq[i] = int32(in.DefinitionVersion), int32(in.IncidentCount), in.Version, in.EventSeq
		started[i], ended[i] = in.StartedAt, in.EndedAt
	}
	if bases != nil {
		return []any{id, bases, bk, state, version, incidents, ended, eventSeq}
	}
	return []any{id, defID, defKey, defVersion, bk, state, version, incidents, started, ended, eventSeq}
}
