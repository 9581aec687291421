package api_test

import (
	"context"
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

// The Terraform AWS provider's sequence for aws_elasticache_global_replication_group
// with a primary and a secondary aws_elasticache_replication_group
// (../shared/spec/terraform-provider.md §2, §10), replayed with the SDK the
// provider uses.

func globalStatus(c *elasticache.Client, id string) func() (string, bool) {
	return func() (string, bool) {
		out, err := c.DescribeGlobalReplicationGroups(context.Background(), &elasticache.DescribeGlobalReplicationGroupsInput{
			GlobalReplicationGroupId: aws.String(id), ShowMemberInfo: aws.Bool(true)})
		if code, _ := keywardtest.APIError(err); code == "GlobalReplicationGroupNotFoundFault" {
			return "", false
		}
		if err != nil || len(out.GlobalReplicationGroups) != 1 {
			return "error", true
		}
		return aws.ToString(out.GlobalReplicationGroups[0].Status), true
	}
}

// waitGlobalAvailable is waitGlobalReplicationGroupAvailable: pending
// creating/modifying, target available or primary-only.
func waitGlobalAvailable(t *testing.T, c *elasticache.Client, id string) {
	t.Helper()
	st := globalStatus(c, id)
	keywardtest.Eventually(t, 30*time.Second, "global "+id+" available", func() bool {
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

// tfReadGlobal is the global replication group's Read (§10).
func tfReadGlobal(t *testing.T, c *elasticache.Client, id string) tfState {
	t.Helper()
	out, err := c.DescribeGlobalReplicationGroups(t.Context(), &elasticache.DescribeGlobalReplicationGroupsInput{
		GlobalReplicationGroupId: aws.String(id), ShowMemberInfo: aws.Bool(true)})
	if err != nil || len(out.GlobalReplicationGroups) != 1 {
		t.Fatalf("Read: DescribeGlobalReplicationGroups(%s) = %v, %v", id, out, err)
	}
	g := out.GlobalReplicationGroups[0]
	if _, err := version.NewVersion(aws.ToString(g.EngineVersion)); err != nil {
		t.Fatalf("Read: engine version %q does not parse: %v", aws.ToString(g.EngineVersion), err)
	}
	desc := aws.ToString(g.GlobalReplicationGroupDescription)
	if desc == "" {
		desc = " "
	}
	s := tfState{
		"arn": aws.ToString(g.ARN), "at_rest_encryption_enabled": aws.ToBool(g.AtRestEncryptionEnabled),
		"auth_token_enabled": aws.ToBool(g.AuthTokenEnabled), "cache_node_type": aws.ToString(g.CacheNodeType),
		"cluster_enabled": aws.ToBool(g.ClusterEnabled), "engine": aws.ToString(g.Engine),
		"global_replication_group_description": desc, "global_replication_group_id": aws.ToString(g.GlobalReplicationGroupId),
		"transit_encryption_enabled": aws.ToBool(g.TransitEncryptionEnabled), "global_node_groups": len(g.GlobalNodeGroups),
	}
	if len(g.Members) > 0 {
		s["automatic_failover_enabled"] = g.Members[0].AutomaticFailover == types.AutomaticFailoverStatusEnabled
	}
	for _, m := range g.Members {
		if aws.ToString(m.Role) == "PRIMARY" {
			s["primary_replication_group_id"] = aws.ToString(m.ReplicationGroupId)
		}
	}
	return s
}

func TestTerraform_GlobalReplicationGroupPlanEmpty(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	east, west := ts.Client, ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := t.Context()

	// The primary aws_elasticache_replication_group (§2 Create).
	if _, err := east.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-primary"), ReplicationGroupDescription: aws.String("primary"),
		AutomaticFailoverEnabled: aws.Bool(true), CacheNodeType: aws.String("cache.m7g.large"), TransitEncryptionEnabled: aws.Bool(true),
		Engine: aws.String("redis"), EngineVersion: aws.String("7.0"), NumCacheClusters: aws.Int32(2),
	}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "primary create", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(east, "tf-primary"))

	// aws_elasticache_global_replication_group Create (§10).
	config := tfState{"global_replication_group_description": "tf global", "primary_replication_group_id": "tf-primary"}
	out, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("tf"), PrimaryReplicationGroupId: aws.String("tf-primary"),
		GlobalReplicationGroupDescription: aws.String("tf global")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.GlobalReplicationGroup.GlobalReplicationGroupId)
	waitGlobalAvailable(t, east, id)
	st := tfReadGlobal(t, east, id)
	if d := tfPlan(config, st, nil); len(d) > 0 {
		t.Errorf("plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}
	if st["global_replication_group_id"] != "ldgnf-tf" || st["cache_node_type"] != "cache.m7g.large" || st["automatic_failover_enabled"] != true ||
		st["transit_encryption_enabled"] != true || st["arn"] != "arn:aws:elasticache::000000000000:globalreplicationgroup:ldgnf-tf" {
		t.Errorf("state after create: %v", st)
	}

	// The secondary aws_elasticache_replication_group: with
	// global_replication_group_id the provider sends neither failover,
	// node type, encryption nor engine; then both waiters.
	secConfig := tfState{"description": "secondary", "num_cache_clusters": 2}
	if _, err := west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-secondary"), ReplicationGroupDescription: aws.String("secondary"),
		GlobalReplicationGroupId: aws.String(id), NumCacheClusters: aws.Int32(2),
	}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "secondary create", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(west, "tf-secondary"))
	waitGlobalAvailable(t, west, id)
	sec := tfReadReplicationGroup(t, west, "tf-secondary")
	if d := tfPlan(secConfig, sec, nil); len(d) > 0 {
		t.Errorf("secondary plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}
	rgs, err := west.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("tf-secondary")})
	if err != nil || rgs.ReplicationGroups[0].GlobalReplicationGroupInfo == nil ||
		aws.ToString(rgs.ReplicationGroups[0].GlobalReplicationGroupInfo.GlobalReplicationGroupId) != id {
		t.Fatalf("secondary's global_replication_group_id: %+v, %v", rgs, err)
	}
	if sec["node_type"] != "cache.m7g.large" || sec["transit_encryption_enabled"] != true || sec["automatic_failover_enabled"] != true {
		t.Errorf("secondary did not take the primary's settings: %v", sec)
	}
	if d := tfPlan(config, tfReadGlobal(t, east, id), nil); len(d) > 0 {
		t.Errorf("global plan after the secondary joined is not empty:\n%s", strings.Join(d, "\n"))
	}

	// Update: one ModifyGlobalReplicationGroup per changed field, each
	// followed by the waiter.
	for _, in := range []*elasticache.ModifyGlobalReplicationGroupInput{
		{GlobalReplicationGroupDescription: aws.String("tf global v2")},
		{CacheNodeType: aws.String("cache.m7g.xlarge")},
		{AutomaticFailoverEnabled: aws.Bool(false)},
	} {
		in.GlobalReplicationGroupId, in.ApplyImmediately = aws.String(id), aws.Bool(true)
		if _, err := east.ModifyGlobalReplicationGroup(ctx, in); err != nil {
			t.Fatal(err)
		}
		waitGlobalAvailable(t, east, id)
	}
	config["global_replication_group_description"], config["cache_node_type"], config["automatic_failover_enabled"] = "tf global v2", "cache.m7g.xlarge", false
	if d := tfPlan(config, tfReadGlobal(t, east, id), nil); len(d) > 0 {
		t.Errorf("plan after update is not empty:\n%s", strings.Join(d, "\n"))
	}

	// Delete the secondary (§2 Delete 1-3): disassociate, wait until the
	// member is gone, delete the group.
	if _, err := west.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(id), ReplicationGroupId: aws.String("tf-secondary"), ReplicationGroupRegion: aws.String("us-west-2")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 30*time.Second, "member detached", func() bool {
		out, err := east.DescribeGlobalReplicationGroups(ctx, &elasticache.DescribeGlobalReplicationGroupsInput{GlobalReplicationGroupId: aws.String(id), ShowMemberInfo: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.GlobalReplicationGroups[0].Members {
			if aws.ToString(m.ReplicationGroupId) == "tf-secondary" {
				if s := aws.ToString(m.Status); s != "associated" && s != "disassociating" {
					t.Fatalf("member status %q while detaching", s)
				}
				return false
			}
		}
		return true
	})
	// A second disassociation is what the provider treats as done.
	_, err = west.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(id), ReplicationGroupId: aws.String("tf-secondary"), ReplicationGroupRegion: aws.String("us-west-2")})
	if code, msg := errorMessage(err); code != "InvalidParameterValue" && code != "GlobalReplicationGroupNotFoundFault" ||
		code == "InvalidParameterValue" && !strings.Contains(msg, "is not associated with Global Replication Group") {
		t.Errorf("second disassociate = %v", err)
	}
	tfDeleteGlobal(t, east, west, id, "tf-primary", "tf-secondary", []string{"creating", "available", "deleting"})
}

