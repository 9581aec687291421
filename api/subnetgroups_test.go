package api_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func subnetAZs(g *types.CacheSubnetGroup) map[string]string {
	out := map[string]string{}
	for _, s := range g.Subnets {
		out[aws.ToString(s.SubnetIdentifier)] = aws.ToString(s.SubnetAvailabilityZone.Name)
	}
	return out
}

func TestCacheSubnetGroups_Lifecycle(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	s1, s2, s3 := "subnet-0123456789abcdef0", "subnet-11112222", "subnet-0fedcba9876543210"
	out, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("App-Subnets"), CacheSubnetGroupDescription: aws.String("app"),
		SubnetIds: []string{s2, s1, s1}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("dev")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := out.CacheSubnetGroup
	arn := "arn:aws:elasticache:us-east-1:000000000000:subnetgroup:app-subnets"
	azs := subnetAZs(g)
	if aws.ToString(g.CacheSubnetGroupName) != "app-subnets" || aws.ToString(g.ARN) != arn || len(g.Subnets) != 2 ||
		!strings.HasPrefix(aws.ToString(g.VpcId), "vpc-") || !slices.Equal(g.SupportedNetworkTypes, []types.NetworkType{types.NetworkTypeIpv4}) {
		t.Fatalf("created %+v", g)
	}
	for id, az := range azs {
		if len(az) != len("us-east-1a") || !strings.HasPrefix(az, "us-east-1") || !strings.Contains("abc", az[len(az)-1:]) {
			t.Errorf("subnet %s in zone %q", id, az)
		}
	}
	if tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)}); err != nil || len(tags.TagList) != 1 {
		t.Errorf("tags %+v, %v", tags, err)
	}

	// The built-in default group, in the same VPC; both listed by name.
	d, err := c.DescribeCacheSubnetGroups(ctx, &elasticache.DescribeCacheSubnetGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.CacheSubnetGroups) != 2 || aws.ToString(d.CacheSubnetGroups[0].CacheSubnetGroupName) != "app-subnets" ||
		aws.ToString(d.CacheSubnetGroups[1].CacheSubnetGroupName) != "default" || len(d.CacheSubnetGroups[1].Subnets) != 3 ||
		aws.ToString(d.CacheSubnetGroups[1].VpcId) != aws.ToString(g.VpcId) {
		t.Fatalf("DescribeCacheSubnetGroups: %+v", d.CacheSubnetGroups)
	}
	defaultZones := map[string]bool{}
	for _, az := range subnetAZs(&d.CacheSubnetGroups[1]) {
		defaultZones[az] = true
	}
	if len(defaultZones) == 0 {
		t.Error("default group without zones")
	}
	// Another region is another scope: its own groups, VPC and zones.
	other := ts.NewClient("eu-west-1", "AKIDOTHER", "other-secret")
	if o, err := other.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("app-subnets"), CacheSubnetGroupDescription: aws.String("app"), SubnetIds: []string{s1},
	}); err != nil {
		t.Fatal(err)
	} else if az := subnetAZs(o.CacheSubnetGroup)[s1]; !strings.HasPrefix(az, "eu-west-1") || aws.ToString(o.CacheSubnetGroup.VpcId) == aws.ToString(g.VpcId) {
		t.Errorf("eu-west-1: subnet %s in zone %s, VPC %s", s1, az, aws.ToString(o.CacheSubnetGroup.VpcId))
	}
	again, err := c.DescribeCacheSubnetGroups(ctx, &elasticache.DescribeCacheSubnetGroupsInput{CacheSubnetGroupName: aws.String("APP-SUBNETS")})
	if err != nil || subnetAZs(&again.CacheSubnetGroups[0])[s1] != azs[s1] {
		t.Errorf("zones not stable: %v", err)
	}

	_, err = c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("app-subnets"), CacheSubnetGroupDescription: aws.String("x"), SubnetIds: []string{s1},
	})
	keywardtest.WantError(t, err, "CacheSubnetGroupAlreadyExists", 400)
	_, err = c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("default"), CacheSubnetGroupDescription: aws.String("x"), SubnetIds: []string{s1},
	})
	keywardtest.WantError(t, err, "CacheSubnetGroupAlreadyExists", 400)
	for _, ids := range [][]string{{"subnet-xyz"}, {"sg-12345678"}, {s1, "subnet-1234"}} {
		_, err = c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
			CacheSubnetGroupName: aws.String("bad"), CacheSubnetGroupDescription: aws.String("x"), SubnetIds: ids,
		})
		keywardtest.WantError(t, err, "InvalidSubnet", 400)
	}
	var many []string
	for i := range 21 {
		many = append(many, fmt.Sprintf("subnet-%08x", i))
	}
	_, err = c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("many"), CacheSubnetGroupDescription: aws.String("x"), SubnetIds: many,
	})
	keywardtest.WantError(t, err, "CacheSubnetQuotaExceededFault", 400)

	// Modify.
	m, err := c.ModifyCacheSubnetGroup(ctx, &elasticache.ModifyCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("app-subnets"), CacheSubnetGroupDescription: aws.String("app, three zones"), SubnetIds: []string{s1, s2, s3},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.CacheSubnetGroup.Subnets) != 3 || aws.ToString(m.CacheSubnetGroup.CacheSubnetGroupDescription) != "app, three zones" ||
		subnetAZs(m.CacheSubnetGroup)[s1] != azs[s1] {
		t.Errorf("modified %+v", m.CacheSubnetGroup)
	}
	_, err = c.ModifyCacheSubnetGroup(ctx, &elasticache.ModifyCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("nope"), CacheSubnetGroupDescription: aws.String("x")})
	keywardtest.WantError(t, err, "CacheSubnetGroupNotFoundFault", 400)
	_, err = c.ModifyCacheSubnetGroup(ctx, &elasticache.ModifyCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("app-subnets"), SubnetIds: []string{"subnet-nothex00"}})
	keywardtest.WantError(t, err, "InvalidSubnet", 400)

	// Delete.
	_, err = c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("default")})
	keywardtest.WantError(t, err, "CacheSubnetGroupInUse", 400)
	if _, err := c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("app-subnets")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteCacheSubnetGroup(ctx, &elasticache.DeleteCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("app-subnets")})
	keywardtest.WantError(t, err, "CacheSubnetGroupNotFoundFault", 400)
	_, err = c.DescribeCacheSubnetGroups(ctx, &elasticache.DescribeCacheSubnetGroupsInput{CacheSubnetGroupName: aws.String("app-subnets")})
	keywardtest.WantError(t, err, "CacheSubnetGroupNotFoundFault", 400)
}

