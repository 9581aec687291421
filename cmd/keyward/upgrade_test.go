package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"keyward/iamauth"
	"keyward/internal/pgtest"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// previousRelease is the last commit whose stores kept users, groups,
// caches and tags in tables of their own, before the document store
// (sqlite migration 0003, postgres 0002). The upgrade tests build it from
// the repository's history and let it write the state the new keyward
// must open.
const previousRelease = "47fcae1"

var (
	previousOnce sync.Once
	previousBin  string
	previousErr  error
)

// previousKeyward builds previousRelease's keyward once per test binary.
func previousKeyward(t *testing.T) string {
	t.Helper()
	previousOnce.Do(func() {
		dir, err := os.MkdirTemp("", "keyward-previous-")
		if err != nil {
			previousErr = err
			return
		}
		src := filepath.Join(dir, "src")
		previousBin = filepath.Join(dir, "keyward")
		if err := os.Mkdir(src, 0o700); err != nil {
			previousErr = err
			return
		}
		// From the top of the work tree: in a subdirectory, git archive
		// would take only that subtree.
		archive := exec.Command("sh", "-c", `cd "$(git rev-parse --show-toplevel)" && git archive "$0" | tar -x -C "$1"`, previousRelease, src)
		if out, err := archive.CombinedOutput(); err != nil {
			previousErr = fmt.Errorf("git archive %s (the upgrade test needs the repository's history): %v\n%s", previousRelease, err, out)
			return
		}
		build := exec.Command("go", "build", "-o", previousBin, "./cmd/keyward")
		build.Dir = src
		if out, err := build.CombinedOutput(); err != nil {
			previousErr = fmt.Errorf("go build of %s: %v\n%s", previousRelease, err, out)
		}
	})
	if previousErr != nil {
		t.Fatal(previousErr)
	}
	return previousBin
}

// startPrevious runs previousRelease's "keyward serve".
func startPrevious(t *testing.T, addr, dataDir string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(previousKeyward(t), append([]string{"serve", "--listen", addr, "--data-dir", dataDir}, args...)...)
	cmd.Stderr = &logWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: "http://" + addr}
	t.Cleanup(func() { p.kill() })
	keywardtest.Eventually(t, 10*time.Second, "previous keyward to serve", func() bool { return healthy(p.url) })
	return p
}

func TestUpgrade_SQLite(t *testing.T) { testUpgrade(t) }

func TestUpgrade_PostgreSQL(t *testing.T) {
	testUpgrade(t, "--store", "postgres:"+pgtest.NewDatabase(t))
}

