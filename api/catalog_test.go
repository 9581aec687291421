package api_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/catalog"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func TestDescribeCacheEngineVersions(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	// Every version, in pages of 20, through the SDK's paginator.
	var all []types.CacheEngineVersion
	pages := 0
	pg := elasticache.NewDescribeCacheEngineVersionsPaginator(c, &elasticache.DescribeCacheEngineVersionsInput{MaxRecords: aws.Int32(20)})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, out.CacheEngineVersions...)
	}
	if len(all) != len(catalog.EngineVersions()) || pages != (len(all)+19)/20 {
		t.Fatalf("%d versions in %d pages, want %d", len(all), pages, len(catalog.EngineVersions()))
	}
	found := false
	for _, v := range all {
		if aws.ToString(v.Engine) == "redis" && aws.ToString(v.EngineVersion) == "7.1" {
			found = aws.ToString(v.CacheParameterGroupFamily) == "redis7" && aws.ToString(v.CacheEngineDescription) == "Redis"
		}
	}
	if !found {
		t.Error("redis 7.1 (redis7) missing")
	}

	for _, c2 := range []struct {
		in   elasticache.DescribeCacheEngineVersionsInput
		want []string // engine/version
	}{
		{elasticache.DescribeCacheEngineVersionsInput{Engine: aws.String("valkey"), DefaultOnly: aws.Bool(true)}, []string{"valkey/7.2"}},
		{elasticache.DescribeCacheEngineVersionsInput{DefaultOnly: aws.Bool(true)}, []string{"redis/7.0", "valkey/7.2", "memcached/1.6.18"}},
		{elasticache.DescribeCacheEngineVersionsInput{CacheParameterGroupFamily: aws.String("redis7"), DefaultOnly: aws.Bool(true)}, []string{"redis/7.0"}},
		{elasticache.DescribeCacheEngineVersionsInput{CacheParameterGroupFamily: aws.String("redis6.x"), DefaultOnly: aws.Bool(true)}, nil},
		{elasticache.DescribeCacheEngineVersionsInput{Engine: aws.String("redis"), EngineVersion: aws.String("7.1"), DefaultOnly: aws.Bool(true)}, nil},
		{elasticache.DescribeCacheEngineVersionsInput{Engine: aws.String("Redis"), EngineVersion: aws.String("6.2")}, []string{"redis/6.2"}},
		{elasticache.DescribeCacheEngineVersionsInput{CacheParameterGroupFamily: aws.String("redis6.x")}, []string{"redis/6.0", "redis/6.2"}},
		{elasticache.DescribeCacheEngineVersionsInput{Engine: aws.String("mysql")}, nil},
	} {
		out, err := c.DescribeCacheEngineVersions(ctx, &c2.in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range out.CacheEngineVersions {
			got = append(got, aws.ToString(v.Engine)+"/"+aws.ToString(v.EngineVersion))
		}
		if !slices.Equal(got, c2.want) {
			t.Errorf("%+v: %v, want %v", c2.in, got, c2.want)
		}
	}
	_, err := c.DescribeCacheEngineVersions(ctx, &elasticache.DescribeCacheEngineVersionsInput{MaxRecords: aws.Int32(5)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.DescribeCacheEngineVersions(ctx, &elasticache.DescribeCacheEngineVersionsInput{Marker: aws.String("bogus")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}

// TestDescribeCacheEngineVersions_DefaultOnlyCreates: the version
// DefaultOnly answers for each engine is one a create accepts, as a stack
// that feeds the default into CreateReplicationGroup or CreateCacheCluster
// does; ElastiCache's own default (redis 7.1) is accepted too (its nodes
// serve it, see TestReplicationGroup_EngineVersionUpgrade), and a listed
// version they cannot serve (redis 6.2) is refused.
func TestDescribeCacheEngineVersions_DefaultOnlyCreates(t *testing.T) {
	redistest.Binary(t)
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	def := func(engine string) types.CacheEngineVersion {
		t.Helper()
		out, err := c.DescribeCacheEngineVersions(ctx, &elasticache.DescribeCacheEngineVersionsInput{Engine: aws.String(engine), DefaultOnly: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.CacheEngineVersions) != 1 {
			t.Fatalf("%s: %d default versions", engine, len(out.CacheEngineVersions))
		}
		return out.CacheEngineVersions[0]
	}
	r := def("redis")
	if aws.ToString(r.EngineVersion) != "7.0" || aws.ToString(r.CacheParameterGroupFamily) != "redis7" || aws.ToString(r.CacheEngineDescription) != "Redis" {
		t.Errorf("redis default %+v", r)
	}
	rg, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("from-default"), ReplicationGroupDescription: aws.String("d"),
		Engine: aws.String("redis"), EngineVersion: r.EngineVersion,
		CacheParameterGroupName: aws.String("default." + aws.ToString(r.CacheParameterGroupFamily)),
	})
	if err != nil {
		t.Fatalf("CreateReplicationGroup with the default version: %v", err)
	}
	if n := rg.ReplicationGroup.MemberClusters; len(n) != 1 {
		t.Errorf("replication group members %v", n)
	}
	m := def("memcached")
	if aws.ToString(m.EngineVersion) != "1.6.18" || aws.ToString(m.CacheParameterGroupFamily) != "memcached1.6" ||
		aws.ToString(m.CacheEngineVersionDescription) != "memcached version 1.6.18" {
		t.Errorf("memcached default %+v", m)
	}
	cl, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mc-default"), Engine: aws.String("memcached"), EngineVersion: m.EngineVersion,
		CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
	})
	if err != nil {
		t.Fatalf("CreateCacheCluster with the default version: %v", err)
	}
	if aws.ToString(cl.CacheCluster.EngineVersion) != "1.6.18" {
		t.Errorf("cluster version %q", aws.ToString(cl.CacheCluster.EngineVersion))
	}
	// ElastiCache's default is accepted; an older line in the list is not.
	if _, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("elasticache-default"), ReplicationGroupDescription: aws.String("d"), EngineVersion: aws.String("7.1"),
	}); err != nil {
		t.Errorf("CreateReplicationGroup with ElastiCache's default version 7.1: %v", err)
	}
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("older-line"), ReplicationGroupDescription: aws.String("d"), EngineVersion: aws.String("6.2"),
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
}

