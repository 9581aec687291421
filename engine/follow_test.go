package engine_test

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyward/engine"
	"keyward/internal/redistest"
)

// TestFollow: a primary follows an outside redis-server (its replica
// following along), reports linked once in sync, and takes writes again
// after Follow(""); Follow("") never undoes replication it did not set up.
func TestFollow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	ctx := t.Context()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srcPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(redistest.Binary(t), "--port", strconv.Itoa(srcPort), "--bind", "127.0.0.1", "--save", "", "--dir", t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	src := client(t, fmt.Sprintf("127.0.0.1:%d", srcPort), "", "", nil)
	eventually(t, 10*time.Second, func() error { return src.Set(ctx, "k", "v", 0).Err() })

	p := ensure(t, m, engine.NodeSpec{ID: "acct.us-east-1.mg-001", Engine: "redis"})
	r := ensure(t, m, engine.NodeSpec{ID: "acct.us-east-1.mg-002", Engine: "redis", ReplicaOf: p.ID})
	pa, ra := adminClient(t, dir, p, nil), adminClient(t, dir, r, nil)
	addr := fmt.Sprintf("127.0.0.1:%d", srcPort)
	if _, err := m.Follow(ctx, r.ID, addr); err == nil {
		t.Error("a replica of ours was made to follow an outside source")
	}
	eventually(t, 15*time.Second, func() error {
		linked, err := m.Follow(ctx, p.ID, addr)
		if err != nil || !linked {
			return fmt.Errorf("linked %v, %v", linked, err)
		}
		return nil
	})
	eventually(t, 10*time.Second, func() error {
		if v := ra.Get(ctx, "k").Val(); v != "v" {
			return fmt.Errorf("replica k = %q", v)
		}
		return nil
	})
	if err := pa.Set(ctx, "own", "1", 0).Err(); err == nil {
		t.Error("a following primary took a write")
	}
	if _, err := m.Follow(ctx, p.ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := pa.Set(ctx, "own", "1", 0).Err(); err != nil {
		t.Errorf("after Follow(\"\"): %v", err)
	}
	if pa.Get(ctx, "k").Val() != "v" {
		t.Error("the migrated key is gone")
	}

	// Replication set up by anything else is left alone.
	if err := pa.Do(ctx, "REPLICAOF", "127.0.0.1", strconv.Itoa(srcPort)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Follow(ctx, p.ID, ""); err != nil {
		t.Fatal(err)
	}
	info := pa.Info(ctx, "replication").Val()
	if !strings.Contains(info, "role:slave") {
		t.Errorf("Follow(\"\") undid replication it did not set up:\n%s", info)
	}
}
