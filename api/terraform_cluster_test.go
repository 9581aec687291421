package api_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/hashicorp/go-version"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// tfReadCluster is resourceClusterRead (terraform-provider.md §3 Read).
func tfReadCluster(t *testing.T, c *elasticache.Client, id string) tfState {
	t.Helper()
	ctx := t.Context()
	out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id), ShowCacheNodeInfo: aws.Bool(true)})
	if err != nil || len(out.CacheClusters) != 1 {
		t.Fatalf("Read: DescribeCacheClusters(%s) = %v, %v", id, out, err)
	}
	cl := out.CacheClusters[0]
	var sgs []string
	for _, sg := range cl.SecurityGroups {
		sgs = append(sgs, aws.ToString(sg.SecurityGroupId))
	}
	s := tfState{
		"cluster_id": aws.ToString(cl.CacheClusterId), "node_type": aws.ToString(cl.CacheNodeType), "engine": aws.ToString(cl.Engine),
		"engine_version": tfClusterEngineVersion(t, cl), "auto_minor_version_upgrade": aws.ToBool(cl.AutoMinorVersionUpgrade),
		"subnet_group_name": aws.ToString(cl.CacheSubnetGroupName), "security_group_ids": strings.Join(sgs, ","),
		"parameter_group_name":       aws.ToString(cl.CacheParameterGroup.CacheParameterGroupName),
		"maintenance_window":         aws.ToString(cl.PreferredMaintenanceWindow),
		"log_delivery_configuration": len(cl.LogDeliveryConfigurations), "snapshot_window": aws.ToString(cl.SnapshotWindow),
		"snapshot_retention_limit": aws.ToInt32(cl.SnapshotRetentionLimit), "num_cache_nodes": aws.ToInt32(cl.NumCacheNodes),
		"replication_group_id": aws.ToString(cl.ReplicationGroupId), "arn": aws.ToString(cl.ARN),
		"ip_discovery": string(cl.IpDiscovery), "network_type": string(cl.NetworkType),
		"transit_encryption_enabled": aws.ToBool(cl.TransitEncryptionEnabled),
	}
	if ep := cl.ConfigurationEndpoint; ep != nil {
		s["port"] = aws.ToInt32(ep.Port)
		s["configuration_endpoint"] = fmt.Sprintf("%s:%d", aws.ToString(ep.Address), aws.ToInt32(ep.Port))
		s["cluster_address"] = aws.ToString(ep.Address)
	} else {
		s["port"] = aws.ToInt32(cl.CacheNodes[0].Endpoint.Port) // no nil check in the provider
	}
	s["notification_topic_arn"] = "" // unset in state without an active topic
	if n := cl.NotificationConfiguration; n != nil && aws.ToString(n.TopicStatus) == "active" {
		s["notification_topic_arn"] = aws.ToString(n.TopicArn)
	}
	s["az_mode"] = "single-az"
	if aws.ToString(cl.PreferredAvailabilityZone) == "Multiple" {
		s["az_mode"] = "cross-az"
	}
	for _, n := range cl.CacheNodes {
		if n.CacheNodeId == nil || n.Endpoint == nil || n.Endpoint.Address == nil || n.Endpoint.Port == nil || n.CustomerAvailabilityZone == nil {
			t.Fatalf("Read: Unexpected nil pointer in cache node %+v", n)
		}
	}
	s["cache_nodes"] = len(cl.CacheNodes)
	tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: cl.ARN})
	if err != nil {
		t.Fatalf("ListTagsForResource(%s): %v", aws.ToString(cl.ARN), err)
	}
	s["tags"] = tagString(tags.TagList)
	return s
}

var clusterOptionalDefaults = tfState{
	"auto_minor_version_upgrade": true, "notification_topic_arn": "", "replication_group_id": "",
	"log_delivery_configuration": 0, "snapshot_retention_limit": 0, "tags": "", "transit_encryption_enabled": false,
}

