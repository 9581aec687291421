package api_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/bradfitz/gomemcache/memcache"

	"keyward/internal/redistest"
	"keyward/keywardtest"
)

// discovered is an Auto Discovery answer.
type discovered struct {
	version int64
	nodes   []string // host|ip|port
}

// discover asks addr "config get cluster" (or, legacy, "get
// AmazonElastiCache:cluster") over a raw text-protocol connection, as the
// ElastiCache cluster clients do, and checks the answer's framing.
func discover(t *testing.T, addr string, legacy bool, tc *tls.Config) discovered {
	t.Helper()
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, tc)
	} else {
		c, err = net.DialTimeout("tcp", addr, 5*time.Second)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	cmd, header := "config get cluster\r\n", "CONFIG cluster 0 "
	if legacy {
		cmd, header = "get AmazonElastiCache:cluster\r\n", "VALUE AmazonElastiCache:cluster 0 "
	}
	if _, err := io.WriteString(c, cmd); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, header) || !strings.HasSuffix(line, "\r\n") {
		t.Fatalf("%s answered %q, %v", addr, line, err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(line[len(header):], "\r\n"))
	if err != nil {
		t.Fatalf("length in %q: %v", line, err)
	}
	body := make([]byte, n+len("\r\nEND\r\n"))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	if string(body[n:]) != "\r\nEND\r\n" {
		t.Fatalf("answer ends %q", body[n:])
	}
	lines := strings.Split(string(body[:n]), "\n")
	if len(lines) != 3 || lines[2] != "" {
		t.Fatalf("answer body %q", body[:n])
	}
	v, err := strconv.ParseInt(lines[0], 10, 64)
	if err != nil {
		t.Fatalf("version %q", lines[0])
	}
	return discovered{version: v, nodes: strings.Fields(lines[1])}
}

// discoveredAddrs turns host|ip|port entries into dial addresses.
func discoveredAddrs(t *testing.T, d discovered) []string {
	t.Helper()
	var out []string
	for _, e := range d.nodes {
		f := strings.Split(e, "|")
		if len(f) != 3 || f[0] == "" || net.ParseIP(f[1]) == nil {
			t.Fatalf("entry %q", e)
		}
		out = append(out, net.JoinHostPort(f[1], f[2]))
	}
	return out
}

// wantDiscovery checks that the configuration endpoint and every node
// answer the same, listing exactly the cluster's nodes in order.
func wantDiscovery(t *testing.T, cc types.CacheCluster, tc *tls.Config) discovered {
	t.Helper()
	cfg := net.JoinHostPort(aws.ToString(cc.ConfigurationEndpoint.Address), strconv.Itoa(int(aws.ToInt32(cc.ConfigurationEndpoint.Port))))
	d := discover(t, cfg, false, tc)
	var want []string
	for _, n := range cc.CacheNodes {
		a := aws.ToString(n.Endpoint.Address)
		want = append(want, fmt.Sprintf("%s|%s|%d", a, a, aws.ToInt32(n.Endpoint.Port)))
	}
	if !slices.Equal(d.nodes, want) {
		t.Fatalf("discovery lists %v, want the cluster's nodes %v", d.nodes, want)
	}
	for _, n := range cc.CacheNodes {
		if got := discover(t, nodeAddr(n), false, tc); got.version != d.version || !slices.Equal(got.nodes, d.nodes) {
			t.Fatalf("node %s answers %+v, the configuration endpoint %+v", aws.ToString(n.CacheNodeId), got, d)
		}
	}
	if got := discover(t, nodeAddr(cc.CacheNodes[0]), true, tc); got.version != d.version || !slices.Equal(got.nodes, d.nodes) {
		t.Fatalf("legacy form answers %+v, want %+v", got, d)
	}
	return d
}

