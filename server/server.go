// Package server wires keyward together: it opens the store, starts the
// reconciler and serves the ElastiCache API over HTTP behind SigV4
// verification. cmd/keyward turns flags into a Config; tests (keywardtest)
// build a Config directly and run the same code in-process.
package server

import (
	"context"
	"errors"
	"fmt"
	"keyward/s3dir"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"keyward"
	"keyward/api"
	"keyward/awsquery"
	"keyward/ecapi"
	"keyward/engine"
	"keyward/fronts"
	"keyward/metrics"
	"keyward/postgres"
	"keyward/reconcile"
	"keyward/sigv4"
	"keyward/sqlite"
)

// DefaultListen is the address keyward serves on when none is given.
const DefaultListen = "127.0.0.1:4545"

// Defaults of the HTTP limits and of the readiness probe (see Config).
const (
	DefaultReadTimeout    = 30 * time.Second
	DefaultMaxConnections = 1024
	DefaultMaxBodyMemory  = 64 << 20
	DefaultReadyInterval  = 5 * time.Second
)

// Config is everything a Server needs. The zero value of each field means
// its documented default.
type Config struct {
	Listen  string // host:port; DefaultListen when empty
	DataDir string // directory for state.db and node data; "./keyward-data" when empty
	Store   string // "sqlite:PATH" or a path; <DataDir>/state.db when empty

	// Credentials, when any are given, make SigV4 mandatory on every request.
	Credentials []sigv4.Credential
	// Insecure allows serving beyond loopback without credentials.
	Insecure bool

	// Region and Account are the scope of unsigned requests (loopback only).
	Region  string
	Account string

	// RedisServer and ValkeyServer are the engine binaries (paths or names
	// on PATH); defaults "redis-server" and "valkey-server".
	RedisServer  string
	ValkeyServer string
	// Memcached is the memcached binary for Memcached cache clusters;
	// default "memcached".
	Memcached string
	// NoEngine runs without a data plane: caches change status but start
	// no processes. For control-plane-only tests.
	NoEngine bool
	// S3Dir stands in for S3 (package s3dir): each bucket is a
	// subdirectory, for snapshot exports and restores from S3 ARNs.
	// Empty: no buckets, TargetBucket and S3 ARNs are refused.
	S3Dir string

	// NoFronts serves TLS nodes directly, without their authenticating
	// fronts (then IAM users cannot log in). FrontsInProcess runs the
	// fronts inside keyward instead of as processes of their own (tests);
	// they then stop with keyward.
	NoFronts        bool
	FrontsInProcess bool

	// NodeAddresses is the range nodes get loopback addresses of their own
	// from (engine.DefaultAddresses when empty); "none" puts every node on
	// 127.0.0.1 with a free port of its own.
	NodeAddresses string

	// NoLead keeps this replica from ever leading: it serves the API but
	// never runs the reconciler or any node. With a PostgreSQL store, run
	// replicas on other hosts than the nodes' host this way (see README,
	// "Several replicas").
	NoLead bool
	// LeasePoll is how often a replica that does not lead tries to take the
	// leadership (PostgreSQL store); default 1s.
	LeasePoll time.Duration

	TransitionDelay time.Duration
	// DataResync is how often the reconciler re-applies every cache to its
	// nodes to repair drift (reconcile.Controller.DataResync); 0: its
	// default. Tests lengthen it to show that a change does not wait for it.
	DataResync time.Duration
	// Quotas: each zero field means its default (keyward.DefaultQuotas);
	// a negative cache quota means no limit.
	Quotas       keyward.Quotas
	MaxBodyBytes int64

	// Regions are the region names served; nil means
	// keyward.DefaultRegions(). Requests scoped to any other region are
	// refused as AWS refuses a scope for a region an endpoint does not serve.
	Regions []string

	// HTTP limits that hold before authentication. ReadTimeout bounds the
	// reading of a whole request, body included (DefaultReadTimeout);
	// MaxConnections bounds open API connections (DefaultMaxConnections,
	// at most half the open-file limit), further ones are answered 503 and
	// closed; MaxBodyMemory bounds the bytes of the bodies being read and
	// served at once (DefaultMaxBodyMemory).
	ReadTimeout    time.Duration
	MaxConnections int
	MaxBodyMemory  int64

	// ReadyInterval is how often the store's write probe runs for /readyz
	// (DefaultReadyInterval).
	ReadyInterval time.Duration

	Logger *slog.Logger
	// Now is the clock of the API and the reconciler (statuses, events,
	// automatic snapshot windows); time.Now when nil. Tests drive it.
	Now func() time.Time
}

