package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"keyward/fronts"
	"keyward/internal/benchproc"
)

// The fleet mode (-fleet N) measures what many front processes cost
// together, as keyward runs one per TLS node: N fronts of this build and,
// with -baseline, N run by the baseline binary, all relaying to the same
// node, so that the node's work is the same for both sets. It reports
// their CPU and context switches at rest, their memory, and the CPU they
// spend closing connections when the node drops a user (a revocation:
// ACL DELUSER closes the user's connection on every front at once).
var (
	fleetN      = flag.Int("fleet", 0, "instead of the data path, measure N front processes (and N of -baseline) at rest and through revocations")
	fleetTrials = flag.Int("fleet-trials", 20, "revocations per set of fronts in -fleet mode")
	fleetIdle   = flag.Duration("fleet-idle", 20*time.Second, "how long to measure the fronts at rest in -fleet mode")
)

type fleetSet struct {
	name string
	ids  []string
	pids []int
	addr []string
	// per trial: fronts' CPU, last EOF after DELUSER was sent
	cpu, lat []time.Duration
}

// runFleet starts the fronts of each set, measures them at rest, then
// alternates revocations between the sets.
func runFleet(ctx context.Context, fm *fronts.Manager, spec func(id string) fronts.Spec, tlsConf *tls.Config, admin *redis.Client) (string, error) {
	sets := []*fleetSet{{name: "this build"}}
	if *baseline != "" {
		sets = append(sets, &fleetSet{name: "baseline " + *baseline})
	}
	for k, s := range sets {
		prefix := "fleet-a-"
		if k == 1 {
			prefix = "bench-baseline-"
		}
		for i := range *fleetN {
			id := fmt.Sprintf("%s%03d", prefix, i)
			port, err := fm.Ensure(ctx, spec(id))
			if err != nil {
				return "", err
			}
			s.ids = append(s.ids, id)
			s.pids = append(s.pids, readPid(filepath.Join(fm.DataDir, "fronts", id, "front.pid")))
			s.addr = append(s.addr, "127.0.0.1:"+strconv.Itoa(port))
		}
	}
	defer func() {
		for _, s := range sets {
			for _, id := range s.ids {
				fm.Stop(context.Background(), id)
			}
		}
	}()
	var b strings.Builder
	fmt.Fprintf(&b, "%d front processes per set, one node behind them all (Unix socket), %s, load average %s.\n\n", *fleetN, time.Now().UTC().Format("2006-01-02 15:04 UTC"), loadAvg())

	// A first revocation per set, so that every front has served a
	// connection (its heap and threads as after real use) before rest.
	for _, s := range sets {
		if _, _, err := revoke(ctx, s, tlsConf, admin, "warm"); err != nil {
			return "", err
		}
	}
	time.Sleep(3 * time.Second)
	fmt.Fprintf(os.Stderr, "fleet: measuring %d+%d fronts at rest for %v\n", *fleetN, *fleetN*(len(sets)-1), *fleetIdle)
	type rest struct {
		cpu, sw   float64
		threads   int
		rss, anon int
	}
	rests := make([]rest, len(sets))
	cpu0 := make([]time.Duration, len(sets))
	sw0 := make([]int, len(sets))
	for i, s := range sets {
		cpu0[i], sw0[i] = benchproc.OnCPU(s.pids...), switches(s.pids...)
	}
	t0 := time.Now()
	time.Sleep(*fleetIdle)
	el := time.Since(t0)
	for i, s := range sets {
		rests[i].cpu = float64(benchproc.OnCPU(s.pids...)-cpu0[i]) / float64(el)
		rests[i].sw = float64(switches(s.pids...)-sw0[i]) / el.Seconds()
		for _, pid := range s.pids {
			rests[i].threads += threads(pid)
			r, a := memKiB(pid)
			rests[i].rss += r
			rests[i].anon += a
		}
	}

	fmt.Fprintf(os.Stderr, "fleet: %d revocations per set\n", *fleetTrials)
	for t := range *fleetTrials {
		for k := range sets {
			s := sets[(k+t)%len(sets)] // rotate who goes first
			cpu, lat, err := revoke(ctx, s, tlsConf, admin, strconv.Itoa(t))
			if err != nil {
				return "", err
			}
			s.cpu, s.lat = append(s.cpu, cpu), append(s.lat, lat)
		}
	}
	fmt.Fprintf(&b, "At rest for %v (no connections), and after %d revocations:\n\n", *fleetIdle, *fleetTrials)
	b.WriteString("| fronts | CPU at rest (% of one core, all fronts) | context switches/s at rest | threads | RSS (MiB, all fronts) | anonymous RSS (MiB) | fronts' CPU per revocation (median; per front) | DELUSER → last client EOF p50 / p99 |\n|---|---|---|---|---|---|---|---|\n")
	for i, s := range sets {
		r := rests[i]
		c := pct(s.cpu, 50)
		fmt.Fprintf(&b, "| %s | %.2f %% | %.0f | %d | %.1f | %.1f | %.2f ms; %.0f µs | %.1f / %.1f ms |\n", s.name, 100*r.cpu, r.sw, r.threads,
			float64(r.rss)/1024, float64(r.anon)/1024, ms(c), float64(c)/float64(time.Microsecond)/float64(len(s.pids)), ms(pct(s.lat, 50)), ms(pct(s.lat, 99)))
	}
	b.WriteString("\n")
	return b.String(), nil
}

