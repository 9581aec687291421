package engine

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"keyward/internal/atomicfile"
)

// Engine names as NodeSpec.Engine takes them.
const (
	EngineRedis  = "redis"
	EngineValkey = "valkey"
)

// Node roles as Node.Role reports them.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

var (
	// ErrEngineNotFound is returned (wrapped, with a message that says how
	// to install it) when the server binary for a node's engine is missing.
	ErrEngineNotFound = errors.New("engine: server binary not found")

	// ErrTLSUnsupported is returned for a TLS node when the server binary
	// was built without TLS.
	ErrTLSUnsupported = errors.New("engine: server binary built without TLS")

	// ErrNodeNotFound is returned for a node id the Manager does not know.
	ErrNodeNotFound = errors.New("engine: node not found")

	// ErrNodeNotRunning is returned by ACL operations on a node whose
	// process is down (supervision is restarting it; retry later).
	ErrNodeNotRunning = errors.New("engine: node not running")

	// ErrClosed is returned by a Manager that is not open.
	ErrClosed = errors.New("engine: manager not open")
)

// NodeSpec is the desired shape of one node.
type NodeSpec struct {
	// ID names the node; it is unique within the Manager and used as a
	// directory name, so it may contain only ASCII letters, digits, ".",
	// "_" and "-", must start with a letter or digit and be at most 200
	// bytes (e.g. "000000000000.us-east-1.rg1-001").
	ID string `json:"id"`

	// Engine is EngineRedis or EngineValkey.
	Engine string `json:"engine"`

	// ReplicaOf is the ID of the node this one replicates, "" for a
	// primary. The primary must have been ensured first, and must have the
	// same TLS setting.
	ReplicaOf string `json:"replicaOf,omitempty"`

	// TLS makes the node accept TLS connections only (and replicate over
	// TLS), with a certificate signed by the Manager's CA.
	TLS bool `json:"tls,omitempty"`

	// Cluster runs the node with cluster-enabled yes (a Redis Cluster
	// node, see cluster.go). Replication is then wired with CLUSTER
	// REPLICATE: a change of ReplicaOf is only recorded (it names the
	// primary the node was given, for its role), never applied with
	// REPLICAOF, which cluster nodes refuse.
	Cluster bool `json:"cluster,omitempty"`

	// ReplGroup, if set, names the replication group the node belongs to:
	// all its members share one replication password (masterauth and
	// ReplUser), so that a member can replicate from whichever member is
	// primary after a failover that keyward did not make (Redis Cluster's
	// own). Unset, a replica authenticates with its primary's password.
	ReplGroup string `json:"replGroup,omitempty"`

	// MaxMemory is the node's maxmemory in bytes (0: no limit) and
	// MaxMemoryPolicy its maxmemory-policy ("": the engine's default,
	// noeviction). A change is applied with CONFIG SET, without a restart.
	MaxMemory       int64  `json:"maxMemory,omitempty"`
	MaxMemoryPolicy string `json:"maxMemoryPolicy,omitempty"`

	// Config holds further configuration directives (name → value) from
	// the cache's parameter group. A change is applied with CONFIG SET,
	// without a restart; a directive dropped from Config gets back the
	// value the node had before keyward first set it (see applyConfig).
	Config map[string]string `json:"config,omitempty"`

	// Port is the client port a new node asks for (0: a free one). With
	// addresses of its own (Manager.Addresses) the node gets it on its
	// address; otherwise a free port on 127.0.0.1. A node keeps the port it
	// got for good: Port is not looked at again.
	Port int `json:"port,omitempty"`
	// FrontPort, when set, is kept free on a new node's address for the
	// node's front (package fronts), which owns the client-facing port of
	// a TLS node while the node itself listens on Port.
	FrontPort int `json:"frontPort,omitempty"`

	// Binds are further addresses (reserved with ReserveAddress) the node
	// listens on, at its port: a replication group's primary endpoint on
	// its primary, its reader endpoint on one replica. A change is applied
	// with CONFIG SET bind, without a restart.
	Binds []string `json:"binds,omitempty"`
	// CertHosts are further addresses a TLS node's certificate names (its
	// own address, 127.0.0.1 and localhost always): the group's endpoint
	// addresses, which may come to this node or its front.
	CertHosts []string `json:"certHosts,omitempty"`

	// Failover marks a primary whose group fails over automatically: when
	// its process dies, supervision leaves it down for FailoverHold and
	// calls OnExit, so that the caller can promote a replica and restart
	// this node as the new primary's replica (through Ensure, which starts
	// it at once). Without a new Ensure it is restarted after the hold.
	Failover bool `json:"failover,omitempty"`

	// BootConfig holds directives that take effect only when the process
	// starts (a parameter group's requires-reboot parameters): they are
	// written to the configuration file and never set live, so a change
	// waits for the node's next start (a reboot).
	BootConfig map[string]string `json:"bootConfig,omitempty"`

	// AnnouncePort, for a Cluster node, is the client port it announces
	// instead of its own (see cluster.go): its front's. A change is
	// applied with CONFIG SET, without a restart.
	AnnouncePort int `json:"announcePort,omitempty"`

	// ShareHost, for a new node, names a node whose address this one
	// shares instead of getting its own: a serverless cache's reader,
	// served at the next port of the cache's endpoint (serverless.go).
	// Port (or FrontPort) must be free there.
	ShareHost string `json:"shareHost,omitempty"`
}

