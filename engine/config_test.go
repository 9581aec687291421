package engine_test

import (
	"syscall"
	"testing"

	"keyward/engine"
)

// TestManager_Config: Config directives reach a new node, change live,
// survive a restart, and a dropped directive gets its previous value back.
func TestManager_Config(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	restarts, onRestart := restartRecorder()
	m := newManager(t, dir, onRestart)
	ctx := t.Context()
	spec := engine.NodeSpec{ID: "cfg1", Engine: "redis", Config: map[string]string{"timeout": "300", "notify-keyspace-events": "KEA"}}
	n := ensure(t, m, spec)
	admin := adminClient(t, dir, n, nil)
	want := func(name, value string) {
		t.Helper()
		if got := admin.ConfigGet(ctx, name).Val()[name]; got != value {
			t.Errorf("%s = %q, want %q", name, got, value)
		}
	}
	want("timeout", "300")
	want("notify-keyspace-events", "AKE") // the engine's spelling of KEA

	spec.Config = map[string]string{"timeout": "600", "slowlog-max-len": "1000"}
	if again := ensure(t, m, spec); again.PID != n.PID {
		t.Error("a configuration change restarted the node")
	}
	want("timeout", "600")
	want("slowlog-max-len", "1000")
	want("notify-keyspace-events", "") // dropped: back to the node's own value

	if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitRestart(t, restarts, n.ID)
	admin = adminClient(t, dir, n, nil)
	want("timeout", "600")
	want("slowlog-max-len", "1000")

	// Drift (an operator's CONFIG SET) is repaired by the next Ensure; a
	// value the engine spells differently is no drift.
	spec.Config["notify-keyspace-events"] = "KEA"
	ensure(t, m, spec)
	if err := admin.ConfigSet(ctx, "timeout", "7").Err(); err != nil {
		t.Fatal(err)
	}
	ensure(t, m, spec)
	want("timeout", "600")
	want("notify-keyspace-events", "AKE")

	spec.Config = nil
	ensure(t, m, spec)
	want("timeout", "0")
	want("slowlog-max-len", "128")
	want("notify-keyspace-events", "")

	for _, bad := range []map[string]string{{"masterauth": "x"}, {"maxmemory": "1"}, {"Bad Name": "1"}, {"dir": "/tmp"}} {
		if err := (engine.NodeSpec{ID: "cfg2", Engine: "redis", Config: bad}).Validate(); err == nil {
			t.Errorf("Config %v accepted", bad)
		}
	}
}
