package engine_test

import (
	"strings"
	"syscall"
	"testing"

	"keyward/engine"
)

// TestManager_MaxMemory: a node starts with its spec's maxmemory and policy,
// a changed limit reaches the running process without a restart, and a
// restarted node keeps the last one.
func TestManager_MaxMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	restarts, onRestart := restartRecorder()
	m := newManager(t, dir, onRestart)
	ctx := t.Context()
	spec := engine.NodeSpec{ID: "mem1", Engine: "redis", MaxMemory: 64 << 20, MaxMemoryPolicy: "volatile-lru"}
	n := ensure(t, m, spec)
	admin := adminClient(t, dir, n, nil)
	want := func(maxmemory, policy string) {
		t.Helper()
		got, err := admin.ConfigGet(ctx, "maxmemory*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if got["maxmemory"] != maxmemory || got["maxmemory-policy"] != policy {
			t.Errorf("maxmemory %s policy %s; want %s %s", got["maxmemory"], got["maxmemory-policy"], maxmemory, policy)
		}
	}
	want("67108864", "volatile-lru")

	spec.MaxMemory, spec.MaxMemoryPolicy = 128<<20, "allkeys-lru"
	again := ensure(t, m, spec)
	if again.PID != n.PID {
		t.Errorf("a memory change restarted the node (pid %d → %d)", n.PID, again.PID)
	}
	want("134217728", "allkeys-lru")

	if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitRestart(t, restarts, n.ID)
	admin = adminClient(t, dir, n, nil)
	want("134217728", "allkeys-lru")

	// Removing the limit goes back to the engine's defaults.
	spec.MaxMemory, spec.MaxMemoryPolicy = 0, ""
	ensure(t, m, spec)
	want("0", "noeviction")
}

func TestNodeSpec_ValidateMemory(t *testing.T) {
	for _, s := range []engine.NodeSpec{
		{ID: "a", Engine: "redis", MaxMemory: -1},
		{ID: "a", Engine: "redis", MaxMemoryPolicy: "lru"},
	} {
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "engine: node a") {
			t.Errorf("Validate(%+v) = %v", s, err)
		}
	}
	if err := (engine.NodeSpec{ID: "a", Engine: "valkey", MaxMemory: 1 << 30, MaxMemoryPolicy: "allkeys-lfu"}).Validate(); err != nil {
		t.Error(err)
	}
}
