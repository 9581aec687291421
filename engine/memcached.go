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

	"keyward/internal/atomicfile"
	"keyward/internal/procwait"
)

// Memcached runs memcached nodes, one real memcached process each, under
// DataDir/memcached/<id>/ (node.json: spec, ports, pids; stdout.log), each
// behind a front (package mcfront) that owns the node's client port, answers
// ElastiCache's Auto Discovery ("config get cluster") and relays everything
// else to the memcached process, which listens on a port of its own on the
// node's address (BackendPort). It is kept apart from Manager because
// memcached has no ACLs, no replication and no configuration file: nothing
// of the Redis nodes' machinery applies.
//
// A cluster's configuration endpoint (EnsureEndpoint) is a front without a
// memcached of its own, on a stable address of its own, relaying to the
// cluster's first listed node. Fronts answer Auto Discovery from the
// cluster's discovery file, DataDir/memcached/.clusters/<cluster>/
// discovery.json, which SetDiscovery writes.
//
// As Redis nodes do, memcached processes and front processes run in their
// own process groups and outlive keyward: Close stops supervising and
// leaves them running, and the next Open adopts every process that still
// runs (a memcached whose "stats" pid matches node.json and whose command
// line names the node's directory; a front whose command line names its
// directory); the others are started again on the same ports. A process
// that dies is restarted with a backoff (the restart loop Manager uses), and
// OnRestart is called after a memcached restart. A memcached node holds its
// data in memory only, so a restart empties it, as a reboot empties an
// ElastiCache Memcached node; a front's restart keeps the data (its clients
// reconnect).
//
// A node of an earlier keyward (no BackendPort) has no front: its memcached
// keeps serving the client port itself, with its data, until its next start
// (a reboot, a crash, a memory change), which puts it behind a front.
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
	// or Open started the memcached process of an existing node again.
	OnRestart func(id string)
	// StartTimeout bounds the wait for a started node to answer; default 10s.
	StartTimeout time.Duration
	// StopTimeout bounds each step of stopping a node (SIGTERM, then
	// SIGKILL); default 5s.
	StopTimeout time.Duration
	// Hosts, if set (and giving addresses of their own), gives every new
	// node a loopback address of its own from the Redis nodes' range, on
	// which it listens on the spec's Port, and every configuration
	// endpoint a reserved address; otherwise nodes listen on 127.0.0.1 on
	// free ports. Its CA signs the certificates of TLS fronts.
	Hosts *Manager
	// FrontCommand builds the command that runs the front configured in
	// dir ("keyward mcfront DIR"); nil runs fronts in this process
	// instead (they end with Close: for tests, which cannot exec keyward).
	FrontCommand func(dir string) *exec.Cmd

	mu        sync.Mutex
	state     int
	nodes     map[string]*mcNode
	endpoints map[string]*mcEndpoint
	ports     map[string]string // host:port -> node id
	log       *slog.Logger
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
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
	// Cluster names the node's cluster (with the rules of ID): its front
	// answers Auto Discovery from the cluster's discovery file. Empty: the
	// node is a cluster of its own, listing itself.
	Cluster string `json:"cluster,omitempty"`
	// TLS makes the node's front serve TLS only, with a certificate from
	// Hosts' CA (in-transit encryption).
	TLS bool `json:"tls,omitempty"`
	// Args are further memcached arguments (a parameter group's, see
	// catalog.MemcachedArgs). They take effect when the process starts:
	// a change is recorded for the next start (Restart, a memory change).
	Args []string `json:"args,omitempty"`
}

// MemcachedNode is a snapshot of a memcached node.
type MemcachedNode struct {
	ID       string
	Addr     string // "<host>:<port>": the client port (the front's)
	Host     string // the node's own address, or 127.0.0.1
	Port     int
	PID      int    // the memcached process; 0 while it is down
	Backend  string // memcached's own "<host>:<port>", behind the front
	FrontPID int    // 0 for an in-process front, or while it is down
	MemoryMB int
	TLS      bool
}

type mcRecord struct {
	Spec MemcachedSpec `json:"spec"`
	// Host is the node's own address ("" for 127.0.0.1), Port its client
	// port there.
	listenAt
	PID int `json:"pid,omitempty"`
	// BackendPort is memcached's port on Host behind the front; 0 for a
	// node of an earlier keyward, whose memcached serves Port itself.
	BackendPort int `json:"backendPort,omitempty"`
	FrontPID    int `json:"frontPid,omitempty"`
}

