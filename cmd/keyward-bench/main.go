// Command keyward-bench is keyward's API benchmark: it runs keyward, other
// keyward binaries (baselines, such as the previous release), a no-op
// server (the floor) and moto (moto_server, the Python ElastiCache mock)
// side by side on this machine, and drives each with the same load through
// the real aws-sdk-go-v2 ElastiCache client.
//
// It is a load command, not a timed test:
//
//	go run ./cmd/keyward-bench --clients 8 --duration 10s --runs 3
//	go run ./cmd/keyward-bench --targets keyward,noop,moto --baseline-rev 47fcae1 \
//		--workloads lifecycle,describe
//
// # Targets
//
//   - keyward: ./cmd/keyward built into a temporary directory, or --keyward.
//   - baselines: --baseline [NAME=]BIN (target NAME, default "baseline")
//     or --baseline-rev REV (git archive REV of the enclosing repository,
//     go build ./cmd/keyward there; target REV); both repeatable. They run
//     exactly as keyward does, so that figures compare binaries in one run.
//   - noop: this executable as "keyward-bench noop --listen ADDR", a Go
//     net/http server that decodes the AWS Query form and writes canned,
//     valid answers of the same shape and size as keyward's (noop.go): the
//     least CPU a call can cost through net/http and the SDK's protocol.
//   - moto: moto_server.
//
// # Workloads (--workloads)
//
// lifecycle (the default) is described below. describe first creates
// --populate users (not measured), then each worker calls
// DescribeUsers(UserId) on them in turn: a point read of a populated
// scope.
//
// # What is measured
//
// One lifecycle is three API calls on a fresh user id:
// CreateUser (engine redis, access string "on ~* +@all", one password) →
// DescribeUsers(UserId) → DeleteUser. Every id is used once (a deleting
// user's id cannot be reused until it is gone; keyward removes a user in
// no group at once, moto and others may not). --clients workers, each
// with its own ElastiCache client (all sharing one keep-alive HTTP
// client, no retries), loop lifecycles for --warmup and then for
// --duration; only calls that end inside the --duration window are
// counted.
//
// For each target and run the command reports:
//   - lifecycles/s (lifecycles whose DeleteUser ended in the window, all
//     three calls successful) and ops/s (successful calls per second);
//   - p50, p99 and max latency of each operation and of all calls;
//   - errors: every failed call, by error code (the first few are
//     printed as they happen);
//   - startup: time from exec to the first answer (keyward: GET /healthz
//     = 200, polled every millisecond; moto: any HTTP answer);
//   - RSS (VmRSS of the server and its children) right after startup,
//     after --idle-wait with no load, and right after the load;
//   - server CPU µs per call (and its inverse, ops per server
//     CPU-second): the server's CPU during the window divided by the calls
//     that succeeded in it, the cost of a call; it depends less on how many
//     cores the server got than throughput does;
//   - the servers' CPU use during the window (user+system seconds per
//     wall second: 2.0 means both cores of a 2-core machine), the
//     benchmark's own, which competes with the server for the same cores,
//     and that of every other process on the machine ("other", kernel
//     threads included, such as those that write the disk for fsync): a
//     run with a high "other" shared the cores with unrelated work;
//   - keyward only: how long after the load the reconciler takes to
//     remove the last "deleting" user (the drain).
//
// keyward is started as "keyward serve --listen 127.0.0.1:PORT --data-dir
// DIR --quota-users 1000000" on a fresh data directory (SQLite with
// durable commits: every acknowledged change is on disk); moto as
// "moto_server -H 127.0.0.1 -p PORT". Both are started afresh for each run
// and killed after it (and on SIGINT); the temporary directory is removed
// at the end. Runs alternate which target goes first.
//
// # How to read it
//
// Small machines are noisy and the client shares the cores with the
// server, so the tables give medians over --runs and the ratios
// keyward/X (CPU per call and throughput) measured within each run; their
// medians are the figures to quote. Absolute numbers depend on the disk's fsync latency (keyward
// commits durably; moto keeps everything in memory) and on how much CPU
// the client itself takes: the Go SDK spends about as much CPU per call as
// keyward does to serve it, so on a 2-core machine the client caps
// keyward's throughput long before it caps moto's (moto is bound to one
// core by Python's GIL), and "ops per server CPU-second" is the fairer
// comparison of the two servers' cost. The drain is polled every 10 ms,
// so a drain under 10 ms means the first look found nothing left.
//
// --perf FILE records keyward with "perf record -g" during the first
// run's window of each workload, into FILE.WORKLOAD, and every other
// target but moto into FILE.WORKLOAD.TARGET (the floor's profile is the
// one to subtract); read them with "perf report -i FILE.WORKLOAD
// --no-children".
//
// The Markdown report is printed to stdout and, with --out, written to a
// file; progress goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

