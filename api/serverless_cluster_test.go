package api_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward"
	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
)

// Serverless caches as cluster-aware clients see them (docs/serverless.md):
// one shard of all 16384 slots at the Endpoint, CROSSSLOT across slots, the
// ReaderEndpoint on the Endpoint's address at port 6380: the shard's
// replica, as ElastiCache's CLUSTER SLOTS shows it.

// serverlessEndpoints creates serverless cache id (user group ug, "" for
// none), waits for it to be available and returns its Endpoint and
// ReaderEndpoint as host:port.
func serverlessEndpoints(t *testing.T, c *elasticache.Client, id, ug string) (endpoint, reader string) {
	t.Helper()
	in := &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String(id), Engine: aws.String("redis")}
	if ug != "" {
		in.UserGroupId = aws.String(ug)
	}
	start := time.Now()
	if _, err := c.CreateServerlessCache(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	defer func() { t.Logf("serverless cache %s available after %v", id, time.Since(start)) }()
	var sc types.ServerlessCache
	keywardtest.Eventually(t, 30*time.Second, "serverless cache "+id+" available", func() bool {
		d, err := c.DescribeServerlessCaches(t.Context(), &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String(id)})
		if err != nil || len(d.ServerlessCaches) != 1 || aws.ToString(d.ServerlessCaches[0].Status) != "available" {
			return false
		}
		sc = d.ServerlessCaches[0]
		return true
	})
	if sc.Endpoint == nil || sc.ReaderEndpoint == nil {
		t.Fatalf("endpoints: %+v %+v", sc.Endpoint, sc.ReaderEndpoint)
	}
	return fmt.Sprintf("%s:%d", aws.ToString(sc.Endpoint.Address), aws.ToInt32(sc.Endpoint.Port)),
		fmt.Sprintf("%s:%d", aws.ToString(sc.ReaderEndpoint.Address), aws.ToInt32(sc.ReaderEndpoint.Port))
}

