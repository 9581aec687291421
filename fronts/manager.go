package fronts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"keyward/front"
	"keyward/internal/atomicfile"
	"keyward/internal/procwait"
	"keyward/sigv4"
)

// Manager starts, supervises, adopts and stops fronts. Set the fields, then
// call Open; they must not change afterwards.
type Manager struct {
	// DataDir is keyward's data directory; the fronts live in DataDir/fronts.
	DataDir string
	// Credentials are the SigV4 credentials tokens are verified with.
	Credentials []sigv4.Credential
	// CAFile is the CA that signs the nodes' certificates; CertFiles gives
	// a node's certificate and key, which its front presents too.
	CAFile    string
	CertFiles func(nodeID string) (cert, key string)
	// InProcess runs fronts as goroutines instead of processes.
	InProcess bool
	// Command builds the command that runs the front in dir; default: this
	// executable with arguments "front <dir>".
	Command func(dir string) *exec.Cmd
	Logger  *slog.Logger

	mu     sync.Mutex
	key    []byte
	fronts map[string]*handle
	closed bool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// handle is one front. Its mutex serialises starting and stopping that front
// only, so that fronts start in parallel; lock order is h.mu, then m.mu.
type handle struct {
	mu      sync.Mutex
	removed bool // Stop took it out of m.fronts
	cfg     config
	dir     string
	srv     *front.Server // in-process
	pid     int           // process
	stopped bool
	// child is pid when the process is our child, whose end its reaper
	// records in reaped: running then needs no /proc read (a check per
	// front on every pass over its node).
	child  int
	reaped atomic.Int64
}

func (m *Manager) root() string { return filepath.Join(m.DataDir, "fronts") }

func (m *Manager) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// Open prepares the key file and adopts (or restarts) the fronts of a
// previous run; a front started with other credentials is restarted.
func (m *Manager) Open(ctx context.Context) error {
	// Front processes are recognised by the directory on their command
	// line: make it the same whatever keyward's working directory.
	if abs, err := filepath.Abs(m.DataDir); err == nil {
		m.DataDir = abs
	}
	if err := os.MkdirAll(m.root(), 0o700); err != nil {
		return fmt.Errorf("fronts: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(m.root(), "key"))
	if err != nil {
		return err
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.key, m.fronts = key, map[string]*handle{}
	entries, err := os.ReadDir(m.root())
	if err != nil {
		return fmt.Errorf("fronts: %w", err)
	}
	// Front processes are found by their command lines too, not only by
	// front.pid: a keyward killed between starting a front and writing its
	// pid leaves one running that no file names.
	strays := m.unrecordedFronts()
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(m.root(), e.Name())
		cfg, err := readConfig(dir)
		if err != nil {
			m.log().Warn("fronts: ignoring unreadable front", "dir", dir, "err", err)
			continue
		}
		h := &handle{cfg: cfg, dir: dir}
		// Under the lock: the watchers of fronts adopted before this one
		// already run and read the map (current).
		m.mu.Lock()
		m.fronts[cfg.ID] = h
		m.mu.Unlock()
		pids := strays[dir]
		delete(strays, dir)
		if pid := readPid(dir); owns(pid, dir) {
			pids = append([]int{pid}, pids...)
		}
		if !m.InProcess && len(pids) > 0 && cfg.Credentials == credentialsID(key, m.Credentials) {
			h.pid = pids[0]
			if readPid(dir) != h.pid {
				atomicfile.Write(filepath.Join(dir, "front.pid"), []byte(strconv.Itoa(h.pid)+"\n"), 0o600)
			}
			for _, p := range pids[1:] {
				terminate(p) // a second front of the node: one is enough
			}
			m.log().Info("fronts: adopted front", "node", cfg.ID, "port", cfg.Port, "pid", h.pid)
			m.watchAdopted(h)
			continue
		}
		for _, p := range pids {
			terminate(p) // started with other credentials
		}
		h.cfg.Credentials = credentialsID(key, m.Credentials)
		if err := m.writeConfig(h); err != nil {
			return err
		}
		if err := m.start(ctx, h); err != nil {
			m.log().Error("fronts: restart", "node", cfg.ID, "err", err)
		}
	}
	// Fronts of directories that are gone (or unreadable) serve nothing
	// keyward knows of.
	for dir, pids := range strays {
		for _, pid := range pids {
			m.log().Warn("fronts: ending a front with no configuration", "dir", dir, "pid", pid)
			terminate(pid)
		}
	}
	return nil
}

// Key is the key IAM users' internal secrets derive from. Valid after Open.
func (m *Manager) Key() []byte { return m.key }

// Ensure runs the front for spec and returns its port.
func (m *Manager) Ensure(ctx context.Context, spec Spec) (int, error) {
	h, err := m.handle(spec.ID, 0)
	if err != nil {
		return 0, err
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.removed {
		return 0, fmt.Errorf("fronts: front of %s is being stopped", spec.ID)
	}
	credID := credentialsID(m.key, m.Credentials)
	if h.cfg.Spec == spec && h.cfg.Credentials == credID && m.running(h) {
		return h.cfg.Port, nil
	}
	m.halt(h)
	h.stopped = false
	h.cfg.Spec = spec
	h.cfg.CertFile, h.cfg.KeyFile = m.CertFiles(spec.ID)
	h.cfg.CAFile = m.CAFile
	h.cfg.Credentials = credID
	if err := m.writeConfig(h); err != nil {
		return 0, err
	}
	if err := m.start(ctx, h); err != nil {
		return 0, err
	}
	return h.cfg.Port, nil
}

// Reserve returns the port node id's front has or will have, without
// starting it: port if the front is new and port is not 0 (a port the
// front takes over from its node, see engine.Manager.MovePort), else a
// free one. A Cluster node announces it before its front runs (see
// engine.NodeSpec.AnnouncePort). A reservation is not kept across Open.
func (m *Manager) Reserve(id string, port int) (int, error) {
	h, err := m.handle(id, port)
	if err != nil {
		return 0, err
	}
	return h.cfg.Port, nil
}

// handle returns node id's front, making a new one (not started) on port,
// or on a free port if port is 0.
func (m *Manager) handle(id string, port int) (*handle, error) {
	if strings.ContainsAny(id, "/\\") || id == "" || id[0] == '.' {
		return nil, fmt.Errorf("fronts: bad node id %q", id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("fronts: closed")
	}
	h := m.fronts[id]
	if h == nil {
		if port == 0 {
			var err error
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		h = &handle{dir: filepath.Join(m.root(), id), cfg: config{Port: port}}
		m.fronts[id] = h
	}
	return h, nil
}

// writeConfig writes h's front.json.
func (m *Manager) writeConfig(h *handle) error {
	if err := os.MkdirAll(h.dir, 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(h.cfg, "", "  ")
	return atomicfile.Write(filepath.Join(h.dir, "front.json"), b, 0o600)
}

// Stop ends the front of node id and removes its directory; unknown ids
// are not an error.
func (m *Manager) Stop(ctx context.Context, id string) error {
	m.mu.Lock()
	h := m.fronts[id]
	delete(m.fronts, id)
	m.mu.Unlock()
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.removed = true
	m.halt(h)
	return os.RemoveAll(h.dir)
}

// Has reports whether node id has a front (running or to be restarted).
func (m *Manager) Has(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fronts[id] != nil
}

// IDs lists the nodes that have a front.
func (m *Manager) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.fronts))
	for id := range m.fronts {
		ids = append(ids, id)
	}
	return ids
}

// Close stops supervising. In-process fronts end; front processes keep
// serving, for the next Open to adopt.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	if m.cancel != nil {
		m.cancel()
	}
	hs := make([]*handle, 0, len(m.fronts))
	for _, h := range m.fronts {
		hs = append(hs, h)
	}
	m.mu.Unlock()
	for _, h := range hs {
		h.mu.Lock()
		if h.srv != nil {
			h.srv.Close()
			h.srv = nil
		}
		h.mu.Unlock()
	}
	m.wg.Wait()
	return nil
}

// current reports whether h is still the Manager's front for its node and
// the Manager is open.
func (m *Manager) current(h *handle) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return !m.closed && m.fronts[h.cfg.ID] == h
}

// running reports whether h's front runs (with h.mu held).
func (m *Manager) running(h *handle) bool {
	if m.InProcess {
		return h.srv != nil
	}
	if h.pid > 0 && h.pid == h.child {
		return h.reaped.Load() != int64(h.pid)
	}
	return h.pid > 0 && pidAlive(h.pid)
}

// halt ends a front (with h.mu held).
func (m *Manager) halt(h *handle) {
	h.stopped = true
	if h.srv != nil {
		h.srv.Close()
		h.srv = nil
	}
	if h.pid > 0 {
		terminate(h.pid)
		h.pid = 0
	}
}

// start runs h's front and waits until it accepts connections.
func (m *Manager) start(ctx context.Context, h *handle) error {
	addr := h.cfg.addrs()[0]
	if m.InProcess {
		srv, err := server(h.cfg, m.root(), m.Credentials)
		if err != nil {
			return err
		}
		srv.Logger = m.log()
		ls, err := listenAll(ctx, h.cfg)
		if err != nil {
			return err
		}
		h.srv = srv
		for _, l := range ls {
			go srv.Serve(l)
		}
		return nil
	}
	cmd := m.command(h.dir)
	logf, err := os.OpenFile(filepath.Join(h.dir, "front.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The credentials go through a pipe: never to disk, never in the
	// environment or on the command line.
	creds, _ := json.Marshal(validCredentials(m.Credentials))
	cmd.Stdin = bytes.NewReader(creds)
	err = cmd.Start()
	logf.Close()
	if err != nil {
		return fmt.Errorf("fronts: start %s: %w", h.cfg.ID, err)
	}
	h.pid = cmd.Process.Pid
	h.child = h.pid
	atomicfile.Write(filepath.Join(h.dir, "front.pid"), []byte(strconv.Itoa(h.pid)+"\n"), 0o600)
	exited := make(chan struct{})
	// Not in m.wg: the process outlives Close, and so does its reaper.
	go func() {
		procwait.Reap(cmd, cmd.Process.Pid)
		h.reaped.Store(int64(cmd.Process.Pid))
		close(exited)
		m.revive(h, cmd.Process.Pid)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			m.log().Info("fronts: started front", "node", h.cfg.ID, "addr", addr, "pid", h.pid)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("fronts: front of %s exited at start; see %s", h.cfg.ID, filepath.Join(h.dir, "front.log"))
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fronts: front of %s does not listen on %s", h.cfg.ID, addr)
		}
	}
}

func (m *Manager) command(dir string) *exec.Cmd {
	if m.Command != nil {
		return m.Command(dir)
	}
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	cmd := exec.Command(exe, "front", dir)
	cmd.Env = frontEnv()
	return cmd
}

// frontEnv is the environment of a front process: nearly empty, so that
// keyward's own secrets (a secret key or a store URL given in the
// environment) never reach it. KEYWARD_RUN_MAIN is kept: it lets a test
// binary stand in for keyward (see cmd/keyward's tests).
// GOMAXPROCS is 1 (see Run), or KEYWARD_FRONT_GOMAXPROCS; keyward's own
// GOMAXPROCS is not the fronts'. Set here rather than by Run, the runtime
// starts with one P: fewer threads and less memory than changing it later.
func frontEnv() []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	for _, k := range []string{"KEYWARD_RUN_MAIN", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	procs := "1"
	if v := os.Getenv("KEYWARD_FRONT_GOMAXPROCS"); v != "" {
		procs = v
	}
	env = append(env, "GOMAXPROCS="+procs)
	return env
}

// revive restarts a front whose process (pid) ended unless it was stopped
// or the Manager closed.
func (m *Manager) revive(h *handle, pid int) {
	for delay := 100 * time.Millisecond; ; delay = min(2*delay, 5*time.Second) {
		h.mu.Lock()
		gone := h.stopped || h.removed || h.pid != pid || !m.current(h)
		h.mu.Unlock()
		if gone {
			return
		}
		m.log().Warn("fronts: front exited; restarting", "node", h.cfg.ID, "pid", pid)
		select {
		case <-m.ctx.Done():
			return
		case <-time.After(delay):
		}
		h.mu.Lock()
		if h.stopped || h.removed || h.pid != pid || !m.current(h) {
			h.mu.Unlock()
			return
		}
		err := m.start(m.ctx, h)
		h.mu.Unlock()
		if err == nil {
			return
		}
		m.log().Error("fronts: restart", "node", h.cfg.ID, "err", err)
	}
}

// watchAdopted restarts an adopted front (not our child) when it dies.
func (m *Manager) watchAdopted(h *handle) {
	pid := h.pid
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		// A pidfd, not a timer per front (see package procwait).
		if procwait.Wait(pid, m.ctx.Done(), func() bool { return pidAlive(pid) }, 200*time.Millisecond) {
			m.revive(h, pid)
		}
	}()
}

// validCredentials drops credentials that fail Validate (NewVerifier would
// ignore them anyway), so that a front never refuses to start over them.
func validCredentials(creds []sigv4.Credential) []sigv4.Credential {
	out := []sigv4.Credential{}
	seen := map[string]bool{}
	for _, c := range creds {
		if c.Validate() == nil && !seen[c.AccessKeyID] {
			seen[c.AccessKeyID] = true
			out = append(out, c)
		}
	}
	return out
}

// credentialsID fingerprints creds with an HMAC under the fronts' key: it
// tells whether a running front has the current credentials without
// revealing them.
func credentialsID(key []byte, creds []sigv4.Credential) string {
	b, _ := json.Marshal(validCredentials(creds))
	m := hmac.New(sha256.New, key)
	m.Write([]byte("keyward-front-credentials\x00"))
	m.Write(b)
	return hex.EncodeToString(m.Sum(nil))[:32]
}

func loadOrCreateKey(name string) ([]byte, error) {
	if k, err := readKey(name); err == nil {
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	rand.Read(k)
	if err := atomicfile.Write(name, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

func readKey(name string) ([]byte, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("fronts: %s is not a 32-byte hex key", name)
	}
	return k, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// listenRetry binds addr, retrying briefly: a front restarted on its port
// may find the previous one still closing.
func listenRetry(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	for i := 0; ; i++ {
		l, err := lc.Listen(ctx, "tcp", addr)
		if err == nil || i == 50 {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func readPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "front.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// owns reports whether pid is a front serving dir (its command line ends
// with the directory), so that a recycled pid is never adopted or killed.
func owns(pid int, dir string) bool {
	args := cmdline(pid)
	return len(args) > 1 && args[len(args)-1] == dir && pidAlive(pid)
}

// unrecordedFronts returns the running front processes of this Manager's
// directories, by directory, that their front.pid does not name: those
// that run Command's executable with such a directory as their last
// argument.
func (m *Manager) unrecordedFronts() map[string][]int {
	exe := m.command(m.root()).Args[0]
	found := map[string][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		args := cmdline(pid)
		if len(args) < 2 || args[0] != exe {
			continue
		}
		dir := args[len(args)-1]
		if filepath.Dir(dir) == m.root() && readPid(dir) != pid && pidAlive(pid) {
			found[dir] = append(found[dir], pid)
		}
	}
	return found
}

// cmdline returns the arguments pid was started with.
func cmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// terminate sends SIGTERM to the front's process group, then SIGKILL if it
// has not ended within two seconds.
func terminate(pid int) {
	syscall.Kill(-pid, syscall.SIGTERM)
	for i := 0; i < 100 && pidAlive(pid); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if pidAlive(pid) {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}
