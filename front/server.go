package front

import (
	"bufio"
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
	"time"

	"keyward/iamauth"
)

// MaxIAMConnAge is how long an IAM-authenticated connection may live after
// its last IAM login, as on ElastiCache.
const MaxIAMConnAge = 12 * time.Hour

const (
	handshakeTimeout = 10 * time.Second
	dialTimeout      = 5 * time.Second
	bufSize          = 32 << 10
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

	// Resource is the cache the node belongs to; Verifier checks tokens
	// against keyward's credentials. A nil Verifier verifies nothing: every
	// login is relayed as sent.
	Resource iamauth.Resource
	Verifier *iamauth.Verifier
	// Key and CacheID derive IAM users' internal secrets (see Secret).
	Key     []byte
	CacheID string

	// MaxIAMConnAge overrides MaxIAMConnAge (tests); 0 means the default.
	MaxIAMConnAge time.Duration
	Logger        *slog.Logger

	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
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
	if !s.track(l, nil) {
		l.Close()
		return ErrClosed
	}
	defer s.untrack(l, nil)
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if !s.track(nil, c) {
			c.Close()
			return ErrClosed
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(nil, c)
			s.handle(c)
		}()
	}
}

// Close stops accepting, closes every connection and waits for them.
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

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Server) track(l net.Listener, c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.lns == nil {
		s.lns, s.conns = map[net.Listener]struct{}{}, map[net.Conn]struct{}{}
	}
	if l != nil {
		s.lns[l] = struct{}{}
	}
	if c != nil {
		s.conns[c] = struct{}{}
	}
	return true
}

func (s *Server) untrack(l net.Listener, c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.lns, l)
	delete(s.conns, c)
}

// handle serves one client connection: TLS, a backend connection, then the
// relay in both directions until either side ends.
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
	client := tls.Server(raw, s.TLS)
	herr := client.HandshakeContext(ctx)
	bd := <-bch
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
	r := &relay{
		s:  s,
		br: bufio.NewReaderSize(client, bufSize),
		bw: bufio.NewWriterSize(backend, bufSize),
		expire: func() {
			s.logger().Info("front: closing IAM connection at its age limit", "cache", s.Resource.Name)
			stop()
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, bufSize)
		io.CopyBuffer(client, backend, buf)
		stop()
	}()
	r.run()
	stop()
	<-done
	if r.timer != nil {
		r.timer.Stop()
	}
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
	return d.DialContext(ctx, "unix", path)
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

// relay is the client-to-node direction of one connection.
type relay struct {
	s      *Server
	br     *bufio.Reader
	bw     *bufio.Writer
	hdr    []byte   // the array header of the command being read
	args   [][]byte // AUTH/HELLO arguments read in full
	timer  *time.Timer
	expire func()
}

func (r *relay) run() error {
	for {
		if err := r.command(); err != nil {
			return err
		}
		if r.br.Buffered() == 0 {
			if err := r.bw.Flush(); err != nil {
				return err
			}
		}
	}
}

// command relays one command. Anything that is not a well-formed AUTH or
// HELLO is forwarded as read, malformed input included: the node answers
// it as it would without the front.
func (r *relay) command() error {
	b, err := r.br.Peek(1)
	if err != nil {
		return err
	}
	if b[0] != '*' {
		return r.inline()
	}
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		r.bw.Write(line)
		return err
	}
	n, ok := parseLen(line)
	if !ok || n <= 0 {
		_, err := r.bw.Write(line)
		return err
	}
	r.hdr = append(r.hdr[:0], line...)
	line, err = r.br.ReadSlice('\n')
	if err != nil {
		r.bw.Write(r.hdr)
		r.bw.Write(line)
		return err
	}
	l, ok := parseLen(line)
	if !ok || line[0] != '$' || l < 0 || (l != 4 && l != 5) || n > maxAuthArgs {
		// Not AUTH or HELLO: stream the command through.
		r.bw.Write(r.hdr)
		r.bw.Write(line)
		if ok && line[0] == '$' && l >= 0 {
			if err := r.copyN(l + 2); err != nil {
				return err
			}
		}
		return r.copyBulks(n - 1)
	}
	name, err := r.br.Peek(l + 2)
	if err != nil {
		return err
	}
	if !bytes.EqualFold(name[:l], []byte("AUTH")) && !bytes.EqualFold(name[:l], []byte("HELLO")) {
		r.bw.Write(r.hdr)
		r.bw.Write(line)
		if err := r.copyN(l + 2); err != nil {
			return err
		}
		return r.copyBulks(n - 1)
	}
	// AUTH or HELLO: read every argument, then rewrite a verified token.
	r.args = append(r.args[:0], append([]byte(nil), name[:l]...))
	r.br.Discard(l + 2)
	for i := 1; i < n; i++ {
		line, err := r.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		al, ok := parseLen(line)
		if !ok || line[0] != '$' || al < 0 || al > maxAuthArg {
			// Not something a client would send; forward what was read
			// and stream the rest.
			r.writeArgs(n)
			r.bw.Write(line)
			if ok && line[0] == '$' && al >= 0 {
				if err := r.copyN(al + 2); err != nil {
					return err
				}
			}
			return r.copyBulks(n - 1 - i)
		}
		arg := make([]byte, al+2)
		if _, err := io.ReadFull(r.br, arg); err != nil {
			return err
		}
		r.args = append(r.args, arg[:al])
	}
	r.login()
	r.writeArgs(len(r.args))
	return nil
}

