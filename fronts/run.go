package fronts

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"

	"keyward/front"
)

// Run serves the front configured in dir (a Manager's DataDir/fronts/<id>)
// until ctx ends: the body of "keyward front <dir>". The SigV4 credentials
// come on stdin (JSON), written there by the Manager.
func Run(ctx context.Context, dir string, stdin io.Reader, logger *slog.Logger) error {
	// One P: a front waits on sockets, and with one per node a machine
	// runs hundreds. With more Ps every wakeup (a revocation closing the
	// node's side of a connection) also woke a spinning thread looking for
	// work: a quarter of a front's CPU per revocation (docs/bench.md). One
	// P still relays as fast as the node, single-threaded, serves.
	// The Manager sets GOMAXPROCS in the front's environment (see
	// frontEnv); this covers fronts started otherwise.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	cfg, err := readConfig(dir)
	if err != nil {
		return err
	}
	creds, err := readCredentials(stdin)
	if err != nil {
		return err
	}
	srv, err := server(cfg, filepath.Dir(dir), creds)
	if err != nil {
		return err
	}
	srv.Logger = logger
	ls, err := listenAll(ctx, cfg)
	if err != nil {
		return err
	}
	logger.Info("front: serving", "node", cfg.ID, "addrs", cfg.addrs(), "backend", cfg.Backend)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	errs := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errs <- srv.Serve(l) }()
	}
	for range ls {
		if err := <-errs; err != nil && ctx.Err() == nil && !errors.Is(err, front.ErrClosed) {
			srv.Close()
			return err
		}
	}
	return nil
}
