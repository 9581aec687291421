package api_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/hashicorp/go-version"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// transitModify sends ModifyReplicationGroup with in-transit encryption
// settings, ApplyImmediately as given.
func transitModify(c *elasticache.Client, id string, enabled *bool, mode types.TransitEncryptionMode, now bool) error {
	_, err := c.ModifyReplicationGroup(context.Background(), &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ApplyImmediately: aws.Bool(now),
		TransitEncryptionEnabled: enabled, TransitEncryptionMode: mode,
	})
	return err
}

// transitReported checks what DescribeReplicationGroups and the member
// clusters report.
func transitReported(t *testing.T, c *elasticache.Client, rg types.ReplicationGroup, enabled bool, mode string) {
	t.Helper()
	if aws.ToBool(rg.TransitEncryptionEnabled) != enabled || string(rg.TransitEncryptionMode) != mode {
		t.Errorf("group reports TransitEncryptionEnabled %v mode %q, want %v %q", aws.ToBool(rg.TransitEncryptionEnabled), rg.TransitEncryptionMode, enabled, mode)
	}
	for _, m := range rg.MemberClusters {
		out, err := c.DescribeCacheClusters(t.Context(), &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(m)})
		if err != nil {
			t.Fatal(err)
		}
		cl := out.CacheClusters[0]
		if aws.ToBool(cl.TransitEncryptionEnabled) != enabled || string(cl.TransitEncryptionMode) != mode {
			t.Errorf("%s reports TransitEncryptionEnabled %v mode %q, want %v %q", m, aws.ToBool(cl.TransitEncryptionEnabled), cl.TransitEncryptionMode, enabled, mode)
		}
	}
}

