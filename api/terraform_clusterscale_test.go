package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestTerraform_ClusterModeScalePlanEmpty replays the provider's update of
// a cluster-mode aws_elasticache_replication_group's num_node_groups and
// replicas_per_node_group (spec: Update step 1), up and down: each change
// is its own call and wait, and the plan after each read is empty.
func TestTerraform_ClusterModeScalePlanEmpty(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	config := tfState{
		"description": "tf scale", "num_node_groups": 2, "replicas_per_node_group": 1, "node_type": "cache.t4g.small",
		"engine": "redis", "engine_version": "7.0", "automatic_failover_enabled": true, "transit_encryption_enabled": true,
		"parameter_group_name": "default.redis7.cluster.on", "cluster_mode": "enabled", "num_cache_clusters": 4,
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-scale"), ReplicationGroupDescription: aws.String("tf scale"),
		AutomaticFailoverEnabled: aws.Bool(true), CacheNodeType: aws.String("cache.t4g.small"), TransitEncryptionEnabled: aws.Bool(true),
		Engine: aws.String("redis"), EngineVersion: aws.String("7.0"), ClusterMode: "enabled",
		NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1), CacheParameterGroupName: aws.String("default.redis7.cluster.on"),
	}); err != nil {
		t.Fatal(err)
	}
	pending := []string{"creating", "modifying", "snapshotting"}
	waitTF(t, "create", pending, "available", rgStatus(c, "tf-scale"))
	plan := func(when string) {
		t.Helper()
		if d := tfPlan(config, tfReadReplicationGroup(t, c, "tf-scale"), rgOptionalDefaults); len(d) > 0 {
			t.Errorf("plan %s is not empty:\n%s", when, strings.Join(d, "\n"))
		}
	}
	plan("after create")

	// num_node_groups 2 -> 3, replicas_per_node_group 1 -> 2.
	if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{
		ReplicationGroupId: aws.String("tf-scale"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "shards up", pending, "available", rgStatus(c, "tf-scale"))
	if _, err := c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{
		ReplicationGroupId: aws.String("tf-scale"), NewReplicaCount: aws.Int32(2), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "replicas up", pending, "available", rgStatus(c, "tf-scale"))
	config["num_node_groups"], config["replicas_per_node_group"], config["num_cache_clusters"] = 3, 2, 9
	plan("after scaling up")

	// Back down: the provider removes the last node groups.
	if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{
		ReplicationGroupId: aws.String("tf-scale"), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true), NodeGroupsToRemove: []string{"0003"}}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "shards down", pending, "available", rgStatus(c, "tf-scale"))
	if _, err := c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{
		ReplicationGroupId: aws.String("tf-scale"), NewReplicaCount: aws.Int32(1), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "replicas down", pending, "available", rgStatus(c, "tf-scale"))
	config["num_node_groups"], config["replicas_per_node_group"], config["num_cache_clusters"] = 2, 1, 4
	plan("after scaling down")

	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("tf-scale")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "available", "deleting"}, "", rgStatus(c, "tf-scale"))
}
