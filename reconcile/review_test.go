package reconcile_test

// Regression tests for the findings of the security review of 2026-12
// (../shared/security/review-2026-12.md) that need the whole keyward: real
// API, store, reconciler and redis-server nodes.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func auth(ts *keywardtest.Server, addr, user, pass string) error {
	c := redis.NewClient(&redis.Options{
		Addr: addr, Username: user, Password: pass, TLSConfig: ts.Engine().TLSConfig(), Protocol: 2, MaxRetries: -1, PoolSize: 1,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true,
	})
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func rgStatus(t *testing.T, c *elasticache.Client, id string) (rg, nodeGroup, addr string) {
	t.Helper()
	out, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
	if err != nil || len(out.ReplicationGroups) != 1 {
		return "", "", ""
	}
	g := out.ReplicationGroups[0]
	if len(g.NodeGroups) == 1 && len(g.NodeGroups[0].NodeGroupMembers) > 0 && g.NodeGroups[0].NodeGroupMembers[0].ReadEndpoint != nil {
		e := g.NodeGroups[0].NodeGroupMembers[0].ReadEndpoint
		addr = net.JoinHostPort(aws.ToString(e.Address), strconv.Itoa(int(aws.ToInt32(e.Port))))
	}
	return aws.ToString(g.Status), aws.ToString(g.NodeGroups[0].Status), addr
}

func userStatus(c *elasticache.Client, id string) string {
	out, err := c.DescribeUsers(context.Background(), &elasticache.DescribeUsersInput{UserId: aws.String(id)})
	if code, _ := keywardtest.APIError(err); code == "UserNotFound" {
		return "gone"
	}
	if err != nil || len(out.Users) != 1 {
		return ""
	}
	return aws.ToString(out.Users[0].Status)
}

func groupStatus(c *elasticache.Client, id string) string {
	out, err := c.DescribeUserGroups(context.Background(), &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String(id)})
	if err != nil || len(out.UserGroups) != 1 {
		return ""
	}
	return aws.ToString(out.UserGroups[0].Status)
}

func createUser(t *testing.T, c *elasticache.Client, id, access, pw string) {
	t.Helper()
	_, err := c.CreateUser(t.Context(), &elasticache.CreateUserInput{
		UserId: aws.String(id), UserName: aws.String(id), Engine: aws.String("redis"),
		AccessString: aws.String(access), Passwords: []string{pw},
	})
	mustOK(t, err)
}

// holdPort kills the node on port and keeps the port bound, so that the
// node cannot start again until the returned func is called.
func holdPort(t *testing.T, ts *keywardtest.Server, nodeID string) (release func()) {
	t.Helper()
	n, ok := ts.Engine().Node(nodeID)
	if !ok || n.PID == 0 {
		t.Fatalf("node %s not running", nodeID)
	}
	syscall.Kill(n.PID, syscall.SIGKILL)
	var l net.Listener
	keywardtest.Eventually(t, 5*time.Second, "port "+n.Addr+" free", func() bool {
		var err error
		l, err = net.Listen("tcp", n.Addr)
		return err == nil
	})
	return func() { l.Close() }
}

// F2: a member whose access string the engine refuses (+json.get) stopped
// every ACL change of the group's caches: another member's DeleteUser never
// took effect, the user stayed deleting and the group modifying. Here the
// refused string is written to the store as an older keyward would have
// stored it (the API now refuses module commands).
func TestReviewF2_RefusedMemberDoesNotHoldBackOthers(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	createUser(t, c, "modu", "on ~* -@all +get", "modu-password-0000001")
	createUser(t, c, "victim", "on ~* +@all", "victim-password-00001")
	_, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("gb"), Engine: aws.String("redis"), UserIds: []string{"default", "victim"}})
	mustOK(t, err)
	keywardtest.Eventually(t, 10*time.Second, "group gb active", func() bool { return groupStatus(c, "gb") == "active" })
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("rgb"), ReplicationGroupDescription: aws.String("f2"), Engine: aws.String("redis"),
		NumCacheClusters: aws.Int32(1), UserGroupIds: []string{"gb"}, TransitEncryptionEnabled: aws.Bool(true),
	})
	mustOK(t, err)
	var addr string
	keywardtest.Eventually(t, 20*time.Second, "rgb available", func() bool {
		st, _, a := rgStatus(t, c, "rgb")
		addr = a
		return st == "available"
	})
	if err := auth(ts, addr, "victim", "victim-password-00001"); err != nil {
		t.Fatalf("victim before: %v", err)
	}

	// modu's access string as an older keyward stored it.
	mustOK(t, ts.Store.Update(ctx, func(tx keyward.Tx) error {
		u, err := tx.FindUserByID(ctx, keyward.DefaultScope, "modu")
		if err != nil {
			return err
		}
		u.AccessString = "on ~* -@all +json.get"
		return tx.UpdateUser(ctx, u)
	}))
	_, err = c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("gb"), UserIdsToAdd: []string{"modu"}})
	mustOK(t, err)
	keywardtest.Eventually(t, 10*time.Second, "group gb active with modu", func() bool { return groupStatus(c, "gb") == "active" })
	if err := auth(ts, addr, "modu", "modu-password-0000001"); err == nil {
		t.Error("modu, whose rules the engine refuses, can log in")
	}

	start := time.Now()
	_, err = c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("victim")})
	mustOK(t, err)
	keywardtest.Eventually(t, 10*time.Second, "victim gone", func() bool { return userStatus(c, "victim") == "gone" })
	t.Logf("DeleteUser(victim) done after %v while modu stays refused", time.Since(start))
	if err := auth(ts, addr, "victim", "victim-password-00001"); err == nil {
		t.Error("deleted victim still admitted")
	}
	// The group completes in its own pass, woken by the same cache report
	// as the user's: it may land just after the user's.
	keywardtest.Eventually(t, 10*time.Second, "group gb active after the DeleteUser", func() bool { return groupStatus(c, "gb") == "active" })
	// The stuck member can still be taken out.
	_, err = c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("gb"), UserIdsToRemove: []string{"modu"}})
	mustOK(t, err)
	keywardtest.Eventually(t, 10*time.Second, "group gb active without modu", func() bool { return groupStatus(c, "gb") == "active" })
}

