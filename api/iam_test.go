package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/iamauth"
	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
	"keyward/sigv4"
)

var (
	iamCredA = sigv4.Credential{AccessKeyID: "AKIAKEYWARDIAMTESTA1", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "111111111111"}
	iamCredB = sigv4.Credential{AccessKeyID: "AKIAKEYWARDIAMTESTB2", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", AccountID: "222222222222"}
)

// iamClient is a go-redis client that logs in as user with an IAM token
// made per connection by the aws-sdk-go-v2 presigner, as AWS's samples do.
func (n node) iamClient(cred sigv4.Credential, res iamauth.Resource, user string, protocol int) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: n.addr, TLSConfig: n.tls, Protocol: protocol, MaxRetries: -1, PoolSize: 1,
		DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true,
		CredentialsProviderContext: func(ctx context.Context) (string, string, error) {
			tok, err := iamauth.Presign(ctx, aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}, res, user, 15*time.Minute, time.Now())
			return user, tok, err
		},
	})
}

func (n node) iamAuth(cred sigv4.Credential, res iamauth.Resource, user string) error {
	c := n.iamClient(cred, res, user, 3)
	defer c.Close()
	return c.Ping(context.Background()).Err()
}

func wrongPass(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "WRONGPASS") }

// TestIAM_LoginAccessStringRevocation: IAM users log in with tokens on
// every node of a TLS replication group and on a serverless cache, their
// access string applies, bad tokens get WRONGPASS, password users are
// unchanged, and DeleteUser closes IAM connections on every node.
func TestIAM_LoginAccessStringRevocation(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, func(c *server.Config) { c.Credentials = []sigv4.Credential{iamCredA, iamCredB} })
	c := ts.NewClient("us-east-1", iamCredA.AccessKeyID, iamCredA.SecretAccessKey)
	ctx := t.Context()
	createUser(t, c, "app", "app", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = nil, aws.String("on ~app:* -@all +get +set +ping")
		in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
	})
	createUser(t, c, "pw", "pw", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{alicePW}, aws.String("on ~* +@all")
	})
	createUser(t, c, "iam-default", "default", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{defaultPW}, aws.String("on ~* -@all +ping")
	})
	createGroup(t, c, "iamg", "redis", "iam-default", "app", "pw")
	waitGroupStatus(t, c, "iamg", "active")
	createRG(t, c, "orders", 2, true, "iamg")
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("sessions"), Engine: aws.String("redis"), UserGroupId: aws.String("iamg")}); err != nil {
		t.Fatal(err)
	}
	rg := waitRG(t, c, "orders", "available")
	nodes := rgNodes(t, ts, rg)
	pe := rg.NodeGroups[0].PrimaryEndpoint
	primaryEP := node{addr: fmt.Sprintf("%s:%d", aws.ToString(pe.Address), aws.ToInt32(pe.Port)), tls: ts.Engine().TLSConfig()}
	var sl node
	keywardtest.Eventually(t, 20*time.Second, "serverless available", func() bool {
		d, err := c.DescribeServerlessCaches(ctx, &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String("sessions")})
		if err != nil || len(d.ServerlessCaches) != 1 || aws.ToString(d.ServerlessCaches[0].Status) != "available" {
			return false
		}
		sl = node{addr: fmt.Sprintf("%s:%d", aws.ToString(d.ServerlessCaches[0].Endpoint.Address), aws.ToInt32(d.ServerlessCaches[0].Endpoint.Port)), tls: ts.Engine().TLSConfig()}
		return true
	})
	rgRes := iamauth.Resource{Name: "orders", AccountID: iamCredA.AccountID, Region: "us-east-1"}
	slRes := iamauth.Resource{Name: "sessions", Serverless: true, AccountID: iamCredA.AccountID, Region: "us-east-1"}

	type target struct {
		n   node
		res iamauth.Resource
	}
	targets := []target{{primaryEP, rgRes}, {sl, slRes}}
	for _, n := range nodes {
		targets = append(targets, target{n, rgRes})
	}
	var open []*redis.Conn
	for _, tg := range targets {
		for _, proto := range []int{2, 3} {
			cl := tg.n.iamClient(iamCredA, tg.res, "app", proto)
			defer cl.Close()
			conn := cl.Conn()
			defer conn.Close()
			if who, err := conn.Do(ctx, "ACL", "WHOAMI").Text(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				// The access string allows get/set/ping only.
				t.Errorf("%s: ACL WHOAMI = %q %v, want NOPERM", tg.n.addr, who, err)
			}
			if err := conn.Ping(ctx).Err(); err != nil {
				t.Fatalf("%s protocol %d: IAM login: %v", tg.n.addr, proto, err)
			}
			open = append(open, conn)
		}
	}
	primary := primaryEP.iamClient(iamCredA, rgRes, "app", 3)
	defer primary.Close()
	if err := primary.Set(ctx, "app:1", "x", 0).Err(); err != nil {
		t.Errorf("SET app:1: %v", err)
	}
	if err := primary.Set(ctx, "other:1", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("SET outside ~app:* = %v, want NOPERM", err)
	}
	if err := primary.Del(ctx, "app:1").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("DEL = %v, want NOPERM", err)
	}

	// Refused tokens: all WRONGPASS, as from the engine.
	for name, err := range map[string]error{
		"other account":                 primaryEP.iamAuth(iamCredB, iamauth.Resource{Name: "orders", Region: "us-east-1"}, "app"),
		"other cache":                   primaryEP.iamAuth(iamCredA, slRes, "app"),
		"replication group token on sl": sl.iamAuth(iamCredA, rgRes, "app"),
		"password user":                 primaryEP.iamAuth(iamCredA, rgRes, "pw"),
		"user not in the group":         primaryEP.iamAuth(iamCredA, rgRes, "nobody"),
		"unknown key":                   primaryEP.iamAuth(sigv4.Credential{AccessKeyID: "AKIAUNKNOWN", SecretAccessKey: "s"}, rgRes, "app"),
	} {
		if !wrongPass(err) {
			t.Errorf("%s: %v, want WRONGPASS", name, err)
		}
	}
	// Password users and the group's default are unchanged.
	if err := primaryEP.auth("pw", alicePW); err != nil {
		t.Errorf("password user: %v", err)
	}
	if err := primaryEP.auth("default", defaultPW); err != nil {
		t.Errorf("default: %v", err)
	}

	// ModifyUser changes what an open IAM connection may do, and keeps it
	// open, as for password users.
	if _, err := c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("app"), AccessString: aws.String("on ~app:* -@all +get +set +ping +del")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "DEL allowed after ModifyUser", func() bool { return primary.Del(ctx, "app:1").Err() == nil })
	// Removal from the group closes an IAM user's connections.
	createUser(t, c, "app2", "app2", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = nil, aws.String("on ~* +@all")
		in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
	})
	if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("iamg"), UserIdsToAdd: []string{"app2"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupStatus(t, c, "iamg", "active")
	app2 := primaryEP.iamClient(iamCredA, rgRes, "app2", 3).Conn()
	defer app2.Close()
	keywardtest.Eventually(t, 10*time.Second, "app2 logs in", func() bool { return app2.Ping(ctx).Err() == nil })
	if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("iamg"), UserIdsToRemove: []string{"app2"}}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "app2's connection closed", func() bool { return app2.Ping(ctx).Err() != nil })
	waitGroupStatus(t, c, "iamg", "active")
	// ModifyUser is done once every cache holds it: only then may the user
	// be deleted (InvalidUserState while modifying).
	waitUserStatus(t, c, "app", "active")

	start := time.Now()
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "app refused everywhere", func() bool {
		for _, tg := range targets {
			if !wrongPass(tg.n.iamAuth(iamCredA, tg.res, "app")) {
				return false
			}
		}
		return true
	})
	t.Logf("DeleteUser → IAM login refused on %d endpoints: %v", len(targets), time.Since(start))
	for i, conn := range open {
		if err := conn.Ping(ctx).Err(); err == nil {
			t.Errorf("IAM connection %d survived DeleteUser", i)
		}
	}
	if err := primaryEP.auth("pw", alicePW); err != nil {
		t.Errorf("password user after DeleteUser of app: %v", err)
	}
}

