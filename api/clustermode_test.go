package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func TestReplicationGroup_ClusterMode(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	for _, u := range []struct{ id, access string }{{"app", "on ~app:* +@all"}, {"other", "on ~* +@all"}} {
		if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String(u.id), UserName: aws.String(u.id), Engine: aws.String("redis"),
			AccessString: aws.String(u.access), Passwords: []string{u.id + "-password-00001"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("cm"), Engine: aws.String("redis"), UserIds: []string{"default", "app", "other"}}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "group active", func() bool {
		out, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("cm")})
		return err == nil && aws.ToString(out.UserGroups[0].Status) == "active"
	})

	// Faults first.
	_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("x"),
		NumNodeGroups: aws.Int32(2), NodeGroupConfiguration: []types.NodeGroupConfiguration{{Slots: aws.String("0-100")}, {Slots: aws.String("101-200")}}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("x"),
		NumNodeGroups: aws.Int32(2), NumCacheClusters: aws.Int32(2)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("x"),
		NumNodeGroups: aws.Int32(2), AutomaticFailoverEnabled: aws.Bool(false)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)

	start := time.Now()
	out, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("cm1"), ReplicationGroupDescription: aws.String("cluster mode"),
		NumNodeGroups: aws.Int32(3), ReplicasPerNodeGroup: aws.Int32(1), TransitEncryptionEnabled: aws.Bool(true),
		AutomaticFailoverEnabled: aws.Bool(true), UserGroupIds: []string{"cm"}, CacheParameterGroupName: aws.String("default.redis7.cluster.on"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(out.ReplicationGroup.ClusterEnabled) || len(out.ReplicationGroup.MemberClusters) != 6 {
		t.Fatalf("create answered %+v", out.ReplicationGroup)
	}
	rg := waitRG(t, c, "cm1", "available")
	t.Logf("3 shards x 2 nodes (TLS, ACLs) available after %v", time.Since(start).Round(time.Millisecond))
	var slots []string
	for _, ng := range rg.NodeGroups {
		slots = append(slots, aws.ToString(ng.Slots))
		if len(ng.NodeGroupMembers) != 2 {
			t.Fatalf("node group %s has %d members", aws.ToString(ng.NodeGroupId), len(ng.NodeGroupMembers))
		}
	}
	if !slices.Equal(slots, []string{"0-5461", "5462-10922", "10923-16383"}) || rg.ConfigurationEndpoint == nil || rg.ClusterMode != types.ClusterModeEnabled ||
		!slices.Equal(rg.MemberClusters[:2], []string{"cm1-0001-001", "cm1-0001-002"}) {
		t.Fatalf("group: slots %v, config %v, mode %s, members %v", slots, rg.ConfigurationEndpoint, rg.ClusterMode, rg.MemberClusters)
	}
	cc, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("cm1-0002-002"), ShowCacheNodeInfo: aws.Bool(true)})
	if err != nil || aws.ToString(cc.CacheClusters[0].CacheParameterGroup.CacheParameterGroupName) != "default.redis7.cluster.on" {
		t.Fatalf("member cluster %v %v", cc, err)
	}

	cluster := func(user string) *redis.ClusterClient {
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:    []string{fmt.Sprintf("%s:%d", aws.ToString(rg.ConfigurationEndpoint.Address), aws.ToInt32(rg.ConfigurationEndpoint.Port))},
			Username: user, Password: user + "-password-00001", TLSConfig: ts.Engine().TLSConfig(), MaxRetries: 2,
		})
	}
	app := cluster("app")
	defer app.Close()
	for i := range 300 {
		if err := app.Set(ctx, fmt.Sprintf("app:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("set app:%d through the cluster: %v", i, err)
		}
	}
	// The keys landed on every shard, and the replicas hold them.
	perShard, err := keysPerPrimary(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	if len(perShard) != 3 || perShard[0] == 0 {
		t.Fatalf("keys per shard %v", perShard)
	}
	keywardtest.Eventually(t, 10*time.Second, "replicas hold the keys", func() bool {
		var mu sync.Mutex
		var total int64
		app.ForEachSlave(ctx, func(ctx context.Context, n *redis.Client) error {
			size, err := n.DBSize(ctx).Result()
			mu.Lock()
			total += size
			mu.Unlock()
			return err
		})
		return total == 300
	})
	// The access string's key patterns hold on every shard.
	for i := range 20 {
		if err := app.Set(ctx, fmt.Sprintf("other:%d", i), 1, 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Fatalf("set other:%d as app = %v, want NOPERM", i, err)
		}
	}
	// Tenants cannot change the cluster's shape.
	if err := app.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		if err := n.Do(ctx, "CLUSTER", "FORGET", "0000000000000000000000000000000000000000").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			return fmt.Errorf("CLUSTER FORGET as app = %v, want NOPERM", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// kill -9 of a shard's primary: supervision restarts it on its port
	// with its data and cluster state; every key is served again.
	time.Sleep(1100 * time.Millisecond) // appendfsync everysec: let the writes reach the disk
	victim := "000000000000.us-east-1.cm1-0002-001"
	before, ok := ts.Engine().Node(victim)
	if !ok || before.PID == 0 {
		t.Fatalf("no running node %s", victim)
	}
	killed := time.Now()
	if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 30*time.Second, "every key served after the kill", func() bool {
		for i := range 300 {
			if v, err := app.Get(ctx, fmt.Sprintf("app:%d", i)).Result(); err != nil || v != fmt.Sprint(i) {
				return false
			}
		}
		return app.Set(ctx, "app:after-kill", 1, 0).Err() == nil
	})
	t.Logf("kill -9 of a shard primary: all 300 keys served and writable again after %v", time.Since(killed).Round(time.Millisecond))
	if after, _ := ts.Engine().Node(victim); after == nil || after.PID == before.PID {
		t.Fatalf("node %s was not restarted", victim)
	}

	// DeleteUser: every node of every shard refuses app at once.
	var nodes []node
	for _, m := range rg.MemberClusters {
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(m), ShowCacheNodeInfo: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, node{addr: nodeAddr(out.CacheClusters[0].CacheNodes[0]), tls: ts.Engine().TLSConfig()})
	}
	for _, n := range nodes {
		if err := n.auth("app", "app-password-00001"); err != nil {
			t.Fatalf("app refused by %s before DeleteUser: %v", n.addr, err)
		}
	}
	del := time.Now()
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "every node refuses app", func() bool {
		for _, n := range nodes {
			if n.auth("app", "app-password-00001") == nil {
				return false
			}
		}
		return true
	})
	t.Logf("DeleteUser: refused by all %d nodes of 3 shards after %v", len(nodes), time.Since(del).Round(time.Millisecond))
	for _, n := range nodes {
		if err := n.auth("other", "other-password-00001"); err != nil {
			t.Fatalf("other refused by %s: %v", n.addr, err)
		}
	}
	other := cluster("other")
	defer other.Close()
	if v, err := other.Get(ctx, "app:7").Result(); err != nil || v != "7" {
		t.Fatalf("get app:7 as other = %q, %v", v, err)
	}

	// Shards' members are not standalone clusters.
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("cm-extra"), ReplicationGroupId: aws.String("cm1")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("cm1-0001-002")})
	keywardtest.WantError(t, err, "InvalidCacheClusterState", 400)

	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("cm1")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "cm1", "gone")
	if n := ts.Engine().Nodes(); len(n) != 0 {
		t.Fatalf("nodes left: %d", len(n))
	}
}

