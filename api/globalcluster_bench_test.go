package api_test

import (
	"context"
	"fmt"
	"slices"
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

// BenchmarkGlobalClusterLag measures how far behind a cluster-mode
// secondary's shard (fed by keyward's link: PSYNC stream read, commands
// re-sent over the admin socket) is, next to the primary shard's own Redis
// replica (native replication), on the same writes: each iteration
// pipelines -batch SETs into the primary shard, then polls both until
// they hold the batch's keys. It reports the medians (ms) and their
// ratio. Run: go test -run - -bench GlobalClusterLag -benchtime 20x ./api/
func BenchmarkGlobalClusterLag(b *testing.B) {
	redistest.Binary(b)
	ts := keywardtest.New(b)
	east, west := ts.Client, ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	ctx := b.Context()
	if _, err := east.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("lagp"), ReplicationGroupDescription: aws.String("bench"), NumNodeGroups: aws.Int32(1),
		ClusterMode: types.ClusterModeEnabled, ReplicasPerNodeGroup: aws.Int32(1), CacheNodeType: aws.String("cache.r6g.large"),
		AutomaticFailoverEnabled: aws.Bool(true), TransitEncryptionEnabled: aws.Bool(true)}); err != nil {
		b.Fatal(err)
	}
	keywardtest.Eventually(b, 60*time.Second, "primary available", func() bool { return rgAvailable(east, "lagp") })
	if _, err := east.CreateGlobalReplicationGroup(ctx, &elasticache.CreateGlobalReplicationGroupInput{
		GlobalReplicationGroupIdSuffix: aws.String("lag"), PrimaryReplicationGroupId: aws.String("lagp")}); err != nil {
		b.Fatal(err)
	}
	var lastErr error
	keywardtest.Eventually(b, 60*time.Second, "global", func() bool {
		_, err := west.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("lags"),
			ReplicationGroupDescription: aws.String("bench"), GlobalReplicationGroupId: aws.String("ldgnf-lag"), ReplicasPerNodeGroup: aws.Int32(1)})
		lastErr = err
		return err == nil
	})
	if lastErr != nil {
		b.Fatal(lastErr)
	}
	keywardtest.Eventually(b, 60*time.Second, "secondary available", func() bool { return rgAvailable(west, "lags") })
	admin := func(region, cluster string) *redis.Client {
		id := "000000000000." + region + "." + cluster
		en, ok := ts.Engine().Node(id)
		if !ok {
			b.Fatalf("no node %s", id)
		}
		pw, err := engine.NodeAdminPassword(ts.Config.DataDir, en.ID)
		if err != nil {
			b.Fatal(err)
		}
		return node{addr: en.Addr, tls: ts.Engine().TLSConfig()}.client(engine.AdminUser, pw)
	}
	// The primary is the shard's first node until a failover.
	p, r, s := admin("us-east-1", "lagp-0001-001"), admin("us-east-1", "lagp-0001-002"), admin("us-west-2", "lags-0001-001")
	defer p.Close()
	defer r.Close()
	defer s.Close()
	const batch = 1000
	var native, link []float64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		pipe := p.Pipeline()
		for j := range batch {
			pipe.Set(ctx, fmt.Sprintf("b%d:%d", i, j), "0123456789012345678901234567890123456789", 0)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		// DBSIZE: a cluster replica answers it without READONLY.
		start, want := time.Now(), int64((i+1)*batch)
		var tn, tl time.Duration
		for tn == 0 || tl == 0 {
			if tn == 0 && r.DBSize(context.Background()).Val() >= want {
				tn = time.Since(start)
			}
			if tl == 0 && s.DBSize(context.Background()).Val() >= want {
				tl = time.Since(start)
			}
			if time.Since(start) > 30*time.Second {
				b.Fatalf("batch %d not replicated: native %v, link %v", i, tn, tl)
			}
		}
		native, link = append(native, float64(tn.Microseconds())/1000), append(link, float64(tl.Microseconds())/1000)
	}
	b.StopTimer()
	med := func(v []float64) float64 { slices.Sort(v); return v[len(v)/2] }
	mn, ml := med(native), med(link)
	b.ReportMetric(mn, "native-ms")
	b.ReportMetric(ml, "link-ms")
	b.ReportMetric(ml/mn, "link/native")
}

func rgAvailable(c *elasticache.Client, id string) bool {
	out, err := c.DescribeReplicationGroups(context.Background(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
	return err == nil && len(out.ReplicationGroups) == 1 && aws.ToString(out.ReplicationGroups[0].Status) == "available"
}
