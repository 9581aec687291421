package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// runID returns a node's INFO server run_id, which changes with every start
// of its process.
func runID(t *testing.T, c *redis.Client) string {
	t.Helper()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatalf("INFO server: %v", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	t.Fatal("INFO server has no run_id")
	return ""
}

func memberParamStatus(t *testing.T, c *elasticache.Client, id string) (status, apply string) {
	t.Helper()
	out, err := c.DescribeCacheClusters(context.Background(), &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id), ShowCacheNodeInfo: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	cc := out.CacheClusters[0]
	return aws.ToString(cc.CacheClusterStatus), aws.ToString(cc.CacheParameterGroup.ParameterApplyStatus)
}

// TestReboot_MemberAppliesRequiresRebootParameters: a requires-reboot
// parameter of a replication group's parameter group is pending-reboot on
// every member until RebootCacheCluster restarts that member's node for
// real (new run_id, data kept); then its CONFIG GET shows the value and
// the member is in-sync, while the member not rebooted stays pending.
func TestReboot_MemberAppliesRequiresRebootParameters(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("boot"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String("boot"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("rb"), ReplicationGroupDescription: aws.String("reboot"), NumCacheClusters: aws.Int32(2),
		CacheParameterGroupName: aws.String("boot"),
	}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "rb", "available")
	a1, a2 := adminClient(t, ts, "rb-001"), adminClient(t, ts, "rb-002")
	defer a1.Close()
	defer a2.Close()
	for _, id := range []string{"rb-001", "rb-002"} {
		if _, apply := memberParamStatus(t, c, id); apply != "in-sync" {
			t.Fatalf("%s before any change: %s", id, apply)
		}
	}
	if err := a1.Set(ctx, "kept", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("boot"), ParameterNameValues: []types.ParameterNameValue{pnv("databases", "32")},
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // several passes: nothing may apply it
	for _, id := range []string{"rb-001", "rb-002"} {
		if _, apply := memberParamStatus(t, c, id); apply != "pending-reboot" {
			t.Errorf("%s after the change: %s", id, apply)
		}
	}
	if a1.ConfigGet(ctx, "databases").Val()["databases"] != "16" || a2.ConfigGet(ctx, "databases").Val()["databases"] != "16" {
		t.Fatal("databases changed without a reboot")
	}
	run1, run2 := runID(t, a1), runID(t, a2)

	_, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("rb-002"), CacheNodeIdsToReboot: []string{"0002"}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("rb-009"), CacheNodeIdsToReboot: []string{"0001"}})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	out, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("rb-002"), CacheNodeIdsToReboot: []string{"0001"}})
	if err != nil {
		t.Fatal(err)
	}
	if s := aws.ToString(out.CacheCluster.CacheClusterStatus); s != "rebooting cache cluster nodes" || aws.ToString(out.CacheCluster.ReplicationGroupId) != "rb" {
		t.Errorf("RebootCacheCluster answered %s in %s", s, aws.ToString(out.CacheCluster.ReplicationGroupId))
	}
	_, err = c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("rb-002"), CacheNodeIdsToReboot: []string{"0001"}})
	keywardtest.WantError(t, err, "InvalidCacheClusterState", 400)

	keywardtest.Eventually(t, 30*time.Second, "rb-002 rebooted and in-sync", func() bool {
		status, apply := memberParamStatus(t, c, "rb-002")
		return status == "available" && apply == "in-sync"
	})
	keywardtest.Eventually(t, 10*time.Second, "rb-002 answers", func() bool { return a2.Ping(context.Background()).Err() == nil })
	if got := runID(t, a2); got == run2 {
		t.Error("rb-002's process did not restart (same run_id)")
	}
	if got := a2.ConfigGet(ctx, "databases").Val()["databases"]; got != "32" {
		t.Errorf("rb-002 databases after the reboot = %q, want 32", got)
	}
	keywardtest.Eventually(t, 10*time.Second, "the rebooted replica has the data", func() bool { return a2.Get(context.Background(), "kept").Val() == "1" })
	if _, apply := memberParamStatus(t, c, "rb-001"); apply != "pending-reboot" {
		t.Errorf("rb-001 (not rebooted): %s", apply)
	}
	ev, err := c.DescribeEvents(ctx, &elasticache.DescribeEventsInput{SourceType: types.SourceTypeCacheCluster, SourceIdentifier: aws.String("rb-002")})
	if err != nil || len(ev.Events) == 0 || aws.ToString(ev.Events[0].Message) != "Cache node 0001 restarted" {
		t.Errorf("events of rb-002: %+v %v", ev, err)
	}
	if runID(t, a1) != run1 || a1.ConfigGet(ctx, "databases").Val()["databases"] != "16" {
		t.Error("rb-001 changed without a reboot")
	}

	// The primary reboots too, keeping its data.
	if _, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("rb-001"), CacheNodeIdsToReboot: []string{"0001"}}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 30*time.Second, "rb-001 rebooted and in-sync", func() bool {
		status, apply := memberParamStatus(t, c, "rb-001")
		return status == "available" && apply == "in-sync"
	})
	keywardtest.Eventually(t, 10*time.Second, "rb-001 answers", func() bool { return a1.Ping(context.Background()).Err() == nil })
	if runID(t, a1) == run1 || a1.ConfigGet(ctx, "databases").Val()["databases"] != "32" || a1.Get(ctx, "kept").Val() != "1" {
		t.Errorf("rb-001 after its reboot: databases=%v kept=%q", a1.ConfigGet(ctx, "databases").Val(), a1.Get(ctx, "kept").Val())
	}
}
