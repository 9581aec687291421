package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyward"
	"keyward/storetest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	sqlite3 "modernc.org/sqlite/lib"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) keyward.Store {
		return mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

func mustOpen(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestOpen_Pragmas(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	check := func(pool string, fn func(q string) (string, error), pragma, want string) {
		t.Helper()
		got, err := fn("PRAGMA " + pragma)
		if err != nil {
			t.Fatalf("%s: PRAGMA %s: %v", pool, pragma, err)
		}
		if !strings.EqualFold(got, want) {
			t.Errorf("%s: PRAGMA %s = %q, want %q", pool, pragma, got, want)
		}
	}
	q := func(q string) (v string, err error) { return v, s.writer.QueryRowContext(t.Context(), q).Scan(&v) }
	check("writer", q, "journal_mode", "wal")
	check("writer", q, "synchronous", "2")
	check("writer", q, "foreign_keys", "1")
	check("writer", q, "busy_timeout", "5000")
	check("writer", q, "query_only", "0")
}

// TestUpdate_BeginImmediate checks that an Update holds the write lock from
// its start, before it writes anything, so it can never fail half-way
// upgrading a read lock to a write lock.
func TestUpdate_BeginImmediate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpen(t, path)
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	inside, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(t.Context(), func(tx keyward.Tx) error {
			close(inside)
			<-release
			return nil
		})
	}()
	<-inside
	_, err = other.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	if !isCode(err, sqlite3.SQLITE_BUSY) {
		t.Errorf("BEGIN IMMEDIATE beside an open Update: err = %v, want SQLITE_BUSY", err)
	}
	// A View runs beside the Update.
	if err := s.View(t.Context(), func(tx keyward.Tx) error {
		_, err := tx.CountUsers(t.Context(), storetest.S1)
		return err
	}); err != nil {
		t.Errorf("View beside an open Update: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func TestOpen_Migrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	migrations := func(s *Store) []string {
		t.Helper()
		rows, err := s.writer.QueryContext(t.Context(), `SELECT name FROM migrations ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				t.Fatal(err)
			}
			names = append(names, name)
		}
		return names
	}
	want, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil || len(want) == 0 {
		t.Fatalf("embedded migrations: %q, %v", want, err)
	}
	for i := range want {
		want[i] = filepath.Base(want[i])
	}

	s := mustOpen(t, path)
	if got := migrations(s); !slices.Equal(got, want) {
		t.Errorf("migrations after first Open = %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening applies nothing twice (a second CREATE TABLE would fail).
	for range 2 {
		s = mustOpen(t, path)
		if got := migrations(s); !slices.Equal(got, want) {
			t.Errorf("migrations after reopen = %q, want %q", got, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOpen_Concurrent opens one new file from several goroutines at once, as
// two processes starting together would: each migration runs once.
func TestOpen_Concurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := Open(t.Context(), path)
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
}

func TestStore_Reopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := mustOpen(t, path)
	u := storetest.NewUser(storetest.S1, "alice")
	g := storetest.NewUserGroup(storetest.S1, "g1", "alice")
	tags := []keyward.Tag{{Key: "k", Value: "v"}}
	r := keyward.ResourceRef{Type: keyward.ARNUser, ID: "alice"}
	if err := s.Update(t.Context(), func(tx keyward.Tx) error {
		if err := tx.CreateUser(t.Context(), u); err != nil {
			return err
		}
		if err := tx.CreateUserGroup(t.Context(), g); err != nil {
			return err
		}
		return tx.ReplaceTags(t.Context(), storetest.S1, r, tags)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(t.Context(), func(keyward.Tx) error { return nil }); err == nil {
		t.Error("Update on a closed store succeeded")
	}

	s = mustOpen(t, path)
	if err := s.View(t.Context(), func(tx keyward.Tx) error {
		gotU, err := tx.FindUserByID(t.Context(), storetest.S1, "alice")
		if err != nil {
			return err
		}
		wantU := u.Clone()
		wantU.GroupIDs = []string{"g1"}
		if d := cmp.Diff(wantU, gotU); d != "" {
			t.Errorf("user mismatch (-want +got):\n%s", d)
		}
		gotG, err := tx.FindUserGroupByID(t.Context(), storetest.S1, "g1")
		if err != nil {
			return err
		}
		if d := cmp.Diff(g, gotG, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("group mismatch (-want +got):\n%s", d)
		}
		gotTags, err := tx.FindTags(t.Context(), storetest.S1, r)
		if d := cmp.Diff(tags, gotTags); d != "" {
			t.Errorf("tags mismatch (-want +got):\n%s", d)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestStore_InternalErrors(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Update(ctx, func(tx keyward.Tx) error { return nil })
	if err == nil {
		t.Fatal("Update with a cancelled context succeeded")
	}
	if code := keyward.ErrorCode(err); code != keyward.EINTERNAL {
		t.Errorf("ErrorCode(%v) = %q, want %q", err, code, keyward.EINTERNAL)
	}
	if msg := keyward.ErrorMessage(err); strings.Contains(msg, "sqlite") {
		t.Errorf("ErrorMessage(%v) = %q leaks the internal error", err, msg)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	// The write connection is not lost to a failed Update.
	if err := s.Update(t.Context(), func(tx keyward.Tx) error {
		return tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "alice"))
	}); err != nil {
		t.Fatalf("Update after a failed one: %v", err)
	}
}

func TestUpdate_Panic(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	func() {
		defer func() { recover() }()
		s.Update(t.Context(), func(tx keyward.Tx) error {
			tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "alice"))
			panic("boom")
		})
	}()
	// The panicking Update rolled back and gave the write connection back.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Update(ctx, func(tx keyward.Tx) error {
		return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, "alice"))
	}); err != nil {
		t.Fatalf("Update after a panicking one: %v", err)
	}
}

func TestOpen_Path(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%chars")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "state.db")
	s := mustOpen(t, path)
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
	for _, bad := range []string{"", ":memory:", "file:x.db"} {
		if _, err := Open(t.Context(), bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// crashEnv names the database the child process of TestStore_CrashDurability
// writes to until it is killed.
const crashEnv = "KEYWARD_SQLITE_CRASH_DB"

// TestStore_CrashDurability runs a child process that commits users and
// prints each id once Update has returned nil, SIGKILLs it mid-stream, and
// checks that every acknowledged user is in the database.
func TestStore_CrashDurability(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(t, path)
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("needs SIGKILL")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStore_CrashDurability$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}

	const killAfter = 60
	var acked []string
	r := bufio.NewReader(stdout)
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	killed := false
	for {
		line, err := r.ReadString('\n')
		if err == io.EOF {
			break // a partial last line was never acknowledged
		} else if err != nil {
			t.Fatal(err)
		}
		if id, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "ack "); ok {
			acked = append(acked, id)
		}
		if len(acked) == killAfter && !killed {
			// Keep reading after the kill: acks already in the pipe count.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed, after %d acks: %v", len(acked), err)
	}
	t.Logf("child killed after %d acknowledged commits", len(acked))

	s := mustOpen(t, path)
	if err := s.View(t.Context(), func(tx keyward.Tx) error {
		for _, id := range acked {
			if _, err := tx.FindUserByID(t.Context(), storetest.S1, id); err != nil {
				t.Errorf("acknowledged user %s lost: %v", id, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var ok string
	if err := s.writer.QueryRowContext(t.Context(), `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check = %q, %v", ok, err)
	}
}

// crashChild commits forever from a few goroutines, printing "ack <id>"
// after each Update returned nil, until the parent kills the process.
func crashChild(t *testing.T, path string) {
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				err := s.Update(context.Background(), func(tx keyward.Tx) error {
					return tx.CreateUser(context.Background(), storetest.NewUser(storetest.S1, id))
				})
				if err != nil {
					fmt.Fprintf(os.Stderr, "update %s: %v\n", id, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %s\n", id) // unbuffered: one write(2)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// BenchmarkStore_CreateFindDelete measures the request mix of a CreateUser,
// a DescribeUsers by id and a DeleteUser: two durable commits and one read.
func BenchmarkStore_CreateFindDelete(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "state.db"))
	var seq atomic.Int64
	op := func(ctx context.Context) error {
		id := fmt.Sprintf("u%d", seq.Add(1))
		if err := s.Update(ctx, func(tx keyward.Tx) error {
			if n, err := tx.CountUsers(ctx, storetest.S1); err != nil || n > keyward.DefaultQuotas().Users {
				return err
			}
			return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, id))
		}); err != nil {
			return err
		}
		if err := s.View(ctx, func(tx keyward.Tx) error {
			us, err := tx.FindUsers(ctx, storetest.S1, keyward.UserFilter{ID: id})
			if err == nil && len(us) != 1 {
				err = fmt.Errorf("found %d users %s", len(us), id)
			}
			return err
		}); err != nil {
			return err
		}
		return s.Update(ctx, func(tx keyward.Tx) error { return tx.DeleteUser(ctx, storetest.S1, id) })
	}
	b.Run("Sequential", func(b *testing.B) {
		for b.Loop() {
			if err := op(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.SetParallelism(8) // 8 clients per CPU
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := op(context.Background()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func TestUpdate_Goexit(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Update(t.Context(), func(tx keyward.Tx) error {
			tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "alice"))
			runtime.Goexit() // as t.FailNow in a test's callback
			return nil
		})
	}()
	<-done
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Update(ctx, func(tx keyward.Tx) error {
		_, err := tx.FindUserByID(ctx, storetest.S1, "alice")
		if keyward.ErrorCode(err) != keyward.ENOTFOUND {
			t.Errorf("FindUserByID after an exited Update: %v, want ENOTFOUND", err)
		}
		return nil
	}); err != nil {
		t.Fatalf("Update after an exited one: %v", err)
	}
}

// blockUpdates holds the write connection with an Update until the returned
// function is called, so that the Updates started meanwhile queue up and
// then run as one batch.
func blockUpdates(t *testing.T, s *Store) (release func()) {
	inside, unblock := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Update(t.Context(), func(tx keyward.Tx) error {
			close(inside)
			<-unblock
			return tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "blocker"))
		})
	}()
	<-inside
	return func() {
		time.Sleep(100 * time.Millisecond) // let the Updates started meanwhile queue up
		close(unblock)
		if err := <-done; err != nil {
			t.Errorf("blocking Update: %v", err)
		}
	}
}