// TestServerless_ClusterTopology: CLUSTER SLOTS, SHARDS, NODES, INFO,
// KEYSLOT and MYID answer as ElastiCache Serverless's single virtual shard
// does: slots 0-16383, the primary at the Endpoint (6379), a replica at the
// same address on 6380 (the ReaderEndpoint); a go-redis ClusterClient over
// TLS writes and reads many keys through the Endpoint; MSET across slots
// gets CROSSSLOT, with a hash tag it passes; the reader serves reads after
// READONLY (plain and cluster clients) and redirects writes to the
// Endpoint (MOVED).
func TestServerless_ClusterTopology(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	endpoint, reader := serverlessEndpoints(t, c, "topo", "")
	host, port, _ := strings.Cut(endpoint, ":")
	rhost, rport, _ := strings.Cut(reader, ":")
	if port != "6379" || rhost != host || rport != "6380" {
		t.Fatalf("Endpoint %s, ReaderEndpoint %s: want <addr>:6379 and the same address at 6380", endpoint, reader)
	}
	plain := redis.NewClient(&redis.Options{Addr: endpoint, TLSConfig: ts.Engine().TLSConfig()})
	defer plain.Close()

	slots, err := plain.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 || len(slots[0].Nodes) != 2 || slots[0].Nodes[0].Addr != endpoint || slots[0].Nodes[1].Addr != reader {
		t.Fatalf("CLUSTER SLOTS = %+v, want one range 0-16383, primary %s, replica %s", slots, endpoint, reader)
	}
	myid, err := plain.ClusterMyID(ctx).Result()
	if err != nil || slots[0].Nodes[0].ID != myid || len(myid) != 40 {
		t.Errorf("CLUSTER MYID = %q %v, CLUSTER SLOTS names %q", myid, err, slots[0].Nodes[0].ID)
	}
	shards, err := plain.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 1 || len(shards[0].Slots) != 1 || shards[0].Slots[0].Start != 0 || shards[0].Slots[0].End != 16383 || len(shards[0].Nodes) != 2 {
		t.Fatalf("CLUSTER SHARDS = %+v, want one shard of every slot, two nodes", shards)
	}
	for i, want := range []struct {
		port int64
		role string
	}{{6379, "master"}, {6380, "replica"}} {
		if n := shards[0].Nodes[i]; n.Endpoint != host || n.TLSPort != want.port || n.Role != want.role || n.Health != "online" {
			t.Errorf("CLUSTER SHARDS node %d = %+v, want endpoint %s tls-port %d, an online %s", i, n, host, want.port, want.role)
		}
	}
	nodes, err := plain.ClusterNodes(ctx).Result()
	if err != nil || !strings.Contains(nodes, endpoint+"@") || !strings.Contains(nodes, reader+"@") || !strings.Contains(nodes, "myself,master") || !strings.Contains(nodes, " 0-16383") {
		t.Errorf("CLUSTER NODES = %q %v", nodes, err)
	}
	if r, err := plain.Do(ctx, "CLUSTER", "REPLICAS", myid).StringSlice(); err != nil || len(r) != 1 || !strings.Contains(r[0], reader+"@") {
		t.Errorf("CLUSTER REPLICAS = %q %v", r, err)
	}
	info, err := plain.ClusterInfo(ctx).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_assigned:16384") || !strings.Contains(info, "cluster_known_nodes:2") || !strings.Contains(info, "cluster_size:1") {
		t.Errorf("CLUSTER INFO = %q %v", info, err)
	}
	if s, err := plain.ClusterKeySlot(ctx, "myset").Result(); err != nil || s != 560 {
		t.Errorf("CLUSTER KEYSLOT myset = %d %v, want 560", s, err)
	}

	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{endpoint}, TLSConfig: ts.Engine().TLSConfig()})
	defer cc.Close()
	for i := range 500 {
		if err := cc.Set(ctx, fmt.Sprintf("key:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("ClusterClient SET key:%d: %v", i, err)
		}
	}
	for i := range 500 {
		if v, err := cc.Get(ctx, fmt.Sprintf("key:%d", i)).Int(); err != nil || v != i {
			t.Fatalf("ClusterClient GET key:%d = %d %v", i, v, err)
		}
	}
	if n, err := plain.DBSize(ctx).Result(); err != nil || n != 500 {
		t.Errorf("DBSIZE = %d %v, want 500", n, err)
	}
	// Multi-key commands across slots: CROSSSLOT, from the plain client and
	// the cluster client alike (go-redis sends an MSET to one node).
	for name, err := range map[string]error{
		"plain MSET":   plain.MSet(ctx, "myset", "1", "myset2", "2").Err(),
		"plain SUNION": plain.SUnion(ctx, "myset", "myset2").Err(),
		"cluster MGET": cc.MGet(ctx, "key:1", "key:2").Err(),
	} {
		if err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
			t.Errorf("%s across slots = %v, want CROSSSLOT", name, err)
		}
	}
	if err := cc.MSet(ctx, "{user1}:a", "1", "{user1}:b", "2").Err(); err != nil {
		t.Errorf("MSET in one slot (hash tag): %v", err)
	}
	if v, err := cc.MGet(ctx, "{user1}:a", "{user1}:b").Result(); err != nil || len(v) != 2 || v[0] != "1" || v[1] != "2" {
		t.Errorf("MGET in one slot = %v %v", v, err)
	}
	if err := plain.Do(ctx, "SELECT", "1").Err(); err == nil {
		t.Errorf("SELECT 1 accepted; a cluster node serves database 0 only")
	}

	// The reader endpoint: the same answers, reads after READONLY.
	rc := redis.NewClient(&redis.Options{Addr: reader, TLSConfig: ts.Engine().TLSConfig(), OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	defer rc.Close()
	keywardtest.Eventually(t, 5*time.Second, "key:499 on the replica", func() bool { return rc.Get(ctx, "key:499").Val() == "499" })
	if v, err := rc.Get(ctx, "key:7").Result(); err != nil || v != "7" {
		t.Errorf("GET through the reader endpoint = %q %v", v, err)
	}
	if s, err := rc.ClusterSlots(ctx).Result(); err != nil || len(s) != 1 || len(s[0].Nodes) != 2 || s[0].Nodes[0].Addr != endpoint {
		t.Errorf("CLUSTER SLOTS through the reader endpoint = %+v %v", s, err)
	}
	if role, err := rc.Do(ctx, "ROLE").Slice(); err != nil || len(role) == 0 || role[0] != "slave" {
		t.Errorf("ROLE on the reader endpoint = %v %v, want a replica", role, err)
	}
	if err := rc.Set(ctx, "key:7", "w", 0).Err(); err == nil || err.Error() != fmt.Sprintf("MOVED %d %s", plain.ClusterKeySlot(ctx, "key:7").Val(), endpoint) {
		t.Errorf("SET through the reader endpoint = %v, want MOVED to %s", err, endpoint)
	}
	rcc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{reader}, TLSConfig: ts.Engine().TLSConfig(), ReadOnly: true})
	defer rcc.Close()
	if v, err := rcc.Get(ctx, "key:9").Result(); err != nil || v != "9" {
		t.Errorf("ClusterClient (ReadOnly) seeded with the reader endpoint: GET = %q %v", v, err)
	}
	if err := rcc.Set(ctx, "key:9", "nine", 0).Err(); err != nil || cc.Get(ctx, "key:9").Val() != "nine" {
		t.Errorf("ClusterClient (ReadOnly): SET = %v; the write must reach the primary", err)
	}
}

