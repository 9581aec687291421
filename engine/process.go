package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
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

	"keyward/internal/atomicfile"
	"keyward/internal/procwait"
)

// instance is one server process of a node.
type instance struct {
	pid     int
	started time.Time
	exited  chan struct{} // closed once the process is gone
	exitErr error         // set before exited is closed; nil if unknown

	stopping atomic.Bool // keyward shut it down on purpose
}

func (i *instance) dead() bool {
	select {
	case <-i.exited:
		return true
	default:
		return false
	}
}

// notFoundError is the ErrEngineNotFound with an installation hint.
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }
func (e *notFoundError) Unwrap() error { return ErrEngineNotFound }

// binary resolves the server binary of engine.
func (m *Manager) binary(engine string) (string, error) {
	name, flag, hint := m.RedisServer, "--redis-server", "Debian: apt-get install redis-server"
	def := "redis-server"
	if engine == EngineValkey {
		name, flag, hint = m.ValkeyServer, "--valkey-server", "Debian 13 or later: apt-get install valkey-server"
		def = "valkey-server"
	}
	if name == "" {
		name = def
	}
	path, err := lookPath(name)
	if err != nil {
		where := " on PATH"
		if strings.ContainsRune(name, filepath.Separator) {
			where = ""
		}
		return "", &notFoundError{fmt.Sprintf("engine: %s not found%s: install it (%s) or set %s", name, where, hint, flag)}
	}
	return path, nil
}

// lookPath is exec.LookPath remembering what it found for a few seconds:
// every pass over every node asks for its binary (to start it if needed),
// and the lookup's stat of each PATH directory was a good part of a pass
// over a node at rest. Failures are not remembered, so installing the
// binary takes effect at once.
func lookPath(name string) (string, error) {
	key := name + "\x00" + os.Getenv("PATH")
	if e, ok := lookPaths.Load(key); ok && time.Since(e.(lookedPath).at) < lookPathTTL {
		return e.(lookedPath).path, nil
	}
	path, err := exec.LookPath(name)
	if err == nil {
		lookPaths.Store(key, lookedPath{path, time.Now()})
	}
	return path, err
}

const lookPathTTL = 5 * time.Second

var lookPaths sync.Map // name and PATH → lookedPath

type lookedPath struct {
	path string
	at   time.Time
}

// checkTLS reports whether bin was built with TLS. A server built without
// it does not know the tls-port directive, so a configuration naming
// tls-port and then a bogus directive fails on tls-port without TLS and on
// the bogus one with it; either way the server exits at once.
func (m *Manager) checkTLS(ctx context.Context, bin string) error {
	m.mu.Lock()
	err, ok := m.tlsOK[bin]
	m.mu.Unlock()
	if ok {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, bin, "--tls-port", "0", "--keyward-tls-probe", "yes").CombinedOutput()
	switch {
	case bytes.Contains(out, []byte("keyward-tls-probe")):
		err = nil
	case bytes.Contains(out, []byte("tls-port")):
		err = fmt.Errorf("%w: %s cannot serve TLS nodes; install a build with TLS (Debian's redis-server has it)", ErrTLSUnsupported, bin)
	default:
		if ctx.Err() != nil {
			return fmt.Errorf("engine: probe %s for TLS: %w", bin, ctx.Err())
		}
		return fmt.Errorf("engine: probe %s for TLS: unexpected output %q", bin, tail(out, 300))
	}
	m.mu.Lock()
	m.tlsOK[bin] = err
	m.mu.Unlock()
	return err
}

func (m *Manager) confPath(n *node) string { return filepath.Join(n.dir, "server.conf") }

