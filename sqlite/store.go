package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"keyward"

	sqlitedriver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// BusyTimeout is how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

var _ keyward.Store = (*Store)(nil)

// Store is a keyward.Store in one SQLite database file. It is safe for
// concurrent use; open it with Open and release it with Close.
type Store struct {
	path   string
	writer *sql.DB // its connection wconn is commitLoop's; a second only for tests
	wconn  *sql.Conn
	wstmts map[string]*sql.Stmt

	mem    *memIndex      // the documents, by version (memindex.go)
	change *changeCounter // SQLite's commit counter, for Views (shm.go)
	opened openFiles      // the files the last full check found open (probe.go)

	queue     chan *request // Updates waiting for commitLoop
	closing   chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
	loopDone  chan struct{} // closed when commitLoop has returned

	// Tests only: failBatch makes a shared commit fail, and batched counts
	// the Updates that ran in a shared transaction.
	failBatch func() bool
	batched   atomic.Int64
}

// Open opens (creating it if needed) the database at path, a file name, and
// applies the migrations it lacks. ctx bounds only the opening.
func Open(ctx context.Context, path string) (_ *Store, err error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want the path of a database file", path)
	}
	if err := privateFiles(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	s := &Store{path: path, queue: make(chan *request), closing: make(chan struct{}), mem: &memIndex{}}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if s.writer, err = sql.Open("sqlite", dsn(path)); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	// One connection, which commitLoop holds (wconn); the second is only
	// ever opened by tests that look at the database directly.
	s.writer.SetMaxOpenConns(2)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)

	// The first connection to a new file makes it WAL, which takes an
	// exclusive lock. When two processes open a new file at once, SQLite
	// may fail one with SQLITE_BUSY without waiting (it would deadlock), so
	// try again for as long as a busy lock would be waited for.
	var mode string
	for deadline := time.Now().Add(BusyTimeout); ; {
		err = s.writer.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	} else if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("sqlite: open %q: journal_mode is %q, want wal", path, mode)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}

	// commitLoop's connection and its statements. Transactions on it are
	// BEGIN IMMEDIATE and COMMIT statements, prepared like the others: a
	// database/sql transaction would cost a goroutine, a context and two
	// parses per Update, and the binding of each statement to it.
	if s.wconn, err = s.writer.Conn(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if s.wstmts, err = prepare(ctx, s.wconn, append(allQueries(), beginWriteSQL, commitSQL, rollbackSQL)); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	// The wal-index exists once a connection has read the WAL database.
	if s.change, err = openChangeCounter(path); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	// The in-memory index, from one snapshot of the version and the rows.
	if err := s.loadIndex(ctx); err != nil {
		return nil, fmt.Errorf("sqlite: open %q: load index: %w", path, err)
	}
	s.loopDone = make(chan struct{})
	go s.commitLoop()
	return s, nil
}

// dsn returns the driver's data source name for path. Pragmas go in the DSN
// so that every connection the pool opens gets them, not just the first.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Set("_txlock", "immediate")
	// A file: URI without authority ("file:/a/b.db", "file:./b.db"), so that
	// a path holding '?', '#' or '%' is escaped rather than cut.
	if !strings.HasPrefix(path, "/") {
		path = "./" + path
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func prepare(ctx context.Context, db interface {
	PrepareContext(context.Context, string) (*sql.Stmt, error)
}, queries []string) (map[string]*sql.Stmt, error) {
	m := make(map[string]*sql.Stmt, len(queries))
	for _, q := range queries {
		if m[q] != nil {
			continue
		}
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", q, err)
		}
		m[q] = st
	}
	return m, nil
}

// Close waits for the Updates already running, then closes the database;
// Views and Updates started later fail. The last connection to close
// checkpoints the write-ahead log into the database file. Close is safe to
// call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closing)
		if s.loopDone != nil {
			<-s.loopDone // the Updates it took are answered
		}
		var errs []error
		if s.change != nil {
			errs = append(errs, s.change.close())
		}
		for _, st := range s.wstmts {
			errs = append(errs, st.Close())
		}
		if s.wconn != nil {
			errs = append(errs, s.wconn.Close())
		}
		if s.writer != nil {
			errs = append(errs, s.writer.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite: close %q: %w", s.path, err)
		}
	})
	return s.closeErr
}

