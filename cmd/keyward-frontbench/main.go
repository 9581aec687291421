// Command keyward-frontbench measures what a node's authenticating front
// (package front) costs: redis-benchmark GET/SET throughput and latency
// through the front against the node directly, and the latency of a login
// (TLS handshake + AUTH) with a password directly, with a password through
// the front and with an IAM token through the front.
//
// It starts one redis-server from a configuration file, as keyward does,
// with a TLS port and a private Unix socket (certificate and CA from
// package engine, as for keyward's nodes) and fronts as separate
// processes, as keyward serve runs them (this binary re-executed as
// "keyward-frontbench front DIR"): one reaching the node over TLS, one over
// the Unix socket (checking who serves it, as keyward's fronts do), and
// with --baseline one run by another keyward binary ("BIN front DIR"), to
// compare releases. Targets are benchmarked in interleaved rounds, so that
// a machine whose load drifts affects them alike; the report gives
// medians, the median of the per-round ratios, and the CPU time the node
// and the front spend per request (from /proc), which load on the machine
// hardly changes.
//
// With -fleet N it measures instead what N front processes cost together,
// as keyward runs one per TLS node (see fleet.go): CPU, wakeups, threads
// and memory at rest, and their CPU when the node drops a user logged in
// through every one of them (a revocation), against N run by --baseline.
//
//	go run ./cmd/keyward-frontbench --requests 200000 --clients 50 --runs 3
//	go run ./cmd/keyward-frontbench -fleet 100 -front-bin /tmp/kw -front-env GOMAXPROCS=1 -baseline /tmp/kw-main
package main

import (
	"context"
	"crypto/tls"
	"encoding/csv"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"keyward"
	"keyward/engine"
	"keyward/front"
	"keyward/fronts"
	"keyward/iamauth"
	"keyward/sigv4"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "front" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := fronts.Run(ctx, os.Args[2], os.Stdin, slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "keyward-frontbench:", err)
		os.Exit(1)
	}
}

