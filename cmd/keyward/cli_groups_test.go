package main

import (
	"strings"
	"testing"
)

// TestCLI_GroupsAndCatalog: the AWS CLI (botocore's parser) reads keyward's
// subnet groups, parameter groups, parameters and engine versions.
func TestCLI_GroupsAndCatalog(t *testing.T) {
	requireCLI(t)
	p := startKeyward(t, freeAddr(t), t.TempDir(), nil)
	run := func(args ...string) map[string]any {
		t.Helper()
		v, err := awsCLI(t, nil, append([]string{"--endpoint-url", p.url, "elasticache"}, args...)...)
		if err != nil {
			t.Fatalf("aws %v: %v", args, err)
		}
		return v
	}
	sg := run("create-cache-subnet-group", "--cache-subnet-group-name", "cli-subnets", "--cache-subnet-group-description", "cli",
		"--subnet-ids", "subnet-0a1b2c3d", "subnet-0123456789abcdef0")["CacheSubnetGroup"].(map[string]any)
	if sg["CacheSubnetGroupName"] != "cli-subnets" || len(sg["Subnets"].([]any)) != 2 || !strings.HasPrefix(sg["VpcId"].(string), "vpc-") {
		t.Errorf("create-cache-subnet-group: %v", sg)
	}
	pg := run("create-cache-parameter-group", "--cache-parameter-group-name", "cli-params", "--cache-parameter-group-family", "redis7",
		"--description", "cli")["CacheParameterGroup"].(map[string]any)
	if pg["CacheParameterGroupFamily"] != "redis7" {
		t.Errorf("create-cache-parameter-group: %v", pg)
	}
	if m := run("modify-cache-parameter-group", "--cache-parameter-group-name", "cli-params",
		"--parameter-name-values", "ParameterName=timeout,ParameterValue=300", "ParameterName=maxmemory-policy,ParameterValue=allkeys-lru"); m["CacheParameterGroupName"] != "cli-params" {
		t.Errorf("modify-cache-parameter-group: %v", m)
	}
	params := run("describe-cache-parameters", "--cache-parameter-group-name", "cli-params", "--source", "user")["Parameters"].([]any)
	got := map[string]any{}
	for _, x := range params {
		m := x.(map[string]any)
		got[m["ParameterName"].(string)] = m["ParameterValue"]
		if m["Source"] != "user" || m["ChangeType"] != "immediate" {
			t.Errorf("parameter %v", m)
		}
	}
	if len(got) != 2 || got["timeout"] != "300" || got["maxmemory-policy"] != "allkeys-lru" {
		t.Errorf("describe-cache-parameters --source user: %v", got)
	}
	// The CLI pages through every parameter of the family by itself.
	all := run("describe-cache-parameters", "--cache-parameter-group-name", "cli-params", "--page-size", "20")["Parameters"].([]any)
	if len(all) < 40 {
		t.Errorf("describe-cache-parameters: %d parameters", len(all))
	}
	versions := run("describe-cache-engine-versions", "--engine", "redis", "--default-only")["CacheEngineVersions"].([]any)
	if len(versions) != 1 || versions[0].(map[string]any)["CacheParameterGroupFamily"] != "redis7" || versions[0].(map[string]any)["EngineVersion"] != "7.0" {
		t.Errorf("describe-cache-engine-versions --default-only: %v", versions)
	}
	if _, err := awsCLI(t, nil, "--endpoint-url", p.url, "elasticache", "delete-cache-parameter-group", "--cache-parameter-group-name", "default.redis7"); err == nil ||
		!strings.Contains(err.Error(), "InvalidCacheParameterGroupState") {
		t.Errorf("delete default.redis7: %v", err)
	}
}
