package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// waitFor polls for a file matching pattern (up to 10 s), so that a kill
// lands while the work that writes it is under way.
func waitFor(pattern string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return true
		}
		time.Sleep(500 * time.Microsecond)
	}
	return false
}

// loaders returns the processes whose command line names a throwaway
// restore server's directory under dir.
func loaders(dir string) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(filepath.Join(dir, "nodes", ".load-"))) {
			out = append(out, p)
		}
	}
	return out
}

func clusterGroup(t *testing.T, c *elasticache.Client, id string) *redis.ClusterClient {
	t.Helper()
	var addr string
	keywardtest.Eventually(t, 60*time.Second, id+" available", func() bool {
		out, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		rg := out.ReplicationGroups[0]
		if s := aws.ToString(rg.Status); s != "available" {
			if s == "create-failed" {
				t.Fatalf("%s create-failed", id)
			}
			return false
		}
		addr = fmt.Sprintf("%s:%d", aws.ToString(rg.ConfigurationEndpoint.Address), aws.ToInt32(rg.ConfigurationEndpoint.Port))
		return true
	})
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{addr}, Protocol: 2, DisableIdentity: true, MaxRetries: 3})
}

// TestSnapshot_KillNineClusterMode: keyward killed while a 2-shard
// snapshot is written, while it is exported to a bucket and while it is
// restored key by key into 3 shards. After each restart the snapshot is
// available only whole, the objects are whole, the throwaway restore
// server died with keyward, and the restored group becomes available with
// every key.
func TestSnapshot_KillNineClusterMode(t *testing.T) {
	redistest.Binary(t)
	dir, addr, s3 := t.TempDir(), freeAddr(t), t.TempDir()
	if err := os.Mkdir(filepath.Join(s3, "bkt"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killNodes(dir) })
	args := []string{"--s3-dir", s3}
	p := startKeyward(t, addr, dir, nil, args...)
	c, ctx := p.client(), t.Context()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("cm"), ReplicationGroupDescription: aws.String("cm"), NumNodeGroups: aws.Int32(2),
	}); err != nil {
		t.Fatal(err)
	}
	rc := clusterGroup(t, c, "cm")
	defer rc.Close()
	// 32 MB over 2 shards, so that saving and loading take a while.
	const keys = 32000
	value := func(i int) string { return strings.Repeat(fmt.Sprintf("%08x", i*2654435761), 128) }
	for start := 0; start < keys; start += 1000 {
		pl := rc.Pipeline()
		for i := start; i < start+1000; i++ {
			pl.Set(ctx, fmt.Sprintf("k:%05d", i), value(i), 0)
		}
		if _, err := pl.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}

	// 1. During the snapshot.
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("cm"), SnapshotName: aws.String("mid")}); err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Join(dir, "snapshots")
	waitFor(filepath.Join(snapDir, ".*.tmp*"))
	p.kill()
	whole, _ := filepath.Glob(filepath.Join(snapDir, "*.rdb"))
	t.Logf("kill -9 during the snapshot: %d of 2 files whole", len(whole))
	p = startKeyward(t, addr, dir, nil, args...)
	c = p.client()
	waitSnapshotWhole(t, c, "mid")
	files, _ := filepath.Glob(filepath.Join(snapDir, "*.rdb"))
	if tmp, _ := filepath.Glob(filepath.Join(snapDir, ".*")); len(files) != 2 || len(tmp) != 0 {
		t.Fatalf("snapshot files %v, temporaries %v", files, tmp)
	}

	// 2. During the export to a bucket.
	if _, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("mid"), TargetSnapshotName: aws.String("out"), TargetBucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	waitFor(filepath.Join(s3, "bkt", ".*.tmp*"))
	p.kill()
	objs, _ := filepath.Glob(filepath.Join(s3, "bkt", "*.rdb"))
	t.Logf("kill -9 during the export: %d of 2 objects whole", len(objs))
	p = startKeyward(t, addr, dir, nil, args...)
	c = p.client()
	keywardtest.Eventually(t, 60*time.Second, "export done after restart", func() bool {
		out, err := c.DescribeSnapshots(ctx, &elasticache.DescribeSnapshotsInput{SnapshotName: aws.String("mid")})
		return err == nil && aws.ToString(out.Snapshots[0].SnapshotStatus) == "available"
	})
	objs, _ = filepath.Glob(filepath.Join(s3, "bkt", "*"))
	if len(objs) != 2 || filepath.Base(objs[0]) != "out-0001.rdb" || filepath.Base(objs[1]) != "out-0002.rdb" {
		t.Fatalf("bucket holds %v", objs)
	}

	// 3. During the restore key by key, from the exported objects.
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("back"), ReplicationGroupDescription: aws.String("restored"), NumNodeGroups: aws.Int32(3),
		ReplicasPerNodeGroup: aws.Int32(1), SnapshotArns: []string{"arn:aws:s3:::bkt/out-0001.rdb", "arn:aws:s3:::bkt/out-0002.rdb"},
	}); err != nil {
		t.Fatal(err)
	}
	if !waitFor(filepath.Join(dir, "nodes", ".load-*", "s.sock")) {
		t.Fatal("no restore server seen")
	}
	p.kill()
	keywardtest.Eventually(t, 5*time.Second, "the restore server dies with keyward", func() bool { return len(loaders(dir)) == 0 })
	p = startKeyward(t, addr, dir, nil, args...)
	c = p.client()
	out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("back")})
	if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "creating" {
		t.Fatalf("restored group after the kill: %v %v", out, err)
	}
	back := clusterGroup(t, c, "back")
	defer back.Close()
	pl := back.Pipeline()
	gets := make([]*redis.StringCmd, keys)
	for i := range gets {
		gets[i] = pl.Get(ctx, fmt.Sprintf("k:%05d", i))
	}
	if _, err := pl.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, g := range gets {
		if g.Val() != value(i) {
			t.Fatalf("k:%05d differs after the restore (%d bytes)", i, len(g.Val()))
		}
	}
	var total atomic.Int64
	if err := back.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		total.Add(n.DBSize(ctx).Val())
		return nil
	}); err != nil || total.Load() != keys {
		t.Fatalf("the restored shards hold %d keys (%v), want %d", total.Load(), err, keys)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "nodes", ".load-*")); len(m) > 0 && len(loaders(dir)) > 0 {
		t.Errorf("restore servers still run: %v", loaders(dir))
	}
}
