package api_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// createScaleRG creates a cluster-mode group of shards × (1+replicas)
// nodes over TLS and waits for it.
func createScaleRG(t testing.TB, c *elasticache.Client, id string, shards, replicas int32) types.ReplicationGroup {
	t.Helper()
	if _, err := c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("scale " + id),
		NumNodeGroups: aws.Int32(shards), ReplicasPerNodeGroup: aws.Int32(replicas), TransitEncryptionEnabled: aws.Bool(true),
		AutomaticFailoverEnabled: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	return waitRGWithin(t, c, id, "available", 20*time.Second)
}

func scaleClient(ts *keywardtest.Server, rg types.ReplicationGroup) *redis.ClusterClient {
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:     []string{fmt.Sprintf("%s:%d", aws.ToString(rg.ConfigurationEndpoint.Address), aws.ToInt32(rg.ConfigurationEndpoint.Port))},
		TLSConfig: ts.Engine().TLSConfig(), MaxRetries: 8, MinRetryBackoff: 20 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second,
	})
}

// writer writes key i = i until stopped and remembers what was
// acknowledged.
type writer struct {
	cc    *redis.ClusterClient
	stop  atomic.Bool
	acked []int
	fails int
	wg    sync.WaitGroup
}

func startWriter(ctx context.Context, cc *redis.ClusterClient, prefix string) *writer {
	w := &writer{cc: cc}
	w.wg.Go(func() {
		for i := 0; !w.stop.Load(); i++ {
			if err := cc.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), i, 0).Err(); err == nil {
				w.acked = append(w.acked, i)
			} else {
				w.fails++
			}
		}
	})
	return w
}

func (w *writer) end() { w.stop.Store(true); w.wg.Wait() }

// lost returns the acknowledged writes of w that the cluster lacks.
func (w *writer) lost(ctx context.Context, prefix string) int {
	lost, unreadable, _ := w.readBack(ctx, w.cc, prefix)
	return lost + unreadable
}

