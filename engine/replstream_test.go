package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keyward/engine"
)

// streamLog records what a replication stream handed out.
type streamLog struct {
	mu        sync.Mutex
	fullSyncs int
	keys      map[string]engine.DumpedKey
	cmds      [][]string
	at        engine.ReplPosition
}

func (l *streamLog) handler() engine.StreamHandler {
	return engine.StreamHandler{
		FullSync: func(_ context.Context, at engine.ReplPosition) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.fullSyncs++
			l.keys, l.cmds = map[string]engine.DumpedKey{}, nil
			return nil
		},
		Keys: func(_ context.Context, keys []engine.DumpedKey) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			for _, k := range keys {
				l.keys[k.Key] = k
			}
			return nil
		},
		Commands: func(_ context.Context, cmds [][]string, at engine.ReplPosition) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.cmds = append(l.cmds, cmds...)
			l.at = at
			return nil
		},
	}
}

func (l *streamLog) snapshot() (int, map[string]engine.DumpedKey, [][]string, engine.ReplPosition) {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make(map[string]engine.DumpedKey, len(l.keys))
	for k, v := range l.keys {
		keys[k] = v
	}
	return l.fullSyncs, keys, slices.Clone(l.cmds), l.at
}

// TestReplicaStream reads a node's replication stream as a replica: the
// RDB's keys on a full resynchronisation, then the propagated commands
// with the offset the node itself reports, and after a reconnection a
// partial resynchronisation from the position reached.
func TestReplicaStream(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	ctx := t.Context()
	p := ensure(t, m, engine.NodeSpec{ID: "acct.us-east-1.rs-001", Engine: "redis"})
	pa := adminClient(t, dir, p, nil)
	if err := pa.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := pa.Set(ctx, "b", "2", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}

	log := &streamLog{}
	sctx, stop := context.WithCancel(ctx)
	ended := make(chan error, 1)
	go func() { ended <- m.ReplicaStream(sctx, p.ID, engine.ReplPosition{}, log.handler()) }()
	eventually(t, 10*time.Second, func() error {
		if n, keys, _, _ := log.snapshot(); n != 1 || len(keys) != 2 {
			return fmt.Errorf("%d full syncs, keys %v", n, keys)
		}
		return nil
	})
	_, keys, _, _ := log.snapshot()
	if keys["a"].Payload == "" || keys["b"].TTL <= 0 || keys["a"].TTL != 0 {
		t.Fatalf("keys %+v", keys)
	}
	// Writes arrive as the node propagates them; transactions whole.
	pa.Set(ctx, "c", "3", 0)
	pa.Incr(ctx, "a")
	tx := pa.TxPipeline()
	tx.Set(ctx, "d", "4", 0)
	tx.Del(ctx, "c")
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	offset := func() int64 {
		info := pa.Info(ctx, "replication").Val()
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "master_repl_offset:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return -1
	}
	want := [][]string{{"set", "c", "3"}, {"incr", "a"}, {"multi"}, {"set", "d", "4"}, {"del", "c"}, {"exec"}}
	eventually(t, 10*time.Second, func() error {
		_, _, cmds, at := log.snapshot()
		got := slices.Clone(cmds)
		for i := range got {
			got[i] = slices.Clone(got[i])
			got[i][0] = strings.ToLower(got[i][0])
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			return fmt.Errorf("commands %q", got)
		}
		if off := offset(); at.Offset != off {
			return fmt.Errorf("applied offset %d, the node's %d", at.Offset, off)
		}
		return nil
	})
	if cc := pa.Info(ctx, "replication").Val(); !strings.Contains(cc, "connected_slaves:1") {
		t.Errorf("the node does not count the stream as its replica:\n%s", cc)
	}
	stop()
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("stream ended with %v", err)
	}

	// Reconnected from the position reached: only what it missed.
	_, _, _, at := log.snapshot()
	pa.Set(ctx, "e", "5", 0)
	log2 := &streamLog{}
	sctx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { ended <- m.ReplicaStream(sctx, p.ID, at, log2.handler()) }()
	eventually(t, 10*time.Second, func() error {
		_, _, cmds, _ := log2.snapshot()
		if len(cmds) != 1 || !slices.Equal(cmds[0], []string{"set", "e", "5"}) && !slices.Equal(cmds[0], []string{"SET", "e", "5"}) {
			return fmt.Errorf("commands after resuming %q", cmds)
		}
		return nil
	})
	if n, _, _, _ := log2.snapshot(); n != 0 {
		t.Errorf("resuming from %+v made a full resynchronisation", at)
	}
	// A position the node does not know gets a full one.
	stop()
	<-ended
	log3 := &streamLog{}
	sctx, stop = context.WithCancel(ctx)
	defer stop()
	go func() {
		ended <- m.ReplicaStream(sctx, p.ID, engine.ReplPosition{ReplID: strings.Repeat("0", 40), Offset: 5}, log3.handler())
	}()
	eventually(t, 10*time.Second, func() error {
		if n, keys, _, _ := log3.snapshot(); n != 1 || len(keys) != 4 {
			return fmt.Errorf("%d full syncs, keys %v", n, keys)
		}
		return nil
	})
}
