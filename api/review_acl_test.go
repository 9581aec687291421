package api_test

// Regression tests for the access-string findings of the security review
// of 2026-12 (../shared/security/review-2026-12.md, F2, F3 and F10), written
// from the review's reproductions, through the API and against real nodes.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// wantInvalidAccess reports whether err is InvalidParameterValue (400) with
// a message containing want, and fails the test (without stopping it, so
// that the review's reproduction can go on) when it is not.
func wantInvalidAccess(t *testing.T, what string, err error, want string) bool {
	t.Helper()
	if err == nil {
		t.Errorf("%s: accepted, want InvalidParameterValue (400) %q", what, want)
		return false
	}
	code, status := keywardtest.APIError(err)
	_, msg := errorMessage(err)
	if code != "InvalidParameterValue" || status != 400 || !strings.Contains(msg, want) {
		t.Errorf("%s: %s (%d) %q, want InvalidParameterValue (400) %q", what, code, status, msg, want)
		return false
	}
	return true
}

// reviewUser creates a password user, reporting the API error.
func reviewUser(c *elasticache.Client, id, name, access, pw string) (*elasticache.CreateUserOutput, error) {
	return c.CreateUser(context.Background(), &elasticache.CreateUserInput{
		UserId: aws.String(id), UserName: aws.String(name), Engine: aws.String("redis"),
		AccessString: aws.String(access), Passwords: []string{pw},
	})
}

func mustReviewUser(t *testing.T, c *elasticache.Client, id, name, access, pw string) *elasticache.CreateUserOutput {
	t.Helper()
	out, err := reviewUser(c, id, name, access, pw)
	if err != nil {
		t.Fatalf("CreateUser(%s, %q): %v", id, access, err)
	}
	return out
}

