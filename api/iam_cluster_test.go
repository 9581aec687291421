package api_test

import (
	"context"
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
	"github.com/redis/go-redis/v9"

	"keyward/iamauth"
	"keyward/internal/redistest"
	"keyward/keywardtest"
	"keyward/server"
	"keyward/sigv4"
)

// TestIAM_ClusterMode: on a cluster-mode group every node is reached
// through its front: CLUSTER SLOTS and MOVED name the fronts, a go-redis
// ClusterClient logs in with IAM tokens (credentials provider) over TLS,
// the access string holds on every shard, and DeleteUser closes the IAM
// connections on every node.
func TestIAM_ClusterMode(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t, func(c *server.Config) { c.Credentials = []sigv4.Credential{iamCredA} })
	c := ts.NewClient("us-east-1", iamCredA.AccessKeyID, iamCredA.SecretAccessKey)
	ctx := t.Context()
	createUser(t, c, "app", "app", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = nil, aws.String("on ~app:* +@all")
		in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
	})
	createUser(t, c, "cm-default", "default", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AccessString = []string{defaultPW}, aws.String("on ~* -@all +ping")
	})
	createGroup(t, c, "cmiam", "redis", "cm-default", "app")
	waitGroupStatus(t, c, "cmiam", "active")
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("cmi"), ReplicationGroupDescription: aws.String("cluster mode, IAM"),
		NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1), TransitEncryptionEnabled: aws.Bool(true),
		AutomaticFailoverEnabled: aws.Bool(true), UserGroupIds: []string{"cmiam"}, CacheParameterGroupName: aws.String("default.redis7.cluster.on"),
	}); err != nil {
		t.Fatal(err)
	}
	rg := waitRG(t, c, "cmi", "available")
	res := iamauth.Resource{Name: "cmi", AccountID: iamCredA.AccountID, Region: "us-east-1"}
	tlsConf := ts.Engine().TLSConfig()
	provider := func(user string) func(ctx context.Context) (string, string, error) {
		return func(ctx context.Context) (string, string, error) {
			tok, err := iamauth.Presign(ctx, aws.Credentials{AccessKeyID: iamCredA.AccessKeyID, SecretAccessKey: iamCredA.SecretAccessKey}, res, user, 15*time.Minute, time.Now())
			return user, tok, err
		}
	}

	// The nodes' endpoints are their fronts' ports, not the nodes' own.
	var nodes []node
	var ports []int
	for _, m := range rg.MemberClusters {
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(m), ShowCacheNodeInfo: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		cn := out.CacheClusters[0].CacheNodes[0]
		nodes = append(nodes, node{addr: nodeAddr(cn), tls: tlsConf})
		ports = append(ports, int(aws.ToInt32(cn.Endpoint.Port)))
		if n, ok := ts.Engine().Node(iamCredA.AccountID + ".us-east-1." + m); !ok {
			t.Fatalf("no engine node for %s", m)
		} else if n.Port == int(aws.ToInt32(cn.Endpoint.Port)) {
			t.Fatalf("%s: endpoint is the node's own port %d, not its front's", m, n.Port)
		}
	}
	slices.Sort(ports)

	cfg := fmt.Sprintf("%s:%d", aws.ToString(rg.ConfigurationEndpoint.Address), aws.ToInt32(rg.ConfigurationEndpoint.Port))
	cl := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{cfg}, TLSConfig: tlsConf, MaxRetries: 2, CredentialsProviderContext: provider("app"),
	})
	defer cl.Close()
	for i := range 200 {
		if err := cl.Set(ctx, fmt.Sprintf("app:%d", i), i, 0).Err(); err != nil {
			t.Fatalf("SET app:%d through the cluster as an IAM user: %v", i, err)
		}
	}
	// CLUSTER SLOTS (and SHARDS) name exactly the fronts, replicas
	// included once they replicate (through their primary's front) and
	// have an offset: Redis lists no replica whose offset is still 0.
	var announced []int
	keywardtest.Eventually(t, 15*time.Second, "CLUSTER SLOTS names every front", func() bool {
		slots, err := cl.ClusterSlots(ctx).Result()
		if err != nil {
			t.Fatalf("CLUSTER SLOTS as an IAM user: %v", err)
		}
		announced = nil
		for _, s := range slots {
			for _, n := range s.Nodes {
				_, p, _ := net.SplitHostPort(n.Addr)
				port, _ := strconv.Atoi(p)
				announced = append(announced, port)
			}
		}
		slices.Sort(announced)
		return slices.Equal(announced, ports)
	})
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		for _, n := range s.Nodes {
			if !slices.Contains(ports, int(n.TLSPort)) || n.Port != 0 {
				t.Errorf("CLUSTER SHARDS: node %s port %d tls-port %d, fronts %v", n.ID, n.Port, n.TLSPort, ports)
			}
		}
	}
	var mu sync.Mutex
	var perShard []int64
	if err := cl.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		size, err := n.DBSize(ctx).Result()
		mu.Lock()
		perShard = append(perShard, size)
		mu.Unlock()
		if err := n.Set(ctx, "other:"+n.Options().Addr, 1, 0).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
			return fmt.Errorf("SET outside ~app:* on %s: %v, want NOPERM", n.Options().Addr, err)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(perShard) != 2 || perShard[0] == 0 || perShard[1] == 0 || perShard[0]+perShard[1] != 200 {
		t.Fatalf("keys per shard %v", perShard)
	}
	// A node answers a key of another shard with MOVED to that shard's front.
	one := redis.NewClient(&redis.Options{Addr: nodes[0].addr, TLSConfig: tlsConf, MaxRetries: -1, PoolSize: 1, DisableIdentity: true,
		CredentialsProviderContext: provider("app")})
	defer one.Close()
	moved := 0
	for i := range 50 {
		err := one.Get(ctx, fmt.Sprintf("app:%d", i)).Err()
		if err == nil {
			continue
		}
		f := strings.Fields(err.Error())
		if len(f) != 3 || f[0] != "MOVED" {
			t.Fatalf("GET app:%d on %s: %v", i, nodes[0].addr, err)
		}
		_, p, _ := net.SplitHostPort(f[2])
		port, _ := strconv.Atoi(p)
		if !slices.Contains(ports, port) {
			t.Fatalf("MOVED to %s, not a front (%v)", f[2], ports)
		}
		moved++
	}
	if moved == 0 {
		t.Fatal("no key of another shard among 50")
	}

	// An IAM connection on every node, then DeleteUser closes them all.
	var open []*redis.Conn
	for _, n := range nodes {
		nc := redis.NewClient(&redis.Options{Addr: n.addr, TLSConfig: tlsConf, MaxRetries: -1, PoolSize: 1, DisableIdentity: true,
			CredentialsProviderContext: provider("app")})
		defer nc.Close()
		conn := nc.Conn()
		defer conn.Close()
		if err := conn.Ping(ctx).Err(); err != nil {
			t.Fatalf("IAM login on node %s: %v", n.addr, err)
		}
		open = append(open, conn)
	}
	del := time.Now()
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("app")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 10*time.Second, "app refused on every node", func() bool {
		for _, n := range nodes {
			if !wrongPass(n.iamAuth(iamCredA, res, "app")) {
				return false
			}
		}
		return true
	})
	t.Logf("DeleteUser → IAM login refused on all %d nodes: %v", len(nodes), time.Since(del))
	for i, conn := range open {
		if err := conn.Ping(ctx).Err(); err == nil {
			t.Errorf("IAM connection on %s survived DeleteUser", nodes[i].addr)
		}
	}
	if err := nodes[0].auth("default", defaultPW); err != nil {
		t.Errorf("default after DeleteUser: %v", err)
	}
}
