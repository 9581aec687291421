package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"keyward"
	"keyward/internal/pgtest"
	"keyward/storetest"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		return mustOpen(t, pgtest.NewDatabase(t))
	})
}

func mustOpen(tb testing.TB, dsn string) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// connect returns a plain connection to dsn, for looking behind the store.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func migrationNames(t *testing.T) []string {
	t.Helper()
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: %q, %v", names, err)
	}
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, "migration/")
	}
	return names
}

func appliedMigrations(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, _ := conn.Query(t.Context(), `SELECT name FROM keyward_migrations ORDER BY name`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestOpen_Migrations(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s := mustOpen(t, dsn)
	conn := connect(t, dsn)
	want := migrationNames(t)
	if d := cmp.Diff(want, appliedMigrations(t, conn)); d != "" {
		t.Errorf("applied migrations mismatch (-want +got):\n%s", d)
	}
	var before time.Time
	if err := conn.QueryRow(t.Context(), `SELECT max(applied_at) FROM keyward_migrations`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// Reopening applies nothing.
	mustOpen(t, dsn).Close()
	var after time.Time
	if err := conn.QueryRow(t.Context(), `SELECT max(applied_at) FROM keyward_migrations`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if !after.Equal(before) {
		t.Errorf("reopening re-applied migrations: applied_at %v, then %v", before, after)
	}

	// A new migration is applied once, after the others; a failing one
	// is rolled back whole and not recorded.
	s = mustOpen(t, dsn)
	fsys := fstest.MapFS{}
	for _, n := range want {
		fsys["migration/"+n] = &fstest.MapFile{Data: []byte("this would fail if run again")}
	}
	fsys["migration/9000_next.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE next1 (x int); CREATE TABLE next2 (x int);`)}
	for range 2 {
		if err := s.migrate(t.Context(), fsys); err != nil {
			t.Fatalf("migrate: %v", err)
		}
	}
	if d := cmp.Diff(append(want, "9000_next.sql"), appliedMigrations(t, conn)); d != "" {
		t.Errorf("applied migrations mismatch (-want +got):\n%s", d)
	}
	fsys["migration/9001_bad.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE bad1 (x int); SELECT no_such_column FROM bad1;`)}
	if err := s.migrate(t.Context(), fsys); err == nil || !strings.Contains(err.Error(), "9001_bad.sql") {
		t.Errorf("migrate with a failing migration = %v, want an error naming it", err)
	}
	if n := queryInt(t, conn, `SELECT count(*) FROM pg_tables WHERE tablename = 'bad1'`); n != 0 {
		t.Error("a failed migration left a table behind")
	}
	if d := cmp.Diff(append(want, "9000_next.sql"), appliedMigrations(t, conn)); d != "" {
		t.Errorf("applied migrations after a failure mismatch (-want +got):\n%s", d)
	}
}

// TestOpen_Concurrent opens a fresh database from many goroutines at once,
// as replicas starting together would: all succeed, and each migration is
// applied once.
func TestOpen_Concurrent(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	const n = 8
	var wg sync.WaitGroup
	start := make(chan struct{})
	stores := make([]*Store, n)
	for i := range n {
		wg.Go(func() {
			<-start
			s, err := Open(t.Context(), dsn)
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				return
			}
			stores[i] = s
		})
	}
	close(start)
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			defer s.Close()
		}
	}
	conn := connect(t, dsn)
	if d := cmp.Diff(migrationNames(t), appliedMigrations(t, conn)); d != "" {
		t.Errorf("applied migrations mismatch (-want +got):\n%s", d)
	}
	// Every store works on the one schema.
	for i, s := range stores {
		if s == nil {
			continue
		}
		if err := s.Update(t.Context(), func(tx keyward.Tx) error {
			return tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, fmt.Sprintf("u%d", i)))
		}); err != nil {
			t.Errorf("store %d: CreateUser: %v", i, err)
		}
	}
	if got := queryInt(t, conn, `SELECT count(*) FROM docs WHERE kind = 'user'`); got != n {
		t.Errorf("%d users, want %d", got, n)
	}
}

func TestOpen_BadDSN(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"postgres://%zz", "host=/nonexistent/dir port=1 user=x dbname=y connect_timeout=2"} {
		if s, err := Open(t.Context(), dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

// barrier lets n goroutines wait until all have arrived, once: the
// callbacks that use it meet only on their first run.
type barrier struct {
	wg   sync.WaitGroup
	once []sync.Once
}

func newBarrier(n int) *barrier {
	b := &barrier{once: make([]sync.Once, n)}
	b.wg.Add(n)
	return b
}

// arrive marks party i as arrived (the first time only) and waits for all.
func (b *barrier) arrive(i int) {
	first := false
	b.once[i].Do(func() { first = true; b.wg.Done() })
	if first {
		b.wg.Wait()
	}
}

// TestUpdate_RetryLostUpdate runs two Updates that both read a group, meet
// so that each has read before either writes, and then write the group
// back with one member added: without SERIALIZABLE and retries, one
// addition would be lost. Both succeed, and at least one ran again.
func TestUpdate_RetryLostUpdate(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	if err := s.Update(ctx, func(tx keyward.Tx) error {
		for _, id := range []string{"default", "alice", "bob"} {
			if err := tx.CreateUser(ctx, storetest.NewUser(storetest.S1, id)); err != nil {
				return err
			}
		}
		return tx.CreateUserGroup(ctx, storetest.NewUserGroup(storetest.S1, "g1", "default"))
	}); err != nil {
		t.Fatal(err)
	}
	retries := s.retries.Load()
	b := newBarrier(2)
	var wg sync.WaitGroup
	for i, id := range []string{"alice", "bob"} {
		wg.Go(func() {
			err := s.Update(ctx, func(tx keyward.Tx) error {
				g, err := tx.FindUserGroupByID(ctx, storetest.S1, "g1")
				if err != nil {
					return err
				}
				b.arrive(i)
				g.UserIDs = append(g.UserIDs, id)
				g.Generation++
				return tx.UpdateUserGroup(ctx, g)
			})
			if err != nil {
				t.Errorf("add %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	if got := s.retries.Load() - retries; got < 1 {
		t.Errorf("%d retries, want at least 1", got)
	}
	var g *keyward.UserGroup
	if err := s.View(ctx, func(tx keyward.Tx) (err error) {
		g, err = tx.FindUserGroupByID(ctx, storetest.S1, "g1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"alice", "bob", "default"}, g.UserIDs); d != "" {
		t.Errorf("members mismatch (-want +got):\n%s", d)
	}
	if g.Generation != 3 {
		t.Errorf("Generation = %d, want 3", g.Generation)
	}
}

// TestUpdate_WriteSkew runs two Updates that enforce a quota of one user:
// each counts the users, meets the other, and creates a user if the count
// allows. The two read and write different rows, which REPEATABLE READ
// would let both commit; SERIALIZABLE makes one fail with 40001 at commit
// or earlier, and its retry sees the other's user and keeps the quota.
func TestUpdate_WriteSkew(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	b := newBarrier(2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			errs[i] = s.Update(ctx, func(tx keyward.Tx) error {
				n, err := tx.CountUsers(ctx, storetest.S1)
				if err != nil {
					return err
				}
				b.arrive(i)
				if n >= 1 {
					return keyward.Errorf(keyward.EQUOTA, keyward.ResourceUser, "quota")
				}
				return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, fmt.Sprintf("u%d", i)))
			})
		})
	}
	wg.Wait()
	codes := []string{keyward.ErrorCode(errs[0]), keyward.ErrorCode(errs[1])}
	if !(codes[0] == "" && codes[1] == keyward.EQUOTA || codes[0] == keyward.EQUOTA && codes[1] == "") {
		t.Errorf("errors %v, want one nil and one EQUOTA", errs)
	}
	if got := s.retries.Load(); got < 1 {
		t.Errorf("%d retries, want at least 1", got)
	}
	var n int
	if err := s.View(ctx, func(tx keyward.Tx) (err error) {
		n, err = tx.CountUsers(ctx, storetest.S1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d users, want 1", n)
	}
}

// TestUpdate_HotSpot runs many concurrent Updates that each count a
// scope's users for the quota and create one: every two of them conflict
// (a write skew), the case where optimistic retries alone can starve. All
// succeed, none runs more than aloneAfter+1 times, and the quota holds.
func TestUpdate_HotSpot(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	const workers, each, quota = 8, 25, 150
	var created, quotaErrs, seq atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				id := fmt.Sprintf("u%d", seq.Add(1))
				runs := 0
				err := s.Update(ctx, func(tx keyward.Tx) error {
					runs++
					n, err := tx.CountUsers(ctx, storetest.S1)
					if err != nil {
						return err
					} else if n >= quota {
						return keyward.Errorf(keyward.EQUOTA, keyward.ResourceUser, "quota")
					}
					return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, id))
				})
				switch keyward.ErrorCode(err) {
				case "":
					created.Add(1)
				case keyward.EQUOTA:
					quotaErrs.Add(1)
				default:
					t.Errorf("create %s: %v", id, err)
				}
				if runs > aloneAfter+1 {
					t.Errorf("create %s: fn ran %d times, want at most %d", id, runs, aloneAfter+1)
				}
			}
		})
	}
	wg.Wait()
	if created.Load() != quota || quotaErrs.Load() != workers*each-quota {
		t.Errorf("%d created and %d over quota, want %d and %d", created.Load(), quotaErrs.Load(), quota, workers*each-quota)
	}
	t.Logf("%d Updates: %d runs, %d retries, %d alone", workers*each, s.attempts.Load(), s.retries.Load(), s.alone.Load())
}

// TestUpdate_AloneExcludesOthers checks the run alone's locking across
// stores (replicas): it waits for an Update in progress, and an Update
// that arrives meanwhile waits for it.
func TestUpdate_AloneExcludesOthers(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s1, s2 := mustOpen(t, dsn), mustOpen(t, dsn)
	ctx := t.Context()
	var order []string
	var mu sync.Mutex
	ran := func(name string) {
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
	}
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s1.Update(ctx, func(tx keyward.Tx) error {
			ran("first")
			close(started)
			<-release
			return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, "first"))
		}); err != nil {
			t.Errorf("first: %v", err)
		}
	})
	<-started
	wg.Go(func() {
		if _, err := s2.update(ctx, func(tx keyward.Tx) error {
			ran("alone")
			return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, "alone"))
		}, true); err != nil {
			t.Errorf("alone: %v", err)
		}
	})
	time.Sleep(200 * time.Millisecond)
	wg.Go(func() {
		if err := s2.Update(ctx, func(tx keyward.Tx) error {
			ran("later")
			return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, "later"))
		}); err != nil {
			t.Errorf("later: %v", err)
		}
	})
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	if d := cmp.Diff([]string{"first"}, order); d != "" {
		t.Errorf("runs while the first Update is open mismatch (-want +got):\n%s", d)
	}
	mu.Unlock()
	close(release)
	wg.Wait()
	if d := cmp.Diff([]string{"first", "alone", "later"}, order); d != "" {
		t.Errorf("order of runs mismatch (-want +got):\n%s", d)
	}
}

