package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
)

// withBuckets makes the test server's S3 stand-in dir, with the buckets
// named (mode 0700).
func withBuckets(t *testing.T, buckets ...string) (string, func(*server.Config)) {
	dir := t.TempDir()
	for _, b := range buckets {
		if err := os.Mkdir(filepath.Join(dir, b), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return dir, func(c *server.Config) { c.S3Dir = dir }
}

func createClusterRG(t *testing.T, c *elasticache.Client, in *elasticache.CreateReplicationGroupInput) types.ReplicationGroup {
	t.Helper()
	if in.ReplicationGroupDescription == nil {
		in.ReplicationGroupDescription = aws.String("cluster " + aws.ToString(in.ReplicationGroupId))
	}
	if _, err := c.CreateReplicationGroup(context.Background(), in); err != nil {
		t.Fatalf("CreateReplicationGroup(%s): %v", aws.ToString(in.ReplicationGroupId), err)
	}
	return waitRG(t, c, aws.ToString(in.ReplicationGroupId), "available")
}

func clusterClient(rg types.ReplicationGroup) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:    []string{fmt.Sprintf("%s:%d", aws.ToString(rg.ConfigurationEndpoint.Address), aws.ToInt32(rg.ConfigurationEndpoint.Port))},
		Protocol: 2, MaxRetries: 2, DisableIdentity: true,
	})
}

