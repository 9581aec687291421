package api_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// startSource starts a redis-server that keyward does not run, as an online
// migration's source, and returns its port and a client.
func startSource(t *testing.T, args ...string) (int, *redis.Client) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	argv := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)
	cmd := exec.Command(redistest.Binary(t), argv...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pass := ""
	if i := slices.Index(args, "--requirepass"); i >= 0 && i+1 < len(args) {
		pass = args[i+1]
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: pass, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	keywardtest.Eventually(t, 10*time.Second, "source up", func() bool { return c.Ping(context.Background()).Err() == nil })
	return port, c
}

// createMigrationTarget creates a replication group that meets online
// migration's requirements: two nodes, Multi-AZ, no in-transit encryption.
func createMigrationTarget(t *testing.T, c *elasticache.Client, id string) {
	t.Helper()
	if _, err := c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("migration target"), NumCacheClusters: aws.Int32(2),
		AutomaticFailoverEnabled: aws.Bool(true), MultiAZEnabled: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
}

func endpointList(port int) []types.CustomerNodeEndpoint {
	return []types.CustomerNodeEndpoint{{Address: aws.String("127.0.0.1"), Port: aws.Int32(int32(port))}}
}

// TestMigration_ReplicationGroup: a replication group started migrating
// from a test-started redis-server gets its keys, on the primary and the
// replicas, follows its writes while refusing its own, and takes writes
// after CompleteMigration. Faults as ElastiCache answers them.
func TestMigration_ReplicationGroup(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	srcPort, src := startSource(t)
	for i := range 100 {
		if err := src.Set(ctx, fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	createMigrationTarget(t, c, "mig")
	rg := waitRG(t, c, "mig", "available")
	nodes := rgNodes(t, ts, rg)
	primary, replica := nodes[0].client("", ""), nodes[1].client("", "")
	defer primary.Close()
	defer replica.Close()
	if err := primary.Set(ctx, "target-only", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// Faults before any migration.
	_, err := c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("nope"), CustomerNodeEndpointList: endpointList(srcPort)})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	_, err = c.TestMigration(ctx, &elasticache.TestMigrationInput{ReplicationGroupId: aws.String("nope"), CustomerNodeEndpointList: endpointList(srcPort)})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	_, err = c.CompleteMigration(ctx, &elasticache.CompleteMigrationInput{ReplicationGroupId: aws.String("mig")})
	keywardtest.WantError(t, err, "ReplicationGroupNotUnderMigrationFault", 400)
	_, err = c.CompleteMigration(ctx, &elasticache.CompleteMigrationInput{ReplicationGroupId: aws.String("nope")})
	keywardtest.WantError(t, err, "ReplicationGroupNotFoundFault", 404)
	two := append(endpointList(srcPort), endpointList(srcPort)...)
	_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("mig"), CustomerNodeEndpointList: two})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("mig"),
		CustomerNodeEndpointList: []types.CustomerNodeEndpoint{{Address: aws.String("10.0.0.1"), Port: aws.Int32(6379)}}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("mig"),
		CustomerNodeEndpointList: endpointList(int(aws.ToInt32(rg.NodeGroups[0].PrimaryEndpoint.Port)))})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400) // its own primary
	// TestMigration checks the source is reachable.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()
	_, err = c.TestMigration(ctx, &elasticache.TestMigrationInput{ReplicationGroupId: aws.String("mig"), CustomerNodeEndpointList: endpointList(deadPort)})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	if code, msg := errorMessage(err); code != "InvalidParameterValue" || !strings.Contains(msg, "not reachable") {
		t.Errorf("TestMigration of a dead source: %s %q", code, msg)
	}
	tm, err := c.TestMigration(ctx, &elasticache.TestMigrationInput{ReplicationGroupId: aws.String("mig"), CustomerNodeEndpointList: endpointList(srcPort)})
	if err != nil || aws.ToString(tm.ReplicationGroup.Status) != "available" {
		t.Fatalf("TestMigration: %v %v", tm, err)
	}

	out, err := c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("Mig"), CustomerNodeEndpointList: endpointList(srcPort)})
	if err != nil {
		t.Fatal(err)
	}
	if s := aws.ToString(out.ReplicationGroup.Status); s != "migrating" {
		t.Errorf("StartMigration answered status %s", s)
	}
	_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("mig"), CustomerNodeEndpointList: endpointList(srcPort)})
	keywardtest.WantError(t, err, "ReplicationGroupAlreadyUnderMigrationFault", 400)
	_, err = c.TestMigration(ctx, &elasticache.TestMigrationInput{ReplicationGroupId: aws.String("mig"), CustomerNodeEndpointList: endpointList(srcPort)})
	keywardtest.WantError(t, err, "ReplicationGroupAlreadyUnderMigrationFault", 400)
	_, err = c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{ReplicationGroupId: aws.String("mig"), ReplicationGroupDescription: aws.String("x")})
	keywardtest.WantError(t, err, "InvalidReplicationGroupState", 400)

	// The source's keys reach the primary and the replica; the target's own
	// key is gone (a full sync replaces the data set).
	for _, n := range []*redis.Client{primary, replica} {
		keywardtest.Eventually(t, 15*time.Second, "source keys on "+n.Options().Addr, func() bool {
			return n.Get(context.Background(), "k99").Val() == "v99" && n.DBSize(context.Background()).Val() == 100
		})
	}
	// Writes to the source follow; writes to the group are refused.
	if err := src.Set(ctx, "later", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "a later source write on the replica", func() bool { return replica.Get(context.Background(), "later").Val() == "1" })
	if err := primary.Set(ctx, "mine", "1", 0).Err(); err == nil || !strings.Contains(err.Error(), "READONLY") {
		t.Errorf("a write to the migrating group's primary: %v", err)
	}
	waitRG(t, c, "mig", "migrating")

	done, err := c.CompleteMigration(ctx, &elasticache.CompleteMigrationInput{ReplicationGroupId: aws.String("mig")})
	if err != nil {
		t.Fatal(err)
	}
	if s := aws.ToString(done.ReplicationGroup.Status); s != "migrating" {
		t.Errorf("CompleteMigration answered status %s", s)
	}
	waitRG(t, c, "mig", "available")
	keywardtest.Eventually(t, 10*time.Second, "the group takes writes", func() bool {
		return primary.Set(context.Background(), "mine", "2", 0).Err() == nil
	})
	keywardtest.Eventually(t, 10*time.Second, "the replica follows the group's primary", func() bool { return replica.Get(context.Background(), "mine").Val() == "2" })
	// The source is no longer followed.
	src.Set(ctx, "after", "1", 0)
	time.Sleep(300 * time.Millisecond)
	if primary.Exists(ctx, "after").Val() != 0 || primary.Get(ctx, "k0").Val() != "v0" {
		t.Errorf("after CompleteMigration: after=%d k0=%q", primary.Exists(ctx, "after").Val(), primary.Get(ctx, "k0").Val())
	}
	_, err = c.CompleteMigration(ctx, &elasticache.CompleteMigrationInput{ReplicationGroupId: aws.String("mig")})
	keywardtest.WantError(t, err, "ReplicationGroupNotUnderMigrationFault", 400)

	// Force completes at once, even from a source that went away.
	if _, err := c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("mig"), CustomerNodeEndpointList: endpointList(srcPort)}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 15*time.Second, "second sync", func() bool { return primary.Get(context.Background(), "after").Val() == "1" })
	src.Shutdown(ctx)
	if _, err := c.CompleteMigration(ctx, &elasticache.CompleteMigrationInput{ReplicationGroupId: aws.String("mig"), Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	waitRG(t, c, "mig", "available")
	keywardtest.Eventually(t, 10*time.Second, "writable after a forced completion", func() bool {
		return primary.Set(context.Background(), "forced", "1", 0).Err() == nil
	})
}

// TestMigration_Serverless: the newest model's live migration into a
// serverless cache: PrepareMigration, StartMigration, StopMigration,
// StartMigration again (ClearTargetCacheData) and CompleteMigration, with
// the data really replicated, and their faults.
func TestMigration_Serverless(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, keywardtest.WithDelay(50*time.Millisecond))
	c, ctx := ts.Client, t.Context()
	srcPort, src := startSource(t)
	src.Set(ctx, "a", "1", 0)
	if _, err := c.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String("live"), Engine: aws.String("redis")}); err != nil {
		t.Fatal(err)
	}
	waitServerless(t, c, "live", "available")
	admin := adminClient(t, ts, "serverless.live-001")
	defer admin.Close()

	_, err := c.PrepareMigration(ctx, &elasticache.PrepareMigrationInput{ServerlessCacheName: aws.String("nope"), CustomerNodeEndpointList: endpointList(srcPort)})
	keywardtest.WantError(t, err, "ServerlessCacheNotFoundFault", 404)
	_, err = c.StopMigration(ctx, &elasticache.StopMigrationInput{ServerlessCacheName: aws.String("nope")})
	keywardtest.WantError(t, err, "ServerlessCacheNotFoundFault", 404)
	_, err = c.StopMigration(ctx, &elasticache.StopMigrationInput{ServerlessCacheName: aws.String("live")})
	keywardtest.WantError(t, err, "ServerlessCacheNotUnderMigrationFault", 400)
	_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ServerlessCacheName: aws.String("live")})
	keywardtest.WantError(t, err, "ServerlessCacheNotUnderMigrationFault", 400)
	_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ServerlessCacheName: aws.String("live"), ReplicationGroupId: aws.String("x")})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	_, err = c.PrepareMigration(ctx, &elasticache.PrepareMigrationInput{ServerlessCacheName: aws.String("live"), CustomerNodeEndpointList: endpointList(srcPort),
		SourceAuthenticationConfiguration: &types.SourceAuthenticationConfiguration{SecretManagerConfig: &types.SecretManagerAuthConfig{SecretArn: aws.String("arn:aws:secretsmanager:us-east-1:000000000000:secret:s")}}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	prep, err := c.PrepareMigration(ctx, &elasticache.PrepareMigrationInput{ServerlessCacheName: aws.String("live"), CustomerNodeEndpointList: endpointList(srcPort)})
	if err != nil {
		t.Fatal(err)
	}
	if m := prep.ServerlessCache.Migration; m == nil || aws.ToString(m.Status) != "prepared" || m.MigrationEndpoint == nil {
		t.Fatalf("PrepareMigration: %+v", prep.ServerlessCache.Migration)
	}
	_, err = c.PrepareMigration(ctx, &elasticache.PrepareMigrationInput{ServerlessCacheName: aws.String("live"), CustomerNodeEndpointList: endpointList(srcPort)})
	keywardtest.WantError(t, err, "ServerlessCacheAlreadyUnderMigrationFault", 400)
	_, err = c.StopMigration(ctx, &elasticache.StopMigrationInput{ServerlessCacheName: aws.String("live")})
	keywardtest.WantError(t, err, "InvalidServerlessCacheStateFault", 400)

	st, err := c.StartMigration(ctx, &elasticache.StartMigrationInput{ServerlessCacheName: aws.String("live")})
	if err != nil {
		t.Fatal(err)
	}
	if m := st.ServerlessCache.Migration; aws.ToString(m.Status) != "syncing" || aws.ToString(m.CutoverMode) != "manual" {
		t.Errorf("StartMigration: %+v", m)
	}
	keywardtest.Eventually(t, 15*time.Second, "source key on the serverless node", func() bool { return admin.Get(context.Background(), "a").Val() == "1" })
	src.Set(ctx, "b", "2", 0)
	keywardtest.Eventually(t, 10*time.Second, "a later write", func() bool { return admin.Get(context.Background(), "b").Val() == "2" })

	if _, err := c.StopMigration(ctx, &elasticache.StopMigrationInput{ServerlessCacheName: aws.String("live")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "writable once stopped", func() bool { return admin.Set(context.Background(), "own", "1", 0).Err() == nil })
	src.Set(ctx, "c", "3", 0)
	_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ServerlessCacheName: aws.String("live")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400) // needs ClearTargetCacheData now
	if _, err := c.StartMigration(ctx, &elasticache.StartMigrationInput{ServerlessCacheName: aws.String("live"), ClearTargetCacheData: aws.Bool(true), AutoCutover: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	// Auto-cutover: once in sync the migration completes by itself.
	keywardtest.Eventually(t, 20*time.Second, "auto cutover", func() bool {
		sc := waitServerless(t, c, "live", "available")
		return sc.Migration == nil
	})
	// The cut-over restarts the node in cluster mode (reconcile/serverless.go),
	// closing the connections it had: the first command may meet a closed one.
	keywardtest.Eventually(t, 5*time.Second, "the node answering after the cutover", func() bool { return admin.Ping(context.Background()).Err() == nil })
	if admin.Get(ctx, "c").Val() != "3" || admin.Exists(ctx, "own").Val() != 0 {
		t.Errorf("after the cutover: c=%q own=%d", admin.Get(ctx, "c").Val(), admin.Exists(ctx, "own").Val())
	}
	keywardtest.Eventually(t, 10*time.Second, "writable after the cutover", func() bool { return admin.Set(context.Background(), "own", "2", 0).Err() == nil })
	_, err = c.CompleteMigration(ctx, &elasticache.CompleteMigrationInput{ServerlessCacheName: aws.String("live")})
	keywardtest.WantError(t, err, "ServerlessCacheNotUnderMigrationFault", 400)
}

// wantRefused expects InvalidParameterValue with a message naming why.
func wantRefused(t *testing.T, err error, why string) {
	t.Helper()
	if code, msg := errorMessage(err); code != "InvalidParameterValue" || !strings.Contains(msg, why) {
		t.Errorf("got %v, want InvalidParameterValue saying %q", err, why)
	}
}

// TestMigration_Requirements: what ElastiCache's online migration asks of
// a target (Multi-AZ, no in-transit encryption, no data tiering) and of a
// source (no AUTH, no TLS, cluster mode disabled, the target's number of
// logical databases), each refused by StartMigration and TestMigration.
func TestMigration_Requirements(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c, ctx := ts.Client, t.Context()
	srcPort, _ := startSource(t)
	createMigrationTarget(t, c, "ok")
	createRG(t, c, "nomaz", 1, false)
	createRG(t, c, "tls", 1, true)
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("tiered"),
		ReplicationGroupDescription: aws.String("r6gd"), NumCacheClusters: aws.Int32(1), CacheNodeType: aws.String("cache.r6gd.xlarge")}); err != nil {
		t.Fatal(err)
	}
	for id, why := range map[string]string{"nomaz": "Multi-AZ", "tls": "in-transit encryption", "tiered": "data tiering"} {
		waitRG(t, c, id, "available")
		_, err := c.TestMigration(ctx, &elasticache.TestMigrationInput{ReplicationGroupId: aws.String(id), CustomerNodeEndpointList: endpointList(srcPort)})
		wantRefused(t, err, why)
		_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String(id), CustomerNodeEndpointList: endpointList(srcPort)})
		wantRefused(t, err, why)
	}
	waitRG(t, c, "ok", "available")

	authPort, _ := startSource(t, "--requirepass", "source-secret")
	clusterPort, _ := startSource(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	dbsPort, _ := startSource(t, "--databases", "32")
	tlsSrv := httptest.NewTLSServer(http.NotFoundHandler()) // a TLS listener on loopback
	defer tlsSrv.Close()
	tlsPort := tlsSrv.Listener.Addr().(*net.TCPAddr).Port
	for port, why := range map[int]string{authPort: "Redis AUTH", clusterPort: "cluster mode", dbsPort: "logical databases", tlsPort: "without TLS"} {
		_, err := c.TestMigration(ctx, &elasticache.TestMigrationInput{ReplicationGroupId: aws.String("ok"), CustomerNodeEndpointList: endpointList(port)})
		wantRefused(t, err, why)
		_, err = c.StartMigration(ctx, &elasticache.StartMigrationInput{ReplicationGroupId: aws.String("ok"), CustomerNodeEndpointList: endpointList(port)})
		wantRefused(t, err, why)
	}
	// Nothing was started: the group takes a fitting source.
	if rg := waitRG(t, c, "ok", "available"); rg.Status == nil {
		t.Fatal("no status")
	}
	if _, err := c.TestMigration(ctx, &elasticache.TestMigrationInput{ReplicationGroupId: aws.String("ok"), CustomerNodeEndpointList: endpointList(srcPort)}); err != nil {
		t.Fatal(err)
	}
}
