package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
)

func waitSnapshot(t *testing.T, c *elasticache.Client, name, status string) types.Snapshot {
	t.Helper()
	var snap types.Snapshot
	keywardtest.Eventually(t, 60*time.Second, "snapshot "+name+" "+status, func() bool {
		out, err := c.DescribeSnapshots(context.Background(), &elasticache.DescribeSnapshotsInput{SnapshotName: aws.String(name), ShowNodeGroupConfig: aws.Bool(true)})
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "SnapshotNotFoundFault"
		}
		if err != nil || len(out.Snapshots) != 1 {
			return false
		}
		snap = out.Snapshots[0]
		if s := aws.ToString(snap.SnapshotStatus); s != status && (s == "available" || s == "failed") {
			t.Fatalf("snapshot %s is %s, want %s", name, s, status)
		}
		return aws.ToString(snap.SnapshotStatus) == status
	})
	return snap
}

const dataKeys = 10000

// writeKeys writes dataKeys keys to the node in pipelines.
func writeKeys(t *testing.T, n node) {
	t.Helper()
	r := n.client("", "")
	defer r.Close()
	for start := 0; start < dataKeys; start += 1000 {
		p := r.Pipeline()
		for i := start; i < start+1000; i++ {
			p.Set(t.Context(), fmt.Sprintf("key:%05d", i), fmt.Sprintf("value-%d", i), 0)
		}
		if _, err := p.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkKeys fails unless the node holds exactly the keys writeKeys wrote.
func checkKeys(t *testing.T, n node) {
	t.Helper()
	r := n.client("", "")
	defer r.Close()
	if got := r.DBSize(t.Context()).Val(); got != dataKeys {
		t.Fatalf("node %s holds %d keys, want %d", n.addr, got, dataKeys)
	}
	keys := make([]string, dataKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%05d", i)
	}
	// GETs in a pipeline, not one MGET: a serverless cache's node is a
	// cluster node, which answers CROSSSLOT to an MGET across slots.
	p := r.Pipeline()
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = p.Get(t.Context(), k)
	}
	if _, err := p.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	for i, g := range gets {
		if v := g.Val(); v != fmt.Sprintf("value-%d", i) {
			t.Fatalf("node %s: %s = %v", n.addr, keys[i], v)
		}
	}
}

// Data comes back: 10,000 keys, snapshot, delete the group, restore into a
// new group of three nodes, every key on every node when it is available.
func TestSnapshot_RestoreData(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	createRG(t, c, "src", 2, false)
	src := waitRG(t, c, "src", "available")
	writeKeys(t, rgNodes(t, ts, src)[0])

	start := time.Now()
	out, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{
		ReplicationGroupId: aws.String("src"), SnapshotName: aws.String("s1"),
		Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("cache")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Snapshot.SnapshotStatus); got != "creating" || aws.ToString(out.Snapshot.SnapshotSource) != "manual" {
		t.Errorf("CreateSnapshot answered %s %s", got, aws.ToString(out.Snapshot.SnapshotSource))
	}
	if rg := waitRG(t, c, "src", "snapshotting"); aws.ToString(rg.Status) != "snapshotting" {
		t.Fatal("no snapshotting")
	}
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("src"), ReplicationGroupDescription: aws.String("x")})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	snap := waitSnapshot(t, c, "s1", "available")
	took := time.Since(start)
	waitRG(t, c, "src", "available")
	t.Logf("snapshot of %d keys available after %v (transition delay 50ms)", dataKeys, took)
	if len(snap.NodeSnapshots) != 1 {
		t.Fatalf("node snapshots: %+v", snap.NodeSnapshots)
	}
	ns := snap.NodeSnapshots[0]
	if aws.ToString(ns.CacheClusterId) != "src-001" || aws.ToString(ns.NodeGroupId) != "0001" || aws.ToString(ns.CacheSize) != "1 MB" ||
		ns.SnapshotCreateTime == nil || ns.NodeGroupConfiguration == nil || aws.ToInt32(ns.NodeGroupConfiguration.ReplicaCount) != 1 {
		t.Errorf("node snapshot: %+v %+v", ns, ns.NodeGroupConfiguration)
	}
	if aws.ToString(snap.ARN) != "arn:aws:elasticache:us-east-1:000000000000:snapshot:s1" || aws.ToString(snap.ReplicationGroupId) != "src" ||
		aws.ToString(snap.Engine) != "redis" || aws.ToInt32(snap.NumNodeGroups) != 1 {
		t.Errorf("snapshot: %+v", snap)
	}
	tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: snap.ARN})
	if err != nil || len(tags.TagList) != 1 || aws.ToString(tags.TagList[0].Key) != "team" {
		t.Errorf("snapshot tags: %v %v", tags, err)
	}
	// The RDB is under the data directory, readable by keyward only.
	files, _ := filepath.Glob(filepath.Join(ts.Config.DataDir, "snapshots", "*"))
	if len(files) != 1 {
		t.Fatalf("snapshot files: %v", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 100000 {
		t.Errorf("snapshot file %v: %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(files[0])); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("snapshot dir: %v %v", fi.Mode(), err)
	}
	wantLines(t, "snapshot event", eventLines(t, c, &elasticache.DescribeEventsInput{SourceType: types.SourceTypeCacheCluster, SourceIdentifier: aws.String("src-001")})[:1],
		[]string{"cache-cluster/src-001: Snapshot succeeded for snapshot with ID 's1' of replication group with ID 'src'"})

	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("src")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "src", "gone")

	start = time.Now()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("dst"), ReplicationGroupDescription: aws.String("restored"),
		NumCacheClusters: aws.Int32(3), SnapshotName: aws.String("s1"),
	}); err != nil {
		t.Fatal(err)
	}
	// The snapshot cannot go while the group is made from it.
	_, err = c.DeleteSnapshot(ctx, &elasticache.DeleteSnapshotInput{SnapshotName: aws.String("s1")})
	keywardtest.WantError(t, err, "InvalidSnapshotState", 400)
	dst := waitRG(t, c, "dst", "available")
	t.Logf("restore of %d keys into 3 nodes available after %v", dataKeys, time.Since(start))
	for _, n := range rgNodes(t, ts, dst) {
		checkKeys(t, n)
	}
	if _, err := c.DeleteSnapshot(ctx, &elasticache.DeleteSnapshotInput{SnapshotName: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	waitSnapshot(t, c, "s1", "gone")
	if files, _ := filepath.Glob(filepath.Join(ts.Config.DataDir, "snapshots", "*")); len(files) != 0 {
		t.Errorf("files left after DeleteSnapshot: %v", files)
	}
}

// A final snapshot is taken before the group goes, and restores.
func TestSnapshot_FinalSnapshot(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(100*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	createRG(t, c, "fin", 1, false)
	rg := waitRG(t, c, "fin", "available")
	r := rgNodes(t, ts, rg)[0].client("", "")
	if err := r.Set(ctx, "last", "words", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	out, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("fin"), FinalSnapshotIdentifier: aws.String("fin-final")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ReplicationGroup.Status) != "deleting" {
		t.Errorf("DeleteReplicationGroup answered %s", aws.ToString(out.ReplicationGroup.Status))
	}
	// Deleting throughout, as ElastiCache shows it (Terraform's deletion
	// waiter fails on anything but creating, available and deleting).
	seen := map[string]bool{}
	keywardtest.Eventually(t, 20*time.Second, "fin gone", func() bool {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("fin")})
		if code, _ := keywardtest.APIError(err); code == "ReplicationGroupNotFoundFault" {
			return true
		}
		if err == nil {
			seen[aws.ToString(out.ReplicationGroups[0].Status)] = true
		}
		return false
	})
	if len(seen) != 1 || !seen["deleting"] {
		t.Errorf("statuses during the final snapshot: %v", seen)
	}
	waitSnapshot(t, c, "fin-final", "available")
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("again"), ReplicationGroupDescription: aws.String("restored"), SnapshotName: aws.String("fin-final"),
	}); err != nil {
		t.Fatal(err)
	}
	again := waitRG(t, c, "again", "available")
	r = rgNodes(t, ts, again)[0].client("", "")
	defer r.Close()
	if got := r.Get(ctx, "last").Val(); got != "words" {
		t.Errorf("restored final snapshot: last = %q", got)
	}
}