// TestUpdate_GroupCommit runs Updates that share one commit and checks that
// each keeps its own outcome: an error, a panic or a cancelled context
// undoes only that Update's writes.
func TestUpdate_GroupCommit(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	create := func(id string) func(keyward.Tx) error {
		return func(tx keyward.Tx) error { return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, id)) }
	}
	release := blockUpdates(t, s)

	var mu sync.Mutex
	got := map[string]any{}
	var wg sync.WaitGroup
	run := func(name string, ctx context.Context, fn func(keyward.Tx) error) {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					mu.Lock()
					got[name] = fmt.Sprint("panic: ", v)
					mu.Unlock()
				}
			}()
			err := s.Update(ctx, fn)
			mu.Lock()
			got[name] = keyward.ErrorCode(err)
			if errors.Is(err, errBoom) {
				got[name] = "boom"
			} else if errors.Is(err, context.Canceled) {
				got[name] = "canceled"
			}
			mu.Unlock()
		})
	}
	cancelled, cancel := context.WithCancel(ctx)
	var cancelledRan atomic.Bool
	run("ok1", ctx, create("ok1"))
	run("ok2", ctx, func(tx keyward.Tx) error {
		if err := create("ok2")(tx); err != nil {
			return err
		}
		return tx.ReplaceTags(ctx, storetest.S1, keyward.ResourceRef{Type: keyward.ARNUser, ID: "ok2"}, []keyward.Tag{{Key: "k", Value: "v"}})
	})
	run("exists", ctx, create("blocker"))
	run("fails", ctx, func(tx keyward.Tx) error {
		if err := create("fails")(tx); err != nil {
			return err
		}
		return errBoom
	})
	run("panics", ctx, func(tx keyward.Tx) error {
		create("panics")(tx)
		panic("boom")
	})
	run("cancelled", cancelled, func(tx keyward.Tx) error {
		cancelledRan.Store(true)
		return create("cancelled")(tx)
	})
	time.Sleep(50 * time.Millisecond)
	cancel()
	release()
	wg.Wait()

	want := map[string]any{
		"ok1": "", "ok2": "", "exists": keyward.EEXISTS, "fails": "boom",
		"panics": "panic: boom", "cancelled": "canceled",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("outcomes mismatch (-want +got):\n%s", d)
	}
	if cancelledRan.Load() {
		t.Error("the callback of a cancelled Update ran")
	}
	if n := s.batched.Load(); n < 2 {
		t.Errorf("%d Updates ran in a shared transaction, want several", n)
	}
	if err := s.View(ctx, func(tx keyward.Tx) error {
		us, err := tx.FindUsers(ctx, storetest.S1, keyward.UserFilter{})
		var ids []string
		for _, u := range us {
			ids = append(ids, u.ID)
		}
		if d := cmp.Diff([]string{"blocker", "ok1", "ok2"}, ids); d != "" {
			t.Errorf("stored users mismatch (-want +got):\n%s", d)
		}
		tags, _ := tx.FindTags(ctx, storetest.S1, keyward.ResourceRef{Type: keyward.ARNUser, ID: "ok2"})
		if len(tags) != 1 {
			t.Errorf("ok2 tags = %v, want one", tags)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestUpdate_GroupCommitFails makes a shared commit fail and checks that
// its Updates then run again one by one, so none is lost.
func TestUpdate_GroupCommitFails(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	var failed atomic.Bool
	s.failBatch = func() bool { return failed.CompareAndSwap(false, true) }
	release := blockUpdates(t, s)

	const n = 5
	var runs [n]atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := s.Update(ctx, func(tx keyward.Tx) error {
				runs[i].Add(1)
				return tx.CreateUser(ctx, storetest.NewUser(storetest.S1, fmt.Sprintf("u%d", i)))
			})
			if err != nil {
				t.Errorf("Update %d: %v", i, err)
			}
		})
	}
	release()
	wg.Wait()
	if !failed.Load() {
		t.Fatal("no shared commit was tried")
	}
	reran := 0
	for i := range n {
		if runs[i].Load() == 2 {
			reran++
		}
		if !findExists(t, s, fmt.Sprintf("u%d", i)) {
			t.Errorf("u%d lost after a failed shared commit", i)
		}
	}
	if reran < 2 {
		t.Errorf("%d callbacks ran again after the failed shared commit, want several", reran)
	}
}

