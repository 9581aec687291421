package engine_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"keyward/engine"
)

var (
	alicePW = "alice-password-0123456789"
	bobPW   = "bob-password-0123456789"
)

// appUsers: alice may do anything on app:* keys; bob may only read.
func appUsers() []engine.ACLUser {
	return []engine.ACLUser{
		{Name: "alice", Rules: []string{"on", hash(alicePW), "allchannels", "~app:*", "+@all"}},
		{Name: "bob", Rules: []string{"on", hash(bobPW), "allchannels", "~*", "-@all", "+@read"}},
	}
}

func TestManager_ReplicationAndAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	ctx := t.Context()

	p := ensure(t, m, engine.NodeSpec{ID: "acct.us-east-1.rg1-001", Engine: "redis"})
	r1 := ensure(t, m, engine.NodeSpec{ID: "acct.us-east-1.rg1-002", Engine: "redis", ReplicaOf: p.ID})
	r2 := ensure(t, m, engine.NodeSpec{ID: "acct.us-east-1.rg1-003", Engine: "redis", ReplicaOf: p.ID})
	if p.Role != engine.RolePrimary || r1.Role != engine.RoleReplica || r1.ReplicaOf != p.ID {
		t.Errorf("roles: %+v %+v", p, r1)
	}
	if p.PID == 0 || p.Addr != "127.0.0.1:"+strconv.Itoa(p.Port) {
		t.Errorf("primary node: %+v", p)
	}

	// Ensure is idempotent.
	again := ensure(t, m, engine.NodeSpec{ID: r1.ID, Engine: "redis", ReplicaOf: p.ID})
	if *again != *r1 {
		t.Errorf("second Ensure: got %+v, want %+v", again, r1)
	}
	if got := len(m.Nodes()); got != 3 {
		t.Errorf("Nodes: %d, want 3", got)
	}

	// A new node is closed: default is off.
	if err := client(t, p.Addr, "", "", nil).Ping(ctx).Err(); err == nil {
		t.Error("default user can connect to a new node")
	}

	ids := []string{p.ID, r1.ID, r2.ID}
	start := time.Now()
	applyAll(t, m, appUsers(), nil, ids...)
	t.Logf("ApplyACL x3 (2 users, first apply): %v", time.Since(start))

	for _, nd := range []*engine.Node{p, r1, r2} {
		if err := client(t, nd.Addr, "alice", alicePW, nil).Ping(ctx).Err(); err != nil {
			t.Errorf("%s: alice AUTH: %v", nd.ID, err)
		}
		err := client(t, nd.Addr, "alice", "wrong-password-0123456789", nil).Ping(ctx).Err()
		if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("%s: alice with a wrong password: %v, want WRONGPASS", nd.ID, err)
		}
		if err := client(t, nd.Addr, "default", "", nil).Ping(ctx).Err(); err == nil {
			t.Errorf("%s: default user can connect", nd.ID)
		}
	}

	alice := client(t, p.Addr, "alice", alicePW, nil)
	if err := alice.Set(ctx, "app:k", "v1", 0).Err(); err != nil {
		t.Fatalf("alice SET app:k: %v", err)
	}
	if err := alice.Set(ctx, "other:k", "v", 0).Err(); !isNoPerm(err) {
		t.Errorf("alice SET other:k: %v, want NOPERM", err)
	}
	bob := client(t, p.Addr, "bob", bobPW, nil)
	if got, err := bob.Get(ctx, "app:k").Result(); err != nil || got != "v1" {
		t.Errorf("bob GET app:k = %q, %v", got, err)
	}
	if err := bob.Set(ctx, "app:k", "x", 0).Err(); !isNoPerm(err) {
		t.Errorf("bob SET: %v, want NOPERM", err)
	}

	// Replication: the write shows on both replicas (read as alice).
	for _, r := range []*engine.Node{r1, r2} {
		c := client(t, r.Addr, "alice", alicePW, nil)
		eventually(t, 10*time.Second, func() error {
			v, err := c.Get(ctx, "app:k").Result()
			if err != nil {
				return err
			}
			if v != "v1" {
				return errors.New("value " + v)
			}
			return nil
		})
		if err := c.Set(ctx, "app:k2", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
			t.Errorf("%s: SET on replica: %v, want READONLY", r.ID, err)
		}
	}

	// ReplicaOf changes at runtime: promote r2.
	r2b := ensure(t, m, engine.NodeSpec{ID: r2.ID, Engine: "redis"})
	if r2b.PID != r2.PID || r2b.Role != engine.RolePrimary {
		t.Errorf("promoted r2: %+v (before %+v)", r2b, r2)
	}
	if err := client(t, r2.Addr, "alice", alicePW, nil).Set(ctx, "app:k3", "x", 0).Err(); err != nil {
		t.Errorf("SET on promoted replica: %v", err)
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "nodes", r2.ID, "server.conf"))
	if strings.Contains(string(conf), "\nreplicaof ") {
		t.Errorf("promoted node's config still has replicaof:\n%s", conf)
	}
}

