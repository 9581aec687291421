package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"

	"keyward"
)

var _ keyward.DocTx = (*tx)(nil)

// tx is a keyward.DocTx over one database/sql transaction. Its methods are not
// safe for concurrent use, like the transaction itself.
type tx struct {
	q     querier              // the connection, in a transaction: commitLoop's or a View's
	stmts map[string]*sql.Stmt // prepared on that connection
	// prepare, if set, prepares a statement missing from stmts on the
	// connection (a View's, see readConn.prepare).
	prepare func(q string) *sql.Stmt
	write   bool // a write transaction, possibly shared by several Updates
	mem     *memIndex

	// failed is the first write statement that failed. A method finds its
	// domain errors (EEXISTS, ENOTFOUND, EREFERENCED) before it writes, so
	// those leave the transaction as it was; any other failure of a write
	// may leave a method half-applied, so the whole Update fails with it,
	// even if fn returns nil (see Store.runFn).
	failed error

	// last is the last point read (one id) of a write transaction, until
	// the next statement that writes: Kind.Update and Kind.Delete read the
	// document again for its events right after fn read it.
	last *pointRead
	// points, in a View, are the point reads of the reader connection's
	// snapshot, kept across Views while it stays the same (see View).
	points map[pointKey][]*keyward.Doc
	// view, in a View, opens its transaction before the first statement.
	view *view
}

// ensure opens a View's transaction before its first statement.
func (t *tx) ensure() error {
	if t.view == nil {
		return nil
	}
	return t.view.begin()
}

// pointKey is what a point read's answer depends on.
type pointKey struct {
	kind, account, region, id string
	noRefs                    bool
	limit                     int
}

func pointKeyOf(q keyward.DocQuery) pointKey {
	return pointKey{q.Kind, q.Scope.Account, q.Scope.Region, q.ID, q.NoRefs, limit(q.Limit)}
}

// maxPoints bounds a reader connection's point reads; it starts over when
// full.
const maxPoints = 512

// pointRead is a ListDocs of one id and what it returned.
type pointRead struct {
	q    keyward.DocQuery
	docs []*keyward.Doc
}

// isPoint reports whether q reads one id, with nothing else to it.
func isPoint(q keyward.DocQuery) bool {
	return q.ID != "" && !q.AllScopes && q.AfterID == "" && len(q.Where) == 0
}

func samePoint(a, b keyward.DocQuery) bool {
	return a.Kind == b.Kind && a.Scope == b.Scope && a.ID == b.ID && a.NoRefs == b.NoRefs && limit(a.Limit) == limit(b.Limit)
}

// copyDocs returns copies of the documents, so that what a caller does
// to the ones it got cannot change what the next read returns.
func copyDocs(ds []*keyward.Doc) []*keyward.Doc {
	out := make([]*keyward.Doc, len(ds))
	for i, d := range ds {
		c := *d
		c.Body = slices.Clone(d.Body)
		c.Index = slices.Clone(d.Index)
		c.Refs = slices.Clone(d.Refs)
		c.Referrers = slices.Clone(d.Referrers)
		out[i] = &c
	}
	return out
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
	if t.prepare != nil {
		return t.prepare(q)
	}
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
	t.last = nil
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

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.q.QueryContext(ctx, q, args...)
}

func (t *tx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = t.context(ctx)
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.q.QueryRowContext(ctx, q, args...)
}

// allQueries lists the statements Open prepares: every one for the writer,
// the reads for the query_only readers.
func allQueries(write bool) []string {
	qs := []string{countDocsSQL, findUnsettledSQL, listByKeysSQL, seqSQL}
	for _, sh := range docQueryShapes() {
		qs = append(qs, listDocsQueries[sh])
	}
	if write {
		qs = append(qs,
			insertDocSQL, updateDocSQL, updateRefsSQL, deleteDocSQL, bumpSeqSQL,
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

// limit normalises "no limit" (0 or negative).
func limit(n int) int {
	if n <= 0 {
		return -1
	}
	return n
}