// Node is a snapshot of a managed node.
type Node struct {
	ID      string
	Engine  string
	Addr    string // "<host>:<port>"
	Host    string // the node's address: its own, or 127.0.0.1
	Port    int    // the TLS port for a TLS node
	BusPort int    // a Cluster node's bus port
	PID     int    // 0 while the process is down
	TLS     bool
	Role    string // RolePrimary or RoleReplica, from the spec
	// ReplicaOf is the ID of the node's primary, "" for a primary.
	ReplicaOf string
	// Unresponsive reports a running process that leaves keyward's admin
	// commands unanswered (paused, stopped or busy); the Manager restarts
	// it after StuckTimeout.
	Unresponsive bool
	// Socket is the node's private Unix socket (the admin channel), ""
	// for a node of an older keyward, which has none until its next
	// start; ConfFile is its configuration file, which the command line
	// of the socket's server process names (a front checks it before it
	// uses the socket, see front.Server.BackendProcess).
	Socket, ConfFile string
}

// Manager starts, supervises, adopts and stops nodes. Set the fields, then
// call Open; the fields must not change afterwards.
type Manager struct {
	// DataDir holds the admin secret, the CA (tls/) and the nodes (nodes/).
	DataDir string

	// RedisServer is the binary for engine "redis": a path, or a name
	// looked up on PATH; default "redis-server".
	RedisServer string

	// ValkeyServer is the binary for engine "valkey"; default "valkey-server".
	ValkeyServer string

	Logger *slog.Logger

	// OnRestart, if set, is called in its own goroutine after the process
	// of an existing node was started again: by supervision after it died,
	// by Open when a node left by a previous process was not running any
	// more, or by Ensure (a dead node, or a change of Engine or TLS). The
	// node comes back with the ACL users last saved by ApplyACL; the
	// callback lets the caller re-apply its desired state anyway. It is not
	// called for the first start of a new node.
	OnRestart func(id string)

	// OnExit, if set, is called in its own goroutine when the process of a
	// node with NodeSpec.Failover died and is held down (see Failover).
	OnExit func(id string)

	// Addresses is the range new nodes get addresses of their own from
	// (see addresses.go); unset, every node listens on 127.0.0.1.
	Addresses netip.Prefix

	// FailoverHold is how long a dead Failover primary is left down
	// before supervision restarts it anyway; default 10s.
	FailoverHold time.Duration

	// OnCrash, if set, is called when a node's process died unexpectedly,
	// before supervision restarts it (which waits for the call): the
	// caller may fail a cluster-mode node's role over to another node
	// first. It must return quickly.
	OnCrash func(id string)

	// StartTimeout bounds the wait for a started server to answer PING;
	// default 15s.
	StartTimeout time.Duration

	// StopTimeout bounds each step of stopping a server (SHUTDOWN, then
	// SIGTERM, then SIGKILL); default 5s.
	StopTimeout time.Duration

	// StuckTimeout is how long a node may leave keyward's admin commands
	// unanswered (paused by CLIENT PAUSE, stopped, or busy with a script
	// that SCRIPT KILL cannot end) before the Manager restarts it from its
	// desired state; default 5s.
	StuckTimeout time.Duration

	// RunAs is the system user nodes run as when keyward runs as root:
	// default NodeUserName, created if absent (or "nobody" if it cannot
	// be). Ignored when keyward does not run as root.
	RunAs string

	mu    sync.Mutex
	state int // stateNew, stateOpen, stateClosed
	nodes map[string]*node
	ports map[string]string // host:port in use by nodes -> node id
	hosts map[string]string // addresses of the range taken -> node id or "reserved:"+owner
	busy  map[string]bool   // addresses another process listens on: skipped
	// reserved maps ReserveAddress owners to their addresses.
	reserved map[string]string
	ownHosts bool // nodes get addresses of their own (probed by Open)
	secret   string
	ca       *CA
	tlsOK    map[string]error // binary path -> result of the TLS probe
	log      *slog.Logger
	ctx      context.Context // cancelled by Close: ends supervision
	cancel   context.CancelFunc
	wg       sync.WaitGroup // supervision and OnRestart goroutines
	readyFn  func()         // test hook, called when a node answered PING

	nodeCred *syscall.Credential // the node user's, when keyward runs as root
}

const (
	stateNew = iota
	stateOpen
	stateClosed
)

// node is the Manager's record of one node.
type node struct {
	id  string
	dir string

	// life serialises starting, stopping and reconfiguring the node.
	life sync.Mutex

	// Guarded by Manager.mu; written only with life held.
	rec     record
	inst    *instance // the current or last process; nil before the first start
	stopped bool      // Stop was called: never restart, never reuse
	fails   int       // consecutive failed starts or early exits
	// nextStart is when the node may be started again after a failed
	// start or an early exit (supervision backoff); Ensure respects it.
	nextStart time.Time
	// stuckSince is when the oldest admin command the node has left
	// unanswered (timed out, or answered BUSY) was sent; zero if healthy.
	stuckSince time.Time
	unsticking bool // a recovery is running
	// holdUntil keeps supervision from restarting a dead Failover primary
	// before then (see NodeSpec.Failover); Ensure is not held back.
	holdUntil time.Time
	want      *aclState // the last ApplyACL, restored after a restart
	// desiredMemo is the last desiredUsers result (see there).
	desiredMemo *desiredMemo

	admin adminConn
	// reported holds the refusals last logged; guarded by admin.mu.
	reported map[string]string
}

