// Command keyward-seedbench measures the data plane of the seed page on real
// redis-server nodes: how long after DeleteUser returns the user is refused
// by every node of every replication group its user group is attached to,
// as the fleet grows, how long CreateReplicationGroup takes to reach
// "available", and what keyward costs (CPU, memory) while it supervises the
// fleet and nothing changes.
//
// It builds keyward (or takes -keyward), runs it as a child process on a
// temporary data directory, drives it with aws-sdk-go-v2, probes the nodes
// over TLS through their fronts (verified against keyward's CA), and prints
// a Markdown report. Everything it creates is deleted before it exits.
//
//	go run ./cmd/keyward-seedbench -trials 50                      # 3 groups × 3 nodes
//	go run ./cmd/keyward-seedbench -curve 1,3,10,30,100 -trials 20 # 3 … 300 nodes
//	go run ./cmd/keyward-seedbench -baseline /tmp/keyward-main       # and the same with another binary
//	go run ./cmd/keyward-seedbench -pprof /tmp/prof                  # keyward's CPU and heap profiles
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/internal/benchproc"
)

func main() {
	trials := flag.Int("trials", 50, "DeleteUser trials per fleet size")
	groups := flag.Int("groups", 3, "replication groups attached to the user group (without -curve)")
	nodes := flag.Int("nodes", 3, "nodes per replication group")
	curve := flag.String("curve", "", "comma-separated numbers of replication groups to measure in turn, growing one fleet (e.g. 1,3,10,30,100); overrides -groups")
	bin := flag.String("keyward", "", "keyward binary (default: build ./cmd/keyward)")
	idle := flag.Duration("idle", 20*time.Second, "after the last size, how long to measure keyward's CPU while nothing changes (0: skip)")
	parallel := flag.Int("create-parallel", 8, "replication groups created at once while the fleet grows")
	settle := flag.Duration("settle", 200*time.Millisecond, "pause between a trial's setup and its DeleteUser")
	baseline := flag.String("baseline", "", "another keyward binary (e.g. the previous main) to measure the same way right after, in the same invocation (default: none)")
	prof := flag.String("pprof", "", "directory to write keyward's CPU profiles (during each size's trials and at rest) and heap profiles into (default: none)")
	flag.Parse()
	sizes := []int{*groups}
	if *curve != "" {
		sizes = nil
		for _, f := range strings.Split(*curve, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 || len(sizes) > 0 && n <= sizes[len(sizes)-1] {
				log.Fatalf("-curve %q: want growing positive numbers", *curve)
			}
			sizes = append(sizes, n)
		}
	}
	o := opts{trials: *trials, nodes: *nodes, sizes: sizes, idle: *idle, parallel: max(*parallel, 1), settle: *settle, pprof: *prof}
	if err := run(o, "keyward", *bin); err != nil {
		log.Fatal(err)
	}
	// The baseline runs the same curve right after, on a fleet of its own,
	// so that both sets of figures come from one invocation.
	if *baseline != "" {
		o.pprof = "" // an older keyward may not serve profiles
		if err := run(o, "baseline "+*baseline, *baseline); err != nil {
			log.Fatal(err)
		}
	}
}

type opts struct {
	trials, nodes, parallel int
	sizes                   []int
	idle, settle            time.Duration
	pprof                   string // directory for profiles, "" for none
}

type bench struct {
	c       *elasticache.Client
	tls     *tls.Config
	cmd     *exec.Cmd
	ctx     context.Context
	pprof   string // keyward's --pprof address, "" for none
	mu      sync.Mutex
	created []string
}

// sizeResult is what one fleet size measured.
type sizeResult struct {
	groups, nodes int
	revoke        []time.Duration
	load          [2]float64 // load average (1 min) before and after the trials
	busy          float64    // machine CPU busy during the trials, in cores
	kwCPU         float64    // keyward's CPU during the trials, in cores
	// CPU time spent between DeleteUser and the last node's refusal, per
	// trial: by keyward, and by the fleet (nodes and fronts).
	kwRevoke, fleetRevoke []time.Duration
	// probeRevoke is this benchmark's own CPU time in the same windows
	// (it shares the machine's cores), and late counts the nodes that
	// still accepted the user when their connection closed (their
	// refusal, later, is what counted).
	probeRevoke []time.Duration
	late        int
}