// start starts n's server from its record and waits until it answers as
// ours. Requires n.life.
func (m *Manager) start(ctx context.Context, n *node) error {
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	bin, err := m.binary(rec.Spec.Engine)
	if err != nil {
		return err
	}
	if rec.Spec.TLS {
		if err := m.checkTLS(ctx, bin); err != nil {
			return err
		}
	}
	// The new process gets this keyward's configuration: the private socket.
	m.setRecord(n, func(r *record) { r.Scheme = scheme })
	if err := m.writeNodeFiles(n); err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(n.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("engine: start %s: %w", n.id, err)
	}
	// Not CommandContext: the server must outlive the request (and
	// keyward). Its own process group keeps it out of keyward's signals
	// (e.g. Ctrl-C in a terminal), and output goes to a file, not a pipe
	// that would break when keyward exits.
	cmd := exec.Command(bin, m.confPath(n))
	cmd.Dir = n.dir
	cmd.Env = minimalEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: m.nodeCred}
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
	n.admin.drop()
	if err := m.waitReady(ctx, n, rec, inst); err != nil {
		terminate(inst.pid, inst, m.StopTimeout)
		return fmt.Errorf("engine: start %s: %w%s", n.id, err, m.logTail(n))
	}
	if m.readyFn != nil {
		m.readyFn()
	}
	m.setInstance(n, inst)
	m.restoreACL(ctx, n)
	m.mu.Lock()
	rec = n.rec
	m.mu.Unlock()
	if err := writeRecord(n.dir, rec); err != nil {
		m.log.Warn("engine: write node record", "node", n.id, "err", err)
	}
	if !m.goSupervised(func() { m.watch(n, inst) }) {
		return ErrClosed
	}
	return nil
}

