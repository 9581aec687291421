package api_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/keywardtest"
	"keyward/server"
)

// clock is a time source the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func snapshotNames(t *testing.T, c *elasticache.Client, in *elasticache.DescribeSnapshotsInput) []string {
	t.Helper()
	out, err := c.DescribeSnapshots(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range out.Snapshots {
		names = append(names, aws.ToString(s.SnapshotName)+"/"+aws.ToString(s.SnapshotStatus))
	}
	return names
}

// waitSnapshotNames waits up to 15 s for DescribeSnapshots(in) to list
// exactly names (name/status, in order).
func waitSnapshotNames(t *testing.T, c *elasticache.Client, in *elasticache.DescribeSnapshotsInput, what string, names ...string) {
	t.Helper()
	keywardtest.Eventually(t, 15*time.Second, what, func() bool { return slices.Equal(snapshotNames(t, c, in), names) })
}

// Automatic snapshots are taken once a day in the window and pruned after
// SnapshotRetentionLimit days; they go with their group.
func TestSnapshot_Automatic(t *testing.T) {
	day1 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: day1}
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine, c.Now = true, clk.Now })
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("bk"), ReplicationGroupDescription: aws.String("backed up"),
		SnapshotRetentionLimit: aws.Int32(2), SnapshotWindow: aws.String("12:00-13:00"),
	}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "bk", "available")
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("sl"), Engine: aws.String("redis"),
		SnapshotRetentionLimit: aws.Int32(1), DailySnapshotTime: aws.String("12:00"),
	}); err != nil {
		t.Fatal(err)
	}
	waitServerless(t, c, "sl", "available")
	serverless := func() []string {
		out, err := c.DescribeServerlessCacheSnapshots(ctx, &elasticache.DescribeServerlessCacheSnapshotsInput{SnapshotType: aws.String("automated")})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range out.ServerlessCacheSnapshots {
			names = append(names, aws.ToString(s.ServerlessCacheSnapshotName)+"/"+aws.ToString(s.Status))
		}
		return names
	}
	system := &elasticache.DescribeSnapshotsInput{SnapshotSource: aws.String("system")}
	// Outside the window: nothing, through more than one data resync (2s).
	time.Sleep(2500 * time.Millisecond)
	wantLines(t, "before the window", snapshotNames(t, c, system), nil)

	want := func(what string, names ...string) {
		t.Helper()
		waitSnapshotNames(t, c, system, what, names...)
	}
	clk.Set(day1.Add(2*time.Hour + 5*time.Minute))
	want("day 1's snapshot", "automatic.bk-2026-03-02-12-05/available")
	keywardtest.Eventually(t, 15*time.Second, "serverless day 1", func() bool {
		got := serverless()
		return len(got) == 1 && got[0] == "automatic.sl-2026-03-02-12-05/available"
	})
	waitRG(t, c, "bk", "available")
	// Later in the same window: still one.
	clk.Set(day1.Add(2*time.Hour + 40*time.Minute))
	time.Sleep(2500 * time.Millisecond)
	want("still day 1's only", "automatic.bk-2026-03-02-12-05/available")

	clk.Set(day1.Add(26*time.Hour + 5*time.Minute))
	want("day 2's snapshot", "automatic.bk-2026-03-02-12-05/available", "automatic.bk-2026-03-03-12-05/available")
	// The serverless cache keeps one day: day 1's went when day 2's came.
	keywardtest.Eventually(t, 15*time.Second, "serverless day 2 only", func() bool {
		got := serverless()
		return len(got) == 1 && got[0] == "automatic.sl-2026-03-03-12-05/available"
	})
	waitRG(t, c, "bk", "available")
	// Day 3: day 1's is two days old and goes.
	clk.Set(day1.Add(50*time.Hour + 5*time.Minute))
	want("day 3's snapshot, day 1's pruned", "automatic.bk-2026-03-03-12-05/available", "automatic.bk-2026-03-04-12-05/available")
	snap := waitSnapshot(t, c, "automatic.bk-2026-03-04-12-05", "available")
	if aws.ToString(snap.SnapshotSource) != "automated" || aws.ToInt32(snap.SnapshotRetentionLimit) != 2 || aws.ToString(snap.SnapshotWindow) != "12:00-13:00" {
		t.Errorf("automatic snapshot: %+v", snap)
	}
	// A manual snapshot survives its group; automatic ones do not.
	waitRG(t, c, "bk", "available")
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("bk"), SnapshotName: aws.String("keep")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, c, "keep", "available")
	waitRG(t, c, "bk", "available")
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("bk")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "bk", "gone")
	want("automatic snapshots gone with the group")
	wantLines(t, "manual kept", snapshotNames(t, c, &elasticache.DescribeSnapshotsInput{}), []string{"keep/available"})
}

// Automatic snapshots of a standalone Redis cluster, as of a group's: one
// a day in its window, pruned after its retention, gone with the cluster
// (a Memcached cluster has none).
func TestSnapshot_AutomaticStandaloneCluster(t *testing.T) {
	day1 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clk := &clock{t: day1}
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine, c.Now = true, clk.Now })
	c, ctx := ts.Client, t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("solo"), Engine: aws.String("redis"), CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(1),
		SnapshotRetentionLimit: aws.Int32(1), SnapshotWindow: aws.String("12:00-13:00"),
	}); err != nil {
		t.Fatal(err)
	}
	waitCluster(t, c, "solo")
	system := &elasticache.DescribeSnapshotsInput{SnapshotSource: aws.String("system")}
	want := func(what string, names ...string) {
		t.Helper()
		waitSnapshotNames(t, c, system, what, names...)
	}
	time.Sleep(2500 * time.Millisecond) // more than one data resync outside the window
	wantLines(t, "before the window", snapshotNames(t, c, system), nil)
	clk.Set(day1.Add(2*time.Hour + 5*time.Minute))
	want("day 1's snapshot", "automatic.solo-2026-03-02-12-05/available")
	snap := waitSnapshot(t, c, "automatic.solo-2026-03-02-12-05", "available")
	if aws.ToString(snap.CacheClusterId) != "solo" || snap.ReplicationGroupId != nil || aws.ToString(snap.SnapshotSource) != "automated" {
		t.Errorf("automatic snapshot of a cluster: %+v", snap)
	}
	waitCluster(t, c, "solo")
	clk.Set(day1.Add(26*time.Hour + 5*time.Minute))
	want("day 2's only (retention 1 day)", "automatic.solo-2026-03-03-12-05/available")
	waitCluster(t, c, "solo")
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("solo")}); err != nil {
		t.Fatal(err)
	}
	want("automatic snapshots gone with the cluster")
}
