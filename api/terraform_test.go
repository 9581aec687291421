package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/hashicorp/go-version"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// The Terraform AWS provider's sequences for aws_elasticache_replication_group
// and aws_elasticache_serverless_cache, replayed with the SDK the provider
// uses (../shared/spec/terraform-provider.md §1, §2, §9): after each apply,
// Read copies the response fields into state, and the plan compares state
// with the configuration. tfPlan says which attributes would change.

// tfState is what Read stored: attribute → value, as the provider's schema
// names them.
type tfState map[string]any

// tfPlan compares a configuration with the state Read produced, with the
// provider's rules: a configured attribute must come back unchanged; an
// Optional attribute without Computed that the user did not set must be
// empty, zero or its default in state. It returns the attributes that
// would change.
func tfPlan(config, state tfState, optionalDefaults tfState) []string {
	var diffs []string
	for k, want := range config {
		if fmt.Sprint(state[k]) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s: config %v, state %v", k, want, state[k]))
		}
	}
	for k, def := range optionalDefaults {
		if _, set := config[k]; !set && fmt.Sprint(state[k]) != fmt.Sprint(def) {
			diffs = append(diffs, fmt.Sprintf("%s (unset): state %v, want %v", k, state[k], def))
		}
	}
	slices.Sort(diffs)
	return diffs
}

// tfReadReplicationGroup is resourceReplicationGroupRead (§2 Read): the
// group, its first member cluster (ShowCacheNodeInfo), and the tags.
func tfReadReplicationGroup(t *testing.T, c *elasticache.Client, id string) tfState {
	t.Helper()
	ctx := t.Context()
	out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
	if err != nil || len(out.ReplicationGroups) != 1 {
		t.Fatalf("Read: DescribeReplicationGroups(%s) = %v, %v", id, out, err)
	}
	rg := out.ReplicationGroups[0]
	s := tfState{
		"description":                aws.ToString(rg.Description),
		"num_cache_clusters":         len(rg.MemberClusters),
		"num_node_groups":            len(rg.NodeGroups),
		"replicas_per_node_group":    len(rg.NodeGroups[0].NodeGroupMembers) - 1,
		"arn":                        aws.ToString(rg.ARN),
		"snapshot_window":            aws.ToString(rg.SnapshotWindow),
		"snapshot_retention_limit":   aws.ToInt32(rg.SnapshotRetentionLimit),
		"user_group_ids":             strings.Join(rg.UserGroupIds, ","),
		"data_tiering_enabled":       rg.DataTiering == types.DataTieringStatusEnabled,
		"network_type":               string(rg.NetworkType),
		"ip_discovery":               string(rg.IpDiscovery),
		"kms_key_id":                 aws.ToString(rg.KmsKeyId),
		"log_delivery_configuration": len(rg.LogDeliveryConfigurations),
		"cluster_mode":               string(rg.ClusterMode),
	}
	switch rg.AutomaticFailover {
	case types.AutomaticFailoverStatusEnabled, types.AutomaticFailoverStatusEnabling:
		s["automatic_failover_enabled"] = true
	case types.AutomaticFailoverStatusDisabled, types.AutomaticFailoverStatusDisabling:
		s["automatic_failover_enabled"] = false
	}
	switch rg.MultiAZ {
	case types.MultiAZStatusEnabled:
		s["multi_az_enabled"] = true
	case types.MultiAZStatusDisabled:
		s["multi_az_enabled"] = false
	}
	if ep := rg.ConfigurationEndpoint; ep != nil { // cluster mode (spec: Read)
		s["port"] = aws.ToInt32(ep.Port)
		s["configuration_endpoint_address"] = aws.ToString(ep.Address)
	} else if ng := rg.NodeGroups[0]; ng.PrimaryEndpoint != nil {
		s["port"] = aws.ToInt32(ng.PrimaryEndpoint.Port)
		s["primary_endpoint_address"] = aws.ToString(ng.PrimaryEndpoint.Address)
		s["reader_endpoint_address"] = aws.ToString(ng.ReaderEndpoint.Address)
	}
	member := aws.ToString(rg.NodeGroups[0].NodeGroupMembers[0].CacheClusterId)
	cc, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(member), ShowCacheNodeInfo: aws.Bool(true)})
	if err != nil || len(cc.CacheClusters) != 1 {
		t.Fatalf("Read: DescribeCacheClusters(%s) = %v, %v", member, cc, err)
	}
	cl := cc.CacheClusters[0]
	// setEngineVersionRedis: parsed with hashicorp/go-version; ≥ 6 is
	// stored as major.minor.
	v, err := version.NewVersion(aws.ToString(cl.EngineVersion))
	if err != nil {
		t.Fatalf("Read: engine version %q does not parse: %v", aws.ToString(cl.EngineVersion), err)
	}
	s["engine_version_actual"] = v.String()
	s["engine_version"] = fmt.Sprintf("%d.%d", v.Segments()[0], v.Segments()[1])
	var sgs []string
	for _, sg := range cl.SecurityGroups {
		sgs = append(sgs, aws.ToString(sg.SecurityGroupId))
	}
	s["node_type"] = aws.ToString(cl.CacheNodeType)
	s["engine"] = aws.ToString(cl.Engine)
	s["auto_minor_version_upgrade"] = aws.ToBool(cl.AutoMinorVersionUpgrade)
	s["subnet_group_name"] = aws.ToString(cl.CacheSubnetGroupName)
	s["security_group_ids"] = strings.Join(sgs, ",")
	s["parameter_group_name"] = aws.ToString(cl.CacheParameterGroup.CacheParameterGroupName)
	s["maintenance_window"] = aws.ToString(cl.PreferredMaintenanceWindow)
	s["at_rest_encryption_enabled"] = aws.ToBool(cl.AtRestEncryptionEnabled)
	s["transit_encryption_enabled"] = aws.ToBool(cl.TransitEncryptionEnabled)
	s["transit_encryption_mode"] = string(cl.TransitEncryptionMode)
	if cl.NotificationConfiguration != nil {
		s["notification_topic_arn"] = aws.ToString(cl.NotificationConfiguration.TopicArn)
	}
	// The tagging interceptor: ListTagsForResource on the ARN Read stored.
	tags, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: rg.ARN})
	if err != nil {
		t.Fatalf("ListTagsForResource(%s): %v", aws.ToString(rg.ARN), err)
	}
	s["tags"] = tagString(tags.TagList)
	return s
}

