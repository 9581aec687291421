package engine

import "context"

// Restart restarts the node's process in place, on purpose (a reboot, a
// service update): the server shuts down saving its data (SHUTDOWN, its
// append-only file flushed), then starts again at once on its port with its
// data, its configuration (BootConfig included) and its last ACLs.
// Supervision's crash backoff does not apply: this is no crash. It returns
// once the new process answers.
func (m *Manager) Restart(ctx context.Context, id string) (*Node, error) {
	n, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	n.life.Lock()
	defer n.life.Unlock()
	m.mu.Lock()
	inst, stopped := n.inst, n.stopped
	m.mu.Unlock()
	if stopped {
		return nil, ErrNodeNotFound
	}
	if inst != nil && !inst.dead() {
		m.shutdown(ctx, n, inst, false)
	}
	if err := m.start(ctx, n); err != nil {
		return nil, err // supervision keeps trying
	}
	m.log.Info("engine: restarted node", "node", id)
	m.notifyRestart(n.id)
	node, _ := m.Node(id)
	return node, nil
}