func TestTerraform_MemcachedClusterPlanEmpty(t *testing.T) {
	redistest.Memcached(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	config := tfState{
		"cluster_id": "tf-mc", "engine": "memcached", "node_type": "cache.t4g.small", "num_cache_nodes": 2,
		"az_mode": "cross-az", "parameter_group_name": "default.memcached1.6", "maintenance_window": "sun:05:00-sun:06:00",
		"security_group_ids": "sg-0123456789abcdef0", "notification_topic_arn": "arn:aws:sns:us-east-1:000000000000:events",
		"subnet_group_name": "default", "tags": "env=test",
	}
	// Create (§3): SecurityGroupIds always, AutoMinorVersionUpgrade=true always.
	out, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("tf-mc"), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
		SecurityGroupIds: []string{"sg-0123456789abcdef0"}, CacheNodeType: aws.String("cache.t4g.small"), NumCacheNodes: aws.Int32(2),
		Engine: aws.String("memcached"), AutoMinorVersionUpgrade: aws.Bool(true), CacheSubnetGroupName: aws.String("default"),
		CacheParameterGroupName: aws.String("default.memcached1.6"), PreferredMaintenanceWindow: aws.String("sun:05:00-sun:06:00"),
		NotificationTopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:events"), AZMode: types.AZModeCrossAz,
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.CacheCluster.CacheClusterId) != "tf-mc" || aws.ToString(out.CacheCluster.ARN) == "" {
		t.Fatalf("create answered %+v", out.CacheCluster)
	}
	waitTF(t, "create", []string{"creating", "modifying", "snapshotting", "rebooting cluster nodes"}, "available", clusterStatus(c, "tf-mc"))
	st := tfReadCluster(t, c, "tf-mc")
	if d := tfPlan(config, st, clusterOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}
	if st["cache_nodes"] != 2 || st["configuration_endpoint"] == "" {
		t.Errorf("state %v", st)
	}

	// Update: grow to 3 nodes, new node type, window and security groups.
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("tf-mc"), ApplyImmediately: aws.Bool(true), NumCacheNodes: aws.Int32(3),
		CacheNodeType: aws.String("cache.t4g.medium"), PreferredMaintenanceWindow: aws.String("mon:05:00-mon:06:00"),
		SecurityGroupIds: []string{"sg-0123456789abcdef0", "sg-00000000aaaaaaaa1"},
	}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "update", []string{"creating", "modifying", "snapshotting", "rebooting cluster nodes"}, "available", clusterStatus(c, "tf-mc"))
	for k, v := range map[string]any{"num_cache_nodes": 3, "node_type": "cache.t4g.medium", "maintenance_window": "mon:05:00-mon:06:00",
		"security_group_ids": "sg-0123456789abcdef0,sg-00000000aaaaaaaa1"} {
		config[k] = v
	}
	st = tfReadCluster(t, c, "tf-mc")
	if d := tfPlan(config, st, clusterOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after update is not empty:\n%s", strings.Join(d, "\n"))
	}
	for _, n := range ts.Memcached().Nodes() {
		if n.MemoryMB != 3164 {
			t.Errorf("node %s runs with %d MB after the node type change, want 3164 (cache.t4g.medium)", n.ID, n.MemoryMB)
		}
	}

	// Shrink: CacheNodeIdsToRemove "%04d" from the top.
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("tf-mc"), ApplyImmediately: aws.Bool(true), NumCacheNodes: aws.Int32(2), CacheNodeIdsToRemove: []string{"0003"},
	}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "update", []string{"creating", "modifying", "snapshotting", "rebooting cluster nodes"}, "available", clusterStatus(c, "tf-mc"))
	config["num_cache_nodes"] = 2
	if d := tfPlan(config, tfReadCluster(t, c, "tf-mc"), clusterOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after shrinking is not empty:\n%s", strings.Join(d, "\n"))
	}

	// Delete, then the deleted waiter.
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("tf-mc")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "available", "modifying", "deleting", "incompatible-network", "restore-failed", "snapshotting"}, "", clusterStatus(c, "tf-mc"))
}

// tfClusterEngineVersion is setEngineVersionRedis for aws_elasticache_cluster:
// a redis/valkey version >= 6 is stored as major.minor (the patch goes to
// engine_version_actual); memcached's is stored as reported.
func tfClusterEngineVersion(t *testing.T, cl types.CacheCluster) string {
	t.Helper()
	if aws.ToString(cl.Engine) == "memcached" {
		return aws.ToString(cl.EngineVersion)
	}
	v, err := version.NewVersion(aws.ToString(cl.EngineVersion))
	if err != nil {
		t.Fatalf("Read: engine version %q does not parse: %v", aws.ToString(cl.EngineVersion), err)
	}
	if v.Segments()[0] < 6 {
		return v.String()
	}
	return fmt.Sprintf("%d.%d", v.Segments()[0], v.Segments()[1])
}

