package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestReplicationGroup_EngineVersionUpgrade replays a Terraform stack
// pinned to ElastiCache's default, engine_version "7.1", and one that moves
// from "7.0" to "7.1" (spec §2 Update 3: ModifyReplicationGroup with
// EngineVersion and the stack's apply_immediately): the upgrade waits in
// the clusters' PendingModifiedValues without ApplyImmediately, applies with
// it (modifying, then available) and keeps the data; a downgrade, a version
// the nodes cannot serve and an unknown one are refused with ElastiCache's
// codes. Both plans end empty.
func TestReplicationGroup_EngineVersionUpgrade(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()

	// A stack pinned to 7.1 from the start.
	config := tfState{"description": "d", "num_cache_clusters": 2, "node_type": "cache.t4g.micro", "engine": "redis",
		"engine_version": "7.1", "engine_version_actual": "7.1.0", "parameter_group_name": "default.redis7"}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("v71"), ReplicationGroupDescription: aws.String("d"), AutomaticFailoverEnabled: aws.Bool(false),
		CacheNodeType: aws.String("cache.t4g.micro"), TransitEncryptionEnabled: aws.Bool(false), Engine: aws.String("redis"),
		EngineVersion: aws.String("7.1"), NumCacheClusters: aws.Int32(2), CacheParameterGroupName: aws.String("default.redis7"),
	}); err != nil {
		t.Fatalf("CreateReplicationGroup with engine version 7.1: %v", err)
	}
	waitTF(t, "create 7.1", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(c, "v71"))
	if d := tfPlan(config, tfReadReplicationGroup(t, c, "v71"), rgOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after creating 7.1 is not empty:\n%s", strings.Join(d, "\n"))
	}
	rg := waitRG(t, c, "v71", "available")
	if err := rgNodes(t, ts, rg)[0].client("", "").Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Errorf("a 7.1 group's primary refuses a write: %v", err)
	}

	// A stack on 7.0 that moves to 7.1, first without apply_immediately.
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("up"), ReplicationGroupDescription: aws.String("d"), AutomaticFailoverEnabled: aws.Bool(false),
		CacheNodeType: aws.String("cache.t4g.micro"), TransitEncryptionEnabled: aws.Bool(false), Engine: aws.String("redis"),
		EngineVersion: aws.String("7.0"), NumCacheClusters: aws.Int32(2),
	}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "up", "available")
	primary := rgNodes(t, ts, rg)[0].client("", "")
	defer primary.Close()
	if err := primary.Set(ctx, "kept", "across the upgrade", 0).Err(); err != nil {
		t.Fatal(err)
	}
	member := func(id string) types.CacheCluster {
		t.Helper()
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id)})
		if err != nil || len(out.CacheClusters) != 1 {
			t.Fatalf("DescribeCacheClusters(%s) = %v, %v", id, out, err)
		}
		return out.CacheClusters[0]
	}
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String("up"), ApplyImmediately: aws.Bool(false), EngineVersion: aws.String("7.1"),
	}); err != nil {
		t.Fatalf("ModifyReplicationGroup 7.0 → 7.1, pending: %v", err)
	}
	for _, id := range []string{"up-001", "up-002"} {
		m := member(id)
		if aws.ToString(m.EngineVersion) != "7.0.7" || m.PendingModifiedValues == nil || aws.ToString(m.PendingModifiedValues.EngineVersion) != "7.1.0" {
			t.Errorf("%s after a pending upgrade: version %s, pending %+v", id, aws.ToString(m.EngineVersion), m.PendingModifiedValues)
		}
	}
	if st := aws.ToString(waitRG(t, c, "up", "available").Status); st != "available" {
		t.Errorf("a pending upgrade left the group %s", st)
	}
	// The same pending change again is no modification.
	_, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String("up"), EngineVersion: aws.String("7.1"),
	})
	if code, msg := errorMessage(err); code != "InvalidParameterCombination" || !strings.Contains(msg, "No modifications were requested") {
		t.Errorf("the pending upgrade again = %v", err)
	}

	// Now with apply_immediately: modifying, then available on 7.1.
	mod, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String("up"), ApplyImmediately: aws.Bool(true), EngineVersion: aws.String("7.1"),
	})
	if err != nil {
		t.Fatalf("ModifyReplicationGroup 7.0 → 7.1, now: %v", err)
	}
	if st := aws.ToString(mod.ReplicationGroup.Status); st != "modifying" {
		t.Errorf("the upgrade answered status %s, want modifying", st)
	}
	waitTF(t, "upgrade", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(c, "up"))
	config = tfState{"description": "d", "num_cache_clusters": 2, "node_type": "cache.t4g.micro", "engine": "redis",
		"engine_version": "7.1", "engine_version_actual": "7.1.0", "parameter_group_name": "default.redis7"}
	if d := tfPlan(config, tfReadReplicationGroup(t, c, "up"), rgOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after the upgrade is not empty:\n%s", strings.Join(d, "\n"))
	}
	for _, id := range []string{"up-001", "up-002"} {
		if m := member(id); m.PendingModifiedValues != nil && m.PendingModifiedValues.EngineVersion != nil {
			t.Errorf("%s still has a pending version %s", id, aws.ToString(m.PendingModifiedValues.EngineVersion))
		}
	}
	keywardtest.Eventually(t, 10*time.Second, "the key after the upgrade", func() bool {
		v, err := primary.Get(context.Background(), "kept").Result()
		return err == nil && v == "across the upgrade"
	})

	// What ElastiCache refuses: a downgrade, a version keyward's nodes
	// cannot serve, and one that does not exist.
	for _, tc := range []struct{ version, code string }{
		{"7.0", "InvalidParameterCombination"}, {"6.2", "InvalidParameterValue"}, {"7.9", "InvalidParameterCombination"},
	} {
		_, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
			ReplicationGroupId: aws.String("up"), ApplyImmediately: aws.Bool(true), EngineVersion: aws.String(tc.version),
		})
		keywardtest.WantError(t, err, tc.code, 400)
	}
	if v := aws.ToString(member("up-001").EngineVersion); v != "7.1.0" {
		t.Errorf("after the refused changes the version is %s", v)
	}
}

