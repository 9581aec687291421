package engine

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// Redis Cluster nodes. A node with NodeSpec.Cluster runs with
// cluster-enabled yes, its cluster state in data/nodes.conf (kept across
// restarts, so a restarted node rejoins its cluster) and its cluster bus on
// a port of its own (record.BusPort, allocated once like the client port).
// The Manager only runs such nodes; forming the cluster (CLUSTER MEET,
// ADDSLOTSRANGE, REPLICATE) is the caller's, through Do.
//
// A node with a front (package fronts) announces the front's port
// (NodeSpec.AnnouncePort, as cluster-announce-tls-port): CLUSTER SLOTS,
// SHARDS and NODES, and MOVED and ASK redirections, then name the fronts,
// so cluster clients reach every node through its front. (A TLS node
// answers its front, a Unix-socket client, with the TLS port as long as no
// plain-text port is announced: see addNodeToNodeReply in cluster.c.)
// Replicas replicate from the port their primary announces, so they do
// through its front, which relays the replication stream like any other.

// renderClusterConfig adds the cluster directives to a node's
// configuration.
func renderClusterConfig(p func(...string), dir string, rec record) {
	p("cluster-enabled", "yes")
	p("cluster-config-file", confQuote(filepath.Join(dir, "data", "nodes.conf")))
	p("cluster-port", strconv.Itoa(rec.BusPort))
	p("cluster-announce-ip", rec.host())
	// ElastiCache serves the slots that are covered even while a shard is
	// down, and fails a shard over after a few seconds.
	p("cluster-require-full-coverage", "no")
	p("cluster-node-timeout", "5000")
	// A replica stays in its shard (ElastiCache moves none between
	// shards): keyward's record of the shards is the truth.
	p("cluster-migration-barrier", "999")
	if rec.Spec.TLS {
		p("tls-cluster", "yes")
	}
	if d, ok := announceDirective(rec.Spec); ok {
		p(d, strconv.Itoa(rec.Spec.AnnouncePort))
	}
}

// announceDirective is the directive that sets the port a Cluster node
// announces for its clients.
func announceDirective(s NodeSpec) (string, bool) {
	if !s.Cluster || s.AnnouncePort == 0 {
		return "", false
	}
	if s.TLS {
		return "cluster-announce-tls-port", true
	}
	return "cluster-announce-port", true
}

// applyAnnounce sets a running node's announced port (0: its own).
func (m *Manager) applyAnnounce(ctx context.Context, n *node, spec NodeSpec) error {
	if spec.Cluster {
		d := "cluster-announce-port"
		if spec.TLS {
			d = "cluster-announce-tls-port"
		}
		if err := m.withAdmin(ctx, n, func(c *respConn) error {
			_, err := c.do(ctx, "CONFIG", "SET", d, strconv.Itoa(spec.AnnouncePort))
			return err
		}); err != nil {
			return fmt.Errorf("engine: node %s: CONFIG SET %s: %w", n.id, d, err)
		}
	}
	m.setRecord(n, func(r *record) { r.Spec.AnnouncePort = spec.AnnouncePort })
	return m.writeNodeFiles(n)
}

// allocateBusPort gives a new Cluster node its bus port.
func (m *Manager) allocateBusPort(n *node) error {
	m.mu.Lock()
	need := n.rec.Spec.Cluster && n.rec.BusPort == 0
	m.mu.Unlock()
	if !need {
		return nil
	}
	port, err := m.allocatePort(n.id)
	if err != nil {
		return err
	}
	m.setRecord(n, func(r *record) { r.BusPort = port })
	return nil
}

// BusPort returns the cluster bus port of a Cluster node (0 otherwise).
func (m *Manager) BusPort(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nodes[id]; n != nil {
		return n.rec.BusPort
	}
	return 0
}

