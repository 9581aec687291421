package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"keyward/engine"
	"keyward/internal/redistest"
)

func newMemcached(tb testing.TB, dir string, onRestart func(string)) *engine.Memcached {
	tb.Helper()
	bin := redistest.Memcached(tb)
	killStraysAtEnd(tb, dir)
	m := &engine.Memcached{DataDir: dir, Binary: bin, Logger: testLogger(tb), OnRestart: onRestart}
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

func mcSetGet(t *testing.T, addr, key, val string) {
	t.Helper()
	c := memcache.New(addr)
	if err := c.Set(&memcache.Item{Key: key, Value: []byte(val)}); err != nil {
		t.Fatalf("set on %s: %v", addr, err)
	}
	it, err := c.Get(key)
	if err != nil || string(it.Value) != val {
		t.Fatalf("get on %s: %v %v", addr, it, err)
	}
}

func TestMemcached_Lifecycle(t *testing.T) {
	dir := t.TempDir()
	restarted := make(chan string, 4)
	m := newMemcached(t, dir, func(id string) { restarted <- id })
	ctx := t.Context()
	a, err := m.Ensure(ctx, engine.MemcachedSpec{ID: "acct.r.mc-0001", MemoryMB: 64})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Ensure(ctx, engine.MemcachedSpec{ID: "acct.r.mc-0002", MemoryMB: 64})
	if err != nil {
		t.Fatal(err)
	}
	if a.Port == b.Port || a.PID == 0 || b.PID == 0 {
		t.Fatalf("nodes %+v %+v", a, b)
	}
	mcSetGet(t, a.Addr, "k1", "v1")
	mcSetGet(t, b.Addr, "k2", "v2")
	// Ensure again changes nothing.
	if again, err := m.Ensure(ctx, engine.MemcachedSpec{ID: "acct.r.mc-0001", MemoryMB: 64}); err != nil || again.PID != a.PID {
		t.Fatalf("Ensure again: %+v %v (was pid %d)", again, err, a.PID)
	}
	if fi, err := os.Stat(filepath.Join(dir, "memcached", a.ID, "node.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("node.json: %v %v", fi, err)
	}

	// A reboot is a new process on the same port, empty.
	r, err := m.Restart(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.PID == a.PID || r.Port != a.Port {
		t.Fatalf("restart: %+v, was %+v", r, a)
	}
	if _, err := memcache.New(r.Addr).Get("k1"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Fatalf("after reboot get k1 = %v, want a miss", err)
	}

	// A killed process is restarted by supervision on its port.
	syscall.Kill(b.PID, syscall.SIGKILL)
	select {
	case id := <-restarted:
		if id != b.ID {
			t.Fatalf("restarted %s", id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no restart after kill")
	}
	nb, _ := m.Node(b.ID)
	if nb.PID == b.PID || nb.PID == 0 || nb.Port != b.Port {
		t.Fatalf("after kill: %+v, was %+v", nb, b)
	}
	mcSetGet(t, nb.Addr, "k3", "v3")

	// Close leaves the processes; a new Memcached adopts them as they are.
	m.Close()
	m2 := newMemcached(t, dir, nil)
	n2, ok := m2.Node(b.ID)
	if !ok || n2.PID != nb.PID {
		t.Fatalf("adopted %+v, want pid %d", n2, nb.PID)
	}
	if it, err := memcache.New(n2.Addr).Get("k3"); err != nil || string(it.Value) != "v3" {
		t.Fatalf("adopted node lost k3: %v", err)
	}

	// A memory change restarts the node.
	n3, err := m2.Ensure(ctx, engine.MemcachedSpec{ID: b.ID, MemoryMB: 32})
	if err != nil || n3.PID == n2.PID || n3.MemoryMB != 32 {
		t.Fatalf("memory change: %+v %v", n3, err)
	}

	if err := m2.Stop(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "memcached", b.ID)); !os.IsNotExist(err) {
		t.Fatalf("directory left: %v", err)
	}
	if _, err := memcache.New(n3.Addr).Get("k3"); err == nil {
		t.Fatal("stopped node still serves")
	}
}