// View runs fn on a snapshot of the database: the state the last commit
// before it began left. Views run in parallel with each other and with
// Updates, and are answered from memory (memindex.go): a View runs no
// SQL, unless another connection committed since the last commit the
// index holds, which the writer then reads first (resync). If fn returns
// an error, View returns it as it is.
func (s *Store) View(ctx context.Context, fn func(keyward.Tx) error) error {
	select {
	case <-s.closing:
		return errClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: view: %w", err)
	}
	for tries := 0; ; tries++ {
		v, current := s.mem.pin(s.change.read)
		if !current && tries == 0 {
			s.mem.unpin(v)
			if err := s.resync(ctx); err != nil {
				return fmt.Errorf("sqlite: view: %w", err)
			}
			// What the writer read is newer than the View's start.
			v, _ = s.mem.pin(s.change.read)
		}
		t := &tx{mem: s.mem, view: true, at: v}
		err := func() error {
			defer s.mem.unpin(v)
			return fn(keyward.NewTx(t))
		}()
		if !t.stale {
			return err
		}
		// The index was rebuilt under fn (another connection wrote):
		// run it again, all of it on one snapshot (fn may run more than
		// once, see keyward.Store).
		if tries == 3 {
			return fmt.Errorf("sqlite: view: %w", errStaleIndex)
		}
	}
}

// Update runs fn in a read-write transaction and commits it if fn returns
// nil; the commit is fsynced before Update returns. If fn returns an error
// the transaction is rolled back and the error returned as it is; if fn
// panics, its writes are rolled back and the panic goes on.
//
// Updates run one at a time on the one write connection, and concurrent
// ones share commits (see commitLoop). fn may run more than once: after a
// failed shared commit each Update of the batch runs again on its own. So
// fn must not keep state across runs, and must not call Update (it would
// wait forever for the write connection). Cancelling ctx stops an Update
// whose fn has not started; once fn runs, its statements are not
// interrupted, since SQLite answers an interrupted write by rolling back the
// whole transaction, which other Updates may share.
func (s *Store) Update(ctx context.Context, fn func(keyward.Tx) error) error {
	r := &request{ctx: ctx, fn: fn, turn: make(chan struct{}), ran: make(chan ran, 1), done: make(chan error, 1)}
	select {
	case <-s.closing:
		return errClosed
	default:
	}
	select {
	case s.queue <- r:
	case <-s.closing:
		return errClosed
	case <-ctx.Done():
		return fmt.Errorf("sqlite: update: %w", ctx.Err())
	}
	// fn runs here, on the caller's goroutine, when commitLoop hands over
	// the transaction: a panic keeps its stack and t.FailNow works in tests.
	for {
		select {
		case <-r.turn:
			s.runFn(r)
		case err := <-r.done:
			return err
		}
	}
}

// runFn runs r.fn in the write transaction and reports to commitLoop how
// it ended, panics and runtime.Goexit included.
func (s *Store) runFn(r *request) {
	out := ran{aborted: true}
	defer func() { r.ran <- out }()
	t := &tx{q: s.wconn, stmts: s.wstmts, write: true, mem: s.mem}
	out.err = r.fn(keyward.NewTx(t))
	if out.err == nil && t.failed != nil {
		out.err = fmt.Errorf("sqlite: update: a write failed: %w", t.failed)
	}
	out.aborted = false
}

var errClosed = errors.New("sqlite: store is closed")

// maxBatch bounds how many Updates share one commit.
const maxBatch = 64