// run measures the keyward binary bin (built from ./cmd/keyward if "")
// and prints its report under name.
func run(o opts, name, bin string) error {
	dir, err := os.MkdirTemp("", "keyward-seedbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "keyward")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/keyward").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	b := &bench{ctx: context.Background()}
	args := []string{"serve", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn"}
	if o.pprof != "" {
		if err := os.MkdirAll(o.pprof, 0o700); err != nil {
			return err
		}
		if b.pprof, err = freeAddr(); err != nil {
			return err
		}
		args = append(args, "--pprof", b.pprof)
	}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Stderr = os.Stderr
	if err := b.cmd.Start(); err != nil {
		return err
	}
	defer b.cmd.Process.Kill()
	if err := waitHTTP("http://" + addr + "/healthz"); err != nil {
		return err
	}
	b.c = elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	defer b.cleanup()

	// The group: a locked default user and the users under test.
	if err := b.createUser("bench-default", "default", "bench-default-pass-1", "on ~* -@all +ping"); err != nil {
		return err
	}
	if _, err := b.c.CreateUserGroup(b.ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("bench"), Engine: aws.String("redis"), UserIds: []string{"bench-default"}}); err != nil {
		return err
	}
	if err := b.waitGroupActive("bench"); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "data", "tls", "ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	b.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", ClientSessionCache: tls.NewLRUClientSessionCache(4096)}

	var createTimes []time.Duration
	var nodeAddrs []string
	var results []sizeResult
	victim := 0
	for _, size := range o.sizes {
		// Grow the fleet: CreateReplicationGroup → available, a few at once.
		fmt.Fprintf(os.Stderr, "seedbench: growing to %d groups × %d nodes\n", size, o.nodes)
		ids := make([]string, 0, size)
		for i := len(nodeAddrs) / o.nodes; i < size; i++ {
			ids = append(ids, fmt.Sprintf("bench-rg%03d", i))
		}
		times, addrs, err := b.createRGs(ids, o.nodes, "bench", o.parallel)
		if err != nil {
			return err
		}
		createTimes = append(createTimes, times...)
		nodeAddrs = append(nodeAddrs, addrs...)
		// Attaching caches holds the group in modifying until every node
		// has its users, which may end just after the last is available.
		if err := b.waitGroupActive("bench"); err != nil {
			return err
		}
		time.Sleep(time.Second) // let the creations' after-work settle

		res := sizeResult{groups: size, nodes: len(nodeAddrs), load: [2]float64{loadAvg(), 0}}
		busy0, kw0, t0 := machineBusy(), procCPU(b.cmd.Process.Pid), time.Now()
		fleet := fleetPIDs(dir)
		fmt.Fprintf(os.Stderr, "seedbench: %d node and front processes\n", len(fleet))
		stopProf := b.profile(o.pprof, fmt.Sprintf("cpu-%d", len(nodeAddrs)))
		for range o.trials {
			t, err := b.trial(nodeAddrs, victim, o.settle, fleet)
			victim++
			if err != nil {
				return err
			}
			res.revoke = append(res.revoke, t.d)
			res.kwRevoke = append(res.kwRevoke, t.kw)
			res.fleetRevoke = append(res.fleetRevoke, t.fleet)
			res.probeRevoke = append(res.probeRevoke, t.probe)
			res.late += t.late
		}
		stopProf()
		b.heap(o.pprof, fmt.Sprintf("heap-%d", len(nodeAddrs)))
		el := time.Since(t0).Seconds()
		res.busy = (machineBusy() - busy0) / el
		res.kwCPU = (procCPU(b.cmd.Process.Pid) - kw0) / el
		res.load[1] = loadAvg()
		results = append(results, res)
		fmt.Fprintf(os.Stderr, "seedbench: %d nodes: p50 %v p99 %v\n", res.nodes, quantile(res.revoke, 0.5), quantile(res.revoke, 0.99))
	}

	// keyward at rest, supervising the whole fleet.
	var idleCPU float64
	var idleRSS int
	var idleFleet float64 // the nodes' and fronts' CPU at rest, in cores
	if o.idle > 0 {
		fmt.Fprintf(os.Stderr, "seedbench: measuring keyward at rest for %v\n", o.idle)
		time.Sleep(3 * time.Second)
		fleet := fleetPIDs(dir)
		kw0, fleet0, t0 := procCPU(b.cmd.Process.Pid), benchproc.OnCPU(fleet...), time.Now()
		stopProf := b.profile(o.pprof, fmt.Sprintf("cpu-idle-%d", len(nodeAddrs)))
		time.Sleep(o.idle)
		stopProf()
		idleCPU = (procCPU(b.cmd.Process.Pid) - kw0) / time.Since(t0).Seconds()
		idleFleet = float64(benchproc.OnCPU(fleet...)-fleet0) / float64(time.Since(t0))
		idleRSS = rss(b.cmd.Process.Pid)
		b.heap(o.pprof, fmt.Sprintf("heap-idle-%d", len(nodeAddrs)))
	}

	fmt.Printf("## Seed data plane: %s (SQLite, redis-server %s, TLS through the fronts)\n\n", name, redisVersion())
	fmt.Printf("DeleteUser → every node refuses the user (%d trials per size; %d nodes per group):\n\n", o.trials, o.nodes)
	fmt.Printf("| nodes (groups × %d) | n | p50 | p99 | max | keyward CPU per revocation (median) | nodes' + fronts' CPU per revocation (median) | probe's CPU per revocation (median) | nodes refused only after their close | keyward CPU during trials (cores) | machine busy (cores) | load avg before → after |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n", o.nodes)
	for _, r := range results {
		fmt.Printf("| %d (%d) | %d | %v | %v | %v | %v | %v | %v | %d | %.2f | %.2f | %.1f → %.1f |\n", r.nodes, r.groups, len(r.revoke),
			quantile(r.revoke, 0.5).Round(100*time.Microsecond), quantile(r.revoke, 0.99).Round(100*time.Microsecond),
			slices.Max(r.revoke).Round(100*time.Microsecond), quantile(r.kwRevoke, 0.5).Round(10*time.Microsecond),
			quantile(r.fleetRevoke, 0.5).Round(10*time.Microsecond), quantile(r.probeRevoke, 0.5).Round(10*time.Microsecond), r.late, r.kwCPU, r.busy, r.load[0], r.load[1])
	}
	fmt.Printf("\nCreateReplicationGroup (%d nodes, TLS, user group) → available, %d at once: n %d, p50 %v, p99 %v, max %v\n",
		o.nodes, o.parallel, len(createTimes), quantile(createTimes, 0.5).Round(time.Millisecond),
		quantile(createTimes, 0.99).Round(time.Millisecond), slices.Max(createTimes).Round(time.Millisecond))
	if o.idle > 0 {
		fmt.Printf("\nkeyward at rest supervising %d nodes (%d groups) for %v: CPU %.2f %% of one core, RSS %.1f MiB (load average %.1f); the nodes and fronts themselves meanwhile: %.1f %% of one core.\n",
			len(nodeAddrs), len(nodeAddrs)/o.nodes, o.idle, 100*idleCPU, float64(idleRSS)/1024, loadAvg(), 100*idleFleet)
	}
	return nil
}