// waitReady polls the new server until it answers PING as our admin user
// from the expected process.
func (m *Manager) waitReady(ctx context.Context, n *node, rec record, inst *instance) error {
	ctx, cancel := context.WithTimeout(ctx, m.StartTimeout)
	defer cancel()
	delay := 2 * time.Millisecond
	var last error
	for {
		select {
		case <-inst.exited:
			return fmt.Errorf("server exited during start (%v)", inst.exitErr)
		default:
		}
		c, err := m.dialNode(ctx, n, inst.pid)
		if err == nil {
			var info serverInfoFields
			info, err = serverInfo(ctx, c)
			c.close()
			if err == nil && info.pid == inst.pid {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("port %d answered by pid %d, not %d", rec.Port, info.pid, inst.pid)
			}
		}
		last = err
		select {
		case <-inst.exited:
			return fmt.Errorf("server exited during start (%v)", inst.exitErr)
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(delay):
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// logTail returns the end of the node's logs, for start errors.
func (m *Manager) logTail(n *node) string {
	var b strings.Builder
	for _, name := range []string{"stdout.log", "server.log"} {
		data, err := os.ReadFile(filepath.Join(n.dir, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n%s", name, tail(data, 800))
	}
	return b.String()
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// writeNodeFiles writes n's directory: data dir, TLS certificate, ACL file
// (admin user refreshed), configuration and node.json. Requires n.life.
func (m *Manager) writeNodeFiles(n *node) error {
	m.mu.Lock()
	rec := n.rec
	m.mu.Unlock()
	if err := os.MkdirAll(filepath.Join(n.dir, "data"), 0o700); err != nil {
		return fmt.Errorf("engine: node %s: %w", n.id, err)
	}
	if rec.Spec.TLS {
		if err := os.MkdirAll(filepath.Join(n.dir, "tls"), 0o700); err != nil {
			return fmt.Errorf("engine: node %s: %w", n.id, err)
		}
		cert, key := filepath.Join(n.dir, "tls", "server.pem"), filepath.Join(n.dir, "tls", "server.key")
		if err := m.ca.ensureServerCert(cert, key, n.id, certHosts(rec)); err != nil {
			return fmt.Errorf("engine: node %s: certificate: %w", n.id, err)
		}
		// The node reads the CA certificate from its own directory: the
		// data directory's tls/ holds the CA key.
		caPEM, err := os.ReadFile(m.ca.CertFile)
		if err != nil {
			return fmt.Errorf("engine: node %s: %w", n.id, err)
		}
		if err := m.writeNodeFile(filepath.Join(n.dir, "tls", "ca.pem"), caPEM, 0o600); err != nil {
			return fmt.Errorf("engine: node %s: %w", n.id, err)
		}
		for _, f := range []string{cert, key} {
			if err := m.chownNode(f); err != nil {
				return fmt.Errorf("engine: node %s: %w", n.id, err)
			}
		}
	}
	// The server appends to its log by name, so it must own the file.
	logName := filepath.Join(n.dir, "server.log")
	if f, err := os.OpenFile(logName, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		f.Close()
	}
	if err := m.chownNode(logName); err != nil {
		return fmt.Errorf("engine: node %s: %w", n.id, err)
	}
	if err := m.ownNodeDir(n.dir); err != nil {
		return fmt.Errorf("engine: node %s: %w", n.id, err)
	}
	if err := m.writeACLFile(filepath.Join(n.dir, "users.acl"), rec.Spec); err != nil {
		return fmt.Errorf("engine: node %s: acl file: %w", n.id, err)
	}
	if err := m.writeNodeFile(m.confPath(n), m.renderConfig(n, rec), 0o600); err != nil {
		return fmt.Errorf("engine: node %s: config: %w", n.id, err)
	}
	if err := writeRecord(n.dir, rec); err != nil {
		return fmt.Errorf("engine: node %s: %w", n.id, err)
	}
	return nil
}

// renderConfig returns the server configuration of n.
func (m *Manager) renderConfig(n *node, rec record) []byte {
	var b bytes.Buffer
	p := func(args ...string) { b.WriteString(strings.Join(args, " ") + "\n") }
	b.WriteString("# Written by keyward each time the node starts; edits are lost.\n")
	p(append([]string{"bind", rec.host()}, rec.Spec.Binds...)...)
	if rec.Spec.TLS {
		p("port", "0")
		p("tls-port", strconv.Itoa(rec.Port))
	} else {
		p("port", strconv.Itoa(rec.Port))
	}
	p("daemonize", "no")
	p("dir", confQuote(filepath.Join(n.dir, "data")))
	p("aclfile", confQuote(filepath.Join(n.dir, "users.acl")))
	// keyward's own channel: a socket in the node's private data
	// directory, named relative to it (the server has changed into it by
	// the time it binds) so that its path fits in sockaddr_un. keyward
	// checks the socket's owner before it sends the node's credential.
	p("unixsocket", confQuote(adminSocket))
	p("unixsocketperm", "700")
	p("logfile", confQuote(filepath.Join(n.dir, "server.log")))
	// The config path in the process title lets a later keyward recognise
	// its own server (ownsProcess) after the server rewrote its argv.
	p("proc-title-template", confQuote("{title} {listen-addr} {config-file}"))
	p("appendonly", "yes")
	p("save", `""`)
	p("enable-debug-command", "no")
	p("enable-module-command", "no")
	writeMemoryConfig(p, rec.Spec)
	writeExtraConfig(p, rec.Spec)
	// ElastiCache's default (spec §7.4); keyward's rules state channels
	// explicitly anyway.
	p("acl-pubsub-default", "allchannels")
	// Start a full sync at once instead of waiting 5s for more replicas:
	// nodes are local, and replicas are ensured one by one.
	p("repl-diskless-sync-delay", "0")
	writeBootConfig(p, rec.Spec)
	// Replicas authenticate to their primary as ReplUser with the
	// primary's own replication password, which allows nothing but
	// replicating that primary. (A Redis Cluster replica's ReplicaOf is its
	// shard's primary, which CLUSTER REPLICATE makes it follow.)
	p("masteruser", ReplUser)
	if pass := m.primaryReplPass(rec.Spec); pass != "" {
		p("masterauth", confQuote(pass))
	}
	if rec.Spec.Cluster {
		renderClusterConfig(p, n.dir, rec)
	} else if rec.Spec.ReplicaOf != "" && rec.PrimaryAddr != "" {
		host, port, _ := net.SplitHostPort(rec.PrimaryAddr)
		p("replicaof", host, port)
	}
	if rec.Spec.TLS {
		p("tls-cert-file", confQuote(filepath.Join(n.dir, "tls", "server.pem")))
		p("tls-key-file", confQuote(filepath.Join(n.dir, "tls", "server.key")))
		p("tls-ca-cert-file", confQuote(filepath.Join(n.dir, "tls", "ca.pem")))
		p("tls-auth-clients", "no")
		p("tls-replication", "yes")
	}
	return b.Bytes()
}

// confQuote quotes s for a Redis configuration file (sdssplitargs syntax).
func confQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeACLFile writes the ACL file a node starts with: keyward's own users
// and a default user that is off, nothing else. A node therefore always
// starts closed, whatever it held before (a revoked user, or a line the
// engine would refuse to load), and gets its users from ApplyACL: the
// Manager's last desired state, before the node counts as running.
func (m *Manager) writeACLFile(name string, spec NodeSpec) error {
	id := spec.ID
	// "reset" first, as ApplyACL renders users, so that the loaded users
	// compare equal to their desired form (reset also sets sanitize-payload).
	lines := []string{
		"user " + AdminUser + " reset " + strings.Join(m.adminRules(id), " "),
		"user " + ReplUser + " reset " + strings.Join(m.replRules(spec), " "),
		"user default reset off",
	}
	return m.writeNodeFile(name, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

// adminRules are the ACL rules of AdminUser on node id.
func (m *Manager) adminRules(id string) []string {
	return []string{"on", "#" + sha256Hex(m.adminPass(id)), "~*", "&*", "+@all"}
}

// replRules are the ACL rules of ReplUser on the node: replicating only.
// On a Redis Cluster node it may also take in keys that a slot migration
// moves to it (MIGRATE authenticates with AUTH2 as ReplUser and sends
// RESTORE-ASKING): it could read them all with PSYNC anyway.
func (m *Manager) replRules(spec NodeSpec) []string {
	rules := []string{"on", "#" + sha256Hex(m.ownReplPass(spec)), "resetchannels", "-@all", "+psync", "+replconf", "+ping"}
	if spec.Cluster {
		rules = append(rules, "~*", "+restore-asking", "+asking", "+select")
	}
	return rules
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func readRecord(dir string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(dir, "node.json"))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("node.json: %w", err)
	}
	if err := rec.Spec.Validate(); err != nil {
		return rec, fmt.Errorf("node.json: %w", err)
	}
	if rec.Spec.ID != filepath.Base(dir) || rec.Port <= 0 || rec.Port > 65535 {
		return rec, errors.New("node.json: id or port invalid")
	}
	return rec, nil
}

func writeRecord(dir string, rec record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "node.json"), append(b, '\n'), 0o600)
}

// shutdown stops inst: SHUTDOWN through the admin user (NOSAVE when the
// data is to be discarded; the append-only file is flushed otherwise), then
// signals. Requires n.life.
func (m *Manager) shutdown(ctx context.Context, n *node, inst *instance, nosave bool) {
	inst.stopping.Store(true)
	n.admin.drop()
	args := []string{"SHUTDOWN", "NOW", "FORCE"}
	if nosave {
		args = []string{"SHUTDOWN", "NOSAVE", "NOW", "FORCE"}
	}
	sctx, cancel := context.WithTimeout(ctx, m.StopTimeout)
	defer cancel()
	if c, err := m.dialNode(sctx, n, inst.pid); err == nil {
		// Success shows as the connection closing.
		if _, err := c.do(sctx, args...); err != nil && errors.As(err, new(respError)) {
			m.log.Warn("engine: shutdown refused", "node", n.id, "err", err)
		}
		c.close()
	}
	select {
	case <-inst.exited:
		return
	case <-sctx.Done():
	}
	terminate(inst.pid, inst, m.StopTimeout)
}

// terminate sends SIGTERM to the process group of pid, then SIGKILL after
// timeout, and waits (at most timeout again) for the process to go. inst
// may be nil for a process this Manager did not start.
func terminate(pid int, inst *instance, timeout time.Duration) {
	signal := func(sig syscall.Signal) {
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			syscall.Kill(-pid, sig)
		} else {
			syscall.Kill(pid, sig)
		}
	}
	gone := func() bool {
		if inst != nil {
			return inst.dead()
		}
		return !pidAlive(pid)
	}
	wait := func() bool {
		deadline := time.Now().Add(timeout)
		for !gone() {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(10 * time.Millisecond)
		}
		return true
	}
	if gone() {
		return
	}
	signal(syscall.SIGTERM)
	if wait() {
		return
	}
	signal(syscall.SIGKILL)
	wait()
}

// pidAlive reports whether pid is a live (not zombie) process.
func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err == nil {
		// "pid (comm) S ...": comm may hold spaces and parentheses.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
			return b[i+2] != 'Z' && b[i+2] != 'X'
		}
		return true
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat("/proc/self/stat"); serr == nil {
			return false // procfs works, the process is gone
		}
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ownsProcess reports whether pid is a server started with configuration
// conf, judged from its command line (kept in the process title by
// proc-title-template). False when it cannot tell.
func ownsProcess(pid int, conf string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !pidAlive(pid) {
		return false
	}
	return bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), []byte(conf))
}

// ownProcesses returns the live servers started with configuration conf:
// pid if it is one, and any other found in /proc.
func ownProcesses(conf string, pid int) []int {
	var out []int
	if pid > 0 && ownsProcess(pid, conf) {
		out = append(out, pid)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		q, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || q == pid || q == os.Getpid() {
			continue
		}
		// Only a server: not, say, an operator's "less server.conf".
		b, _ := os.ReadFile(p)
		first, _, _ := bytes.Cut(b, []byte{0})
		first, _, _ = bytes.Cut(first, []byte{' '})
		if bytes.HasSuffix(first, []byte("-server")) && ownsProcess(q, conf) {
			out = append(out, q)
		}
	}
	return out
}
