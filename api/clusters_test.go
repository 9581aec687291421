package api_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// describeCluster returns the cluster with its nodes.
func describeCluster(t *testing.T, c *elasticache.Client, id string) types.CacheCluster {
	t.Helper()
	out, err := c.DescribeCacheClusters(t.Context(), &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id), ShowCacheNodeInfo: aws.Bool(true)})
	if err != nil || len(out.CacheClusters) != 1 {
		t.Fatalf("DescribeCacheClusters(%s) = %v, %v", id, out, err)
	}
	return out.CacheClusters[0]
}

func clusterStatus(c *elasticache.Client, id string) func() (string, bool) {
	return func() (string, bool) {
		out, err := c.DescribeCacheClusters(context.Background(), &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id)})
		if code, _ := keywardtest.APIError(err); code == "CacheClusterNotFound" {
			return "", false
		}
		if err != nil || len(out.CacheClusters) != 1 {
			return "error", true
		}
		return aws.ToString(out.CacheClusters[0].CacheClusterStatus), true
	}
}

var clusterPending = []string{"creating", "modifying", "snapshotting", "rebooting cache cluster nodes"}

// waitCluster waits for available and returns the cluster with its nodes.
func waitCluster(t *testing.T, c *elasticache.Client, id string) types.CacheCluster {
	t.Helper()
	waitTF(t, "cluster "+id, clusterPending, "available", clusterStatus(c, id))
	return describeCluster(t, c, id)
}

func nodeAddr(n types.CacheNode) string {
	return net.JoinHostPort(aws.ToString(n.Endpoint.Address), strconv.Itoa(int(aws.ToInt32(n.Endpoint.Port))))
}

func nodeIDs(cc types.CacheCluster) []string {
	var ids []string
	for _, n := range cc.CacheNodes {
		ids = append(ids, aws.ToString(n.CacheNodeId))
	}
	return ids
}

// checkNodesServe stores a key on every node directly and reads it back,
// then spreads keys over all nodes with a client that knows them all.
func checkNodesServe(t *testing.T, cc types.CacheCluster) {
	t.Helper()
	var addrs []string
	for _, n := range cc.CacheNodes {
		if aws.ToString(n.CacheNodeStatus) != "available" || n.Endpoint == nil || aws.ToString(n.CustomerAvailabilityZone) == "" {
			t.Fatalf("node %s: status %s, endpoint %v", aws.ToString(n.CacheNodeId), aws.ToString(n.CacheNodeStatus), n.Endpoint)
		}
		addr := nodeAddr(n)
		addrs = append(addrs, addr)
		mc := memcache.New(addr)
		key := "node-" + aws.ToString(n.CacheNodeId)
		if err := mc.Set(&memcache.Item{Key: key, Value: []byte(addr)}); err != nil {
			t.Fatalf("set on node %s (%s): %v", aws.ToString(n.CacheNodeId), addr, err)
		}
		if it, err := mc.Get(key); err != nil || string(it.Value) != addr {
			t.Fatalf("get on node %s: %v, %v", aws.ToString(n.CacheNodeId), it, err)
		}
	}
	all := memcache.New(addrs...)
	for i := range 100 {
		if err := all.Set(&memcache.Item{Key: fmt.Sprintf("spread-%d", i), Value: []byte("v")}); err != nil {
			t.Fatalf("spread set: %v", err)
		}
	}
	for i := range 100 {
		if _, err := all.Get(fmt.Sprintf("spread-%d", i)); err != nil {
			t.Fatalf("spread get %d: %v", i, err)
		}
	}
}