// TestReviewF2_ModuleCommandRefused is F2: "+json.get" was accepted by the
// API and refused by the engine (Redis 7.0, no modules), and one such user
// in a group stopped every ACL change of the group's caches, so that
// another member's DeleteUser never took effect. Now the API refuses module
// commands like any unknown command, and the revocation completes.
func TestReviewF2_ModuleCommandRefused(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(100*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	mustReviewUser(t, c, "gb-default", "default", "on ~* +@all", "default-password-0001")
	mustReviewUser(t, c, "victim", "victim", "on ~* +@all", "victim-password-00001")
	createGroup(t, c, "gb", "redis", "gb-default", "victim")
	waitGroupStatus(t, c, "gb", "active")
	createRG(t, c, "rgb", 1, true, "gb")
	n := rgNodes(t, ts, waitRG(t, c, "rgb", "available"))[0]
	if err := n.auth("victim", "victim-password-00001"); err != nil {
		t.Fatalf("victim cannot log in: %v", err)
	}

	const want = `unknown command "json.get" in "+json.get"`
	_, err := reviewUser(c, "modu", "modu", "on ~* -@all +json.get", "modu-password-0000001")
	if !wantInvalidAccess(t, "CreateUser +json.get", err, want) && err == nil {
		// The review's reproduction: the module user joins the group.
		if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("gb"), UserIdsToAdd: []string{"modu"}}); err != nil {
			t.Errorf("ModifyUserGroup add modu: %v", err)
		}
		time.Sleep(time.Second)
	}
	for i, access := range []string{"on ~* -@all +FT.SEARCH", "on ~* -@all (~a +json.get)", "on ~* +@all -json.set"} {
		id := fmt.Sprintf("modu%d", i+2)
		_, err := reviewUser(c, id, id, access, "modu-password-0000002")
		wantInvalidAccess(t, "CreateUser "+access, err, "Module commands are not available")
	}
	mustReviewUser(t, c, "carol", "carol", "on ~* -@all +get", "carol-password-00001")
	_, err = c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("carol"), AccessString: aws.String("on ~* -@all +json.get")})
	wantInvalidAccess(t, "ModifyUser AccessString +json.get", err, want)
	_, err = c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("carol"), AppendAccessString: aws.String("+json.get")})
	wantInvalidAccess(t, "ModifyUser AppendAccessString +json.get", err, want)

	// The revocation takes effect on the node.
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("victim")}); err != nil {
		t.Fatalf("DeleteUser(victim): %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for n.auth("victim", "victim-password-00001") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the deleted user victim still logs in after 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitUserStatus(t, c, "victim", "gone")
	waitGroupStatus(t, c, "gb", "active")
}

// nodeID is the engine's id of a cache node (member cluster).
func nodeID(member string) string { return "000000000000.us-east-1." + member }

// TestReviewF3_QuotedParenInSelector is F3: a selector pattern ending in
// ")" hidden in quotes was accepted; the node saved it as a selector that
// closes early, and aborted its next start for good. Now such patterns are
// refused, a quoted pattern that the engine can read back is stored
// unquoted, and every node of the cache restarts after kill -9 with its
// ACL file.
func TestReviewF3_QuotedParenInSelector(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	mustReviewUser(t, c, "ga-default", "default", "on ~* +@all", "default-password-0001")
	ok := mustReviewUser(t, c, "e1", "e1", `on ~app:* -@all +get +ping (~"logs:*" -@all +get)`, "e1-password-0000001")
	if got, want := aws.ToString(ok.AccessString), "on ~app:* -@all +get +ping (~logs:* -@all +get)"; got != want {
		t.Errorf("AccessString = %q, want %q", got, want)
	}
	members := []string{"ga-default", "e1"}
	for i, access := range []string{
		`on ~app:* -@all +get (~"ab\x29" -@all +get)`,
		`on ~app:* -@all +get (~"ab)" -@all +get)`,
		`on ~app:* -@all +get (%R~'k)' -@all +get)`,
		`on ~app:* -@all +get (&"ch)" -@all +get)`,
	} {
		id := fmt.Sprintf("e2-%d", i)
		_, err := reviewUser(c, id, id, access, "e2-password-0000001")
		if !wantInvalidAccess(t, "CreateUser "+access, err, `must not end with ")"`) && err == nil {
			members = append(members, id) // the review's reproduction
		}
	}
	for i, access := range []string{`on (~'a"b' -@all +get)`, `on (~"abc -@all +get)`} {
		id := fmt.Sprintf("e3-%d", i)
		_, err := reviewUser(c, id, id, access, "e3-password-0000001")
		if !wantInvalidAccess(t, "CreateUser "+access, err, "quote") && err == nil {
			members = append(members, id)
		}
	}
	createGroup(t, c, "ga", "redis", members...)
	waitGroupStatus(t, c, "ga", "active")
	createRG(t, c, "rga", 2, true, "ga")
	rg := waitRG(t, c, "rga", "available")
	nodes := rgNodes(t, ts, rg)

	writer := nodes[0].client("default", "default-password-0001")
	defer writer.Close()
	if err := writer.Set(ctx, "logs:1", "l1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for i, member := range rg.MemberClusters {
		// Any restart: crash, OOM kill, host reboot.
		info, found := ts.Engine().Node(nodeID(member))
		if !found || info.PID == 0 {
			t.Fatalf("engine does not know node %s", member)
		}
		aclFile, err := os.ReadFile(filepath.Join(ts.Config.DataDir, "nodes", nodeID(member), "users.acl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(aclFile), "\n") {
			if strings.HasPrefix(line, "user e") && strings.ContainsAny(line, `"'`) {
				t.Errorf("%s: users.acl line with a quote: %q", member, line)
			}
		}
		if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		n := nodes[i]
		back := func() bool {
			cur, found := ts.Engine().Node(nodeID(member))
			return found && cur.PID != 0 && cur.PID != info.PID && n.auth("e1", "e1-password-0000001") == nil
		}
		for deadline := time.Now().Add(20 * time.Second); !back(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(filepath.Join(ts.Config.DataDir, "nodes", nodeID(member), "server.log"))
				if i := len(log) - 600; i > 0 {
					log = log[i:]
				}
				cur, _ := ts.Engine().Node(nodeID(member))
				t.Fatalf("node %s (%+v, auth %v) not back 20 s after kill -9 (e1 refused); server.log ends with %s", member, cur, n.auth("e1", "e1-password-0000001"), log)
			}
		}
		e1 := n.client("e1", "e1-password-0000001")
		keywardtest.Eventually(t, 10*time.Second, "logs:1 on "+member, func() bool { return e1.Get(ctx, "logs:1").Val() == "l1" })
		if err := e1.Get(ctx, "other:1").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%s: e1 GET other:1 = %v, want NOPERM", member, err)
		}
		e1.Close()
	}
	// The group's revocations still complete.
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("e1")}); err != nil {
		t.Fatal(err)
	}
	waitUserStatus(t, c, "e1", "gone")
	for _, n := range nodes {
		if err := n.auth("e1", "e1-password-0000001"); err == nil {
			t.Errorf("deleted e1 still logs in on %s", n.addr)
		}
	}
}