// testUpgrade: state written by the previous release is opened by this
// keyward, which migrates it in place on start: every user, group, tag and
// cache answers as before, the running nodes are adopted (same processes),
// keep admitting their users, and obey changes made after the upgrade.
func testUpgrade(t *testing.T, args ...string) {
	redistest.Binary(t)
	dir, addr := t.TempDir(), freeAddr(t)
	old := startPrevious(t, addr, dir, args...)
	c := old.client()
	ctx := t.Context()
	for _, u := range []struct{ id, name, pw, access string }{
		{"admin", "default", "admin-password-00001", "on ~* +@all"},
		{"alice", "alice", "alice-password-00001", "on ~app:* -@all +get +set"},
		{"bob", "bob", "", "on ~* +@read"},
	} {
		in := &elasticache.CreateUserInput{UserId: aws.String(u.id), UserName: aws.String(u.name), Engine: aws.String("redis"),
			AccessString: aws.String(u.access), Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String(u.id)}}}
		if u.pw != "" {
			in.Passwords = []string{u.pw}
		} else {
			in.NoPasswordRequired = aws.Bool(true)
		}
		if _, err := c.CreateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("app"), Engine: aws.String("redis"),
		UserIds: []string{"admin", "alice", "bob"}, Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("spare"), Engine: aws.String("redis"),
		UserIds: []string{"default", "bob"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupsActive(t, c, "app", "spare")
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("web"), ReplicationGroupDescription: aws.String("kept across the upgrade"),
		NumCacheClusters: aws.Int32(2), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: []string{"app"},
		Tags: []types.Tag{{Key: aws.String("tier"), Value: aws.String("web")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tok"), ReplicationGroupDescription: aws.String("token"),
		NumCacheClusters: aws.Int32(1), TransitEncryptionEnabled: aws.Bool(true), AuthToken: aws.String("token-token-token-0001"),
	}); err != nil {
		t.Fatal(err)
	}
	addrs := waitAvailable(t, c, "web")
	tokAddrs := waitAvailable(t, c, "tok")
	before := snapshot(t, c)

	tlsConf := caTLS(t, dir)
	conn := redis.NewClient(&redis.Options{Addr: addrs[0], Username: "alice", Password: "alice-password-00001", TLSConfig: tlsConf,
		Protocol: 2, MaxRetries: -1, DisableIdentity: true, PoolSize: 1}).Conn()
	defer conn.Close()
	if err := conn.Set(ctx, "app:k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old.kill()

	p := startKeyward(t, addr, dir, nil, args...)
	c = p.client()
	// Every stored fact answers as before. Reporting that this release
	// corrected on purpose is left out: AutomaticFailover was "enabled" for
	// every group of two or more nodes whatever was asked, no snapshot
	// window or log configuration list was reported, and every node sat in
	// zone "a" (settings issue, docs/settings.md).
	corrected := []cmp.Option{
		cmpopts.IgnoreFields(types.ReplicationGroup{}, "AutomaticFailover", "SnapshotWindow", "LogDeliveryConfigurations"),
		cmpopts.IgnoreFields(types.NodeGroupMember{}, "PreferredAvailabilityZone"),
	}
	if d := cmp.Diff(before, snapshot(t, c), append(corrected, cmpopts.IgnoreUnexported(types.User{}, types.UserGroup{}, types.ReplicationGroup{},
		types.Tag{}, types.Authentication{}, types.NodeGroup{}, types.NodeGroupMember{}, types.Endpoint{},
		types.ReplicationGroupPendingModifiedValues{}, types.UserGroupPendingChanges{}))...); d != "" {
		t.Errorf("state after the upgrade differs (-before +after):\n%s", d)
	}
	// The same node processes: a connection made before the upgrade still works.
	if err := conn.Get(ctx, "app:k").Err(); err != nil {
		t.Fatalf("the upgraded keyward replaced a running node instead of adopting it: %v", err)
	}
	auth := func(addr, user, pw string) error {
		cl := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pw, TLSConfig: tlsConf, Protocol: 2, MaxRetries: -1, DisableIdentity: true})
		defer cl.Close()
		// A user admitted without the right to PING is still admitted.
		if err := cl.Ping(context.Background()).Err(); err != nil && !strings.HasPrefix(err.Error(), "NOPERM") {
			return err
		}
		return nil
	}
	for _, a := range addrs {
		if err := auth(a, "alice", "alice-password-00001"); err != nil {
			t.Errorf("alice refused on %s after the upgrade: %v", a, err)
		}
		if err := auth(a, "default", "admin-password-00001"); err != nil {
			t.Errorf("the group's default refused on %s after the upgrade: %v", a, err)
		}
	}
	if err := auth(tokAddrs[0], "default", "token-token-token-0001"); err != nil {
		t.Errorf("AUTH token refused after the upgrade: %v", err)
	}

	// The adopted nodes were given fronts on their ports (the nodes moved
	// to new ones, keeping their connections, as conn shows above): an IAM
	// user added after the upgrade logs in on every endpoint.
	keywardtest.Eventually(t, 15*time.Second, "the adopted nodes hand their ports to fronts", func() bool {
		for i, a := range addrs {
			b, err := os.ReadFile(filepath.Join(dir, "nodes", fmt.Sprintf("000000000000.us-east-1.web-%03d", i+1), "node.json"))
			if err != nil {
				t.Fatal(err)
			}
			var rec struct{ Port int }
			json.Unmarshal(b, &rec)
			if _, port, _ := net.SplitHostPort(a); port == strconv.Itoa(rec.Port) {
				return false
			}
		}
		return true
	})
	if err := conn.Get(ctx, "app:k").Err(); err != nil {
		t.Fatalf("a connection made before the node moved to its new port: %v", err)
	}
	if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String("carol"), UserName: aws.String("carol"), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), AuthenticationMode: &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("app"), UserIdsToAdd: []string{"carol"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupsActive(t, c, "app")
	for _, a := range addrs {
		cl := redis.NewClient(&redis.Options{Addr: a, TLSConfig: tlsConf, Protocol: 2, MaxRetries: -1, DisableIdentity: true,
			CredentialsProviderContext: func(ctx context.Context) (string, string, error) {
				// keyward runs unauthenticated here: any key signs.
				tok, err := iamauth.Presign(ctx, aws.Credentials{AccessKeyID: "AKIDANY", SecretAccessKey: "any"},
					iamauth.Resource{Name: "web", Region: "us-east-1"}, "carol", 15*time.Minute, time.Now())
				return "carol", tok, err
			}})
		if err := cl.Ping(ctx).Err(); err != nil {
			t.Errorf("IAM login on adopted node %s: %v", a, err)
		}
		cl.Close()
	}

	// Changes after the upgrade reach the adopted nodes.
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, 15*time.Second, addrs, auth, "alice", "alice-password-00001")
	keywardtest.Eventually(t, 10*time.Second, "alice gone", func() bool {
		_, err := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("alice")})
		return err != nil && strings.Contains(err.Error(), "UserNotFound")
	})
	for _, id := range []string{"web", "tok"} {
		if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	waitNoGroups(t, c) // every node gone before the test's directory is removed
}