// TestCacheCluster_EngineVersion: ModifyCacheCluster validates the version
// as a create does (it used to store any string), upgrades a Redis cluster
// from 7.0 to 7.1 now or later, and refuses a Memcached version keyward's
// nodes do not run.
func TestCacheCluster_EngineVersion(t *testing.T) {
	redistest.Binary(t)
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("solo"), Engine: aws.String("redis"), EngineVersion: aws.String("7.0"),
		CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "solo")
	for _, tc := range []struct{ version, code string }{
		{"9.9", "InvalidParameterCombination"}, {"6.2", "InvalidParameterValue"},
	} {
		_, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
			CacheClusterId: aws.String("solo"), ApplyImmediately: aws.Bool(true), EngineVersion: aws.String(tc.version),
		})
		keywardtest.WantError(t, err, tc.code, 400)
	}
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("solo"), EngineVersion: aws.String("7.1"),
	}); err != nil {
		t.Fatal(err)
	}
	cl := waitCluster(t, c, "solo")
	if aws.ToString(cl.EngineVersion) != "7.0.7" || aws.ToString(cl.PendingModifiedValues.EngineVersion) != "7.1.0" {
		t.Errorf("pending upgrade: version %s, pending %+v", aws.ToString(cl.EngineVersion), cl.PendingModifiedValues)
	}
	cmod, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("solo"), ApplyImmediately: aws.Bool(true), EngineVersion: aws.String("7.1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := aws.ToString(cmod.CacheCluster.CacheClusterStatus); st != "modifying" {
		t.Errorf("the cluster upgrade answered status %s, want modifying", st)
	}
	waitTF(t, "cluster upgrade", clusterPending, "available", clusterStatus(c, "solo"))
	cl = waitCluster(t, c, "solo")
	if aws.ToString(cl.EngineVersion) != "7.1.0" || cl.PendingModifiedValues.EngineVersion != nil {
		t.Errorf("after the upgrade: version %s, pending %+v", aws.ToString(cl.EngineVersion), cl.PendingModifiedValues)
	}
	_, err = c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("solo"), ApplyImmediately: aws.Bool(true), EngineVersion: aws.String("7.0"),
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)

	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "mc")
	_, err = c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("mc"), ApplyImmediately: aws.Bool(true), EngineVersion: aws.String("1.6.22"),
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
}