func TestCacheSubnetGroups_PaginationAndQuota(t *testing.T) {
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	for i := range 149 { // with the built-in default: the quota of 150
		if _, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
			CacheSubnetGroupName: aws.String(fmt.Sprintf("sg%03d", i)), CacheSubnetGroupDescription: aws.String("q"), SubnetIds: []string{fmt.Sprintf("subnet-%08x", i)},
		}); err != nil {
			t.Fatalf("group %d: %v", i, err)
		}
	}
	_, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("over"), CacheSubnetGroupDescription: aws.String("q"), SubnetIds: []string{"subnet-ffffffff"},
	})
	keywardtest.WantError(t, err, "CacheSubnetGroupQuotaExceeded", 400)
	var names []string
	pages := 0
	pg := elasticache.NewDescribeCacheSubnetGroupsPaginator(c, &elasticache.DescribeCacheSubnetGroupsInput{MaxRecords: aws.Int32(40)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range page.CacheSubnetGroups {
			names = append(names, aws.ToString(g.CacheSubnetGroupName))
		}
	}
	if len(names) != 150 || pages != 4 || !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != 150 {
		t.Errorf("%d groups in %d pages (sorted %v)", len(names), pages, slices.IsSorted(names))
	}
}

// TestCacheSubnetGroups_PlaceNodes: a replication group in a subnet group
// spreads its nodes over the zones of the group's subnets; asked zones win.
func TestCacheSubnetGroups_PlaceNodes(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	// Two subnets in different zones (zones are derived from the ids).
	var picked []string
	zones := map[string]bool{}
	for i := 0; len(picked) < 2 && i < 50; i++ {
		id := fmt.Sprintf("subnet-%08x", 0xabc00+i)
		out, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
			CacheSubnetGroupName: aws.String(fmt.Sprintf("probe%d", i)), CacheSubnetGroupDescription: aws.String("p"), SubnetIds: []string{id},
		})
		if err != nil {
			t.Fatal(err)
		}
		if z := subnetAZs(out.CacheSubnetGroup)[id]; !zones[z] {
			zones[z] = true
			picked = append(picked, id)
		}
	}
	g, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("two-zones"), CacheSubnetGroupDescription: aws.String("p"), SubnetIds: picked,
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, z := range subnetAZs(g.CacheSubnetGroup) {
		want = append(want, z)
	}
	slices.Sort(want)
	rg, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("placed"), ReplicationGroupDescription: aws.String("p"), NumCacheClusters: aws.Int32(3),
		CacheSubnetGroupName: aws.String("two-zones"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rg.ReplicationGroup.NodeGroups[0].NodeGroupMembers {
		got = append(got, aws.ToString(m.PreferredAvailabilityZone))
	}
	if !slices.Equal(got, []string{want[0], want[1], want[0]}) {
		t.Errorf("nodes in zones %v, want spread over %v", got, want)
	}
}