// trial adds a fresh user to the group, waits until it is logged in on every
// node, then deletes it and returns how long after DeleteUser was sent every
// node refused it.
//
// Each node gets one connection logged in as the user, through the node's
// front. When the node drops the user (ACL DELUSER, in the same MULTI/EXEC
// as CLIENT KILL USER), it closes that connection and the front closes the
// client side: the probe sees EOF at once, without polling. That moment is
// the node's; to be sure it is a refusal, the probe then logs in afresh and
// must get WRONGPASS (if not, it retries until it does, and that counts).
func (b *bench) trial(addrs []string, i int, settle time.Duration, fleet []int) (trialResult, error) {
	var r trialResult
	user := fmt.Sprintf("victim-%04d", i)
	pw := fmt.Sprintf("victim-password-%04d", i)
	if err := b.createUser(user, user, pw, "on ~* +@all"); err != nil {
		return r, err
	}
	// The previous trial's DeleteUser left the group modifying until
	// every node had dropped that user.
	if err := b.waitGroupActive("bench"); err != nil {
		return r, err
	}
	if _, err := b.c.ModifyUserGroup(b.ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("bench"), UserIdsToAdd: []string{user}}); err != nil {
		return r, err
	}
	if err := b.waitGroupActive("bench"); err != nil {
		return r, err
	}
	conns := make([]net.Conn, len(addrs))
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err := parallel(len(addrs), 32, func(j int) error {
		var err error
		for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(2 * time.Millisecond) {
			var ok bool
			if conns[j], ok, err = b.login(addrs[j], user, pw); ok {
				return nil
			}
		}
		return fmt.Errorf("node %s: %s cannot log in after 30s: %v", addrs[j], user, err)
	}); err != nil {
		return r, err
	}
	// The probe shares the machine's cores with keyward and the fleet:
	// collect the logins' garbage (300 TLS handshakes at 300 nodes) now,
	// and no more until the last node has closed, so that the probe's own
	// GC does not run inside the measured window.
	runtime.GC()
	time.Sleep(settle)
	gc := debug.SetGCPercent(-1)
	defer debug.SetGCPercent(gc)

	kw0, fleet0, probe0 := benchproc.OnCPU(b.cmd.Process.Pid), benchproc.OnCPU(fleet...), benchproc.OnCPU(os.Getpid())
	closed := benchproc.WatchClose(conns)
	start := time.Now()
	if _, err := b.c.DeleteUser(b.ctx, &elasticache.DeleteUserInput{UserId: aws.String(user)}); err != nil {
		return r, err
	}
	done := closed()
	debug.SetGCPercent(gc)
	r.kw, r.fleet, r.probe = benchproc.OnCPU(b.cmd.Process.Pid)-kw0, benchproc.OnCPU(fleet...)-fleet0, benchproc.OnCPU(os.Getpid())-probe0
	var late atomic.Int32
	if err := parallel(len(addrs), 32, func(j int) error {
		retried := false
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			c, ok, err := b.login(addrs[j], user, pw)
			if c != nil {
				c.Close()
			}
			if err == nil && !ok {
				if retried { // not refused at EOF: its refusal is now
					done[j] = time.Now()
					late.Add(1)
				}
				return nil
			}
			retried = true
		}
		return fmt.Errorf("node %s: %s not refused after 30s", addrs[j], user)
	}); err != nil {
		return r, err
	}
	var last time.Time
	for _, t := range done {
		if t.After(last) {
			last = t
		}
	}
	if err := b.waitUserGone(user); err != nil {
		return r, err
	}
	r.d, r.late = last.Sub(start), int(late.Load())
	return r, nil
}

