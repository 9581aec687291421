package api_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/engine"
	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
)

// node is one cache node as a client sees it.
type node struct {
	addr string
	tls  *tls.Config
}

func (n node) client(user, pass string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: n.addr, Username: user, Password: pass, TLSConfig: n.tls,
		Protocol: 2, MaxRetries: -1, PoolSize: 1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second,
		DisableIdentity: true,
	})
}

// auth tries AUTH as user on the node; nil means accepted.
func (n node) auth(user, pass string) error {
	c := n.client(user, pass)
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

func waitRG(t *testing.T, c *elasticache.Client, id, status string) types.ReplicationGroup {
	t.Helper()
	return waitRGWithin(t, c, id, status, 20*time.Second)
}

// waitRGWithin waits up to timeout for the group's status ("gone": its
// deletion) and returns the group as last described.
func waitRGWithin(t testing.TB, c *elasticache.Client, id, status string, timeout time.Duration) types.ReplicationGroup {
	t.Helper()
	var rg types.ReplicationGroup
	keywardtest.Eventually(t, timeout, "replication group "+id+" "+status, func() bool {
		out, err := c.DescribeReplicationGroups(context.Background(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "ReplicationGroupNotFoundFault"
		}
		if err != nil || len(out.ReplicationGroups) != 1 {
			return false
		}
		rg = out.ReplicationGroups[0]
		return aws.ToString(rg.Status) == status
	})
	return rg
}

// rgNodes returns the nodes of an available replication group, primary first.
func rgNodes(t *testing.T, ts *keywardtest.Server, rg types.ReplicationGroup) []node {
	t.Helper()
	var tlsConf *tls.Config
	if aws.ToBool(rg.TransitEncryptionEnabled) {
		tlsConf = ts.Engine().TLSConfig()
	}
	var nodes []node
	for _, m := range rg.NodeGroups[0].NodeGroupMembers {
		nodes = append(nodes, node{addr: fmt.Sprintf("%s:%d", aws.ToString(m.ReadEndpoint.Address), aws.ToInt32(m.ReadEndpoint.Port)), tls: tlsConf})
	}
	return nodes
}

func createRG(t *testing.T, c *elasticache.Client, id string, n int32, tls bool, groups ...string) {
	t.Helper()
	_, err := c.CreateReplicationGroup(context.Background(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("test " + id),
		Engine: aws.String("redis"), NumCacheClusters: aws.Int32(n), TransitEncryptionEnabled: aws.Bool(tls),
		UserGroupIds: groups,
	})
	if err != nil {
		t.Fatalf("CreateReplicationGroup(%s): %v", id, err)
	}
}

func TestReplicationGroup_Lifecycle(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(100*time.Millisecond))
	c := ts.Client
	out, err := c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("Plain"), ReplicationGroupDescription: aws.String("plain group"),
		NumCacheClusters: aws.Int32(3), Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rg := out.ReplicationGroup
	if aws.ToString(rg.Status) != "creating" || !slices.Equal(rg.MemberClusters, []string{"plain-001", "plain-002", "plain-003"}) || len(rg.UserGroupIds) != 0 {
		t.Errorf("CreateReplicationGroup answered %s %v %v", aws.ToString(rg.Status), rg.MemberClusters, rg.UserGroupIds)
	}
	got := waitRG(t, c, "plain", "available")
	members := got.NodeGroups[0].NodeGroupMembers
	if len(members) != 3 || aws.ToString(members[0].CurrentRole) != "primary" || aws.ToString(members[1].CurrentRole) != "replica" ||
		aws.ToInt32(got.NodeGroups[0].PrimaryEndpoint.Port) != aws.ToInt32(members[0].ReadEndpoint.Port) {
		t.Fatalf("node group: %+v", got.NodeGroups[0])
	}
	nodes := rgNodes(t, ts, got)
	// No user group and no token: access control is off, as on ElastiCache.
	primary := nodes[0].client("", "")
	defer primary.Close()
	if err := primary.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes[1:] {
		r := n.client("", "")
		keywardtest.Eventually(t, 10*time.Second, "replica sync", func() bool { return r.Get(context.Background(), "k").Val() == "v" })
		r.Close()
	}
	cc, err := c.DescribeCacheClusters(t.Context(), &elasticache.DescribeCacheClustersInput{ShowCacheNodeInfo: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cc.CacheClusters) != 3 || aws.ToString(cc.CacheClusters[0].ReplicationGroupId) != "plain" || cc.CacheClusters[2].CacheNodes[0].Endpoint == nil {
		t.Errorf("DescribeCacheClusters: %+v", cc.CacheClusters)
	}
	_, err = c.DescribeCacheClusters(t.Context(), &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("nope-001")})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
	tags, err := c.ListTagsForResource(t.Context(), &elasticache.ListTagsForResourceInput{ResourceName: rg.ARN})
	if err != nil || len(tags.TagList) != 1 {
		t.Errorf("tags of the replication group: %v %v", tags, err)
	}
	_, err = c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("plain"), ReplicationGroupDescription: aws.String("x")})
	keywardtest.WantError(t, err, "ReplicationGroupAlreadyExists", 400)

	del, err := c.DeleteReplicationGroup(t.Context(), &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("plain")})
	if err != nil || aws.ToString(del.ReplicationGroup.Status) != "deleting" {
		t.Fatalf("DeleteReplicationGroup: %v %v", del, err)
	}
	_, err = c.ModifyReplicationGroup(t.Context(), &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("plain"), ReplicationGroupDescription: aws.String("y")})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)
	waitRG(t, c, "plain", "gone")
	if err := nodes[0].auth("", ""); err == nil {
		t.Errorf("node %s still answers after its group was deleted", nodes[0].addr)
	}
	_, err = c.DeleteReplicationGroup(t.Context(), &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("plain")})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
}