// TestServerless_ClusterACLAndDeleteUser: through the Endpoint and a
// ClusterClient, the user group's access strings hold, and DeleteUser
// refuses the user on both of the cache's ports and closes its connections.
func TestServerless_ClusterACLAndDeleteUser(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	createUser(t, c, "alice", "alice", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{alicePW}, aws.String("on ~app:* -@all +get +set +ping +cluster|slots +cluster|shards +readonly +command")
	})
	createUser(t, c, "sl-default", "default", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{defaultPW}, aws.String("on ~* -@all +ping")
	})
	createGroup(t, c, "slg", "redis", "sl-default", "alice")
	waitGroupStatus(t, c, "slg", "active")
	endpoint, reader := serverlessEndpoints(t, c, "acl", "slg")

	opts := func(addr string) *redis.ClusterOptions {
		return &redis.ClusterOptions{Addrs: []string{addr}, TLSConfig: ts.Engine().TLSConfig(), Username: "alice", Password: alicePW, MaxRetries: -1}
	}
	cc := redis.NewClusterClient(opts(endpoint))
	defer cc.Close()
	for i := range 100 {
		if err := cc.Set(ctx, fmt.Sprintf("app:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("alice SET app:%d: %v", i, err)
		}
	}
	if err := cc.Set(ctx, "other:1", "x", 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("SET outside ~app:* = %v, want NOPERM", err)
	}
	if err := cc.Del(ctx, "app:1").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("DEL = %v, want NOPERM", err)
	}
	nobody := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{endpoint}, TLSConfig: ts.Engine().TLSConfig(), MaxRetries: -1})
	defer nobody.Close()
	if err := nobody.Get(ctx, "app:1").Err(); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("GET without logging in = %v, want NOAUTH (the group's default user has a password)", err)
	}
	// Connections open on both ports before DeleteUser.
	open := []*redis.Conn{}
	for _, addr := range []string{endpoint, reader} {
		cl := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: ts.Engine().TLSConfig(), Username: "alice", Password: alicePW, MaxRetries: -1})
		defer cl.Close()
		conn := cl.Conn()
		defer conn.Close()
		if err := conn.Ping(ctx).Err(); err != nil {
			t.Fatalf("alice on %s: %v", addr, err)
		}
		open = append(open, conn)
	}
	if err := cc.Get(ctx, "app:5").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("alice")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "alice refused on both ports", func() bool {
		for _, addr := range []string{endpoint, reader} {
			cl := redis.NewClient(&redis.Options{Addr: addr, TLSConfig: ts.Engine().TLSConfig(), Username: "alice", Password: alicePW, MaxRetries: -1})
			err := cl.Ping(ctx).Err()
			cl.Close()
			if err == nil {
				return false
			}
		}
		return true
	})
	for i, conn := range open {
		if err := conn.Ping(ctx).Err(); err == nil {
			t.Errorf("alice's connection %d survived DeleteUser", i)
		}
	}
	if err := cc.Get(ctx, "app:5").Err(); err == nil {
		t.Errorf("alice's ClusterClient still reads after DeleteUser")
	}
	waitUserStatus(t, c, "alice", "gone")
}