// TestCacheSubnetGroups_SubnetInUse: a subnet list that takes away the
// only subnet of a zone where a cache of the group has a node is refused
// with SubnetInUse; replacing it by another subnet of the same zone, or
// removing a subnet of a zone without nodes, is accepted.
func TestCacheSubnetGroups_SubnetInUse(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	// Candidate subnets and their zones, read from a probe group.
	var candidates []string
	for i := range 20 {
		candidates = append(candidates, fmt.Sprintf("subnet-%08x", 0xdd00+i))
	}
	probe, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("probe"), CacheSubnetGroupDescription: aws.String("p"), SubnetIds: candidates,
	})
	if err != nil {
		t.Fatal(err)
	}
	byZone := map[string][]string{}
	for id, z := range subnetAZs(probe.CacheSubnetGroup) {
		byZone[z] = append(byZone[z], id)
	}
	var zones []string
	for z, ids := range byZone {
		slices.Sort(ids)
		zones = append(zones, z)
	}
	slices.Sort(zones)
	if len(zones) != 3 || len(byZone[zones[1]]) < 2 {
		t.Fatalf("candidate subnets by zone: %v", byZone)
	}
	a, b, b2, cz := byZone[zones[0]][0], byZone[zones[1]][0], byZone[zones[1]][1], byZone[zones[2]][0]

	if _, err := c.CreateCacheSubnetGroup(ctx, &elasticache.CreateCacheSubnetGroupInput{
		CacheSubnetGroupName: aws.String("used"), CacheSubnetGroupDescription: aws.String("u"), SubnetIds: []string{a, b, cz},
	}); err != nil {
		t.Fatal(err)
	}
	// Two nodes, in the first two zones.
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("in-used"), ReplicationGroupDescription: aws.String("u"), NumCacheClusters: aws.Int32(2),
		CacheSubnetGroupName: aws.String("used"), PreferredCacheClusterAZs: []string{zones[0], zones[1]},
	}); err != nil {
		t.Fatal(err)
	}
	modify := func(ids ...string) error {
		_, err := c.ModifyCacheSubnetGroup(ctx, &elasticache.ModifyCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("used"), SubnetIds: ids})
		return err
	}
	keywardtest.WantError(t, modify(a, cz), "SubnetInUse", 400)
	keywardtest.WantError(t, modify(b, cz), "SubnetInUse", 400)
	if err := modify(a, b2, cz); err != nil {
		t.Fatalf("replacing a zone's subnet by another of the zone: %v", err)
	}
	if err := modify(a, b2); err != nil {
		t.Fatalf("removing the subnet of a zone without nodes: %v", err)
	}
	g, err := c.DescribeCacheSubnetGroups(ctx, &elasticache.DescribeCacheSubnetGroupsInput{CacheSubnetGroupName: aws.String("used")})
	if err != nil {
		t.Fatal(err)
	}
	if got := subnetAZs(&g.CacheSubnetGroups[0]); len(got) != 2 || got[a] != zones[0] || got[b2] != zones[1] {
		t.Errorf("after the accepted changes: %v", got)
	}
	keywardtest.WantError(t, modify(b2), "SubnetInUse", 400)
	// A group no cache uses changes freely.
	if _, err := c.ModifyCacheSubnetGroup(ctx, &elasticache.ModifyCacheSubnetGroupInput{CacheSubnetGroupName: aws.String("probe"), SubnetIds: []string{a}}); err != nil {
		t.Fatal(err)
	}
}