// TestTransitEncryption_EnableOnRunningGroup: a group made without TLS
// goes to mode preferred (TLS and plain-text clients on the same
// endpoints, data kept), then to required (plain text refused), through
// modifying and back to available, as ElastiCache's two-step migration.
func TestTransitEncryption_EnableOnRunningGroup(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	createRG(t, c, "move", 2, false)
	rg := waitRG(t, c, "move", "available")
	plain := rgNodes(t, ts, rg)
	p := plain[0].client("", "")
	defer p.Close()
	if err := p.Set(ctx, "kept", "before-tls", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// ElastiCache's refusals: straight to required, without
	// ApplyImmediately, a mode without TransitEncryptionEnabled.
	if code, msg := errorMessage(transitModify(c, "move", aws.Bool(true), types.TransitEncryptionModeRequired, true)); code != "InvalidParameterCombination" || !strings.Contains(msg, "preferred") {
		t.Errorf("disabled → required: %s %s", code, msg)
	}
	if code, msg := errorMessage(transitModify(c, "move", aws.Bool(true), "", true)); code != "InvalidParameterCombination" || !strings.Contains(msg, "preferred") {
		t.Errorf("TransitEncryptionEnabled alone: %s %s", code, msg)
	}
	if code, msg := errorMessage(transitModify(c, "move", aws.Bool(true), types.TransitEncryptionModePreferred, false)); code != "InvalidParameterValue" || !strings.Contains(msg, "applied immediately") {
		t.Errorf("without ApplyImmediately: %s %s", code, msg)
	}
	if code, _ := errorMessage(transitModify(c, "move", nil, types.TransitEncryptionModePreferred, true)); code != "InvalidParameterCombination" {
		t.Errorf("mode without TransitEncryptionEnabled: %s", code)
	}
	if code, _ := errorMessage(transitModify(c, "move", aws.Bool(true), "optional", true)); code != "InvalidParameterValue" {
		t.Errorf("mode optional: %s", code)
	}
	transitReported(t, c, waitRG(t, c, "move", "available"), false, "")

	// Step 1: preferred.
	if err := transitModify(c, "move", aws.Bool(true), types.TransitEncryptionModePreferred, true); err != nil {
		t.Fatal(err)
	}
	if st, _ := rgStatus(c, "move")(); st != "modifying" {
		t.Errorf("status after the modify: %s, want modifying", st)
	}
	rg = waitRGWithin(t, c, "move", "available", 60*time.Second)
	transitReported(t, c, rg, true, "preferred")
	tlsNodes := rgNodes(t, ts, rg)
	ep := node{addr: endpointAddr(rg.NodeGroups[0].PrimaryEndpoint), tls: ts.Engine().TLSConfig()}
	for i, n := range []node{tlsNodes[0], tlsNodes[1], ep} {
		for _, tlsConf := range []bool{true, false} {
			if !tlsConf {
				n.tls = nil
			}
			cl := n.client("", "")
			got, err := cl.Get(ctx, "kept").Result()
			cl.Close()
			if err != nil || got != "before-tls" {
				t.Errorf("preferred, node %d (TLS %v): GET = %q, %v", i, tlsConf, got, err)
			}
		}
	}
	if err := ep.client("", "").Set(ctx, "tls-write", "1", 0).Err(); err != nil {
		t.Errorf("TLS write on the primary endpoint: %v", err)
	}

	// Step 2: required.
	if err := transitModify(c, "move", nil, types.TransitEncryptionModeRequired, true); err != nil {
		t.Fatal(err)
	}
	rg = waitRGWithin(t, c, "move", "available", 60*time.Second)
	transitReported(t, c, rg, true, "required")
	ep.tls = ts.Engine().TLSConfig()
	tc := ep.client("", "")
	defer tc.Close()
	for _, k := range []string{"kept", "tls-write"} {
		if err := tc.Get(ctx, k).Err(); err != nil {
			t.Errorf("required: TLS GET %s: %v", k, err)
		}
	}
	pc := redis.NewClient(&redis.Options{Addr: ep.addr, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true})
	defer pc.Close()
	if err := pc.Ping(ctx).Err(); err == nil {
		t.Error("required: a plain-text client is served")
	}
	// Back to disabled: ElastiCache wants preferred first.
	if code, msg := errorMessage(transitModify(c, "move", aws.Bool(false), "", true)); code != "InvalidParameterCombination" || !strings.Contains(msg, "preferred") {
		t.Errorf("required → disabled: %s %s", code, msg)
	}
	if code, _ := errorMessage(transitModify(c, "move", aws.Bool(false), types.TransitEncryptionModePreferred, true)); code != "InvalidParameterCombination" {
		t.Errorf("TransitEncryptionEnabled false with a mode: %s", code)
	}
	if err := transitModify(c, "move", nil, types.TransitEncryptionModePreferred, true); err != nil {
		t.Fatal(err)
	}
	waitRGWithin(t, c, "move", "available", 60*time.Second)
	if err := transitModify(c, "move", aws.Bool(false), "", true); err != nil {
		t.Fatal(err)
	}
	rg = waitRGWithin(t, c, "move", "available", 60*time.Second)
	transitReported(t, c, rg, false, "")
	if got := endpointAddr(rg.NodeGroups[0].PrimaryEndpoint); got != ep.addr {
		t.Errorf("the primary endpoint moved from %s to %s", ep.addr, got)
	}
	for i, n := range rgNodes(t, ts, rg) {
		if n.addr != tlsNodes[i].addr {
			t.Errorf("node %d moved from %s to %s", i, tlsNodes[i].addr, n.addr)
		}
		cl := n.client("", "")
		keywardtest.Eventually(t, 10*time.Second, "plain-text GET on node "+n.addr, func() bool {
			got, err := cl.Get(ctx, "tls-write").Result()
			return err == nil && got == "1"
		})
		cl.Close()
		// A TLS handshake gets no answer from a plain-text node.
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: ts.Engine().TLSConfig()}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if conn, err := d.DialContext(hctx, "tcp", n.addr); err == nil {
			conn.Close()
			t.Errorf("disabled: node %d serves TLS", i)
		}
		cancel()
	}
}

