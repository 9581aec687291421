package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"keyward/internal/redistest"
)

// awsCLI runs the real AWS CLI against endpoint and decodes its JSON output.
func awsCLI(t *testing.T, env []string, args ...string) (map[string]any, error) {
	t.Helper()
	cmd := exec.Command("aws", append([]string{"--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIDCLI", "AWS_SECRET_ACCESS_KEY=cli-secret",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_MAX_ATTEMPTS=1")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, &cliError{stderr: string(ee.Stderr)}
		}
		return nil, err
	}
	var v map[string]any
	if len(strings.TrimSpace(string(out))) > 0 {
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("aws %v: bad JSON %q", args, out)
		}
	}
	return v, nil
}

type cliError struct{ stderr string }

func (e *cliError) Error() string { return e.stderr }

func requireCLI(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("KEYWARD_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("the AWS CLI is required (KEYWARD_REQUIRE_INTEGRATION=1) but not on PATH")
		}
		t.Skip("the AWS CLI is not on PATH")
	}
}

// TestCLI_Smoke drives a real keyward with the AWS CLI (botocore's parser),
// once with --endpoint-url and once with AWS_ENDPOINT_URL_ELASTICACHE.
func TestCLI_Smoke(t *testing.T) {
	requireCLI(t)
	p := startKeyward(t, freeAddr(t), t.TempDir(), nil)
	ep := []string{"--endpoint-url", p.url}
	run := func(args ...string) map[string]any {
		t.Helper()
		v, err := awsCLI(t, nil, append(ep, args...)...)
		if err != nil {
			t.Fatalf("aws %v: %v", args, err)
		}
		return v
	}
	u := run("elasticache", "create-user", "--user-id", "CLI-User", "--user-name", "cli", "--engine", "redis",
		"--access-string", "on ~app:* -@all +@read", "--passwords", "cli-password-0123456", "cli-password-6543210")
	if u["UserId"] != "cli-user" || u["Status"] != "active" || u["AccessString"] != "on ~app:* -@all +@read" {
		t.Errorf("create-user: %v", u)
	}
	if auth := u["Authentication"].(map[string]any); auth["Type"] != "password" || auth["PasswordCount"] != 2.0 {
		t.Errorf("create-user Authentication: %v", auth)
	}
	if ids, ok := u["UserGroupIds"].([]any); !ok || len(ids) != 0 {
		t.Errorf("create-user UserGroupIds = %#v, want []", u["UserGroupIds"])
	}
	d := run("elasticache", "describe-users", "--user-id", "cli-user")
	if users := d["Users"].([]any); len(users) != 1 || users[0].(map[string]any)["UserName"] != "cli" {
		t.Errorf("describe-users: %v", d)
	}
	m := run("elasticache", "modify-user", "--user-id", "cli-user", "--access-string", "on ~* +@all")
	if m["Status"] != "modifying" {
		t.Errorf("modify-user: %v", m)
	}
	g := run("elasticache", "create-user-group", "--user-group-id", "cli-group", "--engine", "redis", "--user-ids", "default")
	if g["Status"] != "creating" || len(g["UserIds"].([]any)) != 1 {
		t.Errorf("create-user-group: %v", g)
	}
	// The same tool through the environment variable instead of the flag.
	env := []string{"AWS_ENDPOINT_URL_ELASTICACHE=" + p.url}
	waitCLI(t, env, "user group active", func() bool {
		v, err := awsCLI(t, env, "elasticache", "describe-user-groups", "--user-group-id", "cli-group")
		return err == nil && v["UserGroups"].([]any)[0].(map[string]any)["Status"] == "active"
	})
	waitCLI(t, env, "user active", func() bool {
		v, err := awsCLI(t, env, "elasticache", "describe-users", "--user-id", "cli-user")
		return err == nil && v["Users"].([]any)[0].(map[string]any)["Status"] == "active"
	})
	mg := run("elasticache", "modify-user-group", "--user-group-id", "cli-group", "--user-ids-to-add", "cli-user")
	if mg["Status"] != "modifying" || mg["PendingChanges"].(map[string]any)["UserIdsToAdd"].([]any)[0] != "cli-user" {
		t.Errorf("modify-user-group: %v", mg)
	}
	waitCLI(t, env, "user group active again", func() bool {
		v, err := awsCLI(t, env, "elasticache", "describe-user-groups")
		if err != nil {
			return false
		}
		grp := v["UserGroups"].([]any)[0].(map[string]any)
		return grp["Status"] == "active" && len(grp["UserIds"].([]any)) == 2
	})
	del := run("elasticache", "delete-user", "--user-id", "cli-user")
	if del["Status"] != "deleting" {
		t.Errorf("delete-user: %v", del)
	}
	waitCLI(t, env, "user gone", func() bool {
		_, err := awsCLI(t, env, "elasticache", "describe-users", "--user-id", "cli-user")
		return err != nil && strings.Contains(err.Error(), "UserNotFound")
	})
	if dg := run("elasticache", "delete-user-group", "--user-group-id", "cli-group"); dg["Status"] != "deleting" {
		t.Errorf("delete-user-group: %v", dg)
	}
	_, err := awsCLI(t, nil, append(ep, "elasticache", "delete-user", "--user-id", "default")...)
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") {
		t.Errorf("delete-user default: %v", err)
	}
}

