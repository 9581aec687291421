package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/pgtest"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// leading reports whether the keyward at url runs the reconciler.
func leading(url string) bool {
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), "\nkeyward_leader 1\n")
}

// TestReplicas_OneTruth runs two keyward replicas on one PostgreSQL
// database: any replica answers any request and sees every acknowledged
// change at once; conflicting changes through both keep every invariant;
// when the leader is killed mid-deletion the other takes over and finishes,
// and the nodes keep serving throughout.
func TestReplicas_OneTruth(t *testing.T) {
	redistest.Binary(t)
	dsn := pgtest.NewDatabase(t)
	dir := t.TempDir()
	args := []string{"--store", "postgres:" + dsn, "--transition-delay", "300ms"}
	a := startKeyward(t, freeAddr(t), dir, nil, args...)
	b := startKeyward(t, freeAddr(t), dir, nil, args...)
	ca, cb := a.client(), b.client()
	ctx := t.Context()
	keywardtest.Eventually(t, 10*time.Second, "one leader", func() bool { return leading(a.url) != leading(b.url) })

	// Read-your-writes across replicas.
	for i := range 20 {
		w, r := ca, cb
		if i%2 == 1 {
			w, r = cb, ca
		}
		id := fmt.Sprintf("ryw-%02d", i)
		if _, err := w.CreateUser(ctx, newUser(id)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)}); err != nil {
			t.Fatalf("user %s written on one replica is not visible on the other: %v", id, err)
		}
	}

	// Conflicting group changes through both replicas.
	for g := range 3 {
		if _, err := ca.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String(fmt.Sprintf("g%d", g)), Engine: aws.String("redis"), UserIds: []string{"default"}}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := []*elasticache.Client{ca, cb}[w%2]
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for range 30 {
				g := aws.String(fmt.Sprintf("g%d", r.IntN(3)))
				u := fmt.Sprintf("ryw-%02d", r.IntN(20))
				switch r.IntN(5) {
				case 0, 1:
					c.ModifyUserGroup(context.Background(), &elasticache.ModifyUserGroupInput{UserGroupId: g, UserIdsToAdd: []string{u}})
				case 2, 3:
					c.ModifyUserGroup(context.Background(), &elasticache.ModifyUserGroupInput{UserGroupId: g, UserIdsToRemove: []string{u}})
				case 4:
					c.DeleteUser(context.Background(), &elasticache.DeleteUserInput{UserId: aws.String(u)})
				}
			}
		}()
	}
	wg.Wait()
	keywardtest.Eventually(t, 30*time.Second, "membership settled and consistent", func() bool {
		return membershipConsistent(t, cb)
	})

	// A cache with a group, then a leader killed mid-deletion.
	createUsers(t, ca, passwordUser("locked", "default", "locked-password-001", "on ~* -@all +ping"), passwordUser("alice", "alice", "alice-password-0001", "on ~* +@all"))
	if _, err := ca.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("rbac"), Engine: aws.String("redis"), UserIds: []string{"locked", "alice"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupsActive(t, cb, "rbac") // written through one replica, read through the other
	createTLSGroup(t, cb, "ha", 2, "rbac")
	addrs := waitAvailable(t, ca, "ha")
	tlsConf := caTLS(t, dir)
	auth := tlsAuth(t, dir)
	for _, addr := range addrs {
		if err := auth(addr, "alice", "alice-password-0001"); err != nil {
			t.Fatalf("alice refused on %s: %v", addr, err)
		}
	}
	// A connection of the group's default user stays up through the failover.
	keep := redis.NewClient(&redis.Options{Addr: addrs[0], Username: "default", Password: "locked-password-001", TLSConfig: tlsConf, Protocol: 2, MaxRetries: -1, DisableIdentity: true, PoolSize: 1})
	defer keep.Close()
	conn := keep.Conn()
	defer conn.Close()
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}

	leader, follower, fc := a, b, cb
	if leading(b.url) {
		leader, follower, fc = b, a, ca
	}
	if _, err := fc.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	leader.kill() // mid-deletion: the 300ms transition delay has not passed
	start := time.Now()
	keywardtest.Eventually(t, 15*time.Second, "the other replica to lead", func() bool { return leading(follower.url) })
	t.Logf("failover: the follower leads %v after kill -9 of the leader", time.Since(start))
	keywardtest.Eventually(t, 15*time.Second, "the deletion to finish", func() bool {
		_, err := fc.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("alice")})
		code, _ := keywardtest.APIError(err)
		return code == "UserNotFound"
	})
	for _, addr := range addrs {
		if err := auth(addr, "alice", "alice-password-0001"); err == nil {
			t.Errorf("deleted alice still accepted on %s", addr)
		}
	}
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Errorf("a node stopped serving during the failover: %v", err)
	}
	// Tear down the nodes through the surviving replica.
	if _, err := fc.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("ha")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 15*time.Second, "replication group gone", func() bool {
		_, err := fc.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("ha")})
		return err != nil
	})
}

// membershipConsistent checks, once every status has settled, that users'
// UserGroupIds and groups' UserIds agree and every group keeps a default.
func membershipConsistent(t *testing.T, c *elasticache.Client) bool {
	users, err := c.DescribeUsers(context.Background(), &elasticache.DescribeUsersInput{})
	if err != nil {
		return false
	}
	groups, err := c.DescribeUserGroups(context.Background(), &elasticache.DescribeUserGroupsInput{})
	if err != nil {
		return false
	}
	// Users and groups are read by two calls: only a state that did not
	// change between them (users read again, identical) may be judged.
	again, err := c.DescribeUsers(context.Background(), &elasticache.DescribeUsersInput{})
	if err != nil || fmt.Sprint(userSnapshot(users)) != fmt.Sprint(userSnapshot(again)) {
		return false
	}
	fromUsers := map[string][]string{}
	for _, u := range users.Users {
		if aws.ToString(u.Status) != "active" {
			return false
		}
		for _, g := range u.UserGroupIds {
			fromUsers[g] = append(fromUsers[g], aws.ToString(u.UserId))
		}
	}
	for _, g := range groups.UserGroups {
		if aws.ToString(g.Status) != "active" {
			return false
		}
		ids := slices.Clone(g.UserIds)
		slices.Sort(ids)
		fu := fromUsers[aws.ToString(g.UserGroupId)]
		slices.Sort(fu)
		if !slices.Equal(ids, fu) {
			t.Errorf("group %s: UserIds %v but users say %v", aws.ToString(g.UserGroupId), ids, fu)
			return true // settled but wrong: stop waiting, the error is reported
		}
		if !slices.Contains(ids, "default") {
			t.Errorf("group %s lost its default user", aws.ToString(g.UserGroupId))
		}
	}
	return true
}

func caTLS(t *testing.T, dataDir string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(dataDir, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

func userSnapshot(out *elasticache.DescribeUsersOutput) []string {
	var s []string
	for _, u := range out.Users {
		s = append(s, aws.ToString(u.UserId)+aws.ToString(u.Status)+strings.Join(u.UserGroupIds, ","))
	}
	return s
}
