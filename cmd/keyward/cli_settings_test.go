package main

import (
	"strings"
	"testing"
	"time"

	"keyward/internal/redistest"
)

// TestCLI_SettingsRoundTrip: the settings a stack sets on a replication group
// and a serverless cache come back as botocore parses them, on the group, on
// its member clusters and in their tags; a deferred node-type change is shown
// pending; an unknown authentication type gets ElastiCache's message.
func TestCLI_SettingsRoundTrip(t *testing.T) {
	requireCLI(t)
	redistest.Binary(t)
	p := startKeyward(t, freeAddr(t), t.TempDir(), nil)
	run := func(args ...string) map[string]any {
		t.Helper()
		v, err := awsCLI(t, nil, append([]string{"--endpoint-url", p.url, "elasticache"}, args...)...)
		if err != nil {
			t.Fatalf("aws %v: %v", args, err)
		}
		return v
	}
	run("create-cache-parameter-group", "--cache-parameter-group-name", "cli-set-params",
		"--cache-parameter-group-family", "redis7", "--description", "cli")
	run("create-cache-subnet-group", "--cache-subnet-group-name", "cli-set-subnets",
		"--cache-subnet-group-description", "cli", "--subnet-ids", "subnet-0a1b2c3d", "subnet-0b1c2d3e")
	// The group keeps backups and is modified below: its snapshot window is
	// in the other half of the day from the wall clock, so no automatic
	// backup (snapshotting) meets the modification.
	window := "03:00-05:00"
	if time.Now().UTC().Hour() < 12 {
		window = "15:00-17:00"
	}
	run("create-replication-group", "--replication-group-id", "cli-set",
		"--replication-group-description", "settings", "--num-cache-clusters", "2",
		"--cache-node-type", "cache.t3.micro", "--engine", "redis", "--engine-version", "7.0",
		"--automatic-failover-enabled", "--multi-az-enabled", "--at-rest-encryption-enabled",
		"--snapshot-retention-limit", "3", "--snapshot-window", window,
		"--preferred-maintenance-window", "sun:06:00-sun:07:00",
		"--cache-parameter-group-name", "cli-set-params", "--cache-subnet-group-name", "cli-set-subnets",
		"--security-group-ids", "sg-0123456789abcdef0",
		"--notification-topic-arn", "arn:aws:sns:us-east-1:000000000000:cli-topic",
		"--log-delivery-configurations", `[{"LogType":"slow-log","DestinationType":"cloudwatch-logs","DestinationDetails":{"CloudWatchLogsDetails":{"LogGroup":"cli-lg"}},"LogFormat":"json"}]`,
		"--tags", "Key=team,Value=cli")
	var rg map[string]any
	waitCLI(t, nil, "cli-set available", func() bool {
		v, err := awsCLI(t, nil, "--endpoint-url", p.url, "elasticache", "describe-replication-groups", "--replication-group-id", "cli-set")
		if err != nil {
			return false
		}
		rg = v["ReplicationGroups"].([]any)[0].(map[string]any)
		return rg["Status"] == "available"
	})
	for k, want := range map[string]any{
		"AutomaticFailover": "enabled", "MultiAZ": "enabled", "AtRestEncryptionEnabled": true,
		"SnapshotRetentionLimit": float64(3), "SnapshotWindow": window, "CacheNodeType": "cache.t3.micro",
	} {
		if rg[k] != want {
			t.Errorf("replication group %s = %v, want %v", k, rg[k], want)
		}
	}
	if ld := rg["LogDeliveryConfigurations"].([]any); len(ld) != 1 || ld[0].(map[string]any)["LogType"] != "slow-log" ||
		ld[0].(map[string]any)["Status"] != "active" {
		t.Errorf("LogDeliveryConfigurations = %v", ld)
	}

	clusters := run("describe-cache-clusters", "--show-cache-node-info")["CacheClusters"].([]any)
	if len(clusters) != 2 {
		t.Fatalf("describe-cache-clusters: %v", clusters)
	}
	zones := map[any]bool{}
	for _, x := range clusters {
		c := x.(map[string]any)
		zones[c["PreferredAvailabilityZone"]] = true
		if c["CacheSubnetGroupName"] != "cli-set-subnets" || c["PreferredMaintenanceWindow"] != "sun:06:00-sun:07:00" ||
			!strings.HasPrefix(c["EngineVersion"].(string), "7.0") {
			t.Errorf("cluster %v: subnet group, window or version", c["CacheClusterId"])
		}
		if pg := c["CacheParameterGroup"].(map[string]any); pg["CacheParameterGroupName"] != "cli-set-params" {
			t.Errorf("cluster %v parameter group %v", c["CacheClusterId"], pg)
		}
		if sg := c["SecurityGroups"].([]any); len(sg) != 1 || sg[0].(map[string]any)["SecurityGroupId"] != "sg-0123456789abcdef0" {
			t.Errorf("cluster %v security groups %v", c["CacheClusterId"], sg)
		}
		if nc := c["NotificationConfiguration"].(map[string]any); nc["TopicStatus"] != "active" {
			t.Errorf("cluster %v notification %v", c["CacheClusterId"], nc)
		}
		// The group's tags are replicated to its member clusters (ElastiCache's rule).
		tags := run("list-tags-for-resource", "--resource-name", c["ARN"].(string))["TagList"].([]any)
		if len(tags) != 1 || tags[0].(map[string]any)["Value"] != "cli" {
			t.Errorf("tags of member %v: %v", c["CacheClusterId"], tags)
		}
	}
	if len(zones) != 2 {
		t.Errorf("nodes not spread over the subnet group's zones: %v", zones)
	}

	// A node-type change without ApplyImmediately stays pending on the clusters.
	run("modify-replication-group", "--replication-group-id", "cli-set", "--cache-node-type", "cache.t3.small", "--no-apply-immediately")
	for _, x := range run("describe-cache-clusters")["CacheClusters"].([]any) {
		c := x.(map[string]any)
		if pm, _ := c["PendingModifiedValues"].(map[string]any); pm["CacheNodeType"] != "cache.t3.small" || c["CacheNodeType"] != "cache.t3.micro" {
			t.Errorf("cluster %v pending %v type %v", c["CacheClusterId"], pm, c["CacheNodeType"])
		}
	}

	sc := run("create-serverless-cache", "--serverless-cache-name", "cli-sl", "--engine", "redis",
		"--cache-usage-limits", "DataStorage={Maximum=10,Unit=GB},ECPUPerSecond={Maximum=5000}",
		"--daily-snapshot-time", "04:00", "--snapshot-retention-limit", "2",
		"--security-group-ids", "sg-0123456789abcdef0", "--subnet-ids", "subnet-0a1b2c3d")["ServerlessCache"].(map[string]any)
	lim := sc["CacheUsageLimits"].(map[string]any)
	if ds := lim["DataStorage"].(map[string]any); ds["Maximum"] != float64(10) || ds["Unit"] != "GB" {
		t.Errorf("serverless DataStorage %v", ds)
	}
	if sc["DailySnapshotTime"] != "04:00" || sc["SnapshotRetentionLimit"] != float64(2) ||
		len(sc["SubnetIds"].([]any)) != 1 || len(sc["SecurityGroupIds"].([]any)) != 1 {
		t.Errorf("serverless settings %v", sc)
	}

	_, err := awsCLI(t, nil, "--endpoint-url", p.url, "elasticache", "create-user", "--user-id", "cli-bad", "--user-name", "bad",
		"--engine", "redis", "--access-string", "on ~* +@all", "--authentication-mode", "Type=certificate")
	if err == nil || !strings.Contains(err.Error(), "InvalidParameterValue") ||
		!strings.Contains(err.Error(), "Input Authentication type: certificate is not in the allowed list") {
		t.Errorf("unknown authentication type: %v", err)
	}
}
