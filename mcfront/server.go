package mcfront

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
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

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Serve accepts connections on l until Close, relaying each to the backend.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrClosed
	}
	if s.lns == nil {
		s.lns, s.conns = map[net.Listener]struct{}{}, map[net.Conn]struct{}{}
	}
	s.lns[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if !s.track(c) {
			c.Close()
			return ErrClosed
		}
		s.wg.Go(func() {
			defer s.untrack(c)
			s.serveConn(c)
		})
	}
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops the listeners, closes every connection and waits for their
// relays to end.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for l := range s.lns {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
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
