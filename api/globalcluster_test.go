package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/engine"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// Cluster-mode global datastores: a secondary cluster in another region
// with the primary's node groups, fed shard by shard from the primary
// cluster's replication streams (reconcile/globalcluster.go); writes to
// it refused; failover, and node groups added to every member.

// globalShardAdmin is an admin client of the engine node of member cluster
// clusterID in region.
func globalShardAdmin(t *testing.T, ts *keywardtest.Server, region, clusterID string) *redis.Client {
	t.Helper()
	id := "000000000000." + region + "." + clusterID
	en, ok := ts.Engine().Node(id)
	if !ok {
		t.Fatalf("no engine node %s", id)
	}
	pw, err := engine.NodeAdminPassword(ts.Config.DataDir, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	return node{addr: en.Addr, tls: ts.Engine().TLSConfig()}.client(engine.AdminUser, pw)
}

// memberShardKeys returns each node group's key count on the node that serves
// its slots (CLUSTER COUNTKEYSINSLOT over its slots is DBSIZE of its
// primary), by node group id.
func memberShardKeys(t *testing.T, ts *keywardtest.Server, c *elasticache.Client, region, id string) map[string]int64 {
	t.Helper()
	rg := waitRG(t, c, id, "available")
	out := map[string]int64{}
	for _, ng := range rg.NodeGroups {
		// Every node of a shard holds its keys once synced: the highest
		// count is the primary's.
		for _, m := range ng.NodeGroupMembers {
			cl := globalShardAdmin(t, ts, region, aws.ToString(m.CacheClusterId))
			n, err := cl.DBSize(context.Background()).Result()
			cl.Close()
			if err == nil && n > out[aws.ToString(ng.NodeGroupId)] {
				out[aws.ToString(ng.NodeGroupId)] = n
			}
		}
	}
	return out
}

// wantGlobalKeys waits until cc serves key prefix:i = i for every i < n.
func wantGlobalKeys(t *testing.T, cc *redis.ClusterClient, prefix string, n int) {
	t.Helper()
	keywardtest.Eventually(t, time.Minute, fmt.Sprintf("%d keys %s:* on the cluster", n, prefix), func() bool {
		for i := range n {
			if v, err := cc.Get(context.Background(), fmt.Sprintf("%s:%d", prefix, i)).Result(); err != nil || v != fmt.Sprint(i) {
				return false
			}
		}
		return true
	})
}

func writeGlobalKeys(t *testing.T, cc *redis.ClusterClient, prefix string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := cc.Set(context.Background(), fmt.Sprintf("%s:%d", prefix, i), i, 0).Err(); err != nil {
			t.Fatalf("SET %s:%d: %v", prefix, i, err)
		}
	}
}

// wantGlobalWriteRefused checks that a tenant write to the cluster is refused
// (NOPERM: see reconcile/globalcluster.go for why not READONLY).
func wantGlobalWriteRefused(t *testing.T, cc *redis.ClusterClient) {
	t.Helper()
	keywardtest.Eventually(t, 15*time.Second, "writes refused", func() bool {
		err := cc.Set(context.Background(), "refused", "x", 0).Err()
		return err != nil && strings.HasPrefix(err.Error(), "NOPERM")
	})
}

func sameGlobalSlots(t *testing.T, a, b types.ReplicationGroup) {
	t.Helper()
	sa, na := slotsOf(a)
	sb, nb := slotsOf(b)
	if na != 16384 || nb != 16384 || len(sa) != len(sb) {
		t.Fatalf("slots %v (%d) and %v (%d)", sa, na, sb, nb)
	}
	for id, s := range sa {
		if sb[id] != s {
			t.Fatalf("node group %s: slots %s and %s", id, s, sb[id])
		}
	}
}

// waitGlobalSettled is waitGlobal for the steps that reshard or resync
// both regions, which take longer on a loaded machine (-race).
func waitGlobalSettled(t *testing.T, c *elasticache.Client, id, status string) types.GlobalReplicationGroup {
	t.Helper()
	var g types.GlobalReplicationGroup
	keywardtest.Eventually(t, 2*time.Minute, "global replication group "+id+" "+status, func() bool {
		out, err := c.DescribeGlobalReplicationGroups(context.Background(), &elasticache.DescribeGlobalReplicationGroupsInput{
			GlobalReplicationGroupId: aws.String(id), ShowMemberInfo: aws.Bool(true)})
		if err != nil || len(out.GlobalReplicationGroups) != 1 {
			return false
		}
		g = out.GlobalReplicationGroups[0]
		return aws.ToString(g.Status) == status
	})
	return g
}

