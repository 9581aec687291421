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

	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
)

// Global datastores across keyward's regions (its scopes): the operations,
// their faults (code and HTTP status), and the data really replicated from
// the primary region's primary node to the secondary region's nodes.

func describeGlobal(t *testing.T, c *elasticache.Client, id string) types.GlobalReplicationGroup {
	t.Helper()
	out, err := c.DescribeGlobalReplicationGroups(t.Context(), &elasticache.DescribeGlobalReplicationGroupsInput{
		GlobalReplicationGroupId: aws.String(id), ShowMemberInfo: aws.Bool(true)})
	if err != nil || len(out.GlobalReplicationGroups) != 1 {
		t.Fatalf("DescribeGlobalReplicationGroups(%s) = %v, %v", id, out, err)
	}
	return out.GlobalReplicationGroups[0]
}

func waitGlobal(t *testing.T, c *elasticache.Client, id, status string) types.GlobalReplicationGroup {
	t.Helper()
	var g types.GlobalReplicationGroup
	keywardtest.Eventually(t, 30*time.Second, "global replication group "+id+" "+status, func() bool {
		out, err := c.DescribeGlobalReplicationGroups(context.Background(), &elasticache.DescribeGlobalReplicationGroupsInput{
			GlobalReplicationGroupId: aws.String(id), ShowMemberInfo: aws.Bool(true)})
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "GlobalReplicationGroupNotFoundFault"
		}
		if err != nil || len(out.GlobalReplicationGroups) != 1 {
			return false
		}
		g = out.GlobalReplicationGroups[0]
		return aws.ToString(g.Status) == status
	})
	return g
}

func createGlobalRG(t *testing.T, c *elasticache.Client, in *elasticache.CreateReplicationGroupInput) {
	t.Helper()
	if in.ReplicationGroupDescription == nil {
		in.ReplicationGroupDescription = aws.String("test " + aws.ToString(in.ReplicationGroupId))
	}
	if _, err := c.CreateReplicationGroup(t.Context(), in); err != nil {
		t.Fatalf("CreateReplicationGroup(%s): %v", aws.ToString(in.ReplicationGroupId), err)
	}
}

// eventuallyGet waits until key has value on the node.
func eventuallyGet(t *testing.T, cl *redis.Client, key, want string) {
	t.Helper()
	keywardtest.Eventually(t, 15*time.Second, fmt.Sprintf("%s=%s on %s", key, want, cl.Options().Addr), func() bool {
		got, err := cl.Get(context.Background(), key).Result()
		return err == nil && got == want
	})
}

func wantReadOnly(t *testing.T, cl *redis.Client) {
	t.Helper()
	err := cl.Set(context.Background(), "refused", "x", 0).Err()
	if err == nil || !strings.HasPrefix(err.Error(), "READONLY") {
		t.Fatalf("write to %s: %v, want READONLY", cl.Options().Addr, err)
	}
}