func waitCLI(t *testing.T, env []string, what string, cond func() bool) {
	t.Helper()
	for range 100 {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestCLI_ReplicationGroup drives a replication group on real nodes with the
// AWS CLI, so botocore parses the real answers.
func TestCLI_ReplicationGroup(t *testing.T) {
	requireCLI(t)
	redistest.Binary(t)
	p := startKeyward(t, freeAddr(t), t.TempDir(), nil)
	run := func(args ...string) map[string]any {
		t.Helper()
		v, err := awsCLI(t, nil, append([]string{"--endpoint-url", p.url}, args...)...)
		if err != nil {
			t.Fatalf("aws %v: %v", args, err)
		}
		return v
	}
	rg := run("elasticache", "create-replication-group", "--replication-group-id", "cli-rg",
		"--replication-group-description", "from the CLI", "--num-cache-clusters", "2", "--port", "6390",
		"--automatic-failover-enabled")["ReplicationGroup"].(map[string]any)
	if rg["Status"] != "creating" || len(rg["MemberClusters"].([]any)) != 2 {
		t.Errorf("create-replication-group: %v", rg)
	}
	var got map[string]any
	waitCLI(t, nil, "available", func() bool {
		v, err := awsCLI(t, nil, "--endpoint-url", p.url, "elasticache", "describe-replication-groups", "--replication-group-id", "cli-rg")
		if err != nil {
			return false
		}
		got = v["ReplicationGroups"].([]any)[0].(map[string]any)
		return got["Status"] == "available"
	})
	ng := got["NodeGroups"].([]any)[0].(map[string]any)
	members := ng["NodeGroupMembers"].([]any)
	if len(members) != 2 || members[0].(map[string]any)["CurrentRole"] != "primary" || ng["PrimaryEndpoint"].(map[string]any)["Port"] == nil {
		t.Errorf("node group as botocore parses it: %v", ng)
	}
	// The requested port on addresses of their own: the endpoints' and
	// each node's.
	addrs := map[any]bool{}
	for _, e := range []any{ng["PrimaryEndpoint"], ng["ReaderEndpoint"], members[0].(map[string]any)["ReadEndpoint"], members[1].(map[string]any)["ReadEndpoint"]} {
		ep := e.(map[string]any)
		if ep["Port"] != float64(6390) || ep["Address"] == "127.0.0.1" {
			t.Errorf("endpoint %v, want port 6390 on an address of its own", ep)
		}
		addrs[ep["Address"]] = true
	}
	if len(addrs) != 4 || got["AutomaticFailover"] != "enabled" {
		t.Errorf("addresses %v, AutomaticFailover %v", addrs, got["AutomaticFailover"])
	}
	cc := run("elasticache", "describe-cache-clusters", "--show-cache-node-info")["CacheClusters"].([]any)
	if len(cc) != 2 || cc[0].(map[string]any)["ReplicationGroupId"] != "cli-rg" {
		t.Errorf("describe-cache-clusters: %v", cc)
	}
	if del := run("elasticache", "delete-replication-group", "--replication-group-id", "cli-rg")["ReplicationGroup"].(map[string]any); del["Status"] != "deleting" {
		t.Errorf("delete-replication-group: %v", del)
	}
	waitCLI(t, nil, "gone", func() bool {
		_, err := awsCLI(t, nil, "--endpoint-url", p.url, "elasticache", "describe-replication-groups", "--replication-group-id", "cli-rg")
		return err != nil && strings.Contains(err.Error(), "ReplicationGroupNotFoundFault")
	})
}
