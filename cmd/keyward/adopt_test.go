package main

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestRestart_AdoptsNodes: keyward killed with kill -9 leaves its nodes
// serving; the next keyward on the same data directory adopts them (same
// processes, same ports) with the right ACLs, and can still change them.
func TestRestart_AdoptsNodes(t *testing.T) {
	redistest.Binary(t)
	dir, addr := t.TempDir(), freeAddr(t)
	p := startKeyward(t, addr, dir, nil)
	c := p.client()
	ctx := t.Context()
	for _, u := range []struct{ id, name, pw string }{{"locked", "default", "locked-password-001"}, {"bob", "bob", "bob-password-000001"}} {
		in := newUser(u.id)
		in.UserName, in.Passwords = aws.String(u.name), []string{u.pw}
		if _, err := c.CreateUser(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("g"), Engine: aws.String("redis"), UserIds: []string{"locked", "bob"}}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "group active", func() bool {
		out, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("g")})
		return err == nil && aws.ToString(out.UserGroups[0].Status) == "active"
	})
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("kept"), ReplicationGroupDescription: aws.String("kept"),
		NumCacheClusters: aws.Int32(2), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: []string{"g"},
	}); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	keywardtest.Eventually(t, 20*time.Second, "available", func() bool {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("kept")})
		if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
			return false
		}
		addrs = nil
		for _, m := range out.ReplicationGroups[0].NodeGroups[0].NodeGroupMembers {
			addrs = append(addrs, fmt.Sprintf("%s:%d", aws.ToString(m.ReadEndpoint.Address), aws.ToInt32(m.ReadEndpoint.Port)))
		}
		return true
	})
	tlsConf := caTLS(t, dir)
	conn := redis.NewClient(&redis.Options{Addr: addrs[0], Username: "bob", Password: "bob-password-000001", TLSConfig: tlsConf, Protocol: 2, MaxRetries: -1, DisableIdentity: true, PoolSize: 1}).Conn()
	defer conn.Close()
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	p.kill()
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatalf("a node stopped serving when keyward was killed: %v", err)
	}
	p = startKeyward(t, addr, dir, nil)
	c = p.client()
	auth := func(addr, user, pw string) error {
		cl := redis.NewClient(&redis.Options{Addr: addr, Username: user, Password: pw, TLSConfig: tlsConf, Protocol: 2, MaxRetries: -1, DisableIdentity: true})
		defer cl.Close()
		return cl.Ping(context.Background()).Err()
	}
	// Still the same node processes, with their ACLs; and changes still apply.
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatalf("the restarted keyward replaced a running node instead of adopting it: %v", err)
	}
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "bob refused on every node", func() bool {
		for _, a := range addrs {
			if auth(a, "bob", "bob-password-000001") == nil {
				return false
			}
		}
		return true
	})
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	// Gone from the API only once its nodes stopped: none outlives the test.
	keywardtest.Eventually(t, 15*time.Second, "nodes stopped", func() bool {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{})
		return err == nil && len(out.ReplicationGroups) == 0
	})
}

// TestServe_CleanShutdown: SIGTERM (and SIGINT) end keyward promptly with
// exit status 0.
func TestServe_CleanShutdown(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := startKeyward(t, freeAddr(t), t.TempDir(), nil)
		start := time.Now()
		p.cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%v: keyward exited with %v", sig, err)
			}
			t.Logf("%v: exited in %v", sig, time.Since(start))
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: keyward did not exit", sig)
		}
		p.once.Do(func() {}) // already reaped
	}
}
