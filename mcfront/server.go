package mcfront

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"

	"keyward/internal/acceptloop"
)

const (
	handshakeTimeout = 10 * time.Second
	dialTimeout      = 5 * time.Second
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("mcfront: closed")

// Server is a front. Set the fields, then call Serve; they must not change
// afterwards.
type Server struct {
	// Backend returns the addresses ("host:port") of the memcached
	// processes a new connection may be relayed to: the first that accepts
	// it serves the connection.
	Backend func() ([]string, error)
	// Discovery returns the cluster's configuration, for each Auto
	// Discovery request.
	Discovery func() (Discovery, error)
	// TLS, if set, makes the front serve TLS only (in-transit encryption).
	TLS    *tls.Config
	Logger *slog.Logger

	loop acceptloop.Loop
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve accepts connections on l until Close, relaying each to the backend.
func (s *Server) Serve(l net.Listener) error {
	if err := s.loop.Serve(l, s.serveConn); err != acceptloop.ErrClosed {
		return err
	}
	return ErrClosed
}

// Close stops the listeners, closes every connection and waits for their
// relays to end.
func (s *Server) Close() error {
	s.loop.Close()
	return nil
}

func (s *Server) serveConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	client := c
	if s.TLS != nil {
		tc := tls.Server(c, s.TLS)
		c.SetDeadline(time.Now().Add(handshakeTimeout))
		if err := tc.Handshake(); err != nil {
			s.logger().Debug("mcfront: TLS handshake", "remote", c.RemoteAddr(), "err", err)
			return
		}
		c.SetDeadline(time.Time{})
		client = tc
	}
	addrs, err := s.Backend()
	if err != nil {
		s.logger().Warn("mcfront: no backend", "err", err)
		return
	}
	var be net.Conn
	for _, a := range addrs {
		if be, err = net.DialTimeout("tcp", a, dialTimeout); err == nil {
			break
		}
		s.logger().Warn("mcfront: dial backend", "addr", a, "err", err)
	}
	if be == nil {
		return
	}
	defer be.Close()
	if tc, ok := be.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	r := newRelay(client, be, s.Discovery)
	r.run()
}
