package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrLeaseHeld is returned by TryAcquireLease when another session holds
// the lease.
var ErrLeaseHeld = errors.New("postgres: lease is held by another session")

// errLeaseReleased is a Lease's Err after Release.
var errLeaseReleased = errors.New("postgres: lease released")

// Lease is a named lease held by this process, such as the reconciler's
// leadership: at most one Lease of a name exists at a time across every
// process sharing the database.
//
// It is a session-level advisory lock, held on a connection of its own for
// as long as that connection lives. If the holding process dies, its
// connection closes and PostgreSQL releases the lock at once (or, if the
// machine or network vanished, once the server's TCP keepalives notice),
// so that another process's AcquireLease takes over within its poll
// interval. A Lease watches its connection: Done is closed as soon as the
// connection is lost, and the holder must then stop acting as the holder,
// since another may already have the lease.
type Lease struct {
	name string
	stop context.CancelFunc
	done chan struct{}
	err  error // why the lease ended; written before done is closed
}

// TryAcquireLease takes the lease name if no one holds it, and returns
// ErrLeaseHeld at once otherwise. ctx bounds only the attempt: the lease is
// held until Release, or until its connection is lost.
func (s *Store) TryAcquireLease(ctx context.Context, name string) (*Lease, error) {
	conn, err := pgx.ConnectConfig(ctx, s.config)
	if err != nil {
		return nil, fmt.Errorf("postgres: acquire lease %q: %w", name, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockSpace, lockKey("lease:"+name)).Scan(&ok); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("postgres: acquire lease %q: %w", name, err)
	} else if !ok {
		closeConn(conn)
		return nil, ErrLeaseHeld
	}
	mctx, stop := context.WithCancel(context.Background())
	l := &Lease{name: name, stop: stop, done: make(chan struct{})}
	go l.watch(mctx, conn, s.idleCheck)
	return l, nil
}

// AcquireLease waits until it can take the lease name, trying every poll
// interval (one second if poll is not positive), and returns it; or
// returns ctx's error when ctx is done first. ctx bounds only the wait: the
// lease is held until Release, or until its connection is lost.
func (s *Store) AcquireLease(ctx context.Context, name string, poll time.Duration) (*Lease, error) {
	if poll <= 0 {
		poll = time.Second
	}
	for {
		l, err := s.TryAcquireLease(ctx, name)
		if !errors.Is(err, ErrLeaseHeld) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("postgres: acquire lease %q: %w", name, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// watch holds the lease's connection until Release or until the connection
// fails, then closes it, which releases the lock.
func (l *Lease) watch(ctx context.Context, conn *pgx.Conn, idle time.Duration) {
	// The connection never receives notifications, but waiting for one
	// returns at once when the server closes it (pg_terminate_backend, a
	// restart), and pings whenever it has been idle for idle.
	err := waitNotification(ctx, conn, idle)
	for err == nil {
		err = waitNotification(ctx, conn, idle)
	}
	if ctx.Err() != nil {
		err = errLeaseReleased
	} else {
		err = fmt.Errorf("postgres: lease %q lost: %w", l.name, err)
	}
	closeConn(conn)
	l.err = err
	close(l.done)
}

// Name returns the name of the lease.
func (l *Lease) Name() string { return l.name }

// Done returns a channel closed when the lease has ended: released, or lost
// with its connection.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err returns nil while the lease is held; after Done is closed, the reason
// it ended.
func (l *Lease) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// Release gives the lease up, closing its connection, and returns once
// another process can take it. It is safe to call more than once.
func (l *Lease) Release() {
	l.stop()
	<-l.done
}
