package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangesChannel is the PostgreSQL notification channel on which every
// Update that wrote something notifies, when and only when it commits.
const ChangesChannel = "keyward_changes"

// notifySQL is sent inside the Update's transaction, whose commit delivers
// it; PostgreSQL folds the notifications of one transaction into one.
const notifySQL = `NOTIFY ` + ChangesChannel

// How a Listen or a lease connection checks that its idle connection still
// works (Store.idleCheck's default), and how Listen reconnects.
const (
	idleCheck       = 15 * time.Second
	reconnectMin    = 100 * time.Millisecond
	reconnectMax    = 15 * time.Second
	closeConnection = 5 * time.Second
)

// Listen calls fn whenever an Update commits a write, in this process or
// in any other sharing the database, until ctx is done; then it returns
// ctx's error. It runs on a connection of its own, LISTENing on
// ChangesChannel, and calls fn on its own goroutine, one call at a time, so
// fn should be quick (wake a reconciler, say) and must not block for long.
//
// Notifications are hints, not a log: several commits may give one call,
// and none are delivered while the connection is down. So fn is also called
// once when Listen starts listening and again after each reconnection,
// which resynchronises the caller whatever was missed. Listen returns an
// error at once if the first connection fails; later it reconnects on its
// own, with backoff.
func (s *Store) Listen(ctx context.Context, fn func()) error {
	conn, err := s.listen(ctx)
	if err != nil {
		return fmt.Errorf("postgres: listen: %w", err)
	}
	for {
		fn()
		for waitNotification(ctx, conn, s.idleCheck) == nil {
			fn()
		}
		closeConn(conn)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for delay := reconnectMin; ; delay = min(2*delay, reconnectMax) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay/2 + rand.N(delay/2)):
			}
			if conn, err = s.listen(ctx); err == nil {
				break
			}
		}
	}
}

// listen opens a connection and LISTENs on ChangesChannel.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.config)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+ChangesChannel); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// waitNotification waits for a notification on conn and returns nil when
// one came, or an error when ctx is done or conn failed. Whenever conn has
// been idle for idle it pings the server, so that a connection that died
// silently is noticed.
func waitNotification(ctx context.Context, conn *pgx.Conn, idle time.Duration) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, idle)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return err
		}
		// Idle for a while: a timeout leaves the connection usable.
		pctx, cancel := context.WithTimeout(ctx, idle)
		err = conn.Ping(pctx)
		cancel()
		if err != nil {
			return err
		}
	}
}

// closeConn closes conn, waiting a little for the server to hear of it.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeConnection)
	defer cancel()
	conn.Close(ctx)
}