// TestReviewF10_SelectorPatternMeansWhatItSays is F10: the API showed
// (~"*" -@all +get) while the node granted every key. Now the access string
// the API stores and returns is what the engine enforces: quotes inside a
// selector are unquoted as the engine unquotes them, and quotes outside
// selectors, which the engine takes literally, stay.
func TestReviewF10_SelectorPatternMeansWhatItSays(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	mustReviewUser(t, c, "gc-default", "default", "on ~* +@all", "default-password-0001")
	for _, tc := range []struct{ id, access, want string }{
		{"e6", `on ~app:* -@all +get (~"*" -@all +get)`, "on ~app:* -@all +get (~* -@all +get)"},
		{"e7", `on ~app:* -@all +get (~"logs:\x2a" -@all '+get')`, "on ~app:* -@all +get (~logs:* -@all +get)"},
		{"e8", `on ~"*" -@all +get`, `on ~"*" -@all +get`},
	} {
		out := mustReviewUser(t, c, tc.id, tc.id, tc.access, tc.id+"-password-0000001")
		if got := aws.ToString(out.AccessString); got != tc.want {
			t.Errorf("CreateUser(%s, %q): AccessString = %q, want %q", tc.id, tc.access, got, tc.want)
		}
		if u, err := describeUser(t, c, tc.id); err != nil || aws.ToString(u.AccessString) != tc.want {
			t.Errorf("DescribeUsers(%s): AccessString = %q (%v), want %q", tc.id, aws.ToString(u.AccessString), err, tc.want)
		}
	}
	mod, err := c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("e8"), AppendAccessString: aws.String(`(~"x:\x2a" +get)`)})
	if err != nil || aws.ToString(mod.AccessString) != `on ~"*" -@all +get (~x:* -@all +get)` {
		t.Errorf("ModifyUser(e8, AppendAccessString) = %q, %v", aws.ToString(mod.AccessString), err)
	}
	waitUserStatus(t, c, "e8", "active")

	createGroup(t, c, "gc", "redis", "gc-default", "e6", "e7", "e8")
	waitGroupStatus(t, c, "gc", "active")
	createRG(t, c, "rgc", 1, true, "gc")
	n := rgNodes(t, ts, waitRG(t, c, "rgc", "available"))[0]
	writer := n.client("default", "default-password-0001")
	defer writer.Close()
	for _, k := range []string{"other:k", "logs:1", `"*"`, "x:1"} {
		if err := writer.Set(ctx, k, "v-"+k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Each user can read exactly what its stored access string says.
	for _, tc := range []struct {
		user string
		key  string
		ok   bool
	}{
		{"e6", "other:k", true}, // (~* ...): every key
		{"e7", "logs:1", true}, {"e7", "other:k", false},
		{"e8", `"*"`, true}, {"e8", "other:k", false}, {"e8", "x:1", true}, // ~"*" is the literal key "*" in quotes
	} {
		cl := n.client(tc.user, tc.user+"-password-0000001")
		got, err := cl.Get(ctx, tc.key).Result()
		cl.Close()
		var noperm bool
		if err != nil && !errors.Is(err, redis.Nil) {
			noperm = strings.Contains(err.Error(), "NOPERM")
			if !noperm {
				t.Fatalf("%s GET %s: %v", tc.user, tc.key, err)
			}
		}
		switch {
		case tc.ok && (noperm || got != "v-"+tc.key):
			t.Errorf("%s GET %s = %q, %v; its access string grants it", tc.user, tc.key, got, err)
		case !tc.ok && !noperm:
			t.Errorf("%s GET %s = %q; its access string does not grant it, want NOPERM", tc.user, tc.key, got)
		}
	}
}