// Server is a running keyward.
type Server struct {
	Config  Config
	Store   keyward.Store
	Service *api.Service
	Metrics *metrics.Registry

	pg *postgres.Store // the store, when it is PostgreSQL

	mu        sync.Mutex
	ctrl      *reconcile.Controller // the reconciler of the current term; nil while not leading
	eng       *engine.Manager       // the node manager; see Engine
	mc        *engine.Memcached     // the memcached nodes, opened and closed with eng
	fronts    *fronts.Manager       // the nodes' fronts, opened and closed with eng
	stopNodes bool                  // set by CloseAndStopNodes: stop nodes, don't leave them

	listener net.Listener
	http     *http.Server
	ready    *readiness
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// ErrInsecureListen is returned when keyward would serve beyond loopback
// without any credentials and Insecure is not set.
var ErrInsecureListen = errors.New("server: refusing to listen on a non-loopback address without credentials; configure credentials or pass --insecure")

// Open validates cfg, opens the store and binds the listener. It does not
// serve until Start.
func Open(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Listen == "" {
		cfg.Listen = DefaultListen
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "keyward-data"
	}
	if cfg.Region == "" {
		cfg.Region = keyward.DefaultScope.Region
	}
	if cfg.Account == "" {
		cfg.Account = keyward.DefaultScope.Account
	}
	cfg.Quotas = withDefaultQuotas(cfg.Quotas)
	if cfg.Regions == nil {
		cfg.Regions = keyward.DefaultRegions()
	}
	if !slices.Contains(cfg.Regions, cfg.Region) {
		return nil, fmt.Errorf("server: region %q (of unsigned requests) is not among the regions served", cfg.Region)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = defaultMaxConnections()
	}
	if cfg.MaxBodyMemory <= 0 {
		cfg.MaxBodyMemory = DefaultMaxBodyMemory
	}
	if cfg.ReadyInterval <= 0 {
		cfg.ReadyInterval = DefaultReadyInterval
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if len(cfg.Credentials) == 0 && !cfg.Insecure && !isLoopback(cfg.Listen) {
		return nil, ErrInsecureListen
	}
	if err := privateDir(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	s := &Server{Config: cfg}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.Store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	if pg, ok := s.Store.(*postgres.Store); ok {
		s.pg = pg
	} else if !cfg.NoEngine && !cfg.NoLead {
		// One process owns SQLite, so it always leads: open the engine now,
		// adopting nodes a previous keyward left running.
		if s.eng, err = s.openEngine(ctx); err != nil {
			return nil, err
		}
	}
	s.Metrics = metrics.New()
	s.Metrics.Gauge("keyward_reconcile_queue_depth", "Resource keys waiting for the reconciler.", func() []metrics.Sample {
		n := 0
		if c := s.controller(); c != nil {
			n = c.QueueDepth()
		}
		return []metrics.Sample{{Value: float64(n)}}
	})
	s.Metrics.Gauge("keyward_reconcile_errors", "Reconcile passes that failed since start (a counter).", func() []metrics.Sample {
		var n uint64
		if c := s.controller(); c != nil {
			n = c.Errors()
		}
		return []metrics.Sample{{Value: float64(n)}}
	})
	s.Metrics.Gauge("keyward_leader", "1 when this replica runs the reconciler.", func() []metrics.Sample {
		v := 0.0
		if s.Leading() {
			v = 1
		}
		return []metrics.Sample{{Value: v}}
	})
	s.Metrics.Gauge("keyward_nodes", "Cache nodes by state.", func() []metrics.Sample {
		var up, down float64
		if e := s.Engine(); e != nil {
			for _, n := range e.Nodes() {
				if n.PID > 0 {
					up++
				} else {
					down++
				}
			}
		}
		return []metrics.Sample{{Labels: []string{"state", "running"}, Value: up}, {Labels: []string{"state", "down"}, Value: down}}
	})
	s.Service = api.New(s.Store)
	s.Service.Quotas = cfg.Quotas
	// A reservation's payment-pending state is a transition like the others.
	s.Service.PaymentPending = cfg.TransitionDelay
	s.Service.TransitionDelay = cfg.TransitionDelay
	s.Service.Notify = s.notify
	s.Service.Buckets = s3dir.Dir(cfg.S3Dir)
	if cfg.Now != nil {
		s.Service.Now = cfg.Now
	}
	s.Service.NodeUp = func(id string) (bool, bool) { return NodeUp(s.Engine(), id) }
	s.ready = newReadiness(s.Store, cfg.ReadyInterval, cfg.Logger)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	s.listener = newLimitListener(ln, cfg.MaxConnections, cfg.Logger)
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.ReadTimeout + time.Minute,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

func openStore(ctx context.Context, cfg Config) (keyward.Store, error) {
	dsn := cfg.Store
	switch {
	case dsn == "":
		return sqlite.Open(ctx, filepath.Join(cfg.DataDir, "state.db"))
	case strings.HasPrefix(dsn, "sqlite:"):
		return sqlite.Open(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return postgres.Open(ctx, dsn)
	case strings.HasPrefix(dsn, "postgres:"):
		// postgres:host=... dbname=... (libpq's keyword/value form)
		return postgres.Open(ctx, strings.TrimPrefix(dsn, "postgres:"))
	}
	return sqlite.Open(ctx, dsn)
}

// Handler returns the HTTP handler: health endpoints and the ElastiCache API
// behind SigV4 verification (or, without credentials, the unsigned scope).
func (s *Server) Handler() http.Handler {
	apiHandler := ecapi.NewHandler(s.Service, awsquery.Options{
		Logger:       s.Config.Logger.With("component", "api"),
		MaxBodyBytes: s.Config.MaxBodyBytes,
		Observe:      s.Metrics.ObserveRequest,
	})
	served := make(map[string]bool, len(s.Config.Regions))
	for _, r := range s.Config.Regions {
		served[r] = true
	}
	regions := func(r string) bool { return served[r] }
	auth := &sigv4.Middleware{
		MaxBodyBytes:   s.Config.MaxBodyBytes,
		DefaultRegion:  s.Config.Region,
		DefaultAccount: s.Config.Account,
		API:            ecapi.API,
		Regions:        regions,
		Budget:         sigv4.NewBudget(s.Config.MaxBodyMemory),
	}
	if len(s.Config.Credentials) > 0 {
		auth.Verifier = sigv4.NewVerifier(s.Config.Credentials)
		auth.Verifier.Regions = regions
	}
	mux := http.NewServeMux()
	// /healthz: the process serves. /readyz: it can also reach its store.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		err := s.Store.View(ctx, func(tx keyward.Tx) error {
			_, err := tx.CountUsers(ctx, keyward.DefaultScope)
			return err
		})
		if err == nil {
			err = s.ready.err()
		}
		if err != nil {
			s.Config.Logger.Warn("server: not ready", "err", err)
			http.Error(w, "store unavailable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.Handle("/", auth.Wrap(apiHandler))
	return mux
}

// Addr returns the address the server listens on (useful with port 0).
func (s *Server) Addr() string { return s.listener.Addr().String() }

// URL returns the endpoint URL for SDK clients.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Start serves requests and, when this replica may lead, runs the
// reconciler in the background: at once with SQLite (one process owns the
// file), or whenever this replica holds the leader lease with PostgreSQL.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	// One probe before serving, so that /readyz answers from the start.
	s.ready.probe(ctx)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.ready.run(ctx)
	}()
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Config.Logger.Error("server: serve", "err", err)
		}
	}()
	switch {
	case s.Config.NoLead:
	case s.pg == nil:
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.term(ctx, s.Engine())
		}()
	default:
		s.wg.Add(2)
		go func() {
			defer s.wg.Done()
			s.leadLoop(ctx)
		}()
		go func() {
			defer s.wg.Done()
			// Commits on any replica wake this one's reconciler if it leads.
			s.pg.Listen(ctx, func() {
				if c := s.controller(); c != nil {
					c.Kick()
				}
			})
		}()
	}
}