// storeServerless changes stored serverless cache id in place (what an
// earlier release stored, or a migration under way).
func storeServerless(t *testing.T, ts *keywardtest.Server, id string, change func(*keyward.Cache)) {
	t.Helper()
	err := ts.Store.Update(t.Context(), func(tx keyward.Tx) error {
		cs, err := tx.FindAllCaches(t.Context())
		if err != nil {
			return err
		}
		for _, c := range cs {
			if c.Kind == keyward.KindServerless && c.ID == id {
				next := c.Clone()
				change(next)
				return tx.UpdateCache(t.Context(), next)
			}
		}
		return fmt.Errorf("no serverless cache %s", id)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func storedServerless(t *testing.T, ts *keywardtest.Server, id string) *keyward.Cache {
	t.Helper()
	var out *keyward.Cache
	err := ts.Store.View(t.Context(), func(tx keyward.Tx) error {
		cs, err := tx.FindAllCaches(t.Context())
		for _, c := range cs {
			if c.Kind == keyward.KindServerless && c.ID == id {
				out = c
			}
		}
		return err
	})
	if err != nil || out == nil {
		t.Fatalf("stored serverless cache %s: %v", id, err)
	}
	return out
}

// TestServerless_ConvertsEarlierNode: a serverless cache whose node runs
// standalone, as an earlier release stored and ran it (here: made so by
// storing it without cluster mode while a migration is prepared, which
// holds the conversion back), is converted once at rest: restarted
// cluster-enabled with its data, the slots its keys did not claim assigned,
// the ReaderEndpoint at 6380 again. A node holding keys outside database 0
// is kept standalone (Redis Cluster would not start with them), until they
// are gone.
func TestServerless_ConvertsEarlierNode(t *testing.T) {
	redistest.Binary(t)
	dir := t.TempDir()
	ts := keywardtest.New(t, func(c *server.Config) { c.DataDir = dir; c.NodeAddresses = keywardtest.NodeAddresses(dir) })
	c := ts.Client
	ctx := t.Context()
	endpoint, _ := serverlessEndpoints(t, c, "conv", "")
	tlsc := ts.Engine().TLSConfig()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{endpoint}, TLSConfig: tlsc})
	defer cc.Close()
	for i := range 200 {
		if err := cc.Set(ctx, fmt.Sprintf("old:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	cc.Close()

	standalone := func() bool {
		pc := redis.NewClient(&redis.Options{Addr: endpoint, TLSConfig: tlsc, MaxRetries: -1})
		defer pc.Close()
		err := pc.ClusterInfo(ctx).Err()
		return err != nil && strings.Contains(err.Error(), "cluster support disabled")
	}
	stored := storedServerless(t, ts, "conv")
	readerID := stored.NodeID("conv-002")
	storeServerless(t, ts, "conv", func(c *keyward.Cache) {
		c.ClusterMode, c.Shards, c.Nodes = false, nil, c.Nodes[:1]
		c.Migration = &keyward.CacheMigration{Source: "127.0.0.1:9", Status: keyward.MigrationPrepared}
	})
	keywardtest.Eventually(t, 20*time.Second, "the node running standalone, alone", func() bool {
		_, reader := ts.Engine().Node(readerID)
		return standalone() && !reader
	})
	// What an earlier release's node has: keys in database 1 too, and no
	// cluster state of its own.
	db1 := redis.NewClient(&redis.Options{Addr: endpoint, TLSConfig: tlsc, DB: 1})
	defer db1.Close()
	keywardtest.Eventually(t, 10*time.Second, "a key written in database 1", func() bool { return db1.Set(ctx, "db1key", "x", 0).Err() == nil })
	id := storedServerless(t, ts, "conv").NodeID("conv-001")
	if err := os.Remove(filepath.Join(dir, "nodes", id, "data", "nodes.conf")); err != nil {
		t.Fatal(err)
	}
	storeServerless(t, ts, "conv", func(c *keyward.Cache) { c.Migration = nil })
	time.Sleep(5 * time.Second) // two drift resyncs look at it
	if !standalone() || storedServerless(t, ts, "conv").ClusterMode {
		t.Fatalf("a node holding keys in database 1 was converted to cluster mode")
	}
	if v, err := db1.Get(ctx, "db1key").Result(); err != nil || v != "x" {
		t.Errorf("database 1 after the refused conversion: %q %v", v, err)
	}
	if _, r := describeServerlessEndpoints(t, c, "conv"); r != endpoint {
		t.Errorf("ReaderEndpoint of a standalone serverless cache = %s, want the Endpoint %s", r, endpoint)
	}
	if err := db1.Del(ctx, "db1key").Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	keywardtest.Eventually(t, 30*time.Second, "the node converted to cluster mode", func() bool {
		if standalone() {
			return false
		}
		pc := redis.NewClient(&redis.Options{Addr: endpoint, TLSConfig: tlsc, MaxRetries: -1})
		defer pc.Close()
		s, err := pc.ClusterSlots(ctx).Result()
		// A restarted cluster primary turns ok some 2 s after its start
		// (Redis's rejoin delay): until then commands get CLUSTERDOWN.
		info, _ := pc.ClusterInfo(ctx).Result()
		return err == nil && len(s) == 1 && s[0].Start == 0 && s[0].End == 16383 && len(s[0].Nodes) == 2 && s[0].Nodes[0].Addr == endpoint &&
			strings.Contains(info, "cluster_state:ok")
	})
	t.Logf("converted %v after the keys outside database 0 went", time.Since(start))
	if sc := storedServerless(t, ts, "conv"); !sc.ClusterMode || len(sc.Shards) != 1 || sc.Shards[0].Slots != "0-16383" || len(sc.Nodes) != 2 {
		t.Errorf("stored after conversion: cluster %v shards %+v nodes %+v", sc.ClusterMode, sc.Shards, sc.Nodes)
	}
	cc = redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{endpoint}, TLSConfig: tlsc})
	defer cc.Close()
	for i := range 200 {
		if v, err := cc.Get(ctx, fmt.Sprintf("old:%d", i)).Int(); err != nil || v != i {
			t.Fatalf("old:%d after conversion = %d %v", i, v, err)
		}
	}
	if err := cc.MSet(ctx, "old:1", "a", "old:2", "b").Err(); err == nil || !strings.HasPrefix(err.Error(), "CROSSSLOT") {
		t.Errorf("MSET across slots after conversion = %v, want CROSSSLOT", err)
	}
	var reader string
	keywardtest.Eventually(t, 10*time.Second, "ReaderEndpoint at 6380", func() bool {
		e, r := describeServerlessEndpoints(t, c, "conv")
		host, _, _ := strings.Cut(e, ":")
		reader = r
		return e == endpoint && r == host+":6380"
	})
	// The new replica holds the converted node's keys.
	rc := redis.NewClient(&redis.Options{Addr: reader, TLSConfig: tlsc, OnConnect: func(ctx context.Context, cn *redis.Conn) error { return cn.ReadOnly(ctx).Err() }})
	defer rc.Close()
	keywardtest.Eventually(t, 10*time.Second, "the reader holding every key", func() bool { return rc.DBSize(ctx).Val() == 200 })
	if v, err := rc.Get(ctx, "old:42").Result(); err != nil || v != "42" {
		t.Errorf("old:42 on the reader = %q %v", v, err)
	}
}

func describeServerlessEndpoints(t *testing.T, c *elasticache.Client, id string) (endpoint, reader string) {
	t.Helper()
	d, err := c.DescribeServerlessCaches(t.Context(), &elasticache.DescribeServerlessCachesInput{ServerlessCacheName: aws.String(id)})
	if err != nil || len(d.ServerlessCaches) != 1 || d.ServerlessCaches[0].Endpoint == nil || d.ServerlessCaches[0].ReaderEndpoint == nil {
		t.Fatalf("describe %s: %v", id, err)
	}
	sc := d.ServerlessCaches[0]
	return fmt.Sprintf("%s:%d", aws.ToString(sc.Endpoint.Address), aws.ToInt32(sc.Endpoint.Port)),
		fmt.Sprintf("%s:%d", aws.ToString(sc.ReaderEndpoint.Address), aws.ToInt32(sc.ReaderEndpoint.Port))
}