// copyBulks forwards n bulk strings as they are.
func (r *relay) copyBulks(n int) error {
	for ; n > 0; n-- {
		line, err := r.br.ReadSlice('\n')
		r.bw.Write(line)
		if err != nil {
			return err
		}
		l, ok := parseLen(line)
		if !ok || line[0] != '$' || l < 0 {
			return nil // malformed: the node will say so and close
		}
		if err := r.copyN(l + 2); err != nil {
			return err
		}
	}
	return nil
}

// copyN forwards n bytes from the client to the node.
func (r *relay) copyN(n int) error {
	for n > 0 {
		if r.br.Buffered() == 0 {
			if _, err := r.br.Peek(1); err != nil {
				return err
			}
		}
		k := min(n, r.br.Buffered())
		b, _ := r.br.Peek(k)
		if _, err := r.bw.Write(b); err != nil {
			return err
		}
		r.br.Discard(k)
		n -= k
	}
	return nil
}

// inline relays an inline command (a line of words, as typed in telnet),
// rewriting AUTH and HELLO like their array forms.
func (r *relay) inline() error {
	line, err := r.br.ReadSlice('\n')
	if err != nil {
		r.bw.Write(line)
		if err == bufio.ErrBufferFull {
			// Longer than any login; forward it whole.
			for err == bufio.ErrBufferFull {
				line, err = r.br.ReadSlice('\n')
				r.bw.Write(line)
			}
			return err
		}
		return err
	}
	fields := bytes.Fields(line)
	if len(fields) == 0 || len(fields) > maxAuthArgs ||
		!(bytes.EqualFold(fields[0], []byte("AUTH")) || bytes.EqualFold(fields[0], []byte("HELLO"))) {
		_, err := r.bw.Write(line)
		return err
	}
	r.args = r.args[:0]
	for _, f := range fields {
		r.args = append(r.args, append([]byte(nil), f...))
	}
	r.login()
	r.writeArgs(len(r.args))
	return nil
}

// login replaces a valid IAM token among r.args (AUTH user token, or HELLO
// ver ... AUTH user token ...) with the user's internal secret.
func (r *relay) login() {
	user, pass := -1, -1
	switch {
	case bytes.EqualFold(r.args[0], []byte("AUTH")):
		if len(r.args) == 3 {
			user, pass = 1, 2
		}
	default: // HELLO protover [AUTH user pass] [SETNAME name]
		for i := 2; i < len(r.args); {
			switch {
			case bytes.EqualFold(r.args[i], []byte("AUTH")) && i+2 < len(r.args):
				user, pass = i+1, i+2
				i += 3
			case bytes.EqualFold(r.args[i], []byte("SETNAME")) && i+1 < len(r.args):
				i += 2
			default:
				i = len(r.args)
			}
		}
	}
	if pass < 0 || !iamauth.LooksLikeToken(string(r.args[pass])) {
		return
	}
	v := r.s.Verifier
	if v == nil {
		return
	}
	name := string(r.args[user])
	caller, err := v.Verify(name, string(r.args[pass]), r.s.Resource)
	if err != nil {
		// Relayed as sent: the node refuses it with its usual WRONGPASS.
		r.s.logger().Info("front: IAM token refused", "cache", r.s.Resource.Name, "user", name, "reason", err.Error())
		return
	}
	r.args[pass] = []byte(Secret(r.s.Key, r.s.CacheID, name))
	r.s.logger().Debug("front: IAM login", "cache", r.s.Resource.Name, "user", name, "key", caller.AccessKeyID)
	if r.timer == nil {
		r.timer = time.AfterFunc(r.s.maxAge(), r.expire)
	} else {
		r.timer.Reset(r.s.maxAge())
	}
}

// writeArgs writes the first n of r.args as a RESP array.
func (r *relay) writeArgs(n int) {
	r.bw.WriteByte('*')
	r.bw.WriteString(strconv.Itoa(n))
	r.bw.WriteString("\r\n")
	for _, a := range r.args[:min(n, len(r.args))] {
		r.bw.WriteByte('$')
		r.bw.WriteString(strconv.Itoa(len(a)))
		r.bw.WriteString("\r\n")
		r.bw.Write(a)
		r.bw.WriteString("\r\n")
	}
}

// parseLen parses the length in a "*<n>\r\n" or "$<n>\r\n" line.
func parseLen(line []byte) (int, bool) {
	if len(line) < 4 || line[len(line)-2] != '\r' {
		return 0, false
	}
	digits := line[1 : len(line)-2]
	neg := false
	if len(digits) > 0 && digits[0] == '-' {
		neg, digits = true, digits[1:]
	}
	if len(digits) == 0 || len(digits) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