// writeClusterKeys writes dataKeys keys through a cluster client.
func writeClusterKeys(t *testing.T, rc *redis.ClusterClient) {
	t.Helper()
	for start := 0; start < dataKeys; start += 1000 {
		p := rc.Pipeline()
		for i := start; i < start+1000; i++ {
			p.Set(t.Context(), fmt.Sprintf("key:%05d", i), fmt.Sprintf("value-%d", i), 0)
		}
		if _, err := p.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkClusterKeys fails unless every node of the cluster-mode group holds
// exactly the keys of its shard's slots (asked of the node itself with
// CLUSTER KEYSLOT), every replica as many as its primary, and every key
// reads back with its value through a cluster client.
func checkClusterKeys(t *testing.T, c *elasticache.Client, rg types.ReplicationGroup) {
	t.Helper()
	ctx := t.Context()
	var total int64
	for _, ng := range rg.NodeGroups {
		var ranges [][2]int
		for _, part := range strings.Split(aws.ToString(ng.Slots), ",") {
			lo, hi, _ := strings.Cut(part, "-")
			a, _ := strconv.Atoi(lo)
			b, _ := strconv.Atoi(hi)
			ranges = append(ranges, [2]int{a, b})
		}
		var sizes []int64
		for _, m := range ng.NodeGroupMembers {
			out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: m.CacheClusterId, ShowCacheNodeInfo: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			r := node{addr: nodeAddr(out.CacheClusters[0].CacheNodes[0])}.client("", "")
			var keys []string
			iter := r.Scan(ctx, 0, "*", 1000).Iterator()
			for iter.Next(ctx) {
				keys = append(keys, iter.Val())
			}
			if err := iter.Err(); err != nil {
				t.Fatal(err)
			}
			p := r.Pipeline()
			cmds := make([]*redis.IntCmd, len(keys))
			for i, k := range keys {
				cmds[i] = p.ClusterKeySlot(ctx, k)
			}
			if _, err := p.Exec(ctx); err != nil && len(keys) > 0 {
				t.Fatal(err)
			}
			for i, cmd := range cmds {
				slot, in := int(cmd.Val()), false
				for _, rr := range ranges {
					in = in || slot >= rr[0] && slot <= rr[1]
				}
				if !in {
					t.Fatalf("node %s of shard %s (%s) holds %s of slot %d", aws.ToString(m.CacheClusterId), aws.ToString(ng.NodeGroupId), aws.ToString(ng.Slots), keys[i], slot)
				}
			}
			r.Close()
			sizes = append(sizes, int64(len(keys)))
		}
		for _, n := range sizes[1:] {
			if n != sizes[0] {
				t.Fatalf("shard %s: keys per node %v", aws.ToString(ng.NodeGroupId), sizes)
			}
		}
		if sizes[0] == 0 {
			t.Fatalf("shard %s holds no keys", aws.ToString(ng.NodeGroupId))
		}
		total += sizes[0]
	}
	if total != dataKeys {
		t.Fatalf("the shards hold %d keys, want %d", total, dataKeys)
	}
	rc := clusterClient(rg)
	defer rc.Close()
	p := rc.Pipeline()
	gets := make([]*redis.StringCmd, dataKeys)
	for i := range gets {
		gets[i] = p.Get(ctx, fmt.Sprintf("key:%05d", i))
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for i, g := range gets {
		if g.Val() != fmt.Sprintf("value-%d", i) {
			t.Fatalf("key:%05d = %q", i, g.Val())
		}
	}
}

// A 2-shard cluster-mode group's snapshot has one RDB per shard; it
// restores into 3 shards (keys on the shards owning their slots), and,
// exported to a bucket, from its S3 objects into 2 shards again.
func TestSnapshot_ClusterModeReshard(t *testing.T) {
	redistest.Binary(t)
	dir, buckets := withBuckets(t, "exports")
	ts := keywardtest.New(t, keywardtest.WithDelay(20*time.Millisecond), buckets)
	c, ctx := ts.Client, t.Context()
	src := createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("cm2"), NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1),
	})
	rc := clusterClient(src)
	writeClusterKeys(t, rc)
	rc.Close()

	start := time.Now()
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("cm2"), SnapshotName: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	snap := waitSnapshot(t, c, "two", "available")
	t.Logf("snapshot of 2 shards, %d keys: available after %v", dataKeys, time.Since(start).Round(time.Millisecond))
	if len(snap.NodeSnapshots) != 2 || aws.ToInt32(snap.NumNodeGroups) != 2 || aws.ToString(snap.CacheParameterGroupName) != "default.redis7.cluster.on" {
		t.Fatalf("snapshot: %d node snapshots, %d node groups, %s", len(snap.NodeSnapshots), aws.ToInt32(snap.NumNodeGroups), aws.ToString(snap.CacheParameterGroupName))
	}
	for i, want := range []struct{ cluster, group, slots string }{{"cm2-0001-001", "0001", "0-8191"}, {"cm2-0002-001", "0002", "8192-16383"}} {
		ns := snap.NodeSnapshots[i]
		if aws.ToString(ns.CacheClusterId) != want.cluster || aws.ToString(ns.NodeGroupId) != want.group || ns.SnapshotCreateTime == nil ||
			ns.NodeGroupConfiguration == nil || aws.ToString(ns.NodeGroupConfiguration.Slots) != want.slots || aws.ToInt32(ns.NodeGroupConfiguration.ReplicaCount) != 1 {
			t.Errorf("node snapshot %d: %+v %+v", i, ns, ns.NodeGroupConfiguration)
		}
	}
	if files, _ := filepath.Glob(filepath.Join(ts.Config.DataDir, "snapshots", "*.rdb")); len(files) != 2 {
		t.Fatalf("snapshot files: %v", files)
	}

	// Into 3 shards: every key on the shard owning its slot, on every node.
	start = time.Now()
	dst := createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("cm3"), NumNodeGroups: aws.Int32(3), ReplicasPerNodeGroup: aws.Int32(1), SnapshotName: aws.String("two"),
	})
	t.Logf("restore of %d keys from 2 shards into 3 shards x 2 nodes: available after %v", dataKeys, time.Since(start).Round(time.Millisecond))
	if len(dst.NodeGroups) != 3 {
		t.Fatalf("restored group has %d node groups", len(dst.NodeGroups))
	}
	checkClusterKeys(t, c, dst)

	// Exported: one object per shard, named as ElastiCache names them.
	out, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("two"), TargetSnapshotName: aws.String("two-export"), TargetBucket: aws.String("exports")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Snapshot.SnapshotStatus); got != "exporting" {
		t.Errorf("CopySnapshot to a bucket answered %s", got)
	}
	waitSnapshot(t, c, "two", "available")
	var arns []string
	for _, key := range []string{"two-export-0001.rdb", "two-export-0002.rdb"} {
		fi, err := os.Stat(filepath.Join(dir, "exports", key))
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 1000 {
			t.Fatalf("exported object %s: %v %v", key, fi, err)
		}
		arns = append(arns, "arn:aws:s3:::exports/"+key)
	}
	// From the S3 objects, into cluster mode with the same 2 shards.
	again := createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("cm2b"), NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1), SnapshotArns: arns,
	})
	checkClusterKeys(t, c, again)

	// By name, without NumNodeGroups: the snapshot's own shards.
	same := createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("cm2c"), SnapshotName: aws.String("two")})
	if len(same.NodeGroups) != 2 || aws.ToString(same.NodeGroups[1].Slots) != "8192-16383" || len(same.NodeGroups[0].NodeGroupMembers) != 2 {
		t.Fatalf("restored without NumNodeGroups: %+v", same.NodeGroups)
	}
	checkClusterKeys(t, c, same)

	// A copy has its own file per shard; deleting the source removes both
	// of its files and leaves the copy's.
	if _, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("two"), TargetSnapshotName: aws.String("two-copy")}); err != nil {
		t.Fatal(err)
	}
	if cp := waitSnapshot(t, c, "two-copy", "available"); len(cp.NodeSnapshots) != 2 || aws.ToString(cp.NodeSnapshots[1].CacheSize) == "0 MB" {
		t.Fatalf("copy: %+v", cp.NodeSnapshots)
	}
	if files, _ := filepath.Glob(filepath.Join(ts.Config.DataDir, "snapshots", "*.rdb")); len(files) != 4 {
		t.Fatalf("snapshot files after the copy: %v", files)
	}

	// A serverless cache from the 2-shard snapshot: every key on its node.
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("sv-from-cm"), Engine: aws.String("redis"), SnapshotArnsToRestore: []string{aws.ToString(snap.ARN)},
	}); err != nil {
		t.Fatal(err)
	}
	sv := waitServerless(t, c, "sv-from-cm", "available")
	checkKeys(t, node{addr: fmt.Sprintf("%s:%d", aws.ToString(sv.Endpoint.Address), aws.ToInt32(sv.Endpoint.Port)), tls: ts.Engine().TLSConfig()})
	if _, err := c.DeleteSnapshot(ctx, &elasticache.DeleteSnapshotInput{SnapshotName: aws.String("two")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, c, "two", "gone")
	if files, _ := filepath.Glob(filepath.Join(ts.Config.DataDir, "snapshots", "*.rdb")); len(files) != 2 {
		t.Fatalf("snapshot files after DeleteSnapshot: %v", files)
	}
}