// record is node.json.
type record struct {
	Spec NodeSpec `json:"spec"`
	Port int      `json:"port"`
	// Host is the node's own address; "" for a node of an earlier keyward
	// (or without addresses of its own), which listens on 127.0.0.1.
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
	// Scheme is the admin-channel scheme the node was started with; 0 for
	// nodes of a keyward before the private admin socket.
	Scheme int `json:"scheme,omitempty"`
	// PrimaryAddr is the resolved address of Spec.ReplicaOf, kept so that
	// a replica restarts even when its primary is not known at that time.
	PrimaryAddr string `json:"primaryAddr,omitempty"`
	// BusPort is the cluster bus port of a Cluster node.
	BusPort int `json:"busPort,omitempty"`
	// Following is the outside source Follow made the node replicate
	// from, so that only Follow's own replication is ever undone.
	Following string `json:"following,omitempty"`

	// ConfigOriginals are the values Spec.Config's directives had before
	// keyward first set them, to restore when a directive is dropped.
	ConfigOriginals map[string]string `json:"configOriginals,omitempty"`
	// ConfigLive holds each Config directive as the engine reported it back
	// once set (engines normalise values: "KEA" reads back as "AKE"), to
	// tell drift from spelling.
	ConfigLive map[string]string `json:"configLive,omitempty"`
}

// validID reports whether id is 1 to 200 ASCII letters, digits, '.', '_'
// or '-', starting with a letter or digit (checked on every Ensure, so a
// loop rather than a regular expression).
func validID(id string) bool {
	if len(id) == 0 || len(id) > 200 {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		if !alnum && (i == 0 || b != '.' && b != '_' && b != '-') {
			return false
		}
	}
	return true
}

