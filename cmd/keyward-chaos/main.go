// Command keyward-chaos runs fault campaigns against keyward and checks its
// invariants: acknowledged writes survive kill -9, unanswered ones are
// applied wholly or not at all, every node's ACLs converge on the stored
// state (no stale user can log in anywhere), statuses never report done
// what is not done while nodes are killed or paused, memory stays flat
// under load, and no secret leaks to logs, files or responses.
//
//	go run ./cmd/keyward-chaos                       # every campaign
//	go run ./cmd/keyward-chaos crash --duration 5m   # one campaign
//
// Campaigns: crash, nodes, soak, secrets (see docs/reliability.md). Each
// prints a Markdown summary; the command exits 1 if any invariant was
// violated. It builds keyward from the module it is run in (or takes
// --keyward), and removes every process and file it created.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

var campaigns = map[string]func(context.Context, *config) *Report{
	"crash":   runCrash,
	"nodes":   runNodes,
	"soak":    runSoak,
	"secrets": runSecrets,
}

var campaignOrder = []string{"crash", "nodes", "soak", "secrets"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keyward-chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	campaign := fs.String("campaign", "all", "campaign to run: crash, nodes, soak, secrets or all")
	fs.DurationVar(&cfg.duration, "duration", time.Minute, "crash: time to keep killing keyward; soak: load time")
	fs.IntVar(&cfg.rounds, "rounds", 0, "crash: kill rounds (0: until --duration); nodes: fault rounds (0: 14, every fault with both revocations)")
	seed := fs.Uint64("seed", 0, "random seed (0: from the clock; the report names it)")
	fs.StringVar(&cfg.keyward, "keyward", "", "keyward binary (default: build ./cmd/keyward)")
	clients := fs.Int("clients", 0, "concurrent clients (default: crash 4, soak 8)")
	fs.DurationVar(&cfg.convergeTimeout, "converge-timeout", 10*time.Second, "time allowed for statuses and nodes to converge after a fault")
	fs.Float64Var(&cfg.rssGrowthLimit, "rss-growth-limit", 0.5, "soak: allowed growth of keyward's median RSS from the first to the last minute (runs of 2 minutes or more)")
	fs.BoolVar(&cfg.race, "race", false, "build keyward with the race detector (a data race it reports is a violation)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory of a campaign that failed")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	out := fs.String("out", "", "also write the report to this file")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		*campaign, args = args[0], args[1:] // "keyward-chaos crash --duration 5m"
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fmt.Fprintln(stderr, "keyward-chaos: at most one campaign name")
		return 2
	}
	if fs.NArg() == 1 {
		*campaign = fs.Arg(0)
	}
	names := []string{*campaign}
	if *campaign == "all" {
		names = campaignOrder
	} else if campaigns[*campaign] == nil {
		fmt.Fprintf(stderr, "keyward-chaos: unknown campaign %q (want %s or all)\n", *campaign, strings.Join(campaignOrder, ", "))
		return 2
	}
	cfg.seed = *seed
	if cfg.seed == 0 {
		cfg.seed = uint64(time.Now().UnixNano())
	}
	if !*quiet {
		cfg.log = stderr
	}
	if cfg.keyward == "" {
		dir, err := os.MkdirTemp("", "keyward-chaos-bin-")
		if err != nil {
			fmt.Fprintln(stderr, "keyward-chaos:", err)
			return 2
		}
		defer os.RemoveAll(dir)
		if cfg.keyward, err = buildKeyward(ctx, dir, cfg.race); err != nil {
			fmt.Fprintln(stderr, "keyward-chaos:", err)
			return 2
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# keyward chaos campaigns\n\nredis-server %s, seed %d, %s.\n\n", redisVersion(), cfg.seed, time.Now().UTC().Format(time.RFC3339))
	failed := false
	for _, name := range names {
		c := *cfg
		c.clients = *clients
		if c.clients == 0 {
			c.clients = map[string]int{"crash": 4, "soak": 8}[name]
		}
		rep := campaigns[name](ctx, &c)
		b.WriteString(rep.Markdown())
		if len(rep.Violations()) > 0 {
			failed = true
		}
		if ctx.Err() != nil {
			b.WriteString("Interrupted.\n")
			failed = true
			break
		}
	}
	fmt.Fprint(stdout, b.String())
	if *out != "" {
		if err := os.WriteFile(*out, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintln(stderr, "keyward-chaos:", err)
			return 2
		}
	}
	if failed {
		return 1
	}
	return 0
}
