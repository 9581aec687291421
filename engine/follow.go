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
		return false, err
	}
	n.life.Lock()
	defer n.life.Unlock()
	m.mu.Lock()
	spec := n.rec.Spec
	m.mu.Unlock()
	if spec.ReplicaOf != "" || spec.Cluster {
		if addr == "" {
			return false, nil // a replica of ours: not Follow's business
		}
		return false, fmt.Errorf("engine: node %s is not a standalone primary; only a primary can follow an outside source", id)
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
		following := info["role"] == "slave"
		if addr == "" {
			if !following {
				return nil
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
		if following && info["master_host"] == host && info["master_port"] == port {
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
	return linked, nil
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