func validateID(id string) error {
	if !validID(id) {
		return fmt.Errorf("engine: invalid node id %q: use 1 to 200 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

// Validate checks the spec's fields on their own.
func (s NodeSpec) Validate() error {
	if err := validateID(s.ID); err != nil {
		return err
	}
	switch s.Engine {
	case EngineRedis, EngineValkey:
	default:
		return fmt.Errorf("engine: node %s: unknown engine %q (want %q or %q)", s.ID, s.Engine, EngineRedis, EngineValkey)
	}
	if s.ReplicaOf != "" {
		if err := validateID(s.ReplicaOf); err != nil {
			return fmt.Errorf("engine: node %s: replica of: %w", s.ID, err)
		}
		if s.ReplicaOf == s.ID {
			return fmt.Errorf("engine: node %s cannot replicate itself", s.ID)
		}
	}
	if err := s.validateMemory(); err != nil {
		return err
	}
	if s.Port < 0 || s.Port > 65535 || s.FrontPort < 0 || s.FrontPort > 65535 {
		return fmt.Errorf("engine: node %s: port out of range", s.ID)
	}
	for _, h := range append(slices.Clone(s.Binds), s.CertHosts...) {
		if a, err := netip.ParseAddr(h); err != nil || !a.Is4() || a.As4()[0] != 127 {
			return fmt.Errorf("engine: node %s: address %q is not an IPv4 loopback address", s.ID, h)
		}
	}
	if s.Failover && (s.ReplicaOf != "" || s.Cluster) {
		return fmt.Errorf("engine: node %s: Failover is for the primary of a group without cluster mode", s.ID)
	}
	return s.validateConfig()
}

func (m *Manager) nodesDir() string         { return filepath.Join(m.DataDir, "nodes") }
func (m *Manager) nodeDir(id string) string { return filepath.Join(m.nodesDir(), id) }

// Open loads (or creates) the admin secret and the CA, adopts the nodes a
// previous Manager left running, restarts those that are not running, and
// starts supervision. A node directory without a readable node.json is
// logged and left alone (Stop removes it).
func (m *Manager) Open(ctx context.Context) error {
	m.mu.Lock()
	if m.state != stateNew {
		m.mu.Unlock()
		return errors.New("engine: manager already opened")
	}
	if m.DataDir == "" {
		m.mu.Unlock()
		return errors.New("engine: DataDir is required")
	}
	m.log = m.Logger
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.StartTimeout <= 0 {
		m.StartTimeout = 15 * time.Second
	}
	if m.StopTimeout <= 0 {
		m.StopTimeout = 5 * time.Second
	}
	if m.StuckTimeout <= 0 {
		m.StuckTimeout = 5 * time.Second
	}
	if m.FailoverHold <= 0 {
		m.FailoverHold = 10 * time.Second
	}
	m.nodes = make(map[string]*node)
	m.ports = make(map[string]string)
	m.hosts = make(map[string]string)
	m.busy = make(map[string]bool)
	m.tlsOK = make(map[string]error)
	m.mu.Unlock()

	dir, err := filepath.Abs(m.DataDir)
	if err != nil {
		return fmt.Errorf("engine: open: %w", err)
	}
	m.DataDir = dir
	if err := os.MkdirAll(m.nodesDir(), 0o700); err != nil {
		return fmt.Errorf("engine: open: %w", err)
	}
	secret, err := loadOrCreateSecret(filepath.Join(dir, "admin.secret"), true)
	if err != nil {
		return err
	}
	cred, err := m.nodeCredential()
	if err != nil {
		return err
	}
	if cred != nil {
		if d, ok := reachable(dir, cred); !ok {
			m.log.Warn("engine: the node user cannot reach the data directory, so nodes run as root; make the directory traversable (chmod o+x) or choose a data directory outside it", "dir", d, "uid", cred.Uid)
			cred = nil
		}
	}
	if err := prepareDataDir(dir, cred); err != nil {
		return err
	}
	ca, err := loadOrCreateCA(filepath.Join(dir, "tls"))
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(m.nodesDir())
	if err != nil {
		return fmt.Errorf("engine: open: %w", err)
	}

	m.probeAddresses()
	m.mu.Lock()
	if err := m.loadReserved(); err != nil {
		m.mu.Unlock()
		return err
	}
	m.secret, m.ca, m.nodeCred = secret, ca, cred
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.state = stateOpen
	var found []*node
	for _, e := range entries {
		if !e.IsDir() || validateID(e.Name()) != nil {
			continue
		}
		n := &node{id: e.Name(), dir: m.nodeDir(e.Name())}
		rec, err := readRecord(n.dir)
		if err != nil {
			m.log.Warn("engine: ignoring node directory", "node", n.id, "err", err)
			continue
		}
		n.rec = rec
		m.nodes[n.id] = n
		m.registerAddr(n)
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

// adoptOrStart takes over n's process if it still runs and answers as ours,
// and starts it otherwise.
func (m *Manager) adoptOrStart(ctx context.Context, n *node) {
	n.life.Lock()
	defer n.life.Unlock()
	log := m.log.With("node", n.id)
	pid, err := m.probe(ctx, n)
	if err == nil && n.rec.Scheme == schemeLegacy {
		err = m.migrateLegacy(ctx, n)
	}
	if err == nil {
		inst := &instance{pid: pid, started: time.Now(), exited: make(chan struct{})}
		go pollExit(inst, m.ctx.Done())
		recorded := n.rec.PID
		m.setInstance(n, inst)
		if recorded != pid {
			if err := writeRecord(n.dir, n.rec); err != nil {
				log.Warn("engine: write node record", "err", err)
			}
		}
		m.goSupervised(func() { m.watch(n, inst) })
		log.Info("engine: adopted node", "pid", pid, "addr", n.rec.addr())
		return
	}
	// A process of ours that does not answer would keep the port: end it.
	if n.rec.Spec.Failover {
		for _, pid := range ownProcesses(m.confPath(n), n.rec.PID) {
			terminate(pid, nil, m.StopTimeout)
		}
		// A failing-over primary that died while keyward was away: left
		// down for the caller's failover, as supervision would.
		log.Info("engine: primary not running, held for failover", "reason", err)
		m.mu.Lock()
		n.holdUntil = time.Now().Add(m.FailoverHold)
		m.mu.Unlock()
		if m.OnExit != nil {
			m.goSupervised(func() { m.OnExit(n.id) })
		}
		m.goSupervised(func() { m.revive(n, nil) })
		return
	}
	log.Info("engine: node not running, restarting", "reason", err)
	// A process of ours that does not answer (hung, or keyed to another
	// secret or CA) would keep the port: end it first, also one that the
	// record does not name (keyward ended between its start and the
	// record's update).
	for _, pid := range ownProcesses(m.confPath(n), n.rec.PID) {
		terminate(pid, nil, m.StopTimeout)
	}
	if err := m.start(ctx, n); err != nil {
		log.Error("engine: restart node", "err", err)
		m.goSupervised(func() { m.revive(n, nil) })
		return
	}
	m.notifyRestart(n.id)
}

// probe checks that the node's port is served by our server and returns
// its pid. A server still loading its data set is waited for (up to
// StartTimeout), not taken for a dead one.
func (m *Manager) probe(ctx context.Context, n *node) (int, error) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := m.dialNode(dctx, n, 0)
	if err != nil {
		return 0, err
	}
	defer c.close()
	deadline := time.Now().Add(m.StartTimeout)
	var info serverInfoFields
	for {
		ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
		info, err = serverInfo(ictx, c)
		cancel()
		if err == nil || !strings.HasPrefix(err.Error(), "LOADING") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return 0, err
	}
	if info.configFile != m.confPath(n) {
		return 0, fmt.Errorf("port %d is served by another server (config file %q)", n.rec.Port, info.configFile)
	}
	return info.pid, nil
}

type serverInfoFields struct {
	pid        int
	configFile string
}

// serverInfo runs PING and INFO server. A server still loading its data
// answers PING with -LOADING, which is returned as an error.
func serverInfo(ctx context.Context, c *respConn) (serverInfoFields, error) {
	var f serverInfoFields
	r, err := c.pipeline(ctx, [][]string{{"PING"}, {"INFO", "server"}})
	if err != nil {
		return f, err
	}
	if e, ok := r[0].(respError); ok {
		return f, e
	}
	text, _ := r[1].(string)
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "process_id":
			f.pid, _ = strconv.Atoi(v)
		case "config_file":
			f.configFile = v
		}
	}
	if f.pid == 0 {
		return f, errors.New("INFO server has no process_id")
	}
	return f, nil
}

// Ensure makes the node described by spec exist and run, and returns it.
// It is idempotent. A new node gets a free loopback port, which it keeps
// for good; a node whose process is down is started on its port with its
// data; a change of ReplicaOf is applied with REPLICAOF without a restart;
// a change of Engine or TLS restarts the node (data kept). Ensure returns
// once the node answers PING.
//
// Returns an error wrapping ErrEngineNotFound if the engine's binary is
// missing, ErrTLSUnsupported for a TLS spec on a binary without TLS.
func (m *Manager) Ensure(ctx context.Context, spec NodeSpec) (*Node, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	bin, err := m.binary(spec.Engine)
	if err != nil {
		return nil, err
	}
	if spec.TLS {
		if err := m.checkTLS(ctx, bin); err != nil {
			return nil, err
		}
	}
	if err := m.checkBinds(spec); err != nil {
		return nil, err
	}
	n, created, err := m.lockNode(spec.ID)
	if err != nil {
		return nil, err
	}
	defer n.life.Unlock()
	// Built only to log: a pass over a node at rest logs nothing.
	log := func() *slog.Logger { return m.log.With("node", spec.ID) }

	primaryAddr, err := m.primaryAddr(spec)
	if err != nil {
		if created {
			m.forget(n)
		}
		return nil, err
	}

	m.mu.Lock()
	cur, inst := n.rec, n.inst
	m.mu.Unlock()

	started := true // the process starts with spec's configuration
	switch {
	case created:
		// A new node starts without Config, which is then set live, so
		// that the values it replaces are known (record.ConfigOriginals).
		first := spec
		first.Config = nil
		m.setRecord(n, func(r *record) { *r = record{Spec: first, PrimaryAddr: primaryAddr} })
		if err := m.startNew(ctx, n); err != nil {
			m.forget(n)
			os.RemoveAll(n.dir)
			return nil, err
		}
		log().Info("engine: started node", "addr", n.rec.addr(), "pid", n.rec.PID, "replicaof", spec.ReplicaOf)

	case inst == nil || inst.dead():
		m.setRecord(n, func(r *record) { r.Spec, r.PrimaryAddr = spec, primaryAddr })
		if err := m.clusterBusPort(n); err != nil { // now a Cluster node (serverless.go)
			return nil, err
		}
		// Supervision restarts the node with a backoff; Ensure may start
		// it sooner, but not more often.
		m.mu.Lock()
		wait := time.Until(n.nextStart)
		held := time.Now().Before(n.holdUntil)
		m.mu.Unlock()
		if wait > 0 && !held {
			return nil, fmt.Errorf("engine: node %s: %w (next start in %v)", n.id, ErrNodeNotRunning, wait.Round(time.Millisecond))
		}
		if held && spec.Failover && spec.ReplicaOf == "" {
			// A dead primary held for its group's failover, ensured by a
			// pass that still takes it for the primary: starting it would
			// end the failover the hold is for (the next pass finds the
			// primary running). The promotion's Ensure, as a replica,
			// starts it at once; with no replica to promote, supervision
			// restarts it after the hold.
			return nil, fmt.Errorf("engine: node %s: %w (held for failover for %v)", n.id, ErrNodeNotRunning, wait.Round(time.Millisecond))
		}
		log().Info("engine: restarting node that is not running")
		if err := m.start(ctx, n); err != nil {
			m.startFailed(n)
			return nil, err // supervision keeps trying
		}
		m.notifyRestart(n.id)

	case cur.Spec.Engine != spec.Engine || cur.Spec.TLS != spec.TLS || cur.Spec.Cluster != spec.Cluster:
		log().Info("engine: restarting node for new spec", "engine", spec.Engine, "tls", spec.TLS)
		m.shutdown(ctx, n, inst, false)
		m.setRecord(n, func(r *record) { r.Spec, r.PrimaryAddr = spec, primaryAddr })
		if err := m.clusterBusPort(n); err != nil { // now a Cluster node (serverless.go)
			return nil, err
		}
		if err := m.start(ctx, n); err != nil {
			return nil, err // the watcher of the old process keeps trying
		}
		m.notifyRestart(n.id)

	case spec.Cluster && (cur.Spec.ReplicaOf != spec.ReplicaOf || cur.PrimaryAddr != primaryAddr || cur.Spec.ReplGroup != spec.ReplGroup):
		// The cluster decides who replicates whom; only the credentials
		// follow the spec.
		started = false
		if err := m.withAdmin(ctx, n, func(c *respConn) error {
			_, err := c.do(ctx, "CONFIG", "SET", "masteruser", ReplUser, "masterauth", m.primaryReplPass(spec))
			return err
		}); err != nil {
			return nil, fmt.Errorf("engine: node %s: set masterauth: %w", n.id, err)
		}
		m.setRecord(n, func(r *record) { r.Spec, r.PrimaryAddr = spec, primaryAddr })
		if err := m.writeNodeFiles(n); err != nil {
			return nil, err
		}

	case cur.Spec.ReplicaOf != spec.ReplicaOf || cur.PrimaryAddr != primaryAddr:
		started = false
		args := []string{"REPLICAOF", "NO", "ONE"}
		var auth []string
		if primaryAddr != "" {
			host, port, _ := net.SplitHostPort(primaryAddr)
			args = []string{"REPLICAOF", host, port}
			auth = []string{"CONFIG", "SET", "masteruser", ReplUser, "masterauth", m.primaryReplPass(spec)}
		}
		if err := m.withAdmin(ctx, n, func(c *respConn) error {
			if auth != nil {
				if _, err := c.do(ctx, auth...); err != nil {
					return err
				}
			}
			_, err := c.do(ctx, args...)
			return err
		}); err != nil {
			return nil, fmt.Errorf("engine: node %s: %s: %w", n.id, strings.Join(args, " "), err)
		}
		m.setRecord(n, func(r *record) { r.Spec, r.PrimaryAddr = spec, primaryAddr })
		if err := m.writeNodeFiles(n); err != nil {
			return nil, err
		}
		log().Info("engine: changed replication", "replicaof", spec.ReplicaOf)
	default:
		started = false
	}
	if created && len(spec.Config) > 0 {
		if err := m.applyConfig(ctx, n, spec); err != nil {
			return nil, err
		}
	} else if !started && !maps.Equal(cur.Spec.Config, spec.Config) {
		if err := m.applyConfig(ctx, n, spec); err != nil {
			return nil, err
		}
		log().Info("engine: changed configuration", "directives", len(spec.Config))
	} else if !started && len(spec.Config) > 0 {
		if err := m.repairConfig(ctx, n, spec); err != nil {
			return nil, err
		}
	}
	if !started && !maps.Equal(cur.Spec.BootConfig, spec.BootConfig) {
		// Recorded for the next start only (see NodeSpec.BootConfig).
		m.setRecord(n, func(r *record) { r.Spec.BootConfig = maps.Clone(spec.BootConfig) })
		if err := m.writeNodeFiles(n); err != nil {
			return nil, err
		}
	}
	if !started && cur.Spec.AnnouncePort != spec.AnnouncePort {
		if err := m.applyAnnounce(ctx, n, spec); err != nil {
			return nil, err
		}
		log().Info("engine: changed announced port", "port", spec.AnnouncePort)
	}
	if !started && (cur.Spec.MaxMemory != spec.MaxMemory || cur.Spec.MaxMemoryPolicy != spec.MaxMemoryPolicy) {
		if err := m.applyMemory(ctx, n, spec); err != nil {
			return nil, err
		}
		log().Info("engine: changed memory limit", "maxmemory", spec.MaxMemory, "policy", spec.MaxMemoryPolicy)
	}
	if !started {
		if err := m.applyAddrs(ctx, n, cur.Spec, spec); err != nil {
			return nil, err
		}
	}
	node, _ := m.Node(spec.ID)
	return node, nil
}

// applyAddrs applies a change of Binds, CertHosts or Failover to a running
// node: the record first (so a restart gets it), then CONFIG SET bind and,
// for a TLS node whose certificate changed, tls-cert-file (which makes the
// server load the new certificate).
func (m *Manager) applyAddrs(ctx context.Context, n *node, cur, spec NodeSpec) error {
	if slices.Equal(cur.Binds, spec.Binds) && slices.Equal(cur.CertHosts, spec.CertHosts) && cur.Failover == spec.Failover {
		return nil
	}
	m.setRecord(n, func(r *record) {
		r.Spec.Binds, r.Spec.CertHosts, r.Spec.Failover = spec.Binds, spec.CertHosts, spec.Failover
	})
	if err := m.writeNodeFiles(n); err != nil {
		return err
	}
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	err := m.withAdmin(ctx, n, func(c *respConn) error {
		if !slices.Equal(cur.Binds, spec.Binds) {
			// An endpoint address moving here may still be bound by the
			// node it leaves, which the caller is changing at the same time.
			// The addresses this node gives up go first: in a swap (the
			// primary and reader endpoints after a failover) each node
			// waits for the other's, and a CONFIG SET bind that fails
			// closes every listener and reopens the old ones, which fails
			// too if one of them was taken meanwhile.
			kept := slices.DeleteFunc(slices.Clone(cur.Binds), func(b string) bool { return !slices.Contains(spec.Binds, b) })
			if len(kept) < len(cur.Binds) && len(kept) < len(spec.Binds) {
				release := strings.Join(append([]string{rec.host()}, kept...), " ")
				if _, err := c.do(ctx, "CONFIG", "SET", "bind", release); err != nil {
					return fmt.Errorf("engine: node %s: CONFIG SET bind %s: %w", n.id, release, err)
				}
			}
			bind := strings.Join(append([]string{rec.host()}, spec.Binds...), " ")
			for deadline := time.Now().Add(bindWait); ; {
				_, err := c.do(ctx, "CONFIG", "SET", "bind", bind)
				if err == nil {
					break
				}
				if !errors.As(err, new(respError)) || time.Now().After(deadline) {
					return fmt.Errorf("engine: node %s: CONFIG SET bind %s: %w", n.id, bind, err)
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("engine: node %s: CONFIG SET bind %s: %w (last: %v)", n.id, bind, ctx.Err(), err)
				case <-time.After(50 * time.Millisecond):
				}
			}
			m.log.Info("engine: changed bind addresses", "node", n.id, "binds", spec.Binds)
		}
		if spec.TLS && !slices.Equal(cur.CertHosts, spec.CertHosts) {
			cert, _ := m.NodeCertFiles(n.id)
			if _, err := c.do(ctx, "CONFIG", "SET", "tls-cert-file", cert); err != nil {
				return fmt.Errorf("engine: node %s: reload certificate: %w", n.id, err)
			}
		}
		return nil
	})
	if err != nil {
		// Not applied (an address still held by the node it leaves, a
		// timeout under load): the record goes back to what the node may
		// still serve, so the next Ensure tries again. Kept, the next
		// Ensure would find nothing to change and the node would go on
		// serving the address it should have left (a demoted primary
		// answering READONLY on the primary endpoint).
		m.setRecord(n, func(r *record) {
			r.Spec.Binds, r.Spec.CertHosts = cur.Binds, cur.CertHosts // Failover needs the record alone
		})
		if werr := m.writeNodeFiles(n); werr != nil {
			m.log.Warn("engine: restore the node's record", "node", n.id, "err", werr)
		}
	}
	return err
}

// bindWait bounds the wait for an endpoint address to be released by the
// node it moves from.
const bindWait = 3 * time.Second

// checkBinds verifies that every address spec binds is one reserved with
// ReserveAddress, so that no node can take another's address.
func (m *Manager) checkBinds(spec NodeSpec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range spec.Binds {
		if !m.reservedHost(b) {
			return fmt.Errorf("engine: node %s: bind address %s is not reserved", spec.ID, b)
		}
	}
	return nil
}

// lockNode returns the node for id with its life lock held, creating the
// record if needed (created reports that).
func (m *Manager) lockNode(id string) (n *node, created bool, err error) {
	for {
		m.mu.Lock()
		if m.state != stateOpen {
			m.mu.Unlock()
			return nil, false, ErrClosed
		}
		n = m.nodes[id]
		created = n == nil
		if created {
			n = &node{id: id, dir: m.nodeDir(id)}
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
		n.life.Unlock() // stopped meanwhile: start over with a new record
	}
}

// forget drops a node that never started.
func (m *Manager) forget(n *node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.stopped = true
	if m.nodes[n.id] == n {
		delete(m.nodes, n.id)
	}
	m.releaseAddr(n)
}

// primaryAddr resolves spec.ReplicaOf to an address.
func (m *Manager) primaryAddr(spec NodeSpec) (string, error) {
	if spec.ReplicaOf == "" {
		return "", nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.nodes[spec.ReplicaOf]
	if p == nil || p.rec.Port == 0 {
		return "", fmt.Errorf("engine: node %s: primary %s: %w", spec.ID, spec.ReplicaOf, ErrNodeNotFound)
	}
	if p.rec.Spec.TLS != spec.TLS {
		return "", fmt.Errorf("engine: node %s: TLS %v differs from its primary %s (TLS %v)", spec.ID, spec.TLS, spec.ReplicaOf, p.rec.Spec.TLS)
	}
	return p.rec.addr(), nil
}

func (m *Manager) setRecord(n *node, f func(*record)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&n.rec)
}

func (m *Manager) setInstance(n *node, inst *instance) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n.inst = inst
	if inst != nil {
		n.rec.PID = inst.pid
		n.holdUntil = time.Time{}
	}
}

// startNew starts a node for the first time, on a fresh address or port;
// if that was taken meanwhile (the server then fails to bind), it tries
// another.
func (m *Manager) startNew(ctx context.Context, n *node) error {
	var err error
	for range 3 {
		if err = m.allocateAddr(n); err != nil {
			return err
		}
		if err = m.start(ctx, n); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "in use") {
			return err
		}
		m.mu.Lock()
		m.releaseAddr(n)
		if n.rec.Host != "" {
			m.busy[n.rec.Host] = true
		}
		n.rec.Host, n.rec.Port, n.rec.BusPort = "", 0, 0
		m.mu.Unlock()
	}
	return err
}

// allocatePort returns a free port on 127.0.0.1 not used by any node.
func (m *Manager) allocatePort(id string) (int, error) { return allocatePort(&m.mu, m.ports, id) }

// allocatePort returns a free port on 127.0.0.1 that ports (host:port,
// guarded by mu) does not hold yet, and records it there for id. Both
// managers, Redis and Memcached, allocate 127.0.0.1 ports with it.
func allocatePort(mu *sync.Mutex, ports map[string]string, id string) (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("engine: allocate port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		key := addrOf(port)
		mu.Lock()
		if _, used := ports[key]; !used {
			ports[key] = id
			mu.Unlock()
			return port, nil
		}
		mu.Unlock()
	}
	return 0, errors.New("engine: allocate port: no free port")
}

// Stop stops the node (SHUTDOWN NOSAVE through the admin user, then
// SIGTERM, then SIGKILL to its process group, each after StopTimeout) and
// removes its directory, data included. Stopping an unknown node removes
// whatever is left of its directory (ending a server of ours still running
// from it) and returns nil.
func (m *Manager) Stop(ctx context.Context, id string) error {
	if err := validateID(id); err != nil {
		return err
	}
	m.mu.Lock()
	if m.state != stateOpen {
		m.mu.Unlock()
		return ErrClosed
	}
	n := m.nodes[id]
	m.mu.Unlock()
	if n == nil {
		return m.removeLeftover(id)
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
		m.shutdown(ctx, n, inst, true)
	}
	n.admin.drop()
	err := os.RemoveAll(n.dir)
	m.mu.Lock()
	if m.nodes[id] == n {
		delete(m.nodes, id)
	}
	m.releaseAddr(n)
	m.mu.Unlock()
	if err != nil {
		return fmt.Errorf("engine: stop %s: %w", id, err)
	}
	m.log.Info("engine: stopped node", "node", id)
	return nil
}

func (m *Manager) removeLeftover(id string) error {
	dir := m.nodeDir(id)
	if rec, err := readRecord(dir); err == nil && rec.PID > 0 {
		conf := filepath.Join(dir, "server.conf")
		if ownsProcess(rec.PID, conf) {
			terminate(rec.PID, nil, m.StopTimeout)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("engine: stop %s: %w", id, err)
	}
	return nil
}

// Node returns a snapshot of the node, if the Manager knows it.
func (m *Manager) Node(id string) (*Node, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.nodes[id]
	if n == nil || n.rec.Port == 0 {
		return nil, false
	}
	return n.snapshot(), true
}

// Nodes returns a snapshot of every node the Manager knows, sorted by ID:
// those ensured since Open and those found on disk by Open. The caller
// stops the ones it no longer wants.
func (m *Manager) Nodes() []*Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Node, 0, len(m.nodes))
	for _, n := range m.nodes {
		if n.rec.Port != 0 {
			out = append(out, n.snapshot())
		}
	}
	slices.SortFunc(out, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// snapshot requires Manager.mu.
func (n *node) snapshot() *Node {
	s := n.rec.Spec
	nd := &Node{
		ID: n.id, Engine: s.Engine, Addr: n.rec.addr(), Host: n.rec.host(), Port: n.rec.Port, BusPort: n.rec.BusPort,
		TLS: s.TLS, Role: RolePrimary, ReplicaOf: s.ReplicaOf,
		ConfFile: filepath.Join(n.dir, "server.conf"),
	}
	if n.rec.Scheme >= scheme {
		nd.Socket = filepath.Join(n.dir, "data", adminSocket)
	}
	if s.ReplicaOf != "" {
		nd.Role = RoleReplica
	}
	if n.inst != nil && !n.inst.dead() {
		nd.PID = n.inst.pid
		nd.Unresponsive = !n.stuckSince.IsZero()
	}
	return nd
}

// Close stops supervision and closes admin connections but leaves the
// nodes running: they outlive the control plane, and a later Open adopts
// them. It waits for running OnRestart callbacks.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.state != stateOpen {
		m.state = stateClosed
		m.mu.Unlock()
		return nil
	}
	m.state = stateClosed
	m.cancel()
	nodes := make([]*node, 0, len(m.nodes))
	for _, n := range m.nodes {
		nodes = append(nodes, n)
	}
	m.mu.Unlock()
	m.wg.Wait()
	for _, n := range nodes {
		n.admin.drop()
	}
	return nil
}

