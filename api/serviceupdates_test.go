package api_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/api"
	"keyward/awsquery"
	"keyward/ecapi"
	"keyward/keywardtest"
	"keyward/sqlite"
)

// atTime serves the API on a SQLite store at a fixed time (no reconciler:
// caches stay creating, which update actions do not mind), so that the
// service-update catalogue's dates give fixed answers.
func atTime(t *testing.T, now time.Time) *elasticache.Client {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	svc := api.New(st)
	svc.Now = func() time.Time { return now }
	srv := httptest.NewServer(ecapi.NewHandler(svc, awsquery.Options{}))
	t.Cleanup(srv.Close)
	return elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", Retryer: aws.NopRetryer{}, HTTPClient: keywardtest.HTTPClient(),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDKEYWARDTEST", "keyward-test-secret", ""),
	})
}

func updateNames(us []types.ServiceUpdate) []string {
	var n []string
	for _, u := range us {
		n = append(n, aws.ToString(u.ServiceUpdateName))
	}
	return n
}

func TestDescribeServiceUpdates(t *testing.T) {
	ctx := context.Background()
	c := atTime(t, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	all, err := c.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.ServiceUpdates) != 12 || all.Marker != nil {
		t.Fatalf("%d updates (%v), marker %v", len(all.ServiceUpdates), updateNames(all.ServiceUpdates), all.Marker)
	}
	u := all.ServiceUpdates[slices.IndexFunc(all.ServiceUpdates, func(u types.ServiceUpdate) bool {
		return aws.ToString(u.ServiceUpdateName) == "elasticache-20260815-003"
	})]
	if u.ServiceUpdateSeverity != types.ServiceUpdateSeverityCritical || u.ServiceUpdateStatus != types.ServiceUpdateStatusAvailable ||
		u.ServiceUpdateType != types.ServiceUpdateTypeSecurityUpdate || aws.ToString(u.Engine) != "redis" || aws.ToString(u.EngineVersion) != "7.0" ||
		!aws.ToBool(u.AutoUpdateAfterRecommendedApplyByDate) || !aws.ToTime(u.ServiceUpdateReleaseDate).Equal(time.Date(2026, 8, 15, 0, 0, 0, 0, time.UTC)) ||
		!aws.ToTime(u.ServiceUpdateRecommendedApplyByDate).Equal(time.Date(2026, 10, 14, 0, 0, 0, 0, time.UTC)) || aws.ToString(u.EstimatedUpdateTime) == "" {
		t.Errorf("elasticache-20260815-003 = %+v", u)
	}
	for status, want := range map[types.ServiceUpdateStatus][]string{
		types.ServiceUpdateStatusCancelled: {"elasticache-20261020-001"},
		types.ServiceUpdateStatusExpired:   {"elasticache-20260115-001", "elasticache-20260115-002"},
	} {
		out, err := c.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{ServiceUpdateStatus: []types.ServiceUpdateStatus{status}})
		if err != nil || !slices.Equal(updateNames(out.ServiceUpdates), want) {
			t.Errorf("status %s: %v, %v; want %v", status, updateNames(out.ServiceUpdates), err, want)
		}
	}
	out, err := c.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{ServiceUpdateName: aws.String("elasticache-20261110-002")})
	if err != nil || len(out.ServiceUpdates) != 1 || aws.ToString(out.ServiceUpdates[0].Engine) != "valkey" {
		t.Errorf("by name: %+v, %v", out, err)
	}
	_, err = c.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{ServiceUpdateName: aws.String("elasticache-20990101-001")})
	keywardtest.WantError(t, err, "ServiceUpdateNotFoundFault", 404)
	_, err = c.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{MaxRecords: aws.Int32(101)})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{ServiceUpdateStatus: []types.ServiceUpdateStatus{"pending"}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// Earlier, only the January updates exist, and they are available.
	early := atTime(t, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	out, err = early.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{})
	if err != nil || !slices.Equal(updateNames(out.ServiceUpdates), []string{"elasticache-20260115-001", "elasticache-20260115-002"}) ||
		out.ServiceUpdates[0].ServiceUpdateStatus != types.ServiceUpdateStatusAvailable {
		t.Errorf("at 2026-03-01: %v, %v", updateNames(out.ServiceUpdates), err)
	}
	_, err = early.DescribeServiceUpdates(ctx, &elasticache.DescribeServiceUpdatesInput{ServiceUpdateName: aws.String("elasticache-20260815-003")})
	keywardtest.WantError(t, err, "ServiceUpdateNotFoundFault", 404)
}