// useDiscovered stores and reads keys on every discovered node, and
// through the configuration endpoint, with gomemcache.
func useDiscovered(t *testing.T, cc types.CacheCluster, d discovered, tc *tls.Config, tag string) {
	t.Helper()
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if tc == nil {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		return (&tls.Dialer{Config: tc}).DialContext(ctx, network, addr)
	}
	for i, addr := range discoveredAddrs(t, d) {
		c := memcache.New(addr)
		c.DialContext, c.Timeout = dial, 5*time.Second
		key := fmt.Sprintf("%s-%d", tag, i)
		if err := c.Set(&memcache.Item{Key: key, Value: []byte(addr)}); err != nil {
			t.Fatalf("set on discovered node %s: %v", addr, err)
		}
		if it, err := c.Get(key); err != nil || string(it.Value) != addr {
			t.Fatalf("get on discovered node %s: %v %v", addr, it, err)
		}
	}
	all := memcache.New(discoveredAddrs(t, d)...)
	all.DialContext, all.Timeout = dial, 5*time.Second
	for i := range 50 {
		if err := all.Set(&memcache.Item{Key: fmt.Sprintf("%s-spread-%d", tag, i), Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		if _, err := all.Get(fmt.Sprintf("%s-spread-%d", tag, i)); err != nil {
			t.Fatalf("spread get %d: %v", i, err)
		}
	}
	// The configuration endpoint relays to a node, as ElastiCache's (a
	// DNS name of one node) does.
	cfg := memcache.New(net.JoinHostPort(aws.ToString(cc.ConfigurationEndpoint.Address), strconv.Itoa(int(aws.ToInt32(cc.ConfigurationEndpoint.Port)))))
	cfg.DialContext, cfg.Timeout = dial, 5*time.Second
	if err := cfg.Set(&memcache.Item{Key: tag + "-cfg", Value: []byte("x")}); err != nil {
		t.Fatalf("set through the configuration endpoint: %v", err)
	}
	if _, err := cfg.Get(tag + "-cfg"); err != nil {
		t.Fatalf("get through the configuration endpoint: %v", err)
	}
}

func TestCacheCluster_MemcachedAutoDiscovery(t *testing.T) {
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	if _, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("disc"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"),
		NumCacheNodes: aws.Int32(3), AZMode: types.AZModeCrossAz,
	}); err != nil {
		t.Fatal(err)
	}
	cc := waitCluster(t, c, "disc")
	ep := cc.ConfigurationEndpoint
	if ep == nil || aws.ToInt32(ep.Port) != 11211 {
		t.Fatalf("configuration endpoint %+v", ep)
	}
	for _, n := range cc.CacheNodes {
		if aws.ToString(n.Endpoint.Address) == aws.ToString(ep.Address) {
			t.Fatalf("the configuration endpoint %s is node %s's address", aws.ToString(ep.Address), aws.ToString(n.CacheNodeId))
		}
	}
	d := wantDiscovery(t, cc, nil)
	if d.version != 1 || len(d.nodes) != 3 {
		t.Fatalf("first configuration: %+v", d)
	}
	useDiscovered(t, cc, d, nil, "v1")

	// Adding two nodes: one more version, five nodes, same endpoint.
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("disc"),
		NumCacheNodes: aws.Int32(5), ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	cc = waitCluster(t, c, "disc")
	if got := cc.ConfigurationEndpoint; aws.ToString(got.Address) != aws.ToString(ep.Address) || aws.ToInt32(got.Port) != aws.ToInt32(ep.Port) {
		t.Fatalf("configuration endpoint moved from %+v to %+v", ep, got)
	}
	d2 := wantDiscovery(t, cc, nil)
	if d2.version != d.version+1 || len(d2.nodes) != 5 || !slices.Equal(d2.nodes[:3], d.nodes) {
		t.Fatalf("after adding: %+v (was %+v)", d2, d)
	}
	useDiscovered(t, cc, d2, nil, "v2")

	// Removing 0001 and 0004: one more version, without them. The
	// endpoint now relays to 0002.
	if _, err := c.ModifyCacheCluster(ctx, &elasticache.ModifyCacheClusterInput{CacheClusterId: aws.String("disc"),
		NumCacheNodes: aws.Int32(3), CacheNodeIdsToRemove: []string{"0001", "0004"}, ApplyImmediately: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	cc = waitCluster(t, c, "disc")
	if got := nodeIDs(cc); !slices.Equal(got, []string{"0002", "0003", "0005"}) {
		t.Fatalf("nodes %v", got)
	}
	d3 := wantDiscovery(t, cc, nil)
	if d3.version != d2.version+1 || !slices.Equal(d3.nodes, []string{d2.nodes[1], d2.nodes[2], d2.nodes[4]}) {
		t.Fatalf("after removing: %+v (was %+v)", d3, d2)
	}
	useDiscovered(t, cc, d3, nil, "v3")

	// A reboot changes no node: the version stays.
	if _, err := c.RebootCacheCluster(ctx, &elasticache.RebootCacheClusterInput{CacheClusterId: aws.String("disc"), CacheNodeIdsToReboot: []string{"0003"}}); err != nil {
		t.Fatal(err)
	}
	cc = waitCluster(t, c, "disc")
	if d4 := wantDiscovery(t, cc, nil); d4.version != d3.version {
		t.Fatalf("a reboot changed the version: %+v, was %+v", d4, d3)
	}

	// Delete: the configuration endpoint goes with the cluster.
	if _, err := c.DeleteCacheCluster(ctx, &elasticache.DeleteCacheClusterInput{CacheClusterId: aws.String("disc")}); err != nil {
		t.Fatal(err)
	}
	waitTF(t, "delete", []string{"deleting"}, "", clusterStatus(c, "disc"))
	cfgAddr := net.JoinHostPort(aws.ToString(ep.Address), strconv.Itoa(int(aws.ToInt32(ep.Port))))
	if conn, err := net.DialTimeout("tcp", cfgAddr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("the deleted cluster's configuration endpoint %s still listens", cfgAddr)
	}
	if n := ts.Memcached().Endpoints(); len(n) != 0 {
		t.Fatalf("endpoints left: %v", n)
	}
}

func TestCacheCluster_MemcachedTLS(t *testing.T) {
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	c := ts.Client
	ctx := t.Context()
	out, err := c.CreateCacheCluster(ctx, &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mctls"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"),
		NumCacheNodes: aws.Int32(2), TransitEncryptionEnabled: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(out.CacheCluster.TransitEncryptionEnabled) {
		t.Fatalf("create answered TransitEncryptionEnabled %v", out.CacheCluster.TransitEncryptionEnabled)
	}
	cc := waitCluster(t, c, "mctls")
	if !aws.ToBool(cc.TransitEncryptionEnabled) || cc.TransitEncryptionMode != types.TransitEncryptionModeRequired {
		t.Fatalf("describe: TransitEncryptionEnabled %v mode %q", cc.TransitEncryptionEnabled, cc.TransitEncryptionMode)
	}
	tc := ts.Engine().TLSConfig() // verifies against keyward's CA, names included
	d := wantDiscovery(t, cc, tc)
	if d.version != 1 || len(d.nodes) != 2 {
		t.Fatalf("discovery %+v", d)
	}
	useDiscovered(t, cc, d, tc, "tls")

	// Plain text is refused on every endpoint: the node's memcached is
	// reachable only through its front.
	for _, addr := range append(discoveredAddrs(t, d),
		net.JoinHostPort(aws.ToString(cc.ConfigurationEndpoint.Address), strconv.Itoa(int(aws.ToInt32(cc.ConfigurationEndpoint.Port))))) {
		plain := memcache.New(addr)
		plain.Timeout = 2 * time.Second
		if err := plain.Set(&memcache.Item{Key: "plain", Value: []byte("x")}); err == nil {
			t.Fatalf("%s accepted a plain-text set", addr)
		}
	}
	// A client that does not trust keyward's CA fails the handshake.
	if _, err := tls.Dial("tcp", discoveredAddrs(t, d)[0], &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("TLS handshake succeeded without keyward's CA")
	}
}

func TestCacheCluster_MemcachedTransitEncryptionFaults(t *testing.T) {
	redistest.Memcached(t)
	ts := keywardtest.New(t)
	_, err := ts.Client.CreateCacheCluster(t.Context(), &elasticache.CreateCacheClusterInput{
		CacheClusterId: aws.String("mctok"), Engine: aws.String("memcached"), CacheNodeType: aws.String("cache.t4g.micro"),
		TransitEncryptionEnabled: aws.Bool(true), AuthToken: aws.String("0123456789abcdefXYZ"),
	})
	keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
}
