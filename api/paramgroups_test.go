package api_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/catalog"
	"keyward/keywardtest"
)

func pnv(name, value string) types.ParameterNameValue {
	return types.ParameterNameValue{ParameterName: aws.String(name), ParameterValue: aws.String(value)}
}

// describeParams returns every parameter of a group, through the paginator.
func describeParams(t *testing.T, c *elasticache.Client, name, source string) map[string]types.Parameter {
	t.Helper()
	in := &elasticache.DescribeCacheParametersInput{CacheParameterGroupName: aws.String(name), MaxRecords: aws.Int32(20)}
	if source != "" {
		in.Source = aws.String(source)
	}
	out := map[string]types.Parameter{}
	pg := elasticache.NewDescribeCacheParametersPaginator(c, in)
	for pg.HasMorePages() {
		page, err := pg.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Parameters {
			out[aws.ToString(p.ParameterName)] = p
		}
	}
	return out
}

func TestCacheParameterGroups_Lifecycle(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	out, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("My-Params"), CacheParameterGroupFamily: aws.String("redis7"),
		Description: aws.String("tuned"), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("cache")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := out.CacheParameterGroup
	arn := "arn:aws:elasticache:us-east-1:000000000000:parametergroup:my-params"
	if aws.ToString(g.CacheParameterGroupName) != "my-params" || aws.ToString(g.CacheParameterGroupFamily) != "redis7" ||
		aws.ToString(g.ARN) != arn || aws.ToBool(g.IsGlobal) {
		t.Errorf("created %+v", g)
	}
	tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	if err != nil || len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "team" {
		t.Errorf("tags %+v, %v", tags, err)
	}
	_, err = c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("my-params"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String("again"),
	})
	keywardtest.WantError(t, err, "CacheParameterGroupAlreadyExists", 400)
	for _, in := range []*elasticache.CreateCacheParameterGroupInput{
		{CacheParameterGroupName: aws.String("bad"), CacheParameterGroupFamily: aws.String("redis99"), Description: aws.String("d")},
		{CacheParameterGroupName: aws.String("1bad"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String("d")},
		{CacheParameterGroupName: aws.String("default.redis7"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String("d")},
		{CacheParameterGroupName: aws.String("nodesc"), CacheParameterGroupFamily: aws.String("redis7"), Description: aws.String(" ")},
	} {
		_, err := c.CreateCacheParameterGroup(ctx, in)
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	}

	// Describe: the built-in groups and ours, by name, paginated.
	var names []string
	pg := elasticache.NewDescribeCacheParameterGroupsPaginator(c, &elasticache.DescribeCacheParameterGroupsInput{MaxRecords: aws.Int32(20)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range page.CacheParameterGroups {
			names = append(names, aws.ToString(g.CacheParameterGroupName))
		}
	}
	for _, want := range []string{"default.redis7", "default.redis7.cluster.on", "default.valkey8", "default.memcached1.6", "my-params"} {
		if !slices.Contains(names, want) {
			t.Errorf("DescribeCacheParameterGroups lacks %s: %v", want, names)
		}
	}
	if !slices.IsSorted(names) || slices.Contains(names, "default.memcached1.6.cluster.on") {
		t.Errorf("names: %v", names)
	}
	_, err = c.DescribeCacheParameterGroups(ctx, &elasticache.DescribeCacheParameterGroupsInput{CacheParameterGroupName: aws.String("nope")})
	keywardtest.WantError(t, err, "CacheParameterGroupNotFound", 404)

	// Modify within the rules.
	if _, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("my-params"),
		ParameterNameValues:     []types.ParameterNameValue{pnv("maxmemory-policy", "allkeys-lru"), pnv("timeout", "300"), pnv("notify-keyspace-events", "KEA")},
	}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []types.ParameterNameValue{
		pnv("no-such-parameter", "1"),
		pnv("activerehashing", "no"),         // not modifiable in redis7
		pnv("active-defrag-cycle-min", "99"), // 1-75
		pnv("timeout", "10"),                 // 0, or 20 and more
		pnv("maxmemory-policy", "lru"),
		pnv("hash-max-ziplist-entries", "1"), // removed in Redis 7
	} {
		_, err := c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
			CacheParameterGroupName: aws.String("my-params"), ParameterNameValues: []types.ParameterNameValue{pnv("timeout", "600"), bad},
		})
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	}
	var many []types.ParameterNameValue
	for i := range 21 {
		many = append(many, pnv("timeout", fmt.Sprint(100+i)))
	}
	_, err = c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{CacheParameterGroupName: aws.String("my-params"), ParameterNameValues: many})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("default.redis7"), ParameterNameValues: []types.ParameterNameValue{pnv("timeout", "300")},
	})
	keywardtest.WantError(t, err, "InvalidCacheParameterGroupState", 400)
	_, err = c.ModifyCacheParameterGroup(ctx, &elasticache.ModifyCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("nope"), ParameterNameValues: []types.ParameterNameValue{pnv("timeout", "300")},
	})
	keywardtest.WantError(t, err, "CacheParameterGroupNotFound", 404)

	// DescribeCacheParameters: every parameter of the family; ours from the user.
	all := describeParams(t, c, "my-params", "")
	f, _ := catalog.LookupFamily("redis7")
	if len(all) != len(f.Parameters) {
		t.Errorf("%d parameters, want %d", len(all), len(f.Parameters))
	}
	if p := all["timeout"]; aws.ToString(p.ParameterValue) != "300" || aws.ToString(p.Source) != "user" {
		t.Errorf("timeout: %+v (a refused request must change nothing)", p)
	}
	if p := all["maxclients"]; aws.ToString(p.ParameterValue) != "65000" || aws.ToString(p.Source) != "system" || aws.ToBool(p.IsModifiable) {
		t.Errorf("maxclients: %+v", p)
	}
	user := describeParams(t, c, "my-params", "user")
	if len(user) != 3 || aws.ToString(user["maxmemory-policy"].ParameterValue) != "allkeys-lru" {
		t.Errorf("Source user: %v", user)
	}
	if p := describeParams(t, c, "default.redis7.cluster.on", "")["cluster-enabled"]; aws.ToString(p.ParameterValue) != "yes" {
		t.Errorf("default.redis7.cluster.on cluster-enabled = %s", aws.ToString(p.ParameterValue))
	}
	_, err = c.DescribeCacheParameters(ctx, &elasticache.DescribeCacheParametersInput{CacheParameterGroupName: aws.String("nope")})
	keywardtest.WantError(t, err, "CacheParameterGroupNotFound", 404)

	// Reset one, then all.
	if _, err := c.ResetCacheParameterGroup(ctx, &elasticache.ResetCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("my-params"), ParameterNameValues: []types.ParameterNameValue{{ParameterName: aws.String("timeout")}},
	}); err != nil {
		t.Fatal(err)
	}
	if user := describeParams(t, c, "my-params", "user"); len(user) != 2 {
		t.Errorf("after resetting timeout: %v", user)
	}
	_, err = c.ResetCacheParameterGroup(ctx, &elasticache.ResetCacheParameterGroupInput{CacheParameterGroupName: aws.String("my-params")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.ResetCacheParameterGroup(ctx, &elasticache.ResetCacheParameterGroupInput{CacheParameterGroupName: aws.String("default.redis7"), ResetAllParameters: aws.Bool(true)})
	keywardtest.WantError(t, err, "InvalidCacheParameterGroupState", 400)
	if _, err := c.ResetCacheParameterGroup(ctx, &elasticache.ResetCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("my-params"), ResetAllParameters: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	if user := describeParams(t, c, "my-params", "user"); len(user) != 0 {
		t.Errorf("after ResetAllParameters: %v", user)
	}

	// Delete.
	_, err = c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("default.redis7")})
	keywardtest.WantError(t, err, "InvalidCacheParameterGroupState", 400)
	if _, err := c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("my-params")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String("my-params")})
	keywardtest.WantError(t, err, "CacheParameterGroupNotFound", 404)
	_, err = c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	keywardtest.WantError(t, err, "CacheParameterGroupNotFound", 404)
}

func TestCacheParameterGroups_Quota(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	for i := range 150 {
		if _, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
			CacheParameterGroupName: aws.String(fmt.Sprintf("pg%03d", i)), CacheParameterGroupFamily: aws.String("valkey8"), Description: aws.String("q"),
		}); err != nil {
			t.Fatalf("group %d: %v", i, err)
		}
	}
	_, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("pg-over"), CacheParameterGroupFamily: aws.String("valkey8"), Description: aws.String("q"),
	})
	keywardtest.WantError(t, err, "CacheParameterGroupQuotaExceeded", 400)
}
