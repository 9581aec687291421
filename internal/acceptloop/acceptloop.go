// Package acceptloop is the accept loop the fronts (packages front and
// mcfront) share: it serves the connections of any number of listeners,
// each in a goroutine of its own, and Close ends the listeners and every
// connection and waits for their handlers.
package acceptloop

import (
	"errors"
	"net"
	"sync"
	"time"
)

// ErrClosed is returned by Serve after Close.
var ErrClosed = errors.New("acceptloop: closed")

// Loop tracks a server's listeners and connections. The zero value is
// ready to use.
type Loop struct {
	mu     sync.Mutex
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// Serve accepts connections on l until Close, then returns ErrClosed; on
// another error of Accept it returns that error, except for a timeout
// (say, too many open files), after which it waits (5 ms, doubling up to
// 1 s) and accepts again. handle serves one connection, which is closed
// when it returns.
func (s *Loop) Serve(l net.Listener, handle func(net.Conn)) error {
	if !s.track(l, nil) {
		l.Close()
		return ErrClosed
	}
	defer s.untrack(l, nil)
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
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
		if !s.track(nil, c) {
			c.Close()
			return ErrClosed
		}
		go func() {
			defer s.wg.Done()
			defer s.untrack(nil, c)
			handle(c)
		}()
	}
}

// Close stops accepting, closes every connection and waits for their
// handlers to return.
func (s *Loop) Close() {
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
}

func (s *Loop) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Loop) track(l net.Listener, c net.Conn) bool {
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
		s.wg.Add(1) // under mu: never after Close began waiting
	}
	return true
}

func (s *Loop) untrack(l net.Listener, c net.Conn) {
	if c != nil {
		c.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.lns, l)
	delete(s.conns, c)
}