// profile records keyward's CPU profile into dir, as consecutive 2 s
// profiles name-0.pprof, name-1.pprof... (merge them with go tool pprof),
// until the returned function is called (which waits for the last one).
// With dir "" it does nothing.
func (b *bench) profile(dir, name string) func() {
	if dir == "" || b.pprof == "" {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=2", b.pprof), filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, i))); err != nil {
				log.Printf("seedbench: cpu profile: %v", err)
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}

// heap writes keyward's heap profile (after a GC) to dir/name.pprof.
func (b *bench) heap(dir, name string) {
	if dir == "" || b.pprof == "" {
		return
	}
	if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", b.pprof), filepath.Join(dir, name+".pprof")); err != nil {
		log.Printf("seedbench: heap profile: %v", err)
	}
	// The same as text, with the runtime's memory statistics, and the
	// kernel's view of the whole process (RSS beyond the Go heap).
	if err := fetch(fmt.Sprintf("http://%s/debug/pprof/heap?debug=1", b.pprof), filepath.Join(dir, name+".txt")); err != nil {
		log.Printf("seedbench: heap profile: %v", err)
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", b.cmd.Process.Pid)); err == nil {
		os.WriteFile(filepath.Join(dir, name+".smaps"), data, 0o600)
	}
}

func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o600)
}

type trialResult struct {
	d         time.Duration // DeleteUser sent → every node refused
	kw, fleet time.Duration // CPU time of keyward, of the nodes and fronts, meanwhile
	probe     time.Duration // this process's own CPU time meanwhile
	late      int           // nodes refused only after their connection closed
}

