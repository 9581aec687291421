package api_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/catalog"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestCacheCluster_RedisMemoryFromNodeType: a standalone Redis cluster's
// node gets its node type's maxmemory and ElastiCache's default policy, as
// a replication group's nodes do, and a node type change reaches it.
func TestCacheCluster_RedisMemoryFromNodeType(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("sized"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "sized")
	admin := adminClient(t, ts, "sized")
	defer admin.Close()
	want := func(nodeType string) {
		t.Helper()
		n, _ := catalog.MaxMemory("redis", nodeType)
		keywardtest.Eventually(t, 10*time.Second, "maxmemory of "+nodeType, func() bool {
			got := admin.ConfigGet(context.Background(), "maxmemory").Val()["maxmemory"]
			return got == strconv.FormatInt(n, 10) && admin.ConfigGet(context.Background(), "maxmemory-policy").Val()["maxmemory-policy"] == "volatile-lru"
		})
	}
	want("cache.t4g.micro")
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{
		CacheClusterId: aws.String("sized"), ApplyImmediately: aws.Bool(true), CacheNodeType: aws.String("cache.t4g.small"),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "sized")
	want("cache.t4g.small")
}