func TestReplicationGroup_Errors(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	createGroup(t, c, "grp", "redis", "default")
	waitGroupStatus(t, c, "grp", "active")
	for _, tt := range []struct {
		name, code string
		status     int
		in         elasticache.CreateReplicationGroupInput
	}{
		{"ErrGroupWithoutTLS", "InvalidParameterCombination", 400, elasticache.CreateReplicationGroupInput{UserGroupIds: []string{"grp"}}},
		{"ErrUnknownGroup", "UserGroupNotFound", 404, elasticache.CreateReplicationGroupInput{UserGroupIds: []string{"nope"}, TransitEncryptionEnabled: aws.Bool(true)}},
		{"ErrTwoGroups", "InvalidParameterValue", 400, elasticache.CreateReplicationGroupInput{UserGroupIds: []string{"grp", "grp2"}, TransitEncryptionEnabled: aws.Bool(true)}},
		{"ErrTokenAndGroup", "InvalidParameterCombination", 400, elasticache.CreateReplicationGroupInput{UserGroupIds: []string{"grp"}, AuthToken: aws.String("token-token-token-1"), TransitEncryptionEnabled: aws.Bool(true)}},
		{"ErrBadToken", "InvalidParameterValue", 400, elasticache.CreateReplicationGroupInput{AuthToken: aws.String("short"), TransitEncryptionEnabled: aws.Bool(true)}},
		{"ErrBadID", "InvalidParameterValue", 400, elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("bad--id")}},
		{"ErrMemcached", "InvalidParameterValue", 400, elasticache.CreateReplicationGroupInput{Engine: aws.String("memcached")}},
		{"ErrTooManyNodes", "InvalidParameterValue", 400, elasticache.CreateReplicationGroupInput{NumCacheClusters: aws.Int32(7)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.ReplicationGroupId == nil {
				in.ReplicationGroupId = aws.String("bad")
			}
			in.ReplicationGroupDescription = aws.String("x")
			_, err := c.CreateReplicationGroup(t.Context(), &in)
			keywardtest.WantError(t, err, tt.code, tt.status)
		})
	}
	_, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("nope")})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	_, err = c.ModifyReplicationGroup(t.Context(), &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("nope"), ApplyImmediately: aws.Bool(true)})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
}

