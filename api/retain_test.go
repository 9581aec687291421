package api_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func waitClusterStatus(t *testing.T, c *elasticache.Client, id, status string) types.CacheCluster {
	t.Helper()
	var cc types.CacheCluster
	keywardtest.Eventually(t, 30*time.Second, "cache cluster "+id+" "+status, func() bool {
		out, err := c.DescribeCacheClusters(t.Context(), &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id), ShowCacheNodeInfo: aws.Bool(true)})
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "CacheClusterNotFound"
		}
		if err != nil || len(out.CacheClusters) != 1 {
			return false
		}
		cc = out.CacheClusters[0]
		return aws.ToString(cc.CacheClusterStatus) == status
	})
	return cc
}

// DeleteReplicationGroup with RetainPrimaryCluster: the replicas go with
// the group, the primary stays a standalone cache cluster with every key.
func TestReplicationGroup_RetainPrimaryCluster(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(20*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	createRG(t, c, "keep", 2, false)
	rg := waitRG(t, c, "keep", "available")
	nodes := rgNodes(t, ts, rg)
	writeKeys(t, nodes[0])
	primaryPID := func() int {
		n, ok := ts.Engine().Node("000000000000.us-east-1.keep-001")
		if !ok {
			return 0
		}
		return n.PID
	}
	before := primaryPID()

	out, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("keep"), RetainPrimaryCluster: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ReplicationGroup.Status) != "deleting" {
		t.Errorf("delete answered %s", aws.ToString(out.ReplicationGroup.Status))
	}
	waitRG(t, c, "keep", "gone")
	cc := waitClusterStatus(t, c, "keep-001", "available")
	if cc.ReplicationGroupId != nil || aws.ToString(cc.Engine) != "redis" || len(cc.CacheNodes) != 1 {
		t.Fatalf("retained cluster: %+v", cc)
	}
	if addr := nodeAddr(cc.CacheNodes[0]); addr != nodes[0].addr {
		t.Errorf("retained primary moved from %s to %s", nodes[0].addr, addr)
	}
	checkKeys(t, node{addr: nodeAddr(cc.CacheNodes[0])})
	if after := primaryPID(); after == 0 || after != before {
		t.Logf("primary process %d → %d (restarted with its data)", before, after)
	}
	if _, ok := ts.Engine().Node("000000000000.us-east-1.keep-002"); ok {
		t.Error("the replica still runs")
	}
	waitClusterStatus(t, c, "keep-002", "gone")
	// The retained cluster is a cluster like any other.
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("keep-001")}); err != nil {
		t.Fatal(err)
	}
	waitClusterStatus(t, c, "keep-001", "gone")

	// Faults.
	_, err = c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("nope"), RetainPrimaryCluster: aws.Bool(true)})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("cmr"), NumNodeGroups: aws.Int32(2)})
	_, err = c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("cmr"), RetainPrimaryCluster: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	createRG(t, c, "busy", 1, false)
	_, err = c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("busy"), RetainPrimaryCluster: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	waitRG(t, c, "busy", "available")
	_, err = c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("busy"), RetainPrimaryCluster: aws.Bool(true), FinalSnapshotIdentifier: aws.String("f")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}

// CreateCacheCluster (Redis) from a snapshot by name and from an S3 ARN:
// the node starts with every key.
func TestCacheCluster_RestoreFromSnapshot(t *testing.T) {
	redistest.Binary(t)
	_, buckets := withBuckets(t, "bkt")
	ts := keywardtest.New(t, keywardtest.WithDelay(200*time.Millisecond), buckets)
	c, ctx := ts.Client, t.Context()
	createRG(t, c, "src", 1, false)
	writeKeys(t, rgNodes(t, ts, waitRG(t, c, "src", "available"))[0])
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("src"), SnapshotName: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, c, "s1", "available")
	if _, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("s1"), TargetSnapshotName: aws.String("e"), TargetBucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, c, "s1", "available")

	create := func(id string, name *string, arns ...string) error {
		_, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
			CacheClusterId: aws.String(id), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"),
			SnapshotName: name, SnapshotArns: arns,
		})
		return err
	}
	if err := create("byname", aws.String("s1")); err != nil {
		t.Fatal(err)
	}
	// The snapshot is held while the cluster is made from it.
	_, err := c.DeleteSnapshot(ctx, &elasticache.DeleteSnapshotInput{SnapshotName: aws.String("s1")})
	keywardtest.WantError(t, err, "InvalidSnapshotState", 400)
	if err := create("bys3", nil, "arn:aws:s3:::bkt/e-0001.rdb"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"byname", "bys3"} {
		cc := waitClusterStatus(t, c, id, "available")
		checkKeys(t, node{addr: nodeAddr(cc.CacheNodes[0])})
	}

	keywardtest.WantError(t, create("x", aws.String("nosuch")), "SnapshotNotFoundFault", 404)
	keywardtest.WantError(t, create("x", nil, "arn:aws:s3:::bkt/nosuch.rdb"), "InvalidParameterValue", 400)
	keywardtest.WantError(t, create("x", nil, "arn:aws:s3:::bkt/e-0001.rdb", "arn:aws:s3:::bkt/e-0001.rdb"), "InvalidParameterCombination", 400)
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), SnapshotName: aws.String("s1"),
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("cm"), NumNodeGroups: aws.Int32(2)})
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("cm"), SnapshotName: aws.String("cms")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, c, "cms", "available")
	keywardtest.WantError(t, create("x", aws.String("cms")), "InvalidParameterCombination", 400)
}