// TestTerraform_ClusterModeReplicationGroupPlanEmpty replays
// aws_elasticache_replication_group with num_node_groups (§2).
func TestTerraform_ClusterModeReplicationGroupPlanEmpty(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	config := tfState{
		"description": "tf cluster", "num_node_groups": 2, "replicas_per_node_group": 1, "node_type": "cache.t4g.small",
		"engine": "redis", "engine_version": "7.0", "automatic_failover_enabled": true, "transit_encryption_enabled": true,
		"parameter_group_name": "default.redis7.cluster.on", "cluster_mode": "enabled", "num_cache_clusters": 4,
		"maintenance_window": "tue:06:00-tue:07:00", "snapshot_window": "02:00-03:00",
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-cm"), ReplicationGroupDescription: aws.String("tf cluster"),
		AutomaticFailoverEnabled: aws.Bool(true), CacheNodeType: aws.String("cache.t4g.small"), TransitEncryptionEnabled: aws.Bool(true),
		Engine: aws.String("redis"), EngineVersion: aws.String("7.0"), AutoMinorVersionUpgrade: aws.Bool(true), ClusterMode: types.ClusterModeEnabled,
		NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1), CacheParameterGroupName: aws.String("default.redis7.cluster.on"),
		PreferredMaintenanceWindow: aws.String("tue:06:00-tue:07:00"), SnapshotWindow: aws.String("02:00-03:00"),
	}); err != nil {
		t.Fatal(err)
	}
	read := func() tfState {
		st := tfReadReplicationGroup(t, c, "tf-cm")
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("tf-cm")})
		if err != nil {
			t.Fatal(err)
		}
		if ep := out.ReplicationGroups[0].ConfigurationEndpoint; ep != nil {
			st["port"], st["configuration_endpoint_address"] = aws.ToInt32(ep.Port), aws.ToString(ep.Address)
		}
		return st
	}
	waitTF(t, "create", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(c, "tf-cm"))
	st := read()
	if d := tfPlan(config, st, rgOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}
	if a, _ := st["configuration_endpoint_address"].(string); !strings.HasPrefix(a, "127.") || a == "127.0.0.1" {
		t.Errorf("configuration endpoint %v", st["configuration_endpoint_address"])
	}
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tf-cm"), ApplyImmediately: aws.Bool(true),
		ReplicationGroupDescription: aws.String("tf cluster v2"), SnapshotWindow: aws.String("03:00-04:00"), ClusterMode: types.ClusterModeEnabled}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "update", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(c, "tf-cm"))
	config["description"], config["snapshot_window"] = "tf cluster v2", "03:00-04:00"
	if d := tfPlan(config, read(), rgOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after update is not empty:\n%s", strings.Join(d, "\n"))
	}
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("tf-cm")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "available", "deleting"}, "", rgStatus(c, "tf-cm"))
}
