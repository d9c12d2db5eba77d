package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Presence: every publishing engine node (each Relay from Start to Stop) announces itself
// as a NATS micro service named PresenceName, with its service, node, prefix and build
// in the metadata, so that an observing cockpit can tell which engines of which
// services are online, and whether they run the same build (Discover: the micro
// discovery request $SRV.INFO.<name>, answered by every instance).

// PresenceName is the micro service name every engine node announces.
const PresenceName = "cockpit-engine-node"

// Metadata keys of a presence.
const (
	PresenceMetaService = "service"
	PresenceMetaNode    = "node"
	PresenceMetaPrefix  = "prefix"
	PresenceMetaBuild   = "build"
)

// MaxDiscovered bounds the answers one Discover collects.
const MaxDiscovered = 10_000

// Node is an engine node that answered a discovery.
type Node struct {
	Service string
	Node    string
	// Build names the node's program: its VCS revision (and "+dirty"), or its module
	// version, or "unknown".
	Build string
	// ID is the micro instance id.
	ID string
}

// Build is this program's build, as a presence announces it.
func Build() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		return rev
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return "unknown"
}

// announce registers this node's presence.
func announce(nc *nats.Conn, prefix, service, node string) (micro.Service, error) {
	return micro.AddService(nc, micro.Config{
		Name: PresenceName, Version: "1.0.0", Description: "a Cockpit engine node that publishes events",
		Metadata: map[string]string{PresenceMetaService: service, PresenceMetaNode: node, PresenceMetaPrefix: prefix,
			PresenceMetaBuild: Build()},
	})
}

// Discover asks every engine node on nc for its presence and returns those of prefix
// that answer within wait (at most MaxDiscovered).
func Discover(ctx context.Context, nc *nats.Conn, prefix string, wait time.Duration) ([]Node, error) {
	inbox := nc.NewRespInbox()
	var (
		mu    sync.Mutex
		nodes []Node
		seen  = map[string]bool{}
	)
	sub, err := nc.Subscribe(inbox, func(m *nats.Msg) {
		var info micro.Info
		if json.Unmarshal(m.Data, &info) != nil || info.Metadata[PresenceMetaPrefix] != prefix {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if seen[info.ID] || len(nodes) >= MaxDiscovered {
			return
		}
		seen[info.ID] = true
		nodes = append(nodes, Node{Service: info.Metadata[PresenceMetaService], Node: info.Metadata[PresenceMetaNode],
			Build: info.Metadata[PresenceMetaBuild], ID: info.ID})
	})
	if err != nil {
		return nil, fmt.Errorf("discover engine nodes: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest("$SRV.INFO."+PresenceName, inbox, nil); err != nil {
		return nil, fmt.Errorf("discover engine nodes: %w", err)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, ctx.Err()
		}
	}
	_ = sub.Unsubscribe()
	mu.Lock()
	defer mu.Unlock()
	return append([]Node(nil), nodes...), nil
}
