package engine

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Restart backoff: a node that ran for stableAfter before dying is
// restarted at once; after an early exit or a failed start the delay
// doubles from restartDelayMin up to restartDelayMax.
const (
	stableAfter     = 10 * time.Second
	restartDelayMin = 250 * time.Millisecond
	restartDelayMax = 30 * time.Second
	pollInterval    = 200 * time.Millisecond // liveness of adopted processes
)

func restartDelay(fails int) time.Duration {
	if fails <= 0 {
		return 0
	}
	d := restartDelayMin << min(fails-1, 16)
	return min(d, restartDelayMax)
}

// goSupervised runs f in a goroutine that Close waits for, unless the
// Manager is not open (then it returns false and f does not run).
func (m *Manager) goSupervised(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateOpen {
		return false
	}
	m.wg.Go(f)
	return true
}

// pollExit closes inst.exited when the process (one this Manager did not
// start, so it cannot Wait for it) is gone; it gives up when done closes.
func pollExit(inst *instance, done <-chan struct{}) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if !pidAlive(inst.pid) {
				close(inst.exited)
				return
			}
		}
	}
}

// watch waits for inst to exit and then revives the node.
func (m *Manager) watch(n *node, inst *instance) {
	select {
	case <-inst.exited:
	case <-m.ctx.Done():
		return
	}
	if !inst.stopping.Load() {
		m.log.Warn("engine: node process exited", "node", n.id, "pid", inst.pid, "status", inst.exitErr,
			"uptime", time.Since(inst.started).Round(time.Millisecond))
	}
	m.revive(n, inst)
}

// revive restarts n, whose process dead has exited (dead is nil if n
// never started under this Manager), until it runs again, unless someone
// else started or stopped it meanwhile or the Manager closes.
func (m *Manager) revive(n *node, dead *instance) {
	m.mu.Lock()
	switch {
	case dead != nil && dead.stopping.Load():
		// Shut down on purpose (Ensure restarting it): no crash to count.
	case dead == nil || time.Since(dead.started) < stableAfter:
		n.fails++
	default:
		n.fails = 0
	}
	m.mu.Unlock()
	for {
		m.mu.Lock()
		delay := restartDelay(n.fails)
		m.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-m.ctx.Done():
				t.Stop()
				return
			}
		}
		n.life.Lock()
		m.mu.Lock()
		current := !n.stopped && n.inst == dead && m.state == stateOpen
		m.mu.Unlock()
		if !current {
			n.life.Unlock()
			return
		}
		err := m.start(m.ctx, n)
		n.life.Unlock()
		if err == nil {
			m.log.Info("engine: restarted node", "node", n.id)
			m.notifyRestart(n.id)
			return
		}
		if errors.Is(err, ErrClosed) || m.ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		n.fails++
		fails := n.fails
		m.mu.Unlock()
		m.log.Error("engine: restart node", "node", n.id, "err", err, "retry_in", restartDelay(fails))
	}
}

// adminConn is a node's cached admin connection.
type adminConn struct {
	mu sync.Mutex
	c  *respConn
}

func (a *adminConn) drop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.c != nil {
		a.c.close()
		a.c = nil
	}
}

// withAdmin runs f on the node's admin connection, dialling it if needed.
// Calls for one node are serialised. The connection is dropped after an
// I/O or protocol error (but kept after an error reply).
func (m *Manager) withAdmin(ctx context.Context, n *node, f func(c *respConn) error) error {
	m.mu.Lock()
	if m.state != stateOpen {
		m.mu.Unlock()
		return ErrClosed
	}
	inst, rec := n.inst, n.rec
	m.mu.Unlock()
	if inst == nil || inst.dead() {
		return ErrNodeNotRunning
	}
	n.admin.mu.Lock()
	defer n.admin.mu.Unlock()
	if n.admin.c == nil {
		c, err := dialAdmin(ctx, addrOf(rec.Port), m.clientTLS(rec.Spec.TLS), AdminUser, m.secret)
		if err != nil {
			return err
		}
		n.admin.c = c
	}
	err := f(n.admin.c)
	if err != nil && !errors.As(err, new(respError)) {
		n.admin.c.close()
		n.admin.c = nil
	}
	return err
}

// lookup returns the node id, or ErrNodeNotFound.
func (m *Manager) lookup(id string) (*node, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateOpen {
		return nil, ErrClosed
	}
	n := m.nodes[id]
	if n == nil || n.stopped {
		return nil, ErrNodeNotFound
	}
	return n, nil
}