// tfTransitForcesNew is the provider's CustomizeDiff for a change of
// transit_encryption_enabled (terraform-provider.md §2): ForceNew when
// engine_version_actual, read from the member cluster, is below 7.0.5. A
// member cluster reporting "7.0" parses as 7.0.0 and forces replacement.
func tfTransitForcesNew(t *testing.T, state tfState) bool {
	t.Helper()
	actual, _ := state["engine_version_actual"].(string)
	v, err := version.NewVersion(actual)
	if err != nil {
		t.Fatalf("engine_version_actual %q does not parse: %v", actual, err)
	}
	return v.LessThan(version.Must(version.NewVersion("7.0.5")))
}

func endpointAddr(e *types.Endpoint) string {
	return net.JoinHostPort(aws.ToString(e.Address), strconv.Itoa(int(aws.ToInt32(e.Port))))
}

// TestTerraform_TransitEncryptionToggle replays the provider's Update for
// transit_encryption_enabled / transit_encryption_mode (terraform-provider.md
// §2 Update 3: one ModifyReplicationGroup with the changed attributes,
// ApplyImmediately = apply_immediately, then the waiter and Read): off →
// on/preferred → required → preferred → off, each apply ending with an
// empty plan.
func TestTerraform_TransitEncryptionToggle(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	config := tfState{"description": "tf tls", "num_cache_clusters": 2, "node_type": "cache.t4g.small", "engine": "redis",
		"engine_version": "7.0", "transit_encryption_enabled": false, "transit_encryption_mode": ""}
	replayTransitToggle(t, ts.Client, config, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-tls"), ReplicationGroupDescription: aws.String("tf tls"),
		AutomaticFailoverEnabled: aws.Bool(false), CacheNodeType: aws.String("cache.t4g.small"), TransitEncryptionEnabled: aws.Bool(false),
		Engine: aws.String("redis"), EngineVersion: aws.String("7.0"), NumCacheClusters: aws.Int32(2),
	})
}

// replayTransitToggle creates the group as the provider does, then replays
// its four in-place updates (off → on/preferred → required → preferred →
// off), each followed by the waiter and a Read whose plan against config
// must be empty, then deletes the group.
func replayTransitToggle(t *testing.T, c *elasticache.Client, config tfState, create *elasticache.CreateReplicationGroupInput) {
	t.Helper()
	ctx := t.Context()
	id := aws.ToString(create.ReplicationGroupId)
	if _, err := c.CreateReplicationGroup(ctx, create); err != nil {
		t.Fatal(err)
	}
	pending := []string{"creating", "modifying", "snapshotting"}
	waitTF(t, "create", pending, "available", rgStatus(c, id))
	if d := tfPlan(config, tfReadReplicationGroup(t, c, id), rgOptionalDefaults); len(d) > 0 {
		t.Fatalf("plan after create is not empty:\n%s", strings.Join(d, "\n"))
	}
	steps := []struct {
		enabled *bool // sent when it changes
		mode    types.TransitEncryptionMode
		state   tfState
	}{
		{aws.Bool(true), types.TransitEncryptionModePreferred, tfState{"transit_encryption_enabled": true, "transit_encryption_mode": "preferred"}},
		{nil, types.TransitEncryptionModeRequired, tfState{"transit_encryption_enabled": true, "transit_encryption_mode": "required"}},
		{nil, types.TransitEncryptionModePreferred, tfState{"transit_encryption_enabled": true, "transit_encryption_mode": "preferred"}},
		{aws.Bool(false), "", tfState{"transit_encryption_enabled": false, "transit_encryption_mode": ""}},
	}
	for i, st := range steps {
		waitTF(t, "before update", pending, "available", rgStatus(c, id))
		if st.enabled != nil && tfTransitForcesNew(t, tfReadReplicationGroup(t, c, id)) {
			t.Fatalf("step %d: the provider would replace the group to change transit_encryption_enabled", i)
		}
		if _, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
			ReplicationGroupId: aws.String(id), ApplyImmediately: aws.Bool(true),
			TransitEncryptionEnabled: st.enabled, TransitEncryptionMode: st.mode,
		}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		waitTF(t, "update", pending, "available", rgStatus(c, id))
		for k, v := range st.state {
			config[k] = v
		}
		if d := tfPlan(config, tfReadReplicationGroup(t, c, id), rgOptionalDefaults); len(d) > 0 {
			t.Errorf("plan after step %d is not empty:\n%s", i, strings.Join(d, "\n"))
		}
	}
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "available", "deleting"}, "", rgStatus(c, id))
}

