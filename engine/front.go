package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
)

// NodeCertFiles returns the paths of TLS node id's certificate and key,
// which the node's authenticating front (package fronts) presents too, so
// clients verify the front exactly as they would the node.
func (m *Manager) NodeCertFiles(id string) (cert, key string) {
	dir := m.nodeDir(id)
	return filepath.Join(dir, "tls", "server.pem"), filepath.Join(dir, "tls", "server.key")
}

// MovePort gives node id a new client port, without a restart, and returns
// it: CONFIG SET of its port (tls-port for a TLS node) closes the node's
// listening socket and opens the new one, while every connection it
// accepted stays open. It exists to hand the old port over to a front: a
// node made by a keyward without fronts serves its clients on the port the
// API reports, and its front must take that port over (see package
// server). It is the only way a node's port changes; a replica that
// follows the node is moved to the new port by its next Ensure.
func (m *Manager) MovePort(ctx context.Context, id string) (int, error) {
	n, err := m.lookup(id)
	if err != nil {
		return 0, err
	}
	n.life.Lock()
	defer n.life.Unlock()
	m.mu.Lock()
	old, tls := n.rec.Port, n.rec.Spec.TLS
	m.mu.Unlock()
	port, err := m.allocatePort(id)
	if err != nil {
		return 0, err
	}
	directive := "port"
	if tls {
		directive = "tls-port"
	}
	err = m.withAdmin(ctx, n, func(c *respConn) error {
		_, err := c.do(ctx, "CONFIG", "SET", directive, strconv.Itoa(port))
		return err
	})
	if err != nil {
		m.mu.Lock()
		delete(m.ports, port)
		m.mu.Unlock()
		return 0, fmt.Errorf("engine: node %s: CONFIG SET %s: %w", id, directive, err)
	}
	m.setRecord(n, func(r *record) { r.Port = port })
	m.mu.Lock()
	if m.ports[old] == id {
		delete(m.ports, old)
	}
	m.mu.Unlock()
	m.log.Info("engine: moved node to a new port", "node", id, "from", old, "to", port)
	return port, m.writeNodeFiles(n)
}
