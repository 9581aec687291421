package engine_test

// Regression tests for the data-plane findings of the security review of
// 2026-12 (../shared/security/review-2026-12.md), each written from the
// finding's reproduction with real redis-server processes.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyward/engine"
	"keyward/internal/redistest"
)

// impostor binds 127.0.0.1:port as soon as it is free and records every
// command sent to it, answering PING with PONG and anything else with OK
// (so that a replica goes on to AUTH).
type impostor struct {
	mu   sync.Mutex
	cmds [][]string
	l    net.Listener
	done chan struct{}
}

func startImpostor(t *testing.T, port int) *impostor {
	t.Helper()
	im := &impostor{done: make(chan struct{})}
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			im.l = l
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("impostor: port %d never free: %v", port, err)
		}
		time.Sleep(200 * time.Microsecond)
	}
	go func() {
		defer close(im.done)
		for {
			c, err := im.l.Accept()
			if err != nil {
				return
			}
			go im.serve(c)
		}
	}()
	return im
}

func (im *impostor) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for {
		args, err := readCommand(br)
		if err != nil {
			return
		}
		im.mu.Lock()
		im.cmds = append(im.cmds, args)
		im.mu.Unlock()
		reply := "+OK\r\n"
		if len(args) > 0 && strings.EqualFold(args[0], "PING") {
			reply = "+PONG\r\n"
		}
		io.WriteString(c, reply)
	}
}

func readCommand(br *bufio.Reader) ([]string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil // inline command
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 64 {
		return nil, errors.New("bad array")
	}
	args := make([]string, n)
	for i := range args {
		h, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		l, err := strconv.Atoi(strings.TrimRight(h, "\r\n")[1:])
		if err != nil || l < 0 || l > 1<<16 {
			return nil, errors.New("bad bulk")
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:l])
	}
	return args, nil
}

func (im *impostor) close() [][]string {
	im.l.Close()
	<-im.done
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.cmds
}

// auths returns the (user, password) pairs of the AUTH commands in cmds.
func auths(cmds [][]string) [][2]string {
	var out [][2]string
	seen := map[[2]string]bool{}
	for _, c := range cmds {
		if len(c) == 3 && strings.EqualFold(c[0], "AUTH") && !seen[[2]string{c[1], c[2]}] {
			seen[[2]string{c[1], c[2]}] = true
			out = append(out, [2]string{c[1], c[2]})
		}
	}
	return out
}

// F1: keyward sent AUTH keyward-admin <the one shared secret> to whatever
// listened on a dead plaintext node's port, both while running (restarts)
// and at startup (adoption probe); the secret opened every node.
func TestReviewF1_NoCredentialToAnImpostorOnANodePort(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	m := newManager(t, dir, nil)
	p := ensure(t, m, engine.NodeSpec{ID: "imp-001", Engine: "redis"})
	r := ensure(t, m, engine.NodeSpec{ID: "imp-002", Engine: "redis", ReplicaOf: p.ID})
	other := ensure(t, m, engine.NodeSpec{ID: "rga-001", Engine: "redis", TLS: true})
	applyAll(t, m, appUsers(), nil, p.ID, r.ID)
	applyAll(t, m, appUsers(), nil, other.ID)
	master, err := os.ReadFile(filepath.Join(dir, "admin.secret"))
	if err != nil {
		t.Fatal(err)
	}

	check := func(phase string, cmds [][]string) {
		t.Helper()
		t.Logf("%s: the impostor received %d commands", phase, len(cmds))
		leaks := 0
		for _, c := range cmds {
			if bytes.Contains([]byte(strings.Join(c, " ")), bytes.TrimSpace(master)) {
				leaks++
			}
		}
		if leaks > 0 {
			t.Errorf("%s: the master secret reached the impostor in %d commands", phase, leaks)
		}
		for _, a := range auths(cmds) {
			if a[0] == engine.AdminUser {
				t.Errorf("%s: keyward sent AUTH %s to the impostor", phase, a[0])
			}
			// Whatever a replica sent opens no other node.
			for _, n := range []*engine.Node{r, other} {
				var tc = m.TLSConfig()
				if !n.TLS {
					tc = nil
				}
				if err := client(t, n.Addr, a[0], a[1], tc).Ping(ctx).Err(); err == nil {
					t.Errorf("%s: the credential of %s captured by the impostor opens node %s", phase, a[0], n.ID)
				}
			}
		}
	}

	// Part 1: the node dies while keyward runs; supervision restarts it.
	syscall.Kill(p.PID, syscall.SIGKILL)
	im := startImpostor(t, p.Port)
	time.Sleep(3 * time.Second)
	cmds := im.close()
	check("while running", cmds)
	if len(auths(cmds)) == 0 {
		t.Log("the replica sent no AUTH to the impostor")
	}
	// Once the impostor lets go, the node comes back on its port.
	eventually(t, 20*time.Second, func() error {
		n, _ := m.Node(p.ID)
		if n.PID == 0 {
			return errors.New("primary still down")
		}
		return client(t, p.Addr, "alice", alicePW, nil).Ping(ctx).Err()
	})
	// The replication credential only replicates, even on its own node.
	for _, a := range auths(cmds) {
		if a[0] != engine.AdminUser {
			c := client(t, p.Addr, a[0], a[1], nil)
			if err := c.Get(ctx, "app:k").Err(); err == nil || !isNoPerm(err) {
				t.Errorf("%s on its own primary: GET answered %v, want NOPERM", a[0], err)
			}
		}
	}

	// Part 2: keyward restarts while the node is dead and its port held.
	cur, _ := m.Node(p.ID)
	m.Close()
	syscall.Kill(cur.PID, syscall.SIGKILL)
	im = startImpostor(t, p.Port)
	m2 := newManager(t, dir, nil)
	time.Sleep(2 * time.Second)
	check("at startup", im.close())
	eventually(t, 20*time.Second, func() error {
		if n, _ := m2.Node(p.ID); n.PID == 0 {
			return errors.New("primary still down")
		}
		return nil
	})
}