// leadLoop takes the leader lease whenever it is free and runs one term per
// lease, until ctx is done. When the leader dies its connection closes,
// PostgreSQL frees the lock, and another replica's loop takes over within
// LeasePoll.
func (s *Server) leadLoop(ctx context.Context) {
	poll := s.Config.LeasePoll
	if poll <= 0 {
		poll = time.Second
	}
	log := s.Config.Logger.With("component", "leader")
	for ctx.Err() == nil {
		lease, err := s.pg.AcquireLease(ctx, "reconciler", poll)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("server: leader lease", "err", err)
				time.Sleep(poll)
			}
			continue
		}
		log.Info("server: leading")
		tctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-lease.Done():
				log.Warn("server: leader lease lost", "err", lease.Err())
			case <-tctx.Done():
			}
			cancel()
		}()
		var eng *engine.Manager
		if !s.Config.NoEngine {
			if eng, err = s.openEngine(tctx); err != nil {
				log.Error("server: engine", "err", err)
			}
		}
		if err == nil {
			s.mu.Lock()
			s.eng = eng
			s.mu.Unlock()
			s.term(tctx, eng)
			s.mu.Lock()
			s.eng = nil
			s.mu.Unlock()
		}
		cancel()
		s.closeEngine(eng)
		lease.Release()
	}
}