// reconcileErrors reads keyward_reconcile_errors from /metrics.
func reconcileErrors(t *testing.T, ts *keywardtest.Server) int {
	t.Helper()
	resp, err := http.Get(ts.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "keyward_reconcile_errors "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int(f)
		}
	}
	t.Fatal("no keyward_reconcile_errors in /metrics")
	return 0
}

// F12 (and F5 end to end): while a node cannot start and a revocation waits for it, the
// cache was retried 50–96 times a second whatever the backoff, and the
// cache, its node group and its cluster were all shown available.
func TestReviewF12_DownNodeShownAndRetriesBackOff(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	createUser(t, c, "carol", "on ~* +@all", "carol-password-000001")
	_, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("gd"), Engine: aws.String("redis"), UserIds: []string{"default", "carol"}})
	mustOK(t, err)
	keywardtest.Eventually(t, 10*time.Second, "group gd active", func() bool { return groupStatus(c, "gd") == "active" })
	_, err = c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("rgd"), ReplicationGroupDescription: aws.String("f12"), Engine: aws.String("redis"),
		NumCacheClusters: aws.Int32(1), UserGroupIds: []string{"gd"}, TransitEncryptionEnabled: aws.Bool(true),
	})
	mustOK(t, err)
	_, err = c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("sd"), Engine: aws.String("redis")})
	mustOK(t, err)
	keywardtest.Eventually(t, 20*time.Second, "rgd available", func() bool { st, _, _ := rgStatus(t, c, "rgd"); return st == "available" })
	slStatus := func() string {
		d, err := c.DescribeServerlessCaches(ctx, &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String("sd")})
		if err != nil || len(d.ServerlessCaches) != 1 {
			return ""
		}
		return aws.ToString(d.ServerlessCaches[0].Status)
	}
	keywardtest.Eventually(t, 20*time.Second, "sd available", func() bool { return slStatus() == "available" })
	clusterStatus := func() (string, string) {
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("rgd-001"), ShowCacheNodeInfo: aws.Bool(true)})
		if err != nil || len(out.CacheClusters) != 1 || len(out.CacheClusters[0].CacheNodes) != 1 {
			return "", ""
		}
		return aws.ToString(out.CacheClusters[0].CacheClusterStatus), aws.ToString(out.CacheClusters[0].CacheNodes[0].CacheNodeStatus)
	}

	scope := keyward.DefaultScope
	rgNode := fmt.Sprintf("%s.%s.rgd-001", scope.Account, scope.Region)
	slNode := fmt.Sprintf("%s.%s.serverless.sd-001", scope.Account, scope.Region)
	releaseRG := holdPort(t, ts, rgNode)
	releaseSL := holdPort(t, ts, slNode)
	_, err = c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("carol")})
	mustOK(t, err)

	// F12: the dead node shows.
	keywardtest.Eventually(t, 5*time.Second, "down node shown", func() bool {
		rg, ng, _ := rgStatus(t, c, "rgd")
		cs, ns := clusterStatus()
		return rg == "modifying" && ng == "modifying" && cs == "rebooting cluster nodes" && ns == "rebooting" && slStatus() == "modifying"
	})

	// F5: the reconciler backs off. Over 3 s the old code made about
	// 50 to 96 attempts a second.
	before := reconcileErrors(t, ts)
	time.Sleep(3 * time.Second)
	errs := reconcileErrors(t, ts) - before
	t.Logf("reconcile errors in 3 s with a node down and a revocation waiting: %d", errs)
	if errs > 40 {
		t.Errorf("%d failed reconcile passes in 3 s: the backoff is bypassed", errs)
	}
	if st := userStatus(c, "carol"); st != "deleting" {
		t.Errorf("carol while her cache's node is down: %s, want deleting", st)
	}

	releaseRG()
	releaseSL()
	keywardtest.Eventually(t, 40*time.Second, "carol gone once the node is back", func() bool { return userStatus(c, "carol") == "gone" })
	keywardtest.Eventually(t, 40*time.Second, "everything available again", func() bool {
		rg, ng, _ := rgStatus(t, c, "rgd")
		cs, ns := clusterStatus()
		return rg == "available" && ng == "available" && cs == "available" && ns == "available" && slStatus() == "available"
	})
}