// seedFixture builds the seed scenario: one user group with a restrictive
// custom default user and alice, attached to several TLS replication groups.
type seedFixture struct {
	ts    *keywardtest.Server
	c     *elasticache.Client
	nodes []node
}

const alicePW, alicePW2, defaultPW = "alice-password-0001", "alice-password-0002", "default-password-01"

func newSeedFixture(t *testing.T, groups int, nodesPerGroup int32) *seedFixture {
	t.Helper()
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	createUser(t, c, "alice", "alice", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{alicePW}, aws.String("on ~app:* -@all +get +set +ping")
	})
	createUser(t, c, "locked-default", "default", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{defaultPW}, aws.String("on ~* -@all +ping")
	})
	createGroup(t, c, "seed", "redis", "locked-default", "alice")
	waitGroupStatus(t, c, "seed", "active")
	f := &seedFixture{ts: ts, c: c}
	for i := range groups {
		createRG(t, c, fmt.Sprintf("seed-rg%d", i), nodesPerGroup, true, "seed")
	}
	for i := range groups {
		rg := waitRG(t, c, fmt.Sprintf("seed-rg%d", i), "available")
		if !slices.Equal(rg.UserGroupIds, []string{"seed"}) {
			t.Fatalf("UserGroupIds = %v", rg.UserGroupIds)
		}
		f.nodes = append(f.nodes, rgNodes(t, ts, rg)...)
	}
	return f
}

// TestSeed_DeleteUserRevokesEverywhere is the seed page end to end: after
// DeleteUser, the user can log in nowhere and its connections are closed.
func TestSeed_DeleteUserRevokesEverywhere(t *testing.T) {
	f := newSeedFixture(t, 2, 2)
	ctx := t.Context()
	g, _ := describeGroup(t, f.c, "seed")
	if !slices.Equal(g.ReplicationGroups, []string{"seed-rg0", "seed-rg1"}) {
		t.Errorf("group's ReplicationGroups = %v", g.ReplicationGroups)
	}
	_, err := f.c.DeleteUserGroup(ctx, &elasticache.DeleteUserGroupInput{UserGroupId: aws.String("seed")})
	keywardtest.WantError(t, err, "InvalidUserGroupState", 400)

	var open []*redis.Conn
	for _, n := range f.nodes {
		if err := n.auth("alice", alicePW); err != nil {
			t.Fatalf("alice cannot log in on %s: %v", n.addr, err)
		}
		if err := n.auth("alice", "wrong-password-000"); err == nil {
			t.Errorf("wrong password accepted on %s", n.addr)
		}
		if err := n.auth("default", ""); err == nil {
			t.Errorf("unauthenticated default accepted on %s", n.addr)
		}
		cl := n.client("alice", alicePW)
		defer cl.Close()
		conn := cl.Conn()
		defer conn.Close()
		if err := conn.Ping(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		open = append(open, conn)
	}
	primary := f.nodes[0].client("alice", alicePW)
	defer primary.Close()
	if err := primary.Set(ctx, "app:1", "x", 0).Err(); err != nil {
		t.Errorf("allowed SET: %v", err)
	}
	if err := primary.Set(ctx, "other:1", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("SET outside ~app:* = %v, want NOPERM", err)
	}
	if err := primary.Del(ctx, "app:1").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("DEL = %v, want NOPERM", err)
	}
	// Tenants can never escalate.
	for _, cmd := range [][]any{{"acl", "setuser", "alice", "+@all"}, {"config", "set", "maxmemory", "1"}, {"acl", "list"}, {"shutdown"}} {
		if err := primary.Do(ctx, cmd...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%v = %v, want NOPERM", cmd, err)
		}
	}

	start := time.Now()
	out, err := f.c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("alice")})
	if err != nil || aws.ToString(out.Status) != "deleting" {
		t.Fatalf("DeleteUser: %v %v", out, err)
	}
	keywardtest.Eventually(t, 10*time.Second, "alice refused on every node", func() bool {
		for _, n := range f.nodes {
			if n.auth("alice", alicePW) == nil {
				return false
			}
		}
		return true
	})
	t.Logf("DeleteUser → AUTH refused on %d nodes: %v", len(f.nodes), time.Since(start))
	for i, conn := range open {
		if err := conn.Ping(ctx).Err(); err == nil {
			t.Errorf("alice's connection to %s survived DeleteUser", f.nodes[i].addr)
		}
	}
	waitUserStatus(t, f.c, "alice", "gone")
	for _, n := range f.nodes {
		if err := n.auth("default", defaultPW); err != nil {
			t.Errorf("the group's default user lost access on %s: %v", n.addr, err)
		}
	}
}

