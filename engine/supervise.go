package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"keyward/internal/procwait"
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

// countExit returns the failure count after the process dead exited (nil:
// it never started here): an early exit counts, one that ran for
// stableAfter resets the count, one shut down on purpose changes nothing.
func countExit(fails int, dead *instance) int {
	switch {
	case dead != nil && dead.stopping.Load():
		return fails
	case dead == nil || time.Since(dead.started) < stableAfter:
		return fails + 1
	}
	return 0
}

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
// It waits on a pidfd (no timer per node, see package procwait), polling
// only where pidfds are missing.
func pollExit(inst *instance, done <-chan struct{}) {
	if procwait.Wait(inst.pid, done, func() bool { return pidAlive(inst.pid) }, pollInterval) {
		close(inst.exited)
	}
}

// watch waits for inst to exit and then revives the node.
func (m *Manager) watch(n *node, inst *instance) {
	if !awaitExit(inst, m.ctx.Done()) {
		return
	}
	if !inst.stopping.Load() {
		m.log.Warn("engine: node process exited", "node", n.id, "pid", inst.pid, "status", inst.exitErr,
			"uptime", time.Since(inst.started).Round(time.Millisecond))
		if m.OnCrash != nil {
			m.OnCrash(n.id) // before the restart: a failover comes first
		}
	}
	m.revive(n, inst)
}

// revive restarts n, whose process dead has exited (dead is nil if n
// never started under this Manager), until it runs again, unless someone
// else started or stopped it meanwhile or the Manager closes. Starts are
// spaced by restartDelay, which Ensure respects too (n.nextStart).
func (m *Manager) revive(n *node, dead *instance) {
	m.mu.Lock()
	n.fails = countExit(n.fails, dead)
	n.nextStart = time.Now().Add(restartDelay(n.fails))
	held := dead != nil && !dead.stopping.Load() && n.rec.Spec.Failover && !n.stopped
	if held {
		// A failing-over primary: the caller promotes a replica and
		// restarts this node as its replica; if it does not, the node
		// comes back after the hold as it was.
		n.holdUntil = time.Now().Add(m.FailoverHold)
	}
	if n.holdUntil.After(n.nextStart) {
		n.nextStart = n.holdUntil
	}
	m.mu.Unlock()
	if held && m.OnExit != nil {
		m.goSupervised(func() { m.OnExit(n.id) })
	}
	restartLoop{
		ctx: m.ctx, mu: &m.mu, life: &n.life,
		due: func() time.Time { return n.nextStart },
		current: func() (bool, bool) {
			// again: Ensure tried meanwhile, so wait for the next start.
			return !n.stopped && n.inst == dead && m.state == stateOpen, time.Now().Before(n.nextStart)
		},
		start: func() error { return m.start(m.ctx, n) },
		started: func() {
			m.log.Info("engine: restarted node", "node", n.id)
			m.notifyRestart(n.id)
		},
		failed: func(err error) {
			m.log.Error("engine: restart node", "node", n.id, "err", err, "retry_in", m.startFailed(n))
		},
	}.run()
}

// restartLoop is the restart loop of supervision, shared by the Redis nodes
// (Manager) and the memcached nodes and their fronts (Memcached): it waits
// until the process may start again (due), then, holding the process's
// life lock, starts it unless someone else started or stopped it meanwhile
// (current), and repeats after a failed start until one succeeds or ctx
// ends.
type restartLoop struct {
	ctx context.Context
	// mu guards what due and current read; life serialises starts and
	// stops of the process.
	mu, life *sync.Mutex
	// due is when the next start may happen; called with mu held.
	due func() time.Time
	// current reports, with mu and life held, whether the dead process is
	// still the current one (else supervision has nothing to do), and
	// whether to wait for due again first.
	current func() (current, again bool)
	// start starts the process, with life held.
	start func() error
	// started runs after a successful start, failed after a failed one
	// (it counts the failure and schedules the next attempt: due).
	started func()
	failed  func(error)
}