// startOldNode starts a node as keyward 47fcae1 did: TCP admin channel,
// the master secret as admin password and masterauth, alice as a tenant.
func startOldNode(t *testing.T, dir, id, secret string) (addr string, pid int) {
	t.Helper()
	nd := filepath.Join(dir, "nodes", id)
	if err := os.MkdirAll(filepath.Join(nd, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(nd, "server.conf")
	old := fmt.Sprintf("bind 127.0.0.1\nport %d\ndaemonize no\ndir %q\naclfile %q\nlogfile %q\n"+
		"proc-title-template \"{title} {listen-addr} {config-file}\"\nappendonly yes\nsave \"\"\n"+
		"masteruser keyward-admin\nmasterauth %q\n",
		port, filepath.Join(nd, "data"), filepath.Join(nd, "users.acl"), filepath.Join(nd, "server.log"), secret)
	acl := "user keyward-admin reset on " + hash(secret) + " ~* &* +@all\nuser default reset off\n" +
		"user alice reset on " + hash(alicePW) + " ~* &* +@all\n"
	for name, data := range map[string]string{conf: old, filepath.Join(nd, "users.acl"): acl} {
		if err := os.WriteFile(name, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(redistest.Binary(t), conf)
	cmd.Dir = nd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	addr = "127.0.0.1:" + strconv.Itoa(port)
	eventually(t, 10*time.Second, func() error { return client(t, addr, "alice", alicePW, nil).Ping(t.Context()).Err() })
	rec := fmt.Sprintf(`{"spec":{"id":%q,"engine":"redis"},"port":%d,"pid":%d}`, id, port, cmd.Process.Pid)
	if err := os.WriteFile(filepath.Join(nd, "node.json"), []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	return addr, cmd.Process.Pid
}

// F1, upgrade: a node started by an older keyward (TCP admin channel, the
// shared secret as admin password and masterauth) is adopted in place, with
// its connections and data, once the kernel shows its own server accepted
// keyward's connection, and moved to per-node credentials: the shared
// secret opens it no more. An impostor on the port of such a node that
// died gets nothing.
func TestReviewF1_OlderNodeAdoptedAndMigrated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	killStraysAtEnd(t, dir)
	secret := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(dir, "admin.secret"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, pid := startOldNode(t, dir, "old-001", secret)
	conn := client(t, addr, "alice", alicePW, nil).Conn()
	defer conn.Close()
	if err := conn.Set(t.Context(), "k", "kept", 0).Err(); err != nil {
		t.Fatal(err)
	}
	deadAddr, deadPID := startOldNode(t, dir, "old-002", secret)
	syscall.Kill(deadPID, syscall.SIGKILL)
	_, deadPort, _ := net.SplitHostPort(deadAddr)
	port, _ := strconv.Atoi(deadPort)
	im := startImpostor(t, port)

	m := newManager(t, dir, nil)
	n := mustNode(t, m, "old-001")
	if n.PID != pid {
		t.Errorf("after Open: %+v, want the old process %d adopted", n, pid)
	}
	time.Sleep(500 * time.Millisecond)
	if a := auths(im.close()); len(a) > 0 {
		t.Errorf("keyward sent AUTH %s to an impostor on a dead old node's port", a[0][0])
	}
	if v, err := conn.Get(t.Context(), "k").Result(); err != nil || v != "kept" {
		t.Errorf("a connection from before the upgrade: %q, %v", v, err)
	}
	applyAll(t, m, appUsers(), nil, n.ID)
	if err := client(t, addr, engine.AdminUser, secret, nil).Ping(t.Context()).Err(); err == nil {
		t.Error("the old shared secret still opens the node")
	}
	if err := adminClient(t, dir, n, nil).Ping(t.Context()).Err(); err != nil {
		t.Errorf("the node's own admin password: %v", err)
	}
	for _, f := range []string{"server.conf", "users.acl"} {
		b, _ := os.ReadFile(filepath.Join(dir, "nodes", "old-001", f))
		if strings.Contains(string(b), secret) || strings.Contains(string(b), hash(secret)) {
			t.Errorf("%s still holds the shared secret (or its hash)", f)
		}
	}
	// Its next start puts it on the private socket, data kept.
	syscall.Kill(pid, syscall.SIGKILL)
	eventually(t, 20*time.Second, func() error {
		if _, err := os.Stat(engine.NodeAdminSocket(dir, n.ID)); err != nil {
			return err
		}
		v, err := client(t, addr, "alice", alicePW, nil).Get(t.Context(), "app:k").Result()
		if err != nil && err != redis.Nil {
			return err
		}
		_ = v
		return nil
	})
}

// F2 (engine half): one user the engine refused (+json.get: a module
// command) failed the whole ApplyACL, so another user's removal never
// reached the node.
func TestReviewF2_RefusedUserDoesNotBlockRevocation(t *testing.T) {
	t.Parallel()
	m, n, _ := oneNode(t)
	ctx := t.Context()
	victimPW := "victim-password-00001"
	victim := engine.ACLUser{Name: "victim", Rules: []string{"on", hash(victimPW), "allchannels", "~*", "+@all"}}
	modu := engine.ACLUser{Name: "modu", Rules: []string{"on", hash("modu-password-0000001"), "allchannels", "~*", "-@all", "+json.get"}}
	applyAll(t, m, append(appUsers(), victim), nil, n.ID)
	vc := client(t, n.Addr, "victim", victimPW, nil).Conn()
	defer vc.Close()
	if err := vc.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	_, err := m.ApplyACL(ctx, n.ID, append(appUsers(), victim, modu), nil)
	if !errors.Is(err, engine.ErrInvalidRules) || !strings.Contains(err.Error(), "modu") {
		t.Errorf("ApplyACL with modu: %v, want ErrInvalidRules naming modu", err)
	}
	if err := client(t, n.Addr, "modu", "modu-password-0000001", nil).Ping(ctx).Err(); err == nil {
		t.Error("the refused user modu can log in")
	}

	// The revocation of victim takes effect although modu is still refused.
	_, err = m.ApplyACL(ctx, n.ID, append(appUsers(), modu), nil)
	if !errors.Is(err, engine.ErrInvalidRules) {
		t.Errorf("revoking victim: %v, want only modu reported", err)
	}
	if err := client(t, n.Addr, "victim", victimPW, nil).Ping(ctx).Err(); err == nil {
		t.Error("revoked victim still admitted while modu's rules are refused")
	}
	checkClosed(t, "victim's connection", vc)
	if err := client(t, n.Addr, "alice", alicePW, nil).Ping(ctx).Err(); err != nil {
		t.Errorf("alice: %v", err)
	}

	// Fixed rules converge with no error.
	modu.Rules[len(modu.Rules)-1] = "+get"
	if _, err := m.ApplyACL(ctx, n.ID, append(appUsers(), modu), nil); err != nil {
		t.Errorf("ApplyACL with modu fixed: %v", err)
	}
	if err := client(t, n.Addr, "modu", "modu-password-0000001", nil).Get(ctx, "k").Err(); err != redis.Nil {
		t.Errorf("modu GET after its fix: %v, want nil reply", err)
	}
}

// revokeWithin retries ApplyACL as the reconciler does (each attempt
// bounded) until it succeeds and then checks that user is refused; it
// returns how long that took.
func revokeWithin(t *testing.T, m *engine.Manager, n *engine.Node, users []engine.ACLUser, user, pw string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		_, err := m.ApplyACL(ctx, n.ID, users, nil)
		cancel()
		if err == nil {
			break
		}
		if time.Since(start) > limit {
			t.Fatalf("revocation of %s not applied after %v: %v", user, limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cur := mustNode(t, m, n.ID)
	if err := client(t, cur.Addr, user, pw, nil).Ping(t.Context()).Err(); err == nil {
		t.Errorf("%s still admitted after the revocation", user)
	}
	return time.Since(start)
}

// F4: a tenant with +@all froze a node with CLIENT PAUSE (any length) or
// kept it BUSY with a script SCRIPT KILL cannot stop; its own revocation
// then waited as long as the tenant wanted.
func TestReviewF4_FrozenOrBusyNodeRecovered(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	killStraysAtEnd(t, dir)
	m := &engine.Manager{DataDir: dir, RedisServer: redistest.Binary(t), Logger: testLogger(t), StuckTimeout: 2 * time.Second}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, n := range m.Nodes() {
			m.Stop(context.Background(), n.ID)
		}
		m.Close()
	})
	n := ensure(t, m, engine.NodeSpec{ID: "rgb-001", Engine: "redis"})
	malPW := "mal-password-00000001"
	mal := engine.ACLUser{Name: "mal", Rules: []string{"on", hash(malPW), "allchannels", "~*", "+@all"}}
	ctx := t.Context()

	// CLIENT PAUSE for ten minutes: CLIENT UNPAUSE cannot get through, so
	// keyward restarts the node from its desired state.
	applyAll(t, m, append(appUsers(), mal), nil, n.ID)
	if err := client(t, n.Addr, "mal", malPW, nil).Do(ctx, "CLIENT", "PAUSE", "600000", "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE as mal: %v (tenants with +@all may pause, as on ElastiCache)", err)
	}
	took := revokeWithin(t, m, n, appUsers(), "mal", malPW, 15*time.Second)
	t.Logf("paused node: revocation applied after %v", took)
	if err := client(t, n.Addr, "alice", alicePW, nil).Ping(ctx).Err(); err != nil {
		t.Errorf("alice after the recovery: %v", err)
	}

	// A write-then-loop script that SCRIPT KILL cannot end.
	applyAll(t, m, append(appUsers(), mal), nil, n.ID)
	mc := client(t, n.Addr, "mal", malPW, nil)
	go mc.Eval(context.Background(), "redis.call('SET','mal:x','1') while true do end", nil)
	time.Sleep(200 * time.Millisecond)
	took = revokeWithin(t, m, n, appUsers(), "mal", malPW, 15*time.Second)
	t.Logf("node busy with an unkillable script: revocation applied after %v", took)
	if got := mustNode(t, m, n.ID); got.Unresponsive || got.PID == 0 {
		t.Errorf("node after recovery: %+v", got)
	}
}

// F5: while a node could not start, every Ensure (the reconciler called it
// dozens of times a second) spawned a redis-server, bypassing supervision's
// backoff.
func TestReviewF5_NodeStartsLimitedByBackoff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	killStraysAtEnd(t, dir)
	// A server binary that can be switched to one that cannot start (as
	// with an ACL file it refuses), counting its starts.
	starts := filepath.Join(t.TempDir(), "starts")
	broken := filepath.Join(t.TempDir(), "broken")
	bin := fakeServer(t, fmt.Sprintf(`if [ -e %q ]; then echo start >> %q; echo "cannot start" >&2; exit 1; fi
exec %q "$@"`, broken, starts, redistest.Binary(t)))
	m := &engine.Manager{DataDir: dir, RedisServer: bin, Logger: testLogger(t)}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(broken)
		for _, n := range m.Nodes() {
			m.Stop(context.Background(), n.ID)
		}
		m.Close()
	})
	n := ensure(t, m, engine.NodeSpec{ID: "rga-002", Engine: "redis"})
	if err := os.WriteFile(broken, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(n.PID, syscall.SIGKILL)
	end := time.Now().Add(2 * time.Second)
	calls := 0
	for time.Now().Before(end) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		m.Ensure(ctx, engine.NodeSpec{ID: n.ID, Engine: "redis"})
		cancel()
		calls++
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(starts)
	got := bytes.Count(b, []byte("start"))
	t.Logf("%d Ensure calls in 2 s while the node cannot start: %d server starts", calls, got)
	if got > 6 {
		t.Errorf("%d starts in 2 s: want at most the supervision backoff's (250 ms, doubling)", got)
	}
}

// F11: the engine's rendering of the same rules can change during a
// server's life, and ApplyACL compared the node with a rendering cached per
// connection: once stale, every pass rewrote the users for ever. Here the
// rendering of "reset off" changes with acl-pubsub-default.
func TestReviewF11_NoEndlessReapply(t *testing.T) {
	t.Parallel()
	m, n, dir := oneNode(t)
	ctx := t.Context()
	applyAll(t, m, appUsers(), nil, n.ID)
	admin := adminClient(t, dir, n, nil)
	if err := admin.Do(ctx, "CONFIG", "SET", "acl-pubsub-default", "resetchannels").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "reset", "off").Err(); err != nil {
		t.Fatal(err)
	}
	setusers := func() int {
		info, _ := admin.Info(ctx, "commandstats").Result()
		for line := range strings.Lines(info) {
			if rest, ok := strings.CutPrefix(line, "cmdstat_acl|setuser:calls="); ok {
				n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
				return n
			}
		}
		return 0
	}
	m.ApplyACL(ctx, n.ID, appUsers(), nil)
	before := setusers()
	for i := range 4 {
		if changed, err := m.ApplyACL(ctx, n.ID, appUsers(), nil); err != nil || changed {
			t.Errorf("pass %d with nothing changed: changed=%v, %v", i+2, changed, err)
		}
	}
	// Renderings through the scratch user are SETUSERs too: 4 passes of
	// writes would add at least 8.
	if d := setusers() - before; d > 4 {
		t.Errorf("%d ACL SETUSER calls in 4 no-op passes", d)
	}
}

// F14: every node inherited keyward's environment, SigV4 secret included,
// and nodes run tenant Lua.
func TestReviewF14_NodeEnvironmentIsMinimal(t *testing.T) {
	const secret = "EnvSecretValue0123456789-f14"
	t.Setenv("KEYWARD_SECRET_ACCESS_KEY", secret)
	t.Setenv("KEYWARD_F14_PROBE", "probe-"+secret)
	_, n, _ := oneNode(t)
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", n.PID))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(env, []byte(secret)) {
		t.Errorf("/proc/%d/environ holds keyward's secret", n.PID)
	}
	if found, err := memoryContains(n.PID, []byte(secret)); err != nil {
		t.Fatalf("scan the node's memory: %v", err)
	} else if found {
		t.Errorf("the node's memory holds KEYWARD_SECRET_ACCESS_KEY's value")
	}
}

