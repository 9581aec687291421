package api_test

import (
	"bufio"
	"context"
	"net"
	"strings"
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

	// A Memcached cluster runs its group's values as memcached arguments:
	// requires-reboot ones, so a change waits for RebootCacheCluster.
	if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-mc"), CacheParameterGroupFamily: aws.String("memcached1.6"), Description: aws.String("app"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-mc"), ParameterNameValues: []types.ParameterNameValue{pnv("max_item_size", "2097152"), pnv("chunk_size", "96")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(2),
		CacheParameterGroupName: aws.String("app-mc"), CacheSubnetGroupName: aws.String("app-subnets"),
	}); err != nil {
		t.Fatalf("a Memcached cluster with the stack's groups: %v", err)
	}
	mc := waitCluster(t, c, "mc")
	settings := func(n types.CacheNode) map[string]string { return memcachedSettings(t, nodeAddr(n)) }
	for _, n := range mc.CacheNodes {
		if s := settings(n); s["item_size_max"] != "2097152" || s["chunk_size"] != "96" {
			t.Errorf("node %s runs item_size_max %s, chunk_size %s", aws.ToString(n.CacheNodeId), s["item_size_max"], s["chunk_size"])
		}
	}
	if _, apply := memberParamStatus(t, c, "mc"); apply != "in-sync" {
		t.Errorf("a new Memcached cluster: %s", apply)
	}
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-mc"), ParameterNameValues: []types.ParameterNameValue{pnv("max_item_size", "4194304")},
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // passes that must not apply it
	if s := settings(mc.CacheNodes[0]); s["item_size_max"] != "2097152" {
		t.Errorf("item_size_max changed to %s without a reboot", s["item_size_max"])
	}
	if _, apply := memberParamStatus(t, c, "mc"); apply != "pending-reboot" {
		t.Errorf("after changing max_item_size: %s", apply)
	}
	if _, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("mc"), CacheNodeIdsToReboot: []string{"0001"}}); err != nil {
		t.Fatal(err)
	}
	mc = waitCluster(t, c, "mc")
	if s := settings(mc.CacheNodes[0]); s["item_size_max"] != "4194304" {
		t.Errorf("after the reboot node 0001 runs item_size_max %s", s["item_size_max"])
	}
	cc, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("mc")})
	if err != nil {
		t.Fatal(err)
	}
	if pg := cc.CacheClusters[0].CacheParameterGroup; aws.ToString(pg.ParameterApplyStatus) != "pending-reboot" || len(pg.CacheNodeIdsToReboot) != 1 || pg.CacheNodeIdsToReboot[0] != "0002" {
		t.Errorf("after rebooting 0001 only: %+v", pg)
	}

	// What memcached cannot run is refused, not dropped.
	_, err = c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("app-mc"), ParameterNameValues: []types.ParameterNameValue{pnv("slab_chunk_max", "262144")},
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("odd-mc"), CacheParameterGroupFamily: aws.String("memcached1.6"), Description: aws.String("odd"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("odd-mc"), ParameterNameValues: []types.ParameterNameValue{pnv("slab_chunk_max", "262144")},
	}); err != nil {
		t.Fatalf("a group no cluster uses takes any value: %v", err)
	}
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("odd"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		CacheParameterGroupName: aws.String("odd-mc"),
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("odd"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		CacheParameterGroupName: aws.String("default.redis7"),
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}

// memcachedSettings reads `stats settings` from the memcached node at addr.
func memcachedSettings(t *testing.T, addr string) map[string]string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("stats settings\r\n")); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "END" {
			return out
		}
		if f := strings.Fields(line); len(f) == 3 && f[0] == "STAT" {
			out[f[1]] = f[2]
		}
	}
	t.Fatalf("stats settings from %s: %v", addr, sc.Err())
	return nil
}
