package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestCacheParameterGroups_ReachNodes: a replication group created with a
// custom parameter group runs its values on every node (read back as
// keyward's admin user), a ModifyCacheParameterGroup reaches every node of
// the cache within seconds, a reset returns the defaults, and the group
// cannot be deleted while the cache uses it.
func TestCacheParameterGroups_ReachNodes(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("tuned"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String("tuned"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("tuned"),
		ParameterNameValues: []types.ParameterNameValue{
			pnv("timeout", "300"), pnv("notify-keyspace-events", "KEA"), pnv("maxmemory-policy", "allkeys-lru"),
			pnv("reserved-memory-percent", "30"), // ElastiCache's own: stored, not an engine directive
		},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("app"), CacheSubnetGroupDescription: aws.String("app"), SubnetIds: []string{"subnet-0a1b2c3d"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("pg"), ReplicationGroupDescription: aws.String("params"), NumCacheClusters: aws.Int32(3),
		CacheParameterGroupName: aws.String("Tuned"), CacheSubnetGroupName: aws.String("app"),
	}); err != nil {
		t.Fatal(err)
	}
	nodes := rgNodes(t, ts, waitRG(t, c, "pg", "available"))
	admins := make([]func(string) string, len(nodes))
	for i := range nodes {
		a := adminClient(t, ts, fmt.Sprintf("pg-%03d", i+1))
		t.Cleanup(func() { a.Close() })
		admins[i] = func(name string) string { return a.ConfigGet(context.Background(), name).Val()[name] }
	}
	check := func(what string, want map[string]string) time.Duration {
		t.Helper()
		start := time.Now()
		for i, get := range admins {
			keywardtest.Eventually(t, 5*time.Second, what+" on "+nodes[i].addr, func() bool {
				for k, v := range want {
					if get(k) != v {
						return false
					}
				}
				return true
			})
		}
		return time.Since(start)
	}
	check("created values", map[string]string{"timeout": "300", "notify-keyspace-events": "AKE", "maxmemory-policy": "allkeys-lru"})

	cc, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("pg-002")})
	if err != nil {
		t.Fatal(err)
	}
	if pg := cc.CacheClusters[0].CacheParameterGroup; pg == nil || aws.ToString(pg.CacheParameterGroupName) != "tuned" || aws.ToString(pg.ParameterApplyStatus) != "in-sync" ||
		aws.ToString(cc.CacheClusters[0].CacheSubnetGroupName) != "app" {
		t.Errorf("DescribeCacheClusters: %+v %v", cc.CacheClusters[0].CacheParameterGroup, aws.ToString(cc.CacheClusters[0].CacheSubnetGroupName))
	}

	sent := time.Now()
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("tuned"), ParameterNameValues: []types.ParameterNameValue{pnv("timeout", "600")},
	}); err != nil {
		t.Fatal(err)
	}
	check("modified timeout", map[string]string{"timeout": "600", "notify-keyspace-events": "AKE"})
	t.Logf("ModifyCacheParameterGroup → every node: %v", time.Since(sent))

	// Drift on a node (keyward's admin user changing it) is repaired.
	tamper := adminClient(t, ts, "pg-002")
	if err := tamper.ConfigSet(ctx, "timeout", "5").Err(); err != nil {
		t.Fatal(err)
	}
	tamper.Close()
	keywardtest.Eventually(t, 10*time.Second, "timeout drift repaired", func() bool { return admins[1]("timeout") == "600" })

	if _, err := c.ResetCacheParameterGroup(ctx, &elasticache.ResetCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("tuned"), ResetAllParameters: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	check("family defaults after reset", map[string]string{"timeout": "0", "notify-keyspace-events": "", "maxmemory-policy": "volatile-lru"})

	// A requires-reboot parameter is stored and shown pending a reboot.
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("tuned"), ParameterNameValues: []types.ParameterNameValue{pnv("databases", "32")},
	}); err != nil {
		t.Fatal(err)
	}
	cc, err = c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("pg-001")})
	if err != nil {
		t.Fatal(err)
	}
	if pg := cc.CacheClusters[0].CacheParameterGroup; aws.ToString(pg.ParameterApplyStatus) != "pending-reboot" || len(pg.CacheNodeIdsToReboot) != 1 {
		t.Errorf("after setting databases: %+v", pg)
	}
	if got := admins[0]("databases"); got != "16" {
		t.Errorf("databases = %s before any reboot", got)
	}

	_, err = c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("tuned")})
	keywardtest.WantError(t, err, "InvalidCacheParameterGroupState", 400)
	_, err = c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("app")})
	keywardtest.WantError(t, err, "CacheSubnetGroupInUse", 400)

	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("pg")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "pg", "gone")
	if _, err := c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("tuned")}); err != nil {
		t.Errorf("delete after the cache is gone: %v", err)
	}
	if _, err := c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("app")}); err != nil {
		t.Errorf("delete subnet group after the cache is gone: %v", err)
	}
}

// TestReplicationGroup_GroupReferencesChecked: a replication group names
// only groups that exist and fit it.
func TestReplicationGroup_GroupReferencesChecked(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	for _, f := range []string{"memcached1.6", "redis6.x"} {
		if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
			CacheParameterGroupName: aws.String("fam-" + f[:5]), CacheParameterGroupFamily: aws.String(f), Description: aws.String("d"),
		}); err != nil {
			t.Fatal(err)
		}
	}
	create := func(pg, sg string) error {
		in := &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("refs"), ReplicationGroupDescription: aws.String("d")}
		if pg != "" {
			in.CacheParameterGroupName = aws.String(pg)
		}
		if sg != "" {
			in.CacheSubnetGroupName = aws.String(sg)
		}
		_, err := c.CreateReplicationGroup(ctx, in)
		return err
	}
	keywardtest.WantError(t, create("missing", ""), "CacheParameterGroupNotFound", 404)
	keywardtest.WantError(t, create("", "missing"), "CacheSubnetGroupNotFoundFault", 400)
	keywardtest.WantError(t, create("fam-memca", ""), "InvalidParameterCombination", 400) // redis 7.0 needs redis7
	keywardtest.WantError(t, create("fam-redis", ""), "InvalidParameterCombination", 400)
	// Cluster mode needs a cluster-enabled group (naming one turns cluster
	// mode on, see clustermode_test.go).
	_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("refs"), ReplicationGroupDescription: aws.String("d"),
		NumNodeGroups: aws.Int32(2), CacheParameterGroupName: aws.String("default.redis7")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	if _, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("refs")}); err == nil {
		t.Error("a refused create left a replication group")
	}
}