func TestManager_StopIsIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	n := ensure(t, m, engine.NodeSpec{ID: "n1", Engine: "redis"})
	start := time.Now()
	if err := m.Stop(t.Context(), n.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("Stop: %v", time.Since(start))
	if processAlive(n.PID) {
		t.Error("process still running after Stop")
	}
	if _, err := os.Stat(filepath.Join(dir, "nodes", n.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node dir after Stop: %v", err)
	}
	if _, ok := m.Node(n.ID); ok {
		t.Error("Node() still knows the stopped node")
	}
	if err := m.Stop(t.Context(), n.ID); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := m.Stop(t.Context(), "never-existed"); err != nil {
		t.Errorf("Stop(unknown): %v", err)
	}
	if err := m.Stop(t.Context(), "../escape"); err == nil {
		t.Error("Stop(../escape) accepted")
	}
	// The ID can be ensured again afterwards, as a new node.
	n2 := ensure(t, m, engine.NodeSpec{ID: "n1", Engine: "redis"})
	if n2.PID == n.PID || n2.PID == 0 {
		t.Errorf("re-created node: %+v", n2)
	}
}

func TestManager_SupervisionRestartsKilledNode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	restarts, onRestart := restartRecorder()
	m := newManager(t, dir, onRestart)
	ctx := t.Context()
	n := ensure(t, m, engine.NodeSpec{ID: "n1", Engine: "redis"})
	applyAll(t, m, appUsers(), nil, n.ID)
	if err := client(t, n.Addr, "alice", alicePW, nil).Set(ctx, "app:data", "kept", 0).Err(); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitRestart(t, restarts, n.ID)
	t.Logf("kill -9 to restarted: %v", time.Since(killed))

	after, ok := m.Node(n.ID)
	if !ok || after.Port != n.Port || after.PID == n.PID || after.PID == 0 {
		t.Fatalf("after restart: %+v (before %+v)", after, n)
	}
	alice := client(t, after.Addr, "alice", alicePW, nil)
	if v, err := alice.Get(ctx, "app:data").Result(); err != nil || v != "kept" {
		t.Errorf("after restart: GET app:data = %q, %v (want the data and alice's ACL back)", v, err)
	}
	if err := client(t, after.Addr, "default", "", nil).Ping(ctx).Err(); err == nil {
		t.Error("after restart: default user can connect")
	}
	// Nothing to re-apply: the node came back with the saved ACL file.
	if changed, err := m.ApplyACL(ctx, n.ID, appUsers(), nil); err != nil || changed {
		t.Errorf("ApplyACL after restart: changed=%v, %v; want false, nil", changed, err)
	}
}

