package api_test

import (
	"context"
	"fmt"
	"net"
	"strings"
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

// Global datastores beyond replication: tags on their regionless ARN (the
// newest model's CreateGlobalReplicationGroup Tags and tagging support),
// the events their member replication groups report, and secondaries that
// follow a failover inside the primary group at once.

func listTags(t *testing.T, c *elasticache.Client, arn string) map[string]string {
	t.Helper()
	out, err := c.ListTagsForResource(t.Context(), &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	if err != nil {
		t.Fatalf("ListTagsForResource(%s): %v", arn, err)
	}
	tags := map[string]string{}
	for _, tg := range out.TagList {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

func TestGlobal_TagsAndMemberEvents(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	east, west := ts.Client, ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := t.Context()
	createGlobalRG(t, east, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("tp"), NumCacheClusters: aws.Int32(1),
		CacheNodeType: aws.String("cache.r6g.large")})
	waitRG(t, east, "tp", "available")

	// Tags given at creation, on the ARN DescribeGlobalReplicationGroups answers.
	_, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("tg"), PrimaryReplicationGroupId: aws.String("tp"),
		Tags: []types.Tag{{Key: aws.String("aws:reserved"), Value: aws.String("x")}}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400) // ElastiCache's tag rules
	out, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("tg"), PrimaryReplicationGroupId: aws.String("tp"),
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}})
	if err != nil {
		t.Fatal(err)
	}
	const gid = "ldgnf-tg"
	arn := aws.ToString(out.GlobalReplicationGroup.ARN)
	if arn != "arn:aws:elasticache::000000000000:globalreplicationgroup:"+gid {
		t.Fatalf("ARN %s", arn)
	}
	if tags := listTags(t, east, arn); len(tags) != 1 || tags["env"] != "prod" {
		t.Fatalf("tags after create: %v", tags)
	}
	if _, err := east.AddTagsToResource(ctx, &elasticache.AddTagsToResourceInput{ResourceName: aws.String(arn),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}, {Key: aws.String("env"), Value: aws.String("test")}}}); err != nil {
		t.Fatal(err)
	}
	if tags := listTags(t, east, arn); len(tags) != 2 || tags["env"] != "test" || tags["team"] != "a" {
		t.Fatalf("tags after add: %v", tags)
	}
	if _, err := east.RemoveTagsFromResource(ctx, &elasticache.RemoveTagsFromResourceInput{ResourceName: aws.String(arn), TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	if tags := listTags(t, east, arn); len(tags) != 1 || tags["team"] != "a" {
		t.Fatalf("tags after remove: %v", tags)
	}
	_, err = east.RemoveTagsFromResource(ctx, &elasticache.RemoveTagsFromResourceInput{ResourceName: aws.String(arn), TagKeys: []string{"env"}})
	keywardtest.WantError(t, err, "TagNotFound", 404)
	var many []types.Tag
	for i := range 50 {
		many = append(many, types.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	_, err = east.AddTagsToResource(ctx, &elasticache.AddTagsToResourceInput{ResourceName: aws.String(arn), Tags: many})
	keywardtest.WantError(t, err, "TagQuotaPerResourceExceeded", 400)
	// The tags of a replication group are its own: the member's are not the datastore's.
	if tags := listTags(t, east, "arn:aws:elasticache:us-east-1:000000000000:replicationgroup:tp"); len(tags) != 0 {
		t.Fatalf("primary's tags %v", tags)
	}

	// The ARN must be the datastore's as ElastiCache writes it, of a
	// datastore the caller's region takes part in.
	for _, bad := range []struct{ arn, code string }{
		{"arn:aws:elasticache:us-east-1:000000000000:globalreplicationgroup:" + gid, "InvalidARN"},
		{"arn:aws:elasticache::000000000000:globalreplicationgroup:", "InvalidARN"},
		{"arn:aws:elasticache::000000000000:replicationgroup:tp", "InvalidARN"},
		{"arn:aws:elasticache::111111111111:globalreplicationgroup:" + gid, "GlobalReplicationGroupNotFoundFault"},
		{"arn:aws-cn:elasticache::000000000000:globalreplicationgroup:" + gid, "GlobalReplicationGroupNotFoundFault"},
		{"arn:aws:elasticache::000000000000:globalreplicationgroup:ldgnf-nope", "GlobalReplicationGroupNotFoundFault"},
	} {
		_, err := east.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(bad.arn)})
		status := 400
		if bad.code == "GlobalReplicationGroupNotFoundFault" {
			status = 404
		}
		keywardtest.WantError(t, err, bad.code, status)
	}
	_, err = west.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404) // no member in us-west-2 yet

	// Member events: association (primary, then a secondary), in each
	// member's region, recorded with the change they report (so there by
	// the time the status shows it); DescribeEvents has no source type for
	// datastores.
	waitGlobal(t, east, gid, "primary-only")
	wantEvents(t, east, "tp", "Replication group tp associated with global replication group "+gid+" as its primary member")
	createGlobalRG(t, west, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("ts"), GlobalReplicationGroupId: aws.String(gid),
		NumCacheClusters: aws.Int32(1), AutomaticFailoverEnabled: aws.Bool(false)})
	waitGlobal(t, west, gid, "available")
	wantEvents(t, west, "ts", "Replication group ts associated with global replication group "+gid+" as its secondary member")
	if tags := listTags(t, west, arn); len(tags) != 1 || tags["team"] != "a" {
		t.Fatalf("tags seen from the secondary's region: %v", tags)
	}
	_, err = east.DescribeEvents(ctx, &elasticache.DescribeEventsInput{SourceType: types.SourceType("global-replication-group")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	if _, err := east.DisassociateGlobalReplicationGroup(ctx, &elasticache.DisassociateGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		ReplicationGroupId: aws.String("ts"), ReplicationGroupRegion: aws.String("us-west-2")}); err != nil {
		t.Fatal(err)
	}
	waitGlobal(t, east, gid, "primary-only")
	wantEvents(t, west, "ts", "Replication group ts disassociated from global replication group "+gid)

	// Deleting the datastore deletes its tags: one made again with the
	// same id has none.
	if _, err := east.DeleteGlobalReplicationGroup(ctx, &elasticache.DeleteGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		RetainPrimaryReplicationGroup: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = east.AddTagsToResource(ctx, &elasticache.AddTagsToResourceInput{ResourceName: aws.String(arn), Tags: many[:1]})
	keywardtest.WantError(t, err, "GlobalReplicationGroupNotFoundFault", 404) // deleting
	waitGlobal(t, east, gid, "gone")
	wantEvents(t, east, "tp", "Replication group tp disassociated from global replication group "+gid+", which was deleted")
	waitRG(t, east, "tp", "available")
	if _, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("tg"), PrimaryReplicationGroupId: aws.String("tp")}); err != nil {
		t.Fatal(err)
	}
	if tags := listTags(t, east, arn); len(tags) != 0 {
		t.Fatalf("tags of a new datastore with the old id: %v", tags)
	}
}

