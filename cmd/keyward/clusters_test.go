package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/bradfitz/gomemcache/memcache"
	"github.com/redis/go-redis/v9"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// TestRestart_AdoptsMemcachedAndClusterNodes: memcached nodes and Redis
// Cluster nodes outlive a keyward killed with kill -9; the next keyward
// adopts them with their data (same processes), and deletes them on request.
func TestRestart_AdoptsMemcachedAndClusterNodes(t *testing.T) {
	redistest.Binary(t)
	redistest.Memcached(t)
	dir, addr := t.TempDir(), freeAddr(t)
	t.Cleanup(func() { killUnder(dir) })
	p := startKeyward(t, addr, dir, nil)
	c := p.client()
	ctx := t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{CacheClusterId: aws.String("mc"), Engine: aws.String("memcached"),
		CacheNodeType: aws.String("cache.t4g.micro"), NumCacheNodes: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String("cm"), ReplicationGroupDescription: aws.String("cm"),
		NumNodeGroups: aws.Int32(2), ReplicasPerNodeGroup: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	var mcAddrs []string
	var mcCfg string
	keywardtest.Eventually(t, 30*time.Second, "memcached cluster available", func() bool {
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String("mc"), ShowCacheNodeInfo: aws.Bool(true)})
		if err != nil || aws.ToString(out.CacheClusters[0].CacheClusterStatus) != "available" {
			return false
		}
		ep := out.CacheClusters[0].ConfigurationEndpoint
		mcCfg = fmt.Sprintf("%s:%d", aws.ToString(ep.Address), aws.ToInt32(ep.Port))
		mcAddrs = nil
		for _, n := range out.CacheClusters[0].CacheNodes {
			mcAddrs = append(mcAddrs, fmt.Sprintf("%s:%d", aws.ToString(n.Endpoint.Address), aws.ToInt32(n.Endpoint.Port)))
		}
		return true
	})
	var cfg string
	keywardtest.Eventually(t, 30*time.Second, "cluster-mode group available", func() bool {
		out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String("cm")})
		if err != nil || aws.ToString(out.ReplicationGroups[0].Status) != "available" {
			return false
		}
		ep := out.ReplicationGroups[0].ConfigurationEndpoint
		cfg = fmt.Sprintf("%s:%d", aws.ToString(ep.Address), aws.ToInt32(ep.Port))
		return true
	})
	mc := memcache.New(mcAddrs...)
	for i := range 20 {
		if err := mc.Set(&memcache.Item{Key: fmt.Sprintf("k%d", i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	rc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{cfg}})
	defer rc.Close()
	for i := range 50 {
		if err := rc.Set(ctx, fmt.Sprintf("r%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}

	before := configGetCluster(t, mcCfg)
	p.kill()
	// The fronts are processes of their own: Auto Discovery and the data
	// are served while keyward is down.
	if got := configGetCluster(t, mcCfg); got != before {
		t.Fatalf("while keyward is down the configuration endpoint answers %q, before %q", got, before)
	}
	if _, err := mc.Get("k0"); err != nil {
		t.Fatalf("while keyward is down: %v", err)
	}
	p = startKeyward(t, addr, dir, nil)
	c = p.client()
	if got := configGetCluster(t, mcCfg); got != before {
		t.Fatalf("after the restart the configuration endpoint answers %q, before %q", got, before)
	}
	// memcached keeps data in memory only: a replaced process would have
	// lost the keys.
	for i := range 20 {
		if _, err := mc.Get(fmt.Sprintf("k%d", i)); err != nil {
			t.Fatalf("after the restart k%d: %v (node replaced instead of adopted?)", i, err)
		}
	}
	for i := range 50 {
		if v, err := rc.Get(ctx, fmt.Sprintf("r%d", i)).Result(); err != nil || v != strconv.Itoa(i) {
			t.Fatalf("after the restart r%d = %q, %v", i, v, err)
		}
	}
	for _, id := range []string{"mc"} {
		out, err := c.DescribeCacheClusters(ctx, &elasticache.DescribeCacheClustersInput{CacheClusterId: aws.String(id)})
		if err != nil || aws.ToString(out.CacheClusters[0].CacheClusterStatus) != "available" {
			t.Fatalf("after the restart %s: %v %v", id, out, err)
		}
	}
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("mc")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String("cm")}); err != nil {
		t.Fatal(err)
	}
	keywardtest.Eventually(t, 20*time.Second, "every node stopped", func() bool { return countUnder(dir) == 0 })
}

// configGetCluster asks a Memcached configuration endpoint for the
// cluster configuration and returns the answer's body.
func configGetCluster(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(conn, "config get cluster\r\n")
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	var n int
	if _, serr := fmt.Sscanf(head, "CONFIG cluster 0 %d\r\n", &n); err != nil || serr != nil {
		t.Fatalf("%s answered %q: %v", addr, head, err)
	}
	body := make([]byte, n+len("\r\nEND\r\n"))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(body), "1\n") || strings.Count(string(body), "|") != 4 {
		t.Fatalf("configuration %q: want version 1 and 2 nodes", body)
	}
	return string(body[:n])
}

// processesUnder lists the pids whose command line names a path under dir.
func processesUnder(dir string) []int {
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(dir+"/")) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func countUnder(dir string) int {
	n := 0
	for _, pid := range processesUnder(dir) {
		if b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline")); err == nil &&
			(bytes.Contains(b, []byte(dir+"/nodes/")) || bytes.Contains(b, []byte(dir+"/memcached/"))) {
			n++
		}
	}
	return n
}

func killUnder(dir string) {
	for _, pid := range processesUnder(dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
