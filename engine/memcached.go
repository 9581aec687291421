package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Memcached runs memcached nodes, one real memcached process each, under
// DataDir/memcached/<id>/ (node.json: spec, port, pid; stdout.log). It is
// kept apart from Manager because memcached has no ACLs, no replication
// and no configuration file: nothing of the Redis nodes' machinery applies.
//
// As Redis nodes do, memcached processes run in their own process groups
// and outlive keyward: Close stops supervising and leaves them running, and
// the next Open adopts every node whose process still answers on its port
// (its "stats" pid matches node.json and its command line names the node's
// directory); the others are started again on the same port. A process that
// dies is restarted with a backoff, then OnRestart is called. A memcached
// node holds its data in memory only, so a restart empties it, as a reboot
// empties an ElastiCache Memcached node.
//
// Set the fields, then call Open. All methods are safe for concurrent use.
type Memcached struct {
	// DataDir holds the nodes, in DataDir/memcached/.
	DataDir string
	// Binary is the memcached binary: a path, or a name looked up on
	// PATH; default "memcached".
	Binary string
	Logger *slog.Logger
	// OnRestart, if set, is called in its own goroutine after supervision
	// or Open started the process of an existing node again.
	OnRestart func(id string)
	// StartTimeout bounds the wait for a started node to answer; default 10s.
	StartTimeout time.Duration
	// StopTimeout bounds each step of stopping a node (SIGTERM, then
	// SIGKILL); default 5s.
	StopTimeout time.Duration
	// Hosts, if set (and giving addresses of their own), gives every new
	// node a loopback address of its own from the Redis nodes' range, on
	// which it listens on the spec's Port; otherwise nodes listen on
	// 127.0.0.1 on free ports.
	Hosts *Manager

	mu     sync.Mutex
	state  int
	nodes  map[string]*mcNode
	ports  map[string]string // 127.0.0.1:port -> node id
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// MemcachedSpec is the desired shape of one memcached node.
type MemcachedSpec struct {
	// ID names the node, with the rules of NodeSpec.ID.
	ID string `json:"id"`
	// MemoryMB is the item memory (memcached -m), in megabytes.
	MemoryMB int `json:"memoryMB"`
	// Port is the port a new node asks for (with an address of its own;
	// 0: any); a node keeps the port it got.
	Port int `json:"port,omitempty"`
}

// MemcachedNode is a snapshot of a memcached node.
type MemcachedNode struct {
	ID       string
	Addr     string // "<host>:<port>"
	Host     string // the node's own address, or 127.0.0.1
	Port     int
	PID      int // 0 while the process is down
	MemoryMB int
}

type mcRecord struct {
	Spec MemcachedSpec `json:"spec"`
	Port int           `json:"port"`
	// Host is the node's own address; "" for 127.0.0.1.
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
}

func (r mcRecord) host() string {
	if r.Host == "" {
		return legacyHost
	}
	return r.Host
}

func (r mcRecord) addr() string { return net.JoinHostPort(r.host(), strconv.Itoa(r.Port)) }

type mcNode struct {
	id, dir string
	life    sync.Mutex // serialises starting and stopping
	// Guarded by Memcached.mu; written with life held.
	rec     mcRecord
	inst    *instance
	stopped bool
	fails   int
}

func (m *Memcached) dir() string              { return filepath.Join(m.DataDir, "memcached") }
func (m *Memcached) nodeDir(id string) string { return filepath.Join(m.dir(), id) }

// Open adopts the nodes a previous process left running, starts those that
// are not, and starts supervision.
func (m *Memcached) Open(ctx context.Context) error {
	m.mu.Lock()
	if m.state != stateNew {
		m.mu.Unlock()
		return errors.New("engine: memcached already opened")
	}
	if m.DataDir == "" {
		m.mu.Unlock()
		return errors.New("engine: DataDir is required")
	}
	dir, err := filepath.Abs(m.DataDir)
	if err != nil {
		m.mu.Unlock()
		return fmt.Errorf("engine: open: %w", err)
	}
	m.DataDir = dir
	m.log = m.Logger
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.StartTimeout <= 0 {
		m.StartTimeout = 10 * time.Second
	}
	if m.StopTimeout <= 0 {
		m.StopTimeout = 5 * time.Second
	}
	m.nodes, m.ports = map[string]*mcNode{}, map[string]string{}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.state = stateOpen
	m.mu.Unlock()
	if err := os.MkdirAll(m.dir(), 0o700); err != nil {
		return fmt.Errorf("engine: open: %w", err)
	}
	entries, err := os.ReadDir(m.dir())
	if err != nil {
		return fmt.Errorf("engine: open: %w", err)
	}
	var found []*mcNode
	m.mu.Lock()
	for _, e := range entries {
		if !e.IsDir() || validateID(e.Name()) != nil {
			continue
		}
		n := &mcNode{id: e.Name(), dir: m.nodeDir(e.Name())}
		rec, err := readMCRecord(n.dir)
		if err != nil {
			m.log.Warn("engine: ignoring memcached directory", "node", n.id, "err", err)
			continue
		}
		n.rec = rec
		m.nodes[n.id], m.ports[rec.addr()] = n, n.id
		if rec.Host != "" && m.Hosts != nil {
			m.Hosts.ClaimHost(n.id, rec.Host)
		}
		found = append(found, n)
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range found {
		wg.Go(func() { m.adoptOrStart(ctx, n) })
	}
	wg.Wait()
	return nil
}

func (m *Memcached) adoptOrStart(ctx context.Context, n *mcNode) {
	n.life.Lock()
	defer n.life.Unlock()
	log := m.log.With("node", n.id)
	if pid, err := memcachedPID(ctx, n.rec.addr()); err == nil && pid == n.rec.PID && m.owns(n, pid) {
		inst := &instance{pid: pid, started: time.Now(), exited: make(chan struct{})}
		go pollExit(inst, m.ctx.Done())
		m.setInst(n, inst)
		m.goSupervised(func() { m.watch(n, inst) })
		log.Info("engine: adopted memcached node", "pid", pid, "addr", n.rec.addr())
		return
	}
	if n.rec.PID > 0 && m.owns(n, n.rec.PID) {
		terminate(n.rec.PID, nil, m.StopTimeout)
	}
	if err := m.start(ctx, n); err != nil {
		log.Error("engine: restart memcached node", "err", err)
		m.goSupervised(func() { m.revive(n, nil) })
		return
	}
	m.notify(n.id)
}

// owns reports whether pid is a memcached started for n: its argv[0] is
// the node's directory (see start).
func (m *Memcached) owns(n *mcNode, pid int) bool { return ownsProcess(pid, m.argv0(n)) }

func (m *Memcached) argv0(n *mcNode) string { return filepath.Join(n.dir, "memcached") }

// Ensure makes the node exist and run, and returns it. A new node gets an
// address of its own and spec's Port there (see Hosts), or a free port on
// 127.0.0.1, which it keeps; a node whose process is down is
// started again; a change of MemoryMB restarts it (memcached cannot change
// its memory limit at run time; the data is lost, as on a reboot).
func (m *Memcached) Ensure(ctx context.Context, spec MemcachedSpec) (*MemcachedNode, error) {
	if err := validateID(spec.ID); err != nil {
		return nil, err
	}
	if spec.MemoryMB <= 0 {
		return nil, fmt.Errorf("engine: memcached node %s: memory must be positive", spec.ID)
	}
	if _, err := m.binary(); err != nil {
		return nil, err
	}
	n, created, err := m.lockNode(spec.ID)
	if err != nil {
		return nil, err
	}
	defer n.life.Unlock()
	m.mu.Lock()
	cur, inst := n.rec, n.inst
	m.mu.Unlock()
	if !created {
		spec.Port = cur.Spec.Port // a node keeps its port
	}
	switch {
	case created:
		m.setRec(n, func(r *mcRecord) { *r = mcRecord{Spec: spec} })
		if err := m.startNew(ctx, n); err != nil {
			m.forget(n)
			os.RemoveAll(n.dir)
			return nil, err
		}
		m.log.Info("engine: started memcached node", "node", n.id, "addr", n.rec.addr())
	case inst == nil || inst.dead():
		m.setRec(n, func(r *mcRecord) { r.Spec = spec })
		if err := m.start(ctx, n); err != nil {
			return nil, err
		}
		m.notify(n.id)
	case cur.Spec != spec:
		m.stopInst(n, inst)
		m.setRec(n, func(r *mcRecord) { r.Spec = spec })
		if err := m.start(ctx, n); err != nil {
			return nil, err
		}
		m.notify(n.id)
	}
	node, _ := m.Node(spec.ID)
	return node, nil
}

// Restart stops the node's process and starts a new one on the same port
// (a reboot: the node comes back empty). It returns once the new process
// answers.
func (m *Memcached) Restart(ctx context.Context, id string) (*MemcachedNode, error) {
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
		m.stopInst(n, inst)
	}
	if err := m.start(ctx, n); err != nil {
		return nil, err
	}
	m.log.Info("engine: rebooted memcached node", "node", id)
	node, _ := m.Node(id)
	return node, nil
}

// Stop ends the node's process and removes its directory; stopping an
// unknown node removes whatever is left of its directory.
func (m *Memcached) Stop(ctx context.Context, id string) error {
	if err := validateID(id); err != nil {
		return err
	}
	n, err := m.lookup(id)
	if errors.Is(err, ErrNodeNotFound) {
		dir := m.nodeDir(id)
		if rec, err := readMCRecord(dir); err == nil && rec.PID > 0 && ownsProcess(rec.PID, filepath.Join(dir, "memcached")) {
			terminate(rec.PID, nil, m.StopTimeout)
		}
		return os.RemoveAll(dir)
	} else if err != nil {
		return err
	}
	n.life.Lock()
	defer n.life.Unlock()
	m.mu.Lock()
	if n.stopped {
		m.mu.Unlock()
		return nil
	}
	n.stopped = true
	inst := n.inst
	m.mu.Unlock()
	if inst != nil && !inst.dead() {
		m.stopInst(n, inst)
	}
	err = os.RemoveAll(n.dir)
	m.forget(n)
	if err != nil {
		return fmt.Errorf("engine: stop %s: %w", id, err)
	}
	m.log.Info("engine: stopped memcached node", "node", id)
	return nil
}

// Node returns a snapshot of the node, if known.
func (m *Memcached) Node(id string) (*MemcachedNode, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[id]
	if n == nil || n.rec.Port == 0 {
		return nil, false
	}
	return n.snapshot(), true
}

// Nodes returns every known node, sorted by ID.
func (m *Memcached) Nodes() []*MemcachedNode {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*MemcachedNode
	for _, n := range m.nodes {
		if n.rec.Port != 0 {
			out = append(out, n.snapshot())
		}
	}
	slices.SortFunc(out, func(a, b *MemcachedNode) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (n *mcNode) snapshot() *MemcachedNode {
	s := &MemcachedNode{ID: n.id, Addr: n.rec.addr(), Host: n.rec.host(), Port: n.rec.Port, MemoryMB: n.rec.Spec.MemoryMB}
	if n.inst != nil && !n.inst.dead() {
		s.PID = n.inst.pid
	}
	return s
}

// Close stops supervision and leaves the processes running for the next
// Open to adopt.
func (m *Memcached) Close() error {
	m.mu.Lock()
	if m.state != stateOpen {
		m.state = stateClosed
		m.mu.Unlock()
		return nil
	}
	m.state = stateClosed
	m.cancel()
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

func (m *Memcached) binary() (string, error) {
	name := m.Binary
	if name == "" {
		name = "memcached"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", &notFoundError{fmt.Sprintf("engine: %s not found: install it (Debian: apt-get install memcached)", name)}
	}
	return path, nil
}

func (m *Memcached) lookup(id string) (*mcNode, error) {
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

func (m *Memcached) lockNode(id string) (*mcNode, bool, error) {
	for {
		m.mu.Lock()
		if m.state != stateOpen {
			m.mu.Unlock()
			return nil, false, ErrClosed
		}
		n := m.nodes[id]
		created := n == nil
		if created {
			n = &mcNode{id: id, dir: m.nodeDir(id)}
			m.nodes[id] = n
		}
		m.mu.Unlock()
		n.life.Lock()
		m.mu.Lock()
		gone := n.stopped || m.nodes[id] != n
		m.mu.Unlock()
		if !gone {
			return n, created, nil
		}
		n.life.Unlock()
	}
}

func (m *Memcached) forget(n *mcNode) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.stopped = true
	if m.nodes[n.id] == n {
		delete(m.nodes, n.id)
	}
	if n.rec.Port != 0 && m.ports[n.rec.addr()] == n.id {
		delete(m.ports, n.rec.addr())
	}
	if n.rec.Host != "" && m.Hosts != nil {
		m.Hosts.ReleaseHost(n.id, n.rec.Host, false)
	}
}

func (m *Memcached) setRec(n *mcNode, f func(*mcRecord)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&n.rec)
}

func (m *Memcached) setInst(n *mcNode, inst *instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.inst = inst
	n.rec.PID = inst.pid
}

// startNew starts a new node on a fresh port, trying another if the port
// was taken meanwhile.
func (m *Memcached) startNew(ctx context.Context, n *mcNode) error {
	var err error
	for range 3 {
		host, port := "", 0
		if m.Hosts != nil {
			m.mu.Lock()
			want := n.rec.Spec.Port
			m.mu.Unlock()
			if host, port, err = m.Hosts.AllocateHost(n.id, want); err != nil {
				return err
			}
		}
		if host == "" {
			var perr error
			if port, perr = m.allocatePort(n.id); perr != nil {
				return perr
			}
		}
		m.setRec(n, func(r *mcRecord) { r.Host, r.Port = host, port })
		m.mu.Lock()
		m.ports[n.rec.addr()] = n.id
		m.mu.Unlock()
		if err = m.start(ctx, n); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "in use") {
			return err
		}
		m.mu.Lock()
		delete(m.ports, n.rec.addr())
		m.mu.Unlock()
		if host != "" {
			m.Hosts.ReleaseHost(n.id, host, true)
		}
	}
	return err
}

func (m *Memcached) allocatePort(id string) (int, error) { return allocatePort(&m.mu, m.ports, id) }

// start starts n's process from its record and waits until it answers
// "stats" with its pid. Requires n.life.
func (m *Memcached) start(ctx context.Context, n *mcNode) error {
	bin, err := m.binary()
	if err != nil {
		return err
	}
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return fmt.Errorf("engine: start %s: %w", n.id, err)
	}
	if err := writeMCRecord(n.dir, rec); err != nil {
		return fmt.Errorf("engine: start %s: %w", n.id, err)
	}
	logName := filepath.Join(n.dir, "stdout.log")
	out, err := os.OpenFile(logName, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("engine: start %s: %w", n.id, err)
	}
	// Loopback TCP only, no UDP (its amplification is why ElastiCache
	// turned it off too).
	args := []string{"-l", rec.host(), "-p", strconv.Itoa(rec.Port), "-U", "0", "-m", strconv.Itoa(rec.Spec.MemoryMB)}
	if os.Geteuid() == 0 {
		// memcached refuses to run as root.
		args = append(args, "-u", "nobody")
	}
	cmd := exec.Command(bin, args...)
	// argv[0] names the node's directory, so that a later keyward can
	// recognise its process (owns) and test harnesses can find it.
	cmd.Args[0] = m.argv0(n)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	out.Close()
	if err != nil {
		return fmt.Errorf("engine: start %s: %w", n.id, err)
	}
	inst := &instance{pid: cmd.Process.Pid, started: time.Now(), exited: make(chan struct{})}
	go func() {
		inst.exitErr = cmd.Wait()
		close(inst.exited)
	}()
	if err := m.waitReady(ctx, rec.addr(), inst); err != nil {
		terminate(inst.pid, inst, m.StopTimeout)
		b, _ := os.ReadFile(logName)
		return fmt.Errorf("engine: start %s: %w\nstdout.log:\n%s", n.id, err, tail(b, 600))
	}
	m.setInst(n, inst)
	m.mu.Lock()
	rec = n.rec
	m.mu.Unlock()
	if err := writeMCRecord(n.dir, rec); err != nil {
		m.log.Warn("engine: write node record", "node", n.id, "err", err)
	}
	if !m.goSupervised(func() { m.watch(n, inst) }) {
		return ErrClosed
	}
	return nil
}

func (m *Memcached) waitReady(ctx context.Context, addr string, inst *instance) error {
	ctx, cancel := context.WithTimeout(ctx, m.StartTimeout)
	defer cancel()
	delay := 2 * time.Millisecond
	var last error
	for {
		select {
		case <-inst.exited:
			return fmt.Errorf("memcached exited during start (%v)", inst.exitErr)
		default:
		}
		pid, err := memcachedPID(ctx, addr)
		if err == nil && pid == inst.pid {
			return nil
		} else if err == nil {
			err = fmt.Errorf("%s answered by pid %d, not %d", addr, pid, inst.pid)
		}
		last = err
		select {
		case <-inst.exited:
			return fmt.Errorf("memcached exited during start (%v)", inst.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("memcached not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// stopInst ends a running process on purpose (no crash for supervision).
// Requires n.life.
func (m *Memcached) stopInst(n *mcNode, inst *instance) {
	inst.stopping.Store(true)
	terminate(inst.pid, inst, m.StopTimeout)
}

func (m *Memcached) goSupervised(f func()) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != stateOpen {
		return false
	}
	m.wg.Go(f)
	return true
}

func (m *Memcached) notify(id string) {
	if m.OnRestart != nil {
		m.goSupervised(func() { m.OnRestart(id) })
	}
}

func (m *Memcached) watch(n *mcNode, inst *instance) {
	select {
	case <-inst.exited:
	case <-m.ctx.Done():
		return
	}
	if inst.stopping.Load() {
		return // stopped or restarted on purpose: whoever did it starts it
	}
	m.log.Warn("engine: memcached process exited", "node", n.id, "pid", inst.pid, "status", inst.exitErr)
	m.revive(n, inst)
}

// revive restarts n after its process dead exited (nil: never started
// here), with a backoff, unless it was restarted or stopped meanwhile.
func (m *Memcached) revive(n *mcNode, dead *instance) {
	m.mu.Lock()
	if dead == nil || time.Since(dead.started) < stableAfter {
		n.fails++
	} else {
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
			m.log.Info("engine: restarted memcached node", "node", n.id)
			m.notify(n.id)
			return
		}
		if errors.Is(err, ErrClosed) || m.ctx.Err() != nil {
			return
		}
		m.mu.Lock()
		n.fails++
		m.mu.Unlock()
		m.log.Error("engine: restart memcached node", "node", n.id, "err", err)
	}
}

// memcachedPID asks the server at addr for its pid ("stats").
func memcachedPID(ctx context.Context, addr string) (int, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if dl, ok := dctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	pid := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		line = strings.TrimSpace(line)
		if line == "END" {
			break
		}
		if v, ok := strings.CutPrefix(line, "STAT pid "); ok {
			pid, _ = strconv.Atoi(v)
		} else if !strings.HasPrefix(line, "STAT ") {
			return 0, fmt.Errorf("unexpected stats answer %q", line)
		}
	}
	if pid == 0 {
		return 0, errors.New("stats has no pid")
	}
	return pid, nil
}

func readMCRecord(dir string) (mcRecord, error) {
	var rec mcRecord
	b, err := os.ReadFile(filepath.Join(dir, "node.json"))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("node.json: %w", err)
	}
	if rec.Spec.ID != filepath.Base(dir) || rec.Port <= 0 || rec.Port > 65535 || rec.Spec.MemoryMB <= 0 {
		return rec, errors.New("node.json: id, port or memory invalid")
	}
	return rec, nil
}

func writeMCRecord(dir string, rec mcRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "node.json"), append(b, '\n'), 0o600)
}
