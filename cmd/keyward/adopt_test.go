package main

import (
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
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
	createUserGroup(t, c, "g", passwordUser("locked", "default", "locked-password-001", ""), passwordUser("bob", "bob", "bob-password-000001", ""))
	createTLSGroup(t, c, "kept", 2, "g")
	addrs := waitAvailable(t, c, "kept")
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
	// Still the same node processes, with their ACLs; and changes still apply.
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatalf("the restarted keyward replaced a running node instead of adopting it: %v", err)
	}
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	waitRefused(t, 10*time.Second, addrs, tlsAuth(t, dir), "bob", "bob-password-000001")
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("kept")}); err != nil {
		t.Fatal(err)
	}
	waitNoGroups(t, c)
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
