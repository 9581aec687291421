package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"keyward"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var _ keyward.Tx = (*tx)(nil)

// tx is a keyward.Tx over one transaction: a View's pgx.Tx, or the
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

// violation maps a unique violation to exists and a foreign-key violation
// to notFound, called with the offending key's last value (the missing id),
// keeping err as the internal cause. Other errors are returned as they are.
func violation(err error, exists *keyward.Error, notFound func(id string) *keyward.Error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	var e *keyward.Error
	switch {
	case pe.Code == codeUniqueViolation && exists != nil:
		e = exists
	case pe.Code == codeForeignKeyViolation && notFound != nil:
		e = notFound(lastKeyValue(pe.Detail))
	default:
		return err
	}
	e.Err = err
	return e
}

// lastKeyValue returns the last value of the key in a constraint violation's
// detail, such as "bob" in `Key (account, region, user_id)=(1, us-east-1,
// bob) is not present in table "users".`, or "" if it has no such key. Ids
// hold no commas or parentheses.
func lastKeyValue(detail string) string {
	_, vals, ok := strings.Cut(detail, ")=(")
	if !ok {
		return ""
	}
	vals, _, ok = strings.Cut(vals, ")")
	if !ok {
		return ""
	}
	return strings.TrimSpace(vals[strings.LastIndex(vals, ",")+1:])
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

// nanoTime stores a time.Time as BIGINT nanoseconds since the Unix epoch,
// since timestamptz keeps only microseconds, and Go's zero time as NULL,
// since no int64 of nanoseconds reaches year 1. Times read back are in UTC.
// Other times outside the years 1678 to 2262 cannot be stored.
type nanoTime time.Time

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// Value implements driver.Valuer, which pgx uses to encode arguments.
func (n nanoTime) Value() (driver.Value, error) {
	t := time.Time(n)
	if t.IsZero() {
		return nil, nil
	}
	if t.Before(minNanoTime) || t.After(maxNanoTime) {
		return nil, fmt.Errorf("time %v out of the range that int64 nanoseconds hold", t)
	}
	return t.UnixNano(), nil
}

// Scan implements sql.Scanner, which pgx uses to decode results.
func (n *nanoTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*n = nanoTime{}
	case int64:
		*n = nanoTime(time.Unix(0, v).UTC())
	default:
		return fmt.Errorf("scan %T into a time", src)
	}
	return nil
}

// list returns ss as a value for a NOT NULL text[] column: pgx sends a nil
// slice as NULL.
func list(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// ids returns the ids sorted and without duplicates, never nil.
func ids(ss []string) []string {
	return list(slices.Compact(slices.Sorted(slices.Values(ss))))
}

// nilIfEmpty returns nil for an empty list read back, as package sqlite
// does, so that both stores return the same values.
func nilIfEmpty(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	return ss
}
