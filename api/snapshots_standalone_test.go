package api_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestSnapshot_StandaloneCluster: a standalone Redis cache cluster (what
// Terraform's aws_elasticache_cluster makes) is snapshotted with
// CreateSnapshot(CacheClusterId) and with DeleteCacheCluster's
// FinalSnapshotIdentifier, as ElastiCache does: the cluster is snapshotting
// meanwhile, the snapshot names the cluster (no replication group) and
// holds the node's data, which a new cluster and a new replication group
// are restored from. Memcached has no snapshots.
func TestSnapshot_StandaloneCluster(t *testing.T) {
	redistest.Binary(t)
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	nodeClient := func(cl types.CacheCluster) *redis.Client {
		t.Helper()
		r := redis.NewClient(&redis.Options{Addr: nodeAddr(cl.CacheNodes[0]), Protocol: 2, DisableIdentity: true})
		t.Cleanup(func() { r.Close() })
		return r
	}
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("solo"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	if err := nodeClient(waitCluster(t, c, "solo")).Set(ctx, "k", "from solo", 0).Err(); err != nil {
		t.Fatal(err)
	}

	out, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{CacheClusterId: aws.String("solo"), SnapshotName: aws.String("solo-manual")})
	if err != nil {
		t.Fatalf("CreateSnapshot(CacheClusterId) of a standalone cluster: %v", err)
	}
	if s := out.Snapshot; aws.ToString(s.CacheClusterId) != "solo" || s.ReplicationGroupId != nil || aws.ToString(s.SnapshotStatus) != "creating" ||
		aws.ToInt32(s.NumCacheNodes) != 1 || aws.ToString(s.SnapshotSource) != "manual" {
		t.Errorf("CreateSnapshot answered %+v", s)
	}
	snap := waitSnapshot(t, c, "solo-manual", "available")
	if len(snap.NodeSnapshots) != 1 || aws.ToString(snap.NodeSnapshots[0].CacheClusterId) != "solo" {
		t.Errorf("node snapshots %+v", snap.NodeSnapshots)
	}
	waitCluster(t, c, "solo")
	listed, err := c.DescribeSnapshots(ctx, &elasticache.DescribeSnapshotsInput{CacheClusterId: aws.String("solo")})
	if err != nil || len(listed.Snapshots) != 1 {
		t.Errorf("DescribeSnapshots(CacheClusterId solo) = %+v, %v", listed, err)
	}
	_, err = c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{CacheClusterId: aws.String("solo"), SnapshotName: aws.String("solo-manual")})
	keywardtest.WantError(t, err, "SnapshotAlreadyExistsFault", 400)

	// Restored into a new cluster and into a new replication group.
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("restored"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"),
		NumCacheNodes: aws.Int32(1), SnapshotName: aws.String("solo-manual"),
	}); err != nil {
		t.Fatal(err)
	}
	eventuallyGet(t, nodeClient(waitCluster(t, c, "restored")), "k", "from solo")
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("from-solo"), ReplicationGroupDescription: aws.String("d"), NumCacheClusters: aws.Int32(2),
		SnapshotName: aws.String("solo-manual"),
	}); err != nil {
		t.Fatal(err)
	}
	rg := waitRGWithin(t, c, "from-solo", "available", 30e9)
	eventuallyGet(t, rgNodes(t, ts, rg)[1].client("", ""), "k", "from solo")

	// A final snapshot, then the cluster is gone (the provider's waiter).
	if err := nodeClient(waitCluster(t, c, "solo")).Set(ctx, "k", "last words", 0).Err(); err != nil {
		t.Fatal(err)
	}
	del, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("solo"), FinalSnapshotIdentifier: aws.String("solo-final")})
	if err != nil {
		t.Fatalf("DeleteCacheCluster with FinalSnapshotIdentifier: %v", err)
	}
	if st := aws.ToString(del.CacheCluster.CacheClusterStatus); st != "snapshotting" {
		t.Errorf("DeleteCacheCluster answered status %s, want snapshotting", st)
	}
	waitTF(t, "delete", []string{"creating", "available", "modifying", "deleting", "incompatible-network", "restore-failed", "snapshotting"}, "",
		clusterStatus(c, "solo"))
	waitSnapshot(t, c, "solo-final", "available")
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("after"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"),
		NumCacheNodes: aws.Int32(1), SnapshotName: aws.String("solo-final"),
	}); err != nil {
		t.Fatal(err)
	}
	eventuallyGet(t, nodeClient(waitCluster(t, c, "after")), "k", "last words")

	// What is refused.
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "mc")
	_, err = c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{CacheClusterId: aws.String("mc"), SnapshotName: aws.String("mc-snap")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{CacheClusterId: aws.String("nope"), SnapshotName: aws.String("nope-snap")})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	_, err = c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("after"), FinalSnapshotIdentifier: aws.String("solo-final")})
	keywardtest.WantError(t, err, "SnapshotAlreadyExistsFault", 400)
	if st := aws.ToString(waitCluster(t, c, "after").CacheClusterStatus); st != "available" {
		t.Errorf("a refused final snapshot left the cluster %s", st)
	}

	// The events a snapshot records name the cluster.
	ev, err := c.DescribeEvents(context.Background(), &elasticache.DescribeEventsInput{SourceType: types.SourceTypeCacheCluster, SourceIdentifier: aws.String("solo")})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ev.Events {
		if aws.ToString(e.Message) == "Snapshot succeeded for snapshot with ID 'solo-manual' of cache cluster with ID 'solo'" {
			found = true
		}
	}
	if !found {
		t.Errorf("no snapshot event for solo among %d events", len(ev.Events))
	}
}