func (l restartLoop) run() {
	for {
		l.mu.Lock()
		delay := time.Until(l.due())
		l.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.ctx.Done():
				t.Stop()
				return
			}
		}
		l.life.Lock()
		l.mu.Lock()
		current, again := l.current()
		l.mu.Unlock()
		if !current || again {
			l.life.Unlock()
			if !current {
				return
			}
			continue
		}
		err := l.start()
		l.life.Unlock()
		if err == nil {
			l.started()
			return
		}
		if errors.Is(err, ErrClosed) || l.ctx.Err() != nil {
			return
		}
		l.failed(err)
	}
}

// awaitExit waits for inst to exit; false if done closes first.
func awaitExit(inst *instance, done <-chan struct{}) bool {
	select {
	case <-inst.exited:
		return true
	case <-done:
		return false
	}
}

// startFailed counts a failed start of n and returns the delay before the
// next one.
func (m *Manager) startFailed(n *node) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.fails++
	d := restartDelay(n.fails)
	n.nextStart = time.Now().Add(d)
	return d
}

// adminConn is a node's persistent admin connection: dialled once per node
// process and kept (a pool of one, since calls for one node are
// serialised anyway), so that an ApplyACL is one or two round trips on an
// open Unix socket, not a dial, a peer check and an AUTH.
type adminConn struct {
	mu   sync.Mutex
	c    *respConn
	inst *instance // the process c was dialled to
}

func (a *adminConn) drop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dropLocked()
}

func (a *adminConn) dropLocked() {
	if a.c != nil {
		a.c.close()
		a.c, a.inst = nil, nil
	}
}

// withAdmin runs f on the node's admin connection, dialling it if needed.
// Calls for one node are serialised. The connection is dropped after an
// I/O or protocol error (but kept after an error reply), and when the node's
// process is no longer the one it was dialled to (a restart).
func (m *Manager) withAdmin(ctx context.Context, n *node, f func(c *respConn) error) error {
	return m.admin(ctx, n, false, f)
}

// withAdminRetry is withAdmin for idempotent f (ApplyACL, reads): if f fails
// on a kept connection with an I/O error other than a timeout (the
// connection went stale: the node closed it), f runs once more on a fresh
// one, so a stale connection costs a redial, not a failed pass.
func (m *Manager) withAdminRetry(ctx context.Context, n *node, f func(c *respConn) error) error {
	return m.admin(ctx, n, true, f)
}

func (m *Manager) admin(ctx context.Context, n *node, retry bool, f func(c *respConn) error) error {
	m.mu.Lock()
	if m.state != stateOpen {
		m.mu.Unlock()
		return ErrClosed
	}
	inst := n.inst
	m.mu.Unlock()
	if inst == nil || inst.dead() {
		return ErrNodeNotRunning
	}
	n.admin.mu.Lock()
	defer n.admin.mu.Unlock()
	if n.admin.c != nil && n.admin.inst != inst {
		n.admin.dropLocked()
	}
	for {
		sent := time.Now()
		kept := n.admin.c != nil
		if !kept {
			c, err := m.dialNode(ctx, n, inst.pid)
			if err != nil {
				m.noteHealth(n, inst, sent, err)
				return err
			}
			n.admin.c, n.admin.inst = c, inst
		}
		err := f(n.admin.c)
		if err != nil && !errors.As(err, new(respError)) {
			n.admin.dropLocked()
			if retry && kept && !isTimeout(err) && ctx.Err() == nil {
				retry = false
				continue
			}
		}
		m.noteHealth(n, inst, sent, err)
		return err
	}
}

// minStuck is how long an admin command must have waited for its timeout
// to count as the node not answering (a shorter deadline says nothing).
const minStuck = time.Second

