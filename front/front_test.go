package front_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"keyward"
	"keyward/engine"
	"keyward/front"
	"keyward/iamauth"
	"keyward/internal/redistest"
	"keyward/sigv4"
)

func init() { redis.SetLogger(quiet{}) }

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var (
	cred    = sigv4.Credential{AccessKeyID: "AKIAKEYWARDFRONT0001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "123456789012"}
	other   = sigv4.Credential{AccessKeyID: "AKIAKEYWARDFRONT0002", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", AccountID: "210987654321"}
	res     = iamauth.Resource{Name: "orders", AccountID: cred.AccountID, Region: "us-east-1"}
	key     = []byte("0123456789abcdef0123456789abcdef")
	cacheID = "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:orders"
)

// rig is one TLS redis node with its front.
type rig struct {
	m      *engine.Manager
	node   *engine.Node
	front  *front.Server
	addr   string // the front's
	tls    *tls.Config
	nodeID string
}

func newRig(t *testing.T, age time.Duration) *rig {
	t.Helper()
	dir := t.TempDir()
	m := &engine.Manager{DataDir: dir, RedisServer: redistest.Binary(t)}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	id := "123456789012.us-east-1.orders-001"
	n, err := m.Ensure(t.Context(), engine.NodeSpec{ID: id, Engine: "redis", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop(context.Background(), id)
		m.Close()
	})
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "nodes", id, "tls", "server.pem"), filepath.Join(dir, "nodes", id, "tls", "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	f := &front.Server{
		TLS:            &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Backend:        "unix:" + n.Socket,
		BackendProcess: n.ConfFile,
		Resource:       res,
		Verifier:       &iamauth.Verifier{SigV4: sigv4.NewVerifier([]sigv4.Credential{cred, other})},
		Key:            key,
		CacheID:        cacheID,
		MaxIAMConnAge:  age,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.Serve(l)
	t.Cleanup(func() { f.Close() })
	r := &rig{m: m, node: n, front: f, addr: l.Addr().String(), tls: m.TLSConfig(), nodeID: id}
	r.apply(t, nil, users()...)
	return r
}

func hash(pw string) string {
	s := sha256.Sum256([]byte(pw))
	return "#" + hex.EncodeToString(s[:])
}

// users: alice (IAM, keys app:*), bob (password, everything), default off.
func users() []engine.ACLUser {
	as := func(s string) []string {
		a, err := keyward.ParseAccessString(s)
		if err != nil {
			panic(err)
		}
		return a.Rules()
	}
	return []engine.ACLUser{
		{Name: "alice", Rules: append([]string{"#" + front.SecretHash(key, cacheID, "alice")}, as("on ~app:* +@all")...)},
		{Name: "bob", Rules: append([]string{hash("bob-password-1234")}, as("on ~* +@all")...)},
	}
}

func (r *rig) apply(t *testing.T, kill []string, us ...engine.ACLUser) {
	t.Helper()
	if _, err := r.m.ApplyACL(t.Context(), r.nodeID, us, kill); err != nil {
		t.Fatal(err)
	}
}

func token(t *testing.T, c sigv4.Credential, rs iamauth.Resource, user string, at time.Time) string {
	t.Helper()
	tok, err := iamauth.Presign(context.Background(), aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}, rs, user, 15*time.Minute, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// iamClient logs in as user with a fresh token per connection, as
// ElastiCache's samples do with a credentials provider.
func (r *rig) iamClient(t *testing.T, user string, protocol int) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: r.addr, TLSConfig: r.tls, Protocol: protocol, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		CredentialsProviderContext: func(ctx context.Context) (string, string, error) {
			tok, err := iamauth.Presign(ctx, aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}, res, user, 15*time.Minute, time.Now())
			return user, tok, err
		},
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func (r *rig) client(t *testing.T, addr, user, pass string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: addr, TLSConfig: r.tls, Username: user, Password: pass, Protocol: 2, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	t.Cleanup(func() { c.Close() })
	return c
}

func isWrongPass(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "WRONGPASS") }
func isNoPerm(err error) bool    { return err != nil && strings.HasPrefix(err.Error(), "NOPERM") }

func TestIAMLoginAppliesAccessString(t *testing.T) {
	r := newRig(t, 0)
	ctx := t.Context()
	for _, proto := range []int{2, 3} { // AUTH, and HELLO 3 AUTH
		c := r.iamClient(t, "alice", proto)
		if who, err := c.Do(ctx, "ACL", "WHOAMI").Result(); err != nil || who != "alice" {
			t.Fatalf("protocol %d: ACL WHOAMI: %v %v, want alice", proto, who, err)
		}
		if err := c.Do(ctx, "ACL", "SETUSER", "alice", "~*").Err(); !isNoPerm(err) {
			t.Errorf("protocol %d: ACL SETUSER: %v, want NOPERM (tenant denials)", proto, err)
		}
		if err := c.Set(ctx, "app:k", "v", 0).Err(); err != nil {
			t.Fatalf("protocol %d: SET app:k: %v", proto, err)
		}
		if err := c.Set(ctx, "secret:k", "v", 0).Err(); !isNoPerm(err) {
			t.Errorf("protocol %d: SET outside the access string: %v, want NOPERM", proto, err)
		}
		list, err := r.client(t, r.node.Addr, "bob", "bob-password-1234").ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(list, "user=alice") {
			t.Errorf("node has no connection of alice:\n%s", list)
		}
	}
}

func TestBadTokensGetWrongPass(t *testing.T) {
	r := newRig(t, 0)
	ctx := t.Context()
	now := time.Now()
	cases := map[string]struct{ user, pass string }{
		"expired":          {"alice", token(t, cred, res, "alice", now.Add(-16*time.Minute))},
		"other user":       {"alice", token(t, cred, res, "carol", now)},
		"other cache":      {"alice", token(t, cred, iamauth.Resource{Name: "payments", Region: res.Region}, "alice", now)},
		"other account":    {"alice", token(t, other, res, "alice", now)},
		"unknown key":      {"alice", token(t, sigv4.Credential{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "x"}, res, "alice", now)},
		"tampered":         {"alice", strings.Replace(token(t, cred, res, "alice", now), "X-Amz-Signature=", "X-Amz-Signature=0", 1)},
		"password user":    {"bob", token(t, cred, res, "bob", now)},
		"plain password":   {"alice", "not-a-token"},
		"secret hash sent": {"alice", front.SecretHash(key, cacheID, "alice")},
	}
	for name, c := range cases {
		err := r.client(t, r.addr, c.user, c.pass).Ping(ctx).Err()
		if !isWrongPass(err) {
			t.Errorf("%s: %v, want WRONGPASS", name, err)
		}
	}
}

func TestPasswordUsersPassThrough(t *testing.T) {
	r := newRig(t, 0)
	ctx := t.Context()
	c := r.client(t, r.addr, "bob", "bob-password-1234")
	if err := c.Set(ctx, "secret:k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Do(ctx, "ACL", "WHOAMI").Result(); err != nil || got != "bob" {
		t.Errorf("ACL WHOAMI: %v %v, want bob", got, err)
	}
	if err := r.client(t, r.addr, "bob", "wrong").Ping(ctx).Err(); !isWrongPass(err) {
		t.Errorf("wrong password: %v, want WRONGPASS", err)
	}
	// Default is off: an unauthenticated client is refused by the node.
	if err := r.client(t, r.addr, "", "").Set(ctx, "k", "v", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Errorf("unauthenticated SET: %v, want NOAUTH", err)
	}
	// Pipelines with values larger than the front's buffers arrive intact.
	big := strings.Repeat("x", 200<<10)
	pipe := c.Pipeline()
	for i := range 50 {
		pipe.Set(ctx, "big:"+string(rune('a'+i%26)), big[:1+i*4000], 0)
		pipe.Get(ctx, "big:"+string(rune('a'+i%26)))
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(cmds); i += 2 {
		if got := cmds[i+1].(*redis.StringCmd).Val(); got != big[:1+(i/2)*4000] {
			t.Fatalf("GET %d: %d bytes back, want %d", i/2, len(got), 1+(i/2)*4000)
		}
	}
}

func TestRevocationClosesIAMConnections(t *testing.T) {
	r := newRig(t, 0)
	ctx := t.Context()
	c := r.iamClient(t, "alice", 2)
	if err := c.Set(ctx, "app:k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A kill (as on ModifyUser or a default swap) closes the connection...
	alice := users()[0]
	alice.Rules = append(alice.Rules, "-flushall")
	r.apply(t, []string{"alice"}, alice, users()[1])
	if err := c.Get(ctx, "app:k").Err(); err == nil {
		t.Error("connection survived CLIENT KILL USER alice")
	}
	// ...and a new login works again, with the new rules.
	c2 := r.iamClient(t, "alice", 3)
	if err := c2.Get(ctx, "app:k").Err(); err != nil {
		t.Fatalf("re-login: %v", err)
	}
	// Removing the user closes its connections, and logins fail.
	r.apply(t, nil, users()[1])
	if err := c2.Get(ctx, "app:k").Err(); err == nil {
		t.Error("connection survived the deletion of alice")
	}
	if err := r.iamClient(t, "alice", 2).Ping(ctx).Err(); !isWrongPass(err) {
		t.Errorf("login of a deleted user: %v, want WRONGPASS", err)
	}
}

func TestInlineAuthAndAgeLimit(t *testing.T) {
	r := newRig(t, 500*time.Millisecond)
	conn, err := tls.Dial("tcp", r.addr, r.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	send := func(line string) string {
		if _, err := conn.Write([]byte(line + "\r\n")); err != nil {
			t.Fatal(err)
		}
		reply, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%q: %v", strings.Fields(line)[0], err)
		}
		return strings.TrimSpace(reply)
	}
	if got := send("AUTH alice " + token(t, cred, res, "alice", time.Now())); got != "+OK" {
		t.Fatalf("inline AUTH: %q", got)
	}
	if got := send("SET app:inline 1"); got != "+OK" {
		t.Fatalf("inline SET: %q", got)
	}
	// AUTH as a RESP array, pipelined with the commands around it: replies
	// stay in order, and a bad token gets the node's WRONGPASS.
	arr := func(args ...string) string {
		s := "*" + strconv.Itoa(len(args)) + "\r\n"
		for _, a := range args {
			s += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
		}
		return s
	}
	pipeline := arr("GET", "app:inline") + arr("AUTH", "alice", token(t, cred, res, "bob", time.Now())) +
		arr("AUTH", "alice", token(t, cred, res, "alice", time.Now())) + arr("ACL", "WHOAMI")
	if _, err := conn.Write([]byte(pipeline)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"$1", "1", "-WRONGPASS", "+OK", "$5", "alice"} {
		got, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(got, want) {
			t.Fatalf("pipelined reply %q (%v), want %q...", got, err, want)
		}
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = br.ReadString('\n')
	if err == nil || errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 4*time.Second {
		t.Fatalf("IAM connection not closed at its age limit: %v after %v", err, time.Since(start))
	}
	// A password login is not subject to the limit.
	pc := r.client(t, r.addr, "bob", "bob-password-1234")
	pc.Ping(t.Context())
	time.Sleep(800 * time.Millisecond)
	if err := pc.Ping(t.Context()).Err(); err != nil {
		t.Errorf("password connection closed: %v", err)
	}
}

// TestUnixBackend: a front can reach its node over the node's private Unix
// socket (no TLS on that hop); logins and relaying work the same.
func TestUnixBackend(t *testing.T) {
	r := newRig(t, 0)
	dir := t.TempDir()
	sock := filepath.Join(dir, strings.Repeat("s", 120-len(dir)), "redis.sock") // longer than sockaddr_un
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	// A second server, on a socket only (redis-server cannot bind a path
	// this long itself: it starts in the socket's directory).
	cmd := exec.Command(redistest.Binary(t), "--port", "0", "--unixsocket", "redis.sock", "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", filepath.Dir(sock))
	cmd.Dir = filepath.Dir(sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	f := &front.Server{TLS: r.front.TLS, Backend: "unix:" + sock, Resource: res, Key: key, CacheID: cacheID,
		Verifier: r.front.Verifier}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.Serve(l)
	t.Cleanup(func() { f.Close() })
	var c *redis.Client
	deadline := time.Now().Add(5 * time.Second)
	for {
		c = r.client(t, l.Addr().String(), "", "")
		if err := c.Ping(t.Context()).Err(); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("front over a Unix socket: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// default is open on this plain server; an IAM user set up by hand logs in.
	if err := c.Do(t.Context(), "ACL", "SETUSER", "alice", "on", "#"+front.SecretHash(key, cacheID, "alice"), "~app:*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	r.addr = l.Addr().String()
	ic := r.iamClient(t, "alice", 3)
	if err := ic.Set(t.Context(), "app:u", "1", 0).Err(); err != nil {
		t.Fatalf("IAM login over the socket: %v", err)
	}
	if err := ic.Set(t.Context(), "x", "1", 0).Err(); !isNoPerm(err) {
		t.Errorf("SET outside the access string: %v, want NOPERM", err)
	}
}

// TestTLSBackend: a front reaches a node that has no socket yet (one of an
// older keyward) over TLS, verified against keyward's CA.
func TestTLSBackend(t *testing.T) {
	r := newRig(t, 0)
	f := &front.Server{TLS: r.front.TLS, Backend: r.node.Addr, BackendTLS: r.m.TLSConfig(), Resource: res, Key: key, CacheID: cacheID,
		Verifier: r.front.Verifier}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.Serve(l)
	t.Cleanup(func() { f.Close() })
	r.addr = l.Addr().String()
	c := r.iamClient(t, "alice", 3)
	if err := c.Set(t.Context(), "app:tls", "1", 0).Err(); err != nil {
		t.Fatalf("IAM login over TLS to the node: %v", err)
	}
	if err := c.Set(t.Context(), "x", "1", 0).Err(); !isNoPerm(err) {
		t.Errorf("SET outside the access string: %v, want NOPERM", err)
	}
}

// TestSocketServedByAnotherProcess: a front whose node socket is served by
// a process that is not the node's server sends it nothing.
func TestSocketServedByAnotherProcess(t *testing.T) {
	r := newRig(t, 0)
	sock := filepath.Join(t.TempDir(), "impostor.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		b := make([]byte, 4096)
		n, _ := c.Read(b)
		got <- b[:n]
	}()
	f := &front.Server{TLS: r.front.TLS, Backend: "unix:" + sock, BackendProcess: r.node.ConfFile, Resource: res, Key: key, CacheID: cacheID,
		Verifier: r.front.Verifier}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.Serve(fl)
	t.Cleanup(func() { f.Close() })
	conn, err := tls.Dial("tcp", fl.Addr().String(), r.tls)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if line, err := bufio.NewReader(conn).ReadString('\n'); !strings.HasPrefix(line, "-ERR node unavailable") {
		t.Fatalf("front with a socket served by another process answered %q (%v), want -ERR node unavailable", line, err)
	}
	select {
	case b := <-got:
		if len(b) > 0 {
			t.Fatalf("the impostor received %q", b)
		}
	case <-time.After(4 * time.Second):
	}
}

// TestPlaintextServesBothOnOnePort: a front with Plaintext (ElastiCache's
// TransitEncryptionMode preferred) serves TLS and plain-text clients on
// one port, IAM logins included; a front without it (mode required)
// refuses plain text.
func TestPlaintextServesBothOnOnePort(t *testing.T) {
	r := newRig(t, 0)
	tlsOnly := r.addr
	f := &front.Server{TLS: r.front.TLS, Backend: r.front.Backend, BackendProcess: r.front.BackendProcess,
		Resource: res, Key: key, CacheID: cacheID, Verifier: r.front.Verifier, Plaintext: true}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.Serve(l)
	t.Cleanup(func() { f.Close() })
	both := l.Addr().String()
	if err := r.client(t, both, "bob", "bob-password-1234").Set(t.Context(), "k", "over-tls", 0).Err(); err != nil {
		t.Fatalf("TLS client on a preferred front: %v", err)
	}
	plain := func(addr string) *redis.Client {
		c := redis.NewClient(&redis.Options{
			Addr: addr, Username: "bob", Password: "bob-password-1234", Protocol: 2, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		t.Cleanup(func() { c.Close() })
		return c
	}
	if got, err := plain(both).Get(t.Context(), "k").Result(); err != nil || got != "over-tls" {
		t.Fatalf("plain-text client on a preferred front: %q, %v", got, err)
	}
	// An IAM login in plain text: the front reads AUTH the same way.
	r.addr = both
	ic := r.iamClient(t, "alice", 2)
	ic.Options().TLSConfig = nil
	if err := ic.Set(t.Context(), "app:plain", "1", 0).Err(); err != nil {
		t.Fatalf("IAM login in plain text: %v", err)
	}
	if err := plain(tlsOnly).Ping(t.Context()).Err(); err == nil {
		t.Fatal("plain-text client served by a TLS-only front")
	}
}
