package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/iamauth"
	"keyward/internal/redistest"
	"keyward/keywardtest"
)

const (
	iamKey, iamSecret, iamAccount = "AKIAKEYWARDCLIIAM001", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "123456789012"
)

// botocoreToken makes an IAM token with botocore's
// RequestSigner.generate_presigned_url, as Python clients do.
func botocoreToken(t *testing.T, cache, user string) string {
	t.Helper()
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		if os.Getenv("KEYWARD_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("python3 with botocore is required: %v", err)
		}
		t.Skipf("python3 with botocore is not available: %v", err)
	}
	cmd := exec.Command("python3", "../../iamauth/testdata/botocore_token.py", cache, user, "us-east-1", "0", "900")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+iamKey, "AWS_SECRET_ACCESS_KEY="+iamSecret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("botocore: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// TestIAM_FrontProcessesOutliveKeyward: with keyward as a real process, a
// TLS group's nodes are served by front processes; an IAM user logs in with
// a botocore token, keeps its connection and can log in anew while keyward
// is killed, and the restarted keyward's DeleteUser closes it.
func TestIAM_FrontProcessesOutliveKeyward(t *testing.T) {
	redistest.Binary(t)
	dir, addr := t.TempDir(), freeAddr(t)
	credFile := filepath.Join(t.TempDir(), "creds")
	if err := os.WriteFile(credFile, []byte(fmt.Sprintf("%s %s %s\n", iamKey, iamSecret, iamAccount)), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startKeyward(t, addr, dir, nil, "--credentials-file", credFile)
	client := func(p *process) *elasticache.Client {
		return elasticache.New(elasticache.Options{
			BaseEndpoint: aws.String(p.url), Region: "us-east-1", Retryer: aws.NopRetryer{},
			Credentials: credentials.NewStaticCredentialsProvider(iamKey, iamSecret, ""),
		})
	}
	c := client(p)
	ctx := t.Context()
	createUserGroup(t, c, "g", passwordUser("locked", "default", "locked-password-001", "off"),
		&elasticache.CreateUserInput{UserId: aws.String("svc"), UserName: aws.String("svc"), Engine: aws.String("redis"), AccessString: aws.String("on ~svc:* +@all"),
			AuthenticationMode: &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}})
	createTLSGroup(t, c, "tokens", 2, "g")
	addrs := waitAvailable(t, c, "tokens")
	tlsConf := caTLS(t, dir)
	res := iamauth.Resource{Name: "tokens", AccountID: iamAccount, Region: "us-east-1"}
	login := func(addr string, tok func() string) *redis.Client {
		return redis.NewClient(&redis.Options{
			Addr: addr, TLSConfig: tlsConf, Protocol: 3, MaxRetries: -1, PoolSize: 1, DisableIdentity: true,
			CredentialsProviderContext: func(context.Context) (string, string, error) { return "svc", tok(), nil },
		})
	}
	sdkToken := func() string {
		tok, err := iamauth.Presign(ctx, aws.Credentials{AccessKeyID: iamKey, SecretAccessKey: iamSecret}, res, "svc", 15*time.Minute, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	boto := botocoreToken(t, "tokens", "svc")
	var conns []*redis.Conn
	for _, a := range addrs {
		cl := login(a, func() string { return boto })
		defer cl.Close()
		conn := cl.Conn()
		defer conn.Close()
		if err := conn.Get(ctx, "svc:k").Err(); err != nil && err != redis.Nil {
			t.Fatalf("%s: botocore token: %v", a, err)
		}
		if err := conn.Get(ctx, "other:k").Err(); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
			t.Errorf("%s: SET outside the access string: %v, want NOPERM", a, err)
		}
		conns = append(conns, conn)
	}

	p.kill()
	for i, conn := range conns {
		if err := conn.Ping(ctx).Err(); err != nil {
			t.Fatalf("IAM connection to %s ended with keyward: %v", addrs[i], err)
		}
		fresh := login(addrs[i], sdkToken)
		if err := fresh.Ping(ctx).Err(); err != nil {
			t.Errorf("new IAM login on %s while keyward is down: %v", addrs[i], err)
		}
		fresh.Close()
	}

	p = startKeyward(t, addr, dir, nil, "--credentials-file", credFile)
	c = client(p)
	for i, conn := range conns {
		if err := conn.Ping(ctx).Err(); err != nil {
			t.Fatalf("the restarted keyward replaced the front of %s instead of adopting it: %v", addrs[i], err)
		}
	}
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("svc")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "svc's connections closed", func() bool {
		for _, conn := range conns {
			if conn.Ping(ctx).Err() == nil {
				return false
			}
		}
		return true
	})
	for _, a := range addrs {
		cl := login(a, sdkToken)
		if err := cl.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
			t.Errorf("%s: login of the deleted user: %v, want WRONGPASS", a, err)
		}
		cl.Close()
	}
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("tokens")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 15*time.Second, "fronts stopped", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "fronts", "*", "front.json"))
		return len(m) == 0
	})
}