// CA returns the CA that signs the nodes' certificates. Valid after Open.
func (m *Manager) CA() *CA {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ca
}

// CAFile returns the path of the CA certificate (PEM) that signs the TLS
// nodes' certificates. Valid after Open.
func (m *Manager) CAFile() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ca == nil {
		return ""
	}
	return m.ca.CertFile
}

// TLSConfig returns a new client TLS configuration that verifies nodes
// against the CA. Valid after Open.
func (m *Manager) TLSConfig() *tls.Config {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ca == nil {
		return nil
	}
	return m.ca.TLSConfig()
}

// notifyRestart calls OnRestart in its own goroutine.
func (m *Manager) notifyRestart(id string) {
	if m.OnRestart == nil {
		return
	}
	m.goSupervised(func() { m.OnRestart(id) })
}

func addrOf(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// loadOrCreateSecret reads the master secret from which every node's
// credentials are derived, creating a random one (256 bits, hex) on first
// use if create is set. It never reaches a node.
func loadOrCreateSecret(name string, create bool) (string, error) {
	b, err := os.ReadFile(name)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
			return "", fmt.Errorf("engine: %s: want at least 32 printable characters without spaces", name)
		}
		return s, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || !create {
		return "", fmt.Errorf("engine: read admin secret: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	s := hex.EncodeToString(raw[:])
	if err := atomicfile.Write(name, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("engine: write admin secret: %w", err)
	}
	return s, nil
}
