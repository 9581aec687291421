package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/keywardtest"
)

// TestReviewF13F9Binary runs the keyward binary as the review did: started
// with umask 022 on a data directory that already exists 0755. Every file
// and directory it writes but the public CA certificate is for its own
// user only (F13), and the new flags
// hold: --regions (F9) and --quota-nodes (F8).
func TestReviewF13F9Binary(t *testing.T) {
	old := syscall.Umask(0o022) // inherited by the child
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "data7")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	p := startKeyward(t, freeAddr(t), dir, nil, "--regions", "us-east-1,eu-west-1", "--quota-nodes", "1")
	c := p.client()
	if _, err := c.CreateUser(t.Context(), newUser("wr")); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("two"), ReplicationGroupDescription: aws.String("q"), NumCacheClusters: aws.Int32(2),
	})
	keywardtest.WantError(t, err, "NodeQuotaForCustomerExceeded", 400)

	other := elasticache.New(elasticache.Options{BaseEndpoint: aws.String(p.url), Region: "ap-south-1", Retryer: aws.NopRetryer{}, Credentials: c.Options().Credentials})
	_, err = other.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
	keywardtest.WantError(t, err, "SignatureDoesNotMatch", 403)

	n := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(path)
		if err != nil {
			return nil // a file that went away meanwhile
		}
		n++
		// ca.pem is public on purpose (clients verify nodes with it); its
		// directory, like every other, is 0700.
		if fi.Mode().Perm()&0o077 != 0 && d.Name() != "ca.pem" {
			t.Errorf("%s has mode %v: readable by others", path, fi.Mode().Perm())
		}
		return nil
	})
	if n < 3 {
		t.Fatalf("only %d entries under the data dir", n)
	}
}