// revoke creates a user, logs it in through every front of s, drops it on
// the node and returns the fronts' CPU time from the drop until every
// client saw its connection end, and how long that took.
func revoke(ctx context.Context, s *fleetSet, tlsConf *tls.Config, admin *redis.Client, tag string) (time.Duration, time.Duration, error) {
	user := "victim-" + strings.ReplaceAll(s.ids[0], "-000", "") + "-" + tag
	pw := "victim-password-" + tag
	if err := admin.Do(ctx, "ACL", "SETUSER", user, "reset", "on", ">"+pw, "~*", "+@all").Err(); err != nil {
		return 0, 0, err
	}
	conns := make([]net.Conn, len(s.addr))
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, a := range s.addr {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := login(a, tlsConf, user, pw)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return 0, 0, firstErr
	}
	time.Sleep(200 * time.Millisecond)
	closed := benchproc.WatchClose(conns)
	cpu0 := benchproc.OnCPU(s.pids...)
	start := time.Now()
	if err := admin.Do(ctx, "ACL", "DELUSER", user).Err(); err != nil {
		return 0, 0, err
	}
	done := closed()
	cpu := benchproc.OnCPU(s.pids...) - cpu0
	return cpu, slices.MaxFunc(done, func(a, b time.Time) int { return a.Compare(b) }).Sub(start), nil
}

func login(addr string, tlsConf *tls.Config, user, pw string) (net.Conn, error) {
	d := &tls.Dialer{Config: tlsConf, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(user), user, len(pw), pw)
	var buf [256]byte
	n, err := c.Read(buf[:])
	if err != nil || !strings.HasPrefix(string(buf[:n]), "+OK") {
		c.Close()
		return nil, fmt.Errorf("login on %s: %q %v", addr, buf[:n], err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// switches returns the context switches (voluntary and not) of every thread
// of pids: how often they woke up.
func switches(pids ...int) int {
	n := 0
	for _, pid := range pids {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, t.Name()))
			for _, line := range strings.Split(string(data), "\n") {
				if f := strings.Fields(line); len(f) == 2 && strings.HasSuffix(f[0], "ctxt_switches:") {
					v, _ := strconv.Atoi(f[1])
					n += v
				}
			}
		}
	}
	return n
}

func threads(pid int) int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	return len(tasks)
}

// memKiB returns pid's resident memory and its anonymous part (what is
// the process's own; the rest is mostly the binary, shared).
func memKiB(pid int) (rss, anon int) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = v
		case "RssAnon:":
			anon = v
		}
	}
	return rss, anon
}

func loadAvg() string {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
