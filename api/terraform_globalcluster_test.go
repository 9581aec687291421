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

// The Terraform sequence of aws_elasticache_global_replication_group with a
// cluster-mode primary (../shared/spec/terraform-provider.md §2, §10): the
// provider's v2 num_node_groups is applied after Create with
// Increase/DecreaseNodeGroupsInGlobalReplicationGroup, and Read reports
// cluster_enabled and global_node_groups.

// tfReadClusterGlobal is tfReadGlobal with the v2 node-group attributes.
func tfReadClusterGlobal(t *testing.T, c *elasticache.Client, id string) tfState {
	t.Helper()
	st := tfReadGlobal(t, c, id)
	g := describeGlobal(t, c, id)
	st["num_node_groups"] = len(g.GlobalNodeGroups)
	for i, ng := range g.GlobalNodeGroups {
		if !strings.HasPrefix(aws.ToString(ng.GlobalNodeGroupId), id+"-") || aws.ToString(ng.Slots) == "" {
			t.Fatalf("global node group %d: %+v", i, ng)
		}
	}
	return st
}

// waitClusterGlobalAvailable is waitGlobalAvailable with room for
// reshardings of both regions on a loaded machine (the provider waits up
// to 60 minutes).
func waitClusterGlobalAvailable(t *testing.T, c *elasticache.Client, id string) {
	t.Helper()
	st := globalStatus(c, id)
	keywardtest.Eventually(t, 2*time.Minute, "global "+id+" available", func() bool {
		got, found := st()
		switch {
		case got == "available" || got == "primary-only":
			return true
		case !found || got == "creating" || got == "modifying":
			return false
		}
		t.Fatalf("global %s: unexpected state %q", id, got)
		return false
	})
}

func TestTerraform_GlobalClusterModePlanEmpty(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	east, west := ts.Client, ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := t.Context()

	// The primary aws_elasticache_replication_group, cluster mode (§2).
	if _, err := east.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tfc-primary"), ReplicationGroupDescription: aws.String("primary"),
		AutomaticFailoverEnabled: aws.Bool(true), CacheNodeType: aws.String("cache.m7g.large"), TransitEncryptionEnabled: aws.Bool(true),
		Engine: aws.String("redis"), NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "primary create", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(east, "tfc-primary"))

	// Create (§10), then the configured num_node_groups (3) differs: Increase, and the waiter.
	config := tfState{"global_replication_group_description": "tf cluster global", "primary_replication_group_id": "tfc-primary",
		"num_node_groups": 3, "cluster_enabled": true}
	out, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("tfc"), PrimaryReplicationGroupId: aws.String("tfc-primary"),
		GlobalReplicationGroupDescription: aws.String("tf cluster global")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.GlobalReplicationGroup.GlobalReplicationGroupId)
	waitClusterGlobalAvailable(t, east, id)
	if st := tfReadClusterGlobal(t, east, id); st["num_node_groups"] != 2 {
		t.Fatalf("global before the increase: %v", st)
	}
	if _, err := east.IncreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.IncreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(id), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitClusterGlobalAvailable(t, east, id)
	if d := tfPlan(config, tfReadClusterGlobal(t, east, id), nil); len(d) > 0 {
		t.Errorf("plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}

	// The secondary aws_elasticache_replication_group joins with
	// replicas_per_node_group; its node groups are the primary's.
	secConfig := tfState{"description": "secondary", "replicas_per_node_group": 1}
	if _, err := west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tfc-secondary"), ReplicationGroupDescription: aws.String("secondary"),
		GlobalReplicationGroupId: aws.String(id), ReplicasPerNodeGroup: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "secondary create", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(west, "tfc-secondary"))
	waitClusterGlobalAvailable(t, west, id)
	sec := tfReadReplicationGroup(t, west, "tfc-secondary")
	if d := tfPlan(secConfig, sec, nil); len(d) > 0 {
		t.Errorf("secondary plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}
	if sec["num_node_groups"] != 3 || sec["node_type"] != "cache.m7g.large" {
		t.Errorf("secondary did not take the primary's node groups and node type: %v", sec)
	}
	if d := tfPlan(config, tfReadClusterGlobal(t, west, id), nil); len(d) > 0 {
		t.Errorf("global plan after the secondary joined is not empty:\n%s", strings.Join(d, "\n"))
	}

	// Update: num_node_groups 3 → 2 (Decrease), then the description.
	if _, err := east.DecreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.DecreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(id), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true),
		GlobalNodeGroupsToRetain: []string{id + "-0001", id + "-0002"}}); err != nil {
		t.Fatal(err)
	}
	waitClusterGlobalAvailable(t, east, id)
	if _, err := east.ModifyGlobalReplicationGroup(ctx, &elasticache.ModifyGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(id),
		ApplyImmediately: aws.Bool(true), GlobalReplicationGroupDescription: aws.String("v2")}); err != nil {
		t.Fatal(err)
	}
	waitClusterGlobalAvailable(t, east, id)
	config["num_node_groups"], config["global_replication_group_description"] = 2, "v2"
	if d := tfPlan(config, tfReadClusterGlobal(t, east, id), nil); len(d) > 0 {
		t.Errorf("plan after update is not empty:\n%s", strings.Join(d, "\n"))
	}
	if d := tfPlan(secConfig, tfReadReplicationGroup(t, west, "tfc-secondary"), nil); len(d) > 0 {
		t.Errorf("secondary plan after update is not empty:\n%s", strings.Join(d, "\n"))
	}

	// Delete the secondary (§2 Delete), then the datastore keeping the
	// primary (§10 Delete), then the primary.
	if _, err := west.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(id), ReplicationGroupId: aws.String("tfc-secondary"), ReplicationGroupRegion: aws.String("us-west-2")}); err != nil {
		t.Fatal(err)
	}
	waitGlobal(t, east, id, "primary-only")
	tfDeleteGlobal(t, east, west, id, "tfc-primary", "tfc-secondary", []string{"creating", "available", "modifying", "deleting"})
}