func tagString(tags []types.Tag) string {
	var kv []string
	for _, t := range tags {
		kv = append(kv, aws.ToString(t.Key)+"="+aws.ToString(t.Value))
	}
	slices.Sort(kv)
	return strings.Join(kv, ",")
}

// rgOptionalDefaults are the replication group attributes that are
// Optional without Computed (or default to a value): unset in the
// configuration, state must hold this. "port" is one: its DiffSuppress
// accepts only 6379 in state when unset, and every node listens on 6379,
// each on its own loopback address.
var rgOptionalDefaults = tfState{
	"port":                       6379,
	"automatic_failover_enabled": false,
	"multi_az_enabled":           false,
	"snapshot_retention_limit":   0,
	"user_group_ids":             "",
	"log_delivery_configuration": 0,
	"at_rest_encryption_enabled": false,
	"transit_encryption_enabled": false,
	"data_tiering_enabled":       false,
	"kms_key_id":                 "",
	"tags":                       "",
}

// waitTF is the provider's waiter (§1): pending statuses continue, the
// target ends it, anything else fails the wait.
func waitTF(t *testing.T, what string, pending []string, target string, status func() (string, bool)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		got, found := status()
		switch {
		case !found && target == "":
			return
		case !found:
		case got == target:
			return
		case !slices.Contains(pending, got):
			t.Fatalf("%s: unexpected state %q, wanted target %q", what, got, target)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: timed out waiting for %q", what, target)
}

func rgStatus(c *elasticache.Client, id string) func() (string, bool) {
	return func() (string, bool) {
		out, err := c.DescribeReplicationGroups(context.Background(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if code, _ := keywardtest.APIError(err); code == "ReplicationGroupNotFoundFault" {
			return "", false
		}
		if err != nil || len(out.ReplicationGroups) != 1 {
			return "error", true
		}
		return aws.ToString(out.ReplicationGroups[0].Status), true
	}
}

func TestTerraform_ReplicationGroupPlanEmpty(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	for _, u := range []string{"app"} {
		if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String(u), UserName: aws.String(u), Engine: aws.String("redis"),
			AccessString: aws.String("on ~* +@all"), Passwords: []string{"app-password-000001"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("tfgroup"), Engine: aws.String("redis"), UserIds: []string{"default", "app"}}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "group active", func() bool {
		out, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("tfgroup")})
		return err == nil && aws.ToString(out.UserGroups[0].Status) == "active"
	})

	// The configuration: every commonly set argument. The group keeps
	// backups: its snapshot windows are away from the wall clock.
	window, window2 := awayFromNow("02:00-03:00", "14:00-15:00"), awayFromNow("04:00-05:30", "16:00-17:30")
	config := tfState{
		"description": "tf managed", "num_cache_clusters": 2, "node_type": "cache.t4g.small", "engine": "redis",
		"engine_version": "7.0", "automatic_failover_enabled": true, "multi_az_enabled": true,
		"at_rest_encryption_enabled": true, "transit_encryption_enabled": true, "transit_encryption_mode": "required",
		"user_group_ids": "tfgroup", "snapshot_window": window, "maintenance_window": "tue:06:00-tue:07:00",
		"snapshot_retention_limit": 5, "parameter_group_name": "default.redis7", "subnet_group_name": "default",
		"security_group_ids": "sg-0123456789abcdef0", "auto_minor_version_upgrade": false,
		"notification_topic_arn": "arn:aws:sns:us-east-1:000000000000:events", "log_delivery_configuration": 1,
		"tags": "env=test,team=cache",
	}
	// Create (§2 Create 1): the arguments the provider always sends, and
	// the ones set.
	out, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-rg"), ReplicationGroupDescription: aws.String("tf managed"),
		AutomaticFailoverEnabled: aws.Bool(true), CacheNodeType: aws.String("cache.t4g.small"), TransitEncryptionEnabled: aws.Bool(true),
		Engine: aws.String("redis"), AtRestEncryptionEnabled: aws.Bool(true), AutoMinorVersionUpgrade: aws.Bool(false),
		EngineVersion: aws.String("7.0"), PreferredMaintenanceWindow: aws.String("tue:06:00-tue:07:00"), MultiAZEnabled: aws.Bool(true),
		NotificationTopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:events"), NumCacheClusters: aws.Int32(2),
		CacheParameterGroupName: aws.String("default.redis7"), CacheSubnetGroupName: aws.String("default"),
		SecurityGroupIds: []string{"sg-0123456789abcdef0"}, SnapshotRetentionLimit: aws.Int32(5), SnapshotWindow: aws.String(window),
		TransitEncryptionMode: types.TransitEncryptionModeRequired, UserGroupIds: []string{"tfgroup"},
		LogDeliveryConfigurations: []types.LogDeliveryConfigurationRequest{{
			LogType: types.LogTypeSlowLog, DestinationType: types.DestinationTypeCloudWatchLogs, LogFormat: types.LogFormatJson,
			DestinationDetails: &types.DestinationDetails{CloudWatchLogsDetails: &types.CloudWatchLogsDestinationDetails{LogGroup: aws.String("slow")}},
		}},
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("test")}, {Key: aws.String("team"), Value: aws.String("cache")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ReplicationGroup.ReplicationGroupId) != "tf-rg" {
		t.Fatalf("create answered id %q", aws.ToString(out.ReplicationGroup.ReplicationGroupId))
	}
	waitTF(t, "create", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(c, "tf-rg"))
	if d := tfPlan(config, tfReadReplicationGroup(t, c, "tf-rg"), rgOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}

	// Update (§2 Update 3): one ModifyReplicationGroup with the changed
	// attributes, then the waiter and Read.
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-rg"), ApplyImmediately: aws.Bool(true),
		ReplicationGroupDescription: aws.String("tf managed, v2"), SnapshotRetentionLimit: aws.Int32(7),
		SnapshotWindow: aws.String(window2), PreferredMaintenanceWindow: aws.String("wed:07:00-wed:08:00"),
		CacheNodeType: aws.String("cache.t4g.medium"), SecurityGroupIds: []string{"sg-0123456789abcdef0", "sg-00000000aaaaaaaa1"},
		AutoMinorVersionUpgrade: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	waitTF(t, "update", []string{"creating", "modifying", "snapshotting"}, "available", rgStatus(c, "tf-rg"))
	for k, v := range map[string]any{"description": "tf managed, v2", "snapshot_retention_limit": 7, "snapshot_window": window2,
		"maintenance_window": "wed:07:00-wed:08:00", "node_type": "cache.t4g.medium",
		"security_group_ids": "sg-0123456789abcdef0,sg-00000000aaaaaaaa1", "auto_minor_version_upgrade": true} {
		config[k] = v
	}
	if d := tfPlan(config, tfReadReplicationGroup(t, c, "tf-rg"), rgOptionalDefaults); len(d) > 0 {
		t.Errorf("plan after update is not empty:\n%s", strings.Join(d, "\n"))
	}

	// An update with nothing to change is what the provider tolerates.
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tf-rg"), ApplyImmediately: aws.Bool(true),
		SnapshotRetentionLimit: aws.Int32(7)})
	if code, msg := errorMessage(err); code != "InvalidParameterCombination" || !strings.Contains(msg, "No modifications were requested") {
		t.Errorf("no-op modify = %v", err)
	}
	// A node type change without ApplyImmediately is pending on the clusters (cache.t4g.large,
	// which ElastiCache does not offer, is now refused: TestReviewF7_UnknownNodeTypeRefused).
	if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("tf-rg"),
		CacheNodeType: aws.String("cache.m7g.large")}); err != nil {
		t.Fatal(err)
	}
	cc, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("tf-rg-002")})
	if err != nil {
		t.Fatal(err)
	}
	if got := cc.CacheClusters[0]; aws.ToString(got.CacheNodeType) != "cache.t4g.medium" || got.PendingModifiedValues == nil ||
		aws.ToString(got.PendingModifiedValues.CacheNodeType) != "cache.m7g.large" {
		t.Errorf("pending node type: %s, pending %+v", aws.ToString(got.CacheNodeType), got.PendingModifiedValues)
	}

	// Delete (§2 Delete), then the deleted waiter.
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("tf-rg")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "available", "deleting"}, "", rgStatus(c, "tf-rg"))
}

