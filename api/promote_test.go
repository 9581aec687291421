package api_test

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestModifyReplicationGroup_PrimaryClusterId promotes a chosen replica of
// a cluster-mode-disabled group (Replication.PromoteReplica): refused while
// automatic failover is on, for a cluster of no group or another's, and in
// cluster mode; kept pending without ApplyImmediately; with it, the group
// is modifying until the named member, not another replica, is the primary
// on its node, holding the data, and the former primary follows it.
func TestModifyReplicationGroup_PrimaryClusterId(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	for _, in := range []*elasticache.CreateReplicationGroupInput{
		{ReplicationGroupId: aws.String("pr"), ReplicationGroupDescription: aws.String("x"), NumCacheClusters: aws.Int32(3), AutomaticFailoverEnabled: aws.Bool(true)},
		{ReplicationGroupId: aws.String("other"), ReplicationGroupDescription: aws.String("x"), NumCacheClusters: aws.Int32(1)},
		{ReplicationGroupId: aws.String("cm"), ReplicationGroupDescription: aws.String("x"), NumNodeGroups: aws.Int32(1), ReplicasPerNodeGroup: aws.Int32(1),
			AutomaticFailoverEnabled: aws.Bool(true), CacheParameterGroupName: aws.String("default.redis7.cluster.on")},
	} {
		if _, err := c.CreateReplicationGroup(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	rg := waitRG(t, c, "pr", "available")
	waitRG(t, c, "other", "available")
	waitRG(t, c, "cm", "available")
	primary := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", aws.ToString(rg.NodeGroups[0].PrimaryEndpoint.Address), aws.ToInt32(rg.NodeGroups[0].PrimaryEndpoint.Port))})
	defer primary.Close()
	for i := range 200 {
		if err := primary.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	modify := func(id, primaryID string, now bool) (*elasticache.ModifyReplicationGroupOutput, error) {
		return c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String(id), PrimaryClusterId: aws.String(primaryID), ApplyImmediately: aws.Bool(now)})
	}

	_, err := modify("pr", "pr-003", true)
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("pr"),
		AutomaticFailoverEnabled: aws.Bool(false), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "pr", "available")
	_, err = modify("pr", "nope-001", true)
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	_, err = modify("pr", "other-001", true)
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = modify("cm", "cm-0001-002", true)
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("pr"),
		PrimaryClusterId: aws.String("pr-003"), AutomaticFailoverEnabled: aws.Bool(true), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)

	// Without ApplyImmediately: pending, nothing moves.
	out, err := modify("pr", "pr-003", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.ReplicationGroup; aws.ToString(got.Status) != "available" || aws.ToString(got.PendingModifiedValues.PrimaryClusterId) != "pr-003" {
		t.Fatalf("deferred promotion: status %s, pending primary %q", aws.ToString(got.Status), aws.ToString(got.PendingModifiedValues.PrimaryClusterId))
	}
	if role := memberRole(waitRG(t, c, "pr", "available"), "pr-001"); role != "primary" {
		t.Fatalf("pr-001 is %s after a deferred promotion", role)
	}

	// Applied now: pr-003 (not pr-002, which a TestFailover could pick).
	out, err = modify("pr", "pr-003", true)
	if err != nil {
		t.Fatal(err)
	}
	if got := out.ReplicationGroup; aws.ToString(got.Status) != "modifying" || got.PendingModifiedValues.PrimaryClusterId != nil {
		t.Fatalf("promotion: status %s, pending primary %q", aws.ToString(got.Status), aws.ToString(got.PendingModifiedValues.PrimaryClusterId))
	}
	rg = waitRG(t, c, "pr", "available")
	for id, want := range map[string]string{"pr-001": "replica", "pr-002": "replica", "pr-003": "primary"} {
		if role := memberRole(rg, id); role != want {
			t.Fatalf("%s is %s after PrimaryClusterId pr-003, want %s: %+v", id, role, want, rg.NodeGroups[0].NodeGroupMembers)
		}
	}
	np := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", aws.ToString(rg.NodeGroups[0].PrimaryEndpoint.Address), aws.ToInt32(rg.NodeGroups[0].PrimaryEndpoint.Port))})
	defer np.Close()
	if err := np.Set(ctx, "after", 1, 0).Err(); err != nil {
		t.Fatalf("write to the new primary: %v", err)
	}
	if n, err := np.DBSize(ctx).Result(); err != nil || n != 201 {
		t.Fatalf("new primary holds %d keys (%v)", n, err)
	}
	for _, m := range rg.NodeGroups[0].NodeGroupMembers {
		n := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", aws.ToString(m.ReadEndpoint.Address), aws.ToInt32(m.ReadEndpoint.Port))})
		role, err := n.Do(ctx, "ROLE").Slice()
		n.Close()
		want := "slave"
		if aws.ToString(m.CacheClusterId) == "pr-003" {
			want = "master"
		}
		if err != nil || len(role) == 0 || role[0] != want {
			t.Fatalf("node of %s: ROLE %v (%v), want %s", aws.ToString(m.CacheClusterId), role, err, want)
		}
	}
	wantEvents(t, c, "pr", "Failover from primary node pr-001 to replica node pr-003 completed")

	// The primary already: no modification.
	_, err = modify("pr", "pr-003", true)
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}

// memberRole is the CurrentRole a cluster-mode-disabled group reports for
// a member cluster ("" if it is not one).
func memberRole(rg types.ReplicationGroup, id string) string {
	for _, m := range rg.NodeGroups[0].NodeGroupMembers {
		if aws.ToString(m.CacheClusterId) == id {
			return aws.ToString(m.CurrentRole)
		}
	}
	return ""
}