// request is one Update waiting for commitLoop.
type request struct {
	ctx  context.Context
	fn   func(keyward.Tx) error
	turn chan struct{} // commitLoop hands the transaction to the caller to run fn
	ran  chan ran      // the caller tells how fn ended
	done chan error    // the final outcome; buffered, so commitLoop never waits
}

// ran tells how one run of fn ended.
type ran struct {
	err     error
	aborted bool // panicked or called runtime.Goexit: the caller is gone
}

// commitLoop owns the write connection. It takes every Update waiting for
// it and runs them in one SQLite transaction, each fn inside its own
// SAVEPOINT so that a failing fn undoes only its own writes, then commits
// once: N concurrent Updates cost one fsync instead of N (group commit). No
// Update returns before the commit holding it is durable, and the Updates
// of a batch are serialized, each seeing the writes of those before it.
func (s *Store) commitLoop() {
	defer close(s.loopDone)
	batch := make([]*request, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case r := <-s.queue:
			batch = append(batch, r)
		case <-s.closing:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-s.queue:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		if len(batch) == 1 {
			s.runAlone(batch[0])
		} else {
			s.runBatch(batch)
		}
	}
}

// runAlone runs one Update in its own transaction and answers it.
func (s *Store) runAlone(r *request) {
	if err := r.ctx.Err(); err != nil {
		r.done <- fmt.Errorf("sqlite: update: %w", err)
		return
	}
	if err := s.begin(); err != nil {
		r.done <- fmt.Errorf("sqlite: update: begin: %w", err)
		return
	}
	r.turn <- struct{}{}
	out := <-r.ran
	if out.aborted || out.err != nil {
		s.rollback()
		r.done <- out.err // nil and unread if aborted
		return
	}
	if err := s.commit(); err != nil {
		r.done <- fmt.Errorf("sqlite: update: commit: %w", err)
		return
	}
	r.done <- nil
}

// wexec runs one of commitLoop's own statements.
func (s *Store) wexec(q string) error {
	_, err := s.wstmts[q].ExecContext(context.Background())
	return err
}

// commit commits the write transaction. If COMMIT fails the transaction
// may still be open (SQLite keeps it open on SQLITE_BUSY, for one): it is
// rolled back, so that the next BEGIN starts clean.
func (s *Store) commit() error {
	if !s.mem.changed() {
		// Nothing was written (or all of it was rolled back to savepoints):
		// there is nothing to make durable, and a COMMIT without WAL frames
		// would leave the change counter where it is, not at mem.next.
		s.rollback()
		return nil
	}
	err := s.wexec(commitSQL)
	if err != nil {
		s.rollback()
		return err
	}
	s.mem.commit()
	return nil
}

// rollback ends the write transaction, if one is open: ROLLBACK fails
// harmlessly when SQLite has already rolled it back. The index forgets
// the transaction's changes.
func (s *Store) rollback() {
	_ = s.wexec(rollbackSQL)
	s.mem.abort()
}

// begin opens a write transaction at the version after the last one
// committed. A WAL-index change counter other than the one this store's
// last commit left means another connection committed to the file: the
// index is built again from the database, in this transaction. The counter
// is read with the write lock held, so no other commit can move it until
// this transaction's own.
func (s *Store) begin() error {
	if err := s.wexec(beginWriteSQL); err != nil {
		return err
	}
	c, ok := s.change.read()
	if !ok {
		s.rollback()
		return errHeaderChanging
	}
	if c != s.mem.change {
		if err := s.mem.load(context.Background(), s.wconn, s.mem.ver+1, c); err != nil {
			s.rollback()
			return fmt.Errorf("load index: %w", err)
		}
	}
	s.mem.begin(s.mem.ver+1, c+1)
	return nil
}

var errHeaderChanging = errors.New("the WAL-index header keeps changing under the write lock")

// loadIndex builds the index from the database, with the write lock held,
// at version 1.
func (s *Store) loadIndex(ctx context.Context) error {
	if err := s.wexec(beginWriteSQL); err != nil {
		return err
	}
	defer s.wexec(rollbackSQL)
	c, ok := s.change.read()
	if !ok {
		return errHeaderChanging
	}
	return s.mem.load(ctx, s.wconn, 1, c)
}