// fleetPIDs returns the processes (nodes, fronts) started from dir, keyward
// excluded.
func fleetPIDs(dir string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// Nodes rewrite their command line (redis-server's process
		// title) but run in their data directory.
		cmd, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err != nil || !strings.Contains(string(cmd), dir) && !strings.HasPrefix(cwd, dir) || strings.Contains(string(cmd), "serve\x00--listen") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// login opens a TLS connection to addr and sends AUTH user pw; ok reports
// +OK (then the connection is returned open), !ok with a nil error a
// refusal (WRONGPASS).
func (b *bench) login(addr, user, pw string) (net.Conn, bool, error) {
	d := &tls.Dialer{Config: b.tls, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(user), user, len(pw), pw)
	var buf [256]byte
	n, err := c.Read(buf[:])
	if err != nil {
		c.Close()
		return nil, false, err
	}
	reply := string(buf[:n])
	switch {
	case strings.HasPrefix(reply, "+OK"):
		c.SetDeadline(time.Time{})
		return c, true, nil
	case strings.HasPrefix(reply, "-WRONGPASS"):
		c.Close()
		return nil, false, nil
	}
	c.Close()
	return nil, false, fmt.Errorf("AUTH: %q", reply)
}

// parallel runs f(0..n-1), at most limit at once, and returns the first error.
func parallel(n, limit int, f func(int) error) error {
	sem := make(chan struct{}, limit)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = f(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func quantile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func (b *bench) createUser(id, name, pw, access string) error {
	_, err := b.c.CreateUser(b.ctx, &elasticache.CreateUserInput{
		UserId: aws.String(id), UserName: aws.String(name), Engine: aws.String("redis"),
		AccessString: aws.String(access), Passwords: []string{pw},
	})
	return err
}

// createRGs creates the replication groups ids, limit at once, and returns
// how long each took to become available and every node's address.
func (b *bench) createRGs(ids []string, nodes int, group string, limit int) ([]time.Duration, []string, error) {
	times := make([]time.Duration, len(ids))
	addrs := make([][]string, len(ids))
	err := parallel(len(ids), limit, func(i int) (err error) {
		times[i], addrs[i], err = b.createRG(ids[i], nodes, group)
		return err
	})
	return times, slices.Concat(addrs...), err
}

func (b *bench) createRG(id string, nodes int, group string) (time.Duration, []string, error) {
	in := &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("bench"),
		NumCacheClusters: aws.Int32(int32(nodes)), TransitEncryptionEnabled: aws.Bool(true),
	}
	if group != "" {
		in.UserGroupIds = []string{group}
	}
	start := time.Now()
	if _, err := b.c.CreateReplicationGroup(b.ctx, in); err != nil {
		return 0, nil, err
	}
	b.mu.Lock()
	b.created = append(b.created, id)
	b.mu.Unlock()
	for {
		out, err := b.c.DescribeReplicationGroups(b.ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil {
			return 0, nil, err
		}
		rg := out.ReplicationGroups[0]
		if aws.ToString(rg.Status) == "available" {
			d := time.Since(start)
			var addrs []string
			for _, m := range rg.NodeGroups[0].NodeGroupMembers {
				addrs = append(addrs, net.JoinHostPort(aws.ToString(m.ReadEndpoint.Address), strconv.Itoa(int(aws.ToInt32(m.ReadEndpoint.Port)))))
			}
			return d, addrs, nil
		}
		if time.Since(start) > 2*time.Minute {
			return 0, nil, fmt.Errorf("%s not available after 2 minutes (%s)", id, aws.ToString(rg.Status))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (b *bench) waitGroupActive(id string) error {
	for start := time.Now(); time.Since(start) < 2*time.Minute; time.Sleep(time.Millisecond) {
		out, err := b.c.DescribeUserGroups(b.ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String(id)})
		if err != nil {
			return err
		}
		if aws.ToString(out.UserGroups[0].Status) == "active" {
			return nil
		}
	}
	return fmt.Errorf("group %s not active after 2 minutes", id)
}

func (b *bench) waitUserGone(id string) error {
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(time.Millisecond) {
		_, err := b.c.DescribeUsers(b.ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)})
		if err != nil && strings.Contains(err.Error(), "UserNotFound") {
			return nil
		}
	}
	return fmt.Errorf("user %s not gone after a minute", id)
}

// cleanup deletes every replication group (stopping their nodes) and waits.
func (b *bench) cleanup() {
	for _, id := range b.created {
		b.c.DeleteReplicationGroup(b.ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(id)})
	}
	for _, id := range b.created {
		for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(20 * time.Millisecond) {
			if _, err := b.c.DescribeReplicationGroups(b.ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)}); err != nil {
				break
			}
		}
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
}

func rss(pid int) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

// procCPU returns the user+system CPU seconds process pid has used.
func procCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / clockTicks
}

// machineBusy returns the CPU seconds every core has spent not idle.
func machineBusy() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var busy float64
	for i, v := range f[1:] {
		x, _ := strconv.ParseFloat(v, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += x
		}
	}
	return busy / clockTicks
}

func loadAvg() float64 {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func redisVersion() string {
	out, _ := exec.Command("redis-server", "--version").Output()
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "v=") {
			return strings.TrimPrefix(f, "v=")
		}
	}
	return "?"
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHTTP(url string) error {
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(2 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("%s did not answer", url)
}