func TestGlobal_ReplicatesAcrossRegions(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	east, west := ts.Client, ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := t.Context()

	// Faults of CreateGlobalReplicationGroup.
	_, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("app"), PrimaryReplicationGroupId: aws.String("nope")})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	createGlobalRG(t, east, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("small"), NumCacheClusters: aws.Int32(1)})
	createGlobalRG(t, east, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("prim"), NumCacheClusters: aws.Int32(2),
		CacheNodeType: aws.String("cache.r6g.large"), AutomaticFailoverEnabled: aws.Bool(true)})
	_, err = east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("app"), PrimaryReplicationGroupId: aws.String("prim")})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	waitRG(t, east, "small", "available")
	prim := waitRG(t, east, "prim", "available")
	_, err = east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("app"), PrimaryReplicationGroupId: aws.String("small")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400) // cache.t4g.micro cannot be global
	_, err = east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("bad--suffix"), PrimaryReplicationGroupId: aws.String("prim")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// Create: the region's prefix, a regionless ARN, creating then primary-only.
	out, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("App"), PrimaryReplicationGroupId: aws.String("prim"),
		GlobalReplicationGroupDescription: aws.String("global app")})
	if err != nil {
		t.Fatal(err)
	}
	const gid = "ldgnf-app"
	g := *out.GlobalReplicationGroup
	if aws.ToString(g.GlobalReplicationGroupId) != gid || aws.ToString(g.Status) != "creating" ||
		aws.ToString(g.ARN) != "arn:aws:elasticache::000000000000:globalreplicationgroup:"+gid ||
		aws.ToString(g.CacheNodeType) != "cache.r6g.large" || aws.ToString(g.Engine) != "redis" || aws.ToBool(g.ClusterEnabled) {
		t.Fatalf("create answered %+v", g)
	}
	createGlobalRG(t, east, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("prim2"), NumCacheClusters: aws.Int32(1),
		CacheNodeType: aws.String("cache.r6g.large")})
	waitRG(t, east, "prim2", "available")
	_, err = east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("app"), PrimaryReplicationGroupId: aws.String("prim2")})
	keywardtest.WantError(t, err, "GlobalReplicationGroupAlreadyExistsFault", 400)
	_, err = east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("again"), PrimaryReplicationGroupId: aws.String("prim")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400) // already a member
	g = waitGlobal(t, east, gid, "primary-only")
	if len(g.Members) != 1 || aws.ToString(g.Members[0].Role) != "PRIMARY" || aws.ToString(g.Members[0].Status) != "associated" ||
		aws.ToString(g.Members[0].ReplicationGroupRegion) != "us-east-1" || g.Members[0].AutomaticFailover != "enabled" {
		t.Fatalf("members %+v", g.Members)
	}
	if rg := waitRG(t, east, "prim", "available"); rg.GlobalReplicationGroupInfo == nil ||
		aws.ToString(rg.GlobalReplicationGroupInfo.GlobalReplicationGroupId) != gid || aws.ToString(rg.GlobalReplicationGroupInfo.GlobalReplicationGroupMemberRole) != "PRIMARY" {
		t.Fatalf("primary's GlobalReplicationGroupInfo %+v", rg.GlobalReplicationGroupInfo)
	}
	// Only member regions see it; a missing one is not found.
	_, err = west.DescribeGlobalReplicationGroups(ctx, &elasticache.DescribeGlobalReplicationGroupsInput{GlobalReplicationGroupId: aws.String(gid)})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)
	_, err = east.DescribeGlobalReplicationGroups(ctx, &elasticache.DescribeGlobalReplicationGroupsInput{GlobalReplicationGroupId: aws.String("ldgnf-nope")})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)

	// A secondary joins from another region: it takes the primary's settings.
	_, err = west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("sec"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String(gid), CacheNodeType: aws.String("cache.r6g.xlarge")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("sec"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String("ldgnf-nope")})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)
	_, err = east.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("sec"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String(gid), NumCacheClusters: aws.Int32(2)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400) // the primary's region
	_, err = west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("sec"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String(gid), NumCacheClusters: aws.Int32(1)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400) // inherited automatic failover needs a replica
	createGlobalRG(t, west, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("sec"), GlobalReplicationGroupId: aws.String(gid), NumCacheClusters: aws.Int32(2)})
	sec := waitRG(t, west, "sec", "available")
	if aws.ToString(sec.CacheNodeType) != "cache.r6g.large" || sec.AutomaticFailover != types.AutomaticFailoverStatusEnabled ||
		sec.GlobalReplicationGroupInfo == nil || aws.ToString(sec.GlobalReplicationGroupInfo.GlobalReplicationGroupMemberRole) != "SECONDARY" {
		t.Fatalf("secondary %+v", sec)
	}
	g = waitGlobal(t, west, gid, "available")
	if len(g.Members) != 2 || aws.ToString(g.Members[1].ReplicationGroupId) != "sec" || aws.ToString(g.Members[1].Role) != "SECONDARY" ||
		aws.ToString(g.Members[1].Status) != "associated" || aws.ToString(g.Members[1].ReplicationGroupRegion) != "us-west-2" {
		t.Fatalf("members %+v", g.Members)
	}
	if out, err := east.DescribeGlobalReplicationGroups(ctx, &elasticache.DescribeGlobalReplicationGroupsInput{}); err != nil ||
		len(out.GlobalReplicationGroups) != 1 || len(out.GlobalReplicationGroups[0].Members) != 0 {
		t.Fatalf("describe without ShowMemberInfo = %+v, %v", out, err)
	}

	// Data: the primary region's writes reach every node of the secondary,
	// which refuses writes.
	pn, sn := rgNodes(t, ts, prim), rgNodes(t, ts, sec)
	pw := pn[0].client("default", "")
	defer pw.Close()
	if err := pw.Set(ctx, "k1", "from-east", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range sn {
		cl := n.client("default", "")
		eventuallyGet(t, cl, "k1", "from-east")
		wantReadOnly(t, cl)
		cl.Close()
	}

	// Failover: faults, then the secondary takes writes and the old primary follows it.
	_, err = east.FailoverGlobalReplicationGroup(ctx, &elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("nope")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.FailoverGlobalReplicationGroup(ctx, &elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		PrimaryRegion: aws.String("us-east-1"), PrimaryReplicationGroupId: aws.String("prim")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.FailoverGlobalReplicationGroup(ctx, &elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String("ldgnf-nope"),
		PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("sec")})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)
	// A writer keeps writing to the old primary through the failover: every
	// write it acknowledged must be on the new primary afterwards.
	acked := make(chan []string, 1)
	go func() {
		var keys []string
		deadline := time.Now().Add(20 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			k := fmt.Sprintf("w%d", i)
			if err := pw.Set(context.Background(), k, "v", 0).Err(); err != nil {
				if strings.HasPrefix(err.Error(), "READONLY") {
					break
				}
				continue
			}
			keys = append(keys, k)
		}
		acked <- keys
	}()
	time.Sleep(20 * time.Millisecond)
	fo, err := east.FailoverGlobalReplicationGroup(ctx, &elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("sec")})
	if err != nil {
		t.Fatal(err)
	}
	if g := fo.GlobalReplicationGroup; aws.ToString(g.Status) != "modifying" || aws.ToString(g.Members[0].ReplicationGroupId) != "sec" || aws.ToString(g.Members[0].Role) != "PRIMARY" {
		t.Fatalf("failover answered %+v", g)
	}
	_, err = east.FailoverGlobalReplicationGroup(ctx, &elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		PrimaryRegion: aws.String("us-east-1"), PrimaryReplicationGroupId: aws.String("prim")})
	keywardtest.WantError(t, err, "InvalidGlobalReplicationGroupState", 400)
	waitGlobal(t, east, gid, "available")
	sw := sn[0].client("default", "")
	defer sw.Close()
	keys := <-acked
	if len(keys) == 0 {
		t.Fatal("the writer wrote nothing before the failover")
	}
	for _, k := range keys {
		if err := sw.Get(ctx, k).Err(); err != nil {
			t.Fatalf("%s, acknowledged by the old primary (%d writes), is not on the new one: %v", k, len(keys), err)
		}
	}
	t.Logf("%d writes acknowledged by the old primary during the failover, all on the new primary", len(keys))
	if err := sw.Set(ctx, "k2", "from-west", 0).Err(); err != nil {
		t.Fatalf("write to the new primary: %v", err)
	}
	for _, n := range pn {
		cl := n.client("default", "")
		eventuallyGet(t, cl, "k2", "from-west")
		eventuallyGet(t, cl, "k1", "from-east")
		wantReadOnly(t, cl)
		cl.Close()
	}
	if rg := waitRG(t, east, "prim", "available"); aws.ToString(rg.GlobalReplicationGroupInfo.GlobalReplicationGroupMemberRole) != "SECONDARY" {
		t.Fatalf("old primary's role %+v", rg.GlobalReplicationGroupInfo)
	}

	// Modify: immediately only; the description; the node type must suit a global datastore.
	_, err = east.ModifyGlobalReplicationGroup(ctx, &elasticache.ModifyGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ApplyImmediately: aws.Bool(false), GlobalReplicationGroupDescription: aws.String("x")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.ModifyGlobalReplicationGroup(ctx, &elasticache.ModifyGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ApplyImmediately: aws.Bool(true), CacheNodeType: aws.String("cache.t4g.small")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.ModifyGlobalReplicationGroup(ctx, &elasticache.ModifyGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ApplyImmediately: aws.Bool(true), GlobalReplicationGroupDescription: aws.String("global app")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400) // nothing to change
	_, err = east.ModifyGlobalReplicationGroup(ctx, &elasticache.ModifyGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String("ldgnf-nope"),
		ApplyImmediately: aws.Bool(true), GlobalReplicationGroupDescription: aws.String("x")})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)
	mo, err := east.ModifyGlobalReplicationGroup(ctx, &elasticache.ModifyGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ApplyImmediately: aws.Bool(true), CacheNodeType: aws.String("cache.r6g.xlarge"), GlobalReplicationGroupDescription: aws.String("v2")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(mo.GlobalReplicationGroup.Status) != "modifying" || aws.ToString(mo.GlobalReplicationGroup.GlobalReplicationGroupDescription) != "v2" {
		t.Fatalf("modify answered %+v", mo.GlobalReplicationGroup)
	}
	g = waitGlobal(t, east, gid, "available")
	if aws.ToString(g.CacheNodeType) != "cache.r6g.xlarge" {
		t.Fatalf("node type after modify: %s", aws.ToString(g.CacheNodeType))
	}
	for _, rg := range []types.ReplicationGroup{waitRG(t, east, "prim", "available"), waitRG(t, west, "sec", "available")} {
		if aws.ToString(rg.CacheNodeType) != "cache.r6g.xlarge" {
			t.Fatalf("%s node type %s", aws.ToString(rg.ReplicationGroupId), aws.ToString(rg.CacheNodeType))
		}
	}

	// An engine upgrade goes through the datastore to every member.
	if _, err := east.ModifyGlobalReplicationGroup(ctx, &elasticache.ModifyGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ApplyImmediately: aws.Bool(true), EngineVersion: aws.String("7.1")}); err != nil {
		t.Fatalf("ModifyGlobalReplicationGroup 7.0 → 7.1: %v", err)
	}
	if g = waitGlobal(t, east, gid, "available"); aws.ToString(g.EngineVersion) != "7.1.0" {
		t.Fatalf("datastore version after the upgrade: %s", aws.ToString(g.EngineVersion))
	}
	for _, m := range []struct {
		c  *elasticache.Client
		id string
	}{{east, "prim-001"}, {west, "sec-001"}} {
		out, err := m.c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(m.id)})
		if err != nil || len(out.CacheClusters) != 1 || aws.ToString(out.CacheClusters[0].EngineVersion) != "7.1.0" {
			t.Fatalf("%s after the datastore's upgrade: %v, %v", m.id, out, err)
		}
	}
	_, err = west.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("sec"),
		ApplyImmediately: aws.Bool(true), EngineVersion: aws.String("7.0")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// A member's node type changes only through the datastore.
	_, err = west.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("sec"),
		ApplyImmediately: aws.Bool(true), CacheNodeType: aws.String("cache.r6g.2xlarge")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// Node groups: cluster mode only.
	_, err = east.IncreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.IncreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.DecreaseNodeGroupsInGlobalReplicationGroup(ctx, &elasticache.DecreaseNodeGroupsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), NodeGroupCount: aws.Int32(1), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.RebalanceSlotsInGlobalReplicationGroup(ctx, &elasticache.RebalanceSlotsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String(gid), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = east.RebalanceSlotsInGlobalReplicationGroup(ctx, &elasticache.RebalanceSlotsInGlobalReplicationGroupInput{
		GlobalReplicationGroupId: aws.String("ldgnf-nope"), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)

	// Members cannot be deleted, nor the datastore while it has secondaries.
	_, err = west.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("sec")})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	_, err = east.DeleteGlobalReplicationGroup(ctx, &elasticache.DeleteGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid), RetainPrimaryReplicationGroup: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidGlobalReplicationGroupState", 400)

	// Disassociate: faults; the primary (now sec) cannot leave; prim leaves and takes writes.
	_, err = east.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ReplicationGroupId: aws.String("prim2"), ReplicationGroupRegion: aws.String("us-east-1")})
	if code, msg := errorMessage(err); code != "InvalidParameterValue" || !strings.Contains(msg, "is not associated with Global Replication Group") {
		t.Fatalf("disassociate a non-member = %v", err)
	}
	_, err = east.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ReplicationGroupId: aws.String("sec"), ReplicationGroupRegion: aws.String("us-west-2")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	if _, err := east.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ReplicationGroupId: aws.String("prim"), ReplicationGroupRegion: aws.String("us-east-1")}); err != nil {
		t.Fatal(err)
	}
	g = waitGlobal(t, west, gid, "primary-only")
	if len(g.Members) != 1 || aws.ToString(g.Members[0].ReplicationGroupId) != "sec" {
		t.Fatalf("members after disassociate %+v", g.Members)
	}
	_, err = east.DescribeGlobalReplicationGroups(ctx, &elasticache.DescribeGlobalReplicationGroupsInput{GlobalReplicationGroupId: aws.String(gid)})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404) // us-east-1 is no member now
	if rg := waitRG(t, east, "prim", "available"); rg.GlobalReplicationGroupInfo != nil {
		t.Fatalf("detached group still reports %+v", rg.GlobalReplicationGroupInfo)
	}
	keywardtest.Eventually(t, 15*time.Second, "detached primary takes writes", func() bool {
		return pw.Set(ctx, "k3", "east-alone", 0).Err() == nil
	})
	if err := sw.Get(ctx, "k3").Err(); err != redis.Nil {
		t.Fatalf("k3 reached the datastore after disassociation: %v", err)
	}

	// Delete, keeping the primary.
	do, err := west.DeleteGlobalReplicationGroup(ctx, &elasticache.DeleteGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid), RetainPrimaryReplicationGroup: aws.Bool(true)})
	if err != nil || aws.ToString(do.GlobalReplicationGroup.Status) != "deleting" {
		t.Fatalf("delete = %+v, %v", do, err)
	}
	// A second delete meets the group deleting, or already gone when the
	// reconciler was quicker than this call: both are ElastiCache's answers.
	_, err = west.DeleteGlobalReplicationGroup(ctx, &elasticache.DeleteGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid), RetainPrimaryReplicationGroup: aws.Bool(true)})
	if code, _ := keywardtest.APIError(err); code == "GlobalReplicationGroupNotFoundFault" {
		keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404)
	} else {
		keywardtest.WantError(t, err, "InvalidGlobalReplicationGroupState", 400)
	}
	waitGlobal(t, west, gid, "gone")
	if rg := waitRG(t, west, "sec", "available"); rg.GlobalReplicationGroupInfo != nil {
		t.Fatalf("retained primary still reports %+v", rg.GlobalReplicationGroupInfo)
	}
	if err := sw.Set(ctx, "k4", "west", 0).Err(); err != nil {
		t.Fatalf("retained primary refuses writes: %v", err)
	}
}

