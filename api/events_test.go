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

	"keyward"
	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
)

// eventLines returns "source-type/id: message" for every event in, newest
// first, following markers.
func eventLines(t *testing.T, c *elasticache.Client, in *elasticache.DescribeEventsInput) []string {
	t.Helper()
	var lines []string
	p := elasticache.NewDescribeEventsPaginator(c, in)
	var last time.Time
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("DescribeEvents: %v", err)
		}
		for _, e := range out.Events {
			if d := aws.ToTime(e.Date); !last.IsZero() && d.After(last) {
				t.Errorf("event %q (%v) after an older one (%v): not newest first", aws.ToString(e.Message), d, last)
			}
			last = aws.ToTime(e.Date)
			lines = append(lines, fmt.Sprintf("%s/%s: %s", e.SourceType, aws.ToString(e.SourceIdentifier), aws.ToString(e.Message)))
		}
	}
	return lines
}

func wantLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
	}
}

func TestEvents_Lifecycle(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	createUser(t, c, "alice", "alice")
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("team"), Engine: aws.String("redis"), UserIds: []string{"default", "alice"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupStatus(t, c, "team", "active")
	createRG(t, c, "ev", 2, false)
	waitRG(t, c, "ev", "available")
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("ev"), ReplicationGroupDescription: aws.String("changed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("ev")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "ev", "gone")
	if _, err := c.DeleteUserGroup(ctx, &elasticache.DeleteUserGroupInput{UserGroupId: aws.String("team")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "group gone", func() bool {
		_, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("team")})
		return err != nil
	})
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	waitUserStatus(t, c, "alice", "gone")

	wantLines(t, "every event", eventLines(t, c, &elasticache.DescribeEventsInput{}), []string{
		"user/alice: User alice deleted",
		"user-group/team: User group team deleted",
		"replication-group/ev: Replication group ev deleted",
		"cache-cluster/ev-002: Cache cluster deleted",
		"cache-cluster/ev-001: Cache cluster deleted",
		"replication-group/ev: Replication group ev modified",
		"replication-group/ev: Replication group ev created",
		"cache-cluster/ev-002: Added cache node 0001 in availability zone us-east-1a",
		"cache-cluster/ev-002: Cache cluster created",
		"cache-cluster/ev-001: Added cache node 0001 in availability zone us-east-1a",
		"cache-cluster/ev-001: Cache cluster created",
		"user-group/team: User group team created",
		"user/alice: User alice created",
	})
	wantLines(t, "cache-cluster ev-001", eventLines(t, c, &elasticache.DescribeEventsInput{SourceType: types.SourceTypeCacheCluster, SourceIdentifier: aws.String("ev-001")}), []string{
		"cache-cluster/ev-001: Cache cluster deleted",
		"cache-cluster/ev-001: Added cache node 0001 in availability zone us-east-1a",
		"cache-cluster/ev-001: Cache cluster created",
	})
	wantLines(t, "users", eventLines(t, c, &elasticache.DescribeEventsInput{SourceType: types.SourceTypeUser}), []string{
		"user/alice: User alice deleted", "user/alice: User alice created",
	})
	// A time range in the future, or ending before anything happened.
	wantLines(t, "future", eventLines(t, c, &elasticache.DescribeEventsInput{StartTime: aws.Time(time.Now().Add(time.Hour))}), nil)
	wantLines(t, "past", eventLines(t, c, &elasticache.DescribeEventsInput{EndTime: aws.Time(time.Now().Add(-time.Hour))}), nil)

	// Another scope sees none of them.
	other := ts.NewClient("eu-west-1", "AKIDKEYWARDTEST", "keyward-test-secret")
	wantLines(t, "eu-west-1", eventLines(t, other, &elasticache.DescribeEventsInput{}), nil)
}

func TestEvents_TimeRangeAndPages(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine = true })
	c, ctx := ts.Client, t.Context()
	before := time.Now().Truncate(time.Millisecond)
	var want []string
	for i := range 45 {
		id := fmt.Sprintf("u%02d", i)
		createUser(t, c, id, id)
		want = append([]string{"user/" + id + ": User " + id + " created"}, want...)
	}
	// The SDK sends times to the millisecond.
	time.Sleep(2 * time.Millisecond)
	mid := time.Now().Truncate(time.Millisecond)
	time.Sleep(2 * time.Millisecond)
	createUser(t, c, "late", "late")
	// Pages of 20: three pages, no event skipped or repeated.
	out, err := c.DescribeEvents(ctx, &elasticache.DescribeEventsInput{MaxRecords: aws.Int32(20), EndTime: aws.Time(mid)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Events) != 20 || out.Marker == nil {
		t.Fatalf("first page: %d events, marker %v", len(out.Events), out.Marker)
	}
	wantLines(t, "paged until mid", eventLines(t, c, &elasticache.DescribeEventsInput{MaxRecords: aws.Int32(20), EndTime: aws.Time(mid)}), want)
	wantLines(t, "from start to mid", eventLines(t, c, &elasticache.DescribeEventsInput{StartTime: aws.Time(before), EndTime: aws.Time(mid)}), want)
	wantLines(t, "after mid", eventLines(t, c, &elasticache.DescribeEventsInput{StartTime: aws.Time(mid)}), []string{"user/late: User late created"})
	wantLines(t, "last minute", eventLines(t, c, &elasticache.DescribeEventsInput{Duration: aws.Int32(1), SourceType: types.SourceTypeUser, SourceIdentifier: aws.String("LATE")}), []string{"user/late: User late created"})

	for _, tc := range []struct {
		name   string
		in     *elasticache.DescribeEventsInput
		code   string
		status int
	}{
		{"bad source type", &elasticache.DescribeEventsInput{SourceType: "cache-node"}, "InvalidParameterValue", 400},
		{"start after end", &elasticache.DescribeEventsInput{StartTime: aws.Time(mid), EndTime: aws.Time(before)}, "InvalidParameterCombination", 400},
		{"duration 0", &elasticache.DescribeEventsInput{Duration: aws.Int32(0)}, "InvalidParameterValue", 400},
		{"duration beyond 14 days", &elasticache.DescribeEventsInput{Duration: aws.Int32(20161)}, "InvalidParameterValue", 400},
		{"max records 10", &elasticache.DescribeEventsInput{MaxRecords: aws.Int32(10)}, "InvalidParameterCombination", 400},
		{"bad marker", &elasticache.DescribeEventsInput{Marker: aws.String("nope")}, "InvalidParameterCombination", 400},
	} {
		_, err := c.DescribeEvents(ctx, tc.in)
		t.Run(tc.name, func(t *testing.T) { keywardtest.WantError(t, err, tc.code, tc.status) })
	}
}

