package fronts_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"keyward"
	"keyward/engine"
	"keyward/front"
	"keyward/fronts"
	"keyward/iamauth"
	"keyward/internal/redistest"
	"keyward/sigv4"
)

// TestMain lets the test binary stand in for "keyward front <dir>".
func TestMain(m *testing.M) {
	if dir := os.Getenv("KEYWARD_TEST_FRONT"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := fronts.Run(ctx, dir, os.Stdin, slog.Default()); err != nil {
			slog.Error("front", "err", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	redis.SetLogger(quiet{})
	os.Exit(m.Run())
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

var (
	cred = sigv4.Credential{AccessKeyID: "AKIAKEYWARDFRONTS001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "123456789012"}
	res  = iamauth.Resource{Name: "orders", AccountID: cred.AccountID, Region: "us-east-1"}
)

const nodeID = "123456789012.us-east-1.orders-001"

func newManager(t *testing.T, dir string, eng *engine.Manager) *fronts.Manager {
	return newManagerCreds(t, dir, eng, []sigv4.Credential{cred})
}

func newManagerCreds(t *testing.T, dir string, eng *engine.Manager, creds []sigv4.Credential) *fronts.Manager {
	m := &fronts.Manager{
		DataDir: dir, Credentials: creds, CAFile: eng.CAFile(), CertFiles: eng.NodeCertFiles,
		Command: func(d string) *exec.Cmd {
			c := exec.Command(os.Args[0], "-test.run=^$", d)
			c.Env = append(os.Environ(), "KEYWARD_TEST_FRONT="+d)
			return c
		},
	}
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m
}

func iamPing(ctx context.Context, port int, eng *engine.Manager) error {
	return iamPingAs(ctx, port, eng, cred)
}

func iamPingAs(ctx context.Context, port int, eng *engine.Manager, cred sigv4.Credential) error {
	c := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:" + strconv.Itoa(port), TLSConfig: eng.TLSConfig(), Protocol: 3, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		CredentialsProviderContext: func(ctx context.Context) (string, string, error) {
			tok, err := iamauth.Presign(ctx, aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}, res, "alice", 15*time.Minute, time.Now())
			return "alice", tok, err
		},
	})
	defer c.Close()
	who, err := c.Do(ctx, "ACL", "WHOAMI").Text()
	if err == nil && who != "alice" {
		err = os.ErrInvalid
	}
	return err
}

// TestProcessFrontsOutliveTheManager: a front process keeps serving after
// Close, is adopted by the next Open, is restarted when killed, and ends
// with Stop.
// processFront runs a TLS node with user alice and its front as a process,
// which the test's end stops.
func processFront(t *testing.T) (dir string, eng *engine.Manager, m *fronts.Manager, spec fronts.Spec, port int) {
	dir = t.TempDir()
	eng = &engine.Manager{DataDir: dir, RedisServer: redistest.Binary(t)}
	if err := eng.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	n, err := eng.Ensure(t.Context(), engine.NodeSpec{ID: nodeID, Engine: "redis", TLS: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Stop(context.Background(), nodeID); eng.Close() })

	m = newManager(t, dir, eng)
	cacheID := "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:orders"
	as, _ := keyward.ParseAccessString("on ~* +@all")
	alice := engine.ACLUser{Name: "alice", Rules: append([]string{"#" + front.SecretHash(m.Key(), cacheID, "alice")}, as.Rules()...)}
	if _, err := eng.ApplyACL(t.Context(), nodeID, []engine.ACLUser{alice}, nil); err != nil {
		t.Fatal(err)
	}
	spec = fronts.Spec{ID: nodeID, Backend: "unix:" + n.Socket, BackendProcess: n.ConfFile, Resource: res, CacheID: cacheID}
	if port, err = m.Ensure(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	pid := readPid(t, filepath.Join(dir, "fronts", nodeID, "front.pid"))
	t.Cleanup(func() { // if the test failed before stopping it
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); strings.Contains(string(b), dir) {
			syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	if err := iamPing(t.Context(), port, eng); err != nil {
		t.Fatalf("IAM login through the front process: %v", err)
	}
	return dir, eng, m, spec, port
}

func readPid(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestProcessFrontsOutliveTheManager(t *testing.T) {
	dir, eng, m, spec, port := processFront(t)
	t.Cleanup(func() { m.Stop(context.Background(), nodeID) })
	pidFile := filepath.Join(dir, "fronts", nodeID, "front.pid")
	pid1, _ := os.ReadFile(pidFile)
	// The SigV4 secret is in no file of the fronts.
	filepath.Walk(filepath.Join(dir, "fronts"), func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), cred.SecretAccessKey) {
				t.Errorf("%s holds the SigV4 secret", p)
			}
		}
		return nil
	})

	// keyward stops: the front keeps serving.
	m.Close()
	if err := iamPing(t.Context(), port, eng); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	// The next keyward adopts it: same process, same port.
	m = newManager(t, dir, eng)
	if p, err := m.Ensure(t.Context(), spec); err != nil || p != port {
		t.Fatalf("Ensure after adoption: %d %v, want %d", p, err, port)
	}
	if pid2, _ := os.ReadFile(pidFile); string(pid2) != string(pid1) {
		t.Errorf("front restarted on adoption: pid %s, then %s", pid1, pid2)
	}
	// Other credentials: the next keyward restarts the front with them.
	m.Close()
	cred2 := sigv4.Credential{AccessKeyID: "AKIAKEYWARDFRONTS002", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", AccountID: cred.AccountID}
	m = newManagerCreds(t, dir, eng, []sigv4.Credential{cred2})
	if p, err := m.Ensure(t.Context(), spec); err != nil || p != port {
		t.Fatalf("Ensure with new credentials: %d %v, want %d", p, err, port)
	}
	pidNew, _ := os.ReadFile(pidFile)
	if string(pidNew) == string(pid1) {
		t.Error("front kept running with the old credentials")
	}
	if err := iamPingAs(t.Context(), port, eng, cred); err == nil {
		t.Error("token of a removed key accepted")
	}
	if err := iamPingAs(t.Context(), port, eng, cred2); err != nil {
		t.Errorf("token of the new key: %v", err)
	}
	pid1 = pidNew
	// Killed, it comes back on the same port.
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pid1)))
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for {
		pid3, _ := os.ReadFile(pidFile)
		if string(pid3) != string(pid1) && iamPingAs(t.Context(), port, eng, cred2) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("killed front not restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer m.Close()
	// Stop ends it and removes its directory.
	if err := m.Stop(t.Context(), nodeID); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		c.Close()
		t.Error("front still listening after Stop")
	}
	if _, err := os.Stat(filepath.Dir(pidFile)); !os.IsNotExist(err) {
		t.Errorf("front directory left: %v", err)
	}
	// Reserve fixes a new front's port before it runs (here the one the
	// stopped front left free, as a front taking over its node's port).
	if p, err := m.Reserve(nodeID, port); err != nil || p != port {
		t.Fatalf("Reserve(%d) = %d, %v", port, p, err)
	}
	if p, err := m.Reserve(nodeID, 0); err != nil || p != port {
		t.Fatalf("Reserve again = %d, %v, want %d", p, err, port)
	}
	if p, err := m.Ensure(t.Context(), spec); err != nil || p != port {
		t.Fatalf("Ensure after Reserve = %d, %v, want %d", p, err, port)
	}
	if err := iamPingAs(t.Context(), port, eng, cred2); err != nil {
		t.Errorf("front on its reserved port: %v", err)
	}
}

// TestProcessFrontWithoutPidFile: a keyward killed after starting a front
// but before writing its pid leaves a front that no front.pid names. The
// next Open must find it by its command line and adopt it, so that Stop
// ends it (it used to start a second front, which could not bind the
// port, and Stop then left the first one running).
func TestProcessFrontWithoutPidFile(t *testing.T) {
	dir, eng, m, spec, port := processFront(t)
	pidFile := filepath.Join(dir, "fronts", nodeID, "front.pid")
	pid := readPid(t, pidFile)
	m.Close()
	if err := os.Remove(pidFile); err != nil {
		t.Fatal(err)
	}
	m = newManager(t, dir, eng)
	defer m.Close()
	if p, err := m.Ensure(t.Context(), spec); err != nil || p != port {
		t.Fatalf("Ensure after Open: %d %v, want %d", p, err, port)
	}
	if got := readPid(t, pidFile); got != pid {
		t.Errorf("front.pid %d, want the running front %d", got, pid)
	}
	if err := iamPing(t.Context(), port, eng); err != nil {
		t.Fatalf("IAM login through the adopted front: %v", err)
	}
	if err := m.Stop(t.Context(), nodeID); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("front %d still runs after Stop", pid)
		}
	}
}
