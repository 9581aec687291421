package fronts

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
)

// Run serves the front configured in dir (a Manager's DataDir/fronts/<id>)
// until ctx ends: the body of "keyward front <dir>". The SigV4 credentials
// come on stdin (JSON), written there by the Manager.
func Run(ctx context.Context, dir string, stdin io.Reader, logger *slog.Logger) error {
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
	l, err := listenRetry(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	logger.Info("front: serving", "node", cfg.ID, "port", cfg.Port, "backend", cfg.Backend)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}