// tfDeleteGlobal replays the provider's deletions once the secondary is
// detached: the secondary replication group (§2 Delete; retried on
// InvalidReplicationGroupState while it finishes modifying, then waited
// for through secondaryPending), the global datastore keeping the primary
// (§10 Delete; retried on InvalidGlobalReplicationGroupState), then the
// primary.
func tfDeleteGlobal(t *testing.T, east, west *elasticache.Client, id, primary, secondary string, secondaryPending []string) {
	t.Helper()
	ctx := t.Context()
	retryOn(t, "InvalidReplicationGroupState", func() error {
		_, err := west.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(secondary)})
		return err
	})
	waitTF(t, "secondary delete", secondaryPending, "", rgStatus(west, secondary))
	retryOn(t, "InvalidGlobalReplicationGroupState", func() error {
		_, err := east.DeleteGlobalReplicationGroup(ctx, &elasticache.DeleteGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(id), RetainPrimaryReplicationGroup: aws.Bool(true)})
		return err
	})
	waitTF(t, "global delete", []string{"available", "primary-only", "modifying", "deleting"}, "", globalStatus(east, id))
	if _, err := east.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(primary)}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "primary delete", []string{"creating", "available", "deleting"}, "", rgStatus(east, primary))
}

// retryOn calls call until it returns something other than the AWS error
// code, as the provider retries a call refused while a resource is busy.
func retryOn(t *testing.T, code string, call func() error) {
	t.Helper()
	for {
		err := call()
		if got, _ := keywardtest.APIError(err); got == code {
			time.Sleep(50 * time.Millisecond)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		return
	}
}