// backend is the address memcached listens on.
func (r mcRecord) backend() string {
	if r.BackendPort == 0 {
		return r.addr()
	}
	return net.JoinHostPort(r.host(), strconv.Itoa(r.BackendPort))
}

// mcProc is one supervised process of a node or endpoint: a memcached, or
// a front (srv set when it runs in this process). Guarded by Memcached.mu;
// written with the owner's life lock held.
type mcProc struct {
	inst  *instance
	srv   frontServer
	fails int
	next  time.Time // when supervision may start it again
}

type mcNode struct {
	id, dir string
	life    sync.Mutex // serialises starting and stopping
	// Guarded by Memcached.mu; written with life held.
	rec       mcRecord
	mc, front mcProc
	stopped   bool
}

func (m *Memcached) dir() string              { return filepath.Join(m.DataDir, "memcached") }
func (m *Memcached) nodeDir(id string) string { return filepath.Join(m.dir(), id) }

// Open adopts the processes a previous process left running, starts those
// that are not, and starts supervision.
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
	m.nodes, m.endpoints, m.ports = map[string]*mcNode{}, map[string]*mcEndpoint{}, map[string]string{}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.state = stateOpen
	m.mu.Unlock()
	if err := os.MkdirAll(m.clustersDir(), 0o700); err != nil {
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
		if rec.BackendPort != 0 {
			m.ports[rec.backend()] = n.id
		}
		if rec.Host != "" && m.Hosts != nil {
			m.Hosts.ClaimHost(n.id, rec.Host)
		}
		found = append(found, n)
	}
	m.mu.Unlock()
	eps, err := m.loadEndpoints()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, n := range found {
		wg.Go(func() { m.adoptOrStart(ctx, n) })
	}
	for _, ep := range eps {
		wg.Go(func() { m.adoptOrStartEndpoint(ctx, ep) })
	}
	wg.Wait()
	return nil
}

func (m *Memcached) adoptOrStart(ctx context.Context, n *mcNode) {
	n.life.Lock()
	defer n.life.Unlock()
	log := m.log.With("node", n.id)
	if pid, err := memcachedPID(ctx, n.rec.backend()); err == nil && pid == n.rec.PID && m.owns(n, pid) {
		inst := &instance{pid: pid, started: time.Now(), exited: make(chan struct{})}
		go pollExit(inst, m.ctx.Done())
		m.setInst(n, &n.mc, inst)
		m.watchMC(n, inst)
		log.Info("engine: adopted memcached node", "pid", pid, "addr", n.rec.backend())
	} else {
		if n.rec.PID > 0 && m.owns(n, n.rec.PID) {
			terminate(n.rec.PID, nil, m.StopTimeout)
		}
		if err := m.startMC(ctx, n); err != nil {
			log.Error("engine: restart memcached node", "err", err)
			m.goSupervised(func() { m.reviveNodeMC(n, nil) })
		} else {
			m.notify(n.id)
		}
	}
	if n.rec.BackendPort == 0 {
		log.Info("engine: memcached node of an earlier keyward: Auto Discovery and TLS after its next start")
		return
	}
	if err := m.adoptOrStartFront(ctx, &n.front, m.frontDir(n), n.rec.FrontPID, func(ctx context.Context) error { return m.startNodeFront(ctx, n) }, m.superviseNodeFront(n)); err != nil {
		log.Error("engine: restart memcached front", "err", err)
		m.goSupervised(func() { m.reviveNodeFront(n, nil) })
	}
}

// owns reports whether pid is a memcached started for n: its argv[0] is
// the node's directory (see startMC).
func (m *Memcached) owns(n *mcNode, pid int) bool { return ownsProcess(pid, m.argv0(n)) }

func (m *Memcached) argv0(n *mcNode) string { return filepath.Join(n.dir, "memcached") }

