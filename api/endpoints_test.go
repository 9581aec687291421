package api_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

func addrOf(e *types.Endpoint) string {
	return fmt.Sprintf("%s:%d", aws.ToString(e.Address), aws.ToInt32(e.Port))
}

// role runs ROLE on a node and returns "master" or "slave".
func role(t *testing.T, n node) string {
	t.Helper()
	c := n.client("", "")
	defer c.Close()
	r, err := c.Do(context.Background(), "ROLE").Slice()
	if err != nil || len(r) == 0 {
		return fmt.Sprintf("error: %v", err)
	}
	s, _ := r[0].(string)
	return s
}

func TestEndpoints_OwnAddressesOnTheRequestedPort(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	createRG(t, c, "plain", 3, false)
	createRG(t, c, "secure", 3, true)
	_, err := c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("custom"), ReplicationGroupDescription: aws.String("custom port"),
		NumCacheClusters: aws.Int32(2), Port: aws.Int32(7000),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String("low"), ReplicationGroupDescription: aws.String("x"), Port: aws.Int32(80),
	})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)

	seen := map[string]string{} // address -> what has it
	claim := func(addr, what string) {
		host, _, _ := strings.Cut(addr, ":")
		if other, ok := seen[host]; ok {
			t.Errorf("%s and %s share address %s", other, what, host)
		}
		seen[host] = what
	}
	for _, id := range []string{"plain", "secure", "custom"} {
		rg := waitRG(t, c, id, "available")
		g := rg.NodeGroups[0]
		want := int32(6379)
		if id == "custom" {
			want = 7000
		}
		for _, e := range []*types.Endpoint{g.PrimaryEndpoint, g.ReaderEndpoint} {
			if a := aws.ToString(e.Address); aws.ToInt32(e.Port) != want || !strings.HasPrefix(a, "127.") || a == "127.0.0.1" {
				t.Errorf("%s: endpoint %s, want an address of its own in 127.0.0.0/8, port %d", id, addrOf(e), want)
			}
		}
		claim(addrOf(g.PrimaryEndpoint), id+" primary endpoint")
		claim(addrOf(g.ReaderEndpoint), id+" reader endpoint")
		nodes := rgNodes(t, ts, rg)
		for i, m := range g.NodeGroupMembers {
			if aws.ToInt32(m.ReadEndpoint.Port) != want {
				t.Errorf("%s: node %s on port %d, want %d", id, aws.ToString(m.CacheClusterId), aws.ToInt32(m.ReadEndpoint.Port), want)
			}
			claim(addrOf(m.ReadEndpoint), aws.ToString(m.CacheClusterId))
			wantRole := "slave"
			if aws.ToString(m.CurrentRole) == "primary" {
				wantRole = "master"
			}
			if got := role(t, nodes[i]); got != wantRole {
				t.Errorf("%s: ROLE %s, want %s", aws.ToString(m.CacheClusterId), got, wantRole)
			}
		}
		tlsConf := nodes[0].tls
		if got := role(t, node{addr: addrOf(g.PrimaryEndpoint), tls: tlsConf}); got != "master" {
			t.Errorf("%s: primary endpoint reaches a %s", id, got)
		}
		if got := role(t, node{addr: addrOf(g.ReaderEndpoint), tls: tlsConf}); got != "slave" {
			t.Errorf("%s: reader endpoint reaches a %s", id, got)
		}
		pc := node{addr: addrOf(g.PrimaryEndpoint), tls: tlsConf}.client("", "")
		if err := pc.Set(t.Context(), "k", id, 0).Err(); err != nil {
			t.Errorf("%s: SET through the primary endpoint: %v", id, err)
		}
		pc.Close()
	}
	cc, err := c.DescribeCacheClusters(t.Context(), &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("plain-002"), ShowCacheNodeInfo: aws.Bool(true)})
	if err != nil || len(cc.CacheClusters) != 1 {
		t.Fatal(cc, err)
	}
	if e := cc.CacheClusters[0].CacheNodes[0].Endpoint; seen[aws.ToString(e.Address)] != "plain-002" || aws.ToInt32(e.Port) != 6379 {
		t.Errorf("DescribeCacheClusters reports plain-002 at %s", addrOf(e))
	}
}

