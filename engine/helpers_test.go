package engine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"keyward/engine"
	"keyward/internal/redistest"
)

func init() { redis.SetLogger(quietLogger{}) }

// quietLogger drops go-redis's own log lines (dial failures the tests
// provoke on purpose).
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// newManager opens a Manager on dir with the test's redis-server. Cleanup
// stops every node it still knows, closes it, and finally kills any server
// process still running from dir.
func newManager(tb testing.TB, dir string, onRestart func(string)) *engine.Manager {
	tb.Helper()
	bin := redistest.Binary(tb)
	killStraysAtEnd(tb, dir)
	m := &engine.Manager{
		DataDir:     dir,
		RedisServer: bin,
		Logger:      testLogger(tb),
		OnRestart:   onRestart,
	}
	if err := m.Open(tb.Context()); err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		for _, n := range m.Nodes() {
			if err := m.Stop(context.Background(), n.ID); err != nil && !errors.Is(err, engine.ErrClosed) {
				tb.Errorf("cleanup: Stop(%s): %v", n.ID, err)
			}
		}
		m.Close()
	})
	return m
}

var strayOnce sync.Map // dir -> registered

// killStraysAtEnd registers (once per dir) a cleanup that SIGKILLs the
// process group of every process whose command line mentions dir.
func killStraysAtEnd(tb testing.TB, dir string) {
	if _, loaded := strayOnce.LoadOrStore(dir, true); loaded {
		return
	}
	tb.Cleanup(func() {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(b, []byte(dir)) {
				continue
			}
			pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if err != nil || pid == os.Getpid() {
				continue
			}
			tb.Logf("cleanup: killing stray process %d: %s", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
			syscall.Kill(-pid, syscall.SIGKILL)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// testLogger logs through t.Log until the test ends.
func testLogger(tb testing.TB) *slog.Logger {
	w := &tbWriter{tb: tb}
	tb.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tbWriter struct {
	mu   sync.Mutex
	tb   testing.TB
	done bool
}

func (w *tbWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// ensure calls m.Ensure and fails the test on error.
func ensure(tb testing.TB, m *engine.Manager, spec engine.NodeSpec) *engine.Node {
	tb.Helper()
	start := time.Now()
	n, err := m.Ensure(tb.Context(), spec)
	if err != nil {
		tb.Fatalf("Ensure(%+v): %v", spec, err)
	}
	tb.Logf("Ensure(%s): %v", spec.ID, time.Since(start).Round(time.Microsecond))
	return n
}

// client returns a go-redis client for one user, without retries (so a
// closed connection shows) and with a single connection.
func client(tb testing.TB, addr, user, pass string, tlsConf *tls.Config) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: addr, Username: user, Password: pass, TLSConfig: tlsConf,
		Protocol: 2, PoolSize: 1, MaxRetries: -1, DialerRetries: 1, DisableIdentity: true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	})
	tb.Cleanup(func() { c.Close() })
	return c
}

// adminClient returns a go-redis client authenticated as the admin user of
// node n (over TCP: tests may, keyward itself uses the node's socket).
func adminClient(tb testing.TB, dir string, n *engine.Node, tlsConf *tls.Config) *redis.Client {
	pw, err := engine.NodeAdminPassword(dir, n.ID)
	if err != nil {
		tb.Fatal(err)
	}
	return client(tb, n.Addr, engine.AdminUser, pw, tlsConf)
}

func hash(pw string) string {
	s := sha256.Sum256([]byte(pw))
	return "#" + hex.EncodeToString(s[:])
}

// applyAll applies the same users to every node.
func applyAll(tb testing.TB, m *engine.Manager, users []engine.ACLUser, kill []string, ids ...string) {
	tb.Helper()
	for _, id := range ids {
		if _, err := m.ApplyACL(tb.Context(), id, users, kill); err != nil {
			tb.Fatalf("ApplyACL(%s): %v", id, err)
		}
	}
}

// eventually retries f until it returns nil or d passes.
func eventually(tb testing.TB, d time.Duration, f func() error) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("not reached after %v: %v", d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// isNoPerm reports whether err is a NOPERM reply.
func isNoPerm(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOPERM") }

// processAlive reports whether pid runs (and is not a zombie).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

// waitRestart waits for OnRestart(id).
func waitRestart(tb testing.TB, ch <-chan string, id string) {
	tb.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == id {
				return
			}
		case <-timeout:
			tb.Fatalf("OnRestart(%s) not called", id)
		}
	}
}

func restartRecorder() (chan string, func(string)) {
	ch := make(chan string, 16)
	return ch, func(id string) {
		select {
		case ch <- id:
		default:
		}
	}
}
