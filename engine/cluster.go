package engine

import (
	"context"
	"fmt"
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
	p("cluster-announce-ip", "127.0.0.1")
	// ElastiCache serves the slots that are covered even while a shard is
	// down, and fails a shard over after a few seconds.
	p("cluster-require-full-coverage", "no")
	p("cluster-node-timeout", "5000")
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