type config struct {
	keyward    string
	baselines  []baseline // other keyward binaries, each a target
	noop       string     // the executable that serves "noop" (this one)
	moto       string
	workloads  []string
	populate   int
	clients    int
	duration   time.Duration
	warmup     time.Duration
	idleWait   time.Duration
	runs       int
	targets    []string
	out        string
	quotaUsers int
	store      string
	perf       string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "keyward-bench:", err)
		}
		os.Exit(2)
	}
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("keyward-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.keyward, "keyward", "", "keyward binary (default: go build ./cmd/keyward into a temporary directory)")
	fs.Func("baseline", "`[NAME=]BIN`: another keyward binary (e.g. the previous release), run as target NAME (default \"baseline\") in the same runs; repeatable", func(v string) error {
		name, bin, ok := strings.Cut(v, "=")
		if !ok {
			name, bin = targetBaseline, v
		}
		if name == "" || bin == "" {
			return errors.New("want [NAME=]BIN")
		}
		c.baselines = append(c.baselines, baseline{name: name, bin: bin})
		return nil
	})
	fs.Func("baseline-rev", "`REV`: build ./cmd/keyward as it was at this git revision of the enclosing repository (git archive REV, go build) and run it as target REV; repeatable", func(v string) error {
		if v == "" {
			return errors.New("want a revision")
		}
		c.baselines = append(c.baselines, baseline{name: v, rev: v})
		return nil
	})
	fs.StringVar(&c.moto, "moto", "moto_server", "moto_server executable")
	workloads := fs.String("workloads", "lifecycle", "comma-separated workloads: lifecycle (CreateUser → DescribeUsers → DeleteUser), describe (DescribeUsers of one user of a populated scope)")
	fs.IntVar(&c.populate, "populate", 200, "describe workload: users created before the load")
	fs.IntVar(&c.clients, "clients", 8, "concurrent ElastiCache clients per target")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured load per target and run")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before --duration")
	fs.DurationVar(&c.idleWait, "idle-wait", 2*time.Second, "idle time after startup before the idle RSS is read")
	fs.IntVar(&c.runs, "runs", 3, "runs; targets alternate which goes first; medians are reported")
	targets := fs.String("targets", "keyward,moto", "comma-separated targets: keyward, noop (the floor: canned answers), moto, and the names of baselines (each baseline is added after keyward if not listed)")
	fs.StringVar(&c.out, "out", "", "also write the Markdown report to this file")
	fs.IntVar(&c.quotaUsers, "quota-users", 1000000, "keyward's --quota-users")
	fs.StringVar(&c.store, "store", "", "keyward's --store (e.g. a postgres:// DSN of an empty database); default SQLite in a temporary data dir")
	fs.StringVar(&c.perf, "perf", "", "record keyward with 'perf record -g' during the first run's window of each workload into FILE.WORKLOAD, and the other targets but moto into FILE.WORKLOAD.TARGET")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: keyward-bench [flags]\n\nRuns the CreateUser → DescribeUsers → DeleteUser lifecycle against keyward and moto\nside by side and prints a Markdown report. Flags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.clients < 1 || c.runs < 1 || c.duration <= 0 || c.warmup < 0 || c.idleWait < 0 {
		return nil, errors.New("--clients and --runs must be ≥ 1, --duration > 0, --warmup and --idle-wait ≥ 0")
	}
	seen := map[string]bool{}
	for _, b := range c.baselines {
		switch {
		case b.name == targetKeyward || b.name == targetNoop || b.name == targetMoto:
			return nil, fmt.Errorf("baseline name %q is taken by a target", b.name)
		case seen[b.name]:
			return nil, fmt.Errorf("two baselines named %q", b.name)
		}
		seen[b.name] = true
	}
	listed := map[string]bool{}
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		switch {
		case t == "":
			continue
		case t == targetKeyward || t == targetNoop || t == targetMoto || seen[t]:
		default:
			return nil, fmt.Errorf("--targets: unknown target %q (want keyward, noop, moto or a baseline's name)", t)
		}
		if !listed[t] {
			listed[t] = true
			c.targets = append(c.targets, t)
		}
	}
	// Baselines not listed go right after keyward (or first).
	at := slices.Index(c.targets, targetKeyward) + 1
	for _, b := range c.baselines {
		if !listed[b.name] {
			c.targets = slices.Insert(c.targets, at, b.name)
			at++
		}
	}
	if len(c.targets) == 0 {
		return nil, errors.New("--targets: no target")
	}
	seen = map[string]bool{}
	for _, w := range strings.Split(*workloads, ",") {
		w = strings.TrimSpace(w)
		switch w {
		case "":
			continue
		case workloadLifecycle, workloadDescribe:
		default:
			return nil, fmt.Errorf("--workloads: unknown workload %q (want lifecycle and/or describe)", w)
		}
		if !seen[w] {
			seen[w] = true
			c.workloads = append(c.workloads, w)
		}
	}
	if len(c.workloads) == 0 {
		return nil, errors.New("--workloads: no workload")
	}
	if c.populate < 1 {
		return nil, errors.New("--populate must be ≥ 1")
	}
	return c, nil
}