// noteHealth records how inst answered an admin command sent at sent: a
// reply (even an error reply) clears the node's stuck state; a timeout or
// a BUSY reply starts it, and a recovery.
func (m *Manager) noteHealth(n *node, inst *instance, sent time.Time, err error) {
	busy := isBusy(err)
	timeout := !busy && isTimeout(err)
	m.mu.Lock()
	defer m.mu.Unlock()
	if n.inst != inst {
		return
	}
	switch {
	case err == nil || !busy && !timeout && errors.As(err, new(respError)):
		n.stuckSince = time.Time{}
		return
	case busy, timeout && time.Since(sent) >= minStuck:
		if n.stuckSince.IsZero() {
			n.stuckSince = sent
		}
	default:
		return
	}
	if !n.unsticking && m.state == stateOpen {
		n.unsticking = true
		m.wg.Go(func() { m.unstick(n, inst) })
	}
}

func isBusy(err error) bool {
	var e respError
	return errors.As(err, &e) && strings.HasPrefix(string(e), "BUSY ")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// unstick recovers inst, a node process that leaves admin commands
// unanswered. A tenant may legitimately pause a node (CLIENT PAUSE) or
// run a long script, as on ElastiCache, but keyward's own duties
// (revocation first) must still complete: it ends a busy script (SCRIPT
// KILL, FUNCTION KILL) and a write pause (CLIENT UNPAUSE) on a fresh
// connection, and if the node still does not answer StuckTimeout after the
// first unanswered command, it kills the process. Supervision then starts
// it again, closed, and restores the last desired users before it counts
// as running.
func (m *Manager) unstick(n *node, inst *instance) {
	defer func() {
		m.mu.Lock()
		n.unsticking = false
		m.mu.Unlock()
	}()
	log := m.log.With("node", n.id, "pid", inst.pid)
	for {
		ok := m.tryUnstick(n, inst)
		m.mu.Lock()
		if n.inst != inst || inst.dead() || n.stopped || m.state != stateOpen {
			m.mu.Unlock()
			return
		}
		since := n.stuckSince
		if ok {
			n.stuckSince = time.Time{}
		}
		m.mu.Unlock()
		if ok {
			log.Info("engine: node answers again", "after", time.Since(since).Round(time.Millisecond))
			m.notifyRestart(n.id)
			return
		}
		if since.IsZero() {
			return
		}
		if left := m.StuckTimeout - time.Since(since); left > 0 {
			t := time.NewTimer(min(left, 250*time.Millisecond))
			select {
			case <-t.C:
			case <-m.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		log.Warn("engine: node does not answer; restarting it from its desired state", "for", time.Since(since).Round(time.Millisecond))
		if pgid, err := syscall.Getpgid(inst.pid); err == nil && pgid == inst.pid {
			syscall.Kill(-inst.pid, syscall.SIGKILL)
		} else {
			syscall.Kill(inst.pid, syscall.SIGKILL)
		}
		return
	}
}

// tryUnstick sends the remedies on a fresh admin connection and reports
// whether the node then answers PING.
func (m *Manager) tryUnstick(n *node, inst *instance) bool {
	ctx, cancel := context.WithTimeout(m.ctx, time.Second)
	defer cancel()
	c, err := m.dialNode(ctx, n, inst.pid)
	if err != nil {
		return false
	}
	defer c.close()
	r, err := c.pipeline(ctx, [][]string{{"SCRIPT", "KILL"}, {"FUNCTION", "KILL"}, {"CLIENT", "UNPAUSE"}, {"PING"}})
	if err != nil {
		return false
	}
	return r[3] == "PONG"
}

// restoreACL applies the last desired users to n's new process (which
// started closed). Requires n.life.
func (m *Manager) restoreACL(ctx context.Context, n *node) {
	m.mu.Lock()
	want := n.want
	m.mu.Unlock()
	if want == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.StartTimeout)
	defer cancel()
	err := m.withAdmin(ctx, n, func(c *respConn) error {
		_, _, err := m.applyState(ctx, n, c, want.desired, want.refused, want.kill)
		return err
	})
	if err != nil {
		m.log.Warn("engine: restore users after restart", "node", n.id, "err", err)
	}
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