func TestCacheCluster_MemcachedLifecycle(t *testing.T) {
	redistest.Memcached(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(100*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	start := time.Now()
	out, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("MC1"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"),
		NumCacheNodes: aws.Int32(3), AZMode: types.AZModeCrossAz,
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.CacheCluster; aws.ToString(got.CacheClusterId) != "mc1" || aws.ToString(got.CacheClusterStatus) != "creating" ||
		aws.ToInt32(got.NumCacheNodes) != 3 || aws.ToString(got.Engine) != "memcached" || aws.ToString(got.EngineVersion) == "" {
		t.Fatalf("create answered %+v", got)
	}
	if cc := describeCluster(t, c, "mc1"); aws.ToString(cc.CacheClusterStatus) != "creating" {
		t.Fatalf("status right after create = %s", aws.ToString(cc.CacheClusterStatus))
	}
	cc := waitCluster(t, c, "mc1")
	t.Logf("3-node memcached cluster available after %v (transition delay 100ms)", time.Since(start).Round(time.Millisecond))
	if got := nodeIDs(cc); !slices.Equal(got, []string{"0001", "0002", "0003"}) {
		t.Fatalf("nodes %v", got)
	}
	if aws.ToString(cc.PreferredAvailabilityZone) != "Multiple" || cc.ConfigurationEndpoint == nil ||
		aws.ToInt32(cc.ConfigurationEndpoint.Port) != aws.ToInt32(cc.CacheNodes[0].Endpoint.Port) ||
		aws.ToString(cc.CacheParameterGroup.CacheParameterGroupName) != "default.memcached1.6" {
		t.Fatalf("cluster %+v", cc)
	}
	checkNodesServe(t, cc)
	// Each node on memcached's port 11211, each on an address of its own.
	hosts := map[string]bool{}
	for _, n := range cc.CacheNodes {
		if a := aws.ToString(n.Endpoint.Address); aws.ToInt32(n.Endpoint.Port) != 11211 || a == "127.0.0.1" || hosts[a] {
			t.Errorf("node %s at %s", aws.ToString(n.CacheNodeId), nodeAddr(n))
		}
		hosts[aws.ToString(n.Endpoint.Address)] = true
	}
	tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: cc.ARN})
	if err != nil || len(tags.TagList) != 1 {
		t.Fatalf("tags %v %v", tags, err)
	}

	// Add two nodes: modifying, with the target count pending until done.
	mod, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("mc1"), NumCacheNodes: aws.Int32(5), ApplyImmediately: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if got := mod.CacheCluster; aws.ToString(got.CacheClusterStatus) != "modifying" || aws.ToInt32(got.NumCacheNodes) != 3 ||
		aws.ToInt32(got.PendingModifiedValues.NumCacheNodes) != 5 {
		t.Fatalf("modify answered status %s nodes %d pending %+v", aws.ToString(got.CacheClusterStatus), aws.ToInt32(got.NumCacheNodes), got.PendingModifiedValues)
	}
	_, err = c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("mc1"), NumCacheNodes: aws.Int32(6), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidCacheClusterState", 400)
	cc = waitCluster(t, c, "mc1")
	if got := nodeIDs(cc); !slices.Equal(got, []string{"0001", "0002", "0003", "0004", "0005"}) || aws.ToInt32(cc.NumCacheNodes) != 5 ||
		cc.PendingModifiedValues.NumCacheNodes != nil {
		t.Fatalf("after adding: nodes %v, num %d, pending %+v", got, aws.ToInt32(cc.NumCacheNodes), cc.PendingModifiedValues)
	}
	checkNodesServe(t, cc)

	// Remove 0002 and 0004: their processes stop.
	gone := []string{nodeAddr(cc.CacheNodes[1]), nodeAddr(cc.CacheNodes[3])}
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("mc1"), NumCacheNodes: aws.Int32(3),
		CacheNodeIdsToRemove: []string{"0002", "0004"}, ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	mid := describeCluster(t, c, "mc1")
	if st := aws.ToString(mid.CacheNodes[1].CacheNodeStatus); aws.ToString(mid.CacheClusterStatus) == "modifying" && st != "deleting" {
		t.Errorf("node 0002 being removed has status %s", st)
	}
	cc = waitCluster(t, c, "mc1")
	if got := nodeIDs(cc); !slices.Equal(got, []string{"0001", "0003", "0005"}) || aws.ToInt32(cc.NumCacheNodes) != 3 {
		t.Fatalf("after removing: nodes %v", got)
	}
	checkNodesServe(t, cc)
	for _, addr := range gone {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Errorf("removed node %s still listens", addr)
		}
	}

	// Reboot 0001: a new process, empty; 0003 untouched.
	mcNode := func(nodeID string) int {
		n, ok := ts.Memcached().Node("000000000000.us-east-1.mc1." + nodeID)
		if !ok {
			t.Fatalf("engine has no node %s", nodeID)
		}
		return n.PID
	}
	pid1, pid3 := mcNode("0001"), mcNode("0003")
	rb, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("mc1"), CacheNodeIdsToReboot: []string{"0001"}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(rb.CacheCluster.CacheClusterStatus) != "rebooting cache cluster nodes" {
		t.Fatalf("reboot answered %s", aws.ToString(rb.CacheCluster.CacheClusterStatus))
	}
	if n := describeCluster(t, c, "mc1").CacheNodes[0]; aws.ToString(n.CacheNodeStatus) != "rebooting" {
		t.Errorf("node 0001 status during reboot = %s", aws.ToString(n.CacheNodeStatus))
	}
	cc = waitCluster(t, c, "mc1")
	if p := mcNode("0001"); p == pid1 || p == 0 {
		t.Fatalf("0001 pid %d after reboot, was %d", p, pid1)
	}
	if p := mcNode("0003"); p != pid3 {
		t.Fatalf("0003 pid %d changed (was %d) by a reboot of 0001", p, pid3)
	}
	if _, err := memcache.New(nodeAddr(cc.CacheNodes[0])).Get("node-0001"); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Errorf("rebooted node still has its data: %v", err)
	}
	if _, err := memcache.New(nodeAddr(cc.CacheNodes[1])).Get("node-0003"); err != nil {
		t.Errorf("node 0003 lost its data: %v", err)
	}

	// Delete: deleting, then gone with its processes and tags.
	del, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("mc1")})
	if err != nil || aws.ToString(del.CacheCluster.CacheClusterStatus) != "deleting" {
		t.Fatalf("delete = %v, %v", del, err)
	}
	_, err = c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("mc1"), CacheNodeIdsToReboot: []string{"0001"}})
	keywardtest.WantError(t, err, "InvalidCacheClusterState", 400)
	waitTF(t, "delete", []string{"deleting"}, "", clusterStatus(c, "mc1"))
	if n := ts.Memcached().Nodes(); len(n) != 0 {
		t.Fatalf("nodes left after delete: %+v", n)
	}
	_, err = c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: cc.ARN})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
}

