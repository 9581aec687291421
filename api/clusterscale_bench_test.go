package api_test

import (
	"context"
	"fmt"
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

// shardKeys returns the keys held by the primary of node group ng.
func shardKeys(b *testing.B, ts *keywardtest.Server, c *elasticache.Client, rg types.ReplicationGroup, ng string) int64 {
	b.Helper()
	for _, g := range rg.NodeGroups {
		if aws.ToString(g.NodeGroupId) != ng {
			continue
		}
		var most int64 // the primary holds as many keys as any replica
		for _, m := range g.NodeGroupMembers {
			out, err := c.DescribeCacheClusters(b.Context(), &elasticache.DescribeCacheClustersInput{CacheClusterId: m.CacheClusterId, ShowCacheNodeInfo: aws.Bool(true)})
			if err != nil {
				b.Fatal(err)
			}
			n := redis.NewClient(&redis.Options{Addr: nodeAddr(out.CacheClusters[0].CacheNodes[0]), TLSConfig: ts.Engine().TLSConfig()})
			s, err := n.DBSize(b.Context()).Result()
			n.Close()
			if err != nil {
				b.Fatal(err)
			}
			most = max(most, s)
		}
		return most
	}
	b.Fatalf("no node group %s", ng)
	return 0
}

// BenchmarkReshard measures slot migration: a 2-shard × 2-node TLS
// cluster holding -keys keys of 100 bytes goes to 3 shards and back, b.N
// times, with a writer running; it reports the keys moved per second
// (the new shard's keys going up, the removed shard's coming down), the
// slots per second, and the writer's acknowledged writes that were lost.
// Run: go test -run - -bench Reshard -benchtime 3x ./api/
func BenchmarkReshard(b *testing.B) {
	redistest.Binary(b)
	ts := keywardtest.New(b)
	c := ts.Client
	ctx := b.Context()
	rg := createScaleRG(b, c, "rb", 2, 1)
	waitAvailable := func() { rg = waitRGWithin(b, c, "rb", "available", 300*time.Second) }
	cc := scaleClient(ts, rg)
	defer cc.Close()
	const keys = 100_000
	value := strings.Repeat("v", 100)
	pipe := cc.Pipeline()
	for i := range keys {
		pipe.Set(ctx, fmt.Sprintf("key:%d", i), value, 0)
		if i%5000 == 4999 {
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	var moved, slots int64
	var took time.Duration
	var acked, lost, refused int
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		w := startWriter(ctx, cc, fmt.Sprintf("w%d", i))
		time.Sleep(100 * time.Millisecond)
		b.StartTimer()
		start := time.Now()
		if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rb"),
			NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		waitAvailable()
		took += time.Since(start)
		b.StopTimer()
		newShard := aws.ToString(rg.NodeGroups[2].NodeGroupId)
		moved += shardKeys(b, ts, c, rg, newShard)
		slots += 16384 / 3
		down := shardKeys(b, ts, c, rg, newShard)
		b.StartTimer()
		start = time.Now()
		if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{ReplicationGroupId: aws.String("rb"),
			NodeGroupCount: aws.Int32(2), ApplyImmediately: aws.Bool(true), NodeGroupsToRemove: []string{newShard}}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		waitAvailable()
		took += time.Since(start)
		b.StopTimer()
		moved += down
		slots += 16384 / 3
		w.end()
		acked, lost, refused = acked+len(w.acked), lost+w.lost(ctx, fmt.Sprintf("w%d", i)), refused+w.fails
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(moved)/took.Seconds(), "keys/s")
	b.ReportMetric(float64(slots)/took.Seconds(), "slots/s")
	b.ReportMetric(float64(acked), "acked-writes")
	b.ReportMetric(float64(lost), "lost-writes")
	b.ReportMetric(float64(refused), "refused-writes")
}

// BenchmarkClusterFailover measures failovers of a 3-shard × 2-node TLS
// cluster under a writer: each round a TestFailover of one shard and a
// kill -9 of another shard's primary. It reports the time until the
// cluster took a write again after the kill, and the acknowledged writes
// lost by each kind of failover (Redis replication is asynchronous: a
// write the dead primary acknowledged may not have reached its replica).
// Run: go test -run - -bench ClusterFailover -benchtime 5x ./api/
func BenchmarkClusterFailover(b *testing.B) {
	redistest.Binary(b)
	ts := keywardtest.New(b)
	c := ts.Client
	ctx := b.Context()
	rg := createScaleRG(b, c, "fb", 3, 1)
	waitAvailable := func() { rg = waitRGWithin(b, c, "fb", "available", 60*time.Second) }
	cc := scaleClient(ts, rg)
	defer cc.Close()
	var testAcked, testLost, killAcked, killLost int
	var writable time.Duration
	for i := range b.N {
		w := startWriter(ctx, cc, fmt.Sprintf("t%d", i))
		time.Sleep(200 * time.Millisecond)
		if _, err := c.TestFailover(ctx, &elasticache.TestFailoverInput{ReplicationGroupId: aws.String("fb"), NodeGroupId: aws.String("0001")}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		waitAvailable()
		time.Sleep(200 * time.Millisecond)
		w.end()
		testAcked, testLost = testAcked+len(w.acked), testLost+w.lost(ctx, fmt.Sprintf("t%d", i))

		// kill -9 of shard 0002's current primary (the roles alternate).
		victim := fmt.Sprintf("000000000000.us-east-1.fb-0002-%03d", 1+i%2)
		n, ok := ts.Engine().Node(victim)
		if !ok || n.PID == 0 {
			b.Fatalf("no running %s", victim)
		}
		w = startWriter(ctx, cc, fmt.Sprintf("k%d", i))
		time.Sleep(200 * time.Millisecond)
		killed := time.Now()
		if err := syscall.Kill(n.PID, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		// A key of shard 0002 (slots 5462-10922) writable again?
		keywardtest.Eventually(b, 30*time.Second, "shard 0002 writable", func() bool {
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			return cc.Set(cctx, "{c}probe", i, 0).Err() == nil // {c}: slot 7365, shard 0002
		})
		writable += time.Since(killed)
		time.Sleep(300 * time.Millisecond)
		w.end()
		killAcked, killLost = killAcked+len(w.acked), killLost+w.lost(ctx, fmt.Sprintf("k%d", i))
		waitAvailable()
	}
	b.ReportMetric(float64(writable.Milliseconds())/float64(b.N), "ms-to-writable-after-kill")
	b.ReportMetric(float64(testAcked), "testfailover-acked")
	b.ReportMetric(float64(testLost), "testfailover-lost")
	b.ReportMetric(float64(killAcked), "kill-acked")
	b.ReportMetric(float64(killLost), "kill-lost")
}
