package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward"
	"keyward/keywardtest"
	"keyward/reserved"
	"keyward/server"
)

// TestReservedOfferings: DescribeReservedCacheNodesOfferings pages through
// the whole catalogue and applies each filter the way Terraform's offering
// data source uses them (exactly one result).
func TestReservedOfferings(t *testing.T) {
	ts := keywardtest.New(t)
	ctx := context.Background()
	seen := map[string]bool{}
	p := elasticache.NewDescribeReservedCacheNodesOfferingsPaginator(ts.Client, &elasticache.DescribeReservedCacheNodesOfferingsInput{MaxRecords: aws.Int32(20)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, o := range out.ReservedCacheNodesOfferings {
			if seen[aws.ToString(o.ReservedCacheNodesOfferingId)] {
				t.Fatalf("offering %s twice", aws.ToString(o.ReservedCacheNodesOfferingId))
			}
			seen[aws.ToString(o.ReservedCacheNodesOfferingId)] = true
		}
	}
	if len(seen) != len(reserved.All()) || pages != (len(reserved.All())+19)/20 {
		t.Errorf("%d offerings in %d pages, catalogue has %d", len(seen), pages, len(reserved.All()))
	}

	for _, dur := range []string{"1", "31536000"} {
		out, err := ts.Client.DescribeReservedCacheNodesOfferings(ctx, &elasticache.DescribeReservedCacheNodesOfferingsInput{
			CacheNodeType: aws.String("cache.t4g.micro"), Duration: aws.String(dur), OfferingType: aws.String("Partial Upfront"), ProductDescription: aws.String("valkey"),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.ReservedCacheNodesOfferings) != 1 {
			t.Fatalf("Duration %s: %d offerings, want 1", dur, len(out.ReservedCacheNodesOfferings))
		}
		o := out.ReservedCacheNodesOfferings[0]
		want, _ := reserved.ByID(aws.ToString(o.ReservedCacheNodesOfferingId))
		if aws.ToString(o.CacheNodeType) != "cache.t4g.micro" || aws.ToInt32(o.Duration) != reserved.OneYear || aws.ToFloat64(o.FixedPrice) != want.FixedPrice ||
			aws.ToFloat64(o.UsagePrice) != 0 || len(o.RecurringCharges) != 1 || aws.ToFloat64(o.RecurringCharges[0].RecurringChargeAmount) != want.Recurring[0].Amount ||
			aws.ToString(o.RecurringCharges[0].RecurringChargeFrequency) != "Hourly" || aws.ToString(o.ProductDescription) != "valkey" {
			t.Errorf("offering %+v, catalogue %+v", o, want)
		}
	}
	// A legacy documented offering, by id.
	out, err := ts.Client.DescribeReservedCacheNodesOfferings(ctx, &elasticache.DescribeReservedCacheNodesOfferingsInput{ReservedCacheNodesOfferingId: aws.String("737a1dd9-85c9-403b-b4fb-b62cbc1e7353")})
	if err != nil || len(out.ReservedCacheNodesOfferings) != 1 || aws.ToString(out.ReservedCacheNodesOfferings[0].OfferingType) != "Heavy Utilization" || aws.ToFloat64(out.ReservedCacheNodesOfferings[0].FixedPrice) != 673 {
		t.Errorf("documented offering: %+v, %v", out, err)
	}
	// Filters that match nothing answer an empty list.
	out, err = ts.Client.DescribeReservedCacheNodesOfferings(ctx, &elasticache.DescribeReservedCacheNodesOfferingsInput{CacheNodeType: aws.String("cache.x9.huge")})
	if err != nil || out.ReservedCacheNodesOfferings == nil || len(out.ReservedCacheNodesOfferings) != 0 {
		t.Errorf("no match: %+v, %v", out, err)
	}
	_, err = ts.Client.DescribeReservedCacheNodesOfferings(ctx, &elasticache.DescribeReservedCacheNodesOfferingsInput{ReservedCacheNodesOfferingId: aws.String("00000000-0000-0000-0000-000000000000")})
	keywardtest.WantError(t, err, "ReservedCacheNodesOfferingNotFound", 404)
	_, err = ts.Client.DescribeReservedCacheNodesOfferings(ctx, &elasticache.DescribeReservedCacheNodesOfferingsInput{Duration: aws.String("2")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = ts.Client.DescribeReservedCacheNodesOfferings(ctx, &elasticache.DescribeReservedCacheNodesOfferingsInput{MaxRecords: aws.Int32(5)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}

func findOffering(t *testing.T, nodeType, years, typ, product string) reserved.Offering {
	t.Helper()
	offs, err := reserved.Find(reserved.Filter{NodeType: nodeType, Duration: years, OfferingType: typ, Product: product})
	if err != nil || len(offs) != 1 {
		t.Fatalf("catalogue: %d offerings, %v", len(offs), err)
	}
	return offs[0]
}

// TestReservedPurchase: the aws_elasticache_reserved_cache_node sequence
// (purchase with tags, wait payment-pending → active, read, tag update),
// and the purchase faults.
func TestReservedPurchase(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(300*time.Millisecond), func(c *server.Config) {
		c.Quotas = keyward.DefaultQuotas()
		c.Quotas.ReservedCacheNodes = 5
	})
	ctx := context.Background()
	o := findOffering(t, "cache.t4g.micro", "3", "All Upfront", "redis")
	out, err := ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{
		ReservedCacheNodesOfferingId: aws.String(o.ID), ReservedCacheNodeId: aws.String("myReservation-1"), CacheNodeCount: aws.Int32(2),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("cache")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rn := out.ReservedCacheNode
	arn := "arn:aws:elasticache:us-east-1:000000000000:reserved-instance:myReservation-1"
	if aws.ToString(rn.State) != "payment-pending" || aws.ToString(rn.ReservedCacheNodeId) != "myReservation-1" || aws.ToInt32(rn.CacheNodeCount) != 2 ||
		aws.ToString(rn.ReservationARN) != arn || aws.ToInt32(rn.Duration) != reserved.ThreeYear || aws.ToFloat64(rn.FixedPrice) != o.FixedPrice ||
		aws.ToString(rn.OfferingType) != "All Upfront" || aws.ToString(rn.ProductDescription) != "redis" || rn.StartTime == nil || len(rn.RecurringCharges) != 1 {
		t.Errorf("purchased %+v", rn)
	}
	keywardtest.Eventually(t, 5*time.Second, "reservation active", func() bool {
		d, err := ts.Client.DescribeReservedCacheNodes(ctx, &elasticache.DescribeReservedCacheNodesInput{ReservedCacheNodeId: aws.String("myReservation-1")})
		return err == nil && len(d.ReservedCacheNodes) == 1 && aws.ToString(d.ReservedCacheNodes[0].State) == "active"
	})
	tags, err := ts.Client.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	if err != nil || len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "team" {
		t.Errorf("tags %+v, %v", tags, err)
	}
	if _, err := ts.Client.AddTagsToResource(ctx, &elasticache.AddTagsToResourceInput{ResourceName: aws.String(arn), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Client.RemoveTagsFromResource(ctx, &elasticache.RemoveTagsFromResourceInput{ResourceName: aws.String(arn), TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = ts.Client.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	if len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "env" {
		t.Errorf("tags after update %+v", tags.TagList)
	}
	_, err = ts.Client.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String("arn:aws:elasticache:us-east-1:000000000000:reserved-instance:nope")})
	keywardtest.WantError(t, err, "ReservedCacheNodeNotFound", 404)

	// A generated id; filters.
	other := findOffering(t, "cache.m3.large", "3", "Heavy Utilization", "memcached")
	gen, err := ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{ReservedCacheNodesOfferingId: aws.String(other.ID)})
	if err != nil {
		t.Fatal(err)
	}
	if id := aws.ToString(gen.ReservedCacheNode.ReservedCacheNodeId); len(id) < 4 || id[:3] != "ri-" || aws.ToInt32(gen.ReservedCacheNode.CacheNodeCount) != 1 {
		t.Errorf("generated reservation %+v", gen.ReservedCacheNode)
	}
	for _, c := range []struct {
		in   elasticache.DescribeReservedCacheNodesInput
		want int
	}{
		{elasticache.DescribeReservedCacheNodesInput{}, 2},
		{elasticache.DescribeReservedCacheNodesInput{ProductDescription: aws.String("memcached")}, 1},
		{elasticache.DescribeReservedCacheNodesInput{Duration: aws.String("3"), CacheNodeType: aws.String("cache.t4g.micro")}, 1},
		{elasticache.DescribeReservedCacheNodesInput{Duration: aws.String("1")}, 0},
		{elasticache.DescribeReservedCacheNodesInput{ReservedCacheNodesOfferingId: aws.String(other.ID)}, 1},
		{elasticache.DescribeReservedCacheNodesInput{OfferingType: aws.String("All Upfront")}, 1},
	} {
		d, err := ts.Client.DescribeReservedCacheNodes(ctx, &c.in)
		if err != nil || len(d.ReservedCacheNodes) != c.want {
			t.Errorf("DescribeReservedCacheNodes(%+v): %d, %v; want %d", c.in, len(d.ReservedCacheNodes), err, c.want)
		}
	}

	// Faults.
	_, err = ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{ReservedCacheNodesOfferingId: aws.String(o.ID), ReservedCacheNodeId: aws.String("myReservation-1")})
	keywardtest.WantError(t, err, "ReservedCacheNodeAlreadyExists", 404)
	_, err = ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{ReservedCacheNodesOfferingId: aws.String("no-such-offering")})
	keywardtest.WantError(t, err, "ReservedCacheNodesOfferingNotFound", 404)
	_, err = ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{ReservedCacheNodesOfferingId: aws.String(o.ID), CacheNodeCount: aws.Int32(3)})
	keywardtest.WantError(t, err, "ReservedCacheNodeQuotaExceeded", 400) // 3 reserved + 3 > 5
	_, err = ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{ReservedCacheNodesOfferingId: aws.String(o.ID), CacheNodeCount: aws.Int32(0)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{ReservedCacheNodesOfferingId: aws.String(o.ID), ReservedCacheNodeId: aws.String("bad id!")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	// The quota allows what is left; nothing half-applied by the refusals.
	if _, err := ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{ReservedCacheNodesOfferingId: aws.String(o.ID), ReservedCacheNodeId: aws.String("last"), CacheNodeCount: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	_, err = ts.Client.DescribeReservedCacheNodes(ctx, &elasticache.DescribeReservedCacheNodesInput{ReservedCacheNodeId: aws.String("nope")})
	keywardtest.WantError(t, err, "ReservedCacheNodeNotFound", 404)

	// Another region has none of them.
	west := ts.NewClient("us-west-2", "AKIDKEYWARDTEST", "keyward-test-secret")
	_, err = west.DescribeReservedCacheNodes(ctx, &elasticache.DescribeReservedCacheNodesInput{ReservedCacheNodeId: aws.String("myReservation-1")})
	keywardtest.WantError(t, err, "ReservedCacheNodeNotFound", 404)
	_, err = west.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	keywardtest.WantError(t, err, "ReservedCacheNodeNotFound", 404)
}

// TestReservedPaging pages DescribeReservedCacheNodes.
func TestReservedPaging(t *testing.T) {
	ts := keywardtest.New(t)
	ctx := context.Background()
	o := findOffering(t, "cache.t3.micro", "1", "No Upfront", "memcached")
	for i := 0; i < 25; i++ {
		if _, err := ts.Client.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{
			ReservedCacheNodesOfferingId: aws.String(o.ID), ReservedCacheNodeId: aws.String("r" + string(rune('a'+i))),
		}); err != nil {
			t.Fatal(err)
		}
	}
	p := elasticache.NewDescribeReservedCacheNodesPaginator(ts.Client, &elasticache.DescribeReservedCacheNodesInput{MaxRecords: aws.Int32(20)})
	var ids []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.ReservedCacheNodes {
			ids = append(ids, aws.ToString(r.ReservedCacheNodeId))
		}
	}
	if len(ids) != 25 || ids[0] != "ra" || ids[24] != "ry" {
		t.Errorf("paged ids %v", ids)
	}
}

// TestTerraformReservedCacheNodeSequence replays what the provider's
// aws_elasticache_reserved_cache_node resource and its offering data source
// send (spec §11): the offering lookup must find exactly one, the create
// waiter goes payment-pending → active, and two reads agree with each other
// and with the purchase (an empty plan).
func TestTerraformReservedCacheNodeSequence(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(200*time.Millisecond))
	c := ts.Client
	ctx := context.Background()
	var offeringID string
	for _, dur := range []string{"P1Y", "31536000"} { // the data source's RFC 3339 value, or seconds
		out, err := c.DescribeReservedCacheNodesOfferings(ctx, &elasticache.DescribeReservedCacheNodesOfferingsInput{
			CacheNodeType: aws.String("cache.t4g.small"), Duration: aws.String(dur), OfferingType: aws.String("No Upfront"), ProductDescription: aws.String("redis"),
		})
		if err != nil || len(out.ReservedCacheNodesOfferings) != 1 {
			t.Fatalf("offering data source (%s): %+v, %v", dur, out, err)
		}
		offeringID = aws.ToString(out.ReservedCacheNodesOfferings[0].ReservedCacheNodesOfferingId)
	}
	created, err := c.PurchaseReservedCacheNodesOffering(ctx, &elasticache.PurchaseReservedCacheNodesOfferingInput{
		ReservedCacheNodesOfferingId: aws.String(offeringID), CacheNodeCount: aws.Int32(1), ReservedCacheNodeId: aws.String("tf-reservation"),
		Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("tf")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// waitReservedCacheNodeCreated: pending payment-pending, target active;
	// any other state fails the wait.
	keywardtest.Eventually(t, 5*time.Second, "active", func() bool {
		out, err := c.DescribeReservedCacheNodes(ctx, &elasticache.DescribeReservedCacheNodesInput{ReservedCacheNodeId: aws.String("tf-reservation")})
		if err != nil || len(out.ReservedCacheNodes) != 1 {
			t.Fatalf("waiter read: %+v, %v", out, err)
		}
		switch st := aws.ToString(out.ReservedCacheNodes[0].State); st {
		case "payment-pending":
			return false
		case "active":
			return true
		default:
			t.Fatalf("unexpected state %q", st)
		}
		return false
	})
	read := func() (types.ReservedCacheNode, []types.Tag) {
		t.Helper()
		out, err := c.DescribeReservedCacheNodes(ctx, &elasticache.DescribeReservedCacheNodesInput{ReservedCacheNodeId: aws.String("tf-reservation")})
		if err != nil || len(out.ReservedCacheNodes) != 1 {
			t.Fatalf("read: %+v, %v", out, err)
		}
		r := out.ReservedCacheNodes[0]
		tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: r.ReservationARN})
		if err != nil {
			t.Fatal(err)
		}
		return r, tags.TagList
	}
	r1, tags1 := read()
	r2, tags2 := read()
	want := *created.ReservedCacheNode
	want.State = aws.String("active")
	for _, r := range []types.ReservedCacheNode{r1, r2} {
		if aws.ToString(r.ReservationARN) != aws.ToString(want.ReservationARN) || aws.ToInt32(r.CacheNodeCount) != 1 ||
			aws.ToString(r.CacheNodeType) != "cache.t4g.small" || aws.ToInt32(r.Duration) != reserved.OneYear ||
			aws.ToFloat64(r.FixedPrice) != aws.ToFloat64(want.FixedPrice) || aws.ToString(r.ReservedCacheNodesOfferingId) != offeringID ||
			aws.ToString(r.OfferingType) != "No Upfront" || aws.ToString(r.ProductDescription) != "redis" ||
			!aws.ToTime(r.StartTime).Equal(aws.ToTime(want.StartTime)) || aws.ToString(r.State) != "active" ||
			aws.ToFloat64(r.UsagePrice) != aws.ToFloat64(want.UsagePrice) || len(r.RecurringCharges) != 1 ||
			aws.ToFloat64(r.RecurringCharges[0].RecurringChargeAmount) != aws.ToFloat64(want.RecurringCharges[0].RecurringChargeAmount) {
			t.Errorf("read %+v, purchased %+v", r, want)
		}
	}
	if len(tags1) != 1 || len(tags2) != 1 || aws.ToString(tags1[0].Value) != "tf" {
		t.Errorf("tags %+v %+v", tags1, tags2)
	}
}
