package api_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// usedMemory reads used_memory from INFO memory.
func usedMemory(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("no used_memory in INFO memory")
	return 0
}

// TestReviewF7_MaxMemoryFromNodeType replays finding F7 of the security
// review: a tenant grew a node without bound. Now every node gets the
// maxmemory ElastiCache sets for its CacheNodeType (cache.t1.micro:
// 142606336 bytes) with the default policy volatile-lru, the tenant's
// writes are refused once the node is full, the tenant cannot lift the
// limit, and a node type change applies the new type's maxmemory.
func TestReviewF7_MaxMemoryFromNodeType(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("f7"), ReplicationGroupDescription: aws.String("F7"),
		CacheNodeType: aws.String("cache.t1.micro"), NumCacheClusters: aws.Int32(2),
	}); err != nil {
		t.Fatal(err)
	}
	nodes := rgNodes(t, ts, waitRG(t, c, "f7", "available"))
	const maxmemory = 142606336
	for i, n := range nodes {
		admin := adminClient(t, ts, fmt.Sprintf("f7-%03d", i+1))
		got, err := admin.ConfigGet(ctx, "maxmemory*").Result()
		admin.Close()
		if err != nil || got["maxmemory"] != strconv.Itoa(maxmemory) || got["maxmemory-policy"] != "volatile-lru" {
			t.Errorf("%s: CONFIG GET maxmemory* = %v, %v; want %d volatile-lru", n.addr, got, err, maxmemory)
		}
	}

	tenant := nodes[0].client("", "") // open access: the default user is the tenant
	defer tenant.Close()
	if err := tenant.ConfigSet(ctx, "maxmemory", "0").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("tenant CONFIG SET maxmemory 0 = %v; want NOPERM", err)
	}
	// Write 16 MiB values until the node refuses; stop well past the limit
	// so that a node without one fails the test rather than the host.
	const chunk = 16 << 20
	var refused error
	for i := 0; i < maxmemory/chunk+4; i++ {
		if err := tenant.SetRange(ctx, fmt.Sprintf("big%d", i), chunk-1, "x").Err(); err != nil {
			refused = err
			break
		}
	}
	if refused == nil || !strings.HasPrefix(refused.Error(), "OOM") {
		t.Fatalf("tenant wrote %d MiB without an OOM refusal (last error %v)", (maxmemory/chunk+4)*16, refused)
	}
	// The node may exceed maxmemory by the one write that crossed it.
	if used := usedMemory(t, tenant); used > maxmemory+chunk+(8<<20) {
		t.Errorf("used_memory %d after the refusal, maxmemory %d", used, maxmemory)
	}
	// Reads still work when the node is full.
	if err := tenant.Get(ctx, "big0").Err(); err != nil {
		t.Errorf("GET on a full node: %v", err)
	}

	// A larger node type applies its maxmemory to every node, without a restart.
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String("f7"), CacheNodeType: aws.String("cache.t4g.micro"), ApplyImmediately: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	rg := waitRG(t, c, "f7", "available")
	if aws.ToString(rg.CacheNodeType) != "cache.t4g.micro" {
		t.Errorf("CacheNodeType after modify = %s", aws.ToString(rg.CacheNodeType))
	}
	for i, n := range nodes {
		admin := adminClient(t, ts, fmt.Sprintf("f7-%03d", i+1))
		keywardtest.Eventually(t, 10*time.Second, n.addr+" maxmemory of cache.t4g.micro", func() bool {
			return admin.ConfigGet(context.Background(), "maxmemory").Val()["maxmemory"] == "536870912"
		})
		admin.Close()
	}
	if err := tenant.SetRange(ctx, "after", 10, "x").Err(); err != nil {
		t.Errorf("write after growing the node type: %v", err)
	}
}

