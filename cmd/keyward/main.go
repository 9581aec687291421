// Command keyward serves the Amazon ElastiCache API on top of real
// Redis/Valkey servers. Run "keyward serve -h" for its flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"keyward"
	"keyward/engine"
	"keyward/fronts"
	"keyward/mcfront"
	"keyward/server"
	"keyward/sigv4"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "keyward:", err)
		}
		os.Exit(2)
	}
}

const usage = `keyward: a self-hosted, ElastiCache-compatible control plane.

Usage:
  keyward serve [flags]    serve the ElastiCache API
  keyward version          print the version
  keyward front DIR        run one node's authenticating front (started by
                           keyward serve itself, one per TLS node)
  keyward mcfront DIR      run one Memcached node's (or configuration
                           endpoint's) front (started by keyward serve)

Run "keyward serve -h" for the flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "version":
		fmt.Fprintln(stdout, "keyward", version)
		return nil
	case "front":
		if len(args) != 2 {
			return errors.New("usage: keyward front DIR")
		}
		return fronts.Run(ctx, args[1], os.Stdin, slog.New(slog.NewTextHandler(stderr, nil)))
	case "mcfront":
		if len(args) != 2 {
			return errors.New("usage: keyward mcfront DIR")
		}
		return mcfront.Run(ctx, args[1], slog.New(slog.NewTextHandler(stderr, nil)))
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// serveFlags are the flags of "keyward serve"; each defaults to the
// documented value and may also come from the environment variable named.
type serveFlags struct {
	cfg             server.Config
	credentialsFile string
	accessKeyID     string
	secretKey       string
	accountID       string
	logLevel        string
	logFormat       string
	regions         string
	pprof           string
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	q := keyward.DefaultQuotas()
	fs.StringVar(&f.cfg.Listen, "listen", env("KEYWARD_LISTEN", server.DefaultListen), "address to serve the API on ($KEYWARD_LISTEN)")
	fs.StringVar(&f.cfg.DataDir, "data-dir", env("KEYWARD_DATA_DIR", "keyward-data"), "directory for state and node data ($KEYWARD_DATA_DIR)")
	fs.StringVar(&f.cfg.Store, "store", env("KEYWARD_STORE", ""), "state store: sqlite:PATH (default DATA-DIR/state.db), postgres://... or postgres:KEY=VALUE... ($KEYWARD_STORE)")
	lead := fs.Bool("lead", true, "may run the reconciler and the nodes (PostgreSQL: when holding the leader lease)")
	fs.StringVar(&f.credentialsFile, "credentials-file", env("KEYWARD_CREDENTIALS_FILE", ""), "file of 'ACCESS_KEY_ID SECRET ACCOUNT_ID' lines; enables SigV4 ($KEYWARD_CREDENTIALS_FILE)")
	fs.StringVar(&f.accessKeyID, "access-key-id", env("KEYWARD_ACCESS_KEY_ID", ""), "one access key id; enables SigV4 ($KEYWARD_ACCESS_KEY_ID)")
	fs.StringVar(&f.accountID, "account-id", env("KEYWARD_ACCOUNT_ID", keyward.DefaultScope.Account), "account id of --access-key-id and of unsigned requests ($KEYWARD_ACCOUNT_ID)")
	fs.StringVar(&f.cfg.RedisServer, "redis-server", env("KEYWARD_REDIS_SERVER", "redis-server"), "redis-server binary for engine redis ($KEYWARD_REDIS_SERVER)")
	fs.StringVar(&f.cfg.ValkeyServer, "valkey-server", env("KEYWARD_VALKEY_SERVER", "valkey-server"), "valkey-server binary for engine valkey ($KEYWARD_VALKEY_SERVER)")
	fs.StringVar(&f.cfg.Memcached, "memcached", env("KEYWARD_MEMCACHED", "memcached"), "memcached binary for Memcached cache clusters ($KEYWARD_MEMCACHED)")
	fs.StringVar(&f.cfg.S3Dir, "s3-dir", env("KEYWARD_S3_DIR", ""), "directory standing in for S3: each bucket a subdirectory, for snapshot exports and restores from arn:aws:s3::: ARNs ($KEYWARD_S3_DIR)")
	fs.BoolVar(&f.cfg.Insecure, "insecure", false, "allow serving beyond loopback without credentials")
	fs.StringVar(&f.cfg.NodeAddresses, "node-addresses", env("KEYWARD_NODE_ADDRESSES", engine.DefaultAddresses), "loopback range nodes and endpoints get addresses of their own from, or \"none\" for 127.0.0.1 with a free port per node ($KEYWARD_NODE_ADDRESSES)")
	fs.StringVar(&f.cfg.Region, "region", env("KEYWARD_REGION", keyward.DefaultScope.Region), "region of unsigned requests ($KEYWARD_REGION)")
	fs.DurationVar(&f.cfg.TransitionDelay, "transition-delay", envDuration("KEYWARD_TRANSITION_DELAY", 0), "hold creating/modifying/deleting at least this long ($KEYWARD_TRANSITION_DELAY)")
	fs.IntVar(&f.cfg.Quotas.Users, "quota-users", q.Users, "users per account and region")
	fs.IntVar(&f.cfg.Quotas.UserGroups, "quota-user-groups", q.UserGroups, "user groups per account and region")
	fs.IntVar(&f.cfg.Quotas.UsersPerGroup, "quota-users-per-group", q.UsersPerGroup, "users per user group")
	fs.IntVar(&f.cfg.Quotas.Nodes, "quota-nodes", q.Nodes, "replication-group nodes per account and region (-1: no limit)")
	fs.IntVar(&f.cfg.Quotas.ReplicationGroups, "quota-replication-groups", q.ReplicationGroups, "replication groups per account and region (-1: no limit)")
	fs.IntVar(&f.cfg.Quotas.NodeGroupsPerReplicationGroup, "quota-node-groups-per-replication-group", q.NodeGroupsPerReplicationGroup, "node groups (shards) per replication group (-1: no limit)")
	fs.IntVar(&f.cfg.Quotas.ServerlessCaches, "quota-serverless-caches", q.ServerlessCaches, "serverless caches per account and region (-1: no limit)")
	fs.IntVar(&f.cfg.Quotas.AccountNodes, "quota-account-nodes", q.AccountNodes, "node processes per account across all regions, serverless included (-1: no limit)")
	fs.StringVar(&f.regions, "regions", env("KEYWARD_REGIONS", ""), "comma-separated region names served (default: every AWS region) ($KEYWARD_REGIONS)")
	fs.DurationVar(&f.cfg.ReadTimeout, "read-timeout", envDuration("KEYWARD_READ_TIMEOUT", server.DefaultReadTimeout), "longest time to read one request, body included ($KEYWARD_READ_TIMEOUT)")
	fs.IntVar(&f.cfg.MaxConnections, "max-connections", 0, "most API connections open at once; more are answered 503 (default 1024, at most half the open-file limit)")
	fs.Int64Var(&f.cfg.MaxBodyMemory, "max-body-memory", server.DefaultMaxBodyMemory, "bytes of request bodies held at once; requests beyond it wait, then get 503")
	fs.DurationVar(&f.cfg.ReadyInterval, "ready-interval", server.DefaultReadyInterval, "how often /readyz's store write probe runs")
	fs.StringVar(&f.logLevel, "log-level", env("KEYWARD_LOG_LEVEL", "info"), "debug, info, warn or error ($KEYWARD_LOG_LEVEL)")
	fs.StringVar(&f.pprof, "pprof", "", "serve Go's profiles (net/http/pprof) on this loopback address, for benchmarks (default: off)")
	fs.StringVar(&f.logFormat, "log-format", env("KEYWARD_LOG_FORMAT", "text"), "text or json ($KEYWARD_LOG_FORMAT)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	f.cfg.NoLead = !*lead
	if f.regions != "" {
		for _, r := range strings.Split(f.regions, ",") {
			if r = strings.TrimSpace(r); r != "" {
				f.cfg.Regions = append(f.cfg.Regions, r)
			}
		}
		if len(f.cfg.Regions) == 0 {
			return nil, errors.New("--regions: name at least one region")
		}
	}
	// The secret is read from the environment only: a flag would show it in
	// the process list.
	f.secretKey = os.Getenv("KEYWARD_SECRET_ACCESS_KEY")
	return f, nil
}

func (f *serveFlags) credentials() ([]sigv4.Credential, error) {
	var creds []sigv4.Credential
	if f.credentialsFile != "" {
		c, err := sigv4.LoadCredentialsFile(f.credentialsFile)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c...)
	}
	if f.accessKeyID != "" {
		if f.secretKey == "" {
			return nil, errors.New("--access-key-id needs KEYWARD_SECRET_ACCESS_KEY in the environment")
		}
		creds = append(creds, sigv4.Credential{AccessKeyID: f.accessKeyID, SecretAccessKey: f.secretKey, AccountID: f.accountID})
	}
	if err := sigv4.ValidateCredentials(creds); err != nil {
		return nil, err
	}
	return creds, nil
}

func (f *serveFlags) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(f.logFormat) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", f.logFormat)
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	f, err := parseServeFlags(args, stderr)
	if err != nil {
		return err
	}
	// Everything keyward creates (state, secrets, node files) is for its
	// own user only, whatever umask it was started with.
	syscall.Umask(0o077)
	if f.cfg.Logger, err = f.logger(stderr); err != nil {
		return err
	}
	if f.cfg.Credentials, err = f.credentials(); err != nil {
		return err
	}
	f.cfg.Account = f.accountID
	start := time.Now()
	s, err := server.Open(ctx, f.cfg)
	if err != nil {
		return err
	}
	s.Start()
	log := f.cfg.Logger
	if f.pprof != "" {
		if err := servePprof(ctx, f.pprof); err != nil {
			s.Close()
			return err
		}
	}
	log.Info("keyward serving", "endpoint", s.URL(), "data_dir", f.cfg.DataDir,
		"sigv4", len(f.cfg.Credentials) > 0, "transition_delay", f.cfg.TransitionDelay,
		"startup", time.Since(start).Round(time.Microsecond))
	<-ctx.Done()
	log.Info("keyward shutting down")
	start = time.Now()
	err = s.Close()
	log.Info("keyward stopped", "shutdown", time.Since(start).Round(time.Microsecond))
	return err
}

// servePprof serves net/http/pprof's handlers on addr, a loopback address
// (profiles show internals: never beyond the machine), until ctx is done.
func servePprof(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--pprof %q: want a loopback address and port", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	return nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if v, ok := os.LookupEnv(name); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}
