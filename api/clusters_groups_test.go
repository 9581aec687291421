package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestCacheCluster_ParameterAndSubnetGroups: what Terraform's
// aws_elasticache_cluster does with parameter_group_name and
// subnet_group_name naming the stack's own groups. A standalone Redis
// cluster runs its parameter group's values (immediate ones live, a
// requires-reboot one pending-reboot until RebootCacheCluster), follows
// ModifyCacheParameterGroup and a switch of group, and holds both groups
// against deletion; a Memcached cluster keeps the built-in group.
func TestCacheCluster_ParameterAndSubnetGroups(t *testing.T) {
	redistest.Binary(t)
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-redis"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String("app"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-redis"),
		ParameterNameValues:     []types.ParameterNameValue{pnv("notify-keyspace-events", "KEA"), pnv("maxmemory-policy", "allkeys-lru")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("app-subnets"), CacheSubnetGroupDescription: aws.String("app"), SubnetIds: []string{"subnet-0a1b2c3d"},
	}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("nosuch"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		CacheParameterGroupName: aws.String("missing"),
	})
	keywardtest.WantError(t, err, "CacheParameterGroupNotFound", 404)
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("nosuch"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		CacheSubnetGroupName: aws.String("missing"),
	})
	keywardtest.WantError(t, err, "CacheSubnetGroupNotFoundFault", 400)

	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("app"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		CacheParameterGroupName: aws.String("App-Redis"), CacheSubnetGroupName: aws.String("app-subnets"),
	}); err != nil {
		t.Fatalf("CreateCacheCluster with the stack's groups: %v", err)
	}
	cl := waitCluster(t, c, "app")
	if aws.ToString(cl.CacheParameterGroup.CacheParameterGroupName) != "app-redis" || aws.ToString(cl.CacheSubnetGroupName) != "app-subnets" ||
		aws.ToString(cl.CacheParameterGroup.ParameterApplyStatus) != "in-sync" {
		t.Errorf("groups reported: %+v, subnet group %s", cl.CacheParameterGroup, aws.ToString(cl.CacheSubnetGroupName))
	}
	sg, err := c.DescribeCacheSubnetGroups(ctx, &elasticache.DescribeCacheSubnetGroupsInput{CacheSubnetGroupName: aws.String("app-subnets")})
	if err != nil {
		t.Fatal(err)
	}
	if zone := aws.ToString(sg.CacheSubnetGroups[0].Subnets[0].SubnetAvailabilityZone.Name); aws.ToString(cl.PreferredAvailabilityZone) != zone {
		t.Errorf("the node is in %s, not in its subnet group's zone %s", aws.ToString(cl.PreferredAvailabilityZone), zone)
	}
	admin := adminClient(t, ts, "app")
	defer admin.Close()
	config := func(name string) string { return admin.ConfigGet(context.Background(), name).Val()[name] }
	want := func(what, name, value string) {
		t.Helper()
		keywardtest.Eventually(t, 10*time.Second, what, func() bool { return config(name) == value })
	}
	want("the group's notify-keyspace-events", "notify-keyspace-events", "AKE")
	want("the group's maxmemory-policy", "maxmemory-policy", "allkeys-lru")

	// A change of the group reaches the node; a requires-reboot one waits.
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-redis"), ParameterNameValues: []types.ParameterNameValue{pnv("timeout", "120"), pnv("databases", "32")},
	}); err != nil {
		t.Fatal(err)
	}
	want("timeout after ModifyCacheParameterGroup", "timeout", "120")
	if _, apply := memberParamStatus(t, c, "app"); apply != "pending-reboot" {
		t.Errorf("after setting databases: %s", apply)
	}
	if got := config("databases"); got != "16" {
		t.Errorf("databases = %s before any reboot", got)
	}
	if _, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("app"), CacheNodeIdsToReboot: []string{"0001"}}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 30*time.Second, "app rebooted and in-sync", func() bool {
		status, apply := memberParamStatus(t, c, "app")
		return status == "available" && apply == "in-sync"
	})
	want("databases after the reboot", "databases", "32")

	// Both groups are in use.
	_, err = c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("app-redis")})
	keywardtest.WantError(t, err, "InvalidCacheParameterGroupState", 400)
	_, err = c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("app-subnets")})
	keywardtest.WantError(t, err, "CacheSubnetGroupInUse", 400)

	// Back to the default group: its values return, and the groups are free.
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("app"), ApplyImmediately: aws.Bool(true), CacheParameterGroupName: aws.String("default.redis7"),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "app")
	want("the default maxmemory-policy", "maxmemory-policy", "volatile-lru")
	if _, err := c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("app-redis")}); err != nil {
		t.Errorf("delete of a group no cluster uses: %v", err)
	}

	// Memcached keeps the built-in group.
	if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-mc"), CacheParameterGroupFamily: aws.String("memcached1.6"), Description: aws.String("app"),
	}); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		CacheParameterGroupName: aws.String("app-mc"),
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		CacheSubnetGroupName: aws.String("app-subnets"),
	}); err != nil {
		t.Fatalf("a Memcached cluster in the stack's subnet group: %v", err)
	}
	waitCluster(t, c, "mc")
}
