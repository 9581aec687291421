package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func waitServerless(t *testing.T, c *elasticache.Client, name, status string) types.ServerlessCache {
	t.Helper()
	var sc types.ServerlessCache
	keywardtest.Eventually(t, 30*time.Second, "serverless "+name+" "+status, func() bool {
		d, err := c.DescribeServerlessCaches(context.Background(), &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String(name)})
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "ServerlessCacheNotFoundFault"
		}
		if err != nil || len(d.ServerlessCaches) != 1 {
			return false
		}
		sc = d.ServerlessCaches[0]
		return aws.ToString(sc.Status) == status
	})
	return sc
}

func waitServerlessSnapshot(t *testing.T, c *elasticache.Client, name, status string) types.ServerlessCacheSnapshot {
	t.Helper()
	var snap types.ServerlessCacheSnapshot
	keywardtest.Eventually(t, 30*time.Second, "serverless snapshot "+name+" "+status, func() bool {
		out, err := c.DescribeServerlessCacheSnapshots(context.Background(), &elasticache.DescribeServerlessCacheSnapshotsInput{ServerlessCacheSnapshotName: aws.String(name)})
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "ServerlessCacheSnapshotNotFoundFault"
		}
		if err != nil || len(out.ServerlessCacheSnapshots) != 1 {
			return false
		}
		snap = out.ServerlessCacheSnapshots[0]
		return aws.ToString(snap.Status) == status
	})
	return snap
}

