package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"keyward"
)

var _ keyward.DocTx = (*tx)(nil)

// tx is a keyward.DocTx over one database/sql transaction. Its methods are not
// safe for concurrent use, like the transaction itself.
type tx struct {
	q     querier              // commitLoop's connection, in a write transaction; nil in a View
	stmts map[string]*sql.Stmt // prepared on that connection
	write bool                 // a write transaction, possibly shared by several Updates
	mem   *memIndex

	// failed is the first write statement that failed. A method finds its
	// domain errors (EEXISTS, ENOTFOUND, EREFERENCED) before it writes, so
	// those leave the transaction as it was; any other failure of a write
	// may leave a method half-applied, so the whole Update fails with it,
	// even if fn returns nil (see Store.runFn).
	failed error

	// view: a View's, which reads the index at version at; stale is set
	// when the index no longer holds it (View runs fn again).
	view  bool
	at    uint64
	stale bool
}

// querier runs the statements that were not prepared (a *sql.Conn).
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// stmt returns the prepared statement for q, or nil if q was not prepared
// (the caller then runs q unprepared).
func (t *tx) stmt(_ context.Context, q string) *sql.Stmt {
	return t.stmts[q]
}

// context returns the context statements run with: one that is never
// cancelled. In a write transaction, the driver interrupts a statement
// whose context ends, and SQLite answers an interrupted write by rolling
// back the whole transaction, which other Updates share (see
// Store.Update). Reads are bounded point and page lookups, and a
// cancellable context costs the driver a goroutine and a progress handler
// per statement; View checks the context before it begins.
func (t *tx) context(context.Context) context.Context { return context.Background() }

func (t *tx) exec(ctx context.Context, q string, args ...any) (res sql.Result, err error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = t.q.ExecContext(ctx, q, args...)
	}
	if err != nil && t.failed == nil {
		t.failed = err
	}
	return res, err
}

// allQueries lists the statements Open prepares on the writer's
// connection (reads are answered from memory).
func allQueries() []string {
	return []string{
		insertDocSQL, updateDocSQL, updateRefsSQL, deleteDocSQL,
		savepointSQL, rollbackToSQL, releaseSQL,
	}
}

// mustJSON encodes lists of strings and numbers, which always marshal.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
