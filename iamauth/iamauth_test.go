package iamauth

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"keyward/sigv4"
)

var (
	credA  = sigv4.Credential{AccessKeyID: "AKIAKEYWARDTESTA0001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "123456789012"}
	credB  = sigv4.Credential{AccessKeyID: "AKIAKEYWARDTESTB0002", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", AccountID: "210987654321"}
	stray  = sigv4.Credential{AccessKeyID: "AKIAKEYWARDUNKNOWN03", SecretAccessKey: "notconfiguredsecretEXAMPLEKEY", AccountID: "123456789012"}
	rg     = Resource{Name: "orders", AccountID: credA.AccountID, Region: "eu-west-1"}
	sls    = Resource{Name: "sessions", Serverless: true, AccountID: credA.AccountID, Region: "eu-west-1"}
	now    = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	bg     = context.Background()
	verify = &Verifier{SigV4: func() *sigv4.Verifier {
		v := sigv4.NewVerifier([]sigv4.Credential{credA, credB})
		v.Now = func() time.Time { return now }
		return v
	}()}
)

func awsCreds(c sigv4.Credential) aws.Credentials {
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
}

func presign(t *testing.T, c sigv4.Credential, res Resource, user string, expires time.Duration, at time.Time) string {
	t.Helper()
	tok, err := Presign(bg, awsCreds(c), res, user, expires, at)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyAcceptsSDKTokens(t *testing.T) {
	for _, res := range []Resource{rg, sls} {
		tok := presign(t, credA, res, "alice", 15*time.Minute, now.Add(-14*time.Minute))
		if !LooksLikeToken(tok) {
			t.Errorf("LooksLikeToken(%q) = false", tok)
		}
		if strings.HasPrefix(tok, "http") {
			t.Errorf("token keeps its scheme: %q", tok)
		}
		got, err := verify.Verify("alice", tok, res)
		if err != nil {
			t.Fatalf("%s: %v", res.Name, err)
		}
		want := sigv4.Caller{AccountID: credA.AccountID, Region: "eu-west-1", AccessKeyID: credA.AccessKeyID}
		if got != want {
			t.Errorf("%s: caller %+v, want %+v", res.Name, got, want)
		}
		// Also with the scheme left on, as some clients send it.
		if _, err := verify.Verify("alice", "http://"+tok, res); err != nil {
			t.Errorf("with http://: %v", err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	good := presign(t, credA, rg, "alice", 15*time.Minute, now)
	other := func(svc string) string {
		req, _ := http.NewRequest("GET", "http://orders/?Action=connect&User=alice&X-Amz-Expires=900", nil)
		u, _, err := v4.NewSigner().PresignHTTP(bg, awsCreds(credA), req, emptyHash, svc, rg.Region, now)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(u, "http://")
	}
	flipSig := func(tok string) string {
		i := strings.Index(tok, "X-Amz-Signature=") + len("X-Amz-Signature=")
		c := byte('0')
		if tok[i] == '0' {
			c = '1'
		}
		return tok[:i] + string(c) + tok[i+1:]
	}
	cases := []struct {
		name, user, token string
		res               Resource
		want              string // part of the error
	}{
		{"tampered signature", "alice", flipSig(good), rg, "SignatureDoesNotMatch"},
		{"tampered user", "bob", strings.Replace(good, "User=alice", "User=bob", 1), rg, "SignatureDoesNotMatch"},
		{"tampered date", "alice", strings.Replace(good, "X-Amz-Date=20261201T12", "X-Amz-Date=20261201T11", 1), rg, "SignatureDoesNotMatch"},
		{"added parameter", "alice", good + "&Extra=1", rg, "SignatureDoesNotMatch"},
		{"expired", "alice", presign(t, credA, rg, "alice", 15*time.Minute, now.Add(-16*time.Minute)), rg, "Signature expired"},
		{"short lifetime elapsed", "alice", presign(t, credA, rg, "alice", 5*time.Minute, now.Add(-6*time.Minute)), rg, "Signature expired"},
		{"more than 15 minutes", "alice", presign(t, credA, rg, "alice", time.Hour, now), rg, "X-Amz-Expires"},
		{"dated in the future", "alice", presign(t, credA, rg, "alice", 15*time.Minute, now.Add(20*time.Minute)), rg, "not yet current"},
		{"other cache", "alice", presign(t, credA, Resource{Name: "payments", Region: rg.Region}, "alice", 15*time.Minute, now), rg, `for cache "payments"`},
		{"other user", "alice", presign(t, credA, rg, "bob", 15*time.Minute, now), rg, `for user "bob"`},
		{"unknown key", "alice", presign(t, stray, rg, "alice", 15*time.Minute, now), rg, "InvalidClientTokenId"},
		{"other account", "alice", presign(t, credB, rg, "alice", 15*time.Minute, now), rg, "not the cache's account"},
		{"other region", "alice", presign(t, credA, Resource{Name: "orders", Region: "us-east-1"}, "alice", 15*time.Minute, now), rg, "region"},
		{"other service", "alice", other("s3"), rg, "correct service"},
		{"serverless token on a replication group", "alice", presign(t, credA, Resource{Name: "orders", Serverless: true, Region: rg.Region}, "alice", 15*time.Minute, now), rg, "ResourceType"},
		{"replication group token on a serverless cache", "alice", presign(t, credA, Resource{Name: "sessions", Region: sls.Region}, "alice", 15*time.Minute, now), sls, "ResourceType"},
		{"no signature", "alice", "orders/?Action=connect&User=alice", rg, "not an IAM"},
		{"password", "alice", "hunter2hunter2hunter2", rg, "not an IAM"},
		{"other action", "alice", strings.Replace(good, "Action=connect", "Action=Connect", 1), rg, "Action"},
		{"repeated user", "alice", good + "&User=alice", rg, "appears 2 times"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify.Verify(c.user, c.token, c.res)
			if err == nil {
				t.Fatalf("accepted %q", c.token)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to mention %q", err, c.want)
			}
			if i := strings.Index(c.token, "X-Amz-Signature="); i >= 0 && strings.Contains(err.Error(), c.token[i+16:]) {
				t.Errorf("error quotes the signature: %q", err)
			}
		})
	}
	if _, err := verify.Verify("alice", "hunter2", rg); !errors.Is(err, ErrNotToken) {
		t.Errorf("password: %v, want ErrNotToken", err)
	}
	if LooksLikeToken("hunter2hunter2hunter2") {
		t.Error("a password looks like a token")
	}
	if _, err := (&Verifier{}).Verify("alice", good, rg); err == nil {
		t.Error("a verifier without credentials accepted a token")
	}
}

// TestVerifyBotocoreTokens builds tokens with botocore's
// RequestSigner.generate_presigned_url, as Python clients do.
func TestVerifyBotocoreTokens(t *testing.T) {
	if err := exec.Command("python3", "-c", "import botocore").Run(); err != nil {
		if os.Getenv("KEYWARD_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("python3 with botocore is required: %v", err)
		}
		t.Skipf("python3 with botocore is not available: %v", err)
	}
	real := &Verifier{SigV4: sigv4.NewVerifier([]sigv4.Credential{credA, credB})}
	gen := func(c sigv4.Credential, res Resource, user, expires string) string {
		cmd := exec.Command("python3", "testdata/botocore_token.py", res.Name, user, res.Region, map[bool]string{true: "1", false: "0"}[res.Serverless], expires)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+c.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("botocore: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	for _, res := range []Resource{rg, sls} {
		tok := gen(credA, res, "alice", "900")
		if _, err := real.Verify("alice", tok, res); err != nil {
			t.Errorf("%s: botocore token refused: %v", res.Name, err)
		}
		if _, err := real.Verify("bob", tok, res); err == nil {
			t.Errorf("%s: botocore token for alice accepted for bob", res.Name)
		}
	}
	if _, err := real.Verify("alice", gen(credB, rg, "alice", "900"), rg); err == nil {
		t.Error("botocore token of another account accepted")
	}
	if _, err := real.Verify("alice", gen(credA, rg, "alice", "3600"), rg); err == nil {
		t.Error("botocore token valid for an hour accepted")
	}
}

// BenchmarkVerify is the cost of checking one token at login.
func BenchmarkVerify(b *testing.B) {
	tok, err := Presign(bg, awsCreds(credA), rg, "alice", 15*time.Minute, now)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := verify.Verify("alice", tok, rg); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyUnsigned: without credentials everything but the signature and
// the account is checked.
func TestVerifyUnsigned(t *testing.T) {
	u := &Verifier{Unsigned: true, SigV4: &sigv4.Verifier{Now: func() time.Time { return now }}}
	res := Resource{Name: "orders", AccountID: "000000000000", Region: "eu-west-1"}
	dummy := sigv4.Credential{AccessKeyID: "test", SecretAccessKey: "test"}
	good := presign(t, dummy, res, "alice", 15*time.Minute, now)
	caller, err := u.Verify("alice", good, res)
	if err != nil {
		t.Fatalf("token signed with dummy keys: %v", err)
	}
	if caller.AccountID != "000000000000" || caller.Region != "eu-west-1" {
		t.Errorf("caller %+v", caller)
	}
	for name, c := range map[string]struct{ user, tok string }{
		"expired":          {"alice", presign(t, dummy, res, "alice", 15*time.Minute, now.Add(-16*time.Minute))},
		"too long":         {"alice", presign(t, dummy, res, "alice", time.Hour, now)},
		"other user":       {"alice", presign(t, dummy, res, "bob", 15*time.Minute, now)},
		"other cache":      {"alice", presign(t, dummy, Resource{Name: "x", Region: res.Region}, "alice", 15*time.Minute, now)},
		"other region":     {"alice", presign(t, dummy, Resource{Name: "orders", Region: "us-east-1"}, "alice", 15*time.Minute, now)},
		"serverless token": {"alice", presign(t, dummy, Resource{Name: "orders", Serverless: true, Region: res.Region}, "alice", 15*time.Minute, now)},
		"not a token":      {"alice", "password"},
	} {
		if _, err := u.Verify(c.user, c.tok, res); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
