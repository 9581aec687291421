package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"keyward/internal/atomicfile"
	"keyward/mcfront"
)

// The fronts of memcached nodes and the clusters' configuration endpoints
// (package mcfront; design in Memcached's comment).

// frontServer is a front run in this process.
type frontServer interface{ Close() error }

func (m *Memcached) clustersDir() string { return filepath.Join(m.dir(), ".clusters") }

func (m *Memcached) clusterDir(cluster string) string { return filepath.Join(m.clustersDir(), cluster) }

func (m *Memcached) discoveryFile(cluster string) string {
	return filepath.Join(m.clusterDir(cluster), "discovery.json")
}

func (m *Memcached) frontDir(n *mcNode) string { return filepath.Join(n.dir, "front") }

// nodeDiscovery is the discovery file n's front reads: its cluster's, or
// for a node without a cluster its own, listing itself.
func (m *Memcached) nodeDiscovery(n *mcNode, rec mcRecord) (string, error) {
	if rec.Spec.Cluster != "" {
		if err := os.MkdirAll(m.clusterDir(rec.Spec.Cluster), 0o700); err != nil {
			return "", err
		}
		return m.discoveryFile(rec.Spec.Cluster), nil
	}
	name := filepath.Join(m.frontDir(n), "discovery.json")
	return name, mcfront.WriteDiscovery(name, mcfront.Discovery{Version: 1, Nodes: []mcfront.Endpoint{endpointOf(rec)}})
}

func endpointOf(rec mcRecord) mcfront.Endpoint {
	return mcfront.Endpoint{Host: rec.host(), IP: rec.host(), Port: rec.Port, Backend: rec.backend()}
}

// startNodeFront starts n's front on n's client port, relaying to its
// memcached. Requires n.life.
func (m *Memcached) startNodeFront(ctx context.Context, n *mcNode) error {
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	dir := m.frontDir(n)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("engine: front of %s: %w", n.id, err)
	}
	disc, err := m.nodeDiscovery(n, rec)
	if err != nil {
		return fmt.Errorf("engine: front of %s: %w", n.id, err)
	}
	cfg := mcfront.Config{Listen: []string{rec.addr()}, Backend: rec.backend(), DiscoveryFile: disc}
	if rec.Spec.TLS {
		if cfg.CertFile, cfg.KeyFile, err = m.frontCert(dir, n.id, rec.host()); err != nil {
			return fmt.Errorf("engine: front of %s: %w", n.id, err)
		}
	}
	inst, srv, err := m.startFront(ctx, dir, cfg)
	if err != nil {
		return fmt.Errorf("engine: front of %s: %w", n.id, err)
	}
	m.mu.Lock()
	n.front.srv = srv
	m.mu.Unlock()
	m.setInst(n, &n.front, inst)
	m.saveRecord(n)
	m.superviseNodeFront(n)(inst)
	return nil
}

func (m *Memcached) reviveNodeFront(n *mcNode, dead *instance) {
	m.revive(&n.front, dead, &n.life, func() bool { return n.stopped }, func() error { return m.startNodeFront(m.ctx, n) }, func() {
		m.log.Info("engine: restarted memcached front", "node", n.id)
	}, "memcached front", n.id)
}

// frontCert writes a certificate from Hosts' CA for host (and 127.0.0.1,
// localhost) into dir/tls.
func (m *Memcached) frontCert(dir, name, host string) (cert, key string, err error) {
	ca := m.ca()
	if ca == nil {
		return "", "", errors.New("TLS needs Hosts (its CA)")
	}
	tdir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tdir, 0o700); err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(tdir, "server.pem"), filepath.Join(tdir, "server.key")
	return cert, key, ca.ensureServerCert(cert, key, name, []string{host})
}