// readBack reads every acknowledged write of w back through c. A key that
// is missing or holds another value is lost. A read that fails otherwise
// (a shard still re-announcing itself after a failover, say) is retried
// for up to 10 s and then counted as unreadable with its error, so a
// client error is not reported as lost data, nor lost data hidden.
func (w *writer) readBack(ctx context.Context, c *redis.ClusterClient, prefix string) (lost, unreadable int, lastErr error) {
	deadline := time.Now().Add(10 * time.Second)
	for _, i := range w.acked {
		for {
			v, err := c.Get(ctx, fmt.Sprintf("%s:%d", prefix, i)).Result()
			if err == nil || errors.Is(err, redis.Nil) {
				if v != fmt.Sprint(i) {
					lost++
				}
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				unreadable, lastErr = unreadable+1, err
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return lost, unreadable, lastErr
}

// keysPerPrimary returns how many keys each shard primary cc reaches
// holds, smallest first.
func keysPerPrimary(ctx context.Context, cc *redis.ClusterClient) ([]int64, error) {
	var mu sync.Mutex
	var sizes []int64
	err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		size, err := n.DBSize(ctx).Result()
		mu.Lock()
		sizes = append(sizes, size)
		mu.Unlock()
		return err
	})
	slices.Sort(sizes)
	return sizes, err
}

// shardsHoldingKeys counts the shard primaries cc reaches that hold keys.
func shardsHoldingKeys(ctx context.Context, cc *redis.ClusterClient) (int, error) {
	sizes, err := keysPerPrimary(ctx, cc)
	n := 0
	for _, size := range sizes {
		if size > 0 {
			n++
		}
	}
	return n, err
}

func slotsOf(rg types.ReplicationGroup) (map[string]string, int) {
	out, total := map[string]string{}, 0
	for _, ng := range rg.NodeGroups {
		out[aws.ToString(ng.NodeGroupId)] = aws.ToString(ng.Slots)
		s, _ := keyward.SlotList(aws.ToString(ng.Slots))
		total += len(s)
	}
	return out, total
}

func TestClusterScale_ReshardKeepsEveryKey(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	rg := createScaleRG(t, c, "rs", 2, 1)
	cc := scaleClient(ts, rg)
	defer cc.Close()
	const keys = 5000
	pipe := cc.Pipeline()
	for i := range keys {
		pipe.Set(ctx, fmt.Sprintf("k:%d", i), i, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	everyKey := func(when string) {
		t.Helper()
		for i := range keys {
			if v, err := cc.Get(ctx, fmt.Sprintf("k:%d", i)).Result(); err != nil || v != fmt.Sprint(i) {
				t.Fatalf("%s: k:%d = %q, %v", when, i, v, err)
			}
		}
	}

	// Faults.
	_, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(false)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(501), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "NodeGroupsPerReplicationGroupQuotaExceeded", 400)
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(1), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(1), ApplyImmediately: aws.Bool(true), NodeGroupsToRemove: []string{"0009"}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true), NodeGroupsToRetain: []string{"0001"}})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("nope"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true),
		ReshardingConfiguration: []types.ReshardingConfiguration{{PreferredAvailabilityZones: []string{"us-east-1a"}}}})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)

	// 2 -> 3 shards under a running writer.
	w := startWriter(ctx, cc, "w")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	out, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true),
		ReshardingConfiguration: []types.ReshardingConfiguration{{PreferredAvailabilityZones: []string{"us-east-1c", "us-east-1a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ReplicationGroup.Status) != "modifying" || out.ReplicationGroup.PendingModifiedValues.Resharding == nil {
		t.Fatalf("answered %s, pending %+v", aws.ToString(out.ReplicationGroup.Status), out.ReplicationGroup.PendingModifiedValues)
	}
	_, err = c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(4), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	var progress []float64
	keywardtest.Eventually(t, 60*time.Second, "resharded to 3", func() bool {
		d, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("rs")})
		if err != nil {
			return false
		}
		g := d.ReplicationGroups[0]
		if r := g.PendingModifiedValues.Resharding; r != nil && r.SlotMigration != nil {
			progress = append(progress, aws.ToFloat64(r.SlotMigration.ProgressPercentage))
		}
		rg = g
		return aws.ToString(g.Status) == "available"
	})
	took := time.Since(start)
	w.end()
	slots, total := slotsOf(rg)
	if len(rg.NodeGroups) != 3 || total != keyward.SlotCount || len(rg.MemberClusters) != 6 || rg.PendingModifiedValues.Resharding != nil {
		t.Fatalf("after 2 -> 3: slots %v (%d), members %v, pending %+v", slots, total, rg.MemberClusters, rg.PendingModifiedValues)
	}
	if !slices.Contains(rg.MemberClusters, "rs-0003-001") || aws.ToString(rg.NodeGroups[2].NodeGroupMembers[0].PreferredAvailabilityZone) != "us-east-1c" {
		t.Fatalf("new shard: members %v, zone %v", rg.MemberClusters, aws.ToString(rg.NodeGroups[2].NodeGroupMembers[0].PreferredAvailabilityZone))
	}
	progress = slices.Compact(progress)
	t.Logf("2 -> 3 shards took %v, progress seen %v; writer: %d acked, %d refused during the move", took.Round(time.Millisecond), progress, len(w.acked), w.fails)
	if len(progress) < 2 || !slices.IsSorted(progress) {
		t.Errorf("ProgressPercentage seen: %v, want it rising", progress)
	}
	everyKey("after 2 -> 3")
	if n := w.lost(ctx, "w"); n != 0 {
		t.Fatalf("%d of %d acknowledged writes lost while resharding", n, len(w.acked))
	}
	sizes, err := keysPerPrimary(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) != 3 || sizes[0] == 0 {
		t.Fatalf("keys per primary after 2 -> 3: %v", sizes)
	}

	// 3 -> 2, removing the first shard.
	if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rs"), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true),
		NodeGroupsToRemove: []string{"0001"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	rg = waitRG(t, c, "rs", "available")
	slots, total = slotsOf(rg)
	if len(rg.NodeGroups) != 2 || total != keyward.SlotCount || slots["0001"] != "" || len(rg.MemberClusters) != 4 || slices.Contains(rg.MemberClusters, "rs-0001-001") {
		t.Fatalf("after 3 -> 2: slots %v (%d), members %v", slots, total, rg.MemberClusters)
	}
	cc2 := scaleClient(ts, rg)
	defer cc2.Close()
	cc = cc2
	everyKey("after 3 -> 2")
	keywardtest.Eventually(t, 10*time.Second, "removed nodes stopped", func() bool { return len(ts.Engine().Nodes()) == 4 })
	keywardtest.Eventually(t, 10*time.Second, "cluster forgets the removed nodes", func() bool {
		nodes, err := cc.ClusterNodes(ctx).Result()
		return err == nil && strings.Count(strings.TrimSpace(nodes), "\n") == 3
	})
	events, err := c.DescribeEvents(ctx, &elasticache.DescribeEventsInput{SourceIdentifier: aws.String("rs"), SourceType: types.SourceTypeReplicationGroup})
	if err != nil || len(events.Events) < 3 {
		t.Fatalf("events %v %v", events, err)
	}
}

