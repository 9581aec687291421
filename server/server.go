// Package server wires keyward together: it opens the store, starts the
// reconciler and serves the ElastiCache API over HTTP behind SigV4
// verification. cmd/keyward turns flags into a Config; tests (keywardtest)
// build a Config directly and run the same code in-process.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"keyward"
	"keyward/api"
	"keyward/awsquery"
	"keyward/ecapi"
	"keyward/engine"
	"keyward/metrics"
	"keyward/reconcile"
	"keyward/sigv4"
	"keyward/sqlite"
)

// DefaultListen is the address keyward serves on when none is given.
const DefaultListen = "127.0.0.1:4545"

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
	// NoEngine runs without a data plane: caches change status but start
	// no processes. For control-plane-only tests.
	NoEngine bool

	TransitionDelay time.Duration
	Quotas          keyward.Quotas
	MaxBodyBytes    int64

	Logger *slog.Logger
}

// Server is a running keyward.
type Server struct {
	Config     Config
	Store      keyward.Store
	Service    *api.Service
	Controller *reconcile.Controller
	Engine     *engine.Manager // nil with Config.NoEngine
	Metrics    *metrics.Registry

	listener net.Listener
	http     *http.Server
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
	if cfg.Quotas == (keyward.Quotas{}) {
		cfg.Quotas = keyward.DefaultQuotas()
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
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
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
	s.Controller = &reconcile.Controller{
		Store: s.Store, Delay: cfg.TransitionDelay,
		Logger: cfg.Logger.With("component", "reconcile"),
	}
	if !cfg.NoEngine {
		s.Engine = &engine.Manager{
			DataDir: cfg.DataDir, RedisServer: cfg.RedisServer, ValkeyServer: cfg.ValkeyServer,
			Logger:    cfg.Logger.With("component", "engine"),
			OnRestart: func(string) { s.Controller.EnqueueAll(context.Background()) },
		}
		if err := s.Engine.Open(ctx); err != nil {
			return nil, fmt.Errorf("server: engine: %w", err)
		}
		s.Controller.Engine = engineAdapter{s.Engine}
	}
	s.Metrics = metrics.New()
	s.Metrics.Gauge("keyward_reconcile_queue_depth", "Resource keys waiting for the reconciler.", func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(s.Controller.QueueDepth())}}
	})
	s.Metrics.Gauge("keyward_reconcile_errors", "Reconcile passes that failed since start (a counter).", func() []metrics.Sample {
		return []metrics.Sample{{Value: float64(s.Controller.Errors())}}
	})
	s.Metrics.Gauge("keyward_nodes", "Cache nodes by state.", func() []metrics.Sample {
		var up, down float64
		if s.Engine != nil {
			for _, n := range s.Engine.Nodes() {
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
	s.Service.Notify = s.Controller.Enqueue
	if s.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("server: listen: %w", err)
	}
	s.http = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
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
		return nil, errors.New("server: the PostgreSQL store is not available in this build yet")
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
	auth := &sigv4.Middleware{
		MaxBodyBytes:   s.Config.MaxBodyBytes,
		DefaultRegion:  s.Config.Region,
		DefaultAccount: s.Config.Account,
		API:            ecapi.API,
	}
	if len(s.Config.Credentials) > 0 {
		auth.Verifier = sigv4.NewVerifier(s.Config.Credentials)
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

// Start serves requests and runs the reconciler in the background.
func (s *Server) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.Controller.Run(ctx)
	}()
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Config.Logger.Error("server: serve", "err", err)
		}
	}()
}

// Close stops serving (letting requests in flight finish for a few
// seconds), stops the reconciler and closes the store. Cache nodes keep
// running: they outlive the control plane, and the next keyward adopts them.
func (s *Server) Close() error { return s.close(false) }

// CloseAndStopNodes is Close that also stops every cache node, for tests and
// for tearing a keyward down completely.
func (s *Server) CloseAndStopNodes() error { return s.close(true) }

func (s *Server) close(stopNodes bool) error {
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
	if s.Engine != nil {
		if stopNodes {
			for _, n := range s.Engine.Nodes() {
				if err := s.Engine.Stop(context.Background(), n.ID); err != nil {
					s.Config.Logger.Warn("server: stop node", "node", n.ID, "err", err)
				}
			}
		}
		s.Engine.Close()
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