func TestManager_CloseLeavesNodesAndOpenAdopts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := t.Context()
	m1 := newManager(t, dir, nil)
	p := ensure(t, m1, engine.NodeSpec{ID: "p", Engine: "redis"})
	r := ensure(t, m1, engine.NodeSpec{ID: "r", Engine: "redis", ReplicaOf: "p"})
	applyAll(t, m1, appUsers(), nil, p.ID, r.ID)
	alive := client(t, p.Addr, "alice", alicePW, nil)
	if err := alive.Set(ctx, "app:x", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Ensure(ctx, engine.NodeSpec{ID: "q", Engine: "redis"}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Ensure after Close: %v, want ErrClosed", err)
	}
	if !processAlive(p.PID) || !processAlive(r.PID) {
		t.Fatal("Close stopped the nodes")
	}
	if err := alive.Ping(ctx).Err(); err != nil {
		t.Errorf("client connection after Close: %v", err)
	}

	restarts, onRestart := restartRecorder()
	start := time.Now()
	m2 := newManager(t, dir, onRestart)
	t.Logf("Open adopting 2 nodes: %v", time.Since(start))
	for _, want := range []*engine.Node{p, r} {
		got, ok := m2.Node(want.ID)
		if !ok || *got != *want {
			t.Errorf("adopted %s: %+v, want %+v", want.ID, got, want)
		}
	}
	lines, err := m2.ACLList(ctx, p.ID)
	if err != nil || !strings.Contains(strings.Join(lines, "\n"), "user alice on") {
		t.Errorf("ACLList after adoption: %q, %v", lines, err)
	}
	if changed, err := m2.ApplyACL(ctx, r.ID, appUsers(), nil); err != nil || changed {
		t.Errorf("ApplyACL after adoption: changed=%v, %v", changed, err)
	}
	select {
	case id := <-restarts:
		t.Errorf("OnRestart(%s) called for an adopted node", id)
	default:
	}

	// An adopted node (not our child: watched by polling) is supervised too.
	if err := syscall.Kill(r.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitRestart(t, restarts, r.ID)
	got, _ := m2.Node(r.ID)
	if got.Port != r.Port || got.PID == r.PID || got.PID == 0 {
		t.Errorf("restarted adopted node: %+v (before %+v)", got, r)
	}
	rc := client(t, got.Addr, "alice", alicePW, nil)
	eventually(t, 10*time.Second, func() error { return rc.Get(ctx, "app:x").Err() })
}

func TestManager_OpenRestartsDeadNodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m1 := newManager(t, dir, nil)
	n := ensure(t, m1, engine.NodeSpec{ID: "n", Engine: "redis"})
	applyAll(t, m1, appUsers(), nil, n.ID)
	m1.Close()
	syscall.Kill(n.PID, syscall.SIGKILL)
	eventually(t, 5*time.Second, func() error {
		if processAlive(n.PID) {
			return errors.New("still alive")
		}
		return nil
	})

	restarts, onRestart := restartRecorder()
	m2 := newManager(t, dir, onRestart)
	got, ok := m2.Node(n.ID)
	if !ok || got.Port != n.Port || got.PID == 0 || got.PID == n.PID {
		t.Fatalf("after Open: %+v (before %+v)", got, n)
	}
	waitRestart(t, restarts, n.ID)
	// A new Manager does not know the desired users: the node starts
	// closed (whatever it held: a revoked user stays out) until they are
	// applied again, as OnRestart asks.
	if err := client(t, got.Addr, "alice", alicePW, nil).Ping(t.Context()).Err(); err == nil {
		t.Errorf("alice admitted by a node restarted by Open before any ApplyACL")
	}
	applyAll(t, m2, appUsers(), nil, n.ID)
	if err := client(t, got.Addr, "alice", alicePW, nil).Ping(t.Context()).Err(); err != nil {
		t.Errorf("alice after restart by Open and ApplyACL: %v", err)
	}
}

func TestManager_TLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	ctx := t.Context()
	p := ensure(t, m, engine.NodeSpec{ID: "tp", Engine: "redis", TLS: true})
	r := ensure(t, m, engine.NodeSpec{ID: "tr", Engine: "redis", TLS: true, ReplicaOf: "tp"})
	if !p.TLS {
		t.Errorf("node: %+v", p)
	}
	if m.CAFile() != filepath.Join(dir, "tls", "ca.pem") {
		t.Errorf("CAFile = %q", m.CAFile())
	}
	applyAll(t, m, appUsers(), nil, p.ID, r.ID)

	c := client(t, p.Addr, "alice", alicePW, m.TLSConfig())
	if err := c.Set(ctx, "app:tls", "yes", 0).Err(); err != nil {
		t.Fatalf("TLS client verified against the CA: %v", err)
	}
	// Replication over TLS.
	rc := client(t, r.Addr, "alice", alicePW, m.TLSConfig())
	eventually(t, 10*time.Second, func() error { return rc.Get(ctx, "app:tls").Err() })

	// Without the CA the certificate does not verify; plaintext is refused.
	if err := client(t, p.Addr, "alice", alicePW, &tls.Config{}).Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("TLS without the CA: %v, want a certificate error", err)
	}
	if err := client(t, p.Addr, "alice", alicePW, nil).Ping(ctx).Err(); err == nil {
		t.Error("plaintext connection to a TLS node worked")
	}
	// The CA is kept across Opens.
	ca1, _ := os.ReadFile(m.CAFile())
	m.Close()
	m2 := newManager(t, dir, nil)
	ca2, _ := os.ReadFile(m2.CAFile())
	if string(ca1) != string(ca2) {
		t.Error("CA changed across Open")
	}
	if got, ok := m2.Node(p.ID); !ok || got.PID != p.PID {
		t.Errorf("TLS node not adopted: %+v", got)
	}
}