// TestTransitEncryption_CreatePreferred: CreateReplicationGroup with mode
// preferred serves both kinds of client; an AUTH token or a user group
// does not go with preferred, as on ElastiCache.
func TestTransitEncryption_CreatePreferred(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	create := func(id string, token *string) error {
		_, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
			ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("preferred"), NumCacheClusters: aws.Int32(1),
			TransitEncryptionEnabled: aws.Bool(true), TransitEncryptionMode: types.TransitEncryptionModePreferred, AuthToken: token,
		})
		return err
	}
	if code, msg := errorMessage(create("pref-auth", aws.String("a-token-of-16-chars-or-more"))); code != "InvalidParameterCombination" || !strings.Contains(msg, "preferred") {
		t.Errorf("preferred with an AUTH token: %s %s", code, msg)
	}
	if code, _ := errorMessage(create("pref-mode", nil)); code != "" {
		t.Fatal(code)
	}
	rg := waitRGWithin(t, c, "pref-mode", "available", 30*time.Second)
	transitReported(t, c, rg, true, "preferred")
	n := node{addr: endpointAddr(rg.NodeGroups[0].PrimaryEndpoint), tls: ts.Engine().TLSConfig()}
	tc := n.client("", "")
	defer tc.Close()
	if err := tc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Errorf("TLS client: %v", err)
	}
	n.tls = nil
	pc := n.client("", "")
	defer pc.Close()
	if got, err := pc.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Errorf("plain-text client: %q, %v", got, err)
	}
	_, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("pref-mode"),
		ApplyImmediately: aws.Bool(true), AuthToken: aws.String("a-token-of-16-chars-or-more")})
	if code, _ := errorMessage(err); code != "InvalidParameterCombination" {
		t.Errorf("AUTH token on a preferred group: %v", err)
	}
}

