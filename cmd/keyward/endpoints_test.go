package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// groupView is what a client learns of a group: endpoints and node
// addresses (host:port), and the current primary.
type groupView struct {
	primaryEP, readerEP, primary string
	nodes                        map[string]string // cluster id -> address
}

func viewGroup(ctx context.Context, c *elasticache.Client, id string) (groupView, bool) {
	out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
	if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
		return groupView{}, false
	}
	g := out.ReplicationGroups[0].NodeGroups[0]
	ep := func(e *types.Endpoint) string {
		return fmt.Sprintf("%s:%d", aws.ToString(e.Address), aws.ToInt32(e.Port))
	}
	v := groupView{primaryEP: ep(g.PrimaryEndpoint), readerEP: ep(g.ReaderEndpoint), nodes: map[string]string{}}
	for _, m := range g.NodeGroupMembers {
		v.nodes[aws.ToString(m.CacheClusterId)] = ep(m.ReadEndpoint)
		if aws.ToString(m.CurrentRole) == "primary" {
			v.primary = aws.ToString(m.CacheClusterId)
		}
	}
	return v, true
}

// nodePID reads a node's pid from its record in the data directory.
func nodePID(t *testing.T, dir, clusterID string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "nodes", "000000000000.us-east-1."+clusterID, "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(b, &rec); err != nil || rec.PID == 0 {
		t.Fatalf("node.json of %s: pid %d, %v", clusterID, rec.PID, err)
	}
	return rec.PID
}

// TestRestart_NodesKeepAddresses: after kill -9 of keyward (and of two
// nodes while it is down, one a primary with automatic failover), the next
// keyward brings every node back on the same address and port, the groups'
// endpoints keep their addresses, and the primary endpoint reaches the
// writable node.
func TestRestart_NodesKeepAddresses(t *testing.T) {
	redistest.Binary(t)
	dir, addr := t.TempDir(), freeAddr(t)
	p := startKeyward(t, addr, dir, nil)
	c := p.client()
	ctx := t.Context()
	for _, in := range []*elasticache.CreateReplicationGroupInput{
		{ReplicationGroupId: aws.String("plain"), ReplicationGroupDescription: aws.String("x"), NumCacheClusters: aws.Int32(3), AutomaticFailoverEnabled: aws.Bool(true)},
		{ReplicationGroupId: aws.String("secure"), ReplicationGroupDescription: aws.String("x"), NumCacheClusters: aws.Int32(3), TransitEncryptionEnabled: aws.Bool(true), Port: aws.Int32(7001)},
	} {
		if _, err := c.CreateReplicationGroup(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]groupView{}
	keywardtest.Eventually(t, 30*time.Second, "groups available", func() bool {
		for _, id := range []string{"plain", "secure"} {
			v, ok := viewGroup(ctx, c, id)
			if !ok {
				return false
			}
			before[id] = v
		}
		return true
	})
	tlsConf := caTLS(t, dir)
	client := func(group, addr string) *redis.Client {
		var tc *tls.Config
		if group == "secure" {
			tc = tlsConf
		}
		return redis.NewClient(&redis.Options{Addr: addr, TLSConfig: tc, Protocol: 2, MaxRetries: -1, DisableIdentity: true, DialTimeout: time.Second})
	}
	seen := map[string]string{}
	for id, v := range before {
		for what, a := range map[string]string{"primary endpoint": v.primaryEP, "reader endpoint": v.readerEP, id + "-001": v.nodes[id+"-001"], id + "-002": v.nodes[id+"-002"], id + "-003": v.nodes[id+"-003"]} {
			host, port, _ := strings.Cut(a, ":")
			if want := map[string]string{"plain": "6379", "secure": "7001"}[id]; port != want {
				t.Errorf("%s %s on port %s, want %s", id, what, port, want)
			}
			if other, dup := seen[host]; dup {
				t.Errorf("%s %s shares address %s with %s", id, what, host, other)
			}
			seen[host] = id + " " + what
		}
	}
	w := client("plain", before["plain"].primaryEP)
	if err := w.Set(ctx, "before", "restart", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w.Do(ctx, "WAIT", 2, 2000)
	w.Close()

	p.kill()
	for _, id := range []string{"plain-001", "secure-002"} {
		if err := syscall.Kill(nodePID(t, dir, id), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	p = startKeyward(t, addr, dir, nil)
	c = p.client()
	after := map[string]groupView{}
	keywardtest.Eventually(t, 30*time.Second, "groups available again, plain failed over", func() bool {
		for _, id := range []string{"plain", "secure"} {
			v, ok := viewGroup(ctx, c, id)
			if !ok {
				return false
			}
			after[id] = v
		}
		return after["plain"].primary != "plain-001"
	})
	for id, b := range before {
		a := after[id]
		if a.primaryEP != b.primaryEP || a.readerEP != b.readerEP {
			t.Errorf("%s: endpoints moved: %s %s -> %s %s", id, b.primaryEP, b.readerEP, a.primaryEP, a.readerEP)
		}
		for n, addr := range b.nodes {
			if a.nodes[n] != addr {
				t.Errorf("%s moved from %s to %s", n, addr, a.nodes[n])
			}
		}
	}
	// Every node answers on its address, the killed ones included, and the
	// primary endpoints reach writable nodes.
	for id, v := range after {
		for n, a := range v.nodes {
			keywardtest.Eventually(t, 20*time.Second, n+" answering at "+a, func() bool {
				cl := client(id, a)
				defer cl.Close()
				return cl.Ping(context.Background()).Err() == nil
			})
		}
		keywardtest.Eventually(t, 10*time.Second, id+" writable through its primary endpoint", func() bool {
			cl := client(id, v.primaryEP)
			defer cl.Close()
			return cl.Set(context.Background(), "after", "restart", 0).Err() == nil
		})
	}
	r := client("plain", after["plain"].primaryEP)
	if got := r.Get(ctx, "before").Val(); got != "restart" {
		t.Errorf("the promoted primary lost the write made before the failover: %q", got)
	}
	r.Close()
	for _, id := range []string{"plain", "secure"} {
		if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	keywardtest.Eventually(t, 20*time.Second, "groups deleted", func() bool {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{})
		return err == nil && len(out.ReplicationGroups) == 0
	})
}