func healthy(url string) bool {
	cl := &http.Client{Timeout: time.Second}
	resp, err := cl.Get(url + "/healthz")
	if err == nil {
		resp.Body.Close()
	}
	return err == nil && resp.StatusCode == 200
}

// state is what the API answers about every resource, to compare before
// and after an upgrade.
type state struct {
	Users             []types.User
	UserGroups        []types.UserGroup
	ReplicationGroups []types.ReplicationGroup
	Tags              map[string][]types.Tag
}

func snapshot(t *testing.T, c *elasticache.Client) state {
	t.Helper()
	ctx := t.Context()
	var s state
	var users *elasticache.DescribeUsersOutput
	var groups *elasticache.DescribeUserGroupsOutput
	var rgs *elasticache.DescribeReplicationGroupsOutput
	retry(t, "DescribeUsers", func() (err error) { users, err = c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{}); return err })
	retry(t, "DescribeUserGroups", func() (err error) {
		groups, err = c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{})
		return err
	})
	retry(t, "DescribeReplicationGroups", func() (err error) {
		rgs, err = c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{})
		return err
	})
	s.Users, s.UserGroups, s.ReplicationGroups = users.Users, groups.UserGroups, rgs.ReplicationGroups
	s.Tags = map[string][]types.Tag{}
	var arns []string
	for _, u := range s.Users {
		arns = append(arns, aws.ToString(u.ARN))
	}
	for _, g := range s.UserGroups {
		arns = append(arns, aws.ToString(g.ARN))
	}
	for _, rg := range s.ReplicationGroups {
		arns = append(arns, aws.ToString(rg.ARN))
	}
	for _, arn := range arns {
		retry(t, "ListTagsForResource "+arn, func() error {
			out, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
			if err == nil {
				s.Tags[arn] = out.TagList
			}
			return err
		})
	}
	return s
}

// retry runs a read up to three times: under load the SDK's HTTP client
// now and then fails reading a complete 200 answer ("use of closed network
// connection", aws/aws-sdk-go-v2#1825), which says nothing about keyward.
func retry(t *testing.T, what string, fn func() error) {
	t.Helper()
	var err error
	for range 3 {
		if err = fn(); err == nil || !strings.Contains(err.Error(), "use of closed network connection") {
			break
		}
	}
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