// Events are durable: a new keyward on the same data directory lists them.
func TestEvents_SurviveRestart(t *testing.T) {
	dir := t.TempDir()
	onDir := func(c *server.Config) { c.DataDir, c.NoEngine = dir, true }
	ts := keywardtest.New(t, onDir)
	createUser(t, ts.Client, "bob", "bob")
	if _, err := ts.Client.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	waitUserStatus(t, ts.Client, "bob", "gone")
	want := []string{"user/bob: User bob deleted", "user/bob: User bob created"}
	wantLines(t, "before restart", eventLines(t, ts.Client, &elasticache.DescribeEventsInput{}), want)
	ts.Close()
	ts2 := keywardtest.New(t, onDir)
	wantLines(t, "after restart", eventLines(t, ts2.Client, &elasticache.DescribeEventsInput{}), want)
}

// Events are kept 14 days: DescribeEvents never reaches further back, and
// the reconciler deletes older ones from the store.
func TestEvents_Retention(t *testing.T) {
	day0 := time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)
	clk := &clock{t: day0}
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine, c.Now = true, clk.Now })
	c := ts.Client
	createUser(t, c, "old", "old")
	stored := func() []string {
		var ids []string
		if err := ts.Store.View(t.Context(), func(tx keyward.Tx) error {
			es, err := keyward.Events.Find(t.Context(), tx, keyward.DocQuery{Scope: keyward.DefaultScope})
			for _, e := range es {
				ids = append(ids, e.SourceID)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	wantLines(t, "stored on day 0", stored(), []string{"old"})
	clk.Set(day0.Add(13 * 24 * time.Hour))
	createUser(t, c, "new", "new")
	wantLines(t, "day 13, 14 days back", eventLines(t, c, &elasticache.DescribeEventsInput{Duration: aws.Int32(20160)}), []string{"user/new: User new created", "user/old: User old created"})
	clk.Set(day0.Add(14*24*time.Hour + time.Minute))
	wantLines(t, "day 14, 14 days back", eventLines(t, c, &elasticache.DescribeEventsInput{StartTime: aws.Time(day0)}), []string{"user/new: User new created"})
	keywardtest.Eventually(t, 10*time.Second, "the old event pruned", func() bool {
		got := stored()
		return len(got) == 1 && got[0] == "new"
	})
}
