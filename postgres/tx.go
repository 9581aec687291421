package postgres

import (
	"context"
	"strconv"

	"keyward"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ keyward.DocTx = (*tx)(nil)

// tx is a keyward.DocTx over one transaction: a View's pgx.Tx, or the
// connection of an Update, which drives its transaction itself. Its methods
// are not safe for concurrent use, like the transaction itself.
//
// PostgreSQL aborts a transaction at its first failed statement, so the
// methods never rely on a failing statement to find a domain error: each
// write is one statement that checks what it needs in its own snapshot
// (ON CONFLICT DO NOTHING, a missing-member lookup in a CTE) and reports
// EEXISTS or ENOTFOUND without failing. So a method that returns a domain
// error has changed nothing, and the caller may go on with the transaction.
type tx struct {
	tx    querier
	write bool // an Update's transaction
	wrote bool // a write method ran: Update notifies on commit

	// conflict is the first error of a statement that lost to a concurrent
	// transaction; the transaction is aborted and Update runs fn again.
	conflict error
}

func (t *tx) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.write {
		t.wrote = true
	}
	tag, err := t.tx.Exec(ctx, sql, args...)
	return tag, t.observe(err)
}

func (t *tx) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.tx.Query(ctx, sql, args...)
	return rows, t.observe(err)
}

// queryRow runs a query for one row and scans it into dest; a write query
// (one with a data-modifying CTE) passes write.
func (t *tx) queryRow(ctx context.Context, write bool, sql string, a args, dest ...any) error {
	if write && t.write {
		t.wrote = true
	}
	return t.observe(t.tx.QueryRow(ctx, sql, a...).Scan(dest...))
}

// collect reads rows with fn, remembering a conflict on the way.
func collect[T any](t *tx, rows pgx.Rows, err error, fn pgx.RowToFunc[T]) ([]T, error) {
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, fn)
	return out, t.observe(err)
}

// observe records err in t.conflict if it is a serialization failure or a
// deadlock, and returns it. Unique and foreign-key violations count too:
// the statements check first in their snapshot and never cause one on their
// own, so one means that a concurrent transaction changed the rows checked,
// and a new run of fn will see that change and answer with the right domain
// error. The method also maps them to EEXISTS and ENOTFOUND (see
// violation), as a backstop should a caller not be in Update's loop.
func (t *tx) observe(err error) error {
	switch pgCode(err) {
	case codeSerializationFailure, codeDeadlockDetected, codeUniqueViolation, codeForeignKeyViolation:
		if t.conflict == nil {
			t.conflict = err
		}
	}
	return err
}

// querier runs a transaction's statements.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// args numbers query arguments while a query is written.
type args []any

// add appends v and returns its placeholder ($1, $2, ...).
func (a *args) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}
