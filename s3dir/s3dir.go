// Package s3dir stands in for Amazon S3 where keyward exports snapshots to
// and restores them from buckets: there is no S3 here, so a bucket is a
// subdirectory of one configured directory (--s3-dir) and an object a file
// under it, its key the relative path.
//
// Access is read from the bucket directory's mode, as a stand-in for the
// bucket policy that grants ElastiCache access: without the owner's read
// bit keyward may not read from the bucket, without the write bit it may
// not write to it (checked on the mode bits rather than by trying, so that
// the rule holds when keyward runs as root). Objects are written mode 0600.
package s3dir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Dir is the directory buckets are subdirectories of; "" when none is
// configured.
type Dir string

// Errors of the mapping; the api package turns them into ElastiCache's
// faults.
var (
	ErrNotConfigured = errors.New("s3dir: no S3 directory is configured")
	ErrNoBucket      = errors.New("s3dir: no such bucket")
	ErrNoObject      = errors.New("s3dir: no such object")
	ErrExists        = errors.New("s3dir: object exists")
	ErrReadDenied    = errors.New("s3dir: read access denied")
	ErrWriteDenied   = errors.New("s3dir: write access denied")
	ErrInvalid       = errors.New("s3dir: invalid bucket name or key")
	ErrNotRDB        = errors.New("s3dir: object is not an RDB file")
)

var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// ValidBucket reports whether name follows S3's bucket naming rules (3 to
// 63 lower-case letters, digits, dots and hyphens, a letter or digit at
// both ends, no two adjacent dots).
func ValidBucket(name string) bool {
	return bucketPattern.MatchString(name) && !strings.Contains(name, "..")
}

// ParseARN splits an object ARN of the form arn:aws:s3:::bucket/key (any
// partition).
func ParseARN(arn string) (bucket, key string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "s3" || parts[3] != "" || parts[4] != "" {
		return "", "", fmt.Errorf("%w: %s is not an S3 object ARN", ErrInvalid, arn)
	}
	bucket, key, _ = strings.Cut(parts[5], "/")
	if !ValidBucket(bucket) || !validKey(key) {
		return "", "", fmt.Errorf("%w: %s", ErrInvalid, arn)
	}
	return bucket, key, nil
}

// validKey accepts keys that stay inside their bucket directory.
func validKey(key string) bool {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") || strings.ContainsRune(key, 0) {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// bucketDir returns the directory of bucket, which must exist.
func (d Dir) bucketDir(bucket string) (string, fs.FileMode, error) {
	if d == "" {
		return "", 0, ErrNotConfigured
	}
	if !ValidBucket(bucket) {
		return "", 0, fmt.Errorf("%w: bucket %q", ErrInvalid, bucket)
	}
	dir := filepath.Join(string(d), bucket)
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "", 0, ErrNoBucket
	}
	return dir, fi.Mode(), nil
}

// Path returns the file of object key in bucket, without checking it.
func (d Dir) Path(bucket, key string) (string, error) {
	if d == "" {
		return "", ErrNotConfigured
	}
	if !ValidBucket(bucket) || !validKey(key) {
		return "", ErrInvalid
	}
	return filepath.Join(string(d), bucket, filepath.FromSlash(key)), nil
}

// CheckRead reports whether object key of bucket can be read: ErrNoBucket,
// ErrReadDenied, ErrNoObject, or nil.
func (d Dir) CheckRead(bucket, key string) error {
	_, mode, err := d.bucketDir(bucket)
	if err != nil {
		return err
	}
	if mode.Perm()&0o400 == 0 {
		return ErrReadDenied
	}
	p, err := d.Path(bucket, key)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return ErrNoObject
	}
	if fi.Mode().Perm()&0o400 == 0 {
		return ErrReadDenied
	}
	return checkRDB(p)
}

// checkRDB reads the file's magic: RDB files begin with REDIS (VALKEY
// for Valkey's newer format).
func checkRDB(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return ErrReadDenied
	}
	defer f.Close()
	head := make([]byte, 6)
	n, _ := f.Read(head)
	if s := string(head[:n]); !strings.HasPrefix(s, "REDIS") && s != "VALKEY" {
		return ErrNotRDB
	}
	return nil
}

// CheckWrite reports whether a new object key can be written to bucket:
// ErrNoBucket, ErrWriteDenied, ErrExists, or nil.
func (d Dir) CheckWrite(bucket, key string) error {
	_, mode, err := d.bucketDir(bucket)
	if err != nil {
		return err
	}
	if mode.Perm()&0o200 == 0 {
		return ErrWriteDenied
	}
	p, err := d.Path(bucket, key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil {
		return ErrExists
	}
	return nil
}