// memoryContains scans the writable mappings of pid for needle.
func memoryContains(pid int, needle []byte) (bool, error) {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return false, err
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		return false, err
	}
	defer mem.Close()
	scanned := 0
	for line := range strings.Lines(string(maps)) {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[1], "rw") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		if b-a > 256<<20 {
			continue
		}
		buf := make([]byte, b-a)
		k, _ := mem.ReadAt(buf, int64(a))
		scanned += k
		if bytes.Contains(buf[:k], needle) {
			return true, nil
		}
	}
	if scanned == 0 {
		return false, errors.New("no memory readable")
	}
	return false, nil
}

// F17: tenants could run CLIENT KILL USER keyward-admin and CLIENT KILL
// TYPE replica, dropping keyward's admin connection and the replication
// link.
func TestReviewF17_TenantCannotKillAdminOrReplication(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	p := ensure(t, m, engine.NodeSpec{ID: "rga-001", Engine: "redis"})
	r := ensure(t, m, engine.NodeSpec{ID: "rga-002", Engine: "redis", ReplicaOf: p.ID})
	applyAll(t, m, appUsers(), nil, p.ID, r.ID)
	ctx := t.Context()
	admin := adminClient(t, dir, p, nil)
	eventually(t, 10*time.Second, func() error {
		info, _ := admin.Info(ctx, "replication").Result()
		if !strings.Contains(info, "connected_slaves:1") {
			return errors.New("replica not connected")
		}
		return nil
	})
	alice := client(t, p.Addr, "alice", alicePW, nil)
	for _, cmd := range [][]any{
		{"CLIENT", "KILL", "USER", engine.AdminUser},
		{"CLIENT", "KILL", "USER", engine.ReplUser},
		{"CLIENT", "KILL", "TYPE", "replica"},
		{"CLIENT", "KILL", "TYPE", "normal"},
	} {
		if err := alice.Do(ctx, cmd...).Err(); !isNoPerm(err) {
			t.Errorf("%v as a +@all tenant: %v, want NOPERM", cmd, err)
		}
	}
	if info, _ := admin.Info(ctx, "replication").Result(); !strings.Contains(info, "connected_slaves:1") {
		t.Errorf("replication link dropped:\n%s", info)
	}
}