func TestRBAC_ModifyKeepsConnections_RemovalAndSwapClose(t *testing.T) {
	f := newSeedFixture(t, 1, 2)
	ctx := t.Context()
	cl := f.nodes[1].client("alice", alicePW)
	defer cl.Close()
	alice := cl.Conn()
	defer alice.Close()
	if err := alice.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// A password change keeps existing connections (spec §4.3).
	if _, err := f.c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("alice"), Passwords: []string{alicePW2}}); err != nil {
		t.Fatal(err)
	}
	waitUserStatus(t, f.c, "alice", "active")
	for _, n := range f.nodes {
		if err := n.auth("alice", alicePW); err == nil {
			t.Errorf("old password still accepted on %s", n.addr)
		}
		if err := n.auth("alice", alicePW2); err != nil {
			t.Errorf("new password refused on %s: %v", n.addr, err)
		}
	}
	if err := alice.Ping(ctx).Err(); err != nil {
		t.Errorf("ModifyUser closed alice's connection: %v", err)
	}
	// A default-user swap closes the old default's connections.
	dcl := f.nodes[0].client("default", defaultPW)
	defer dcl.Close()
	def := dcl.Conn()
	defer def.Close()
	if err := def.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	createUser(t, f.c, "new-default", "default", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{"new-default-pass-01"}, aws.String("on ~* +@read +ping")
	})
	if _, err := f.c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("seed"), UserIdsToAdd: []string{"new-default"}, UserIdsToRemove: []string{"locked-default", "alice"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupStatus(t, f.c, "seed", "active")
	if err := def.Ping(ctx).Err(); err == nil {
		t.Error("the old default user's connection survived the swap")
	}
	if err := alice.Ping(ctx).Err(); err == nil {
		t.Error("alice's connection survived her removal from the group")
	}
	for _, n := range f.nodes {
		if err := n.auth("default", "new-default-pass-01"); err != nil {
			t.Errorf("new default refused on %s: %v", n.addr, err)
		}
		if err := n.auth("alice", alicePW2); err == nil {
			t.Errorf("removed alice still accepted on %s", n.addr)
		}
	}
}

