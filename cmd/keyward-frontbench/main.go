// Command keyward-frontbench measures what a node's authenticating front
// (package front) costs: redis-benchmark GET/SET throughput and latency
// through the front against the node directly, and the latency of a login
// (TLS handshake + AUTH) with a password directly, with a password through
// the front and with an IAM token through the front.
//
// It starts one TLS redis-server node with package engine and its front as
// a separate process, as keyward serve does (this binary re-executed as
// "keyward-frontbench front DIR"), and prints a Markdown report.
//
//	go run ./cmd/keyward-frontbench --requests 200000 --clients 50 --runs 3
package main

import (
	"context"
	"encoding/csv"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
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
		if err := fronts.Run(ctx, os.Args[2], slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
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
	requests  = flag.Int("requests", 200000, "redis-benchmark -n")
	clients   = flag.Int("clients", 50, "redis-benchmark -c")
	pipeline  = flag.Int("pipeline", 1, "redis-benchmark -P")
	runs      = flag.Int("runs", 3, "runs per target (medians are reported); targets alternate")
	logins    = flag.Int("logins", 300, "logins measured per kind")
	redisBin  = flag.String("redis-server", "redis-server", "redis-server binary")
	benchBin  = flag.String("redis-benchmark", "redis-benchmark", "redis-benchmark binary")
	outFile   = flag.String("out", "", "also write the report to this file")
	benchUser = "bench"
	benchPass = "bench-password-0001"
	cred      = sigv4.Credential{AccessKeyID: "AKIAKEYWARDBENCH0001", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", AccountID: "123456789012"}
	res       = iamauth.Resource{Name: "bench", AccountID: cred.AccountID, Region: "us-east-1"}
)

const nodeID = "123456789012.us-east-1.bench-001"

func run() error {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "keyward-frontbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	eng := &engine.Manager{DataDir: dir, RedisServer: *redisBin}
	if err := eng.Open(ctx); err != nil {
		return err
	}
	defer eng.Close()
	n, err := eng.Ensure(ctx, engine.NodeSpec{ID: nodeID, Engine: "redis", TLS: true})
	if err != nil {
		return err
	}
	defer eng.Stop(context.Background(), nodeID)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fm := &fronts.Manager{
		DataDir: dir, Credentials: []sigv4.Credential{cred}, CAFile: eng.CAFile(), CertFiles: eng.NodeCertFiles,
		Command: func(d string) *exec.Cmd { return exec.Command(self, "front", d) },
	}
	if err := fm.Open(ctx); err != nil {
		return err
	}
	defer fm.Close()
	cacheID := "arn:aws:elasticache:us-east-1:123456789012:replicationgroup:bench"
	port, err := fm.Ensure(ctx, fronts.Spec{ID: nodeID, Backend: n.Addr, Resource: res, CacheID: cacheID})
	if err != nil {
		return err
	}
	defer fm.Stop(context.Background(), nodeID)
	all, _ := keyward.ParseAccessString("on ~* +@all")
	users := []engine.ACLUser{
		{Name: benchUser, Rules: append([]string{"#" + sha(benchPass)}, all.Rules()...)},
		{Name: "iam", Rules: append([]string{"#" + front.SecretHash(fm.Key(), cacheID, "iam")}, all.Rules()...)},
	}
	if _, err := eng.ApplyACL(ctx, nodeID, users, nil); err != nil {
		return err
	}
	frontAddr := "127.0.0.1:" + strconv.Itoa(port)

	type result struct{ rps, p50, p99 float64 }
	results := map[string]map[string][]result{"direct": {}, "front": {}}
	targets := []string{"direct", "front"}
	for r := 0; r < *runs; r++ {
		order := targets
		if r%2 == 1 {
			order = []string{"front", "direct"}
		}
		for _, tg := range order {
			p := n.Port
			if tg == "front" {
				p = port
			}
			fmt.Fprintf(os.Stderr, "run %d: redis-benchmark %s (port %d)\n", r+1, tg, p)
			rows, err := benchmark(ctx, p, eng.CAFile())
			if err != nil {
				return err
			}
			for test, row := range rows {
				results[tg][test] = append(results[tg][test], row)
			}
		}
	}

	loginDirect, err := measureLogins(ctx, n.Addr, eng, func() (string, string) { return benchUser, benchPass })
	if err != nil {
		return err
	}
	loginFrontPW, err := measureLogins(ctx, frontAddr, eng, func() (string, string) { return benchUser, benchPass })
	if err != nil {
		return err
	}
	// Tokens are made before the clock starts: signing is the client's cost.
	toks := make([]string, *logins+1)
	for i := range toks {
		if toks[i], err = iamauth.Presign(ctx, aws.Credentials{AccessKeyID: cred.AccessKeyID, SecretAccessKey: cred.SecretAccessKey}, res, "iam", 15*time.Minute, time.Now()); err != nil {
			return err
		}
	}
	i := 0
	loginIAM, err := measureLogins(ctx, frontAddr, eng, func() (string, string) { i++; return "iam", toks[i%len(toks)] })
	if err != nil {
		return err
	}

	var b strings.Builder
	med := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	fmt.Fprintf(&b, "redis-benchmark %s, -n %d -c %d -P %d, TLS, %d runs (medians), %s\n\n", benchVersion(), *requests, *clients, *pipeline, *runs, time.Now().UTC().Format("2006-01-02"))
	b.WriteString("| test | direct req/s | front req/s | front/direct | direct p50 / p99 ms | front p50 / p99 ms |\n|---|---|---|---|---|---|\n")
	for _, test := range []string{"SET", "GET"} {
		d, f := results["direct"][test], results["front"][test]
		if len(d) == 0 || len(f) == 0 {
			continue
		}
		dr, fr := med(d, func(r result) float64 { return r.rps }), med(f, func(r result) float64 { return r.rps })
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f %% | %.3f / %.3f | %.3f / %.3f |\n", test, dr, fr, 100*fr/dr,
			med(d, func(r result) float64 { return r.p50 }), med(d, func(r result) float64 { return r.p99 }),
			med(f, func(r result) float64 { return r.p50 }), med(f, func(r result) float64 { return r.p99 }))
	}
	fmt.Fprintf(&b, "\nLogin (new TLS connection + AUTH + first PING), %d each:\n\n| login | p50 ms | p99 ms |\n|---|---|---|\n", *logins)
	for _, l := range []struct {
		name string
		d    []time.Duration
	}{{"password, node directly", loginDirect}, {"password, through the front", loginFrontPW}, {"IAM token, through the front", loginIAM}} {
		fmt.Fprintf(&b, "| %s | %.2f | %.2f |\n", l.name, ms(pct(l.d, 50)), ms(pct(l.d, 99)))
	}
	out := b.String()
	fmt.Print(out)
	if *outFile != "" {
		return os.WriteFile(*outFile, []byte(out), 0o644)
	}
	return nil
}

// benchmark runs redis-benchmark for SET and GET against port and returns
// rps and latency percentiles by test.
func benchmark(ctx context.Context, port int, caFile string) (map[string]struct{ rps, p50, p99 float64 }, error) {
	cmd := exec.CommandContext(ctx, *benchBin, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "--tls", "--cacert", caFile,
		"--user", benchUser, "-a", benchPass, "-t", "set,get", "-n", strconv.Itoa(*requests), "-c", strconv.Itoa(*clients),
		"-P", strconv.Itoa(*pipeline), "--csv", "-r", "100000")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("redis-benchmark: %w", err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(recs) < 2 {
		return nil, fmt.Errorf("redis-benchmark output %q: %v", out, err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	rows := map[string]struct{ rps, p50, p99 float64 }{}
	for _, r := range recs[1:] {
		f := func(name string) float64 { v, _ := strconv.ParseFloat(r[col[name]], 64); return v }
		rows[r[0]] = struct{ rps, p50, p99 float64 }{f("rps"), f("p50_latency_ms"), f("p99_latency_ms")}
	}
	return rows, nil
}

// measureLogins opens *logins connections one after another, each with a
// TLS handshake, AUTH (or HELLO 3 AUTH) and a PING, and returns how long
// each took.
func measureLogins(ctx context.Context, addr string, eng *engine.Manager, creds func() (string, string)) ([]time.Duration, error) {
	var ds []time.Duration
	for range *logins {
		user, pass := creds()
		c := redis.NewClient(&redis.Options{
			Addr: addr, TLSConfig: eng.TLSConfig(), Username: user, Password: pass, Protocol: 2, PoolSize: 1,
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

func sha(s string) string { return front.SHA256Hex(s) }