// TestTransitEncryption_ClusterModeMigration: a cluster-mode-enabled group
// of 3 shards made without TLS goes to mode preferred (a plain-text and a
// TLS cluster client both reach every shard through the same
// configuration endpoint and node ports), then to required (plain text
// refused, data kept), and back through preferred to disabled, as
// ElastiCache's online migration of a cluster-mode group.
func TestTransitEncryption_ClusterModeMigration(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	const id = "cmtls"
	eventually := func(timeout time.Duration, what string, cond func() bool) {
		t.Helper()
		start := time.Now()
		keywardtest.Eventually(t, timeout, what, cond)
		t.Logf("%s after %v", what, time.Since(start).Round(time.Millisecond))
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("cluster mode tls"),
		NumNodeGroups: aws.Int32(3), ReplicasPerNodeGroup: aws.Int32(1), AutomaticFailoverEnabled: aws.Bool(true),
		TransitEncryptionEnabled: aws.Bool(false), CacheParameterGroupName: aws.String("default.redis7.cluster.on"),
	}); err != nil {
		t.Fatal(err)
	}
	rg := waitRGWithin(t, c, id, "available", 60*time.Second)
	config := endpointAddr(rg.ConfigurationEndpoint)
	cluster := func(tlsConf *tls.Config) *redis.ClusterClient {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{config}, TLSConfig: tlsConf, MaxRetries: 2,
			DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true})
	}
	// writeAll writes n keys through cl and checks that every shard's
	// primary got some: the keys cover the slots of all three shards.
	writeAll := func(what string, cl *redis.ClusterClient, prefix string, n int) {
		t.Helper()
		for i := range n {
			if err := cl.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), i, 0).Err(); err != nil {
				t.Fatalf("%s: SET %s:%d: %v", what, prefix, i, err)
			}
		}
		if shards, err := shardsHoldingKeys(ctx, cl); err != nil || shards != 3 {
			t.Fatalf("%s: %d shards hold keys (%v), want 3", what, shards, err)
		}
	}
	readAll := func(what string, cl *redis.ClusterClient, prefix string, n int) {
		t.Helper()
		for i := range n {
			if got, err := cl.Get(ctx, fmt.Sprintf("%s:%d", prefix, i)).Result(); err != nil || got != fmt.Sprint(i) {
				t.Fatalf("%s: GET %s:%d = %q, %v", what, prefix, i, got, err)
			}
		}
	}
	// nodeAddrs is what every node reachable through cl tells it of the
	// cluster (CLUSTER NODES): the nodes' addresses, sorted, if all agree.
	nodeAddrs := func(cl *redis.ClusterClient) string {
		var mu sync.Mutex
		views := map[string]bool{}
		err := cl.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			text, err := n.ClusterNodes(ctx).Result()
			if err != nil {
				return err
			}
			var addrs []string
			for line := range strings.Lines(text) {
				if f := strings.Fields(line); len(f) > 1 {
					addr, _, _ := strings.Cut(f[1], "@")
					addrs = append(addrs, addr)
				}
			}
			slices.Sort(addrs)
			mu.Lock()
			views[strings.Join(addrs, " ")] = true
			mu.Unlock()
			return nil
		})
		if err != nil || len(views) != 1 {
			return fmt.Sprintf("%v %v", views, err)
		}
		for v := range views {
			return v
		}
		return ""
	}
	// primaries names each shard's primary: a failover during a move is
	// logged (the nodes restart within the cluster node timeout).
	primaries := func(rg types.ReplicationGroup) string {
		var p []string
		for _, ng := range rg.NodeGroups {
			for _, m := range ng.NodeGroupMembers {
				if aws.ToString(m.CurrentRole) == "primary" {
					p = append(p, aws.ToString(m.CacheClusterId))
				}
			}
		}
		return strings.Join(p, " ")
	}
	before := primaries(rg)
	failover := func(step string, rg types.ReplicationGroup) {
		if now := primaries(rg); now != before {
			t.Logf("%s: the primaries were %s, now %s", step, before, now)
			before = now
		}
	}
	plain := cluster(nil)
	defer plain.Close()
	writeAll("disabled", plain, "before", 300)
	addrs := nodeAddrs(plain)
	if n := len(strings.Fields(addrs)); n != 6 {
		t.Fatalf("the nodes name %q, want 6 nodes", addrs)
	}

	// ElastiCache's refusals, as for a cluster-mode-disabled group.
	if code, msg := errorMessage(transitModify(c, id, aws.Bool(true), types.TransitEncryptionModeRequired, true)); code != "InvalidParameterCombination" || !strings.Contains(msg, "preferred") {
		t.Errorf("disabled → required: %s %s", code, msg)
	}
	if code, msg := errorMessage(transitModify(c, id, aws.Bool(true), "", true)); code != "InvalidParameterCombination" || !strings.Contains(msg, "preferred") {
		t.Errorf("TransitEncryptionEnabled alone: %s %s", code, msg)
	}
	if code, msg := errorMessage(transitModify(c, id, aws.Bool(true), types.TransitEncryptionModePreferred, false)); code != "InvalidParameterValue" || !strings.Contains(msg, "applied immediately") {
		t.Errorf("without ApplyImmediately: %s %s", code, msg)
	}
	if code, _ := errorMessage(transitModify(c, id, nil, types.TransitEncryptionModePreferred, true)); code != "InvalidParameterCombination" {
		t.Errorf("mode without TransitEncryptionEnabled: %s", code)
	}
	transitReported(t, c, waitRG(t, c, id, "available"), false, "")

	// Step 1: preferred.
	start := time.Now()
	if err := transitModify(c, id, aws.Bool(true), types.TransitEncryptionModePreferred, true); err != nil {
		t.Fatal(err)
	}
	if st, _ := rgStatus(c, id)(); st != "modifying" {
		t.Errorf("status after the modify: %s, want modifying", st)
	}
	rg = waitRGWithin(t, c, id, "available", 90*time.Second)
	t.Logf("disabled → preferred: available after %v", time.Since(start).Round(time.Millisecond))
	failover("disabled → preferred", rg)
	transitReported(t, c, rg, true, "preferred")
	if got := endpointAddr(rg.ConfigurationEndpoint); got != config {
		t.Errorf("the configuration endpoint moved from %s to %s", config, got)
	}
	tlsCl := cluster(ts.Engine().TLSConfig())
	defer tlsCl.Close()
	plain2 := cluster(nil) // a new plain-text client, which learns the topology anew
	defer plain2.Close()
	for _, cl := range []struct {
		what string
		cl   *redis.ClusterClient
	}{{"preferred, plain text", plain2}, {"preferred, TLS", tlsCl}} {
		readAll(cl.what, cl.cl, "before", 300)
		eventually(20*time.Second, cl.what+": every node names every node at its address", func() bool {
			return nodeAddrs(cl.cl) == addrs
		})
	}
	writeAll("preferred, plain text", plain2, "plain", 300)
	writeAll("preferred, TLS", tlsCl, "tls", 300)
	readAll("preferred, plain text", plain2, "tls", 300)
	readAll("preferred, TLS", tlsCl, "plain", 300)

	// Step 2: required.
	start = time.Now()
	if err := transitModify(c, id, nil, types.TransitEncryptionModeRequired, true); err != nil {
		t.Fatal(err)
	}
	rg = waitRGWithin(t, c, id, "available", 90*time.Second)
	t.Logf("preferred → required: available after %v", time.Since(start).Round(time.Millisecond))
	failover("preferred → required", rg)
	transitReported(t, c, rg, true, "required")
	for _, p := range []string{"before", "plain", "tls"} {
		readAll("required, TLS", tlsCl, p, 300)
	}
	writeAll("required, TLS", tlsCl, "required", 300)
	pc := redis.NewClient(&redis.Options{Addr: config, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true})
	defer pc.Close()
	if err := pc.Ping(ctx).Err(); err == nil {
		t.Error("required: a plain-text client is served on the configuration endpoint")
	}
	for _, a := range strings.Fields(addrs) {
		n := redis.NewClient(&redis.Options{Addr: a, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true})
		if err := n.Ping(ctx).Err(); err == nil {
			t.Errorf("required: node %s serves a plain-text client", a)
		}
		n.Close()
	}
	plain3 := cluster(nil)
	defer plain3.Close()
	if err := plain3.Set(ctx, "refused", 1, 0).Err(); err == nil {
		t.Error("required: a plain-text cluster client wrote")
	}

	// Back: required → disabled is refused; preferred, then disabled.
	if code, msg := errorMessage(transitModify(c, id, aws.Bool(false), "", true)); code != "InvalidParameterCombination" || !strings.Contains(msg, "preferred") {
		t.Errorf("required → disabled: %s %s", code, msg)
	}
	if err := transitModify(c, id, nil, types.TransitEncryptionModePreferred, true); err != nil {
		t.Fatal(err)
	}
	rg = waitRGWithin(t, c, id, "available", 90*time.Second)
	transitReported(t, c, rg, true, "preferred")
	start = time.Now()
	if err := transitModify(c, id, aws.Bool(false), "", true); err != nil {
		t.Fatal(err)
	}
	rg = waitRGWithin(t, c, id, "available", 90*time.Second)
	t.Logf("preferred → disabled: available after %v", time.Since(start).Round(time.Millisecond))
	failover("preferred → disabled", rg)
	transitReported(t, c, rg, false, "")
	plain4 := cluster(nil)
	defer plain4.Close()
	for _, p := range []string{"before", "plain", "tls", "required"} {
		readAll("disabled again", plain4, p, 300)
	}
	if got := nodeAddrs(plain4); got != addrs {
		t.Errorf("disabled again: the nodes name %q, was %q", got, addrs)
	}
	writeAll("disabled again", plain4, "after", 300)
	for _, a := range strings.Fields(addrs) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: ts.Engine().TLSConfig()}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if conn, err := d.DialContext(hctx, "tcp", a); err == nil {
			conn.Close()
			t.Errorf("disabled: node %s serves TLS", a)
		}
		cancel()
	}
}

