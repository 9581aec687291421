package api_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// A snapshot exported to a bucket directory (<name>-0001.rdb, 0600) and a
// new group restored from its S3 ARN hold every key; every way the bucket
// can be wrong answers ElastiCache's fault.
func TestSnapshot_ExportAndRestoreS3(t *testing.T) {
	redistest.Binary(t)
	dir, buckets := withBuckets(t, "bkt", "readonly", "writeonly")
	os.Chmod(filepath.Join(dir, "readonly"), 0o500)
	os.Chmod(filepath.Join(dir, "writeonly"), 0o300)
	ts := keywardtest.New(t, keywardtest.WithDelay(200*time.Millisecond), buckets)
	c, ctx := ts.Client, t.Context()
	createRG(t, c, "src", 1, false)
	writeKeys(t, rgNodes(t, ts, waitRG(t, c, "src", "available"))[0])
	if _, err := c.CreateSnapshot(ctx, &elasticache.CreateSnapshotInput{ReplicationGroupId: aws.String("src"), SnapshotName: aws.String("s1")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("s1"), TargetSnapshotName: aws.String("early"), TargetBucket: aws.String("bkt")})
	keywardtest.WantError(t, err, "InvalidSnapshotState", 400)
	waitSnapshot(t, c, "s1", "available")

	export := func(src, name, bucket string) error {
		_, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String(src), TargetSnapshotName: aws.String(name), TargetBucket: aws.String(bucket)})
		return err
	}
	out, err := c.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("s1"), TargetSnapshotName: aws.String("backup"), TargetBucket: aws.String("bkt")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Snapshot.SnapshotName) != "s1" || aws.ToString(out.Snapshot.SnapshotStatus) != "exporting" {
		t.Errorf("export answered %s %s", aws.ToString(out.Snapshot.SnapshotName), aws.ToString(out.Snapshot.SnapshotStatus))
	}
	// An exporting snapshot cannot be deleted.
	_, err = c.DeleteSnapshot(ctx, &elasticache.DeleteSnapshotInput{SnapshotName: aws.String("s1")})
	keywardtest.WantError(t, err, "InvalidSnapshotState", 400)
	waitSnapshot(t, c, "s1", "available")
	obj := filepath.Join(dir, "bkt", "backup-0001.rdb")
	if fi, err := os.Stat(obj); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() < 100000 {
		t.Fatalf("exported object: %v %v", fi, err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, "bkt", ".*")); len(tmp) != 0 {
		t.Errorf("temporaries left in the bucket: %v", tmp)
	}
	// The export is no ElastiCache snapshot.
	_, err = c.DescribeSnapshots(ctx, &elasticache.DescribeSnapshotsInput{SnapshotName: aws.String("backup")})
	keywardtest.WantError(t, err, "SnapshotNotFoundFault", 404)

	// Export faults.
	for _, f := range []struct {
		what, src, name, bucket, code string
		status                        int
		msg                           string
	}{
		{"object exists", "s1", "backup", "bkt", "InvalidParameterValue", 400, "The S3 bucket bkt already contains an object with key backup-0001.rdb."},
		{"no bucket", "s1", "x", "nobucket", "InvalidParameterValue", 400, "The S3 bucket nobucket does not exist."},
		{"no write permission", "s1", "x", "readonly", "InvalidParameterValue", 400, "ElastiCache has not been granted WRITE permissions readonly on the S3 Bucket."},
		{"bad bucket name", "s1", "x", "Bad_Bucket", "InvalidParameterValue", 400, ""},
		{"no source", "nosuch", "x", "bkt", "SnapshotNotFoundFault", 404, "Snapshot nosuch not found."},
	} {
		err := export(f.src, f.name, f.bucket)
		keywardtest.WantError(t, err, f.code, f.status)
		if _, msg := errorMessage(err); f.msg != "" && msg != f.msg {
			t.Errorf("%s: message %q, want %q", f.what, msg, f.msg)
		}
	}

	// From the S3 ARN into a new group of two nodes: every key on both.
	start := time.Now()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("froms3"), ReplicationGroupDescription: aws.String("from s3"),
		NumCacheClusters: aws.Int32(2), SnapshotArns: []string{"arn:aws:s3:::bkt/backup-0001.rdb"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range rgNodes(t, ts, waitRG(t, c, "froms3", "available")) {
		checkKeys(t, n)
	}
	t.Logf("restore of %d keys from an S3 ARN into 2 nodes: available after %v", dataKeys, time.Since(start).Round(time.Millisecond))

	// Restore faults.
	os.WriteFile(filepath.Join(dir, "writeonly", "x.rdb"), []byte("x"), 0o600)
	for _, f := range []struct {
		what, arn, msg string
	}{
		{"no object", "arn:aws:s3:::bkt/missing.rdb", "No such S3 object bkt/missing.rdb."},
		{"no bucket", "arn:aws:s3:::nobucket/backup-0001.rdb", "The S3 bucket nobucket does not exist."},
		{"no read permission", "arn:aws:s3:::writeonly/x.rdb", "ElastiCache has not been granted READ permissions writeonly on the S3 Bucket."},
		{"not an S3 ARN", "arn:aws:s3:::bkt", ""},
		{"escape", "arn:aws:s3:::bkt/../readonly/x", ""},
	} {
		_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
			ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("x"), SnapshotArns: []string{f.arn},
		})
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
		if _, msg := errorMessage(err); f.msg != "" && msg != f.msg {
			t.Errorf("%s: message %q, want %q", f.what, msg, f.msg)
		}
	}
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("x"), SnapshotName: aws.String("s1"),
		SnapshotArns: []string{"arn:aws:s3:::bkt/backup-0001.rdb"},
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("x"),
		SnapshotArns: []string{"arn:aws:s3:::bkt/backup-0001.rdb", "arn:aws:s3:::bkt/backup-0001.rdb"},
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)

	// An object that is not an RDB is refused at once.
	os.WriteFile(filepath.Join(dir, "bkt", "junk.rdb"), []byte("not an rdb"), 0o600)
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("junk"), ReplicationGroupDescription: aws.String("x"), NumNodeGroups: aws.Int32(2),
		SnapshotArns: []string{"arn:aws:s3:::bkt/junk.rdb"},
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	// One that passes the check but cannot be loaded: the group fails.
	os.WriteFile(filepath.Join(dir, "bkt", "bad.rdb"), []byte("REDIS0011 but not really"), 0o600)
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("junk"), ReplicationGroupDescription: aws.String("x"), NumNodeGroups: aws.Int32(2),
		SnapshotArns: []string{"arn:aws:s3:::bkt/bad.rdb"},
	}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "junk", "create-failed")
	// The same without cluster mode: checked before the primary starts
	// with it (a node that cannot load its data would never start).
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("junk2"), ReplicationGroupDescription: aws.String("x"), SnapshotArns: []string{"arn:aws:s3:::bkt/bad.rdb"},
	}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "junk2", "create-failed")

	// Without --s3-dir there are no buckets.
	plain := keywardtest.New(t)
	_, err = plain.Client.CopySnapshot(ctx, &elasticache.CopySnapshotInput{SourceSnapshotName: aws.String("s1"), TargetSnapshotName: aws.String("x"), TargetBucket: aws.String("bkt")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = plain.Client.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("x"), SnapshotArns: []string{"arn:aws:s3:::bkt/backup-0001.rdb"},
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	if _, msg := errorMessage(err); msg != "keyward has no S3 directory configured (start it with --s3-dir): S3 buckets cannot be used." {
		t.Errorf("without --s3-dir: %q", msg)
	}
}

// A serverless snapshot exported with ExportServerlessCacheSnapshot
// restores from its S3 ARN into a new serverless cache.
func TestServerlessSnapshot_ExportAndRestoreS3(t *testing.T) {
	redistest.Binary(t)
	dir, buckets := withBuckets(t, "bkt")
	ts := keywardtest.New(t, keywardtest.WithDelay(200*time.Millisecond), buckets)
	c, ctx := ts.Client, t.Context()
	nodeOf := func(sc types.ServerlessCache) node {
		return node{addr: fmt.Sprintf("%s:%d", aws.ToString(sc.Endpoint.Address), aws.ToInt32(sc.Endpoint.Port)), tls: ts.Engine().TLSConfig()}
	}
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("sv"), Engine: aws.String("redis")}); err != nil {
		t.Fatal(err)
	}
	writeKeys(t, nodeOf(waitServerless(t, c, "sv", "available")))
	if _, err := c.CreateServerlessCacheSnapshot(ctx, &elasticache.CreateServerlessCacheSnapshotInput{ServerlessCacheName: aws.String("sv"), ServerlessCacheSnapshotName: aws.String("sv-1")}); err != nil {
		t.Fatal(err)
	}
	// Not available yet (the transition delay holds it creating).
	_, err := c.ExportServerlessCacheSnapshot(ctx, &elasticache.ExportServerlessCacheSnapshotInput{ServerlessCacheSnapshotName: aws.String("sv-1"), S3BucketName: aws.String("bkt")})
	keywardtest.WantError(t, err, "InvalidServerlessCacheSnapshotStateFault", 400)
	waitServerlessSnapshot(t, c, "sv-1", "available")
	out, err := c.ExportServerlessCacheSnapshot(ctx, &elasticache.ExportServerlessCacheSnapshotInput{ServerlessCacheSnapshotName: aws.String("sv-1"), S3BucketName: aws.String("bkt")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ServerlessCacheSnapshot.Status) != "exporting" {
		t.Errorf("export answered %s", aws.ToString(out.ServerlessCacheSnapshot.Status))
	}
	waitServerlessSnapshot(t, c, "sv-1", "available")
	if fi, err := os.Stat(filepath.Join(dir, "bkt", "sv-1-0001.rdb")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("exported object: %v %v", fi, err)
	}
	_, err = c.ExportServerlessCacheSnapshot(ctx, &elasticache.ExportServerlessCacheSnapshotInput{ServerlessCacheSnapshotName: aws.String("sv-1"), S3BucketName: aws.String("bkt")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.ExportServerlessCacheSnapshot(ctx, &elasticache.ExportServerlessCacheSnapshotInput{ServerlessCacheSnapshotName: aws.String("sv-1"), S3BucketName: aws.String("nobucket")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.ExportServerlessCacheSnapshot(ctx, &elasticache.ExportServerlessCacheSnapshotInput{ServerlessCacheSnapshotName: aws.String("nope"), S3BucketName: aws.String("bkt")})
	keywardtest.WantError(t, err, "ServerlessCacheSnapshotNotFoundFault", 404)

	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("sv-s3"), Engine: aws.String("redis"), SnapshotArnsToRestore: []string{"arn:aws:s3:::bkt/sv-1-0001.rdb"},
	}); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, nodeOf(waitServerless(t, c, "sv-s3", "available")))
	_, err = c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("sv-bad"), Engine: aws.String("redis"), SnapshotArnsToRestore: []string{"arn:aws:s3:::bkt/missing.rdb"},
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	// A replication group from the serverless snapshot (ServerlessCacheSnapshotName).
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("from-sv"), ReplicationGroupDescription: aws.String("x"), NumCacheClusters: aws.Int32(2),
		ServerlessCacheSnapshotName: aws.String("sv-1"),
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range rgNodes(t, ts, waitRG(t, c, "from-sv", "available")) {
		checkKeys(t, n)
	}
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("x"), ReplicationGroupDescription: aws.String("x"), ServerlessCacheSnapshotName: aws.String("nope"),
	})
	keywardtest.WantError(t, err, "ServerlessCacheSnapshotNotFoundFault", 404)
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("x"), ReplicationGroupDescription: aws.String("x"), ServerlessCacheSnapshotName: aws.String("sv-1"),
		SnapshotArns: []string{"arn:aws:s3:::bkt/sv-1-0001.rdb"},
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}
