package postgres

import (
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cockpit-engine/cockpit/internal/engine/store"
)

// A group commit applies many commands' Changes in one transaction. Sent one by one, each
// Change costs five to eight statements, and the committer's backend spends most of its
// time executing statements, not writing rows. So the deferred Changes that reach the
// server together (between two control statements) are merged into one Change's worth of
// multi-row statements: one instance update, one token delete and upsert, and so on,
// whatever the number of commands (the events wait for COMMIT: held.go). Merging keeps what sending them in
// order would leave behind: per row the last write wins, deletes and puts in the order the
// commands made them.

// merged is the net effect of a run of Changes.
type merged struct {
	inserts []*store.Instance // instances created in the run, in their final state
	// updates are instances changed in the run; base is the version each must have in
	// the table (the first change's version check).
	updates []*store.Instance
	bases   []int64
	// migrated: some change of the run moved the instance to another definition
	// (store.Change.Migrated), so its update writes the definition columns.
	migrated []bool

	tokens    netRows[*store.Token]
	variables netRows[variableRow]
	jobs      netRows[*store.Job]
	subs      netRows[*store.Subscription]
	tasks     netRows[*store.UserTask]
	incidents netRows[*store.Incident]
	comps     netRows[*store.Compensation]

	// outcomes are the item outcomes of the run (FinishOperationItem), in rounds of
	// distinct items: a second outcome for an item goes to a later round, whose statement
	// then finds it done and refuses it, as it would have sent in order.
	outcomes [][]*store.ItemOutcome
	audits   []*store.AuditEntry // InsertAudit
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

// deferredChange is a deferred write waiting to be sent: an Apply (the Change and its
// variables' JSON), an item outcome or an audit row (operations.go).
type deferredChange struct {
	c    *store.Change
	vals []string

	outcome *store.ItemOutcome
	audit   *store.AuditEntry
}

func mergeChanges(run []deferredChange) *merged {
	m := &merged{}
	type inst struct {
		i       int // index in inserts or updates
		created bool
	}
	seen := map[string]inst{}
	type item struct {
		op  string
		seq int
	}
	var items []map[item]bool // the items of each round of outcomes
	for _, d := range run {
		if o := d.outcome; o != nil {
			k := item{o.OperationID, o.Seq}
			r := 0
			for r < len(items) && items[r][k] {
				r++
			}
			if r == len(items) {
				items = append(items, map[item]bool{})
				m.outcomes = append(m.outcomes, nil)
			}
			items[r][k] = true
			m.outcomes[r] = append(m.outcomes[r], o)
			continue
		}
		if d.audit != nil {
			m.audits = append(m.audits, d.audit)
			continue
		}
		c := d.c
		if in := c.Instance; in != nil {
			if s, ok := seen[in.ID]; ok {
				if s.created {
					m.inserts[s.i] = in
				} else {
					m.updates[s.i] = in
					m.migrated[s.i] = m.migrated[s.i] || c.Migrated
				}
			} else if c.Created {
				seen[in.ID] = inst{i: len(m.inserts), created: true}
				m.inserts = append(m.inserts, in)
			} else {
				seen[in.ID] = inst{i: len(m.updates)}
				m.updates = append(m.updates, in)
				m.bases = append(m.bases, in.Version-1)
				m.migrated = append(m.migrated, c.Migrated)
			}
		}
		// Within one Change deletes come before puts (an id both deleted and put stays).
		for _, id := range c.DeleteTokens {
			m.tokens.remove(id)
		}
		for _, x := range c.PutTokens {
			m.tokens.put(x.ID, x)
		}
		for _, k := range c.DeleteVariables {
			m.variables.remove(c.Instance.ID + "\x00" + k.Scope + "\x00" + k.Name)
		}
		for i, v := range c.PutVariables {
			m.variables.put(v.InstanceID+"\x00"+v.Scope+"\x00"+v.Name, variableRow{v: v, val: d.vals[i]})
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
		for _, id := range c.DeleteCompensations {
			m.comps.remove(id)
		}
		for _, x := range c.PutCompensations {
			m.comps.put(x.ID, x)
		}
	}
	return m
}

// statement is one queued statement of a merged write and how to read its result.
type statement struct {
	what string
	read func(br pgx.BatchResults) error
}

// queue adds the merged write's statements to b and returns them in order, planned
// generically (genericPlanSQL).
func (m *merged) queue(b *pgx.Batch) []statement {
	var out []statement
	exec := func(what, sql string, args ...any) {
		b.Queue(sql, args...)
		out = append(out, statement{what: what, read: func(br pgx.BatchResults) error {
			_, err := br.Exec()
			return err
		}})
	}
	exec("plan generically", genericPlanSQL)
	if len(m.inserts) > 0 {
		exec(fmt.Sprintf("insert %d instances", len(m.inserts)), insertInstancesSQL, instanceArgs(m.inserts, nil, nil)...)
	}
	if len(m.updates) > 0 {
		exec(fmt.Sprintf("update %d instances", len(m.updates)), updateInstancesSQL, instanceArgs(m.updates, m.bases, m.migrated)...)
	}
	del, tokens := m.tokens.split()
	if len(del) > 0 {
		exec("delete tokens", deleteTokensSQL, del)
	}
	if len(tokens) > 0 {
		exec("put tokens", upsertTokensSQL, tokenArgs(tokens)...)
	}
	del, vars := m.variables.split()
	if len(del) > 0 {
		inst, scopes, names := make([]string, len(del)), make([]string, len(del)), make([]string, len(del))
		for i, k := range del {
			var rest string
			inst[i], rest, _ = strings.Cut(k, "\x00")
			scopes[i], names[i], _ = strings.Cut(rest, "\x00")
		}
		exec("delete variables", deleteVariablesManySQL, inst, scopes, names)
	}
	if len(vars) > 0 {
		vs, vals := make([]*store.Variable, len(vars)), make([]string, len(vars))
		for i, p := range vars {
			vs[i], vals[i] = p.v, p.val
		}
		exec("put variables", upsertVariablesSQL, variableArgs(vs, vals)...)
	}
	del, jobs := m.jobs.split()
	if len(del) > 0 {
		exec("delete jobs", deleteJobsSQL, del)
	}
	if len(jobs) > 0 {
		exec("put jobs", upsertJobsSQL, jobArgs(jobs)...)
	}
	del, subs := m.subs.split()
	if len(del) > 0 {
		exec("delete subscriptions", deleteSubscriptionsSQL, del)
	}
	if len(subs) > 0 {
		exec("put subscriptions", upsertSubscriptionsSQL, subscriptionArgs(subs)...)
	}
	if _, tasks := m.tasks.split(); len(tasks) > 0 {
		exec("put user tasks", upsertTasksSQL, taskArgs(tasks)...)
	}
	if _, incidents := m.incidents.split(); len(incidents) > 0 {
		exec("put incidents", upsertIncidentsSQL, incidentArgs(incidents)...)
		if args := incidentGroupArgs(incidents); args != nil {
			exec("put incident groups", insertIncidentGroupsSQL, args...)
		}
	}
	del, comps := m.comps.split()
	if len(del) > 0 {
		exec("delete compensations", deleteCompensationsSQL, del)
	}
	if len(comps) > 0 {
		exec("put compensations", upsertCompensationsSQL, compensationArgs(comps)...)
	}
	for _, os := range m.outcomes {
		exec(fmt.Sprintf("finish %d operation items", len(os)), finishItemsSQL, outcomeArgs(os)...)
	}
	if len(m.audits) > 0 {
		exec(fmt.Sprintf("insert %d audit rows", len(m.audits)), insertAuditsSQL, auditArgs(m.audits)...)
	}
	exec("plan as configured", resetPlanSQL)
	return out
}

// instanceArgs are the column arrays of insertInstancesSQL, or of updateInstancesSQL when
// bases (the versions the rows must have) is given; migrated says which updates write
// their definition columns.
func instanceArgs(ins []*store.Instance, bases []int64, migrated []bool) []any {
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
		return []any{id, bases, bk, state, version, incidents, ended, eventSeq, migrated, defID, defKey, defVersion}
	}
	parent, parentTok, parentEl := make([]string, n), make([]string, n), make([]string, n)
	depth := make([]int32, n)
	for i, in := range ins {
		parent[i], parentTok[i], parentEl[i], depth[i] = in.ParentInstanceID, in.ParentTokenID, in.ParentElementID, int32(in.CallDepth)
	}
	return []any{id, defID, defKey, defVersion, bk, state, version, incidents, started, ended, eventSeq,
		parent, parentTok, parentEl, depth}
}