// TestGlobal_SecondaryEnforcesItsACLs: a secondary's nodes get their users
// from keyward (ACLs are not replicated): the secondary region's user group
// is enforced there, the primary's users are unknown there.
func TestGlobal_SecondaryEnforcesItsACLs(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(20*time.Millisecond))
	east, west := ts.Client, ts.NewClient("eu-west-1", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := t.Context()
	for _, r := range []struct {
		c    *elasticache.Client
		user string
	}{{east, "writer"}, {west, "reader"}} {
		access := "on ~* +@all"
		if r.user == "reader" {
			access = "on ~* +@read"
		}
		if _, err := r.c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String(r.user), UserName: aws.String(r.user), Engine: aws.String("redis"),
			AccessString: aws.String(access), Passwords: []string{r.user + "-password-0001"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := r.c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("g"), Engine: aws.String("redis"),
			UserIds: []string{"default", r.user}}); err != nil {
			t.Fatal(err)
		}
		keywardtest.Eventually(t, 10*time.Second, "group active", func() bool {
			out, err := r.c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("g")})
			return err == nil && aws.ToString(out.UserGroups[0].Status) == "active"
		})
	}
	createGlobalRG(t, east, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("p"), NumCacheClusters: aws.Int32(1),
		CacheNodeType: aws.String("cache.m7g.large"), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: []string{"g"}})
	p := waitRG(t, east, "p", "available")
	if _, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("acl"), PrimaryReplicationGroupId: aws.String("p")}); err != nil {
		t.Fatal(err)
	}
	waitGlobal(t, east, "ldgnf-acl", "primary-only")
	_, err := west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("s"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String("ldgnf-acl")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400) // the primary uses a user group
	_, err = west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("s"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String("ldgnf-acl"), UserGroupIds: []string{"g"}, TransitEncryptionEnabled: aws.Bool(false)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400) // encryption differs
	createGlobalRG(t, west, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("s"), GlobalReplicationGroupId: aws.String("ldgnf-acl"),
		UserGroupIds: []string{"g"}})
	s := waitRG(t, west, "s", "available")
	waitGlobal(t, east, "ldgnf-acl", "available")

	pc := rgNodes(t, ts, p)[0].client("writer", "writer-password-0001")
	defer pc.Close()
	if err := pc.Set(ctx, "acl-key", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	sn := rgNodes(t, ts, s)[0]
	rc := sn.client("reader", "reader-password-0001")
	defer rc.Close()
	eventuallyGet(t, rc, "acl-key", "v")
	if err := sn.auth("writer", "writer-password-0001"); err == nil {
		t.Fatal("the primary region's user authenticated on the secondary")
	}
	if err := rc.Set(ctx, "x", "y", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Fatalf("reader's write on the secondary: %v, want NOPERM", err)
	}
}