// TestTransitEncryption_ClusterModeCreatePreferred: a cluster-mode-enabled
// group created with mode preferred serves a plain-text and a TLS cluster
// client on every shard, also on a shard added later.
func TestTransitEncryption_ClusterModeCreatePreferred(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("cmpref"), ReplicationGroupDescription: aws.String("preferred"), NumNodeGroups: aws.Int32(2),
		AutomaticFailoverEnabled: aws.Bool(true), CacheParameterGroupName: aws.String("default.redis7.cluster.on"),
		TransitEncryptionEnabled: aws.Bool(true), TransitEncryptionMode: types.TransitEncryptionModePreferred,
	}); err != nil {
		t.Fatal(err)
	}
	rg := waitRGWithin(t, c, "cmpref", "available", 60*time.Second)
	transitReported(t, c, rg, true, "preferred")
	check := func(what string, shards int) {
		t.Helper()
		for _, tlsConf := range []*tls.Config{ts.Engine().TLSConfig(), nil} {
			cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{endpointAddr(rg.ConfigurationEndpoint)}, TLSConfig: tlsConf,
				MaxRetries: 2, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, DisableIdentity: true})
			defer cl.Close()
			prefix := fmt.Sprintf("%s-tls-%v", what, tlsConf != nil)
			for i := range 100 {
				if err := cl.Set(ctx, fmt.Sprintf("%s:%d", prefix, i), i, 0).Err(); err != nil {
					t.Fatalf("%s: SET: %v", prefix, err)
				}
			}
			if n, err := shardsHoldingKeys(ctx, cl); err != nil || n != shards {
				t.Errorf("%s: %d shards hold keys (%v), want %d", prefix, n, err, shards)
			}
		}
	}
	check("created", 2)
	// A shard added to a preferred group serves both kinds of client too.
	if _, err := c.ModifyReplicationGroupShardConfiguration(ctx, &elasticache.ModifyReplicationGroupShardConfigurationInput{
		ReplicationGroupId: aws.String("cmpref"), NodeGroupCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	rg = waitRGWithin(t, c, "cmpref", "available", 60*time.Second)
	if len(rg.NodeGroups) != 3 {
		t.Fatalf("%d node groups after the scale-out", len(rg.NodeGroups))
	}
	transitReported(t, c, rg, true, "preferred")
	check("scaled", 3)
}

// TestTerraform_ClusterModeTransitEncryptionToggle replays the provider's
// Update of transit_encryption_enabled / transit_encryption_mode on a
// cluster-mode-enabled group (as TestTerraform_TransitEncryptionToggle):
// off → on/preferred → required → preferred → off in place, each apply
// ending with an empty plan.
func TestTerraform_ClusterModeTransitEncryptionToggle(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	config := tfState{
		"description": "tf cluster tls", "num_node_groups": 2, "replicas_per_node_group": 1, "node_type": "cache.t4g.small",
		"engine": "redis", "engine_version": "7.0", "automatic_failover_enabled": true, "transit_encryption_enabled": false,
		"transit_encryption_mode": "", "parameter_group_name": "default.redis7.cluster.on", "cluster_mode": "enabled", "num_cache_clusters": 4,
	}
	replayTransitToggle(t, ts.Client, config, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-cmtls"), ReplicationGroupDescription: aws.String("tf cluster tls"),
		AutomaticFailoverEnabled: aws.Bool(true), CacheNodeType: aws.String("cache.t4g.small"), TransitEncryptionEnabled: aws.Bool(false),
		Engine: aws.String("redis"), EngineVersion: aws.String("7.0"), ClusterMode: types.ClusterModeEnabled,
		NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1), CacheParameterGroupName: aws.String("default.redis7.cluster.on"),
	})
}
