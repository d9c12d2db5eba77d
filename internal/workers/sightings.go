package workers

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Sightings: an activation reaches one node of the queue group, so each node tells the
// others which worker asked for which types, on <prefix>.workers.seen. Every node's
// Serves (deploy warnings, unserved-job notices, stall reasons) and Workers (the
// overview) then know every worker. A node relays a worker at most once per relayEvery.

// relayEvery bounds how often a node relays one worker's sighting: well inside
// engine.WorkerSeenFor, so the others never see it lapse while it keeps asking.
const relayEvery = 5 * time.Second

// maxRelayed bounds the workers whose last relay a node remembers.
const maxRelayed = 1000

// sighting is the message of <prefix>.workers.seen.
type sighting struct {
	Node   string    `json:"node"`
	Worker string    `json:"worker"`
	Types  []string  `json:"types"`
	At     time.Time `json:"at"`
}

// SightingsSubject is where the nodes relay worker sightings.
func SightingsSubject(prefix string) string { return prefix + ".workers.seen" }

// sightings relays this node's sightings and applies the others'.
type sightings struct {
	s    *Service
	node string
	sub  *nats.Subscription
	mu   sync.Mutex
	last map[string]time.Time // worker → last relay
}

func startSightings(s *Service) (*sightings, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	x := &sightings{s: s, node: hex.EncodeToString(b), last: map[string]time.Time{}}
	sub, err := s.o.Conn.Subscribe(SightingsSubject(s.o.Prefix), x.receive)
	if err != nil {
		return nil, err
	}
	x.sub = sub
	return x, nil
}

// receive applies another node's sighting (bounded by the engine's own checks).
func (x *sightings) receive(m *nats.Msg) {
	var sg sighting
	if len(m.Data) > 64<<10 || json.Unmarshal(m.Data, &sg) != nil || sg.Node == x.node {
		return
	}
	x.s.o.Engine.WorkerSeen(sg.Worker, sg.Types, sg.At)
}

// relay tells the other nodes that worker asked for types, unless it did so lately.
func (x *sightings) relay(worker string, types []string, now time.Time) {
	x.mu.Lock()
	if now.Sub(x.last[worker]) < relayEvery {
		x.mu.Unlock()
		return
	}
	if len(x.last) >= maxRelayed {
		clear(x.last) // forget: at worst one more relay each
	}
	x.last[worker] = now
	x.mu.Unlock()
	b, err := json.Marshal(sighting{Node: x.node, Worker: worker, Types: types, At: now})
	if err == nil {
		err = x.s.o.Conn.Publish(SightingsSubject(x.s.o.Prefix), b)
	}
	if err != nil {
		x.s.log.Warn("relay worker sighting", "worker", worker, "err", err)
	}
}

func (x *sightings) stop() { _ = x.sub.Unsubscribe() }
