package engine_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"keyward/engine"
	"keyward/internal/redistest"
)

// roleOf runs ROLE as n's admin user at n.Addr.
func roleOf(t *testing.T, dir string, n *engine.Node) string {
	t.Helper()
	r, err := adminClient(t, dir, n, nil).Do(context.Background(), "ROLE").Slice()
	if err != nil || len(r) == 0 {
		return fmt.Sprint(err)
	}
	return fmt.Sprint(r[0])
}

// ensureAtOnce ensures every spec at the same time, as the reconciler
// handles a cache's nodes.
func ensureAtOnce(t *testing.T, m *engine.Manager, specs ...engine.NodeSpec) {
	t.Helper()
	errs := make(chan error, len(specs))
	for _, spec := range specs {
		go func() {
			_, err := m.Ensure(t.Context(), spec)
			errs <- err
		}()
	}
	for range specs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// testRange picks a /24 of loopback addresses from dir, so that tests
// running at the same time rarely meet on an address.
func testRange(dir string) netip.Prefix {
	h := fnv.New32a()
	h.Write([]byte(dir))
	v := h.Sum32()
	return netip.MustParsePrefix(fmt.Sprintf("127.%d.%d.0/24", 20+v%200, (v>>8)%256))
}

// newAddrManager is newManager with node addresses from testRange(dir).
func newAddrManager(tb testing.TB, dir string, onExit func(string)) *engine.Manager {
	tb.Helper()
	bin := redistest.Binary(tb)
	killStraysAtEnd(tb, dir)
	m := &engine.Manager{
		DataDir: dir, RedisServer: bin, Logger: testLogger(tb),
		Addresses: testRange(dir), OnExit: onExit, FailoverHold: 2 * time.Second,
	}
	if err := m.Open(tb.Context()); err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		for _, n := range m.Nodes() {
			if err := m.Stop(context.Background(), n.ID); err != nil && !errors.Is(err, engine.ErrClosed) {
				tb.Errorf("cleanup: Stop(%s): %v", n.ID, err)
			}
		}
		m.Close()
	})
	return m
}

func ping(addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr, Username: "default", Password: "x", Protocol: 2, MaxRetries: -1, DisableIdentity: true,
		DialTimeout: time.Second, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	defer c.Close()
	err := c.Ping(context.Background()).Err()
	if err != nil && (strings.Contains(err.Error(), "WRONGPASS") || strings.Contains(err.Error(), "NOAUTH")) {
		return nil // a server answered
	}
	return err
}

func TestAddresses_OwnAddressSamePortKeptAcrossOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newAddrManager(t, dir, nil)
	p := ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379})
	// Someone else's server holds the next address's 6379: it is skipped.
	next := netip.MustParseAddr(p.Host).Next()
	l, err := net.Listen("tcp", net.JoinHostPort(next.String(), "6379"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := ensure(t, m, engine.NodeSpec{ID: "r", Engine: "redis", ReplicaOf: "p", Port: 6379})
	other := ensure(t, m, engine.NodeSpec{ID: "o", Engine: "redis", Port: 7001})
	for _, n := range []*engine.Node{p, r} {
		if n.Port != 6379 || n.Host == "127.0.0.1" || !testRange(dir).Contains(netip.MustParseAddr(n.Host)) {
			t.Errorf("node %s at %s, want an address of the range on 6379", n.ID, n.Addr)
		}
	}
	if other.Port != 7001 {
		t.Errorf("node o on port %d, want 7001", other.Port)
	}
	if p.Host == r.Host || r.Host == next.String() || other.Host == p.Host || other.Host == r.Host {
		t.Errorf("addresses p %s, r %s, o %s (busy %s)", p.Host, r.Host, other.Host, next)
	}
	for _, n := range []*engine.Node{p, r, other} {
		if err := ping(n.Addr); err != nil {
			t.Errorf("%s does not answer on %s: %v", n.ID, n.Addr, err)
		}
	}

	// An endpoint address, bound by the primary, then moved to the replica.
	ep, err := m.ReserveAddress("g#primary", 6379)
	if err != nil || ep == "" || ep == p.Host || ep == r.Host || ep == next.String() {
		t.Fatalf("ReserveAddress = %q, %v", ep, err)
	}
	if again, _ := m.ReserveAddress("g#primary", 6379); again != ep {
		t.Errorf("a second ReserveAddress moved the reservation: %s, then %s", ep, again)
	}
	epAddr := net.JoinHostPort(ep, "6379")
	ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379, Binds: []string{ep}})
	if err := ping(epAddr); err != nil {
		t.Fatalf("the endpoint address does not reach the primary: %v", err)
	}
	if _, err := m.Ensure(t.Context(), engine.NodeSpec{ID: "o", Engine: "redis", Binds: []string{r.Host}}); err == nil {
		t.Error("a node was allowed to bind another node's address")
	}
	// Both at once, as the reconciler does after a failover.
	ensureAtOnce(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379},
		engine.NodeSpec{ID: "r", Engine: "redis", ReplicaOf: "p", Port: 6379, Binds: []string{ep}})
	if err := ping(epAddr); err != nil {
		t.Fatalf("the endpoint address does not reach the replica it moved to: %v", err)
	}
	// r's admin password works there only if the address reaches r.
	n, _ := m.Node("r")
	viaEP := *n
	viaEP.Addr = epAddr
	if got := roleOf(t, dir, &viaEP); got != "slave" {
		t.Errorf("the endpoint address reaches %s, not the replica r", got)
	}
	// Two addresses swapped at once, as the primary and reader endpoints
	// after a failover: each node gives up its own before it waits for
	// the other's, so neither waits and neither is left deaf.
	rp, err := m.ReserveAddress("g#reader", 6379)
	if err != nil {
		t.Fatal(err)
	}
	ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379, Binds: []string{rp}})
	start := time.Now()
	ensureAtOnce(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379, Binds: []string{ep}},
		engine.NodeSpec{ID: "r", Engine: "redis", ReplicaOf: "p", Port: 6379, Binds: []string{rp}})
	t.Logf("endpoint addresses swapped in %v", time.Since(start).Round(time.Millisecond))
	for _, a := range []struct{ addr, role string }{{p.Addr, "master"}, {epAddr, "master"}, {r.Addr, "slave"}, {net.JoinHostPort(rp, "6379"), "slave"}} {
		n, _ := m.Node("p")
		if a.role == "slave" {
			n, _ = m.Node("r")
		}
		via := *n
		via.Addr = a.addr
		if got := roleOf(t, dir, &via); got != a.role {
			t.Errorf("%s reaches a %s after the swap, want the %s", a.addr, got, a.role)
		}
	}

	// Close and Open again: the same addresses, ports and reservation.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2 := newAddrManager(t, dir, nil)
	for _, want := range []*engine.Node{p, r, other} {
		got, ok := m2.Node(want.ID)
		if !ok || got.Addr != want.Addr {
			t.Errorf("after Open %s is at %v, want %s", want.ID, got, want.Addr)
		}
	}
	if again, _ := m2.ReserveAddress("g#primary", 6379); again != ep {
		t.Errorf("reservation after Open: %s, want %s", again, ep)
	}
	if err := ping(epAddr); err != nil {
		t.Errorf("the endpoint address after Open: %v", err)
	}
	// A node killed while no Manager runs comes back on its address too.
	if err := syscall.Kill(other.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	eventually(t, 5*time.Second, func() error {
		if processAlive(other.PID) {
			return errors.New("still running")
		}
		return nil
	})
	m3 := newAddrManager(t, dir, nil)
	got, _ := m3.Node("o")
	if got.Addr != other.Addr || got.PID == other.PID {
		t.Errorf("node o after a restart: %+v, want %s", got, other.Addr)
	}
	if err := m3.ReleaseAddress("g#primary"); err != nil {
		t.Fatal(err)
	}
}