// TestTerraform_RedisClusterStackPlanEmpty replays a stack's
// aws_elasticache_cluster (Redis, engine_version "7.1") in the stack's own
// aws_elasticache_parameter_group and aws_elasticache_subnet_group, with
// snapshot_retention_limit and final_snapshot_identifier: the plan is
// empty after create and after an update of its parameter group, and the
// destroy takes the final snapshot before the deleted waiter ends.
func TestTerraform_RedisClusterStackPlanEmpty(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("stack-redis7"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String("Managed by Terraform"),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("stack-redis7"), ParameterNameValues: []types.ParameterNameValue{pnv("timeout", "300")},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("stack-subnets"), CacheSubnetGroupDescription: aws.String("Managed by Terraform"),
		SubnetIds: []string{"subnet-0a1b2c3d", "subnet-0a1b2c3e"},
	}); err != nil {
		t.Fatal(err)
	}
	window := awayFromNow("03:00-04:00", "15:00-16:00")
	config := tfState{
		"cluster_id": "stack-redis", "engine": "redis", "engine_version": "7.1", "node_type": "cache.t4g.small", "num_cache_nodes": 1,
		"parameter_group_name": "stack-redis7", "subnet_group_name": "stack-subnets", "security_group_ids": "sg-0123456789abcdef0",
		"snapshot_retention_limit": 3, "snapshot_window": window, "maintenance_window": "sun:05:00-sun:06:00", "port": 6379,
	}
	// Create (§3): SecurityGroupIds and AutoMinorVersionUpgrade always.
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("stack-redis"), Engine: aws.String("redis"), EngineVersion: aws.String("7.1"),
		CacheNodeType: aws.String("cache.t4g.small"), NumCacheNodes: aws.Int32(1), AutoMinorVersionUpgrade: aws.Bool(true),
		SecurityGroupIds: []string{"sg-0123456789abcdef0"}, CacheParameterGroupName: aws.String("stack-redis7"),
		CacheSubnetGroupName: aws.String("stack-subnets"), SnapshotRetentionLimit: aws.Int32(3), SnapshotWindow: aws.String(window),
		PreferredMaintenanceWindow: aws.String("sun:05:00-sun:06:00"), Port: aws.Int32(6379),
	}); err != nil {
		t.Fatal(err)
	}
	pending := []string{"creating", "modifying", "snapshotting", "rebooting cluster nodes"}
	waitTF(t, "create", pending, "available", clusterStatus(c, "stack-redis"))
	if d := tfPlan(config, tfReadCluster(t, c, "stack-redis"), clusterOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}
	admin := adminClient(t, ts, "stack-redis")
	defer admin.Close()
	keywardtest.Eventually(t, 10*time.Second, "the stack's timeout on the node", func() bool {
		return admin.ConfigGet(ctx, "timeout").Val()["timeout"] == "300"
	})
	if err := admin.Set(ctx, "order:1", "shipped", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// An update of the parameter group resource: the cluster follows, no diff.
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("stack-redis7"), ParameterNameValues: []types.ParameterNameValue{pnv("timeout", "600")},
	}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "the new timeout on the node", func() bool {
		return admin.ConfigGet(ctx, "timeout").Val()["timeout"] == "600"
	})
	if d := tfPlan(config, tfReadCluster(t, c, "stack-redis"), clusterOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after the parameter group's update is not empty:\n%s", strings.Join(d, "\n"))
	}

	// Destroy (§3 Delete) with final_snapshot_identifier.
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{
		CacheClusterId: aws.String("stack-redis"), FinalSnapshotIdentifier: aws.String("stack-redis-final"),
	}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "available", "modifying", "deleting", "incompatible-network", "restore-failed", "snapshotting"}, "",
		clusterStatus(c, "stack-redis"))
	snap := waitSnapshot(t, c, "stack-redis-final", "available")
	if aws.ToString(snap.CacheClusterId) != "stack-redis" || aws.ToString(snap.EngineVersion) != "7.1.0" {
		t.Errorf("final snapshot %+v", snap)
	}
	// The groups are free once the cluster is gone (the stack's destroy
	// deletes them after it).
	if _, err := c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("stack-redis7")}); err != nil {
		t.Errorf("DeleteCacheParameterGroup after the cluster: %v", err)
	}
	if _, err := c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("stack-subnets")}); err != nil {
		t.Errorf("DeleteCacheSubnetGroup after the cluster: %v", err)
	}
}