// resync makes the writer catch up with commits of another connection
// (an empty Update begins a transaction, which sees them; see begin).
func (s *Store) resync(ctx context.Context) error {
	return s.Update(ctx, func(keyward.Tx) error { return nil })
}

// runBatch runs several Updates in one transaction, each in a savepoint,
// and answers them once it has committed. If the shared transaction fails
// (a savepoint cannot be rolled back or released, or the commit fails) it
// is rolled back and every Update still waiting runs again on its own, so
// that what failed one cannot fail the others.
func (s *Store) runBatch(batch []*request) {
	s.batched.Add(int64(len(batch)))
	outs := make([]ran, len(batch))
	ok := func() bool {
		if s.begin() != nil {
			return false
		}
		exec := func(q string) bool { return s.wexec(q) == nil }
		for i, r := range batch {
			if err := r.ctx.Err(); err != nil {
				outs[i].err = fmt.Errorf("sqlite: update: %w", err)
				continue
			}
			if !exec(savepointSQL) {
				s.rollback()
				return false
			}
			mark := s.mem.mark()
			r.turn <- struct{}{}
			outs[i] = <-r.ran
			failed := outs[i].aborted || outs[i].err != nil
			if failed {
				s.mem.rollbackTo(mark)
			}
			if failed && !exec(rollbackToSQL) || !exec(releaseSQL) {
				s.rollback()
				return false
			}
		}
		if s.failBatch != nil && s.failBatch() {
			s.rollback()
			return false
		}
		return s.commit() == nil
	}()
	for i, r := range batch {
		switch {
		case outs[i].aborted:
			// The caller is gone; its writes were rolled back.
		case !ok:
			s.runAlone(r)
		default:
			r.done <- outs[i].err
		}
	}
}

// Statements of commitLoop's transactions. BEGIN IMMEDIATE takes the write
// lock at once, so that an Update never fails half-way upgrading a read
// lock to a write lock.
const (
	beginWriteSQL = `BEGIN IMMEDIATE`
	commitSQL     = `COMMIT`
	rollbackSQL   = `ROLLBACK`
)

// Statements that bracket each Update of a batch.
const (
	savepointSQL  = `SAVEPOINT "update"`
	rollbackToSQL = `ROLLBACK TO "update"`
	releaseSQL    = `RELEASE "update"`
)

// migrate applies the embedded migrations the database lacks, in name order,
// each in its own transaction, recording each in the migrations table.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := s.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migrate %s: %w", path.Base(name), err)
		}
	}
	return nil
}

func (s *Store) migrateFile(ctx context.Context, name string) error {
	// BEGIN IMMEDIATE (the writer's txlock) makes two processes opening the
	// same new file take turns rather than both applying a migration.
	stx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer stx.Rollback()

	var n int
	if err := stx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, path.Base(name)).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := stx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if _, err := stx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, path.Base(name), formatTime(time.Now())); err != nil {
		return err
	}
	return stx.Commit()
}

// timeLayout is RFC 3339 with nanoseconds at a fixed width, so stored
// times round-trip exactly and sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// isCode reports whether err is SQLite's (extended) result code code.
func isCode(err error, code int) bool {
	var se *sqlitedriver.Error
	return errors.As(err, &se) && se.Code() == code
}

// isBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool {
	var se *sqlitedriver.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func isUniqueViolation(err error) bool {
	return isCode(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY) || isCode(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE)
}

// wrap adds context to an internal error, such as one from the driver, so
// that keyward.ErrorCode reports it as EINTERNAL; domain errors pass as they are.
func wrap(errp *error, format string, args ...any) {
	var kerr *keyward.Error
	if *errp == nil || errors.As(*errp, &kerr) {
		return
	}
	*errp = fmt.Errorf("sqlite: "+format+": %w", append(args, *errp)...)
}