func TestReplicationGroup_SettingsErrors(t *testing.T) {
	ts := keywardtest.New(t)
	c := ts.Client
	base := func() *elasticache.CreateReplicationGroupInput {
		return &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("bad"), ReplicationGroupDescription: aws.String("d"),
			NumCacheClusters: aws.Int32(2), TransitEncryptionEnabled: aws.Bool(true)}
	}
	for _, tc := range []struct {
		name, code string
		status     int
		edit       func(*elasticache.CreateReplicationGroupInput)
	}{
		{"FailoverOneNode", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.NumCacheClusters, in.AutomaticFailoverEnabled = aws.Int32(1), aws.Bool(true)
		}},
		{"MultiAZWithoutFailover", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) { in.MultiAZEnabled = aws.Bool(true) }},
		{"BadMaintenanceWindow", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.PreferredMaintenanceWindow = aws.String("sun:05:00-sun:05:30")
		}},
		{"BadSnapshotWindow", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) { in.SnapshotWindow = aws.String("25:00-26:00") }},
		{"WindowsOverlap", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.SnapshotWindow, in.PreferredMaintenanceWindow = aws.String("05:00-06:00"), aws.String("mon:05:30-mon:06:30")
		}},
		{"RetentionTooLong", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) { in.SnapshotRetentionLimit = aws.Int32(36) }},
		{"MissingParameterGroup", "CacheParameterGroupNotFound", 404, func(in *elasticache.CreateReplicationGroupInput) {
			in.CacheParameterGroupName = aws.String("mine")
		}},
		{"MissingSubnetGroup", "CacheSubnetGroupNotFoundFault", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.CacheSubnetGroupName = aws.String("mine")
		}},
		{"CacheSecurityGroups", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.CacheSecurityGroupNames = []string{"default"}
		}},
		{"BadSecurityGroup", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) { in.SecurityGroupIds = []string{"nope"} }},
		{"AZCount", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.PreferredCacheClusterAZs = []string{"us-east-1a"}
		}},
		{"AZOtherRegion", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.PreferredCacheClusterAZs = []string{"us-east-1a", "eu-west-1b"}
		}},
		{"KmsWithoutAtRest", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) { in.KmsKeyId = aws.String("alias/x") }},
		{"PreferredTransitWithAuthToken", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.TransitEncryptionMode, in.AuthToken = types.TransitEncryptionModePreferred, aws.String("a-token-of-16-chars-or-more")
		}},
		{"BadTransitMode", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) {
			in.TransitEncryptionMode = "optional"
		}},
		{"DataTieringNodeType", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) { in.DataTieringEnabled = aws.Bool(true) }},
		{"IPv6", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) { in.NetworkType = types.NetworkTypeIpv6 }},
		{"PrivilegedPort", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) { in.Port = aws.Int32(443) }},
		{"PortOutOfRange", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) { in.Port = aws.Int32(70000) }},
		{"UnknownEngineVersion", "InvalidParameterCombination", 400, func(in *elasticache.CreateReplicationGroupInput) { in.EngineVersion = aws.String("7.5") }},
		{"EngineVersionNotRun", "InvalidParameterValue", 400, func(in *elasticache.CreateReplicationGroupInput) { in.EngineVersion = aws.String("6.2") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.edit(in)
			_, err := c.CreateReplicationGroup(t.Context(), in)
			keywardtest.WantError(t, err, tc.code, tc.status)
		})
	}
	// Nothing was created by the refused requests.
	_, err := c.DescribeReplicationGroups(t.Context(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("bad")})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
}