func TestGlobalCluster_ReplicatesShards(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(20*time.Millisecond))
	east, west := ts.Client, ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := t.Context()

	// A cluster-mode primary with data already in it.
	createGlobalRG(t, east, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("cprim"), NumNodeGroups: aws.Int32(2),
		ReplicasPerNodeGroup: aws.Int32(1), CacheNodeType: aws.String("cache.r6g.large"), AutomaticFailoverEnabled: aws.Bool(true),
		TransitEncryptionEnabled: aws.Bool(true)})
	prim := waitRG(t, east, "cprim", "available")
	pc := scaleClient(ts, prim)
	defer pc.Close()
	writeGlobalKeys(t, pc, "k", 0, 300)

	out, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("cg"), PrimaryReplicationGroupId: aws.String("cprim")})
	if err != nil {
		t.Fatal(err)
	}
	const gid = "ldgnf-cg"
	if g := out.GlobalReplicationGroup; !aws.ToBool(g.ClusterEnabled) || len(g.GlobalNodeGroups) != 2 ||
		aws.ToString(g.GlobalNodeGroups[0].GlobalNodeGroupId) != gid+"-0001" || aws.ToString(g.GlobalNodeGroups[0].Slots) != "0-8191" {
		t.Fatalf("create answered %+v", g)
	}
	waitGlobal(t, east, gid, "primary-only")

	// Faults of the node-group operations.
	_, err = east.IncreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.IncreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(false)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.IncreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.IncreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.IncreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.IncreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String("ldgnf-nope"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)
	_, err = east.DecreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.DecreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(1), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = east.DecreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.DecreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(1), ApplyImmediately: aws.Bool(true),
		GlobalNodeGroupsToRemove: []string{gid + "-0001"}, GlobalNodeGroupsToRetain: []string{gid + "-0002"}})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = east.DecreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.DecreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(1), ApplyImmediately: aws.Bool(true),
		GlobalNodeGroupsToRemove: []string{gid + "-0009"}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// The secondary takes the primary's node groups; a different count is
	// refused.
	_, err = west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("csec"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String(gid), NumNodeGroups: aws.Int32(3)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	createGlobalRG(t, west, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("csec"), GlobalReplicationGroupId: aws.String(gid),
		ReplicasPerNodeGroup: aws.Int32(1)})
	// Busy while the secondary joins.
	_, err = east.RebalanceSlotsInGlobalReplicationGroup(ctx, &elasticache.RebalanceSlotsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidGlobalReplicationGroupState", 400)
	sec := waitRG(t, west, "csec", "available")
	g := waitGlobalSettled(t, east, gid, "available")
	if len(g.Members) != 2 || aws.ToString(g.Members[1].Role) != "SECONDARY" || aws.ToString(g.Members[1].Status) != "associated" {
		t.Fatalf("members %+v", g.Members)
	}
	if !aws.ToBool(sec.ClusterEnabled) || aws.ToString(sec.CacheNodeType) != "cache.r6g.large" || !aws.ToBool(sec.TransitEncryptionEnabled) {
		t.Fatalf("secondary %+v", sec)
	}
	sameGlobalSlots(t, prim, sec)

	// Keys written before and after the secondary joined are on its shards.
	writeGlobalKeys(t, pc, "k", 300, 600)
	sc := scaleClient(ts, sec)
	defer sc.Close()
	wantGlobalKeys(t, sc, "k", 600)
	keywardtest.Eventually(t, 15*time.Second, "every shard as its primary's", func() bool {
		p, s := memberShardKeys(t, ts, east, "us-east-1", "cprim"), memberShardKeys(t, ts, west, "us-west-2", "csec")
		return len(p) == 2 && p["0001"] > 0 && p["0002"] > 0 && p["0001"] == s["0001"] && p["0002"] == s["0002"]
	})
	// Deletes and expirations travel too.
	if err := pc.Del(ctx, "k:1").Err(); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 15*time.Second, "k:1 deleted on the secondary", func() bool {
		n, err := sc.Exists(ctx, "k:1").Result()
		return err == nil && n == 0
	})
	if err := pc.Set(ctx, "k:1", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	wantGlobalWriteRefused(t, sc)

	// Failover: the secondary takes the writes, the old primary follows
	// it; writes acknowledged by the old primary while the failover
	// starts are not lost.
	w := startWriter(ctx, pc, "w")
	time.Sleep(100 * time.Millisecond)
	if _, err := west.FailoverGlobalReplicationGroup(ctx, &elasticache.FailoverGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("csec")}); err != nil {
		t.Fatal(err)
	}
	wantGlobalWriteRefused(t, pc)
	w.end()
	g = waitGlobalSettled(t, west, gid, "available")
	if aws.ToString(g.Members[0].ReplicationGroupId) != "csec" || aws.ToString(g.Members[0].Role) != "PRIMARY" {
		t.Fatalf("after failover %+v", g.Members)
	}
	if len(w.acked) == 0 {
		t.Fatal("the writer had no write acknowledged")
	}
	wc := scaleClient(ts, waitRG(t, west, "csec", "available"))
	defer wc.Close()
	if lost, unreadable, err := w.readBack(ctx, wc, "w"); lost > 0 || unreadable > 0 {
		t.Fatalf("of %d acknowledged writes, %d lost by the failover and %d unreadable (last error: %v)", len(w.acked), lost, unreadable, err)
	}
	keywardtest.Eventually(t, 15*time.Second, "the new primary takes writes", func() bool {
		return wc.Set(ctx, "after", "failover", 0).Err() == nil
	})
	writeGlobalKeys(t, wc, "n", 0, 200)
	oc := scaleClient(ts, waitRG(t, east, "cprim", "available"))
	defer oc.Close()
	wantGlobalKeys(t, oc, "n", 200)
	wantGlobalKeys(t, oc, "k", 600)
	wantGlobalWriteRefused(t, oc)

	// Node groups added to every member, slots moved for real in both
	// regions, every key kept on both.
	out2, err := west.IncreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.IncreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true),
		RegionalConfigurations: []types.RegionalConfiguration{{ReplicationGroupId: aws.String("cprim"), ReplicationGroupRegion: aws.String("us-east-1"),
			ReshardingConfiguration: []types.ReshardingConfiguration{{PreferredAvailabilityZones: []string{"us-east-1a", "us-east-1b"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out2.GlobalReplicationGroup.Status) != "modifying" {
		t.Fatalf("increase answered %+v", out2.GlobalReplicationGroup)
	}
	g = waitGlobalSettled(t, west, gid, "available")
	if len(g.GlobalNodeGroups) != 3 || aws.ToString(g.GlobalNodeGroups[2].GlobalNodeGroupId) != gid+"-0003" {
		t.Fatalf("global node groups %+v", g.GlobalNodeGroups)
	}
	newPrim, newSec := waitRG(t, west, "csec", "available"), waitRG(t, east, "cprim", "available")
	if len(newPrim.NodeGroups) != 3 || len(newSec.NodeGroups) != 3 {
		t.Fatalf("node groups %d and %d", len(newPrim.NodeGroups), len(newSec.NodeGroups))
	}
	sameGlobalSlots(t, newPrim, newSec)
	wantGlobalKeys(t, wc, "k", 600)
	wantGlobalKeys(t, oc, "k", 600)
	wantGlobalKeys(t, oc, "n", 200)
	keywardtest.Eventually(t, 15*time.Second, "three shards alike in both regions", func() bool {
		p, s := memberShardKeys(t, ts, west, "us-west-2", "csec"), memberShardKeys(t, ts, east, "us-east-1", "cprim")
		return len(p) == 3 && p["0003"] > 0 && p["0001"] == s["0001"] && p["0002"] == s["0002"] && p["0003"] == s["0003"]
	})

	// And removed again.
	if _, err := west.DecreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.DecreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true),
		GlobalNodeGroupsToRetain: []string{gid + "-0001", gid + "-0003"}}); err != nil {
		t.Fatal(err)
	}
	g = waitGlobalSettled(t, west, gid, "available")
	if len(g.GlobalNodeGroups) != 2 || aws.ToString(g.GlobalNodeGroups[1].GlobalNodeGroupId) != gid+"-0003" {
		t.Fatalf("global node groups %+v", g.GlobalNodeGroups)
	}
	sameGlobalSlots(t, waitRG(t, west, "csec", "available"), waitRG(t, east, "cprim", "available"))
	// Fresh clients: the old ones still know the removed node groups' nodes.
	oc.Close()
	wc.Close()
	oc, wc = scaleClient(ts, waitRG(t, east, "cprim", "available")), scaleClient(ts, waitRG(t, west, "csec", "available"))
	defer oc.Close()
	defer wc.Close()
	t.Logf("shards: %v %v", memberShardKeys(t, ts, west, "us-west-2", "csec"), memberShardKeys(t, ts, east, "us-east-1", "cprim"))
	wantGlobalKeys(t, oc, "k", 600)
	wantGlobalKeys(t, wc, "n", 200)

	// Disassociated, the old primary takes writes of its own.
	if _, err := west.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), ReplicationGroupId: aws.String("cprim"), ReplicationGroupRegion: aws.String("us-east-1")}); err != nil {
		t.Fatal(err)
	}
	waitGlobal(t, west, gid, "primary-only")
	keywardtest.Eventually(t, 15*time.Second, "the detached group takes writes", func() bool {
		return oc.Set(ctx, "own", "write", 0).Err() == nil
	})
}