// TestGlobal_DescribePagesAndRefusals: Describe pages by MaxRecords with a
// marker; what keyward refuses is refused explicitly.
func TestGlobal_DescribePagesAndRefusals(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine = true })
	c := ts.Client
	ctx := t.Context()
	const n = 22
	for i := range n {
		createGlobalRG(t, c, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String(fmt.Sprintf("rg%02d", i)),
			NumCacheClusters: aws.Int32(1), CacheNodeType: aws.String("cache.r7g.large")})
	}
	for i := range n {
		id := fmt.Sprintf("rg%02d", i)
		waitRG(t, c, id, "available")
		if _, err := c.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
			GlobalReplicationGroupIdSuffix: aws.String("g" + id), PrimaryReplicationGroupId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.DescribeGlobalReplicationGroups(ctx, &elasticache.DescribeGlobalReplicationGroupsInput{MaxRecords: aws.Int32(5)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// Refusals: an engine version other than the primary's, a region
	// without a documented prefix.
	west := ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	_, err = west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("s"), ReplicationGroupDescription: aws.String("s"),
		GlobalReplicationGroupId: aws.String("ldgnf-grg00"), EngineVersion: aws.String("6.2")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	// Deleting a datastore without keeping its primary deletes the primary.
	waitGlobal(t, c, "ldgnf-grg01", "primary-only")
	if _, err := c.DeleteGlobalReplicationGroup(ctx, &elasticache.DeleteGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String("ldgnf-grg01"),
		RetainPrimaryReplicationGroup: aws.Bool(false)}); err != nil {
		t.Fatal(err)
	}
	waitGlobal(t, c, "ldgnf-grg01", "gone")
	waitRG(t, c, "rg01", "gone")
	south := ts.NewClient("mx-central-1", "AKIDKEYWARDTEST", "keyward-test-secret")
	createGlobalRG(t, south, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("mx"), NumCacheClusters: aws.Int32(1), CacheNodeType: aws.String("cache.r7g.large")})
	waitRG(t, south, "mx", "available")
	_, err = south.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("mx"), PrimaryReplicationGroupId: aws.String("mx")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	var ids []string
	p := elasticache.NewDescribeGlobalReplicationGroupsPaginator(c, &elasticache.DescribeGlobalReplicationGroupsInput{MaxRecords: aws.Int32(20)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range out.GlobalReplicationGroups {
			ids = append(ids, aws.ToString(g.GlobalReplicationGroupId))
		}
	}
	if pages != 2 || len(ids) != n-1 || ids[0] != "ldgnf-grg00" || ids[n-2] != "ldgnf-grg21" {
		t.Fatalf("%d pages: %v", pages, ids)
	}
}