// TestIAM_Unauthenticated: without credentials (keyward's unauthenticated
// mode) a token signed with any key logs in, as API requests are accepted
// with any key; the cache, user and time are still checked.
func TestIAM_Unauthenticated(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	createUser(t, c, "svc", "svc", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = nil, aws.String("on ~svc:* +@all")
		in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
	})
	createGroup(t, c, "ug", "redis", "default", "svc")
	waitGroupStatus(t, c, "ug", "active")
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("dev"), Engine: aws.String("redis"), UserGroupId: aws.String("ug")}); err != nil {
		t.Fatal(err)
	}
	var n node
	keywardtest.Eventually(t, 20*time.Second, "serverless available", func() bool {
		d, err := c.DescribeServerlessCaches(ctx, &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String("dev")})
		if err != nil || len(d.ServerlessCaches) != 1 || aws.ToString(d.ServerlessCaches[0].Status) != "available" {
			return false
		}
		n = node{addr: fmt.Sprintf("%s:%d", aws.ToString(d.ServerlessCaches[0].Endpoint.Address), aws.ToInt32(d.ServerlessCaches[0].Endpoint.Port)), tls: ts.Engine().TLSConfig()}
		return true
	})
	dummy := sigv4.Credential{AccessKeyID: "AKIDANYTHING", SecretAccessKey: "anything"}
	res := iamauth.Resource{Name: "dev", Serverless: true, Region: "us-east-1"}
	cl := n.iamClient(dummy, res, "svc", 3)
	defer cl.Close()
	if err := cl.Set(ctx, "svc:1", "x", 0).Err(); err != nil {
		t.Fatalf("IAM login with dummy keys: %v", err)
	}
	if err := cl.Set(ctx, "other", "x", 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("SET outside the access string: %v, want NOPERM", err)
	}
	if err := n.iamAuth(dummy, iamauth.Resource{Name: "dev", Region: "us-east-1"}, "svc"); !wrongPass(err) {
		t.Errorf("replication group token on a serverless cache: %v, want WRONGPASS", err)
	}
	if err := n.iamAuth(dummy, res, "nobody"); !wrongPass(err) {
		t.Errorf("token for a user not in the group: %v, want WRONGPASS", err)
	}
}