func TestDescribeUpdateActions(t *testing.T) {
	ctx := context.Background()
	c := atTime(t, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	for _, rg := range []struct {
		id, engine string
		n          int32
	}{{"rg-redis", "redis", 2}, {"rg-valkey", "valkey", 1}} {
		if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
			ReplicationGroupId: aws.String(rg.id), ReplicationGroupDescription: aws.String("d"), Engine: aws.String(rg.engine), NumCacheClusters: aws.Int32(rg.n),
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("sc1"), Engine: aws.String("redis")}); err != nil {
		t.Fatal(err)
	}
	keys := func(in *elasticache.DescribeUpdateActionsInput) []string {
		t.Helper()
		out, err := c.DescribeUpdateActions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		var k []string
		for _, a := range out.UpdateActions {
			k = append(k, aws.ToString(a.ServiceUpdateName)+" "+aws.ToString(a.ReplicationGroupId))
		}
		return k
	}
	redis := []string{"elasticache-20260115-001 rg-redis", "elasticache-20260420-002 rg-redis", "elasticache-20260815-003 rg-redis", "elasticache-20261110-001 rg-redis"}
	all := slices.Concat(redis[:2], []string{"elasticache-20260815-001 rg-valkey"}, redis[2:], []string{"elasticache-20261110-002 rg-valkey"})
	slices.Sort(all)
	for name, c := range map[string]struct {
		in   elasticache.DescribeUpdateActionsInput
		want []string
	}{
		"all":       {elasticache.DescribeUpdateActionsInput{}, all},
		"group":     {elasticache.DescribeUpdateActionsInput{ReplicationGroupIds: []string{"RG-Redis"}}, redis},
		"engine":    {elasticache.DescribeUpdateActionsInput{Engine: aws.String("valkey")}, []string{"elasticache-20260815-001 rg-valkey", "elasticache-20261110-002 rg-valkey"}},
		"available": {elasticache.DescribeUpdateActionsInput{ServiceUpdateStatus: []types.ServiceUpdateStatus{types.ServiceUpdateStatusAvailable}}, slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == redis[0] })},
		"update":    {elasticache.DescribeUpdateActionsInput{ServiceUpdateName: aws.String("elasticache-20261110-001")}, redis[3:]},
		"since":     {elasticache.DescribeUpdateActionsInput{ServiceUpdateTimeRange: &types.TimeRangeFilter{StartTime: aws.Time(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))}}, []string{redis[3], "elasticache-20261110-002 rg-valkey"}},
		"clusters":  {elasticache.DescribeUpdateActionsInput{CacheClusterIds: []string{"rg-redis-001"}}, nil},
		"complete":  {elasticache.DescribeUpdateActionsInput{UpdateActionStatus: []types.UpdateActionStatus{types.UpdateActionStatusComplete}}, nil},
	} {
		if got := keys(&c.in); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	out, err := c.DescribeUpdateActions(ctx, &elasticache.DescribeUpdateActionsInput{ReplicationGroupIds: []string{"rg-redis"}, ShowNodeLevelUpdateStatus: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out.UpdateActions {
		if a.UpdateActionStatus != types.UpdateActionStatusNotApplied || aws.ToString(a.NodesUpdated) != "0/2" || aws.ToString(a.Engine) != "redis" ||
			len(a.NodeGroupUpdateStatus) != 1 || len(a.NodeGroupUpdateStatus[0].NodeGroupMemberUpdateStatus) != 2 ||
			aws.ToString(a.NodeGroupUpdateStatus[0].NodeGroupMemberUpdateStatus[1].CacheClusterId) != "rg-redis-002" ||
			a.NodeGroupUpdateStatus[0].NodeGroupMemberUpdateStatus[0].NodeUpdateStatus != types.NodeUpdateStatusNotApplied {
			t.Errorf("action %+v", a)
		}
		// Past its recommended apply-by date unapplied: the SLA is missed.
		wantSLA := types.SlaMetNo
		if aws.ToString(a.ServiceUpdateName) == "elasticache-20261110-001" {
			wantSLA = types.SlaMetNa
		}
		if a.SlaMet != wantSLA {
			t.Errorf("%s: SlaMet %s, want %s", aws.ToString(a.ServiceUpdateName), a.SlaMet, wantSLA)
		}
	}
	_, err = c.DescribeUpdateActions(ctx, &elasticache.DescribeUpdateActionsInput{ServiceUpdateTimeRange: &types.TimeRangeFilter{
		StartTime: aws.Time(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)), EndTime: aws.Time(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)),
	}})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}