func TestClusterScale_ReplicaCount(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	rg := createScaleRG(t, c, "rc", 2, 0)
	cc := scaleClient(ts, rg)
	defer cc.Close()
	pipe := cc.Pipeline()
	for i := range 2000 {
		pipe.Set(ctx, fmt.Sprintf("k:%d", i), i, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	_, err := c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(1), ApplyImmediately: aws.Bool(false)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(6), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(0), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "NoOperationFault", 400)
	_, err = c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), ApplyImmediately: aws.Bool(true),
		ReplicaConfiguration: []types.ConfigureShard{{NodeGroupId: aws.String("0007"), NewReplicaCount: aws.Int32(1)}}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), ApplyImmediately: aws.Bool(true),
		ReplicaConfiguration: []types.ConfigureShard{{NodeGroupId: aws.String("0001"), NewReplicaCount: aws.Int32(1), PreferredAvailabilityZones: []string{"us-east-1a"}}}})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("rc"), NodeGroupId: aws.String("0001")})
	keywardtest.WantError(t, err, "TestFailoverNotAvailableFault", 400)

	// Every shard gets a replica; shard 0002 a second one in a named zone.
	if _, err := c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(1), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(2), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	waitRG(t, c, "rc", "available")
	if _, err := c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), ApplyImmediately: aws.Bool(true),
		ReplicaConfiguration: []types.ConfigureShard{{NodeGroupId: aws.String("0002"), NewReplicaCount: aws.Int32(2), PreferredAvailabilityZones: []string{"us-east-1b", "us-east-1c", "us-east-1a"}}}}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "rc", "available")
	if len(rg.NodeGroups[0].NodeGroupMembers) != 2 || len(rg.NodeGroups[1].NodeGroupMembers) != 3 ||
		aws.ToString(rg.NodeGroups[1].NodeGroupMembers[2].PreferredAvailabilityZone) != "us-east-1a" {
		t.Fatalf("node groups after increase: %+v", rg.NodeGroups)
	}
	// Available means the new replicas hold the data: every member has
	// keys, and together they hold every key at least twice (shard
	// 0002's three times).
	var total int64
	for _, m := range rg.MemberClusters {
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(m), ShowCacheNodeInfo: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		n := redis.NewClient(&redis.Options{Addr: nodeAddr(out.CacheClusters[0].CacheNodes[0]), TLSConfig: ts.Engine().TLSConfig()})
		size, err := n.DBSize(ctx).Result()
		n.Close()
		if err != nil || size == 0 {
			t.Fatalf("member %s holds %d keys (%v)", m, size, err)
		}
		total += size
	}
	if total < 2*2000+500 {
		t.Fatalf("the 5 members hold %d keys in all", total)
	}

	// Decrease.
	_, err = c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), ReplicasToRemove: []string{"rc-0001-001"}, ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), ReplicasToRemove: []string{"rc-0009-001"}, ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(1), ReplicasToRemove: []string{"rc-0002-002"}, ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	if _, err := c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), ReplicasToRemove: []string{"rc-0002-002"}, ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "rc", "available")
	if slices.Contains(rg.MemberClusters, "rc-0002-002") || len(rg.MemberClusters) != 4 {
		t.Fatalf("members after removing rc-0002-002: %v", rg.MemberClusters)
	}
	if _, err := c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(0), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "rc", "available")
	if len(rg.MemberClusters) != 2 {
		t.Fatalf("members after NewReplicaCount 0: %v", rg.MemberClusters)
	}
	_, err = c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("rc"), NewReplicaCount: aws.Int32(0), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "NoOperationFault", 400)
	keywardtest.Eventually(t, 10*time.Second, "two nodes left", func() bool { return len(ts.Engine().Nodes()) == 2 })
	for i := range 2000 {
		if v, err := cc.Get(ctx, fmt.Sprintf("k:%d", i)).Result(); err != nil || v != fmt.Sprint(i) {
			t.Fatalf("k:%d = %q, %v", i, v, err)
		}
	}
}

