package api_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/aws/smithy-go"

	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
)

// TestFailover is limited as ElastiCache documents it: up to 15 node
// groups of an account in any rolling 24 hours; the 16th call answers
// APICallRateForCustomerExceeded (400) and changes nothing; another
// region counts on its own, and a day later the calls are allowed again.
// (The API rule only: no nodes, the groups settle at once.)
func TestClusterScale_TestFailoverRateLimit(t *testing.T) {
	day := time.Date(2026, 5, 4, 9, 0, 0, 0, time.UTC)
	clk := &clock{t: day}
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine, c.Now = true, clk.Now })
	c, ctx := ts.Client, t.Context()
	create := func(c *elasticache.Client, id string, shards int32) {
		t.Helper()
		if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
			ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("rate"),
			NumNodeGroups: aws.Int32(shards), ReplicasPerNodeGroup: aws.Int32(1), AutomaticFailoverEnabled: aws.Bool(true),
		}); err != nil {
			t.Fatal(err)
		}
		waitRGWith(t, c, id, "available")
	}
	failover := func(c *elasticache.Client, id string, ng int) error {
		t.Helper()
		_, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String(id), NodeGroupId: aws.String(fmt.Sprintf("%04d", ng))})
		if err == nil {
			waitRGWith(t, c, id, "available")
		}
		return err
	}
	// 15 node groups over two groups: the account's calls are counted
	// together.
	create(c, "rl-a", 10)
	create(c, "rl-b", 10)
	for ng := 1; ng <= 10; ng++ {
		clk.Set(day.Add(time.Duration(ng) * time.Minute))
		if err := failover(c, "rl-a", ng); err != nil {
			t.Fatalf("TestFailover %d of rl-a: %v", ng, err)
		}
	}
	for ng := 1; ng <= 5; ng++ {
		clk.Set(day.Add(time.Duration(10+ng) * time.Minute))
		if err := failover(c, "rl-b", ng); err != nil {
			t.Fatalf("TestFailover %d of rl-b: %v", ng, err)
		}
	}
	clk.Set(day.Add(2 * time.Hour))
	err := failover(c, "rl-b", 6)
	keywardtest.WantError(t, err, "APICallRateForCustomerExceeded", 400)
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorMessage() != "The customer has exceeded the allowed rate of API calls." {
		t.Fatalf("refusal %v", err)
	}
	out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("rl-b")})
	if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
		t.Fatalf("a refused TestFailover changed the group: %v %v", err, out)
	}
	// Another region of the account has its own count.
	west := ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	create(west, "rl-w", 1)
	if err := failover(west, "rl-w", 1); err != nil {
		t.Fatalf("TestFailover in another region: %v", err)
	}
	// The window rolls: 24 hours after the first call one call is free
	// again, and only one.
	clk.Set(day.Add(24*time.Hour + time.Minute + time.Second))
	if err := failover(c, "rl-b", 6); err != nil {
		t.Fatalf("TestFailover after the first call left the window: %v", err)
	}
	keywardtest.WantError(t, failover(c, "rl-b", 7), "APICallRateForCustomerExceeded", 400)
}

// waitRGWith is waitRG for a given client (another region).
func waitRGWith(t *testing.T, c *elasticache.Client, id, status string) {
	t.Helper()
	keywardtest.Eventually(t, 20*time.Second, "replication group "+id+" "+status, func() bool {
		out, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		return err == nil && aws.ToString(out.ReplicationGroups[0].Status) == status
	})
}

// After a TestFailover a shard's primary is not its first member: adding
// shards moves slots from the primaries the nodes report, a new shard
// gets as many nodes as the smallest existing shard (ElastiCache's online
// resharding), removing the failed-over shard takes its slots from its
// current primary, and a snapshot taken after all that restores every key
// onto every node of the shards owning them.
func TestClusterScale_ReshardAndRestoreAfterFailover(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	rg := createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("af"), ReplicationGroupDescription: aws.String("after failover"), NumNodeGroups: aws.Int32(2),
		AutomaticFailoverEnabled: aws.Bool(true),
		NodeGroupConfiguration: []types.NodeGroupConfiguration{
			{NodeGroupId: aws.String("0001"), ReplicaCount: aws.Int32(2)},
			{NodeGroupId: aws.String("0002"), ReplicaCount: aws.Int32(1)},
		},
	})
	rc := clusterClient(rg)
	defer rc.Close()
	writeClusterKeys(t, rc)

	if _, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("af"), NodeGroupId: aws.String("0001")}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "af", "available")
	failedOver(t, c, "af", "af-0001-001")
	// The smallest shard has 2 nodes: a new shard's zones name 2 zones.
	_, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("af"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true),
		ReshardingConfiguration: []types.ReshardingConfiguration{{PreferredAvailabilityZones: []string{"us-east-1a", "us-east-1b", "us-east-1c"}}}})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("af"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true),
		ReshardingConfiguration: []types.ReshardingConfiguration{{PreferredAvailabilityZones: []string{"us-east-1b", "us-east-1c"}}}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	rg = waitRG(t, c, "af", "available")
	members := map[string]int{}
	for _, ng := range rg.NodeGroups {
		members[aws.ToString(ng.NodeGroupId)] = len(ng.NodeGroupMembers)
	}
	if len(rg.NodeGroups) != 3 || members["0001"] != 3 || members["0002"] != 2 || members["0003"] != 2 {
		t.Fatalf("members per node group after 2 -> 3: %v", members)
	}
	checkClusterKeys(t, c, rg)

	// Remove the failed-over shard: its slots leave from its primary.
	if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("af"), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true),
		NodeGroupsToRemove: []string{"0001"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	rg = waitRG(t, c, "af", "available")
	if len(rg.NodeGroups) != 2 {
		t.Fatalf("%d node groups after 3 -> 2", len(rg.NodeGroups))
	}
	checkClusterKeys(t, c, rg)

	// Fail the new shard over too, then snapshot and restore into 3 shards.
	if _, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("af"), NodeGroupId: aws.String("0003")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "af", "available")
	failedOver(t, c, "af", "af-0003-001")
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("af"), SnapshotName: aws.String("af-snap")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, c, "af-snap", "available")
	restored := createClusterRG(t, c, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("af-r"), ReplicationGroupDescription: aws.String("restored"),
		NumNodeGroups: aws.Int32(3), ReplicasPerNodeGroup: aws.Int32(1), SnapshotName: aws.String("af-snap")})
	checkClusterKeys(t, c, restored)
}

// failedOver waits for group id's event saying that primary handed over
// to a replica.
func failedOver(t *testing.T, c *elasticache.Client, id, primary string) {
	t.Helper()
	keywardtest.Eventually(t, 20*time.Second, primary+" failed over", func() bool {
		d, err := c.DescribeEvents(t.Context(), &elasticache.DescribeEventsInput{SourceIdentifier: aws.String(id), SourceType: types.SourceTypeReplicationGroup})
		if err != nil {
			return false
		}
		for _, e := range d.Events {
			if strings.HasPrefix(aws.ToString(e.Message), "Failover from primary node "+primary+" to replica node ") {
				return true
			}
		}
		return false
	})
}