func TestCacheCluster_Faults(t *testing.T) {
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	mc := func(mod func(*elasticache.CreateCacheClusterInput)) *elasticache.CreateCacheClusterInput {
		in := &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("bad"), Engine: aws.String("memcached"),
			CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(2)}
		mod(in)
		return in
	}
	for _, tc := range []struct {
		name   string
		in     *elasticache.CreateCacheClusterInput
		code   string
		status int
	}{
		{"41 nodes", mc(func(in *elasticache.CreateCacheClusterInput) { in.NumCacheNodes = aws.Int32(41) }), "NodeQuotaForClusterExceeded", 400},
		{"0 nodes", mc(func(in *elasticache.CreateCacheClusterInput) { in.NumCacheNodes = aws.Int32(0) }), "InvalidParameterValue", 400},
		{"auth token", mc(func(in *elasticache.CreateCacheClusterInput) { in.AuthToken = aws.String("0123456789abcdefXYZ") }), "InvalidParameterCombination", 400},
		{"snapshot retention", mc(func(in *elasticache.CreateCacheClusterInput) { in.SnapshotRetentionLimit = aws.Int32(3) }), "InvalidParameterCombination", 400},
		{"snapshot window", mc(func(in *elasticache.CreateCacheClusterInput) { in.SnapshotWindow = aws.String("01:00-02:00") }), "InvalidParameterCombination", 400},
		{"log delivery", mc(func(in *elasticache.CreateCacheClusterInput) {
			in.LogDeliveryConfigurations = []types.LogDeliveryConfigurationRequest{{LogType: types.LogTypeSlowLog}}
		}), "InvalidParameterCombination", 400},
		{"cross-az one node", mc(func(in *elasticache.CreateCacheClusterInput) {
			in.NumCacheNodes, in.AZMode = aws.Int32(1), types.AZModeCrossAz
		}), "InvalidParameterCombination", 400},
		{"az count", mc(func(in *elasticache.CreateCacheClusterInput) { in.PreferredAvailabilityZones = []string{"us-east-1a"} }), "InvalidParameterCombination", 400},
		{"no node type", mc(func(in *elasticache.CreateCacheClusterInput) { in.CacheNodeType = nil }), "InvalidParameterValue", 400},
		{"bad node type", mc(func(in *elasticache.CreateCacheClusterInput) { in.CacheNodeType = aws.String("m5.large") }), "InvalidParameterValue", 400},
		{"no engine", mc(func(in *elasticache.CreateCacheClusterInput) { in.Engine = nil }), "InvalidParameterValue", 400},
		{"bad id", mc(func(in *elasticache.CreateCacheClusterInput) { in.CacheClusterId = aws.String("1abc") }), "InvalidParameterValue", 400},
		{"port", mc(func(in *elasticache.CreateCacheClusterInput) { in.Port = aws.Int32(80) }), "InvalidParameterValue", 400},
		{"parameter group", mc(func(in *elasticache.CreateCacheClusterInput) { in.CacheParameterGroupName = aws.String("custom") }), "CacheParameterGroupNotFound", 404},
		{"redis 2 nodes", mc(func(in *elasticache.CreateCacheClusterInput) { in.Engine = aws.String("redis") }), "InvalidParameterValue", 400},
		{"redis az mode", mc(func(in *elasticache.CreateCacheClusterInput) {
			in.Engine, in.NumCacheNodes, in.AZMode = aws.String("redis"), aws.Int32(1), types.AZModeSingleAz
		}), "InvalidParameterCombination", 400},
		{"join missing group", mc(func(in *elasticache.CreateCacheClusterInput) {
			in.Engine, in.NumCacheNodes, in.CacheNodeType, in.ReplicationGroupId = nil, nil, nil, aws.String("nogroup")
		}), "ReplicationGroupNotFoundFault", 404},
	} {
		_, err := c.CreateCacheCluster(ctx, tc.in)
		if code, status := keywardtest.APIError(err); code != tc.code || status != tc.status {
			t.Errorf("%s: got %s (%d), want %s (%d): %v", tc.name, code, status, tc.code, tc.status, err)
		}
	}
	if _, err := c.CreateCacheCluster(ctx, mc(func(in *elasticache.CreateCacheClusterInput) { in.CacheClusterId = aws.String("ok") })); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateCacheCluster(ctx, mc(func(in *elasticache.CreateCacheClusterInput) { in.CacheClusterId = aws.String("OK") }))
	keywardtest.WantError(t, err, "CacheClusterAlreadyExists", 400)
	_, err = c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("ok")})
	if code, _ := keywardtest.APIError(err); code != "InvalidCacheClusterState" {
		// The cluster may already be available on a fast machine.
		if err != nil {
			t.Fatalf("delete while creating: %v", err)
		}
	} else {
		keywardtest.WantError(t, err, "InvalidCacheClusterState", 400)
	}
	if err != nil {
		waitCluster(t, c, "ok")
	}

	// Every operation on a missing cluster.
	_, err = c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("missing")})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	_, err = c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("missing"), NumCacheNodes: aws.Int32(2)})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	_, err = c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("missing")})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	_, err = c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("missing"), CacheNodeIdsToReboot: []string{"0001"}})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)

	// Modify faults on an available cluster.
	if del := describeCluster(t, c, "ok"); aws.ToString(del.CacheClusterStatus) == "deleting" {
		t.Fatal("cluster ok is deleting")
	}
	waitCluster(t, c, "ok")
	for _, tc := range []struct {
		name   string
		in     *elasticache.ModifyCacheClusterInput
		code   string
		status int
	}{
		{"41 nodes", &elasticache.ModifyCacheClusterInput{NumCacheNodes: aws.Int32(41)}, "NodeQuotaForClusterExceeded", 400},
		{"shrink without ids", &elasticache.ModifyCacheClusterInput{NumCacheNodes: aws.Int32(1)}, "InvalidParameterCombination", 400},
		{"ids without count", &elasticache.ModifyCacheClusterInput{CacheNodeIdsToRemove: []string{"0001"}}, "InvalidParameterCombination", 400},
		{"remove unknown", &elasticache.ModifyCacheClusterInput{NumCacheNodes: aws.Int32(1), CacheNodeIdsToRemove: []string{"0009"}}, "InvalidParameterValue", 400},
		{"grow with removal", &elasticache.ModifyCacheClusterInput{NumCacheNodes: aws.Int32(3), CacheNodeIdsToRemove: []string{"0001"}}, "InvalidParameterCombination", 400},
		{"new azs count", &elasticache.ModifyCacheClusterInput{NumCacheNodes: aws.Int32(4), NewAvailabilityZones: []string{"us-east-1a"}}, "InvalidParameterCombination", 400},
		{"auth token", &elasticache.ModifyCacheClusterInput{AuthToken: aws.String("0123456789abcdefXYZ")}, "InvalidParameterCombination", 400},
		{"snapshot", &elasticache.ModifyCacheClusterInput{SnapshotRetentionLimit: aws.Int32(2)}, "InvalidParameterCombination", 400},
		{"engine", &elasticache.ModifyCacheClusterInput{Engine: aws.String("redis")}, "InvalidParameterValue", 400},
		{"nothing", &elasticache.ModifyCacheClusterInput{NumCacheNodes: aws.Int32(2)}, "InvalidParameterCombination", 400},
	} {
		tc.in.CacheClusterId = aws.String("ok")
		tc.in.ApplyImmediately = aws.Bool(true)
		_, err := c.ModifyCacheCluster(ctx, tc.in)
		if code, status := keywardtest.APIError(err); code != tc.code || status != tc.status {
			t.Errorf("modify %s: got %s (%d), want %s (%d): %v", tc.name, code, status, tc.code, tc.status, err)
		}
	}
	_, err = c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("ok"), CacheNodeIdsToReboot: []string{"0007"}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("ok"), FinalSnapshotIdentifier: aws.String("final")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)

	// Without ApplyImmediately a node count change is pending, not applied.
	mod, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("ok"), NumCacheNodes: aws.Int32(4)})
	if err != nil {
		t.Fatal(err)
	}
	if p := mod.CacheCluster.PendingModifiedValues; p == nil || aws.ToInt32(p.NumCacheNodes) != 4 {
		t.Fatalf("pending %+v", p)
	}
	cc := waitCluster(t, c, "ok")
	if aws.ToInt32(cc.NumCacheNodes) != 2 || len(cc.CacheNodes) != 2 || aws.ToInt32(cc.PendingModifiedValues.NumCacheNodes) != 4 {
		t.Fatalf("after a pending change: %d nodes, pending %+v", len(cc.CacheNodes), cc.PendingModifiedValues)
	}
	// ApplyImmediately with another change applies the pending one too.
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("ok"),
		PreferredMaintenanceWindow: aws.String("mon:01:00-mon:02:00"), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	cc = waitCluster(t, c, "ok")
	if len(cc.CacheNodes) != 4 || cc.PendingModifiedValues.NumCacheNodes != nil || aws.ToString(cc.PreferredMaintenanceWindow) != "mon:01:00-mon:02:00" {
		t.Fatalf("after applying: %d nodes, pending %+v, window %s", len(cc.CacheNodes), cc.PendingModifiedValues, aws.ToString(cc.PreferredMaintenanceWindow))
	}
	checkNodesServe(t, cc)

	// Pagination over standalone clusters.
	if _, err := c.CreateCacheCluster(ctx, mc(func(in *elasticache.CreateCacheClusterInput) {
		in.CacheClusterId, in.NumCacheNodes = aws.String("ok2"), aws.Int32(1)
	})); err != nil {
		t.Fatal(err)
	}
	p1, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{MaxRecords: aws.Int32(20)})
	if err != nil || len(p1.CacheClusters) != 2 {
		t.Fatalf("describe all: %v %v", p1, err)
	}
	waitCluster(t, c, "ok2")
}

