package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// killNodes ends the nodes a killed keyward left under dir: nodes outlive
// keyward by design, and these belong to this test only.
func killNodes(dir string) {
	recs, _ := filepath.Glob(filepath.Join(dir, "nodes", "*", "node.json"))
	for _, r := range recs {
		var rec struct{ PID int }
		if b, err := os.ReadFile(r); err == nil && json.Unmarshal(b, &rec) == nil && rec.PID > 0 {
			syscall.Kill(-rec.PID, syscall.SIGKILL)
			syscall.Kill(rec.PID, syscall.SIGKILL)
		}
	}
}

func rgPrimary(t *testing.T, c *elasticache.Client, id string) string {
	t.Helper()
	var addr string
	keywardtest.Eventually(t, 30*time.Second, id+" available", func() bool {
		out, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
			return false
		}
		ep := out.ReplicationGroups[0].NodeGroups[0].PrimaryEndpoint
		addr = fmt.Sprintf("%s:%d", aws.ToString(ep.Address), aws.ToInt32(ep.Port))
		return true
	})
	return addr
}

// TestSnapshot_KillNine: keyward killed while a snapshot is being written
// never shows it available half-written: after restart the snapshot is
// taken again, and restores every key.
func TestSnapshot_KillNine(t *testing.T) {
	redistest.Binary(t)
	dir, addr := t.TempDir(), freeAddr(t)
	t.Cleanup(func() { killNodes(dir) })
	p := startKeyward(t, addr, dir, nil)
	c, ctx := p.client(), t.Context()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("big"), ReplicationGroupDescription: aws.String("big"),
	}); err != nil {
		t.Fatal(err)
	}
	r := redis.NewClient(&redis.Options{Addr: rgPrimary(t, c, "big"), Protocol: 2, DisableIdentity: true})
	defer r.Close()
	// 64 MB of incompressible-ish values, so that saving takes a while.
	const keys, size = 256, 256 << 10
	value := func(i int) string { return strings.Repeat(fmt.Sprintf("%08x", i*2654435761), size/8) }
	for i := range keys {
		if err := r.Set(ctx, fmt.Sprintf("blob:%03d", i), value(i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("big"), SnapshotName: aws.String("mid")}); err != nil {
		t.Fatal(err)
	}
	// Kill as soon as the copy into the snapshot directory has begun (or,
	// if it is too quick to see, while the node saves).
	snapDir := filepath.Join(dir, "snapshots")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if tmp, _ := filepath.Glob(filepath.Join(snapDir, ".*.tmp*")); len(tmp) > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.kill()
	whole, _ := filepath.Glob(filepath.Join(snapDir, "*.rdb"))
	tmp, _ := filepath.Glob(filepath.Join(snapDir, ".*.tmp*"))
	t.Logf("at kill -9: %d whole files, %d temporaries", len(whole), len(tmp))

	p = startKeyward(t, addr, dir, nil)
	c = p.client()
	// Never available unless whole: on the first answer after restart it
	// is either still creating or available with the complete file.
	waitSnapshotWhole(t, c, "mid")
	if tmp, _ := filepath.Glob(filepath.Join(snapDir, ".*.tmp*")); len(tmp) != 0 {
		t.Errorf("temporaries left: %v", tmp)
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("back"), ReplicationGroupDescription: aws.String("restored"), SnapshotName: aws.String("mid"),
	}); err != nil {
		t.Fatal(err)
	}
	r2 := redis.NewClient(&redis.Options{Addr: rgPrimary(t, c, "back"), Protocol: 2, DisableIdentity: true})
	defer r2.Close()
	if n := r2.DBSize(ctx).Val(); n != keys {
		t.Fatalf("restored %d keys, want %d", n, keys)
	}
	for i := range keys {
		if v := r2.Get(ctx, fmt.Sprintf("blob:%03d", i)).Val(); v != value(i) {
			t.Fatalf("blob:%03d differs after restore (%d bytes)", i, len(v))
		}
	}
	for _, id := range []string{"big", "back"} {
		if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	keywardtest.Eventually(t, 30*time.Second, "groups gone", func() bool {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{})
		return err == nil && len(out.ReplicationGroups) == 0
	})
}