// startFront runs the front configured by cfg from dir: a process of its
// own ("keyward mcfront DIR", FrontCommand), or a server in this process,
// and returns once it listens.
func (m *Memcached) startFront(ctx context.Context, dir string, cfg mcfront.Config) (*instance, frontServer, error) {
	if err := mcfront.WriteConfig(dir, cfg); err != nil {
		return nil, nil, err
	}
	if m.FrontCommand == nil {
		srv, err := mcfront.NewServer(cfg, m.log.With("front", dir))
		if err != nil {
			return nil, nil, err
		}
		ls, err := mcfront.Listen(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		inst := &instance{started: time.Now(), exited: make(chan struct{})}
		go func() {
			inst.exitErr = mcfront.Serve(context.Background(), srv, ls)
			close(inst.exited)
		}()
		return inst, srv, nil
	}
	out, err := os.OpenFile(filepath.Join(dir, "front.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	cmd := m.FrontCommand(dir)
	// A minimal environment: nothing of keyward's (which may hold
	// credentials) reaches the front, which needs none.
	if cmd.Env == nil {
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
	}
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	out.Close()
	if err != nil {
		return nil, nil, err
	}
	inst := &instance{pid: cmd.Process.Pid, started: time.Now(), exited: make(chan struct{})}
	go func() {
		inst.exitErr = cmd.Wait()
		close(inst.exited)
	}()
	if err := m.waitListening(ctx, cfg.Listen, inst); err != nil {
		terminate(inst.pid, inst, m.StopTimeout)
		b, _ := os.ReadFile(filepath.Join(dir, "front.log"))
		return nil, nil, fmt.Errorf("%w\nfront.log:\n%s", err, tail(b, 600))
	}
	return inst, nil, nil
}

// waitListening waits until every address accepts connections (the front
// process listens) or the process exits.
func (m *Memcached) waitListening(ctx context.Context, addrs []string, inst *instance) error {
	ctx, cancel := context.WithTimeout(ctx, m.StartTimeout)
	defer cancel()
	delay := 2 * time.Millisecond
	for _, a := range addrs {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-inst.exited:
				return fmt.Errorf("front exited during start (%v)", inst.exitErr)
			case <-ctx.Done():
				return fmt.Errorf("front not listening on %s: %w (last: %v)", a, ctx.Err(), err)
			case <-time.After(delay):
			}
			delay = min(delay*2, 50*time.Millisecond)
		}
	}
	return nil
}

// adoptOrStartFront adopts the front process pid if it runs from dir
// (supervise then watches it), else starts the front (start). Requires the
// owner's life lock.
func (m *Memcached) adoptOrStartFront(ctx context.Context, p *mcProc, dir string, pid int, start func(context.Context) error, supervise func(*instance)) error {
	// Fronts are found by their command lines too, not only by the pid in
	// the record: a keyward killed between starting a front and saving its
	// pid leaves one running that no record names (as fronts' finding 4).
	// One is adopted; any other serving dir is stopped.
	strays := m.frontsServing(dir)
	if !(pid > 0 && ownsFront(pid, dir)) {
		pid = 0
		if len(strays) > 0 {
			pid = strays[0]
		}
	}
	for _, other := range strays {
		if other != pid {
			terminate(other, nil, m.StopTimeout)
		}
	}
	running := pid > 0
	if running && m.FrontCommand != nil {
		inst := &instance{pid: pid, started: time.Now(), exited: make(chan struct{})}
		go pollExit(inst, m.ctx.Done())
		m.mu.Lock()
		p.inst = inst
		m.mu.Unlock()
		m.log.Info("engine: adopted memcached front", "dir", dir, "pid", pid)
		supervise(inst)
		return nil
	}
	if running {
		terminate(pid, nil, m.StopTimeout) // a process, but fronts now run in here
	}
	return start(ctx)
}

// frontsServing returns the running front processes started for dir:
// FrontCommand's executable (any executable without one) with dir as the
// last argument.
func (m *Memcached) frontsServing(dir string) []int {
	exe := ""
	if m.FrontCommand != nil {
		exe = m.FrontCommand(dir).Args[0]
	}
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 1 && args[len(args)-1] == dir && (exe == "" || args[0] == exe) && pidAlive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// ownsFront reports whether pid is a front started for dir: the last
// argument of its command line is dir ("keyward mcfront DIR").
func ownsFront(pid int, dir string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !pidAlive(pid) {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) > 1 && args[len(args)-1] == dir
}

func (m *Memcached) superviseNodeFront(n *mcNode) func(*instance) {
	return func(inst *instance) {
		m.goSupervised(func() {
			if m.exited(inst, "memcached front", n.id) {
				m.reviveNodeFront(n, inst)
			}
		})
	}
}

func (m *Memcached) superviseEndpoint(ep *mcEndpoint) func(*instance) {
	return func(inst *instance) {
		m.goSupervised(func() {
			if m.exited(inst, "configuration endpoint", ep.cluster) {
				m.reviveEndpoint(ep, inst)
			}
		})
	}
}

// A configuration endpoint: a front of its own per cluster.

type mcEndpoint struct {
	cluster, dir string
	life         sync.Mutex
	// Guarded by Memcached.mu; written with life held.
	rec     epRecord
	front   mcProc
	stopped bool
}

// epRecord is endpoint.json.
type epRecord struct {
	Cluster  string `json:"cluster"`
	listenAt        // Host "": 127.0.0.1
	TLS      bool   `json:"tls,omitempty"`
	PID      int    `json:"pid,omitempty"`
}

func endpointOwner(cluster string) string { return "memcached-config:" + cluster }

// EnsureEndpoint runs cluster's configuration endpoint and returns its
// address and port: a front that answers Auto Discovery and relays every
// other command to the first node the cluster's discovery file lists with
// a running memcached (the first that accepts). A new endpoint gets an
// address of its own, reserved with Hosts.ReserveAddress (kept until
// StopEndpoint), and listens there on port; without addresses of its own,
// 127.0.0.1 and a free port. Neither ever changes. A change of tls
// restarts the front.
func (m *Memcached) EnsureEndpoint(ctx context.Context, cluster string, port int, tls bool) (string, int, error) {
	if err := validateID(cluster); err != nil {
		return "", 0, err
	}
	if tls && m.ca() == nil {
		return "", 0, fmt.Errorf("engine: configuration endpoint of %s: TLS needs Hosts (its CA)", cluster)
	}
	ep, err := m.lockEndpoint(cluster)
	if err != nil {
		return "", 0, err
	}
	defer ep.life.Unlock()
	m.mu.Lock()
	rec, inst := ep.rec, ep.front.inst
	m.mu.Unlock()
	if rec.Port == 0 {
		host := ""
		if m.Hosts != nil {
			if host, err = m.Hosts.ReserveAddress(endpointOwner(cluster), port); err != nil {
				return "", 0, err
			}
		}
		if host == "" {
			if port, err = m.allocatePort(endpointOwner(cluster)); err != nil {
				return "", 0, err
			}
		}
		rec = epRecord{Cluster: cluster, listenAt: listenAt{Host: host, Port: port}}
	}
	running := inst != nil && !inst.dead()
	if running && rec.TLS == tls {
		return rec.host(), rec.Port, nil
	}
	if running {
		m.stopProc(&ep.front, inst)
	}
	rec.TLS = tls
	m.mu.Lock()
	ep.rec = rec
	m.mu.Unlock()
	if err := m.startEndpoint(ctx, ep); err != nil {
		return "", 0, err
	}
	m.log.Info("engine: configuration endpoint serving", "cluster", cluster, "addr", rec.addr(), "tls", tls)
	return rec.host(), rec.Port, nil
}

func (m *Memcached) lockEndpoint(cluster string) (*mcEndpoint, error) {
	for {
		m.mu.Lock()
		if m.state != stateOpen {
			m.mu.Unlock()
			return nil, ErrClosed
		}
		ep := m.endpoints[cluster]
		if ep == nil {
			ep = &mcEndpoint{cluster: cluster, dir: m.clusterDir(cluster)}
			m.endpoints[cluster] = ep
		}
		m.mu.Unlock()
		ep.life.Lock()
		m.mu.Lock()
		gone := ep.stopped || m.endpoints[cluster] != ep
		m.mu.Unlock()
		if !gone {
			return ep, nil
		}
		ep.life.Unlock()
	}
}

// startEndpoint starts ep's front from its record. Requires ep.life.
func (m *Memcached) startEndpoint(ctx context.Context, ep *mcEndpoint) error {
	m.mu.Lock()
	rec := ep.rec
	m.mu.Unlock()
	if err := os.MkdirAll(ep.dir, 0o700); err != nil {
		return err
	}
	cfg := mcfront.Config{Listen: []string{rec.addr()}, DiscoveryFile: m.discoveryFile(ep.cluster)}
	var err error
	if rec.TLS {
		if cfg.CertFile, cfg.KeyFile, err = m.frontCert(ep.dir, "config."+ep.cluster, rec.host()); err != nil {
			return fmt.Errorf("engine: configuration endpoint of %s: %w", ep.cluster, err)
		}
	}
	if err := writeEPRecord(ep.dir, rec); err != nil {
		return err
	}
	inst, srv, err := m.startFront(ctx, ep.dir, cfg)
	if err != nil {
		return fmt.Errorf("engine: configuration endpoint of %s: %w", ep.cluster, err)
	}
	m.mu.Lock()
	ep.front.inst, ep.front.srv, ep.rec.PID = inst, srv, inst.pid
	rec = ep.rec
	m.mu.Unlock()
	if err := writeEPRecord(ep.dir, rec); err != nil {
		m.log.Warn("engine: write endpoint record", "cluster", ep.cluster, "err", err)
	}
	m.superviseEndpoint(ep)(inst)
	return nil
}

func (m *Memcached) reviveEndpoint(ep *mcEndpoint, dead *instance) {
	m.revive(&ep.front, dead, &ep.life, func() bool { return ep.stopped }, func() error { return m.startEndpoint(m.ctx, ep) }, func() {
		m.log.Info("engine: restarted configuration endpoint", "cluster", ep.cluster)
	}, "configuration endpoint", ep.cluster)
}

// StopEndpoint stops cluster's configuration endpoint, releases its
// address and removes the cluster's directory (its discovery file
// included); idempotent.
func (m *Memcached) StopEndpoint(ctx context.Context, cluster string) error {
	if err := validateID(cluster); err != nil {
		return err
	}
	m.mu.Lock()
	ep := m.endpoints[cluster]
	m.mu.Unlock()
	if ep != nil {
		ep.life.Lock()
		m.mu.Lock()
		ep.stopped = true
		inst := ep.front.inst
		if m.endpoints[cluster] == ep {
			delete(m.endpoints, cluster)
		}
		rec := ep.rec
		m.mu.Unlock()
		if inst != nil && !inst.dead() {
			m.stopProc(&ep.front, inst)
		}
		ep.life.Unlock()
		m.mu.Lock()
		if rec.Host == "" && m.ports[rec.addr()] == endpointOwner(cluster) {
			delete(m.ports, rec.addr())
		}
		m.mu.Unlock()
	} else if rec, err := readEPRecord(m.clusterDir(cluster)); err == nil && rec.PID > 0 && ownsFront(rec.PID, m.clusterDir(cluster)) {
		terminate(rec.PID, nil, m.StopTimeout)
	}
	if m.Hosts != nil {
		if err := m.Hosts.ReleaseAddress(endpointOwner(cluster)); err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	}
	return os.RemoveAll(m.clusterDir(cluster))
}

// Endpoints lists the clusters whose configuration endpoints run, sorted.
func (m *Memcached) Endpoints() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for c, ep := range m.endpoints {
		if ep.rec.Port != 0 {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// SetDiscovery makes version and the nodes nodeIDs, in that order, what
// every front of cluster (its nodes' and its configuration endpoint's)
// answers to Auto Discovery from now on. Nodes not running here are left
// out. The caller keeps the version: it must grow by one whenever the
// list changes.
func (m *Memcached) SetDiscovery(cluster string, version int64, nodeIDs []string) error {
	if err := validateID(cluster); err != nil {
		return err
	}
	d := mcfront.Discovery{Version: version, Nodes: []mcfront.Endpoint{}}
	m.mu.Lock()
	for _, id := range nodeIDs {
		if n := m.nodes[id]; n != nil && n.rec.Port != 0 && !n.stopped {
			d.Nodes = append(d.Nodes, endpointOf(n.rec))
		}
	}
	m.mu.Unlock()
	if err := os.MkdirAll(m.clusterDir(cluster), 0o700); err != nil {
		return err
	}
	return mcfront.WriteDiscovery(m.discoveryFile(cluster), d)
}

func (m *Memcached) loadEndpoints() ([]*mcEndpoint, error) {
	entries, err := os.ReadDir(m.clustersDir())
	if err != nil {
		return nil, fmt.Errorf("engine: open: %w", err)
	}
	var out []*mcEndpoint
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range entries {
		if !e.IsDir() || validateID(e.Name()) != nil {
			continue
		}
		dir := m.clusterDir(e.Name())
		rec, err := readEPRecord(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue // a cluster without an endpoint (yet): its discovery file only
		} else if err != nil || rec.Cluster != e.Name() {
			m.log.Warn("engine: ignoring configuration endpoint", "cluster", e.Name(), "err", err)
			continue
		}
		ep := &mcEndpoint{cluster: rec.Cluster, dir: dir, rec: rec}
		m.endpoints[ep.cluster] = ep
		if rec.Host == "" {
			m.ports[rec.addr()] = endpointOwner(ep.cluster)
		}
		out = append(out, ep)
	}
	return out, nil
}

func (m *Memcached) adoptOrStartEndpoint(ctx context.Context, ep *mcEndpoint) {
	ep.life.Lock()
	defer ep.life.Unlock()
	if m.Hosts != nil && ep.rec.Host != "" {
		// Reserved in addresses.json; this makes sure it still is.
		if h, err := m.Hosts.ReserveAddress(endpointOwner(ep.cluster), ep.rec.Port); err == nil && h != ep.rec.Host {
			m.log.Warn("engine: configuration endpoint address changed", "cluster", ep.cluster, "was", ep.rec.Host, "now", h)
			m.mu.Lock()
			ep.rec.Host = h
			m.mu.Unlock()
		}
	}
	err := m.adoptOrStartFront(ctx, &ep.front, ep.dir, ep.rec.PID, func(ctx context.Context) error { return m.startEndpoint(ctx, ep) }, m.superviseEndpoint(ep))
	if err != nil {
		m.log.Error("engine: restart configuration endpoint", "cluster", ep.cluster, "err", err)
		m.goSupervised(func() { m.reviveEndpoint(ep, nil) })
	}
}

func readEPRecord(dir string) (epRecord, error) {
	var rec epRecord
	b, err := os.ReadFile(filepath.Join(dir, "endpoint.json"))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, err
	}
	if rec.Port <= 0 || rec.Port > 65535 {
		return rec, errors.New("endpoint.json: invalid port")
	}
	return rec, nil
}

func writeEPRecord(dir string, rec epRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "endpoint.json"), append(b, '\n'), 0o600)
}