// TestReviewF7_UnknownNodeTypeRefused: a node type ElastiCache does not
// offer for the engine is refused at create and modify time with
// ElastiCache's InvalidParameterValue, so that no node runs without a limit.
func TestReviewF7_UnknownNodeTypeRefused(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	for _, typ := range []string{"cache.t9.nano", "r6g.large", "cache.r8g.large" /* Valkey only */} {
		_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
			ReplicationGroupId: aws.String("f7bad"), ReplicationGroupDescription: aws.String("F7"),
			Engine: aws.String("redis"), CacheNodeType: aws.String(typ),
		})
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
		if err != nil && !strings.Contains(err.Error(), "Invalid Cache Node Type: "+typ+".") {
			t.Errorf("create with %s: %v", typ, err)
		}
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("f7vk"), ReplicationGroupDescription: aws.String("F7"),
		Engine: aws.String("valkey"), CacheNodeType: aws.String("cache.r8g.large"),
	}); err != nil {
		t.Errorf("valkey on cache.r8g.large: %v", err)
	}
	createRG(t, c, "f7ok", 1, false)
	waitRG(t, c, "f7ok", "available")
	_, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String("f7ok"), CacheNodeType: aws.String("cache.t9.nano"), ApplyImmediately: aws.Bool(true),
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	rg := waitRG(t, c, "f7ok", "available")
	if aws.ToString(rg.CacheNodeType) != "cache.t4g.micro" {
		t.Errorf("a refused modify changed CacheNodeType to %s", aws.ToString(rg.CacheNodeType))
	}
}

// TestReviewF7_ServerlessDataStorage: a serverless cache's
// CacheUsageLimits.DataStorage maximum is its node's maxmemory, reported
// back, and changed by ModifyServerlessCache.
func TestReviewF7_ServerlessDataStorage(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	limits := func(unit string, max int32) *types.CacheUsageLimits {
		return &types.CacheUsageLimits{DataStorage: &types.DataStorage{Unit: types.DataStorageUnit(unit), Maximum: aws.Int32(max)}}
	}
	_, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("slbad"), Engine: aws.String("redis"), CacheUsageLimits: limits("TB", 1)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("slbad"), Engine: aws.String("redis"), CacheUsageLimits: limits("GB", 5001)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("sl"), Engine: aws.String("redis"), CacheUsageLimits: limits("GB", 1),
	}); err != nil {
		t.Fatal(err)
	}
	var sc types.ServerlessCache
	wait := func() {
		keywardtest.Eventually(t, 20*time.Second, "serverless available", func() bool {
			d, err := c.DescribeServerlessCaches(ctx, &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String("sl")})
			if err != nil || len(d.ServerlessCaches) != 1 {
				return false
			}
			sc = d.ServerlessCaches[0]
			return aws.ToString(sc.Status) == "available"
		})
	}
	wait()
	if l := sc.CacheUsageLimits; l == nil || l.DataStorage == nil || aws.ToInt32(l.DataStorage.Maximum) != 1 || l.DataStorage.Unit != types.DataStorageUnitGb {
		t.Errorf("CacheUsageLimits = %+v", sc.CacheUsageLimits)
	}
	admin := adminClient(t, ts, "serverless.sl-001")
	defer admin.Close()
	if got := admin.ConfigGet(ctx, "maxmemory").Val()["maxmemory"]; got != strconv.Itoa(1<<30) {
		t.Errorf("maxmemory %s, want 1 GiB", got)
	}
	if _, err := c.ModifyServerlessCache(ctx, &elasticache.ModifyServerlessCacheInput{ServerlessCacheName: aws.String("sl"), CacheUsageLimits: limits("GB", 2)}); err != nil {
		t.Fatal(err)
	}
	wait()
	keywardtest.Eventually(t, 10*time.Second, "maxmemory 2 GiB", func() bool {
		return admin.ConfigGet(context.Background(), "maxmemory").Val()["maxmemory"] == strconv.Itoa(2<<30)
	})
	if aws.ToInt32(sc.CacheUsageLimits.DataStorage.Maximum) != 2 {
		t.Errorf("after modify: %+v", sc.CacheUsageLimits.DataStorage)
	}
}
