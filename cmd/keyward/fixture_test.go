package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/keywardtest"
)

// The fixture the process tests share: users in a user group on a TLS
// replication group, and the waits around it.

// passwordUser is a password user with its name (and access string, when
// given).
func passwordUser(id, name, password, access string) *elasticache.CreateUserInput {
	in := newUser(id)
	in.UserName, in.Passwords = aws.String(name), []string{password}
	if access != "" {
		in.AccessString = aws.String(access)
	}
	return in
}

// createUsers creates each user.
func createUsers(t *testing.T, c *elasticache.Client, users ...*elasticache.CreateUserInput) {
	t.Helper()
	for _, in := range users {
		if _, err := c.CreateUser(t.Context(), in); err != nil {
			t.Fatal(err)
		}
	}
}

// createUserGroup creates the users and a group of them, and waits for it.
func createUserGroup(t *testing.T, c *elasticache.Client, id string, users ...*elasticache.CreateUserInput) {
	t.Helper()
	createUsers(t, c, users...)
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = aws.ToString(u.UserId)
	}
	if _, err := c.CreateUserGroup(t.Context(), &elasticache.CreateUserGroupInput{UserGroupId: aws.String(id), Engine: aws.String("redis"), UserIds: ids}); err != nil {
		t.Fatal(err)
	}
	waitGroupsActive(t, c, id)
}

// createTLSGroup creates a replication group of nodes TLS nodes that uses
// the user group.
func createTLSGroup(t *testing.T, c *elasticache.Client, id string, nodes int32, userGroup string) {
	t.Helper()
	if _, err := c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String(id),
		NumCacheClusters: aws.Int32(nodes), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: []string{userGroup},
	}); err != nil {
		t.Fatal(err)
	}
}

func waitGroupsActive(t *testing.T, c *elasticache.Client, ids ...string) {
	t.Helper()
	for _, id := range ids {
		keywardtest.Eventually(t, 10*time.Second, "group "+id+" active", func() bool {
			out, err := c.DescribeUserGroups(t.Context(), &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String(id)})
			return err == nil && aws.ToString(out.UserGroups[0].Status) == "active"
		})
	}
}

// waitAvailable waits for a replication group and returns its nodes'
// addresses, primary first.
func waitAvailable(t *testing.T, c *elasticache.Client, id string) []string {
	t.Helper()
	var addrs []string
	keywardtest.Eventually(t, 20*time.Second, id+" available", func() bool {
		out, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
			return false
		}
		addrs = nil
		for _, m := range out.ReplicationGroups[0].NodeGroups[0].NodeGroupMembers {
			addrs = append(addrs, fmt.Sprintf("%s:%d", aws.ToString(m.ReadEndpoint.Address), aws.ToInt32(m.ReadEndpoint.Port)))
		}
		return true
	})
	return addrs
}

// tlsAuth returns a check that user logs in on a TLS node with pw (nil:
// admitted), verifying the node with the CA of dataDir.
func tlsAuth(t *testing.T, dataDir string) func(addr, user, pw string) error {
	tlsConf := caTLS(t, dataDir)
	return func(addr, user, pw string) error {
		cl := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pw, TLSConfig: tlsConf, Protocol: 2, MaxRetries: -1, DisableIdentity: true})
		defer cl.Close()
		return cl.Ping(context.Background()).Err()
	}
}

// waitRefused waits until every node refuses user's password.
func waitRefused(t *testing.T, timeout time.Duration, addrs []string, auth func(addr, user, pw string) error, user, pw string) {
	t.Helper()
	keywardtest.Eventually(t, timeout, user+" refused on every node", func() bool {
		for _, a := range addrs {
			if auth(a, user, pw) == nil {
				return false
			}
		}
		return true
	})
}

// waitNoGroups waits until keyward lists no replication group: each is
// gone from the API only once its nodes stopped, so none outlives the test.
func waitNoGroups(t *testing.T, c *elasticache.Client) {
	t.Helper()
	keywardtest.Eventually(t, 15*time.Second, "nodes stopped", func() bool {
		out, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{})
		return err == nil && len(out.ReplicationGroups) == 0
	})
}

// waitSnapshotWhole waits for a snapshot that a kill -9 interrupted to be
// taken again after the restart: on every answer it is creating or
// available, never anything else.
func waitSnapshotWhole(t *testing.T, c *elasticache.Client, name string) {
	t.Helper()
	keywardtest.Eventually(t, 60*time.Second, "snapshot available after restart", func() bool {
		out, err := c.DescribeSnapshots(t.Context(), &elasticache.DescribeSnapshotsInput{SnapshotName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		s := aws.ToString(out.Snapshots[0].SnapshotStatus)
		if s != "creating" && s != "available" {
			t.Fatalf("snapshot is %s", s)
		}
		return s == "available"
	})
}