// Ensure makes the node and its front exist and run, and returns it. A new
// node gets an address of its own and spec's Port there (see Hosts), or a
// free port on 127.0.0.1, which it keeps, and memcached a free port of the
// same address behind the front; a process that is down is started again;
// a change of MemoryMB restarts memcached (it cannot change its memory
// limit at run time; the data is lost, as on a reboot); a change of
// Cluster or TLS restarts only the front.
func (m *Memcached) Ensure(ctx context.Context, spec MemcachedSpec) (*MemcachedNode, error) {
	if err := validateID(spec.ID); err != nil {
		return nil, err
	}
	if spec.Cluster != "" {
		if err := validateID(spec.Cluster); err != nil {
			return nil, err
		}
	}
	if spec.MemoryMB <= 0 {
		return nil, fmt.Errorf("engine: memcached node %s: memory must be positive", spec.ID)
	}
	if spec.TLS && m.ca() == nil {
		return nil, fmt.Errorf("engine: memcached node %s: TLS needs Hosts (its CA)", spec.ID)
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
	cur, inst, front := n.rec, n.mc.inst, n.front.inst
	m.mu.Unlock()
	if !created {
		spec.Port = cur.Spec.Port // a node keeps its port
	}
	if created {
		m.setRec(n, func(r *mcRecord) { *r = mcRecord{Spec: spec} })
		if err := m.startNew(ctx, n); err != nil {
			m.forget(n)
			os.RemoveAll(n.dir)
			return nil, err
		}
		m.log.Info("engine: started memcached node", "node", n.id, "addr", n.rec.addr(), "backend", n.rec.backend())
		node, _ := m.Node(spec.ID)
		return node, nil
	}
	mcDown := inst == nil || inst.dead()
	if !mcDown && cur.Spec.MemoryMB != spec.MemoryMB {
		m.stopProc(&n.mc, inst)
		mcDown = true
	}
	m.setRec(n, func(r *mcRecord) { r.Spec = spec })
	if mcDown {
		if err := m.startMC(ctx, n); err != nil {
			return nil, err
		}
		m.notify(n.id)
	}
	m.mu.Lock()
	legacy, front := n.rec.BackendPort == 0, n.front.inst
	m.mu.Unlock()
	frontChanged := cur.Spec.Cluster != spec.Cluster || cur.Spec.TLS != spec.TLS
	switch {
	case legacy:
	case front == nil || front.dead():
		if err := m.startNodeFront(ctx, n); err != nil {
			return nil, err
		}
	case frontChanged:
		m.stopProc(&n.front, front)
		if err := m.startNodeFront(ctx, n); err != nil {
			return nil, err
		}
	}
	node, _ := m.Node(spec.ID)
	return node, nil
}

// Restart stops the node's memcached process and starts a new one on the
// same port (a reboot: the node comes back empty); its front stays. It
// returns once the new process answers.
func (m *Memcached) Restart(ctx context.Context, id string) (*MemcachedNode, error) {
	n, err := m.lookup(id)
	if err != nil {
		return nil, err
	}
	n.life.Lock()
	defer n.life.Unlock()
	m.mu.Lock()
	inst, stopped := n.mc.inst, n.stopped
	m.mu.Unlock()
	if stopped {
		return nil, ErrNodeNotFound
	}
	if inst != nil && !inst.dead() {
		m.stopProc(&n.mc, inst)
	}
	if err := m.startMC(ctx, n); err != nil {
		return nil, err
	}
	m.log.Info("engine: rebooted memcached node", "node", id)
	node, _ := m.Node(id)
	return node, nil
}

// Stop ends the node's processes and removes its directory; stopping an
// unknown node removes whatever is left of its directory.
func (m *Memcached) Stop(ctx context.Context, id string) error {
	if err := validateID(id); err != nil {
		return err
	}
	n, err := m.lookup(id)
	if errors.Is(err, ErrNodeNotFound) {
		dir := m.nodeDir(id)
		if rec, err := readMCRecord(dir); err == nil {
			if rec.FrontPID > 0 && ownsFront(rec.FrontPID, filepath.Join(dir, "front")) {
				terminate(rec.FrontPID, nil, m.StopTimeout)
			}
			if rec.PID > 0 && ownsProcess(rec.PID, filepath.Join(dir, "memcached")) {
				terminate(rec.PID, nil, m.StopTimeout)
			}
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
	inst, front := n.mc.inst, n.front.inst
	m.mu.Unlock()
	if front != nil && !front.dead() {
		m.stopProc(&n.front, front)
	}
	if inst != nil && !inst.dead() {
		m.stopProc(&n.mc, inst)
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
	s := &MemcachedNode{ID: n.id, Addr: n.rec.addr(), Host: n.rec.host(), Port: n.rec.Port, Backend: n.rec.backend(),
		MemoryMB: n.rec.Spec.MemoryMB, TLS: n.rec.Spec.TLS && n.rec.BackendPort != 0}
	if i := n.mc.inst; i != nil && !i.dead() {
		s.PID = i.pid
	}
	if i := n.front.inst; i != nil && !i.dead() {
		s.FrontPID = i.pid
	}
	return s
}

// Close stops supervision and leaves the processes running for the next
// Open to adopt (fronts run in this process end).
func (m *Memcached) Close() error {
	m.mu.Lock()
	if m.state != stateOpen {
		m.state = stateClosed
		m.mu.Unlock()
		return nil
	}
	m.state = stateClosed
	m.cancel()
	var srvs []frontServer
	for _, n := range m.nodes {
		if n.front.srv != nil {
			srvs = append(srvs, n.front.srv)
		}
	}
	for _, ep := range m.endpoints {
		if ep.front.srv != nil {
			srvs = append(srvs, ep.front.srv)
		}
	}
	m.mu.Unlock()
	for _, s := range srvs {
		s.Close()
	}
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

func (m *Memcached) ca() *CA {
	if m.Hosts == nil {
		return nil
	}
	return m.Hosts.CA()
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
	for _, a := range []string{n.rec.addr(), n.rec.backend()} {
		if n.rec.Port != 0 && m.ports[a] == n.id {
			delete(m.ports, a)
		}
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

// setInst records inst as p's process (p is n.mc or n.front).
func (m *Memcached) setInst(n *mcNode, p *mcProc, inst *instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p.inst = inst
	if p == &n.mc {
		n.rec.PID = inst.pid
	} else {
		n.rec.FrontPID = inst.pid
	}
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
		m.setRec(n, func(r *mcRecord) { r.Host, r.Port, r.BackendPort = host, port, 0 })
		m.mu.Lock()
		m.ports[n.rec.addr()] = n.id
		m.mu.Unlock()
		if err = m.allocateBackend(n); err == nil {
			if err = m.startMC(ctx, n); err == nil {
				if err = m.startNodeFront(ctx, n); err != nil {
					m.mu.Lock()
					inst := n.mc.inst
					m.mu.Unlock()
					m.stopProc(&n.mc, inst)
				}
			}
		}
		if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "in use") {
			return err
		}
		m.mu.Lock()
		delete(m.ports, n.rec.addr())
		delete(m.ports, n.rec.backend())
		m.mu.Unlock()
		if host != "" {
			m.Hosts.ReleaseHost(n.id, host, true)
		}
	}
	return err
}

// allocateBackend gives n's memcached a free port of n's address, behind
// the front on n's client port.
func (m *Memcached) allocateBackend(n *mcNode) error {
	m.mu.Lock()
	host := n.rec.Host
	m.mu.Unlock()
	if host == "" {
		p, err := m.allocatePort(n.id)
		if err != nil {
			return err
		}
		m.setRec(n, func(r *mcRecord) { r.BackendPort = p })
		return nil
	}
	for range 20 {
		p, ok := free(host, 0)
		if !ok {
			break
		}
		a := net.JoinHostPort(host, strconv.Itoa(p))
		m.mu.Lock()
		_, used := m.ports[a]
		if !used {
			m.ports[a] = n.id
			n.rec.BackendPort = p
		}
		m.mu.Unlock()
		if !used {
			return nil
		}
	}
	return fmt.Errorf("engine: memcached node %s: no free port on %s", n.id, host)
}

func (m *Memcached) allocatePort(id string) (int, error) { return allocatePort(&m.mu, m.ports, id) }

// startMC starts n's memcached from its record and waits until it answers
// "stats" with its pid. A node of an earlier keyward (no BackendPort) moves
// behind a front: memcached on a port of its own, then its front on the
// client port. Requires n.life.
func (m *Memcached) startMC(ctx context.Context, n *mcNode) error {
	bin, err := m.binary()
	if err != nil {
		return err
	}
	m.mu.Lock()
	legacy := n.rec.BackendPort == 0
	m.mu.Unlock()
	if legacy {
		if err := m.allocateBackend(n); err != nil {
			return err
		}
		m.log.Info("engine: memcached node of an earlier keyward moves behind a front", "node", n.id)
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
	port := rec.BackendPort
	if port == 0 {
		port = rec.Port
	}
	// Loopback TCP only, no UDP (its amplification is why ElastiCache
	// turned it off too).
	args := []string{"-l", rec.host(), "-p", strconv.Itoa(port), "-U", "0", "-m", strconv.Itoa(rec.Spec.MemoryMB)}
	if os.Geteuid() == 0 {
		// memcached refuses to run as root.
		args = append(args, "-u", "nobody")
	}
	args = append(args, rec.Spec.Args...)
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
		inst.exitErr = procwait.Reap(cmd, inst.pid)
		close(inst.exited)
	}()
	if err := m.waitReady(ctx, rec.backend(), inst); err != nil {
		terminate(inst.pid, inst, m.StopTimeout)
		b, _ := os.ReadFile(logName)
		return fmt.Errorf("engine: start %s: %w\nstdout.log:\n%s", n.id, err, tail(b, 600))
	}
	m.setInst(n, &n.mc, inst)
	m.saveRecord(n)
	if !m.watchMC(n, inst) {
		return ErrClosed
	}
	if legacy {
		return m.startNodeFront(ctx, n)
	}
	return nil
}

func (m *Memcached) saveRecord(n *mcNode) {
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	if err := writeMCRecord(n.dir, rec); err != nil {
		m.log.Warn("engine: write node record", "node", n.id, "err", err)
	}
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

// stopProc ends a running process on purpose (no crash for supervision).
// Requires the owner's life lock.
func (m *Memcached) stopProc(p *mcProc, inst *instance) {
	if inst == nil {
		return
	}
	inst.stopping.Store(true)
	m.mu.Lock()
	srv := p.srv
	m.mu.Unlock()
	if inst.pid == 0 { // a front in this process
		if srv != nil {
			srv.Close()
		}
		<-inst.exited
		return
	}
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

// watchMC supervises inst, n's memcached process.
func (m *Memcached) watchMC(n *mcNode, inst *instance) bool {
	return m.goSupervised(func() {
		if m.exited(inst, "memcached process", n.id) {
			m.reviveNodeMC(n, inst)
		}
	})
}

func (m *Memcached) reviveNodeMC(n *mcNode, dead *instance) {
	m.revive(&n.mc, dead, &n.life, func() bool { return n.stopped }, func() error { return m.startMC(m.ctx, n) }, func() {
		m.log.Info("engine: restarted memcached node", "node", n.id)
		m.notify(n.id)
	}, "memcached node", n.id)
}

// exited waits for inst to exit and reports whether supervision must
// restart it (it was not stopped on purpose, and the Memcached is open).
func (m *Memcached) exited(inst *instance, what, id string) bool {
	if !awaitExit(inst, m.ctx.Done()) || inst.stopping.Load() {
		return false // stopped or restarted on purpose: whoever did it starts it
	}
	m.log.Warn("engine: "+what+" exited", "node", id, "pid", inst.pid, "status", inst.exitErr)
	return true
}

// revive restarts p, whose process dead exited (nil: never started
// here), with the backoff of restartLoop, unless it was restarted or its
// owner stopped meanwhile (gone is called with m.mu held).
func (m *Memcached) revive(p *mcProc, dead *instance, life *sync.Mutex, gone func() bool, start func() error, started func(), what, id string) {
	m.mu.Lock()
	p.fails = countExit(p.fails, dead)
	p.next = time.Now().Add(restartDelay(p.fails))
	m.mu.Unlock()
	restartLoop{
		ctx: m.ctx, mu: &m.mu, life: life,
		due: func() time.Time { return p.next },
		current: func() (bool, bool) {
			return !gone() && p.inst == dead && m.state == stateOpen, false
		},
		start:   start,
		started: started,
		failed: func(err error) {
			m.mu.Lock()
			p.fails++
			p.next = time.Now().Add(restartDelay(p.fails))
			m.mu.Unlock()
			m.log.Error("engine: restart "+what, "node", id, "err", err)
		},
	}.run()
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
	return atomicfile.Write(filepath.Join(dir, "node.json"), append(b, '\n'), 0o600)
}