// term runs the reconciler until ctx is done, with eng (may be nil) as its
// data plane.
func (s *Server) term(ctx context.Context, eng *engine.Manager) {
	ctrl := &reconcile.Controller{
		Store: s.Store, Delay: s.Config.TransitionDelay, DataResync: s.Config.DataResync,
		Logger: s.Config.Logger.With("component", "reconcile"), Now: s.Config.Now,
	}
	if eng != nil {
		f := s.frontsOf(eng)
		ctrl.Engine = engineAdapter{eng, f, s3dir.Dir(s.Config.S3Dir)}
		ctrl.IAMSecretHash = iamSecretHash(f)
		if mc := s.Memcached(); mc != nil {
			ctrl.Memcached = memcachedAdapter{mc}
		}
	}
	s.mu.Lock()
	s.ctrl = ctrl
	s.mu.Unlock()
	ctrl.Run(ctx)
	s.mu.Lock()
	s.ctrl = nil
	s.mu.Unlock()
}

// closeEngine closes a node manager after the reconciler stopped. Nodes keep
// running for the next keyward (or leader) to adopt, unless the server is
// being torn down with CloseAndStopNodes.
func (s *Server) closeEngine(eng *engine.Manager) {
	if eng == nil {
		return
	}
	s.mu.Lock()
	stop := s.stopNodes
	s.mu.Unlock()
	s.closeFronts(stop)
	if stop {
		for _, n := range eng.Nodes() {
			if err := eng.Stop(context.Background(), n.ID); err != nil {
				s.Config.Logger.Warn("server: stop node", "node", n.ID, "err", err)
			}
		}
	}
	eng.Close()
	s.mu.Lock()
	mc := s.mc
	s.mc = nil
	s.mu.Unlock()
	if mc != nil {
		if stop {
			for _, n := range mc.Nodes() {
				if err := mc.Stop(context.Background(), n.ID); err != nil {
					s.Config.Logger.Warn("server: stop memcached node", "node", n.ID, "err", err)
				}
			}
		}
		mc.Close()
	}
}