// waitPrimary waits until the group reports a primary other than old.
func waitPrimary(t *testing.T, c *elasticache.Client, id, old string) types.ReplicationGroup {
	t.Helper()
	var rg types.ReplicationGroup
	keywardtest.Eventually(t, 20*time.Second, "a new primary of "+id, func() bool {
		out, err := c.DescribeReplicationGroups(context.Background(), &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil {
			return false
		}
		rg = out.ReplicationGroups[0]
		for _, m := range rg.NodeGroups[0].NodeGroupMembers {
			if aws.ToString(m.CurrentRole) == "primary" && aws.ToString(m.CacheClusterId) != old {
				return true
			}
		}
		return false
	})
	return rg
}

func TestFailover_KillPrimaryPromotesReplica(t *testing.T) {
	redistest.Binary(t)
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			ts := keywardtest.New(t)
			c := ts.Client
			_, err := c.CreateReplicationGroup(t.Context(), &elasticache.CreateReplicationGroupInput{
				ReplicationGroupId: aws.String("ha"), ReplicationGroupDescription: aws.String("failover"),
				NumCacheClusters: aws.Int32(3), AutomaticFailoverEnabled: aws.Bool(true), TransitEncryptionEnabled: aws.Bool(tlsOn),
			})
			if err != nil {
				t.Fatal(err)
			}
			rg := waitRG(t, c, "ha", "available")
			g := rg.NodeGroups[0]
			primaryEP := addrOf(g.PrimaryEndpoint)
			nodes := rgNodes(t, ts, rg)
			ep := node{addr: primaryEP, tls: nodes[0].tls}
			pc := ep.client("", "")
			defer pc.Close()
			for i := range 100 {
				if err := pc.Set(t.Context(), fmt.Sprint("k", i), i, 0).Err(); err != nil {
					t.Fatal(err)
				}
			}
			if err := pc.Do(t.Context(), "WAIT", 2, 2000).Err(); err != nil {
				t.Fatal(err)
			}
			en, ok := ts.Engine().Node("000000000000.us-east-1.ha-001")
			if !ok || en.PID == 0 {
				t.Fatal("no running primary ha-001")
			}
			if err := syscall.Kill(en.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rg = waitPrimary(t, c, "ha", "ha-001")
			t.Logf("replica promoted %v after kill -9", time.Since(start).Round(time.Millisecond))
			g = rg.NodeGroups[0]
			if addrOf(g.PrimaryEndpoint) != primaryEP {
				t.Errorf("primary endpoint moved from %s to %s", primaryEP, addrOf(g.PrimaryEndpoint))
			}
			// The primary endpoint reaches the new, writable primary.
			keywardtest.Eventually(t, 10*time.Second, "a write through the primary endpoint", func() bool {
				cl := ep.client("", "")
				defer cl.Close()
				return cl.Set(context.Background(), "after", "failover", 0).Err() == nil && cl.Get(context.Background(), "k99").Val() == "99"
			})
			t.Logf("writable through the primary endpoint %v after kill -9", time.Since(start).Round(time.Millisecond))
			// The old primary comes back as a replica of the new one, on its
			// own address and port, with the data.
			old := node{addr: addrOf(g.NodeGroupMembers[0].ReadEndpoint), tls: nodes[0].tls}
			if old.addr != nodes[0].addr {
				t.Errorf("ha-001 moved from %s to %s", nodes[0].addr, old.addr)
			}
			keywardtest.Eventually(t, 20*time.Second, "ha-001 to replicate the new primary", func() bool {
				cl := old.client("", "")
				defer cl.Close()
				return role(t, old) == "slave" && cl.Get(context.Background(), "after").Val() == "failover"
			})
			roles := map[string]string{}
			for _, m := range g.NodeGroupMembers {
				roles[aws.ToString(m.CacheClusterId)] = aws.ToString(m.CurrentRole)
			}
			if roles["ha-001"] != "replica" {
				t.Errorf("roles after failover: %v", roles)
			}
			if got := role(t, node{addr: addrOf(g.ReaderEndpoint), tls: nodes[0].tls}); got != "slave" {
				t.Errorf("reader endpoint reaches a %s after failover", got)
			}
			ev, err := c.DescribeEvents(t.Context(), &elasticache.DescribeEventsInput{SourceType: types.SourceTypeReplicationGroup, SourceIdentifier: aws.String("ha")})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range ev.Events {
				found = found || strings.HasPrefix(aws.ToString(e.Message), "Failover from master node ha-001 to replica node ha-00")
			}
			if !found {
				t.Errorf("no failover event among %d events", len(ev.Events))
			}
			// A modification after the failover completes once every
			// replica holds what the promoted primary, no longer the
			// group's first node, holds.
			if _, err := c.IncreaseReplicaCount(t.Context(), &elasticache.IncreaseReplicaCountInput{ReplicationGroupId: aws.String("ha"),
				NewReplicaCount: aws.Int32(3), ApplyImmediately: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
			if rg = waitRG(t, c, "ha", "available"); len(rg.MemberClusters) != 4 {
				t.Errorf("members after IncreaseReplicaCount: %v", rg.MemberClusters)
			}
		})
	}
}

func TestFailover_OffRestartsPrimary(t *testing.T) {
	redistest.Binary(t)
	ts := keywardtest.New(t)
	c := ts.Client
	createRG(t, c, "solo", 2, false)
	rg := waitRG(t, c, "solo", "available")
	nodes := rgNodes(t, ts, rg)
	en, _ := ts.Engine().Node("000000000000.us-east-1.solo-001")
	if err := syscall.Kill(en.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 20*time.Second, "solo-001 restarted", func() bool {
		n, ok := ts.Engine().Node(en.ID)
		return ok && n.PID != 0 && n.PID != en.PID && role(t, nodes[0]) == "master"
	})
	after := waitRG(t, c, "solo", "available")
	if m := after.NodeGroups[0].NodeGroupMembers[0]; aws.ToString(m.CurrentRole) != "primary" || addrOf(m.ReadEndpoint) != nodes[0].addr {
		t.Errorf("after the restart solo-001 is %s at %s", aws.ToString(m.CurrentRole), addrOf(m.ReadEndpoint))
	}
}
