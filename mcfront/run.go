package mcfront

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"keyward/internal/atomicfile"
)

// Config is a front's configuration, front.json in its directory.
type Config struct {
	// Listen are the addresses ("host:port") the front serves.
	Listen []string `json:"listen"`
	// Backend is the memcached process connections are relayed to; empty
	// for a configuration endpoint, which relays to the first node of the
	// discovery file whose memcached accepts the connection.
	Backend string `json:"backend,omitempty"`
	// DiscoveryFile is the cluster's discovery file (see WriteDiscovery).
	DiscoveryFile string `json:"discoveryFile"`
	// CertFile and KeyFile, if set, make the front serve TLS only.
	CertFile string `json:"certFile,omitempty"`
	KeyFile  string `json:"keyFile,omitempty"`
}

// ConfigFile is the name of a front's configuration in its directory.
const ConfigFile = "front.json"

// ReadConfig reads dir/front.json.
func ReadConfig(dir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("mcfront: %s: %w", ConfigFile, err)
	}
	if len(c.Listen) == 0 || c.DiscoveryFile == "" {
		return c, fmt.Errorf("mcfront: %s: listen and discoveryFile are required", ConfigFile)
	}
	return c, nil
}

// WriteConfig writes dir/front.json (mode 0600).
func WriteConfig(dir string, c Config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, ConfigFile), append(b, '\n'), 0o600)
}

// NewServer makes the Server a configuration describes.
func NewServer(c Config, logger *slog.Logger) (*Server, error) {
	s := &Server{Logger: logger}
	s.Discovery = func() (Discovery, error) { return ReadDiscovery(c.DiscoveryFile) }
	s.Backend = func() ([]string, error) {
		if c.Backend != "" {
			return []string{c.Backend}, nil
		}
		d, err := ReadDiscovery(c.DiscoveryFile)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, n := range d.Nodes {
			if n.Backend != "" {
				out = append(out, n.Backend)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("mcfront: the cluster has no node")
		}
		return out, nil
	}
	if c.CertFile != "" {
		// Loaded per handshake: a renewed certificate applies at once.
		s.TLS = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
				return &cert, err
			},
		}
	}
	return s, nil
}

// Listen opens the configuration's listeners.
func Listen(ctx context.Context, c Config) ([]net.Listener, error) {
	var lc net.ListenConfig
	var ls []net.Listener
	for _, a := range c.Listen {
		l, err := lc.Listen(ctx, "tcp", a)
		if err != nil {
			for _, o := range ls {
				o.Close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

// Run serves the front configured in dir until ctx ends: the body of
// "keyward mcfront DIR".
func Run(ctx context.Context, dir string, logger *slog.Logger) error {
	c, err := ReadConfig(dir)
	if err != nil {
		return err
	}
	srv, err := NewServer(c, logger)
	if err != nil {
		return err
	}
	ls, err := Listen(ctx, c)
	if err != nil {
		return err
	}
	return Serve(ctx, srv, ls)
}

// Serve serves ls with srv until ctx ends or a listener fails.
func Serve(ctx context.Context, srv *Server, ls []net.Listener) error {
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	errs := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errs <- srv.Serve(l) }()
	}
	var first error
	for range ls {
		if err := <-errs; err != nil && !errors.Is(err, ErrClosed) && first == nil {
			first = err
			srv.Close()
		}
	}
	return first
}
