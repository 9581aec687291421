package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"keyward"
)

// A View runs on a reader connection the store keeps for itself (a
// readConn), with its statements prepared on it as they are first used, and brackets fn with a
// prepared BEGIN and ROLLBACK. A database/sql transaction would cost, per
// View, a cancellable context and a goroutine watching it, the parse of
// BEGIN and ROLLBACK by the driver, and the binding of each statement to
// the transaction; a read costs about a third less CPU this way.

// readConn is one query_only connection and its prepared statements.
type readConn struct {
	conn                         *sql.Conn
	stmts                        map[string]*sql.Stmt
	begin, rollback, dataVersion *sql.Stmt
	seq                          *sql.Stmt

	// points are the point reads (ListDocs of one id) of the database at
	// data_version version. A View reads data_version first: it changes
	// whenever another connection (keyward's writer, or another process)
	// has committed since this one last looked, and then points starts
	// over; while it stays, the database is the one points were read from,
	// so a View answers them again without SQL (see Store.View and view
	// for how the rest of a View stays on the same snapshot).
	points  map[pointKey][]*keyward.Doc
	version int64
}

const (
	beginReadSQL    = `BEGIN`
	rollbackReadSQL = `ROLLBACK`
	dataVersionSQL  = `PRAGMA data_version`
)

// The reader pool is a channel of n slots (the reader DB's connection
// limit): an idle connection, or nil for a slot whose connection is not
// open yet (or was closed because it broke).
func newReaderPool(n int) chan *readConn {
	ch := make(chan *readConn, n)
	for range n {
		ch <- nil
	}
	return ch
}

// getReader takes a slot of the pool, waiting for one if all are in use,
// and returns its connection, opening it if needed.
func (s *Store) getReader(ctx context.Context) (*readConn, error) {
	var rc *readConn
	select {
	case rc = <-s.readers:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.closing:
		return nil, errClosed
	}
	if rc != nil {
		return rc, nil
	}
	rc, err := s.openReader(ctx, false)
	if err != nil {
		s.readers <- nil
		return nil, err
	}
	return rc, nil
}

// openReader opens a reader connection with its BEGIN and ROLLBACK
// prepared; the other statements are prepared on first use (prepare), so
// that a connection holds only those it runs, or all of them if eager.
func (s *Store) openReader(ctx context.Context, eager bool) (*readConn, error) {
	conn, err := s.reader.Conn(ctx)
	if err != nil {
		return nil, err
	}
	rc := &readConn{conn: conn, stmts: map[string]*sql.Stmt{}}
	qs := []string{beginReadSQL, rollbackReadSQL, dataVersionSQL, seqSQL}
	if eager {
		qs = append(qs, allQueries(false)...)
	}
	for _, q := range qs {
		if rc.stmts[q] != nil {
			continue
		}
		st, err := conn.PrepareContext(ctx, q)
		if err != nil {
			rc.close()
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		rc.stmts[q] = st
	}
	rc.begin, rc.rollback, rc.dataVersion, rc.seq = rc.stmts[beginReadSQL], rc.stmts[rollbackReadSQL], rc.stmts[dataVersionSQL], rc.stmts[seqSQL]
	return rc, nil
}

// readQueries are the statements a reader connection prepares on first use.
var readQueries = func() map[string]bool {
	m := map[string]bool{}
	for _, q := range allQueries(false) {
		m[q] = true
	}
	return m
}()

// prepare returns q prepared on rc, preparing it now if it is one of
// readQueries; nil otherwise (or if it fails: running it unprepared then
// reports the error).
func (rc *readConn) prepare(q string) *sql.Stmt {
	if st := rc.stmts[q]; st != nil || !readQueries[q] {
		return st
	}
	st, err := rc.conn.PrepareContext(context.Background(), q)
	if err != nil {
		return nil
	}
	rc.stmts[q] = st
	return st
}

// putReader gives rc's slot back: with rc, or empty if rc is unusable
// (broken) or the store is closing, after closing rc.
func (s *Store) putReader(rc *readConn, broken bool) {
	if !broken {
		select {
		case <-s.closing:
		default:
			s.readers <- rc // never blocks: rc holds one of the slots
			return
		}
	}
	rc.close()
	s.readers <- nil
}

// closeReaders closes the idle reader connections; those in use are closed
// when their View returns them (the store is closing by then).
func (s *Store) closeReaders() error {
	var errs []error
	for {
		select {
		case rc := <-s.readers:
			if rc != nil {
				errs = append(errs, rc.close())
			}
		default:
			return errors.Join(errs...)
		}
	}
}

func (rc *readConn) close() error {
	var errs []error
	for _, st := range rc.stmts {
		errs = append(errs, st.Close())
	}
	errs = append(errs, rc.conn.Close())
	return errors.Join(errs...)
}