func TestManager_SpecChangeRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	restarts, onRestart := restartRecorder()
	m := newManager(t, dir, onRestart)
	ctx := t.Context()
	n := ensure(t, m, engine.NodeSpec{ID: "n", Engine: "redis"})
	applyAll(t, m, appUsers(), nil, n.ID)
	if err := client(t, n.Addr, "alice", alicePW, nil).Set(ctx, "app:k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	tn := ensure(t, m, engine.NodeSpec{ID: "n", Engine: "redis", TLS: true})
	if tn.Port != n.Port || tn.PID == n.PID || !tn.TLS {
		t.Errorf("after TLS change: %+v (before %+v)", tn, n)
	}
	waitRestart(t, restarts, n.ID)
	c := client(t, tn.Addr, "alice", alicePW, m.TLSConfig())
	if v, err := c.Get(ctx, "app:k").Result(); err != nil || v != "v" {
		t.Errorf("data and ACL after TLS change: %q, %v", v, err)
	}
}

func TestManager_EngineNotFound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := &engine.Manager{DataDir: dir, RedisServer: filepath.Join(dir, "no", "redis-server"), Logger: testLogger(t)}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err := m.Ensure(t.Context(), engine.NodeSpec{ID: "n", Engine: "redis"})
	if !errors.Is(err, engine.ErrEngineNotFound) || !strings.Contains(err.Error(), "apt-get install redis-server") || !strings.Contains(err.Error(), "--redis-server") {
		t.Errorf("missing redis-server: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nodes", "n")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node dir created for a failed Ensure: %v", err)
	}
	if len(m.Nodes()) != 0 {
		t.Errorf("Nodes after a failed Ensure: %v", m.Nodes())
	}

	m2 := &engine.Manager{DataDir: t.TempDir(), RedisServer: "keyward-no-such-server", ValkeyServer: "keyward-no-such-valkey", Logger: testLogger(t)}
	if err := m2.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	_, err = m2.Ensure(t.Context(), engine.NodeSpec{ID: "n", Engine: "redis"})
	if !errors.Is(err, engine.ErrEngineNotFound) || !strings.Contains(err.Error(), "not found on PATH: install it") {
		t.Errorf("missing server on PATH: %v", err)
	}
	_, err = m2.Ensure(t.Context(), engine.NodeSpec{ID: "v", Engine: "valkey"})
	if !errors.Is(err, engine.ErrEngineNotFound) || !strings.Contains(err.Error(), "--valkey-server") {
		t.Errorf("missing valkey-server: %v", err)
	}
}

func TestNodeSpec_Validate(t *testing.T) {
	t.Parallel()
	for _, s := range []engine.NodeSpec{
		{ID: "", Engine: "redis"},
		{ID: "../x", Engine: "redis"},
		{ID: "a/b", Engine: "redis"},
		{ID: ".hidden", Engine: "redis"},
		{ID: "a b", Engine: "redis"},
		{ID: strings.Repeat("a", 201), Engine: "redis"},
		{ID: "n", Engine: "memcached"},
		{ID: "n", Engine: "redis", ReplicaOf: "n"},
		{ID: "n", Engine: "redis", ReplicaOf: "../p"},
	} {
		if err := s.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil", s)
		}
	}
	for _, s := range []engine.NodeSpec{
		{ID: "000000000000.us-east-1.rg1-001", Engine: "redis"},
		{ID: "n_1", Engine: "valkey", ReplicaOf: "p", TLS: true},
	} {
		if err := s.Validate(); err != nil {
			t.Errorf("Validate(%+v): %v", s, err)
		}
	}
}

func TestManager_ReplicaNeedsKnownPrimary(t *testing.T) {
	t.Parallel()
	m := newManager(t, t.TempDir(), nil)
	_, err := m.Ensure(t.Context(), engine.NodeSpec{ID: "r", Engine: "redis", ReplicaOf: "nope"})
	if !errors.Is(err, engine.ErrNodeNotFound) {
		t.Errorf("replica of an unknown primary: %v", err)
	}
	if len(m.Nodes()) != 0 {
		t.Errorf("Nodes: %v", m.Nodes())
	}
}

// fakeServer writes an executable shell script standing in for the server.
func fakeServer(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-redis-server")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestManager_TLSUnsupported(t *testing.T) {
	t.Parallel()
	// What a server built without TLS says about tls-port.
	bin := fakeServer(t, `echo "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***" >&2
echo ">>> 'tls-port \"0\"'" >&2
echo "Bad directive or wrong number of arguments" >&2
exit 1`)
	m := &engine.Manager{DataDir: t.TempDir(), RedisServer: bin, Logger: testLogger(t)}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err := m.Ensure(t.Context(), engine.NodeSpec{ID: "n", Engine: "redis", TLS: true})
	if !errors.Is(err, engine.ErrTLSUnsupported) {
		t.Errorf("Ensure(TLS) with a server without TLS: %v", err)
	}
}