// adminClient logs in as keyward's own admin user on a node, to tamper
// with it: on the node's own address (clients reach TLS nodes through
// their fronts, which are not the node), with that node's password.
func adminClient(t *testing.T, ts *keywardtest.Server, clusterID string) *redis.Client {
	t.Helper()
	id := "000000000000.us-east-1." + clusterID
	en, ok := ts.Engine().Node(id)
	if !ok {
		t.Fatalf("no engine node %s", id)
	}
	pw, err := engine.NodeAdminPassword(ts.Config.DataDir, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	var tlsConf *tls.Config
	if en.TLS {
		tlsConf = ts.Engine().TLSConfig()
	}
	return node{addr: en.Addr, tls: tlsConf}.client(engine.AdminUser, pw)
}

func TestDrift_Repaired(t *testing.T) {
	f := newSeedFixture(t, 1, 2)
	ctx := t.Context()
	admin := adminClient(t, f.ts, "seed-rg0-002")
	defer admin.Close()
	if err := admin.Do(ctx, "acl", "setuser", "intruder", "on", ">intruder-password", "~*", "+@all").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "acl", "setuser", "alice", "resetpass", ">hijacked-password-1").Err(); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 15*time.Second, "hand-made ACL changes reverted", func() bool {
		return f.nodes[1].auth("intruder", "intruder-password") != nil &&
			f.nodes[1].auth("alice", "hijacked-password-1") != nil && f.nodes[1].auth("alice", alicePW) == nil
	})
	// kill -9 a node: it comes back with the right ACLs.
	rg := waitRG(t, f.c, "seed-rg0", "available")
	id := "000000000000.us-east-1." + rg.MemberClusters[0]
	n, ok := f.ts.Engine().Node(id)
	if !ok || n.PID == 0 {
		t.Fatalf("engine does not know node %s", id)
	}
	syscall.Kill(n.PID, syscall.SIGKILL)
	keywardtest.Eventually(t, 20*time.Second, "killed node back with its ACLs", func() bool {
		return f.nodes[0].auth("alice", alicePW) == nil && f.nodes[0].auth("default", "") != nil
	})
}

func TestAuthToken(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	const tok1, tok2 = "first-token-0123456", "second-token-012345"
	_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tok"), ReplicationGroupDescription: aws.String("token"),
		TransitEncryptionEnabled: aws.Bool(true), AuthToken: aws.String(tok1),
	})
	if err != nil {
		t.Fatal(err)
	}
	rg := waitRG(t, c, "tok", "available")
	if !aws.ToBool(rg.AuthTokenEnabled) {
		t.Error("AuthTokenEnabled = false")
	}
	n := rgNodes(t, ts, rg)[0]
	if err := n.auth("", tok1); err != nil {
		t.Errorf("token refused: %v", err)
	}
	if err := n.auth("", ""); err == nil {
		t.Error("no token accepted")
	}
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tok"), AuthToken: aws.String(tok2), AuthTokenUpdateStrategy: types.AuthTokenUpdateStrategyTypeRotate, ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "tok", "available")
	if n.auth("", tok1) != nil || n.auth("", tok2) != nil {
		t.Error("after ROTATE both tokens must work")
	}
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tok"), AuthToken: aws.String(tok2), AuthTokenUpdateStrategy: types.AuthTokenUpdateStrategyTypeSet, ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "tok", "available")
	if n.auth("", tok1) == nil || n.auth("", tok2) != nil {
		t.Error("after SET only the new token must work")
	}
	createUser(t, c, "bob", "bob", func(in *elasticache.CreateUserInput) { in.Passwords = []string{"bob-password-00001"} })
	createUser(t, c, "tok-default", "default", func(in *elasticache.CreateUserInput) { in.Passwords = []string{"tok-default-pass-01"} })
	createGroup(t, c, "tokgrp", "redis", "tok-default", "bob")
	waitGroupStatus(t, c, "tokgrp", "active")
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tok"), UserGroupIdsToAdd: []string{"tokgrp"}})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tok"), AuthTokenUpdateStrategy: types.AuthTokenUpdateStrategyTypeDelete})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	// AUTH → RBAC: DELETE together with the group to add.
	out, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tok"), UserGroupIdsToAdd: []string{"tokgrp"}, AuthTokenUpdateStrategy: types.AuthTokenUpdateStrategyTypeDelete})
	if err != nil {
		t.Fatal(err)
	}
	if pm := out.ReplicationGroup.PendingModifiedValues; pm == nil || pm.UserGroups == nil || !slices.Equal(pm.UserGroups.UserGroupIdsToAdd, []string{"tokgrp"}) || len(out.ReplicationGroup.UserGroupIds) != 0 {
		t.Errorf("pending: %+v ids %v", out.ReplicationGroup.PendingModifiedValues, out.ReplicationGroup.UserGroupIds)
	}
	rg = waitRG(t, c, "tok", "available")
	if aws.ToBool(rg.AuthTokenEnabled) || !slices.Equal(rg.UserGroupIds, []string{"tokgrp"}) {
		t.Errorf("after migration: token %v groups %v", aws.ToBool(rg.AuthTokenEnabled), rg.UserGroupIds)
	}
	if err := n.auth("bob", "bob-password-00001"); err != nil {
		t.Errorf("after AUTH → RBAC, bob refused: %v", err)
	}
	if err := n.auth("", tok2); err == nil {
		t.Error("after AUTH → RBAC, the token still works")
	}
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tok"), AuthToken: aws.String(tok1), AuthTokenUpdateStrategy: types.AuthTokenUpdateStrategyTypeRotate})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tok")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}