var (
	requests   = flag.Int("requests", 200000, "redis-benchmark -n")
	clients    = flag.Int("clients", 50, "redis-benchmark -c")
	pipeline   = flag.Int("pipeline", 1, "redis-benchmark -P")
	runs       = flag.Int("runs", 5, "runs per target (medians are reported); targets alternate")
	logins     = flag.Int("logins", 300, "logins measured per kind")
	redisBin   = flag.String("redis-server", "redis-server", "redis-server binary")
	benchBin   = flag.String("redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	frontProcs = flag.Int("front-procs", 0, "GOMAXPROCS of the front processes; 0: Go's default")
	frontBin   = flag.String("front-bin", "", "run this build's fronts as \"BIN front DIR\" (e.g. keyward built from this checkout, to compare like with like against --baseline); default: this binary")
	frontEnv   = flag.String("front-env", "", "space-separated VAR=value added to the environment of this build's fronts (not the baseline's), e.g. GOGC=50")
	baseline   = flag.String("baseline", "", "also benchmark a front (Unix socket to the node) run by this keyward binary, as \"BIN front DIR\" (e.g. the previous commit's)")
	outFile    = flag.String("out", "", "also write the report to this file")
	benchUser  = "bench"
	benchPass  = "bench-password-0001"
	cred       = sigv4.Credential{AccessKeyID: "AKIAKEYWARDBENCH0001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "123456789012"}
	res        = iamauth.Resource{Name: "bench", AccountID: cred.AccountID, Region: "us-east-1"}
)

const nodeID = "123456789012.us-east-1.bench-001"

type target struct {
	name string
	port int
	pids []int // processes whose CPU time is counted: the node, the front
}

type row struct{ rps, p50, p99, cpuNode, cpuFront float64 }

func run() error {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "keyward-frontbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// The engine provides the CA and a node certificate; the benchmarked
	// server is started here so that it can also listen on a Unix socket.
	eng := &engine.Manager{DataDir: dir, RedisServer: *redisBin}
	if err := eng.Open(ctx); err != nil {
		return err
	}
	defer eng.Close()
	if _, err := eng.Ensure(ctx, engine.NodeSpec{ID: nodeID, Engine: "redis", TLS: true}); err != nil {
		return err
	}
	certFile, keyFile := eng.NodeCertFiles(nodeID)
	certCopy, keyCopy := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, cp := range [][2]string{{certFile, certCopy}, {keyFile, keyCopy}} {
		b, err := os.ReadFile(cp[0])
		if err != nil {
			return err
		}
		if err := os.WriteFile(cp[1], b, 0o600); err != nil {
			return err
		}
	}
	eng.Stop(context.Background(), nodeID)
	sockDir := filepath.Join(dir, "node")
	if err := os.MkdirAll(sockDir, 0o700); err != nil {
		return err
	}
	nodePort, err := freePort()
	if err != nil {
		return err
	}
	all, _ := keyward.ParseAccessString("on ~* +@all")
	fm := &fronts.Manager{
		DataDir: dir, Credentials: []sigv4.Credential{cred}, CAFile: eng.CAFile(),
		CertFiles: func(string) (string, string) { return certCopy, keyCopy },
		Command: func(d string) *exec.Cmd {
			bin, env := *frontBin, os.Environ()
			if bin == "" {
				bin = os.Args[0]
			}
			if strings.HasPrefix(filepath.Base(d), "bench-baseline") {
				bin = *baseline
			} else {
				env = append(env, strings.Fields(*frontEnv)...)
			}
			if *frontProcs > 0 {
				env = append(env, "GOMAXPROCS="+strconv.Itoa(*frontProcs))
			}
			c := exec.Command(bin, "front", d)
			c.Env = env
			return c
		},
	}
	if err := fm.Open(ctx); err != nil {
		return err
	}
	defer fm.Close()
	cacheID := "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:bench"
	aclFile := filepath.Join(sockDir, "users.acl")
	acl := fmt.Sprintf("user default off\nuser %s on #%s %s\nuser iam on #%s %s\n", benchUser, front.SHA256Hex(benchPass), strings.Join(all.Rules(), " "),
		front.SecretHash(fm.Key(), cacheID, "iam"), strings.Join(all.Rules(), " "))
	if err := os.WriteFile(aclFile, []byte(acl), 0o600); err != nil {
		return err
	}
	// A configuration file, as keyward writes them: the front checks that
	// the socket's server names it on its command line.
	conf := filepath.Join(sockDir, "server.conf")
	confText := fmt.Sprintf("port 0\ntls-port %d\nbind 127.0.0.1\ntls-cert-file %q\ntls-key-file %q\ntls-ca-cert-file %q\ntls-auth-clients no\n"+
		"unixsocket node.sock\nunixsocketperm 700\ndir %q\naclfile %q\nsave \"\"\nappendonly yes\nproc-title-template \"{title} {listen-addr} {config-file}\"\n",
		nodePort, certCopy, keyCopy, eng.CAFile(), sockDir, aclFile)
	if err := os.WriteFile(conf, []byte(confText), 0o600); err != nil {
		return err
	}
	node := exec.CommandContext(ctx, *redisBin, conf)
	node.Dir = sockDir
	if err := node.Start(); err != nil {
		return err
	}
	defer func() { node.Process.Kill(); node.Wait() }()
	if err := waitListen(ctx, nodePort); err != nil {
		return err
	}
	if *fleetN > 0 {
		admin := redis.NewClient(&redis.Options{Network: "unix", Addr: filepath.Join(sockDir, "node.sock"), Username: benchUser, Password: benchPass,
			Protocol: 2, DisableIdentity: true, MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
		defer admin.Close()
		out, err := runFleet(ctx, fm, func(id string) fronts.Spec {
			return fronts.Spec{ID: id, Backend: "unix:" + filepath.Join(sockDir, "node.sock"), BackendProcess: conf, Resource: res, CacheID: cacheID}
		}, eng.TLSConfig(), admin)
		if err != nil {
			return err
		}
		fmt.Print(out)
		if *outFile != "" {
			return os.WriteFile(*outFile, []byte(out), 0o644)
		}
		return nil
	}
	targets := []target{{name: "node directly", port: nodePort, pids: []int{node.Process.Pid}}}
	sock := "unix:" + filepath.Join(sockDir, "node.sock")
	frontTargets := []struct{ id, backend, name string }{
		{"bench-tls", "127.0.0.1:" + strconv.Itoa(nodePort), "front, TLS to the node"},
		{"bench-unix", sock, "front, Unix socket to the node"},
	}
	if *baseline != "" {
		frontTargets = append(frontTargets, struct{ id, backend, name string }{"bench-baseline", sock, "baseline front, Unix socket"})
	}
	for _, f := range frontTargets {
		spec := fronts.Spec{ID: f.id, Backend: f.backend, Resource: res, CacheID: cacheID}
		if f.id == "bench-unix" {
			spec.BackendProcess = conf
		}
		port, err := fm.Ensure(ctx, spec)
		if err != nil {
			return err
		}
		defer fm.Stop(context.Background(), f.id)
		pid := readPid(filepath.Join(dir, "fronts", f.id, "front.pid"))
		name := f.name
		targets = append(targets, target{name: name, port: port, pids: []int{node.Process.Pid, pid}})
	}

	results := make([]map[string][]row, len(targets))
	for i := range results {
		results[i] = map[string][]row{}
	}
	for r := 0; r < *runs; r++ {
		order := make([]int, len(targets))
		for i := range order {
			order[i] = (i + r) % len(targets) // rotate who goes first
		}
		for _, i := range order {
			tg := targets[i]
			fmt.Fprintf(os.Stderr, "round %d: %s (port %d)\n", r+1, tg.name, tg.port)
			rows, err := benchmark(ctx, tg, eng.CAFile())
			if err != nil {
				return err
			}
			for test, rw := range rows {
				results[i][test] = append(results[i][test], rw)
			}
		}
	}

	nodeAddr := "127.0.0.1:" + strconv.Itoa(nodePort)
	tlsConf := eng.TLSConfig()
	type loginRow struct {
		name string
		d    []time.Duration
	}
	var loginRows []loginRow
	d, err := measureLogins(ctx, nodeAddr, tlsConf, func() (string, string) { return benchUser, benchPass })
	if err != nil {
		return err
	}
	loginRows = append(loginRows, loginRow{"password, node directly", d})
	for _, tg := range targets[1:] {
		frontAddr := "127.0.0.1:" + strconv.Itoa(tg.port)
		d, err := measureLogins(ctx, frontAddr, tlsConf, func() (string, string) { return benchUser, benchPass })
		if err != nil {
			return err
		}
		loginRows = append(loginRows, loginRow{"password, " + tg.name, d})
		// Tokens are made before the clock starts: signing is the client's cost.
		toks := make([]string, *logins)
		for i := range toks {
			if toks[i], err = iamauth.Presign(ctx, aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}, res, "iam", 15*time.Minute, time.Now()); err != nil {
				return err
			}
		}
		k := 0
		d, err = measureLogins(ctx, frontAddr, tlsConf, func() (string, string) { k++; return "iam", toks[k%len(toks)] })
		if err != nil {
			return err
		}
		loginRows = append(loginRows, loginRow{"IAM token, " + tg.name, d})
	}

	var b strings.Builder
	med := func(v []float64) float64 {
		v = slices.Clone(v)
		slices.Sort(v)
		if len(v) == 0 {
			return 0
		}
		return v[len(v)/2]
	}
	col := func(rs []row, f func(row) float64) []float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return v
	}
	fmt.Fprintf(&b, "redis-benchmark %s, `-t set,get -n %d -c %d -P %d -r 100000`, TLS from the client, %d interleaved rounds (medians); %s.\n\n",
		benchVersion(), *requests, *clients, *pipeline, *runs, time.Now().UTC().Format("2006-01-02"))
	b.WriteString("| test | target | req/s | vs direct (median of rounds) | p50 / p99 ms | CPU µs/req node + front |\n|---|---|---|---|---|---|\n")
	for _, test := range []string{"SET", "GET"} {
		direct := results[0][test]
		for i, tg := range targets {
			rs := results[i][test]
			if len(rs) == 0 {
				continue
			}
			var ratios []float64
			for j := range rs {
				if j < len(direct) && direct[j].rps > 0 {
					ratios = append(ratios, rs[j].rps/direct[j].rps)
				}
			}
			cpu := fmt.Sprintf("%.1f", med(col(rs, func(r row) float64 { return r.cpuNode })))
			if i > 0 {
				cpu += fmt.Sprintf(" + %.1f", med(col(rs, func(r row) float64 { return r.cpuFront })))
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f %% | %.3f / %.3f | %s |\n", test, tg.name,
				med(col(rs, func(r row) float64 { return r.rps })), 100*med(ratios),
				med(col(rs, func(r row) float64 { return r.p50 })), med(col(rs, func(r row) float64 { return r.p99 })), cpu)
		}
	}
	fmt.Fprintf(&b, "\nLogin (new TLS connection + AUTH + first PING, one after another), %d each:\n\n| login | p50 ms | p99 ms |\n|---|---|---|\n", *logins)
	for _, l := range loginRows {
		fmt.Fprintf(&b, "| %s | %.2f | %.2f |\n", l.name, ms(pct(l.d, 50)), ms(pct(l.d, 99)))
	}
	out := b.String()
	fmt.Print(out)
	if *outFile != "" {
		return os.WriteFile(*outFile, []byte(out), 0o644)
	}
	return nil
}

// benchmark runs redis-benchmark for SET and GET against tg and returns
// rps, latency percentiles and CPU per request by test.
func benchmark(ctx context.Context, tg target, caFile string) (map[string]row, error) {
	rows := map[string]row{}
	for _, test := range []string{"set", "get"} {
		before := cpuTimes(tg.pids)
		cmd := exec.CommandContext(ctx, *benchBin, "-h", "127.0.0.1", "-p", strconv.Itoa(tg.port), "--tls", "--cacert", caFile,
			"--user", benchUser, "-a", benchPass, "-t", test, "-n", strconv.Itoa(*requests), "-c", strconv.Itoa(*clients),
			"-P", strconv.Itoa(*pipeline), "--csv", "-r", "100000")
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("redis-benchmark: %w", err)
		}
		after := cpuTimes(tg.pids)
		recs, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
		if err != nil || len(recs) < 2 {
			return nil, fmt.Errorf("redis-benchmark output %q: %v", out, err)
		}
		idx := map[string]int{}
		for i, h := range recs[0] {
			idx[h] = i
		}
		r := recs[1]
		f := func(name string) float64 { v, _ := strconv.ParseFloat(r[idx[name]], 64); return v }
		rw := row{rps: f("rps"), p50: f("p50_latency_ms"), p99: f("p99_latency_ms")}
		per := func(i int) float64 {
			return float64(after[i]-before[i]) / float64(time.Microsecond) / float64(*requests)
		}
		rw.cpuNode = per(0)
		if len(tg.pids) > 1 {
			rw.cpuFront = per(1)
		}
		rows[r[0]] = rw
	}
	return rows, nil
}

// cpuTimes returns the user+system CPU time of each pid.
func cpuTimes(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// utime and stime are fields 14 and 15 of stat, 12 and 13 here.
		ut, _ := strconv.ParseInt(fields[11], 10, 64)
		st, _ := strconv.ParseInt(fields[12], 10, 64)
		out[i] = time.Duration(ut+st) * time.Second / 100 // USER_HZ
	}
	return out
}

// measureLogins opens *logins connections one after another, each with a
// TLS handshake, AUTH (or HELLO 3 AUTH) and a PING, and returns how long
// each took.
func measureLogins(ctx context.Context, addr string, tlsConf *tls.Config, creds func() (string, string)) ([]time.Duration, error) {
	var ds []time.Duration
	for range *logins {
		user, pass := creds()
		c := redis.NewClient(&redis.Options{
			Addr: addr, TLSConfig: tlsConf, Username: user, Password: pass, Protocol: 2, PoolSize: 1,
			MaxRetries: -1, DisableIdentity: true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		})
		start := time.Now()
		err := c.Ping(ctx).Err()
		d := time.Since(start)
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("login as %s on %s: %w", user, addr, err)
		}
		ds = append(ds, d)
	}
	return ds, nil
}

func waitListen(ctx context.Context, port int) error {
	for i := 0; i < 200; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return fmt.Errorf("redis-server does not listen on %d", port)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func readPid(name string) int {
	b, _ := os.ReadFile(name)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchVersion() string {
	out, err := exec.Command(*benchBin, "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.TrimPrefix(string(out), "redis-benchmark "))
}
