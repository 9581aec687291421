package engine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"keyward/engine"
	"keyward/internal/redistest"
	"keyward/mcfront"
)

// TestMain lets the test binary stand in for "keyward mcfront DIR".
func TestMain(m *testing.M) {
	if dir := os.Getenv("KEYWARD_TEST_MCFRONT"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := mcfront.Run(ctx, dir, slog.Default()); err != nil {
			slog.Error("mcfront", "err", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func frontCommand(dir string) *exec.Cmd {
	c := exec.Command(os.Args[0], "-test.run=^$", dir)
	c.Env = append(os.Environ(), "KEYWARD_TEST_MCFRONT="+dir)
	return c
}

// newMemcachedProcs is newMemcached with fronts as processes of their own.
func newMemcachedProcs(tb testing.TB, dir string) *engine.Memcached {
	tb.Helper()
	bin := redistest.Memcached(tb)
	killStraysAtEnd(tb, dir)
	m := &engine.Memcached{DataDir: dir, Binary: bin, Logger: testLogger(tb), FrontCommand: frontCommand}
	if err := m.Open(tb.Context()); err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// configGet asks addr for the cluster configuration (version, entries).
func configGet(t *testing.T, addr string) (int64, []string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c, "config get cluster\r\n")
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	var n int
	if _, serr := fmt.Sscanf(head, "CONFIG cluster 0 %d\r\n", &n); err != nil || serr != nil {
		t.Fatalf("%s: header %q: %v %v", addr, head, err, serr)
	}
	body := make([]byte, n+7)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(body[:n]), "\n")
	v, _ := strconv.ParseInt(lines[0], 10, 64)
	return v, strings.Fields(lines[1])
}

func TestMemcached_FrontProcesses(t *testing.T) {
	dir := t.TempDir()
	m := newMemcachedProcs(t, dir)
	ctx := t.Context()
	const cluster = "acct.r.disc"
	var nodes []*engine.MemcachedNode
	for _, id := range []string{"acct.r.disc.0001", "acct.r.disc.0002"} {
		n, err := m.Ensure(ctx, engine.MemcachedSpec{ID: id, MemoryMB: 64, Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		if n.FrontPID == 0 || n.PID == 0 || n.FrontPID == n.PID || n.Backend == n.Addr {
			t.Fatalf("node %+v: want a front process of its own before memcached", n)
		}
		nodes = append(nodes, n)
	}
	if err := m.SetDiscovery(cluster, 7, []string{nodes[0].ID, nodes[1].ID, "acct.r.disc.0099"}); err != nil {
		t.Fatal(err)
	}
	host, port, err := m.EnsureEndpoint(ctx, cluster, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	cfg := net.JoinHostPort(host, strconv.Itoa(port))
	want := []string{
		fmt.Sprintf("%s|%s|%d", nodes[0].Host, nodes[0].Host, nodes[0].Port),
		fmt.Sprintf("%s|%s|%d", nodes[1].Host, nodes[1].Host, nodes[1].Port),
	}
	for _, addr := range []string{cfg, nodes[0].Addr, nodes[1].Addr} {
		if v, got := configGet(t, addr); v != 7 || strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: version %d nodes %v, want 7 %v (unknown nodes left out)", addr, v, got, want)
		}
	}
	mcSetGet(t, nodes[0].Addr, "k", "v")
	mcSetGet(t, cfg, "via-cfg", "v") // relayed to the first node
	if it, err := memcache.New(nodes[0].Addr).Get("via-cfg"); err != nil || string(it.Value) != "v" {
		t.Fatalf("the configuration endpoint did not relay to the first node: %v", err)
	}

	// kill -9 of a front: supervision starts another on the same port;
	// memcached and its data are untouched.
	syscall.Kill(nodes[0].FrontPID, syscall.SIGKILL)
	var again *engine.MemcachedNode
	deadline := time.Now().Add(10 * time.Second)
	for {
		again, _ = m.Node(nodes[0].ID)
		if again.FrontPID != 0 && again.FrontPID != nodes[0].FrontPID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("front not restarted: %+v", again)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if again.PID != nodes[0].PID || again.Addr != nodes[0].Addr {
		t.Fatalf("after the front's restart %+v, was %+v", again, nodes[0])
	}
	waitServes(t, again.Addr)
	if it, err := memcache.New(again.Addr).Get("k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("data lost with the front: %v", err)
	}

	// Close leaves memcached and the fronts running; Open adopts them all.
	_, epPID := endpointPID(t, dir, cluster)
	m.Close()
	if v, _ := configGet(t, cfg); v != 7 {
		t.Fatalf("the endpoint stopped with Close")
	}
	m2 := newMemcachedProcs(t, dir)
	for _, n := range []*engine.MemcachedNode{again, nodes[1]} {
		got, ok := m2.Node(n.ID)
		if !ok || got.PID != n.PID || got.FrontPID != n.FrontPID {
			t.Fatalf("after Open %+v, want %+v adopted", got, n)
		}
	}
	if h, p, err := m2.EnsureEndpoint(ctx, cluster, 0, false); err != nil || h != host || p != port {
		t.Fatalf("endpoint after Open: %s:%d %v, want %s", h, p, err, cfg)
	}
	if _, pid := endpointPID(t, dir, cluster); pid != epPID {
		t.Fatalf("endpoint front pid %d after Open, want %d adopted", pid, epPID)
	}

	// Stop ends both processes of a node; StopEndpoint the endpoint.
	if err := m2.Stop(ctx, again.ID); err != nil {
		t.Fatal(err)
	}
	if err := m2.StopEndpoint(ctx, cluster); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{again.Addr, again.Backend, cfg} {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still listens", addr)
		}
	}
	for _, pid := range []int{again.PID, again.FrontPID, epPID} {
		if syscall.Kill(pid, 0) == nil {
			time.Sleep(100 * time.Millisecond)
			if syscall.Kill(pid, 0) == nil && !zombie(pid) {
				t.Errorf("process %d still runs", pid)
			}
		}
	}
	if err := m2.Stop(ctx, nodes[1].ID); err != nil {
		t.Fatal(err)
	}
}

func endpointPID(t *testing.T, dir, cluster string) (string, int) {
	t.Helper()
	b, err := os.ReadFile(dir + "/memcached/.clusters/" + cluster + "/endpoint.json")
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if i := strings.Index(string(b), `"pid": `); i >= 0 {
		fmt.Sscanf(string(b[i+7:]), "%d", &pid)
	}
	if pid == 0 {
		t.Fatalf("endpoint.json has no pid: %s", b)
	}
	return string(b), pid
}

func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err != nil || strings.Contains(string(b), ") Z")
}

func waitServes(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := memcache.New(addr).Get("probe"); err == nil || err == memcache.ErrCacheMiss {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMemcached_EarlierNodeMovesBehindAFront: a node of a keyward without
// fronts (memcached on the client port itself) is adopted as it is, with
// its data; its next start puts it behind a front on the same port.
func TestMemcached_EarlierNodeMovesBehindAFront(t *testing.T) {
	dir := t.TempDir()
	bin := redistest.Memcached(t)
	killStraysAtEnd(t, dir)
	const id = "acct.r.old.0001"
	ndir := dir + "/memcached/" + id
	if err := os.MkdirAll(ndir, 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	cmd := exec.Command(bin, args...)
	cmd.Args[0] = ndir + "/memcached"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	waitServes(t, addr)
	rec := fmt.Sprintf(`{"spec": {"id": %q, "memoryMB": 64}, "port": %d, "pid": %d}`, id, port, cmd.Process.Pid)
	if err := os.WriteFile(ndir+"/node.json", []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	mcSetGet(t, addr, "old", "data")

	m := newMemcachedProcs(t, dir)
	n, ok := m.Node(id)
	if !ok || n.PID != cmd.Process.Pid || n.FrontPID != 0 || n.Backend != addr {
		t.Fatalf("adopted %+v, want pid %d serving %s itself", n, cmd.Process.Pid, addr)
	}
	if it, err := memcache.New(addr).Get("old"); err != nil || string(it.Value) != "data" {
		t.Fatalf("adopted node lost its data: %v", err)
	}
	// Ensure leaves a running earlier node alone (its data would go).
	if n2, err := m.Ensure(t.Context(), engine.MemcachedSpec{ID: id, MemoryMB: 64, Cluster: "acct.r.old"}); err != nil || n2.PID != n.PID || n2.FrontPID != 0 {
		t.Fatalf("Ensure of an earlier node: %+v %v", n2, err)
	}
	// A reboot: memcached behind a front, on the same client port.
	r, err := m.Restart(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if r.Addr != addr || r.PID == n.PID {
		t.Fatalf("after the reboot %+v", r)
	}
	if r, err = m.Ensure(t.Context(), engine.MemcachedSpec{ID: id, MemoryMB: 64, Cluster: "acct.r.old"}); err != nil {
		t.Fatal(err)
	}
	if r.Addr != addr || r.FrontPID == 0 || r.Backend == addr {
		t.Fatalf("after the reboot and Ensure %+v: want a front on %s", r, addr)
	}
	if err := m.SetDiscovery("acct.r.old", 1, []string{id}); err != nil {
		t.Fatal(err)
	}
	if v, nodes := configGet(t, addr); v != 1 || len(nodes) != 1 || nodes[0] != fmt.Sprintf("127.0.0.1|127.0.0.1|%d", port) {
		t.Fatalf("discovery %d %v", v, nodes)
	}
	mcSetGet(t, addr, "new", "data")
	if err := m.Stop(t.Context(), id); err != nil {
		t.Fatal(err)
	}
}

// TestMemcached_UnrecordedFrontAdopted: a keyward killed after starting a
// node's front but before saving its pid leaves the front running with no
// record naming it. Open finds it by its command line and adopts it; it
// does not start a second front (which could not bind the port) and leave
// the first running.
func TestMemcached_UnrecordedFrontAdopted(t *testing.T) {
	dir := t.TempDir()
	m := newMemcachedProcs(t, dir)
	ctx := t.Context()
	const id = "acct.r.lost.0001"
	n, err := m.Ensure(ctx, engine.MemcachedSpec{ID: id, MemoryMB: 64})
	if err != nil {
		t.Fatal(err)
	}
	mcSetGet(t, n.Addr, "k", "v")
	m.Close()
	// The record as the kill left it: memcached's pid saved, the front's not.
	name := filepath.Join(dir, "memcached", id, "node.json")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if _, ok := rec["frontPid"]; !ok {
		t.Fatalf("node.json has no frontPid to lose: %s", b)
	}
	delete(rec, "frontPid")
	if b, err = json.Marshal(rec); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	m2 := newMemcachedProcs(t, dir)
	got, ok := m2.Node(id)
	if !ok || got.FrontPID != n.FrontPID || got.PID != n.PID {
		t.Fatalf("after Open %+v, want the unrecorded front %d adopted", got, n.FrontPID)
	}
	if fronts := frontProcesses(t, filepath.Join(dir, "memcached", id, "front")); len(fronts) != 1 {
		t.Fatalf("front processes of the node after Open: %v, want one", fronts)
	}
	if it, err := memcache.New(got.Addr).Get("k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("the adopted front does not serve the data: %v", err)
	}
	if err := m2.Stop(ctx, id); err != nil {
		t.Fatal(err)
	}
	if fronts := frontProcesses(t, filepath.Join(dir, "memcached", id, "front")); len(fronts) != 0 {
		t.Fatalf("front processes left after Stop: %v", fronts)
	}
}

// frontProcesses lists the live processes whose last argument is dir.
func frontProcesses(t *testing.T, dir string) []int {
	t.Helper()
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if err == nil && len(args) > 1 && args[len(args)-1] == dir && !zombie(pid) {
			out = append(out, pid)
		}
	}
	return out
}