func TestServerlessCache(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	createUser(t, c, "sl", "sl", func(in *elasticache.CreateUserInput) { in.Passwords = []string{"serverless-pass-01"} })
	createGroup(t, c, "slgrp", "redis", "default", "sl")
	waitGroupStatus(t, c, "slgrp", "active")
	out, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("sc1"), Engine: aws.String("redis"), UserGroupId: aws.String("slgrp")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ServerlessCache.Status) != "creating" || aws.ToString(out.ServerlessCache.UserGroupId) != "slgrp" {
		t.Errorf("CreateServerlessCache: %+v", out.ServerlessCache)
	}
	var sc types.ServerlessCache
	keywardtest.Eventually(t, 20*time.Second, "serverless available", func() bool {
		d, err := c.DescribeServerlessCaches(ctx, &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String("sc1")})
		if err != nil || len(d.ServerlessCaches) != 1 {
			return false
		}
		sc = d.ServerlessCaches[0]
		return aws.ToString(sc.Status) == "available"
	})
	n := node{addr: fmt.Sprintf("%s:%d", aws.ToString(sc.Endpoint.Address), aws.ToInt32(sc.Endpoint.Port)), tls: ts.Engine().TLSConfig()}
	if n.auth("sl", "serverless-pass-01") != nil {
		t.Error("sl refused")
	}
	g, _ := describeGroup(t, c, "slgrp")
	if !slices.Equal(g.ServerlessCaches, []string{"sc1"}) {
		t.Errorf("group's ServerlessCaches = %v", g.ServerlessCaches)
	}
	if _, err := c.ModifyServerlessCache(ctx, &elasticache.ModifyServerlessCacheInput{ServerlessCacheName: aws.String("sc1"), RemoveUserGroup: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 20*time.Second, "open access after RemoveUserGroup", func() bool { return n.auth("", "") == nil })
	_, err = c.ModifyServerlessCache(ctx, &elasticache.ModifyServerlessCacheInput{ServerlessCacheName: aws.String("nope"), RemoveUserGroup: aws.Bool(true)})
	keywardtest.WantError(t, err, "ServerlessCacheNotFoundFault", 404)
	keywardtest.Eventually(t, 20*time.Second, "serverless available again", func() bool {
		d, err := c.DescribeServerlessCaches(ctx, &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String("sc1")})
		return err == nil && aws.ToString(d.ServerlessCaches[0].Status) == "available"
	})
	if _, err := c.DeleteServerlessCache(ctx, &elasticache.DeleteServerlessCacheInput{ServerlessCacheName: aws.String("sc1")}); err != nil {
		t.Fatal(err)
	}
}

// TestReplicationGroup_EngineMissing: without the engine binary the group
// becomes create-failed (and the log says how to install it), and it can
// still be deleted.
func TestReplicationGroup_EngineMissing(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.RedisServer = "/nonexistent/redis-server" })
	c := ts.Client
	createRG(t, c, "nobin", 1, false)
	waitRG(t, c, "nobin", "create-failed")
	if _, err := c.DeleteReplicationGroup(t.Context(), &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("nobin")}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "nobin", "gone")
}
