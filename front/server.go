package front

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"keyward/iamauth"
	"keyward/internal/acceptloop"
)

// MaxIAMConnAge is how long an IAM-authenticated connection may live after
// its last IAM login, as on ElastiCache.
const MaxIAMConnAge = 12 * time.Hour

const (
	handshakeTimeout = 10 * time.Second
	dialTimeout      = 5 * time.Second
	// maxAuthArg bounds an argument of AUTH or HELLO that the front reads
	// in full; longer ones are not tokens and are streamed like any other.
	maxAuthArg  = 16 << 10
	maxAuthArgs = 16
)

// Server is one node's front. Set the fields, then call Serve; they must
// not change afterwards.
type Server struct {
	// TLS is the server configuration clients see (the node's certificate).
	TLS *tls.Config
	// Backend is the node's address, "host:port" or "unix:<path>" for its
	// private Unix socket; BackendTLS its TLS client configuration for a
	// TCP address (nil for a plain-text node; never used on a socket).
	Backend    string
	BackendTLS *tls.Config
	// BackendProcess, for a socket Backend, is a string the command line
	// of the process serving the socket must contain (the node's
	// configuration file): the front checks it (SO_PEERCRED) before it
	// sends anything, as keyward does on its admin channel, so that no
	// login reaches a process that took the socket's place. Empty: not
	// checked.
	BackendProcess string

	// Resource is the cache the node belongs to; Verifier checks tokens
	// against keyward's credentials. A nil Verifier verifies nothing: every
	// login is relayed as sent.
	Resource iamauth.Resource
	Verifier *iamauth.Verifier
	// Key and CacheID derive IAM users' internal secrets (see Secret).
	Key     []byte
	CacheID string

	// Plaintext also serves clients that do not start TLS, on the same
	// port: ElastiCache's TransitEncryptionMode preferred. A connection
	// whose first byte opens a TLS record (a ClientHello) gets TLS; any
	// other first byte (a RESP command) is relayed in plain text.
	Plaintext bool

	// MaxIAMConnAge overrides MaxIAMConnAge (tests); 0 means the default.
	MaxIAMConnAge time.Duration
	Logger        *slog.Logger

	loop   acceptloop.Loop
	beOnce sync.Once
	beTLS  *tls.Config
}

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("front: closed")

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *Server) maxAge() time.Duration {
	if s.MaxIAMConnAge > 0 {
		return s.MaxIAMConnAge
	}
	return MaxIAMConnAge
}

// Serve accepts connections on l (plain TCP: the front does TLS itself)
// until Close, then returns ErrClosed.
func (s *Server) Serve(l net.Listener) error {
	if err := s.loop.Serve(l, s.handle); err != acceptloop.ErrClosed {
		return err
	}
	return ErrClosed
}

// Close stops accepting, closes every connection and waits for them.
func (s *Server) Close() error {
	s.loop.Close()
	return nil
}