func TestAddresses_FailoverPrimaryHeld(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exits := make(chan string, 4)
	m := newAddrManager(t, dir, func(id string) { exits <- id })
	p := ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379, Failover: true})
	ensure(t, m, engine.NodeSpec{ID: "r", Engine: "redis", ReplicaOf: "p", Port: 6379})
	if err := syscall.Kill(p.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-exits:
		if id != "p" {
			t.Fatalf("OnExit(%s)", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnExit not called")
	}
	time.Sleep(500 * time.Millisecond)
	if n, _ := m.Node("p"); n.PID != 0 {
		t.Fatalf("the failing-over primary was restarted at once (pid %d)", n.PID)
	}
	// A pass that began before the death ensures p as the primary still:
	// the hold stands (else the failover it waits for never happens).
	if _, err := m.Ensure(t.Context(), engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379, Failover: true}); !errors.Is(err, engine.ErrNodeNotRunning) {
		t.Fatalf("Ensure of the held primary with its old spec: %v, want ErrNodeNotRunning", err)
	}
	if n, _ := m.Node("p"); n.PID != 0 {
		t.Fatalf("an Ensure with the old spec restarted the held primary (pid %d)", n.PID)
	}
	// The caller promotes r and restarts p as its replica, at once.
	ensure(t, m, engine.NodeSpec{ID: "r", Engine: "redis", Port: 6379})
	start := time.Now()
	n := ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis", ReplicaOf: "r", Port: 6379})
	if n.PID == 0 || n.Addr != p.Addr || n.Role != engine.RoleReplica {
		t.Errorf("old primary after Ensure: %+v (was at %s)", n, p.Addr)
	}
	t.Logf("old primary back as a replica in %v", time.Since(start).Round(time.Millisecond))

	// Without a caller, the hold ends and supervision restarts it.
	q := ensure(t, m, engine.NodeSpec{ID: "q", Engine: "redis", Port: 6379, Failover: true})
	if err := syscall.Kill(q.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if n, _ := m.Node("q"); n.PID == 0 || n.PID == q.PID {
			return errors.New("not restarted")
		}
		return nil
	})
}

// A bind that failed (the endpoint address still held elsewhere) is tried
// again by the next Ensure of the same spec: the record does not claim an
// address the node does not serve.
func TestAddresses_FailedBindRetried(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newAddrManager(t, dir, nil)
	ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379})
	ep, err := m.ReserveAddress("g#primary", 6379)
	if err != nil || ep == "" {
		t.Fatalf("ReserveAddress = %q, %v", ep, err)
	}
	epAddr := net.JoinHostPort(ep, "6379")
	l, err := net.Listen("tcp", epAddr) // the node it moves from, slow to let go
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	_, err = m.Ensure(ctx, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379, Binds: []string{ep}})
	cancel()
	l.Close()
	if err == nil {
		t.Fatal("Ensure bound an address held by another listener")
	}
	ensure(t, m, engine.NodeSpec{ID: "p", Engine: "redis", Port: 6379, Binds: []string{ep}})
	if err := ping(epAddr); err != nil {
		t.Fatalf("the endpoint address does not reach the node after the retry: %v", err)
	}
}
