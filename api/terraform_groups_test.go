package api_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/keywardtest"
)

// These tests replay the Terraform AWS provider's call sequences for
// aws_elasticache_parameter_group and aws_elasticache_subnet_group
// (shared/spec/terraform-provider.md §4, §5): after each apply, the read
// gives back the configuration, so the next plan is empty.

// tfParamGroupRead is the provider's Read: DescribeCacheParameterGroups,
// then one DescribeCacheParameters(Source=user) call, lower-cased names.
func tfParamGroupRead(t *testing.T, c *elasticache.Client, name string) (family, desc string, params map[string]string) {
	t.Helper()
	ctx := t.Context()
	g, err := c.DescribeCacheParameterGroups(ctx, &elasticache.DescribeCacheParameterGroupsInput{CacheParameterGroupName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeCacheParameters(ctx, &elasticache.DescribeCacheParametersInput{CacheParameterGroupName: aws.String(name), Source: aws.String("user")})
	if err != nil {
		t.Fatal(err)
	}
	if d.Marker != nil {
		t.Error("DescribeCacheParameters(Source=user) is paginated; the provider reads one page")
	}
	params = map[string]string{}
	for _, p := range d.Parameters {
		if p.ParameterValue != nil {
			params[strings.ToLower(aws.ToString(p.ParameterName))] = aws.ToString(p.ParameterValue)
		}
	}
	pg := g.CacheParameterGroups[0]
	return aws.ToString(pg.CacheParameterGroupFamily), aws.ToString(pg.Description), params
}

func tfModify(t *testing.T, c *elasticache.Client, name string, params map[string]string) {
	t.Helper()
	names := slices.Sorted(maps.Keys(params))
	for len(names) > 0 { // batches of 20
		n := min(20, len(names))
		var nv []types.ParameterNameValue
		for _, k := range names[:n] {
			nv = append(nv, pnv(k, params[k]))
		}
		if _, err := c.ModifyCacheParameterGroup(t.Context(), &elasticache.ModifyCacheParameterGroupInput{CacheParameterGroupName: aws.String(name), ParameterNameValues: nv}); err != nil {
			t.Fatal(err)
		}
		names = names[n:]
	}
}

func TestTerraform_ParameterGroup(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	config := map[string]string{"maxmemory-policy": "allkeys-lru", "notify-keyspace-events": "KEA", "timeout": "300"}
	// Create: CreateCacheParameterGroup, then the Update handler's Modify, then Read + ListTags.
	out, err := c.CreateCacheParameterGroup(ctx, &elasticache.CreateCacheParameterGroupInput{
		CacheParameterGroupName: aws.String("tf-params"), CacheParameterGroupFamily: aws.String("redis7"),
		Description: aws.String("Managed by Terraform"), Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("tf")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.CacheParameterGroup.CacheParameterGroupName)
	tfModify(t, c, id, config)
	family, desc, params := tfParamGroupRead(t, c, id)
	if family != "redis7" || desc != "Managed by Terraform" || !maps.Equal(params, config) {
		t.Fatalf("plan after create not empty: family %s description %q parameters %v, want %v", family, desc, params, config)
	}
	tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: out.CacheParameterGroup.ARN})
	if err != nil || len(tags.TagList) != 1 {
		t.Fatalf("ListTags: %+v %v", tags, err)
	}

	// Update: drop timeout (Reset), change a value and add one (Modify), Read.
	if _, err := c.ResetCacheParameterGroup(ctx, &elasticache.ResetCacheParameterGroupInput{
		CacheParameterGroupName: aws.String(id), ParameterNameValues: []types.ParameterNameValue{{ParameterName: aws.String("timeout")}},
	}); err != nil {
		t.Fatal(err)
	}
	config = map[string]string{"maxmemory-policy": "volatile-lfu", "notify-keyspace-events": "KEA", "slowlog-max-len": "256"}
	tfModify(t, c, id, map[string]string{"maxmemory-policy": "volatile-lfu", "slowlog-max-len": "256"})
	if _, _, params = tfParamGroupRead(t, c, id); !maps.Equal(params, config) {
		t.Fatalf("plan after update not empty: %v, want %v", params, config)
	}

	// Delete: CacheParameterGroupNotFound afterwards means done.
	if _, err := c.DeleteCacheParameterGroup(ctx, &elasticache.DeleteCacheParameterGroupInput{CacheParameterGroupName: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeCacheParameterGroups(ctx, &elasticache.DescribeCacheParameterGroupsInput{CacheParameterGroupName: aws.String(id)})
	keywardtest.WantError(t, err, "CacheParameterGroupNotFound", 404)
}

func TestTerraform_SubnetGroup(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	read := func(name string) (string, []string, string) {
		t.Helper()
		d, err := c.DescribeCacheSubnetGroups(ctx, &elasticache.DescribeCacheSubnetGroupsInput{CacheSubnetGroupName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		g := d.CacheSubnetGroups[0]
		var ids []string
		for _, s := range g.Subnets {
			ids = append(ids, aws.ToString(s.SubnetIdentifier))
		}
		slices.Sort(ids)
		return aws.ToString(g.CacheSubnetGroupDescription), ids, aws.ToString(g.VpcId)
	}
	subnets := []string{"subnet-0123456789abcdef0", "subnet-0aaaaaaaaaaaaaaaa"}
	out, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("TF-Subnets"), CacheSubnetGroupDescription: aws.String("Managed by Terraform"), SubnetIds: subnets,
		Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("tf")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := strings.ToLower("TF-Subnets") // the provider's id
	desc, ids, vpc := read(id)
	if desc != "Managed by Terraform" || !slices.Equal(ids, subnets) || vpc == "" || vpc != aws.ToString(out.CacheSubnetGroup.VpcId) {
		t.Fatalf("plan after create not empty: %q %v %q", desc, ids, vpc)
	}
	if tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: out.CacheSubnetGroup.ARN}); err != nil || len(tags.TagList) != 1 {
		t.Fatalf("ListTags: %+v %v", tags, err)
	}
	subnets = []string{"subnet-0123456789abcdef0", "subnet-0bbbbbbbbbbbbbbbb", "subnet-0cccccccccccccccc"}
	slices.Sort(subnets)
	if _, err := c.ModifyCacheSubnetGroup(ctx, &elasticache.ModifyCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String(id), CacheSubnetGroupDescription: aws.String("three subnets"), SubnetIds: subnets,
	}); err != nil {
		t.Fatal(err)
	}
	if desc, ids, vpc2 := read(id); desc != "three subnets" || !slices.Equal(ids, subnets) || vpc2 != vpc {
		t.Fatalf("plan after update not empty: %q %v %q", desc, ids, vpc2)
	}
	if _, err := c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeCacheSubnetGroups(ctx, &elasticache.DescribeCacheSubnetGroupsInput{CacheSubnetGroupName: aws.String(id)})
	keywardtest.WantError(t, err, "CacheSubnetGroupNotFoundFault", 400)
}