// TestUpdate_RetryDeadlock makes two Updates update two users in opposite
// orders; PostgreSQL breaks the deadlock (40P01) or the conflict (40001) by
// failing one, which runs again and succeeds.
func TestUpdate_RetryDeadlock(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	if err := s.Update(ctx, func(tx keyward.Tx) error {
		for _, id := range []string{"a", "b"} {
			if err := tx.CreateUser(ctx, storetest.NewUser(storetest.S1, id)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	b := newBarrier(2)
	var wg sync.WaitGroup
	for i, order := range [][2]string{{"a", "b"}, {"b", "a"}} {
		wg.Go(func() {
			err := s.Update(ctx, func(tx keyward.Tx) error {
				for j, id := range order {
					u := storetest.NewUser(storetest.S1, id)
					u.Generation = int64(10 + i)
					if err := tx.UpdateUser(ctx, u); err != nil {
						return err
					}
					if j == 0 {
						b.arrive(i)
					}
				}
				return nil
			})
			if err != nil {
				t.Errorf("update %v: %v", order, err)
			}
		})
	}
	wg.Wait()
	if got := s.retries.Load(); got < 1 {
		t.Errorf("%d retries, want at least 1", got)
	}
}

// TestUpdate_GivesUp checks that Update stops retrying after maxAttempts
// runs and returns ECONFLICT wrapping the last failure.
func TestUpdate_GivesUp(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	var runs int
	serialization := &pgconn.PgError{Code: codeSerializationFailure, Message: "could not serialize access"}
	err := s.Update(t.Context(), func(tx keyward.Tx) error {
		runs++
		return fmt.Errorf("wrapped: %w", serialization)
	})
	if runs != maxAttempts {
		t.Errorf("fn ran %d times, want %d", runs, maxAttempts)
	}
	if code := keyward.ErrorCode(err); code != keyward.ECONFLICT {
		t.Errorf("ErrorCode(%v) = %q, want %q", err, code, keyward.ECONFLICT)
	}
	if !errors.Is(err, serialization) {
		t.Errorf("error %v does not wrap the serialization failure", err)
	}

	// A conflict reported to fn counts even if fn hides it.
	runs = 0
	err = s.Update(t.Context(), func(ktx keyward.Tx) error {
		runs++
		if runs == 1 {
			ktx.Docs().(*tx).observe(serialization)
			return errors.New("something else")
		}
		return nil
	})
	if err != nil || runs != 2 {
		t.Errorf("Update = %v after %d runs, want nil after 2", err, runs)
	}
}

func TestUpdate_DomainErrorKeepsTransaction(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	ctx := t.Context()
	sc := storetest.S1
	err := s.Update(ctx, func(tx keyward.Tx) error {
		if err := tx.CreateUser(ctx, storetest.NewUser(sc, "default")); err != nil {
			return err
		}
		// Each of these fails with a domain error and changes nothing; the
		// transaction goes on and commits.
		for _, op := range []struct {
			name string
			code string
			run  func() error
		}{
			{"CreateUser twice", keyward.EEXISTS, func() error { return tx.CreateUser(ctx, storetest.NewUser(sc, "default")) }},
			{"UpdateUser absent", keyward.ENOTFOUND, func() error { return tx.UpdateUser(ctx, storetest.NewUser(sc, "nobody")) }},
			{"CreateUserGroup unknown member", keyward.ENOTFOUND, func() error {
				return tx.CreateUserGroup(ctx, storetest.NewUserGroup(sc, "g1", "default", "nobody"))
			}},
			{"CreateCache unknown group", keyward.ENOTFOUND, func() error {
				return tx.CreateCache(ctx, storetest.NewCache(sc, keyward.KindReplicationGroup, "rg1", "nogroup"))
			}},
			{"DeleteCache absent", keyward.ENOTFOUND, func() error { return tx.DeleteCache(ctx, sc, keyward.KindServerless, "x") }},
		} {
			if err := op.run(); keyward.ErrorCode(err) != op.code {
				t.Errorf("%s = %v, want %s", op.name, err, op.code)
			}
		}
		return tx.CreateUser(ctx, storetest.NewUser(sc, "alice"))
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.View(ctx, func(tx keyward.Tx) error {
		us, err := tx.FindUsers(ctx, sc, keyward.UserFilter{})
		if err != nil {
			return err
		}
		if len(us) != 2 {
			t.Errorf("%d users, want default and alice", len(us))
		}
		gs, err := tx.FindUserGroups(ctx, sc, keyward.UserGroupFilter{})
		if len(gs) != 0 {
			t.Errorf("groups %v stored by a failed CreateUserGroup", gs)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestStore_InternalErrors(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, run := range map[string]func(context.Context, func(keyward.Tx) error) error{"Update": s.Update, "View": s.View} {
		err := run(ctx, func(tx keyward.Tx) error { return nil })
		if err == nil {
			t.Fatalf("%s with a cancelled context succeeded", name)
		}
		if code := keyward.ErrorCode(err); code != keyward.EINTERNAL {
			t.Errorf("%s: ErrorCode(%v) = %q, want %q", name, err, code, keyward.EINTERNAL)
		}
		if msg := keyward.ErrorMessage(err); strings.Contains(msg, "postgres") {
			t.Errorf("%s: ErrorMessage(%v) = %q leaks the internal error", name, err, msg)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v does not wrap context.Canceled", name, err)
		}
	}

	// A statement failing inside fn: wrapped, EINTERNAL, not retried.
	runs := 0
	err := s.View(t.Context(), func(tx keyward.Tx) error {
		runs++
		return tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "alice"))
	})
	if code := keyward.ErrorCode(err); code != keyward.EINTERNAL || !strings.Contains(err.Error(), "postgres: insert user") {
		t.Errorf("write in View = %v (%q), want a wrapped EINTERNAL", err, code)
	}

	if runs != 1 {
		t.Errorf("fn ran %d times, want once: internal errors are not retried", runs)
	}

	// The pool still works, and Close stops further use.
	if err := s.Update(t.Context(), func(tx keyward.Tx) error {
		return tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "alice"))
	}); err != nil {
		t.Fatalf("Update after failed ones: %v", err)
	}
	s.Close()
	s.Close()
	if err := s.View(t.Context(), func(keyward.Tx) error { return nil }); err == nil {
		t.Error("View after Close succeeded")
	}
}

func TestUpdate_Panic(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	for range 10 { // more than the pool has connections
		func() {
			defer func() { recover() }()
			s.Update(t.Context(), func(tx keyward.Tx) error {
				tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "alice"))
				panic("boom")
			})
		}()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Update(ctx, func(tx keyward.Tx) error {
		return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, "alice"))
	}); err != nil {
		t.Fatalf("Update after panicking ones: %v", err)
	}
}
func TestObserve(t *testing.T) {
	other := &pgconn.PgError{Code: "42P01"}
	// observe counts the violations as conflicts: a new run of fn sees
	// the concurrent change.
	for _, code := range []string{codeSerializationFailure, codeDeadlockDetected, codeUniqueViolation, codeForeignKeyViolation} {
		var t2 tx
		t2.observe(fmt.Errorf("x: %w", &pgconn.PgError{Code: code}))
		if t2.conflict == nil {
			t.Errorf("observe(%s) recorded no conflict", code)
		}
	}
	var t3 tx
	if t3.observe(other); t3.conflict != nil {
		t.Errorf("observe(42P01) recorded a conflict")
	}
}

// BenchmarkStore_CreateFindDelete measures the request mix of a CreateUser
// (with the quota count the api does), a DescribeUsers by id and a
// DeleteUser: two commits and one read, as sqlite's benchmark does. In
// Parallel every client works in one scope, so every two creations
// conflict on the quota count (a write skew SERIALIZABLE forbids) and
// retry; in ParallelScopes each client has a scope (an account) of its
// own, as separate tenants would.
func BenchmarkStore_CreateFindDelete(b *testing.B) {
	s := mustOpen(b, pgtest.NewDatabase(b))
	var seq atomic.Int64
	op := func(ctx context.Context, sc keyward.Scope) error {
		id := fmt.Sprintf("u%d", seq.Add(1))
		if err := s.Update(ctx, func(tx keyward.Tx) error {
			if n, err := tx.CountUsers(ctx, sc); err != nil || n > keyward.DefaultQuotas().Users {
				return err
			}
			return tx.CreateUser(ctx, storetest.NewUser(sc, id))
		}); err != nil {
			return err
		}
		if err := s.View(ctx, func(tx keyward.Tx) error {
			us, err := tx.FindUsers(ctx, sc, keyward.UserFilter{ID: id})
			if err == nil && len(us) != 1 {
				err = fmt.Errorf("found %d users %s", len(us), id)
			}
			return err
		}); err != nil {
			return err
		}
		return s.Update(ctx, func(tx keyward.Tx) error { return tx.DeleteUser(ctx, sc, id) })
	}
	run := func(b *testing.B, parallel, ownScope bool) {
		attempts, retries, alone := s.attempts.Load(), s.retries.Load(), s.alone.Load()
		if !parallel {
			for b.Loop() {
				if err := op(b.Context(), storetest.S1); err != nil {
					b.Fatal(err)
				}
			}
		} else {
			var clients atomic.Int64
			b.SetParallelism(8) // 8 clients per CPU
			b.RunParallel(func(pb *testing.PB) {
				sc := storetest.S1
				if ownScope {
					sc.Account = fmt.Sprintf("%012d", clients.Add(1))
				}
				for pb.Next() {
					if err := op(context.Background(), sc); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		n := float64(b.N)
		b.ReportMetric(float64(s.attempts.Load()-attempts)/n, "runs/op")
		b.ReportMetric(float64(s.retries.Load()-retries)/n, "retries/op")
		b.ReportMetric(float64(s.alone.Load()-alone)/n, "alone/op")
	}
	b.Run("Sequential", func(b *testing.B) { run(b, false, false) })
	b.Run("Parallel", func(b *testing.B) { run(b, true, false) })
	b.Run("ParallelScopes", func(b *testing.B) { run(b, true, true) })
}