func TestSnapshot_Faults(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine = true })
	c, ctx := ts.Client, t.Context()
	createRG(t, c, "a", 2, false)
	waitRG(t, c, "a", "available")
	create := func(in *elasticache.CreateSnapshotInput) error {
		_, err := c.CreateSnapshot(ctx, in)
		return err
	}
	for _, tc := range []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{"neither group nor cluster", create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("x")}), "InvalidParameterCombination", 400},
		{"both", create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("x"), ReplicationGroupId: aws.String("a"), CacheClusterId: aws.String("a-001")}), "InvalidParameterCombination", 400},
		{"unknown group", create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("x"), ReplicationGroupId: aws.String("nope")}), "ReplicationGroupNotFoundFault", 404},
		{"unknown cluster", create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("x"), CacheClusterId: aws.String("nope-001")}), "CacheClusterNotFound", 404},
		{"bad name", create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("1x"), ReplicationGroupId: aws.String("a")}), "InvalidParameterValue", 400},
		{"reserved name", create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("automatic.a"), ReplicationGroupId: aws.String("a")}), "InvalidParameterValue", 400},
		{"kms", create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("x"), ReplicationGroupId: aws.String("a"), KmsKeyId: aws.String("k")}), "InvalidParameterValue", 400},
	} {
		t.Run(tc.name, func(t *testing.T) { keywardtest.WantError(t, tc.err, tc.code, tc.status) })
	}
	// From a replica's cluster id: the snapshot is of its group, taken there.
	if err := create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("s00"), CacheClusterId: aws.String("a-002")}); err != nil {
		t.Fatal(err)
	}
	snap := waitSnapshot(t, c, "s00", "available")
	if aws.ToString(snap.ReplicationGroupId) != "a" || aws.ToString(snap.NodeSnapshots[0].CacheClusterId) != "a-002" {
		t.Errorf("snapshot of a-002: %+v", snap)
	}
	waitRG(t, c, "a", "available")
	keywardtest.WantError(t, create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("s00"), ReplicationGroupId: aws.String("a")}), "SnapshotAlreadyExistsFault", 400)
	// ElastiCache's 20 manual snapshots a day.
	for i := 1; i < 20; i++ {
		if err := create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String(fmt.Sprintf("s%02d", i)), ReplicationGroupId: aws.String("a")}); err != nil {
			t.Fatal(err)
		}
		waitRG(t, c, "a", "available")
	}
	keywardtest.WantError(t, create(&elasticache.CreateSnapshotInput{SnapshotName: aws.String("s20"), ReplicationGroupId: aws.String("a")}), "SnapshotQuotaExceededFault", 400)

	// Pages of 20 over 20 snapshots plus a copy: two pages, sorted.
	if _, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("s00"), TargetSnapshotName: aws.String("t-copy")}); err != nil {
		t.Fatal(err)
	}
	copied := waitSnapshot(t, c, "t-copy", "available")
	if aws.ToString(copied.ReplicationGroupId) != "a" || aws.ToString(copied.SnapshotSource) != "manual" {
		t.Errorf("copy: %+v", copied)
	}
	var names []string
	p := elasticache.NewDescribeSnapshotsPaginator(c, &elasticache.DescribeSnapshotsInput{MaxRecords: aws.Int32(20)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, s := range page.Snapshots {
			names = append(names, aws.ToString(s.SnapshotName))
		}
	}
	if pages != 2 || len(names) != 21 || !slices.IsSorted(names) {
		t.Errorf("%d pages: %v", pages, names)
	}
	for _, tc := range []struct {
		name   string
		in     *elasticache.DescribeSnapshotsInput
		want   int
		code   string
		status int
	}{
		{"by group", &elasticache.DescribeSnapshotsInput{ReplicationGroupId: aws.String("A")}, 21, "", 0},
		{"by cluster", &elasticache.DescribeSnapshotsInput{CacheClusterId: aws.String("a-002")}, 2, "", 0},
		{"system", &elasticache.DescribeSnapshotsInput{SnapshotSource: aws.String("system")}, 0, "", 0},
		{"user", &elasticache.DescribeSnapshotsInput{SnapshotSource: aws.String("user")}, 21, "", 0},
		{"bad source", &elasticache.DescribeSnapshotsInput{SnapshotSource: aws.String("robot")}, 0, "InvalidParameterValue", 400},
		{"max 51", &elasticache.DescribeSnapshotsInput{MaxRecords: aws.Int32(51)}, 0, "InvalidParameterValue", 400},
		{"unknown name", &elasticache.DescribeSnapshotsInput{SnapshotName: aws.String("nope")}, 0, "SnapshotNotFoundFault", 404},
	} {
		out, err := c.DescribeSnapshots(ctx, tc.in)
		t.Run(tc.name, func(t *testing.T) {
			if tc.code != "" {
				keywardtest.WantError(t, err, tc.code, tc.status)
				return
			}
			if err != nil || len(out.Snapshots) != tc.want {
				t.Errorf("got %v, %v; want %d", out, err, tc.want)
			}
		})
	}
	copySnap := func(src, dst string) error {
		_, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String(src), TargetSnapshotName: aws.String(dst)})
		return err
	}
	keywardtest.WantError(t, copySnap("nope", "t2"), "SnapshotNotFoundFault", 404)
	keywardtest.WantError(t, copySnap("s00", "t-copy"), "SnapshotAlreadyExistsFault", 400)
	_, err := c.DeleteSnapshot(ctx, &elasticache.DeleteSnapshotInput{SnapshotName: aws.String("nope")})
	keywardtest.WantError(t, err, "SnapshotNotFoundFault", 404)
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("r"), ReplicationGroupDescription: aws.String("r"), SnapshotName: aws.String("nope")})
	keywardtest.WantError(t, err, "SnapshotNotFoundFault", 404)
	_, err = c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("a"), FinalSnapshotIdentifier: aws.String("s01")})
	keywardtest.WantError(t, err, "SnapshotAlreadyExistsFault", 400)
	if out, err := c.DeleteSnapshot(ctx, &elasticache.DeleteSnapshotInput{SnapshotName: aws.String("t-copy")}); err != nil || aws.ToString(out.Snapshot.SnapshotStatus) != "deleting" {
		t.Fatalf("DeleteSnapshot: %v %v", out, err)
	}
	waitSnapshot(t, c, "t-copy", "gone")
}