func TestMemberClusterTags(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("tagged"),
		ReplicationGroupDescription: aws.String("d"), NumCacheClusters: aws.Int32(2),
		Tags: []types.Tag{{Key: aws.String("env"), Value: aws.String("prod")}}}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "tagged", "available")
	cc, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("tagged-002")})
	if err != nil {
		t.Fatal(err)
	}
	member := cc.CacheClusters[0].ARN
	list := func(arn *string) string {
		out, err := c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: arn})
		if err != nil {
			t.Fatalf("ListTagsForResource(%s): %v", aws.ToString(arn), err)
		}
		return tagString(out.TagList)
	}
	if got := list(member); got != "env=prod" {
		t.Errorf("member cluster tags = %q, want the group's", got)
	}
	rgARN := aws.String(strings.Replace(aws.ToString(member), ":cluster:tagged-002", ":replicationgroup:tagged", 1))
	if _, err := c.AddTagsToResource(ctx, &elasticache.AddTagsToResourceInput{ResourceName: rgARN, Tags: []types.Tag{{Key: aws.String("owner"), Value: aws.String("me")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddTagsToResource(ctx, &elasticache.AddTagsToResourceInput{ResourceName: member, Tags: []types.Tag{{Key: aws.String("node"), Value: aws.String("2")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RemoveTagsFromResource(ctx, &elasticache.RemoveTagsFromResourceInput{ResourceName: rgARN, TagKeys: []string{"env"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := list(member), "node=2,owner=me"; got != want {
		t.Errorf("member cluster tags = %q, want %q", got, want)
	}
	if got, want := list(rgARN), "owner=me"; got != want {
		t.Errorf("group tags = %q, want %q", got, want)
	}
	other := aws.String(strings.Replace(aws.ToString(member), "tagged-002", "tagged-009", 1))
	_, err = c.ListTagsForResource(ctx, &elasticache.ListTagsForResourceInput{ResourceName: other})
	keywardtest.WantError(t, err, "CacheClusterNotFound", 404)
}

// tfReadServerless is the serverless cache's Read (§9): the framework
// resource fails the apply when a configured value does not come back.
func tfReadServerless(t *testing.T, c *elasticache.Client, name string) tfState {
	t.Helper()
	out, err := c.DescribeServerlessCaches(t.Context(), &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String(name)})
	if err != nil || len(out.ServerlessCaches) != 1 {
		t.Fatalf("Read: DescribeServerlessCaches(%s) = %v, %v", name, out, err)
	}
	sc := out.ServerlessCaches[0]
	s := tfState{
		"description": aws.ToString(sc.Description), "major_engine_version": aws.ToString(sc.MajorEngineVersion),
		"daily_snapshot_time": aws.ToString(sc.DailySnapshotTime), "snapshot_retention_limit": aws.ToInt32(sc.SnapshotRetentionLimit),
		"security_group_ids": strings.Join(sc.SecurityGroupIds, ","), "subnet_ids": strings.Join(sc.SubnetIds, ","),
		"user_group_id": aws.ToString(sc.UserGroupId), "kms_key_id": aws.ToString(sc.KmsKeyId), "engine": aws.ToString(sc.Engine),
	}
	if u := sc.CacheUsageLimits; u != nil {
		if u.DataStorage != nil {
			s["data_storage.maximum"] = aws.ToInt32(u.DataStorage.Maximum)
			s["data_storage.minimum"] = aws.ToInt32(u.DataStorage.Minimum)
			s["data_storage.unit"] = string(u.DataStorage.Unit)
		}
		if u.ECPUPerSecond != nil {
			s["ecpu_per_second.maximum"] = aws.ToInt32(u.ECPUPerSecond.Maximum)
			s["ecpu_per_second.minimum"] = aws.ToInt32(u.ECPUPerSecond.Minimum)
		}
	}
	return s
}

func serverlessStatus(c *elasticache.Client, name string) func() (string, bool) {
	return func() (string, bool) {
		out, err := c.DescribeServerlessCaches(context.Background(), &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String(name)})
		if code, _ := keywardtest.APIError(err); code == "ServerlessCacheNotFoundFault" {
			return "", false
		}
		if err != nil || len(out.ServerlessCaches) != 1 {
			return "error", true
		}
		return aws.ToString(out.ServerlessCaches[0].Status), true
	}
}

func TestTerraform_ServerlessCacheConsistent(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	// Its daily snapshots are away from the wall clock (awayFromNow).
	daily, daily2 := awayFromNow("04:30", "16:30"), awayFromNow("06:00", "18:00")
	config := tfState{
		"description": "tf serverless", "engine": "redis", "major_engine_version": "7",
		"data_storage.maximum": 10, "data_storage.minimum": 1, "data_storage.unit": "GB",
		"ecpu_per_second.maximum": 5000, "ecpu_per_second.minimum": 1000,
		"daily_snapshot_time": daily, "snapshot_retention_limit": 3,
		"security_group_ids": "sg-0123456789abcdef0", "subnet_ids": "subnet-0123456789abcdef0,subnet-00000000aaaaaaaa1",
		"kms_key_id": "alias/cache",
	}
	_, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{
		ServerlessCacheName: aws.String("tf-sls"), Engine: aws.String("redis"), Description: aws.String("tf serverless"),
		MajorEngineVersion: aws.String("7"),
		CacheUsageLimits: &types.CacheUsageLimits{
			DataStorage:   &types.DataStorage{Maximum: aws.Int32(10), Minimum: aws.Int32(1), Unit: types.DataStorageUnitGb},
			ECPUPerSecond: &types.ECPUPerSecond{Maximum: aws.Int32(5000), Minimum: aws.Int32(1000)},
		},
		DailySnapshotTime: aws.String(daily), SnapshotRetentionLimit: aws.Int32(3), KmsKeyId: aws.String("alias/cache"),
		SecurityGroupIds: []string{"sg-0123456789abcdef0"}, SubnetIds: []string{"subnet-0123456789abcdef0", "subnet-00000000aaaaaaaa1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitTF(t, "create", []string{"creating", "deleting", "modifying"}, "available", serverlessStatus(c, "tf-sls"))
	if d := tfPlan(config, tfReadServerless(t, c, "tf-sls"), nil); len(d) > 0 {
		t.Errorf("inconsistent result after create:\n%s", strings.Join(d, "\n"))
	}
	// Update (2026): one ModifyServerlessCache per changed field, each
	// followed by the waiter.
	for _, in := range []*elasticache.ModifyServerlessCacheInput{
		{Description: aws.String("tf serverless v2")},
		{DailySnapshotTime: aws.String(daily2)},
		{SnapshotRetentionLimit: aws.Int32(10)},
		{CacheUsageLimits: &types.CacheUsageLimits{DataStorage: &types.DataStorage{Maximum: aws.Int32(20), Minimum: aws.Int32(2), Unit: types.DataStorageUnitGb},
			ECPUPerSecond: &types.ECPUPerSecond{Maximum: aws.Int32(6000), Minimum: aws.Int32(1000)}}},
		{SecurityGroupIds: []string{"sg-00000000aaaaaaaa1"}},
	} {
		in.ServerlessCacheName = aws.String("tf-sls")
		if _, err := c.ModifyServerlessCache(ctx, in); err != nil {
			t.Fatalf("ModifyServerlessCache(%+v): %v", in, err)
		}
		waitTF(t, "update", []string{"creating", "deleting", "modifying"}, "available", serverlessStatus(c, "tf-sls"))
	}
	for k, v := range map[string]any{"description": "tf serverless v2", "daily_snapshot_time": daily2, "snapshot_retention_limit": 10,
		"data_storage.maximum": 20, "data_storage.minimum": 2, "ecpu_per_second.maximum": 6000, "security_group_ids": "sg-00000000aaaaaaaa1"} {
		config[k] = v
	}
	if d := tfPlan(config, tfReadServerless(t, c, "tf-sls"), nil); len(d) > 0 {
		t.Errorf("inconsistent result after update:\n%s", strings.Join(d, "\n"))
	}
	// Removing the limits: all zeros.
	if _, err := c.ModifyServerlessCache(ctx, &elasticache.ModifyServerlessCacheInput{ServerlessCacheName: aws.String("tf-sls"),
		CacheUsageLimits: &types.CacheUsageLimits{DataStorage: &types.DataStorage{Maximum: aws.Int32(0), Minimum: aws.Int32(0), Unit: types.DataStorageUnitGb},
			ECPUPerSecond: &types.ECPUPerSecond{Maximum: aws.Int32(0), Minimum: aws.Int32(0)}}}); err != nil {
		t.Fatal(err)
	}
	if s := tfReadServerless(t, c, "tf-sls"); s["data_storage.maximum"] != nil || s["ecpu_per_second.maximum"] != nil {
		t.Errorf("limits still reported after removal: %v", s)
	}
	for _, bad := range []struct {
		name string
		in   *elasticache.ModifyServerlessCacheInput
		code string
	}{
		{"BadSnapshotTime", &elasticache.ModifyServerlessCacheInput{DailySnapshotTime: aws.String("7am")}, "InvalidParameterValue"},
		{"BadRetention", &elasticache.ModifyServerlessCacheInput{SnapshotRetentionLimit: aws.Int32(99)}, "InvalidParameterValue"},
		{"BadLimits", &elasticache.ModifyServerlessCacheInput{CacheUsageLimits: &types.CacheUsageLimits{
			DataStorage: &types.DataStorage{Maximum: aws.Int32(1), Minimum: aws.Int32(5), Unit: types.DataStorageUnitGb}}}, "InvalidParameterCombination"},
		{"OtherMajorVersion", &elasticache.ModifyServerlessCacheInput{MajorEngineVersion: aws.String("6")}, "InvalidParameterValue"},
	} {
		bad.in.ServerlessCacheName = aws.String("tf-sls")
		_, err := c.ModifyServerlessCache(ctx, bad.in)
		keywardtest.WantError(t, err, bad.code, 400)
	}
	if _, err := c.DeleteServerlessCache(ctx, &elasticache.DeleteServerlessCacheInput{ServerlessCacheName: aws.String("tf-sls")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "deleting", "modifying"}, "", serverlessStatus(c, "tf-sls"))
}