// Serverless snapshots: 10,000 keys, snapshot, copy, restore the copy into
// a new cache with SnapshotArnsToRestore, a final snapshot on delete.
func TestServerlessSnapshot_RestoreData(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	nodeOf := func(sc types.ServerlessCache) node {
		return node{addr: fmt.Sprintf("%s:%d", aws.ToString(sc.Endpoint.Address), aws.ToInt32(sc.Endpoint.Port)), tls: ts.Engine().TLSConfig()}
	}
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("sv"), Engine: aws.String("redis")}); err != nil {
		t.Fatal(err)
	}
	writeKeys(t, nodeOf(waitServerless(t, c, "sv", "available")))
	out, err := c.CreateServerlessCacheSnapshot(ctx, &elasticache.CreateServerlessCacheSnapshotInput{ServerlessCacheName: aws.String("sv"), ServerlessCacheSnapshotName: aws.String("sv-1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ServerlessCacheSnapshot.Status) != "creating" || aws.ToString(out.ServerlessCacheSnapshot.SnapshotType) != "manual" {
		t.Errorf("CreateServerlessCacheSnapshot: %+v", out.ServerlessCacheSnapshot)
	}
	snap := waitServerlessSnapshot(t, c, "sv-1", "available")
	if aws.ToString(snap.ARN) != "arn:aws:elasticache:us-east-1:000000000000:serverlesscachesnapshot:sv-1" ||
		aws.ToString(snap.ServerlessCacheConfiguration.ServerlessCacheName) != "sv" || aws.ToString(snap.BytesUsedForCache) != "1 MB" {
		t.Errorf("snapshot: %+v %+v", snap, snap.ServerlessCacheConfiguration)
	}
	if _, err := c.CopyServerlessCacheSnapshot(ctx, &elasticache.CopyServerlessCacheSnapshotInput{SourceServerlessCacheSnapshotName: aws.String("sv-1"), TargetServerlessCacheSnapshotName: aws.String("sv-copy")}); err != nil {
		t.Fatal(err)
	}
	copied := waitServerlessSnapshot(t, c, "sv-copy", "available")
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("sv-back"), Engine: aws.String("redis"), SnapshotArnsToRestore: []string{aws.ToString(copied.ARN)},
	}); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, nodeOf(waitServerless(t, c, "sv-back", "available")))
	wantLines(t, "serverless snapshot event", eventLines(t, c, &elasticache.DescribeEventsInput{SourceType: types.SourceTypeServerlessCacheSnapshot, SourceIdentifier: aws.String("sv-1")}),
		[]string{"serverless-cache-snapshot/sv-1: Snapshot sv-1 of serverless cache sv created"})

	// Final snapshot, then the cache goes.
	del, err := c.DeleteServerlessCache(ctx, &elasticache.DeleteServerlessCacheInput{ServerlessCacheName: aws.String("sv"), FinalSnapshotName: aws.String("sv-final")})
	if err != nil || aws.ToString(del.ServerlessCache.Status) != "deleting" {
		t.Fatalf("DeleteServerlessCache: %v %v", del, err)
	}
	waitServerless(t, c, "sv", "gone")
	waitServerlessSnapshot(t, c, "sv-final", "available")

	for _, tc := range []struct {
		name   string
		err    error
		code   string
		status int
	}{
		{"snapshot of unknown cache", func() error {
			_, err := c.CreateServerlessCacheSnapshot(ctx, &elasticache.CreateServerlessCacheSnapshotInput{ServerlessCacheName: aws.String("nope"), ServerlessCacheSnapshotName: aws.String("x")})
			return err
		}(), "ServerlessCacheNotFoundFault", 404},
		{"name taken", func() error {
			_, err := c.CreateServerlessCacheSnapshot(ctx, &elasticache.CreateServerlessCacheSnapshotInput{ServerlessCacheName: aws.String("sv-back"), ServerlessCacheSnapshotName: aws.String("sv-1")})
			return err
		}(), "ServerlessCacheSnapshotAlreadyExistsFault", 400},
		{"describe unknown", func() error {
			_, err := c.DescribeServerlessCacheSnapshots(ctx, &elasticache.DescribeServerlessCacheSnapshotsInput{ServerlessCacheSnapshotName: aws.String("nope")})
			return err
		}(), "ServerlessCacheSnapshotNotFoundFault", 404},
		{"copy unknown", func() error {
			_, err := c.CopyServerlessCacheSnapshot(ctx, &elasticache.CopyServerlessCacheSnapshotInput{SourceServerlessCacheSnapshotName: aws.String("nope"), TargetServerlessCacheSnapshotName: aws.String("y")})
			return err
		}(), "ServerlessCacheSnapshotNotFoundFault", 404},
		{"delete unknown", func() error {
			_, err := c.DeleteServerlessCacheSnapshot(ctx, &elasticache.DeleteServerlessCacheSnapshotInput{ServerlessCacheSnapshotName: aws.String("nope")})
			return err
		}(), "ServerlessCacheSnapshotNotFoundFault", 404},
		{"restore unknown", func() error {
			_, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("z"), Engine: aws.String("redis"),
				SnapshotArnsToRestore: []string{"arn:aws:elasticache:us-east-1:000000000000:serverlesscachesnapshot:nope"}})
			return err
		}(), "ServerlessCacheSnapshotNotFoundFault", 404},
		{"bad type", func() error {
			_, err := c.DescribeServerlessCacheSnapshots(ctx, &elasticache.DescribeServerlessCacheSnapshotsInput{SnapshotType: aws.String("robot")})
			return err
		}(), "InvalidParameterValue", 400},
	} {
		t.Run(tc.name, func(t *testing.T) { keywardtest.WantError(t, tc.err, tc.code, tc.status) })
	}
	list, err := c.DescribeServerlessCacheSnapshots(ctx, &elasticache.DescribeServerlessCacheSnapshotsInput{SnapshotType: aws.String("manual")})
	if err != nil || len(list.ServerlessCacheSnapshots) != 3 {
		t.Errorf("manual serverless snapshots: %v %v", list, err)
	}
	if _, err := c.DeleteServerlessCacheSnapshot(ctx, &elasticache.DeleteServerlessCacheSnapshotInput{ServerlessCacheSnapshotName: aws.String("sv-copy")}); err != nil {
		t.Fatal(err)
	}
	waitServerlessSnapshot(t, c, "sv-copy", "gone")
}
