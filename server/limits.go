package server

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"keyward"
	"keyward/awsquery"
	"keyward/ecapi"
)

// withDefaultQuotas fills each zero quota with ElastiCache's default.
func withDefaultQuotas(q keyward.Quotas) keyward.Quotas {
	d := keyward.DefaultQuotas()
	for _, f := range []struct{ v, def *int }{
		{&q.Users, &d.Users}, {&q.UserGroups, &d.UserGroups}, {&q.UsersPerGroup, &d.UsersPerGroup},
		{&q.Nodes, &d.Nodes}, {&q.ReplicationGroups, &d.ReplicationGroups},
		{&q.NodeGroupsPerReplicationGroup, &d.NodeGroupsPerReplicationGroup},
		{&q.ServerlessCaches, &d.ServerlessCaches}, {&q.AccountNodes, &d.AccountNodes},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return q
}

// privateDir makes dir (keyward's data directory) exist with mode 0700,
// also when it already existed with a wider mode: it holds the state, the
// admin secret and the CA key.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// defaultMaxConnections is DefaultMaxConnections, or half the open-file
// limit when that is lower: the other half is for nodes, the store and the
// connections the server refuses.
func defaultMaxConnections() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 0 && rl.Cur/2 < DefaultMaxConnections {
		return max(16, int(rl.Cur/2))
	}
	return DefaultMaxConnections
}

// maxRefusing bounds the connections being answered 503 at once; beyond
// it, extra connections are closed without an answer.
const maxRefusing = 64

// limitListener accepts at most max connections at once. A connection
// beyond that is answered 503 ServiceUnavailable (which the SDKs retry with
// backoff) and closed, rather than left waiting in the kernel's queue, so
// that a flood of idle connections can neither exhaust the file
// descriptors nor hide the overload from clients.
type limitListener struct {
	net.Listener
	slots    chan struct{}
	refusing chan struct{}
	log      *slog.Logger
	refused  atomic.Int64
}

func newLimitListener(l net.Listener, max int, log *slog.Logger) *limitListener {
	return &limitListener{Listener: l, slots: make(chan struct{}, max), refusing: make(chan struct{}, maxRefusing), log: log}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		if n := l.refused.Add(1); n == 1 || n%1000 == 0 {
			l.log.Warn("server: connection limit reached; refusing connections", "max_connections", cap(l.slots), "refused", n)
		}
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				refuseConn(c)
			}()
		default:
			c.Close()
		}
	}
}

// busyResponse is the raw HTTP answer to a connection over the limit.
func busyResponse() []byte {
	body := fmt.Sprintf(`<ErrorResponse xmlns="%s"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>The server has too many open connections; retry the request.</Message></Error><RequestId>%s</RequestId></ErrorResponse>`,
		ecapi.API.Namespace, awsquery.NewRequestID())
	return []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/xml\r\nContent-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n%s", len(body), body))
}

// refuseConn answers a connection over the limit without reading from it.
func refuseConn(c net.Conn) {
	c.SetDeadline(time.Now().Add(time.Second))
	c.Write(busyResponse())
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	c.Close()
}

// limitConn frees its slot once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes the connection, so that a handler that hijacked it
// can end its answer before closing (see sigv4.Middleware).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