// TestClusterScale_ReplicaCountDisabled covers both operations on a
// cluster-mode-disabled group, with the one-replica floor of automatic
// failover.
func TestClusterScale_ReplicaCountDisabled(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("cmd"), ReplicationGroupDescription: aws.String("x"),
		NumCacheClusters: aws.Int32(2), AutomaticFailoverEnabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	rg := waitRG(t, c, "cmd", "available")
	primary := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", aws.ToString(rg.NodeGroups[0].PrimaryEndpoint.Address), aws.ToInt32(rg.NodeGroups[0].PrimaryEndpoint.Port))})
	defer primary.Close()
	for i := range 500 {
		if err := primary.Set(ctx, fmt.Sprintf("k:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("cmd"), NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("cmd"), NewReplicaCount: aws.Int32(0), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("cmd"), NodeGroupId: aws.String("0002")})
	keywardtest.WantError(t, err, "NodeGroupNotFoundFault", 404)

	if _, err := c.IncreaseReplicaCount(ctx, &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("cmd"), NewReplicaCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "cmd", "available")
	if len(rg.MemberClusters) != 4 || rg.MemberClusters[3] != "cmd-004" {
		t.Fatalf("members %v", rg.MemberClusters)
	}
	for _, m := range rg.NodeGroups[0].NodeGroupMembers[1:] {
		n := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", aws.ToString(m.ReadEndpoint.Address), aws.ToInt32(m.ReadEndpoint.Port))})
		size, err := n.DBSize(ctx).Result()
		n.Close()
		if err != nil || size != 500 {
			t.Fatalf("replica %s holds %d keys when the group is available (%v)", aws.ToString(m.CacheClusterId), size, err)
		}
	}
	if _, err := c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("cmd"), NewReplicaCount: aws.Int32(1), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "cmd", "available")
	if !slices.Equal(rg.MemberClusters, []string{"cmd-001", "cmd-002"}) {
		t.Fatalf("members %v", rg.MemberClusters)
	}
	keywardtest.Eventually(t, 10*time.Second, "two nodes left", func() bool { return len(ts.Engine().Nodes()) == 2 })
	wantEvents(t, c, "cmd-004", "Cache cluster created", "Cache cluster deleted")

	// TestFailover: the replica becomes the primary, the data stays.
	if _, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("cmd"), NodeGroupId: aws.String("0001")}); err != nil {
		t.Fatal(err)
	}
	rg = waitRG(t, c, "cmd", "available")
	members := rg.NodeGroups[0].NodeGroupMembers
	if aws.ToString(members[0].CacheClusterId) != "cmd-002" || aws.ToString(members[0].CurrentRole) != "primary" || aws.ToString(members[1].CurrentRole) != "replica" {
		t.Fatalf("roles after TestFailover: %+v", members)
	}
	np := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", aws.ToString(rg.NodeGroups[0].PrimaryEndpoint.Address), aws.ToInt32(rg.NodeGroups[0].PrimaryEndpoint.Port))})
	defer np.Close()
	if err := np.Set(ctx, "after", 1, 0).Err(); err != nil {
		t.Fatalf("write to the new primary: %v", err)
	}
	if n, err := np.DBSize(ctx).Result(); err != nil || n != 501 {
		t.Fatalf("new primary holds %d keys (%v)", n, err)
	}
	// The primary endpoint's address moved with the role: the former
	// primary is reached on its own address.
	var former *redis.Client
	for _, m := range members {
		if aws.ToString(m.CacheClusterId) == "cmd-001" {
			former = redis.NewClient(&redis.Options{Addr: fmt.Sprintf("%s:%d", aws.ToString(m.ReadEndpoint.Address), aws.ToInt32(m.ReadEndpoint.Port))})
			defer former.Close()
		}
	}
	if former == nil {
		t.Fatalf("cmd-001 not a member: %+v", members)
	}
	if err := former.Set(ctx, "old", 1, 0).Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Fatalf("write to the former primary = %v, want READONLY", err)
	}
	wantEvents(t, c, "cmd", "Test Failover API called for node group 0001", "Failover from primary node cmd-001 to replica node cmd-002 completed")
}

