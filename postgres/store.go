package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"sync/atomic"
	"time"

	"keyward"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migration/*.sql
var migrationFS embed.FS

var _ keyward.Store = (*Store)(nil)

// Retry policy of Update: at most maxAttempts runs of fn, the first
// aloneAfter optimistic, concurrent with other Updates and separated by a
// random sleep of up to minBackoff doubled per attempt ("full jitter", so
// that the losers of a conflict do not collide again), the others alone,
// which cannot lose a conflict.
const (
	maxAttempts = 10 // as pkgsite's Transact
	aloneAfter  = 2
	minBackoff  = 2 * time.Millisecond
	maxBackoff  = 50 * time.Millisecond
)

// Statements that bracket an Update's transaction, each sent as one
// simple-protocol query (no arguments): a single round trip however many
// statements it holds.
//
// Every Update first locks the table keyward_update_lock, which holds no
// rows, in ROW SHARE mode, which Updates share (and which PostgreSQL grants
// on its fast path). An Update that runs alone locks it in EXCLUSIVE mode
// instead, which waits for the Updates in progress to end and holds new
// ones back, in every process. LOCK TABLE, unlike SELECT pg_advisory_lock,
// takes no snapshot: as the first statement of the transaction it waits
// before the snapshot is taken, so that the transaction sees every Update
// it waited for. The lock ends with the transaction.
//
// The run alone is REPEATABLE READ: no other Update runs while it does, so
// it is serial, and serializable, without SSI, whose bookkeeping of the
// transactions that just committed would otherwise still let it fail.
const (
	beginSQL        = `BEGIN ISOLATION LEVEL SERIALIZABLE; LOCK TABLE keyward_update_lock IN ROW SHARE MODE`
	beginAloneSQL   = `BEGIN ISOLATION LEVEL REPEATABLE READ; LOCK TABLE keyward_update_lock IN EXCLUSIVE MODE`
	commitSQL       = `COMMIT`
	notifyCommitSQL = notifySQL + `; COMMIT`
	rollbackSQL     = `ROLLBACK`
)

// Store is a keyward.Store in a PostgreSQL database, shared by every
// keyward replica that opens it. It is safe for concurrent use; open it
// with Open and release it with Close.
type Store struct {
	pool   *pgxpool.Pool
	config *pgx.ConnConfig // for the dedicated connections of Listen and leases

	// idleCheck is how long the connection of a Listen or a Lease stays
	// idle before it pings the server.
	idleCheck time.Duration

	// attempts counts the runs of Update callbacks, retries the runs
	// after the first, alone the runs alone (tests and metrics).
	attempts atomic.Int64
	retries  atomic.Int64
	alone    atomic.Int64
}

// Open connects to the database dsn names (a postgres:// URL or keyword/value
// settings, as libpq and pgx take them, including pgxpool's pool_max_conns)
// and applies the migrations it lacks. ctx bounds only the opening.
//
// Several processes may Open the same database at once: migrations run
// under an advisory lock, so exactly one applies each.
func Open(ctx context.Context, dsn string) (_ *Store, err error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{config: cfg.ConnConfig.Copy(), idleCheck: idleCheck}
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := s.migrate(ctx, migrationFS); err != nil {
		s.pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return s, nil
}

// Close closes the store's connections, waiting for the transactions in
// progress; Views and Updates started later fail. Leases and Listen use
// connections of their own and end on their own terms. Close is safe to
// call more than once.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// View runs fn in a read-only REPEATABLE READ transaction: every statement
// of fn sees the same snapshot. If fn returns an error, View returns it as
// it is.
func (s *Store) View(ctx context.Context, fn func(keyward.Tx) error) error {
	ptx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("postgres: view: begin: %w", err)
	}
	// A read transaction keeps nothing: rolling it back ends it, on every
	// way out, panics included.
	defer rollback(ctx, ptx)
	return fn(keyward.NewTx(&tx{tx: ptx}))
}

// Update runs fn in a SERIALIZABLE transaction and commits it if fn returns
// nil; with synchronous_commit on (PostgreSQL's default) the commit is
// durable when Update returns. If fn returns an error, the transaction is
// rolled back and the error returned as it is; if fn panics, the
// transaction is rolled back and the panic goes on. If fn wrote anything,
// the commit also notifies ChangesChannel (see Listen).
//
// When the transaction loses a conflict with a concurrent one (SQLSTATE
// 40001, serialization failure, or 40P01, deadlock), Update rolls it back
// and runs fn again in a new transaction, as pkgsite's Transact does. So fn
// may run more than once, and must not keep state across runs. A conflict
// counts whether a statement reported it to fn or the commit did, and
// whatever fn then returned.
//
// Under SERIALIZABLE a transaction that lost once tends to lose again while
// others keep coming: it starts late and reads what they are about to
// change, and a busy scope (parallel CreateUsers, each counting the users
// for the quota) could starve it. So, as lock elision does, the first two
// runs are optimistic, concurrent with other Updates and a few random
// milliseconds apart, and a third runs alone: it waits for the Updates in
// progress, in every process, to end, holds new ones back, and so cannot
// lose a conflict (see beginAloneSQL). All writes must go through Update
// for this to hold. If runs still fail, Update gives up with ECONFLICT
// after 10.
func (s *Store) Update(ctx context.Context, fn func(keyward.Tx) error) error {
	for attempt := 1; ; attempt++ {
		conflict, err := s.update(ctx, fn, attempt > aloneAfter)
		if !conflict {
			return err
		}
		if attempt == maxAttempts {
			return &keyward.Error{Code: keyward.ECONFLICT, Message: "The request conflicted with concurrent changes; please retry it.",
				Err: fmt.Errorf("postgres: update: gave up after %d attempts: %w", attempt, err)}
		}
		s.retries.Add(1)
		if attempt >= aloneAfter {
			continue // the next run waits for its turn
		}
		d := min(maxBackoff, minBackoff<<(attempt-1))
		select {
		case <-ctx.Done():
			return fmt.Errorf("postgres: update: %w", ctx.Err())
		case <-time.After(rand.N(d) + 1):
		}
	}
}

// update runs fn once, alone or not, reporting whether it lost a conflict
// and may be run again. It drives the transaction itself rather than
// through pgx.Tx, to send the lock with BEGIN and the notification with
// COMMIT.
func (s *Store) update(ctx context.Context, fn func(keyward.Tx) error, alone bool) (conflict bool, err error) {
	s.attempts.Add(1)
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: update: %w", err)
	}
	defer conn.Release()
	begin := beginSQL
	if alone {
		s.alone.Add(1)
		begin = beginAloneSQL
	}
	if _, err := conn.Exec(ctx, begin); err != nil {
		endTx(ctx, conn)
		return isConflict(err), fmt.Errorf("postgres: update: begin: %w", err)
	}
	done := false
	defer func() {
		if !done {
			endTx(ctx, conn)
		}
	}()

	t := &tx{tx: conn, write: true}
	if err := fn(keyward.NewTx(t)); err != nil {
		return t.conflict != nil || isConflict(err), err
	}
	if t.conflict != nil {
		// fn went on after a statement failed: the transaction is aborted.
		return true, fmt.Errorf("postgres: update: %w", t.conflict)
	}
	end := commitSQL
	if t.wrote {
		// Delivered to listeners only if, and when, the transaction commits.
		end = notifyCommitSQL
	}
	tag, err := conn.Exec(ctx, end)
	if err != nil {
		// A failed COMMIT ends the transaction; a failed NOTIFY leaves it
		// aborted, for endTx to end.
		return isConflict(err), fmt.Errorf("postgres: update: commit: %w", err)
	}
	done = true
	if tag.String() != commitSQL {
		// COMMIT of a transaction a failed statement aborted rolls back.
		return false, fmt.Errorf("postgres: update: commit: %w", pgx.ErrTxCommitRollback)
	}
	return false, nil
}

// endTx rolls back the transaction on conn, if one is open; if that fails
// it closes conn, which the pool then discards.
func endTx(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() == 'I' {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, rollbackSQL); err != nil {
		closeConn(conn.Conn())
	}
}

// rollback ends ptx if it is still open, even when ctx was cancelled.
func rollback(ctx context.Context, ptx pgx.Tx) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_ = ptx.Rollback(ctx) // pgx closes the connection if this fails
}

// SQLSTATEs the store acts on.
const (
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
)

// pgCode returns the SQLSTATE of the PostgreSQL error in err's chain, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isConflict reports whether err says the transaction lost to a concurrent
// one and running it again may succeed.
func isConflict(err error) bool {
	switch pgCode(err) {
	case codeSerializationFailure, codeDeadlockDetected:
		return true
	}
	return false
}

// Advisory lock keys are pairs (lockSpace, fnv32a(name)): the first number
// keeps keyward's locks apart from any other application's in the same
// database.
const lockSpace int32 = 0x6b77_7264 // "kwrd"

func lockKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// migrationsTable records the applied migrations, one row per file name.
const migrationsTable = `CREATE TABLE IF NOT EXISTS keyward_migrations (
	name       text PRIMARY KEY,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrate applies the migrations of fsys (migration/*.sql) that the
// database lacks, in name order, each in its own transaction together with
// its row in keyward_migrations. It holds a session advisory lock on a
// connection of its own throughout, so that replicas starting together
// take turns: the first applies, the others find nothing left to do.
// Closing the connection releases the lock even if unlocking fails.
func (s *Store) migrate(ctx context.Context, fsys fs.FS) error {
	conn, err := pgx.ConnectConfig(ctx, s.config)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockSpace, lockKey("migrate")); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := conn.Exec(ctx, migrationsTable); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	rows, _ := conn.Query(ctx, `SELECT name FROM keyward_migrations`)
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(fsys, "migration/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	slices.Sort(names)
	for _, name := range names {
		if slices.Contains(applied, path.Base(name)) {
			continue
		}
		if err := migrateFile(ctx, conn, fsys, name); err != nil {
			return fmt.Errorf("migrate %s: %w", path.Base(name), err)
		}
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockSpace, lockKey("migrate")); err != nil {
		return fmt.Errorf("migrate: unlock: %w", err)
	}
	return nil
}

func migrateFile(ctx context.Context, conn *pgx.Conn, fsys fs.FS, name string) error {
	buf, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, conn, func(ptx pgx.Tx) error {
		// No arguments: pgx sends the simple protocol, which runs a file
		// of several statements.
		if _, err := ptx.Exec(ctx, string(buf)); err != nil {
			return err
		}
		_, err := ptx.Exec(ctx, `INSERT INTO keyward_migrations (name) VALUES ($1)`, path.Base(name))
		return err
	})
}

// wrap adds context to an internal error, such as one from the driver, so
// that keyward.ErrorCode reports it as EINTERNAL; domain errors pass as
// they are.
func wrap(errp *error, format string, args ...any) {
	var kerr *keyward.Error
	if *errp == nil || errors.As(*errp, &kerr) {
		return
	}
	*errp = fmt.Errorf("postgres: "+format+": %w", append(args, *errp)...)
}