func TestManager_StartFailureCleansUp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := &engine.Manager{DataDir: dir, RedisServer: fakeServer(t, `echo "boom: cannot start" >&2; exit 1`), Logger: testLogger(t)}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, err := m.Ensure(t.Context(), engine.NodeSpec{ID: "n", Engine: "redis"})
	if err == nil || !strings.Contains(err.Error(), "boom: cannot start") {
		t.Errorf("Ensure with a failing server: %v, want the server's output in the error", err)
	}
	if len(m.Nodes()) != 0 {
		t.Errorf("Nodes after a failed first start: %v", m.Nodes())
	}
	if _, err := os.Stat(filepath.Join(dir, "nodes", "n")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("node dir after a failed first start: %v", err)
	}
}

func TestManager_NodeFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	p := ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis"})
	ensure(t, m, engine.NodeSpec{ID: "r", Engine: "redis", ReplicaOf: p.ID})
	adminPW, err := engine.NodeAdminPassword(dir, "r")
	if err != nil {
		t.Fatal(err)
	}
	replPrimary := replPassword(t, dir, "r") // r's own ReplUser password
	for _, f := range []string{"admin.secret", "tls/ca.key", "nodes/r/server.conf", "nodes/r/users.acl", "nodes/r/node.json"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, fi.Mode(), err)
		}
	}
	acl, _ := os.ReadFile(filepath.Join(dir, "nodes", "r", "users.acl"))
	wantACL := "user keyward-admin reset on " + hash(adminPW) + " ~* &* +@all\n" +
		"user keyward-repl reset on " + hash(replPrimary) + " resetchannels -@all +psync +replconf +ping\n" +
		"user default reset off\n"
	if string(acl) != wantACL {
		t.Errorf("initial users.acl:\n%s\nwant\n%s", acl, wantACL)
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "nodes", "r", "server.conf"))
	for _, want := range []string{
		"\nbind 127.0.0.1\n", "\nport " + strconv.Itoa(mustNode(t, m, "r").Port) + "\n",
		"\nappendonly yes\n", "\nsave \"\"\n", "\ndaemonize no\n",
		"\nenable-debug-command no\n", "\nenable-module-command no\n", "\nacl-pubsub-default allchannels\n",
		"\nmasteruser keyward-repl\n", "\nmasterauth \"" + replPassword(t, dir, "p") + "\"\n",
		"\nunixsocket \"admin.sock\"\n", "\nunixsocketperm 700\n",
		"\nreplicaof 127.0.0.1 " + strconv.Itoa(p.Port) + "\n",
		"\naclfile \"" + filepath.Join(dir, "nodes", "r", "users.acl") + "\"\n",
	} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("server.conf lacks %q:\n%s", strings.TrimSpace(want), conf)
		}
	}
}

// replPassword derives node id's ReplUser password as the engine does.
func replPassword(t *testing.T, dir, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "admin.secret"))
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, []byte(strings.TrimSpace(string(b))))
	h.Write([]byte("repl\x00" + id))
	return hex.EncodeToString(h.Sum(nil))
}

func mustNode(t *testing.T, m *engine.Manager, id string) *engine.Node {
	t.Helper()
	n, ok := m.Node(id)
	if !ok {
		t.Fatalf("Node(%s) not found", id)
	}
	return n
}

// A node that does not answer as ours (here: the admin secret changed) is
// ended and restarted by Open, with the new admin user in its ACL file,
// closed until its users are applied again.
func TestManager_OpenReplacesUnanswerableNode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m1 := newManager(t, dir, nil)
	n := ensure(t, m1, engine.NodeSpec{ID: "n", Engine: "redis"})
	applyAll(t, m1, appUsers(), nil, n.ID)
	m1.Close()
	if err := os.WriteFile(filepath.Join(dir, "admin.secret"), []byte(strings.Repeat("s", 64)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m2 := newManager(t, dir, nil)
	got := mustNode(t, m2, n.ID)
	if got.PID == n.PID || got.PID == 0 || got.Port != n.Port {
		t.Fatalf("after Open: %+v (before %+v)", got, n)
	}
	if processAlive(n.PID) {
		t.Error("old process still running")
	}
	if changed, err := m2.ApplyACL(t.Context(), n.ID, appUsers(), nil); err != nil || !changed {
		t.Errorf("ApplyACL: %v, %v; want the users written again", changed, err)
	}
	pw, _ := engine.NodeAdminPassword(dir, n.ID)
	if err := client(t, got.Addr, engine.AdminUser, pw, nil).Ping(t.Context()).Err(); err != nil {
		t.Errorf("admin password from the new secret: %v", err)
	}
}
