package engine

import (
	"context"
	"fmt"
	"net"
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
	return m.movePort(ctx, id, 0)
}

// MovePortTo moves node id to port, free on its address, without a restart:
// the port its stopped front had, when the node's cache no longer has
// in-transit encryption and the node serves its clients itself again.
func (m *Manager) MovePortTo(ctx context.Context, id string, port int) error {
	_, err := m.movePort(ctx, id, port)
	return err
}

// movePort moves node id to want, or to a free port if want is 0.
func (m *Manager) movePort(ctx context.Context, id string, want int) (int, error) {
	n, err := m.lookup(id)
	if err != nil {
		return 0, err
	}
	n.life.Lock()
	defer n.life.Unlock()
	m.mu.Lock()
	old, tls, host := n.rec.Port, n.rec.Spec.TLS, n.rec.Host
	m.mu.Unlock()
	hostPort := func(p int) string { return net.JoinHostPort(n.rec.host(), strconv.Itoa(p)) }
	var port int
	switch {
	case want == old:
		return old, nil
	case want != 0:
		m.mu.Lock()
		if owner, used := m.ports[hostPort(want)]; used && owner != id {
			err = fmt.Errorf("engine: node %s: port %d is node %s's", id, want, owner)
		} else {
			m.ports[hostPort(want)], port = id, want
		}
		m.mu.Unlock()
	case host == "":
		port, err = m.allocatePort(id)
	default:
		// A free port of the node's own address.
		m.mu.Lock()
		p, ok := free(host, 0)
		if ok {
			m.ports[net.JoinHostPort(host, strconv.Itoa(p))] = id
		} else {
			err = fmt.Errorf("engine: node %s: no free port on %s", id, host)
		}
		m.mu.Unlock()
		port = p
	}
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
		delete(m.ports, hostPort(port))
		m.mu.Unlock()
		return 0, fmt.Errorf("engine: node %s: CONFIG SET %s: %w", id, directive, err)
	}
	m.setRecord(n, func(r *record) { r.Port = port })
	m.mu.Lock()
	if m.ports[hostPort(old)] == id {
		delete(m.ports, hostPort(old))
	}
	m.mu.Unlock()
	m.log.Info("engine: moved node to a new port", "node", id, "from", old, "to", port)
	return port, m.writeNodeFiles(n)
}