func TestDescribeEngineDefaultParameters(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	var params []types.Parameter
	var nodeSpecific []types.CacheNodeTypeSpecificParameter
	pg := elasticache.NewDescribeEngineDefaultParametersPaginator(c, &elasticache.DescribeEngineDefaultParametersInput{
		CacheParameterGroupFamily: aws.String("redis7"), MaxRecords: aws.Int32(20),
	})
	for pg.HasMorePages() {
		out, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.EngineDefaults.CacheParameterGroupFamily) != "redis7" {
			t.Errorf("family %s", aws.ToString(out.EngineDefaults.CacheParameterGroupFamily))
		}
		params = append(params, out.EngineDefaults.Parameters...)
		nodeSpecific = append(nodeSpecific, out.EngineDefaults.CacheNodeTypeSpecificParameters...)
	}
	f, _ := catalog.LookupFamily("redis7")
	if len(params) != len(f.Parameters) || len(params) <= 20 {
		t.Fatalf("%d parameters, want %d over several pages", len(params), len(f.Parameters))
	}
	byName := map[string]types.Parameter{}
	for _, p := range params {
		byName[aws.ToString(p.ParameterName)] = p
	}
	mp := byName["maxmemory-policy"]
	if aws.ToString(mp.ParameterValue) != "volatile-lru" || aws.ToString(mp.Source) != "system" || !aws.ToBool(mp.IsModifiable) ||
		mp.ChangeType != types.ChangeTypeImmediate || aws.ToString(mp.DataType) != "string" || aws.ToString(mp.MinimumEngineVersion) != "2.6.13" {
		t.Errorf("maxmemory-policy: %+v", mp)
	}
	if p, ok := byName["hash-max-listpack-entries"]; !ok || aws.ToString(p.AllowedValues) != "0-" || aws.ToString(p.ParameterValue) != "512" {
		t.Errorf("hash-max-listpack-entries: %+v", p)
	}
	if _, ok := byName["hash-max-ziplist-entries"]; ok {
		t.Error("redis7 lists hash-max-ziplist-entries, which Redis 7 removed")
	}
	if len(nodeSpecific) != 1 || aws.ToString(nodeSpecific[0].ParameterName) != "maxmemory" {
		t.Fatalf("node-type specific: %+v", nodeSpecific)
	}
	values := map[string]string{}
	for _, v := range nodeSpecific[0].CacheNodeTypeSpecificValues {
		values[aws.ToString(v.CacheNodeType)] = aws.ToString(v.Value)
	}
	if values["cache.r7g.large"] != "14037181030" || values["cache.t4g.micro"] != "536870912" {
		t.Errorf("maxmemory values: r7g.large %s t4g.micro %s", values["cache.r7g.large"], values["cache.t4g.micro"])
	}

	out, err := c.DescribeEngineDefaultParameters(ctx, &elasticache.DescribeEngineDefaultParametersInput{CacheParameterGroupFamily: aws.String("memcached1.6")})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(out.EngineDefaults.CacheNodeTypeSpecificParameters); n != 2 {
		t.Errorf("memcached1.6: %d node-type specific parameters, want max_cache_memory and num_threads", n)
	}
	_, err = c.DescribeEngineDefaultParameters(ctx, &elasticache.DescribeEngineDefaultParametersInput{CacheParameterGroupFamily: aws.String("redis99")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
}

func TestListAllowedNodeTypeModifications(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	createRG(t, c, "scale", 2, false) // cache.t4g.micro
	waitRG(t, c, "scale", "available")
	for _, in := range []*elasticache.ListAllowedNodeTypeModificationsInput{
		{ReplicationGroupId: aws.String("scale")},
		{CacheClusterId: aws.String("scale-002")},
	} {
		out, err := c.ListAllowedNodeTypeModifications(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		up, down, _ := catalog.ScaleModifications("redis", "cache.t4g.micro")
		if !slices.Equal(out.ScaleUpModifications, up) || !slices.Equal(out.ScaleDownModifications, down) ||
			!slices.Contains(out.ScaleUpModifications, "cache.r7g.large") || slices.Contains(out.ScaleUpModifications, "cache.t4g.micro") {
			t.Errorf("%+v: up %v down %v", in, out.ScaleUpModifications, out.ScaleDownModifications)
		}
	}
	_, err := c.ListAllowedNodeTypeModifications(ctx, &elasticache.ListAllowedNodeTypeModificationsInput{ReplicationGroupId: aws.String("nope")})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	_, err = c.ListAllowedNodeTypeModifications(ctx, &elasticache.ListAllowedNodeTypeModificationsInput{CacheClusterId: aws.String("nope-001")})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	_, err = c.ListAllowedNodeTypeModifications(ctx, &elasticache.ListAllowedNodeTypeModificationsInput{})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.ListAllowedNodeTypeModifications(ctx, &elasticache.ListAllowedNodeTypeModificationsInput{ReplicationGroupId: aws.String("scale"), CacheClusterId: aws.String("scale-001")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}