// Do runs one command on the node as the admin user and returns its reply:
// a string, an int64, nil or a []any of those. An error reply is returned
// as an error. It is for the cluster wiring (CLUSTER MEET, ADDSLOTSRANGE,
// REPLICATE, NODES, INFO) and must not be given tenant input.
func (m *Manager) Do(ctx context.Context, id string, args ...string) (any, error) {
	n, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	var reply any
	err = m.withAdmin(ctx, n, func(c *respConn) error {
		r, err := c.do(ctx, args...)
		reply = r
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: node %s: %s: %w", id, args[0], err)
	}
	return reply, nil
}

// specOf returns node id's spec (only its ID if the node is unknown).
func (m *Manager) specOf(id string) NodeSpec {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n := m.nodes[id]; n != nil && n.rec.Spec.ID != "" {
		return n.rec.Spec
	}
	return NodeSpec{ID: id}
}

// DoPipeline runs commands on the node as the admin user in one round
// trip and returns their replies; an error reply is returned in its place
// as an error value, not as the call's error. Like Do, it is for the
// cluster wiring and must not be given tenant input.
func (m *Manager) DoPipeline(ctx context.Context, id string, cmds [][]string) ([]any, error) {
	n, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	var replies []any
	err = m.withAdmin(ctx, n, func(c *respConn) error {
		r, err := c.pipeline(ctx, cmds)
		replies = r
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: node %s: pipeline: %w", id, err)
	}
	for i, r := range replies {
		if e, ok := r.(respError); ok {
			replies[i] = error(e)
		}
	}
	return replies, nil
}

// MigrateSlotKeys moves the keys of hash slots slots from Cluster node src
// to Cluster node dst, up to batch keys per MIGRATE, and returns how many
// it moved. Each MIGRATE is atomic on src (a key is on one node or the
// other, never lost or on both) and authenticates to dst as ReplUser
// with the nodes' shared replication password (NodeSpec.ReplGroup), over
// TLS if the cluster bus is. The slots must be MIGRATING on src and
// IMPORTING on dst (CLUSTER SETSLOT): the caller owns their state, see
// reconcile.MoveSlots.
func (m *Manager) MigrateSlotKeys(ctx context.Context, src, dst string, slots []int, batch int) (int, error) {
	from, err := m.lookup(src)
	if err != nil {
		return 0, err
	}
	to, err := m.lookup(dst)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	toSpec, toAddr, fromSpec := to.rec.Spec, to.rec.addr(), from.rec.Spec
	m.mu.Unlock()
	if !toSpec.Cluster || !fromSpec.Cluster || toSpec.ReplGroup == "" || toSpec.ReplGroup != fromSpec.ReplGroup {
		return 0, fmt.Errorf("engine: migrate %s -> %s: both must be Cluster nodes of one ReplGroup", src, dst)
	}
	host, port, _ := net.SplitHostPort(toAddr)
	moved := 0
	err = m.withAdmin(ctx, from, func(c *respConn) error {
		for left := slots; len(left) > 0; {
			// Which keys each slot still holds, in one round trip.
			cmds := make([][]string, len(left))
			for i, slot := range left {
				cmds[i] = []string{"CLUSTER", "GETKEYSINSLOT", strconv.Itoa(slot), strconv.Itoa(batch)}
			}
			replies, err := c.pipeline(ctx, cmds)
			if err != nil {
				return err
			}
			// One MIGRATE per slot (its keys must share a slot), all sent
			// at once: src runs them one after the other.
			var again []int
			var migrates [][]string
			count := 0
			for i, r := range replies {
				if e, ok := r.(respError); ok {
					return e
				}
				keys, _ := r.([]any)
				if len(keys) == 0 {
					continue
				}
				args := []string{"MIGRATE", host, port, "", "0", "10000", "REPLACE", "AUTH2", ReplUser, m.ownReplPass(toSpec), "KEYS"}
				for _, k := range keys {
					s, _ := k.(string)
					args = append(args, s)
				}
				migrates = append(migrates, args)
				count += len(keys)
				if len(keys) == batch {
					again = append(again, left[i])
				}
			}
			if len(migrates) > 0 {
				replies, err := c.pipeline(ctx, migrates)
				if err != nil {
					return err
				}
				for _, r := range replies {
					if e, ok := r.(respError); ok {
						return e
					}
				}
				moved += count
			}
			left = again
		}
		return nil
	})
	if err != nil {
		return moved, fmt.Errorf("engine: migrate slots %s -> %s: %w", src, dst, err)
	}
	return moved, nil
}