func TestCacheCluster_Redis(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("solo"), Engine: aws.String("redis"),
		// It keeps backups: a window away from the wall clock, so no backup interrupts the reboot.
		CacheNodeType: aws.String("cache.t4g.micro"), SnapshotRetentionLimit: aws.Int32(2),
		SnapshotWindow: aws.String(awayFromNow("05:00-06:00", "17:00-18:00"))}); err != nil {
		t.Fatal(err)
	}
	cc := waitCluster(t, c, "solo")
	if len(cc.CacheNodes) != 1 || cc.ConfigurationEndpoint != nil || aws.ToInt32(cc.SnapshotRetentionLimit) != 2 ||
		aws.ToString(cc.CacheParameterGroup.CacheParameterGroupName) != "default.redis7" {
		t.Fatalf("redis cluster %+v", cc)
	}
	rc := redis.NewClient(&redis.Options{Addr: nodeAddr(cc.CacheNodes[0])})
	defer rc.Close()
	if err := rc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	engineID := "000000000000.us-east-1.solo"
	before, _ := ts.Engine().Node(engineID)
	if _, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("solo"), CacheNodeIdsToReboot: []string{"0001"}}); err != nil {
		t.Fatal(err)
	}
	cc = waitCluster(t, c, "solo")
	after, _ := ts.Engine().Node(engineID)
	if after == nil || after.PID == before.PID || after.PID == 0 {
		t.Fatalf("pid after reboot %+v, before %+v", after, before)
	}
	// The append-only file keeps the data across the reboot.
	if v, err := rc.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after reboot get = %q, %v", v, err)
	}
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("solo")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"deleting"}, "", clusterStatus(c, "solo"))
	if _, ok := ts.Engine().Node(engineID); ok {
		t.Fatal("redis node left after delete")
	}

	// A TLS cluster with an AUTH token: the node's default user needs it.
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("tok"), Engine: aws.String("redis"),
		CacheNodeType: aws.String("cache.t4g.micro"), TransitEncryptionEnabled: aws.Bool(true), AuthToken: aws.String("token-0123456789abcdef")}); err != nil {
		t.Fatal(err)
	}
	tc := waitCluster(t, c, "tok")
	if !aws.ToBool(tc.AuthTokenEnabled) || !aws.ToBool(tc.TransitEncryptionEnabled) {
		t.Fatalf("token cluster %+v", tc)
	}
	tn := node{addr: nodeAddr(tc.CacheNodes[0]), tls: ts.Engine().TLSConfig()}
	if err := tn.auth("", ""); err == nil {
		t.Error("the token cluster accepts clients without the token")
	}
	if err := tn.auth("default", "token-0123456789abcdef"); err != nil {
		t.Errorf("the token is refused: %v", err)
	}
	_, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("tok2"), Engine: aws.String("redis"),
		CacheNodeType: aws.String("cache.t4g.micro"), AuthToken: aws.String("token-0123456789abcdef")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)

	// A cluster that joins a replication group is a replica with its data.
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("grp"),
		ReplicationGroupDescription: aws.String("g"), NumCacheClusters: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "rg", []string{"creating", "modifying"}, "available", rgStatus(c, "grp"))
	prim := describeCluster(t, c, "grp-001")
	pc := redis.NewClient(&redis.Options{Addr: nodeAddr(prim.CacheNodes[0])})
	defer pc.Close()
	if err := pc.Set(ctx, "shared", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("grp-001"), ReplicationGroupId: aws.String("grp")})
	keywardtest.WantError(t, err, "CacheClusterAlreadyExists", 400)
	_, err = c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("extra"), ReplicationGroupId: aws.String("grp"), AZMode: types.AZModeSingleAz})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	join, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("extra"), ReplicationGroupId: aws.String("grp"),
		PreferredAvailabilityZone: aws.String("us-east-1c")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(join.CacheCluster.ReplicationGroupId) != "grp" || aws.ToString(join.CacheCluster.CacheClusterStatus) != "creating" {
		t.Fatalf("join answered %+v", join.CacheCluster)
	}
	waitTF(t, "join", []string{"creating", "modifying"}, "available", rgStatus(c, "grp"))
	rg, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("grp")})
	if err != nil || !slices.Equal(rg.ReplicationGroups[0].MemberClusters, []string{"grp-001", "extra"}) {
		t.Fatalf("members %v %v", rg, err)
	}
	ex := describeCluster(t, c, "extra")
	if aws.ToString(ex.PreferredAvailabilityZone) != "us-east-1c" {
		t.Errorf("joined AZ %s", aws.ToString(ex.PreferredAvailabilityZone))
	}
	xc := redis.NewClient(&redis.Options{Addr: nodeAddr(ex.CacheNodes[0])})
	defer xc.Close()
	keywardtest.Eventually(t, 10*time.Second, "replica has the data", func() bool {
		v, err := xc.Get(ctx, "shared").Result()
		return err == nil && v == "yes"
	})
	if err := xc.Set(ctx, "w", "1", 0).Err(); err == nil {
		t.Error("the joined replica accepted a write")
	}
	out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{ShowCacheClustersNotInReplicationGroups: aws.Bool(true)})
	if err != nil || len(out.CacheClusters) != 1 || aws.ToString(out.CacheClusters[0].CacheClusterId) != "tok" {
		t.Fatalf("not in replication groups: %v %v", out, err)
	}
	// The primary cannot be deleted; the joined replica leaves the group.
	_, err = c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("grp-001")})
	keywardtest.WantError(t, err, "InvalidCacheClusterState", 400)
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("extra")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "leave", []string{"modifying"}, "available", rgStatus(c, "grp"))
	_, err = c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("extra")})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	keywardtest.Eventually(t, 10*time.Second, "the replica's node stops", func() bool {
		_, ok := ts.Engine().Node("000000000000.us-east-1.extra")
		return !ok
	})
}