// openEngine opens a node manager on the data directory; a node restarted by
// supervision sends the current term's reconciler over every cache.
func (s *Server) openEngine(ctx context.Context) (*engine.Manager, error) {
	eng := &engine.Manager{
		DataDir: s.Config.DataDir, RedisServer: s.Config.RedisServer, ValkeyServer: s.Config.ValkeyServer,
		Logger: s.Config.Logger.With("component", "engine"),
		OnRestart: func(string) {
			if c := s.controller(); c != nil {
				c.EnqueueAll(context.Background())
			}
		},
		// A failing-over primary died: the reconciler promotes a replica.
		OnExit: func(string) {
			if c := s.controller(); c != nil {
				c.EnqueueAll(context.Background())
			}
		},
		// A node died: a cluster-mode shard's replica takes over at once.
		OnCrash: func(id string) {
			if c := s.controller(); c != nil {
				c.NodeExited(id)
			}
		},
	}
	if s.Config.NodeAddresses != "none" {
		r := s.Config.NodeAddresses
		if r == "" {
			r = engine.DefaultAddresses
		}
		p, err := engine.ParseAddresses(r)
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		eng.Addresses = p
	}
	if err := eng.Open(ctx); err != nil {
		return nil, fmt.Errorf("server: engine: %w", err)
	}
	if err := s.openFronts(ctx, eng); err != nil {
		eng.Close()
		return nil, err
	}
	mc := &engine.Memcached{
		DataDir: s.Config.DataDir, Binary: s.Config.Memcached,
		Logger:    s.Config.Logger.With("component", "memcached"),
		OnRestart: eng.OnRestart,
		Hosts:     eng,
	}
	if !s.Config.FrontsInProcess {
		mc.FrontCommand = mcFrontCommand
	}
	if err := mc.Open(ctx); err != nil {
		s.closeEngine(eng)
		return nil, fmt.Errorf("server: memcached: %w", err)
	}
	s.mu.Lock()
	s.mc = mc
	s.mu.Unlock()
	return eng, nil
}

func (s *Server) controller() *reconcile.Controller {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctrl
}

// Engine returns the node manager: with SQLite the one opened by Open, for
// the Server's life; with PostgreSQL the current term's, nil while this
// replica does not lead. nil with Config.NoEngine.
func (s *Server) Engine() *engine.Manager {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.eng
}

// Memcached returns the memcached node manager, opened and closed with
// Engine; nil when Engine is.
func (s *Server) Memcached() *engine.Memcached {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mc
}

// Leading reports whether this replica runs the reconciler now.
func (s *Server) Leading() bool { return s.controller() != nil }

// notify hands changed resources to this replica's reconciler when it
// leads; otherwise the commit's notification wakes the leader's.
func (s *Server) notify(k keyward.Key) {
	if c := s.controller(); c != nil {
		c.Enqueue(k)
	}
}

// Close stops serving (letting requests in flight finish for a few
// seconds), stops the reconciler and closes the store. Cache nodes keep
// running: they outlive the control plane, and the next keyward adopts them.
func (s *Server) Close() error { return s.close(false) }

// CloseAndStopNodes is Close that also stops every cache node, for tests and
// for tearing a keyward down completely.
func (s *Server) CloseAndStopNodes() error { return s.close(true) }

func (s *Server) close(stopNodes bool) error {
	s.mu.Lock()
	s.stopNodes = stopNodes
	s.mu.Unlock()
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.http.Shutdown(ctx)
		cancel()
	} else if s.listener != nil {
		s.listener.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if s.pg == nil {
		s.closeEngine(s.Engine())
	}
	if s.Store != nil {
		return s.Store.Close()
	}
	return nil
}

// isLoopback reports whether addr (host:port) only accepts local connections.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