const (
	targetKeyward  = "keyward"
	targetBaseline = "baseline"
	targetNoop     = "noop"
	targetMoto     = "moto"

	workloadLifecycle = "lifecycle"
	workloadDescribe  = "describe"
)

// baseline is another keyward binary to compare with, given as a binary
// or as a git revision to build.
type baseline struct {
	name, bin, rev string
}

// keywardBin returns the binary of target if it is a keyward (keyward or a
// baseline), else "".
func (c *config) keywardBin(target string) string {
	if target == targetKeyward {
		return c.keyward
	}
	for _, b := range c.baselines {
		if b.name == target {
			return b.bin
		}
	}
	return ""
}

// isKeyward reports whether target is a keyward binary.
func (c *config) isKeyward(target string) bool {
	return target == targetKeyward || slices.ContainsFunc(c.baselines, func(b baseline) bool { return b.name == target })
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "noop" {
		return runNoop(args[1:], stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "keyward-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }

	if contains(cfg.targets, targetKeyward) && cfg.keyward == "" {
		if cfg.keyward, err = buildKeyward(ctx, tmp, stderr); err != nil {
			return err
		}
		logf("built %s", cfg.keyward)
	}
	for i, b := range cfg.baselines {
		if b.rev == "" {
			continue
		}
		if cfg.baselines[i].bin, err = buildRevision(ctx, b.rev, tmp, stderr); err != nil {
			return err
		}
		logf("built %s from %s", cfg.baselines[i].bin, b.rev)
	}
	if contains(cfg.targets, targetNoop) {
		if cfg.noop, err = os.Executable(); err != nil {
			return fmt.Errorf("noop: %w", err)
		}
	}
	if contains(cfg.targets, targetMoto) {
		if _, err := exec.LookPath(cfg.moto); err != nil {
			return fmt.Errorf("--moto: %w", err)
		}
	}

	rep := &report{cfg: cfg, started: time.Now()}
	for r := range cfg.runs {
		order := append([]string(nil), cfg.targets...)
		if r%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		runRes := map[string]map[string]*result{}
		for _, wl := range cfg.workloads {
			res := map[string]*result{}
			for _, t := range order {
				logf("run %d/%d, %s: %s", r+1, cfg.runs, wl, t)
				dir := filepath.Join(tmp, fmt.Sprintf("run%d-%s-%s", r+1, wl, t))
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return err
				}
				perf := ""
				if t != targetMoto && r == 0 && cfg.perf != "" {
					perf = cfg.perf + "." + wl
					if t != targetKeyward {
						perf += "." + t
					}
				}
				rs, err := runTarget(ctx, cfg, t, wl, dir, fmt.Sprintf("r%d-%d", r+1, os.Getpid()), perf, logf)
				if err != nil {
					return fmt.Errorf("run %d, %s, %s: %w", r+1, wl, t, err)
				}
				logf("  %s: %.0f ops/s, %.0f µs server CPU per call, p99 %s, %d errors, startup %s, RSS idle %s",
					t, rs.opsPerSec(), rs.cpuPerCall(), fmtDur(rs.overall().p99), rs.errors, fmtDur(rs.startup), fmtKiB(rs.rssIdle))
				res[t] = rs
			}
			runRes[wl] = res
		}
		rep.runs = append(rep.runs, runRes)
	}

	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(md), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// buildKeyward builds ./cmd/keyward of the enclosing module into dir.
func buildKeyward(ctx context.Context, dir string, stderr io.Writer) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the keyward module: run from its tree or pass --keyward")
	}
	bin := filepath.Join(dir, "keyward")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keyward")
	cmd.Dir = filepath.Dir(gomod)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyward: %w", err)
	}
	return bin, nil
}

// buildRevision builds ./cmd/keyward as it was at rev of the enclosing git
// repository: git archive rev into dir/src-rev, go build there.
func buildRevision(ctx context.Context, rev, dir string, stderr io.Writer) (string, error) {
	top, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("--baseline-rev: not in a git repository: %w", err)
	}
	src := filepath.Join(dir, "src-"+rev)
	if err := os.MkdirAll(src, 0o700); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "-C", strings.TrimSpace(string(top)), "archive", rev)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	untar.Stdin, archive.Stderr, untar.Stderr = pipe, stderr, stderr
	if err := untar.Start(); err != nil {
		return "", err
	}
	if err := archive.Run(); err != nil {
		return "", fmt.Errorf("git archive %s: %w", rev, err)
	}
	if err := untar.Wait(); err != nil {
		return "", fmt.Errorf("tar -x: %w", err)
	}
	bin := filepath.Join(dir, "keyward-"+rev)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/keyward")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/keyward at %s: %w", rev, err)
	}
	return bin, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
