package s3dir

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseARN(t *testing.T) {
	for _, tc := range []struct {
		arn, bucket, key string
		ok               bool
	}{
		{"arn:aws:s3:::my-bucket/backups/x-0001.rdb", "my-bucket", "backups/x-0001.rdb", true},
		{"arn:aws-cn:s3:::b12/k", "b12", "k", true},
		{"arn:aws:s3:::my-bucket", "", "", false},
		{"arn:aws:s3:::my-bucket/", "", "", false},
		{"arn:aws:s3:::my-bucket/../other/k", "", "", false},
		{"arn:aws:s3:::my-bucket/a//b", "", "", false},
		{"arn:aws:s3:us-east-1::my-bucket/k", "", "", false},
		{"arn:aws:elasticache:us-east-1:000000000000:snapshot:s1", "", "", false},
		{"arn:aws:s3:::Upper/k", "", "", false},
		{"arn:aws:s3:::a..b/k", "", "", false},
	} {
		b, k, err := ParseARN(tc.arn)
		if (err == nil) != tc.ok || b != tc.bucket || k != tc.key {
			t.Errorf("ParseARN(%q) = %q, %q, %v", tc.arn, b, k, err)
		}
	}
}

func TestChecks(t *testing.T) {
	root := t.TempDir()
	d := Dir(root)
	for name, mode := range map[string]os.FileMode{"rwb": 0o700, "rob": 0o500, "wob": 0o300} {
		if err := os.Mkdir(filepath.Join(root, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "rwb", "a.rdb"), []byte("REDIS0011..."), 0o600)
	os.WriteFile(filepath.Join(root, "rwb", "junk"), []byte("junk"), 0o600)
	os.WriteFile(filepath.Join(root, "rwb", "locked.rdb"), []byte("REDIS0011"), 0o200)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"read ok", d.CheckRead("rwb", "a.rdb"), nil},
		{"read missing", d.CheckRead("rwb", "b.rdb"), ErrNoObject},
		{"read no bucket", d.CheckRead("none", "a.rdb"), ErrNoBucket},
		{"read denied", d.CheckRead("wob", "a.rdb"), ErrReadDenied},
		{"read locked object", d.CheckRead("rwb", "locked.rdb"), ErrReadDenied},
		{"not rdb", d.CheckRead("rwb", "junk"), ErrNotRDB},
		{"write ok", d.CheckWrite("rwb", "new.rdb"), nil},
		{"write exists", d.CheckWrite("rwb", "a.rdb"), ErrExists},
		{"write denied", d.CheckWrite("rob", "new.rdb"), ErrWriteDenied},
		{"write no bucket", d.CheckWrite("none", "new.rdb"), ErrNoBucket},
		{"not configured", Dir("").CheckRead("rwb", "a.rdb"), ErrNotConfigured},
		{"bad key", d.CheckWrite("rwb", "../x"), ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) && (tc.err != nil || tc.want != nil) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}