// wantEvents checks that events with these messages exist for source id
// (a replication group or its clusters).
func wantEvents(t *testing.T, c *elasticache.Client, id string, msgs ...string) {
	t.Helper()
	out, err := c.DescribeEvents(t.Context(), &elasticache.DescribeEventsInput{Duration: aws.Int32(60)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out.Events {
		if strings.HasPrefix(aws.ToString(e.SourceIdentifier), id) {
			got = append(got, aws.ToString(e.Message))
		}
	}
	for _, m := range msgs {
		if !slices.Contains(got, m) {
			t.Fatalf("no event %q among %q", m, got)
		}
	}
}

func TestClusterScale_Failover(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	rg := createScaleRG(t, c, "fo", 3, 1)
	cc := scaleClient(ts, rg)
	defer cc.Close()

	_, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("fo"), NodeGroupId: aws.String("0009")})
	keywardtest.WantError(t, err, "NodeGroupNotFoundFault", 404)
	_, err = c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("nope"), NodeGroupId: aws.String("0001")})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)

	// TestFailover under a running writer.
	w := startWriter(ctx, cc, "t")
	time.Sleep(200 * time.Millisecond)
	if _, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("fo"), NodeGroupId: aws.String("0002")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("fo"), NodeGroupId: aws.String("0001")})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	waitRG(t, c, "fo", "available")
	time.Sleep(200 * time.Millisecond)
	w.end()
	if err := cc.Set(ctx, "after-test-failover", 1, 0).Err(); err != nil {
		t.Fatalf("cluster not writable after TestFailover: %v", err)
	}
	lost := w.lost(ctx, "t")
	t.Logf("TestFailover: %d acknowledged writes, %d lost, %d refused", len(w.acked), lost, w.fails)
	if lost != 0 {
		t.Fatalf("TestFailover lost %d acknowledged writes", lost)
	}
	wantEvents(t, c, "fo", "Test Failover API called for node group 0002", "Failover from primary node fo-0002-001 to replica node fo-0002-002 completed",
		"Recovering cache nodes 0001", "Finished recovery for cache nodes 0001")
	// The roles were learned: the former primary is now the replica, so a
	// second TestFailover goes back to it.
	if _, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("fo"), NodeGroupId: aws.String("0002")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "fo", "available")
	wantEvents(t, c, "fo", "Failover from primary node fo-0002-002 to replica node fo-0002-001 completed")
	// A replica's removal is refused once it is the primary.
	_, err = c.DecreaseReplicaCount(ctx, &elasticache.DecreaseReplicaCountInput{ReplicationGroupId: aws.String("fo"), ReplicasToRemove: []string{"fo-0002-001"}, ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// kill -9 of a shard primary: its replica takes over, the killed node
	// comes back as a replica, the cluster stays writable.
	w = startWriter(ctx, cc, "k")
	time.Sleep(300 * time.Millisecond)
	victim := "000000000000.us-east-1.fo-0003-001"
	n, ok := ts.Engine().Node(victim)
	if !ok || n.PID == 0 {
		t.Fatalf("no running %s", victim)
	}
	killed := time.Now()
	if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 30*time.Second, "fo-0003-002 primary", func() bool {
		d, err := c.DescribeEvents(ctx, &elasticache.DescribeEventsInput{SourceIdentifier: aws.String("fo"), SourceType: types.SourceTypeReplicationGroup})
		if err != nil {
			return false
		}
		for _, e := range d.Events {
			if aws.ToString(e.Message) == "Failover from primary node fo-0003-001 to replica node fo-0003-002 completed" {
				return true
			}
		}
		return false
	})
	recovered := time.Since(killed)
	time.Sleep(300 * time.Millisecond)
	w.end()
	if err := cc.Set(ctx, "after-kill", 1, 0).Err(); err != nil {
		t.Fatalf("cluster not writable after the kill: %v", err)
	}
	lost = w.lost(ctx, "k")
	t.Logf("kill -9 of a shard primary: failover seen after %v; %d acknowledged writes, %d lost, %d refused", recovered.Round(time.Millisecond), len(w.acked), lost, w.fails)
	// Redis replication is asynchronous: what the primary acknowledged in
	// its last instant may not have reached the replica.
	if lost > 5 {
		t.Fatalf("kill -9 lost %d acknowledged writes", lost)
	}
	wantEvents(t, c, "fo", "Failover from primary node fo-0003-001 to replica node fo-0003-002 completed")
}