// masterOf is the host:port a node replicates from ("" if it is a primary).
func masterOf(cl *redis.Client) string {
	info, err := cl.Info(context.Background(), "replication").Result()
	if err != nil {
		return ""
	}
	var host, port string
	for line := range strings.Lines(info) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		switch k {
		case "master_host":
			host = v
		case "master_port":
			port = v
		}
	}
	if host == "" {
		return ""
	}
	return net.JoinHostPort(host, port)
}

// primaryNode returns the address of the group's primary node.
func primaryNode(t *testing.T, rg types.ReplicationGroup) string {
	t.Helper()
	for _, m := range rg.NodeGroups[0].NodeGroupMembers {
		if aws.ToString(m.CurrentRole) == "primary" {
			return fmt.Sprintf("%s:%d", aws.ToString(m.ReadEndpoint.Address), aws.ToInt32(m.ReadEndpoint.Port))
		}
	}
	t.Fatalf("no primary in %+v", rg.NodeGroups[0].NodeGroupMembers)
	return ""
}

// TestGlobal_SecondaryFollowsInternalFailover fails the primary group over
// inside its region (TestFailover): the secondary's primary node must
// replicate from the new primary node without waiting for the drift
// resync, which this server runs once an hour.
func TestGlobal_SecondaryFollowsInternalFailover(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDataResync(time.Hour))
	east, west := ts.Client, ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := t.Context()
	createGlobalRG(t, east, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("fp"), NumCacheClusters: aws.Int32(2),
		CacheNodeType: aws.String("cache.r6g.large"), AutomaticFailoverEnabled: aws.Bool(true)})
	prim := waitRG(t, east, "fp", "available")
	if _, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("fo"), PrimaryReplicationGroupId: aws.String("fp")}); err != nil {
		t.Fatal(err)
	}
	const gid = "ldgnf-fo"
	waitGlobal(t, east, gid, "primary-only")
	createGlobalRG(t, west, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("fs"), GlobalReplicationGroupId: aws.String(gid),
		NumCacheClusters: aws.Int32(1), AutomaticFailoverEnabled: aws.Bool(false)})
	sec := waitRG(t, west, "fs", "available")
	waitGlobal(t, east, gid, "available")
	old := primaryNode(t, prim)
	sn := rgNodes(t, ts, sec)[0].client("default", "")
	defer sn.Close()
	keywardtest.Eventually(t, 15*time.Second, "secondary follows "+old, func() bool { return masterOf(sn) == old })

	if _, err := east.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("fp"), NodeGroupId: aws.String("0001")}); err != nil {
		t.Fatal(err)
	}
	var now string
	keywardtest.Eventually(t, 30*time.Second, "fp fails over", func() bool {
		out, err := east.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("fp")})
		if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
			return false
		}
		now = primaryNode(t, out.ReplicationGroups[0])
		return now != old
	})
	keywardtest.Eventually(t, 15*time.Second, "secondary follows the new primary "+now, func() bool { return masterOf(sn) == now })
	pw := redis.NewClient(&redis.Options{Addr: now, Protocol: 2, MaxRetries: -1})
	defer pw.Close()
	if err := pw.Set(ctx, "after", "failover", 0).Err(); err != nil {
		t.Fatal(err)
	}
	eventuallyGet(t, sn, "after", "failover")

	// The automatic failover of a dead primary (kill -9) too.
	out, err := east.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("fp")})
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for _, m := range out.ReplicationGroups[0].NodeGroups[0].NodeGroupMembers {
		if aws.ToString(m.CurrentRole) == "primary" {
			victim = "000000000000.us-east-1." + aws.ToString(m.CacheClusterId)
		}
	}
	n, ok := ts.Engine().Node(victim)
	if !ok || n.PID == 0 {
		t.Fatalf("no running primary %q", victim)
	}
	if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	dead := now
	keywardtest.Eventually(t, 30*time.Second, "fp fails over by itself", func() bool {
		out, err := east.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("fp")})
		if err != nil {
			return false
		}
		now = primaryNode(t, out.ReplicationGroups[0])
		return now != dead
	})
	keywardtest.Eventually(t, 15*time.Second, "secondary follows the promoted replica "+now, func() bool { return masterOf(sn) == now })
	waitRG(t, east, "fp", "available")
	waitGlobal(t, east, gid, "available")

	// A failover of the datastore itself: every member reports it.
	if _, err := east.FailoverGlobalReplicationGroup(ctx, &elasticache.FailoverGlobalReplicationGroupInput{GlobalReplicationGroupId: aws.String(gid),
		PrimaryRegion: aws.String("us-west-2"), PrimaryReplicationGroupId: aws.String("fs")}); err != nil {
		t.Fatal(err)
	}
	waitGlobal(t, west, gid, "available")
	msg := "Failover of global replication group " + gid + " to replication group fs in region us-west-2 completed"
	wantEvents(t, east, "fp", msg)
	wantEvents(t, west, "fs", msg)
}
