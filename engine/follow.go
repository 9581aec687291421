package engine

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Follow makes a primary node (one whose spec has no ReplicaOf) replicate
// from addr, a Redis server outside the Manager (an online migration's
// source), or, with addr "", stop replicating from anything and take writes
// again (REPLICAOF NO ONE). It is idempotent and cheap when nothing
// changes (one INFO replication), so it can be called on every pass.
//
// The source is reached without credentials (masterauth is cleared) and
// without TLS (a TLS node's tls-replication is turned off while it follows
// and back on afterwards). The replicas of the node keep replicating from
// it, so they follow the source too. Following is not written to the
// node's configuration: a node restarted meanwhile comes back a primary
// with its data until the next Follow.
//
// linked reports that the node's link to addr is up and its initial sync
// done (master_link_status:up, master_sync_in_progress:0).
func (m *Manager) Follow(ctx context.Context, id, addr string) (linked bool, err error) {
	n, err := m.lookup(id)
	if err != nil {
		if addr == "" && err == ErrNodeNotFound {
			return false, nil // gone: it follows nothing
		}
		return false, err
	}
	n.life.Lock()
	defer n.life.Unlock()
	m.mu.Lock()
	spec, following := n.rec.Spec, n.rec.Following
	m.mu.Unlock()
	if addr == "" && following == "" {
		return false, nil // Follow made it follow nothing: not its business
	}
	if addr != "" && (spec.ReplicaOf != "" || spec.Cluster) {
		return false, fmt.Errorf("engine: node %s is not a standalone primary; only a primary can follow an outside source", id)
	}
	if addr != "" && addr != following {
		// Recorded first: a keyward that dies between the REPLICAOF and
		// the record still knows to undo it.
		if err := m.recordFollowing(n, addr, following); err != nil {
			return false, err
		}
	}
	var host, port string
	if addr != "" {
		if host, port, err = net.SplitHostPort(addr); err != nil {
			return false, fmt.Errorf("engine: node %s: follow %q: %w", id, addr, err)
		}
	}
	err = m.withAdmin(ctx, n, func(c *respConn) error {
		r, err := c.do(ctx, "INFO", "replication")
		if err != nil {
			return err
		}
		info := infoFields(r)
		replicating := info["role"] == "slave"
		if addr == "" {
			if !replicating || spec.ReplicaOf != "" || spec.Cluster {
				return nil // restarted meanwhile, or now a replica of ours
			}
			if _, err := c.do(ctx, "REPLICAOF", "NO", "ONE"); err != nil {
				return err
			}
			if spec.TLS {
				_, err = c.do(ctx, "CONFIG", "SET", "tls-replication", "yes")
			}
			m.log.Info("engine: node stopped following its outside source", "node", id)
			return err
		}
		if replicating && info["master_host"] == host && info["master_port"] == port {
			linked = info["master_link_status"] == "up" && info["master_sync_in_progress"] == "0"
			return nil
		}
		set := []string{"CONFIG", "SET", "masterauth", ""}
		if spec.TLS {
			set = append(set, "tls-replication", "no")
		}
		if _, err := c.do(ctx, set...); err != nil {
			return err
		}
		if _, err := c.do(ctx, "REPLICAOF", host, port); err != nil {
			return err
		}
		m.log.Info("engine: node follows an outside source", "node", id, "source", addr)
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("engine: node %s: follow %q: %w", id, addr, err)
	}
	if addr == "" {
		if err := m.recordFollowing(n, "", following); err != nil {
			return false, err
		}
	}
	return linked, nil
}

// recordFollowing stores the node's outside source ("" for none) in its
// record: a new source before the REPLICAOF, "" only once REPLICAOF NO ONE
// succeeded.
func (m *Manager) recordFollowing(n *node, addr, old string) error {
	if addr == "" && old == "" {
		return nil
	}
	m.setRecord(n, func(r *record) { r.Following = addr })
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	return writeRecord(n.dir, rec)
}

// infoFields parses an INFO reply into its fields.
func infoFields(reply any) map[string]string {
	text, _ := reply.(string)
	out := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			out[k] = v
		}
	}
	return out
}