// F18: nodes ran as keyward's user (root in the review), so a node that
// fell reached admin.secret, state.db and the CA key; the CA had no name
// constraints.
func TestReviewF18_UnprivilegedNodesAndConstrainedCA(t *testing.T) {
	t.Parallel()
	// A data directory the node user can reach (t.TempDir's parent is 0700).
	base, err := os.MkdirTemp("", "kw-f18-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o711)
	dir := filepath.Join(base, "data")
	m := newManager(t, dir, nil)
	n := ensure(t, m, engine.NodeSpec{ID: "n-001", Engine: "redis", TLS: true})
	applyAll(t, m, appUsers(), nil, n.ID)

	uid, gid := procIDs(t, n.PID)
	if os.Geteuid() == 0 {
		if uid == 0 {
			t.Errorf("node runs as root")
		}
		// The node's user cannot read keyward's secrets.
		for _, f := range []string{"admin.secret", "tls/ca.key"} {
			cmd := exec.Command("cat", filepath.Join(dir, f))
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
			if out, err := cmd.Output(); err == nil {
				t.Errorf("the node user reads %s (%d bytes)", f, len(out))
			}
		}
	} else if uid != os.Geteuid() {
		t.Errorf("node uid %d, want keyward's %d", uid, os.Geteuid())
	}
	if err := client(t, n.Addr, "alice", alicePW, m.TLSConfig()).Ping(t.Context()).Err(); err != nil {
		t.Errorf("TLS client as alice: %v", err)
	}

	b, _ := os.ReadFile(m.CAFile())
	blk, _ := pem.Decode(b)
	ca, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.PermittedDNSDomainsCritical || len(ca.PermittedDNSDomains) != 1 || ca.PermittedDNSDomains[0] != "localhost" ||
		len(ca.PermittedIPRanges) != 1 || ca.PermittedIPRanges[0].String() != "127.0.0.0/8" {
		t.Errorf("CA name constraints: DNS %v (critical %v), IP %v", ca.PermittedDNSDomains, ca.PermittedDNSDomainsCritical, ca.PermittedIPRanges)
	}
}

// procIDs returns the effective uid and gid of pid.
func procIDs(t *testing.T, pid int) (uid, gid int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	uid, gid = -1, -1
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, _ = strconv.Atoi(strings.Fields(rest)[1])
		}
		if rest, ok := strings.CutPrefix(line, "Gid:"); ok {
			gid, _ = strconv.Atoi(strings.Fields(rest)[1])
		}
	}
	if uid < 0 || gid < 0 {
		t.Fatal("no Uid/Gid in status")
	}
	return uid, gid
}

// Upgrade guard for F18 (passes on 47fcae1 too): a data directory whose CA an older keyward created without
// name constraints keeps it (clients trust that ca.pem), and its TLS nodes
// keep working.
func TestCA_ExistingUnconstrainedCAKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyward node CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	os.WriteFile(filepath.Join(dir, "tls", "ca.pem"), caPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "tls", "ca.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)

	m := newManager(t, dir, nil)
	n := ensure(t, m, engine.NodeSpec{ID: "n-001", Engine: "redis", TLS: true})
	applyAll(t, m, appUsers(), nil, n.ID)
	if b, _ := os.ReadFile(m.CAFile()); !bytes.Equal(b, caPEM) {
		t.Error("the existing CA certificate was replaced")
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	if err := client(t, n.Addr, "alice", alicePW, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).Ping(t.Context()).Err(); err != nil {
		t.Errorf("TLS node under the existing CA: %v", err)
	}
}