// handle serves one client connection: TLS (or plain text, see
// Plaintext), a backend connection, then the relay in both directions
// until either side ends.
func (s *Server) handle(raw net.Conn) {
	defer raw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	// The node connection is made while the client's TLS handshake runs,
	// so a login waits for one handshake, not two in a row.
	type dialed struct {
		raw, conn net.Conn
		err       error
	}
	bch := make(chan dialed, 1)
	go func() {
		braw, err := s.dialBackend(ctx)
		if err != nil {
			bch <- dialed{err: err}
			return
		}
		if s.BackendTLS == nil || strings.HasPrefix(s.Backend, "unix:") {
			bch <- dialed{raw: braw, conn: braw}
			return
		}
		bt := tls.Client(braw, s.backendTLS())
		if err := bt.HandshakeContext(ctx); err != nil {
			braw.Close()
			bch <- dialed{err: fmt.Errorf("TLS handshake: %w", err)}
			return
		}
		bch <- dialed{raw: braw, conn: bt}
	}()
	client, herr := s.accept(ctx, raw)
	bd := <-bch
	// Both handshakes are over: end the timeout's timer now rather than
	// let it fire, one wakeup per connection, 10 s into its life.
	cancel()
	if bd.raw != nil {
		defer bd.raw.Close()
	}
	if herr != nil {
		return
	}
	if bd.err != nil {
		s.logger().Warn("front: node unreachable", "node", s.Backend, "err", bd.err)
		client.Write([]byte("-ERR node unavailable\r\n"))
		return
	}
	braw, backend := bd.raw, bd.conn
	// Closing the raw connections ends both directions at once, whichever
	// side ends first (a revoked user's backend connection, a client gone).
	var once sync.Once
	stop := func() {
		once.Do(func() {
			raw.Close()
			braw.Close()
		})
	}
	r := newRelay(s, client, backend, func() {
		s.logger().Info("front: closing IAM connection at its age limit", "cache", s.Resource.Name)
		stop()
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The node's replies go back as they come, in large reads.
		buf := getBuf()
		io.CopyBuffer(client, backend, buf[:])
		putBuf(buf)
		stop()
	}()
	r.run()
	stop()
	<-done
	if r.timer != nil {
		r.timer.Stop()
	}
	r.release()
}

// accept starts the client side of raw: TLS, or (Plaintext) the plain
// connection when its first byte does not open a TLS handshake record. Both
// must begin before ctx's handshake timeout.
func (s *Server) accept(ctx context.Context, raw net.Conn) (net.Conn, error) {
	if !s.Plaintext {
		c := tls.Server(raw, s.TLS)
		return c, c.HandshakeContext(ctx)
	}
	deadline, _ := ctx.Deadline()
	raw.SetReadDeadline(deadline)
	var first [1]byte
	if _, err := io.ReadFull(raw, first[:]); err != nil {
		return nil, err
	}
	raw.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: raw, first: first[:]}
	if first[0] != tlsHandshakeRecord {
		return pc, nil
	}
	c := tls.Server(pc, s.TLS)
	return c, c.HandshakeContext(ctx)
}

// tlsHandshakeRecord is the content type of the record a TLS ClientHello
// comes in; no RESP command (array '*' or an inline word) begins with it.
const tlsHandshakeRecord = 0x16

// peekedConn is a connection whose first byte was read already: Read
// returns it before the rest.
type peekedConn struct {
	net.Conn
	first []byte
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if len(c.first) == 0 {
		return c.Conn.Read(p)
	}
	n := copy(p, c.first)
	c.first = c.first[n:]
	return n, nil
}

// dialBackend connects to the node: TCP, or a Unix socket for a Backend
// "unix:<path>" (a path longer than sockaddr_un allows is reached through
// its directory's /proc/self/fd entry).
func (s *Server) dialBackend(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	path, unix := strings.CutPrefix(s.Backend, "unix:")
	if !unix {
		return d.DialContext(ctx, "tcp", s.Backend)
	}
	if len(path) >= sunPathMax {
		dir, err := os.Open(filepath.Dir(path))
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		path = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(path))
	}
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil || s.BackendProcess == "" {
		return c, err
	}
	if err := servedBy(c.(*net.UnixConn), s.BackendProcess); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// servedBy checks that the process that bound the socket c is connected to
// (as the kernel reports it, SO_PEERCRED: the peer cannot forge it) runs
// with want on its command line.
func servedBy(c *net.UnixConn, want string) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(cred.Pid)) + "/cmdline")
	if err != nil || !bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), []byte(want)) {
		return fmt.Errorf("node socket served by another process (pid %d)", cred.Pid)
	}
	return nil
}

// sunPathMax is the longest socket path sockaddr_un holds on Linux.
const sunPathMax = 107

// backendTLS is BackendTLS with the node's host as ServerName when unset
// and a session cache, built once.
func (s *Server) backendTLS() *tls.Config {
	s.beOnce.Do(func() {
		s.beTLS = s.BackendTLS.Clone()
		// Resumed sessions make the front's handshakes with its node cheap.
		if s.beTLS.ClientSessionCache == nil {
			s.beTLS.ClientSessionCache = tls.NewLRUClientSessionCache(64)
		}
		if s.beTLS.ServerName == "" {
			if host, _, err := net.SplitHostPort(s.Backend); err == nil {
				s.beTLS.ServerName = host
			}
		}
	})
	return s.beTLS
}
