package api_test

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
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
	c := ts.Client
	ctx := t.Context()
	config := tfState{"description": "tf tls", "num_cache_clusters": 2, "node_type": "cache.t4g.small", "engine": "redis",
		"engine_version": "7.0", "transit_encryption_enabled": false, "transit_encryption_mode": ""}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("tf-tls"), ReplicationGroupDescription: aws.String("tf tls"),
		AutomaticFailoverEnabled: aws.Bool(false), CacheNodeType: aws.String("cache.t4g.small"), TransitEncryptionEnabled: aws.Bool(false),
		Engine: aws.String("redis"), EngineVersion: aws.String("7.0"), NumCacheClusters: aws.Int32(2),
	}); err != nil {
		t.Fatal(err)
	}
	pending := []string{"creating", "modifying", "snapshotting"}
	waitTF(t, "create", pending, "available", rgStatus(c, "tf-tls"))
	if d := tfPlan(config, tfReadReplicationGroup(t, c, "tf-tls"), rgOptionalDefaults); len(d) > 0 {
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
		waitTF(t, "before update", pending, "available", rgStatus(c, "tf-tls"))
		if st.enabled != nil && tfTransitForcesNew(t, tfReadReplicationGroup(t, c, "tf-tls")) {
			t.Fatalf("step %d: the provider would replace the group to change transit_encryption_enabled", i)
		}
		_, err := c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
			ReplicationGroupId: aws.String("tf-tls"), ApplyImmediately: aws.Bool(true),
			TransitEncryptionEnabled: st.enabled, TransitEncryptionMode: st.mode,
		})
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		waitTF(t, "update", pending, "available", rgStatus(c, "tf-tls"))
		for k, v := range st.state {
			config[k] = v
		}
		if d := tfPlan(config, tfReadReplicationGroup(t, c, "tf-tls"), rgOptionalDefaults); len(d) > 0 {
			t.Errorf("plan after step %d is not empty:\n%s", i, strings.Join(d, "\n"))
		}
	}
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("tf-tls")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"creating", "available", "deleting"}, "", rgStatus(c, "tf-tls"))
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
