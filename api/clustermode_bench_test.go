package api_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// BenchmarkClusterMode measures, on a 3-shard × 3-node TLS cluster with a
// user group, how long after DeleteUser returns every node refuses the
// user (p50/p99 over b.N deletions), and how long the cluster took to
// become available. Run: go test -run - -bench ClusterMode -benchtime 20x ./api/
func BenchmarkClusterMode(b *testing.B) {
	redistest.Binary(b)
	ts := keywardtest.New(b)
	c := ts.Client
	ctx := b.Context()
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("bg"), Engine: aws.String("redis"), UserIds: []string{"default"}}); err != nil {
		b.Fatal(err)
	}
	groupActive := func() bool {
		out, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("bg")})
		return err == nil && aws.ToString(out.UserGroups[0].Status) == "active"
	}
	keywardtest.Eventually(b, 10*time.Second, "group active", groupActive)
	start := time.Now()
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("bench"), ReplicationGroupDescription: aws.String("b"),
		NumNodeGroups: aws.Int32(3), ReplicasPerNodeGroup: aws.Int32(2), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: []string{"bg"}}); err != nil {
		b.Fatal(err)
	}
	var rgMembers []string
	keywardtest.Eventually(b, 60*time.Second, "cluster available", func() bool {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("bench")})
		if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
			return false
		}
		rgMembers = out.ReplicationGroups[0].MemberClusters
		return true
	})
	toAvailable := time.Since(start)
	var nodes []node
	for _, m := range rgMembers {
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(m), ShowCacheNodeInfo: aws.Bool(true)})
		if err != nil {
			b.Fatal(err)
		}
		nodes = append(nodes, node{addr: nodeAddr(out.CacheClusters[0].CacheNodes[0]), tls: ts.Engine().TLSConfig()})
	}
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		id, pass := fmt.Sprintf("u%d", i), fmt.Sprintf("u%d-password-000001", i)
		if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String(id), UserName: aws.String(id), Engine: aws.String("redis"),
			AccessString: aws.String("on ~* +@all"), Passwords: []string{pass}}); err != nil {
			b.Fatal(err)
		}
		keywardtest.Eventually(b, 20*time.Second, "group active", groupActive)
		if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("bg"), UserIdsToAdd: []string{id}}); err != nil {
			b.Fatal(err)
		}
		keywardtest.Eventually(b, 20*time.Second, "user on every node", func() bool {
			for _, n := range nodes {
				if n.auth(id, pass) != nil {
					return false
				}
			}
			return groupActive()
		})
		b.StartTimer()
		t0 := time.Now()
		if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(id)}); err != nil {
			b.Fatal(err)
		}
		for refused := 0; refused < len(nodes); {
			refused = 0
			for _, n := range nodes {
				if n.auth(id, pass) != nil {
					refused++
				}
			}
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(toAvailable.Milliseconds()), "ms-to-available")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ms-p50-refused-all")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "ms-p99-refused-all")
}

// BenchmarkClusterModeCreate measures CreateReplicationGroup of 3 shards ×
// 2 nodes (TLS, a user group) → available, b.N times, and reports the
// median and the slowest. Available means what the reconciler waits for:
// all 16384 slots covered with cluster_state ok on every node, every
// replica in sync, the ACLs applied on every node; each round checks the
// last (the group's user authenticates on every node) before the next.
// Run: go test -run - -bench ClusterModeCreate -benchtime 5x ./api/
func BenchmarkClusterModeCreate(b *testing.B) {
	redistest.Binary(b)
	ts := keywardtest.New(b)
	c := ts.Client
	ctx := b.Context()
	if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{UserId: aws.String("bu"), UserName: aws.String("bu"), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{"bench-password-000001"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("bg"), Engine: aws.String("redis"), UserIds: []string{"default", "bu"}}); err != nil {
		b.Fatal(err)
	}
	keywardtest.Eventually(b, 10*time.Second, "group active", func() bool {
		out, err := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("bg")})
		return err == nil && aws.ToString(out.UserGroups[0].Status) == "active"
	})
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("bench%d", i)
		start := time.Now()
		if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("b"),
			NumNodeGroups: aws.Int32(3), ReplicasPerNodeGroup: aws.Int32(1), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: []string{"bg"}}); err != nil {
			b.Fatal(err)
		}
		var members []string
		keywardtest.Eventually(b, 60*time.Second, "cluster available", func() bool {
			out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
			if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
				return false
			}
			members = out.ReplicationGroups[0].MemberClusters
			return true
		})
		took = append(took, time.Since(start))
		b.StopTimer()
		if len(members) != 6 {
			b.Fatalf("%d members, want 6", len(members))
		}
		for _, m := range members {
			out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(m), ShowCacheNodeInfo: aws.Bool(true)})
			if err != nil {
				b.Fatal(err)
			}
			n := node{addr: nodeAddr(out.CacheClusters[0].CacheNodes[0]), tls: ts.Engine().TLSConfig()}
			if err := n.auth("bu", "bench-password-000001"); err != nil {
				b.Fatalf("node %s of an available group refuses the group's user: %v", m, err)
			}
		}
		if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(id)}); err != nil {
			b.Fatal(err)
		}
		keywardtest.Eventually(b, 60*time.Second, "cluster gone", func() bool {
			_, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
			code, _ := keywardtest.APIError(err)
			return code == "ReplicationGroupNotFoundFault"
		})
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "ms-median-to-available")
	b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "ms-max-to-available")
}