func findExists(t *testing.T, s *Store, id string) bool {
	t.Helper()
	var found bool
	if err := s.View(t.Context(), func(tx keyward.Tx) error {
		_, err := tx.FindUserByID(t.Context(), storetest.S1, id)
		found = err == nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

var errBoom = errors.New("boom")

func TestOpen_RelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	s := mustOpen(t, "state:1.db")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("state:1.db"); err != nil {
		t.Errorf("database not in the working directory: %v", err)
	}
}

// TestOpen_MigrateFrom0001 opens a database written before 0002_caches
// existed: the migration keeps its users and groups (with no LeavingGroups)
// and caches can then be attached to them.
func TestOpen_MigrateFrom0001(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	initSQL, err := fs.ReadFile(migrationFS, "migration/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	u := storetest.NewUser(storetest.S1, "alice")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`, nil},
		{string(initSQL), nil},
		{`INSERT INTO migrations (name, applied_at) VALUES ('0001_init.sql', ?)`, []any{formatTime(time.Now())}},
		{`INSERT INTO users (account, region, id, name, engine, access_string, auth, password_hashes,
			min_engine_version, status, status_since, generation, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{u.Scope.Account, u.Scope.Region, u.ID, u.Name,
			string(u.Engine), u.AccessString, string(u.Auth), encodeList(u.PasswordHashes), u.MinimumEngineVersion,
			string(u.Status), formatTime(u.StatusSince), u.Generation, formatTime(u.CreatedAt)}},
		{`INSERT INTO user_groups (account, region, id, engine, status, status_since, generation, created_at,
			min_engine_version) VALUES (?, ?, 'g1', 'redis', 'active', ?, 1, ?, '6.0')`,
			[]any{u.Scope.Account, u.Scope.Region, formatTime(u.StatusSince), formatTime(u.CreatedAt)}},
	} {
		if _, err := db.ExecContext(t.Context(), q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := mustOpen(t, path)
	c := storetest.NewCache(storetest.S1, keyward.KindServerless, "c1", "g1")
	if err := s.Update(t.Context(), func(tx keyward.Tx) error { return tx.CreateCache(t.Context(), c) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path)
	if err := s.View(t.Context(), func(tx keyward.Tx) error {
		gotU, err := tx.FindUserByID(t.Context(), storetest.S1, "alice")
		if err != nil {
			return err
		}
		if d := cmp.Diff(u, gotU); d != "" {
			t.Errorf("user mismatch (-want +got):\n%s", d)
		}
		gotC, err := tx.FindCacheByID(t.Context(), storetest.S1, keyward.KindServerless, "c1")
		if err != nil {
			return err
		}
		if d := cmp.Diff(c, gotC); d != "" {
			t.Errorf("cache mismatch (-want +got):\n%s", d)
		}
		g, err := tx.FindUserGroupByID(t.Context(), storetest.S1, "g1")
		if err != nil {
			return err
		}
		if d := cmp.Diff([]string{"c1"}, g.ServerlessCaches); d != "" {
			t.Errorf("g1 ServerlessCaches mismatch (-want +got):\n%s", d)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// encodeList writes a list as 0001's columns held it: a JSON array.
func encodeList(ss []string) string {
	if len(ss) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(ss)
	return string(b)
}
