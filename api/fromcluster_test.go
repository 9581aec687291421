package api_test

import (
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestReplicationGroup_FromExistingCluster follows ElastiCache's "Creating
// a replication group using an existing cluster" with the AWS SDK: a
// single-node Redis cluster becomes the primary of a new replication group
// in place (same id, endpoint and data), a replica added with
// CreateCacheCluster(ReplicationGroupId) copies its data, and what cannot
// be a primary, or be combined with one, is refused.
func TestReplicationGroup_FromExistingCluster(t *testing.T) {
	redistest.Binary(t)
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("redis01"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.small"),
		NumCacheNodes: aws.Int32(1), PreferredMaintenanceWindow: aws.String("sun:23:00-mon:01:30"),
	}); err != nil {
		t.Fatal(err)
	}
	before := waitCluster(t, c, "redis01")
	addr := nodeAddr(before.CacheNodes[0])
	node := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer node.Close()
	if err := node.Set(ctx, "kept", "in place", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// What is refused before anything changes.
	for name, tc := range map[string]struct {
		in   elasticache.CreateReplicationGroupInput
		code string
	}{
		"NoSuchCluster": {elasticache.CreateReplicationGroupInput{PrimaryClusterId: aws.String("nope")}, "CacheClusterNotFound"},
		"WithReplicas":  {elasticache.CreateReplicationGroupInput{PrimaryClusterId: aws.String("redis01"), NumCacheClusters: aws.Int32(2)}, "InvalidParameterCombination"},
		"OtherVersion":  {elasticache.CreateReplicationGroupInput{PrimaryClusterId: aws.String("redis01"), EngineVersion: aws.String("7.1")}, "InvalidParameterCombination"},
		"OtherNodeType": {elasticache.CreateReplicationGroupInput{PrimaryClusterId: aws.String("redis01"), CacheNodeType: aws.String("cache.t4g.micro")}, "InvalidParameterCombination"},
		"ClusterMode":   {elasticache.CreateReplicationGroupInput{PrimaryClusterId: aws.String("redis01"), NumNodeGroups: aws.Int32(2)}, "InvalidParameterCombination"},
	} {
		in := tc.in
		in.ReplicationGroupId, in.ReplicationGroupDescription = aws.String("refused"), aws.String(name)
		_, err := c.CreateReplicationGroup(ctx, &in)
		code, _ := keywardtest.APIError(err)
		if code != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "mc")
	_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("refused"), ReplicationGroupDescription: aws.String("d"), PrimaryClusterId: aws.String("mc"),
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// The cluster becomes the group's primary.
	out, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("sample-repl-group"), ReplicationGroupDescription: aws.String("demo cluster with replicas"),
		PrimaryClusterId: aws.String("redis01"),
	})
	if err != nil {
		t.Fatalf("CreateReplicationGroup(PrimaryClusterId): %v", err)
	}
	if got := out.ReplicationGroup.MemberClusters; !slices.Equal(got, []string{"redis01"}) {
		t.Errorf("members %v, want [redis01]", got)
	}
	rg := waitRG(t, c, "sample-repl-group", "available")
	if aws.ToString(rg.CacheNodeType) != "cache.t4g.small" {
		t.Errorf("group node type %s, want the cluster's", aws.ToString(rg.CacheNodeType))
	}
	m := describeCluster(t, c, "redis01")
	if aws.ToString(m.ReplicationGroupId) != "sample-repl-group" || aws.ToString(m.PreferredMaintenanceWindow) != "sun:23:00-mon:01:30" {
		t.Errorf("redis01 as a member: group %q, maintenance window %q", aws.ToString(m.ReplicationGroupId), aws.ToString(m.PreferredMaintenanceWindow))
	}
	if a := nodeAddr(m.CacheNodes[0]); a != addr {
		t.Errorf("the primary moved from %s to %s", addr, a)
	}
	if p := rg.NodeGroups[0].PrimaryEndpoint; p == nil || aws.ToString(p.Address) == "" {
		t.Fatalf("no primary endpoint: %+v", rg.NodeGroups[0])
	}
	eventuallyGet(t, node, "kept", "in place")
	_, err = c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("redis01")})
	keywardtest.WantError(t, err, "InvalidCacheClusterState", 400)

	// The second step: a replica, which copies the primary's data.
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("redis01-replica"), ReplicationGroupId: aws.String("sample-repl-group"),
	}); err != nil {
		t.Fatal(err)
	}
	rg = waitRGWithin(t, c, "sample-repl-group", "available", 30e9)
	if got := rg.MemberClusters; !slices.Equal(got, []string{"redis01", "redis01-replica"}) {
		t.Errorf("members %v", got)
	}
	replica := redis.NewClient(&redis.Options{Addr: nodeAddr(waitCluster(t, c, "redis01-replica").CacheNodes[0]), Protocol: 2, DisableIdentity: true})
	defer replica.Close()
	eventuallyGet(t, replica, "kept", "in place")
	wantReadOnly(t, replica)
}
