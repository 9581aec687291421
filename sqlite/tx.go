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
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	write bool // a write transaction, possibly shared by several Updates
}

// stmt returns the prepared statement for q bound to the transaction, or nil
// if q was not prepared at Open (the caller then runs q unprepared).
func (t *tx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.stmts[q]; st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	return nil
}

// context returns the context statements run with. In a write transaction
// it is never cancelled: the driver interrupts a statement whose context
// ends, and SQLite answers an interrupted write by rolling back the whole
// transaction, which other Updates share (see Store.Update).
func (t *tx) context(ctx context.Context) context.Context {
	if t.write {
		return context.Background()
	}
	return ctx
}

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// savepoint runs fn so that its writes are undone if it fails: a Tx method
// that returns an error leaves the transaction as it found it, even if the
// caller goes on and commits.
func (t *tx) savepoint(ctx context.Context, fn func() error) error {
	if _, err := t.exec(ctx, methodSavepointSQL); err != nil {
		return err
	}
	if err := fn(); err != nil {
		if _, rerr := t.exec(ctx, methodRollbackToSQL); rerr != nil {
			return rerr
		}
		if _, rerr := t.exec(ctx, methodReleaseSQL); rerr != nil {
			return rerr
		}
		return err
	}
	_, err := t.exec(ctx, methodReleaseSQL)
	return err
}

// Statements of tx.savepoint, nested in those of Store.runBatch.
const (
	methodSavepointSQL  = `SAVEPOINT method`
	methodRollbackToSQL = `ROLLBACK TO method`
	methodReleaseSQL    = `RELEASE method`
)

// allQueries lists the statements Open prepares: every one for the writer,
// the reads for the query_only readers.
func allQueries(write bool) []string {
	qs := []string{countDocsSQL, findUnsettledSQL}
	for _, sh := range docQueryShapes() {
		qs = append(qs, listDocsQueries[sh])
	}
	if write {
		qs = append(qs,
			insertDocSQL, updateDocSQL, deleteDocSQL,
			deleteIndexSQL, insertIndexSQL, deleteRefsFromSQL, deleteRefsToSQL, insertRefsSQL,
			missingRefsSQL, restrictingRefSQL,
			methodSavepointSQL, methodRollbackToSQL, methodReleaseSQL,
			savepointSQL, rollbackToSQL, releaseSQL,
		)
	}
	return qs
}

// mustJSON encodes lists of strings and numbers, which always marshal.
func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// limit turns "0 means no limit" into SQLite's "negative means no limit".
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
