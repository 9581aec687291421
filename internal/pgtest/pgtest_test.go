package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func query(t *testing.T, dsn, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("connect %q: %v", dsn, err)
	}
	defer conn.Close(context.Background())
	var s string
	if err := conn.QueryRow(t.Context(), sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestNew(t *testing.T) {
	t.Parallel()
	dsn := New(t)
	if got := query(t, dsn, `SELECT current_database()`); os.Getenv(EnvDSN) == "" && got != "postgres" {
		t.Errorf("current_database() = %q, want postgres", got)
	}
	// Servers of their own: a second New is another server.
	if os.Getenv(EnvDSN) == "" {
		other := New(t)
		if other == dsn {
			t.Errorf("two New calls returned the same DSN %q", dsn)
		}
		query(t, other, `SELECT 1::text`)
	}
}

func TestNewDatabase(t *testing.T) {
	t.Parallel()
	a, b := NewDatabase(t), NewDatabase(t)
	dbA, dbB := query(t, a, `SELECT current_database()`), query(t, b, `SELECT current_database()`)
	if dbA == dbB {
		t.Fatalf("two NewDatabase calls gave the same database %q", dbA)
	}
	// Both on the one shared server.
	if srvA, srvB := query(t, a, `SELECT current_setting('data_directory')`), query(t, b, `SELECT current_setting('data_directory')`); srvA != srvB {
		t.Errorf("databases on different servers: %q and %q", srvA, srvB)
	}
	// An empty database of its own: a table created in one is not in the other.
	conn, err := pgx.Connect(t.Context(), a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `CREATE TABLE t (x int)`); err != nil {
		t.Fatal(err)
	}
	if got := query(t, b, `SELECT count(*)::text FROM pg_tables WHERE tablename = 't'`); got != "0" {
		t.Errorf("table created in %s is visible in %s", dbA, dbB)
	}
}

func TestNewDatabase_DroppedOnCleanup(t *testing.T) {
	t.Parallel()
	var name, admin string
	t.Run("inner", func(t *testing.T) {
		dsn := NewDatabase(t)
		name = query(t, dsn, `SELECT current_database()`)
		var err error
		if admin, err = withDatabase(dsn, "postgres"); err != nil {
			t.Fatal(err)
		}
		// A session left open must not stop the drop.
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn
	})
	if os.Getenv(EnvDSN) != "" {
		return // the maintenance database may not be "postgres"
	}
	if got := query(t, admin, `SELECT count(*)::text FROM pg_database WHERE datname = '`+name+`'`); got != "0" {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"host=/tmp/x port=5432 user=postgres dbname=postgres", "host=/tmp/x port=5432 user=postgres dbname=postgres dbname=db1"},
		{"postgres://u:p@h:5/old?sslmode=disable", "postgres://u:p@h:5/db1?sslmode=disable"},
		{"postgresql://h/", "postgresql://h/db1"},
	} {
		got, err := withDatabase(c.dsn, "db1")
		if err != nil || got != c.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", c.dsn, got, err, c.want)
		}
	}
}

func TestQuote(t *testing.T) {
	if got, want := quote(`/tmp/a b'c\d`), `'/tmp/a b\'c\\d'`; got != want {
		t.Errorf("quote = %s, want %s", got, want)
	}
}

// recorder is a testing.TB that records Skipf and Fatalf instead of
// ending the test.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestMissing(t *testing.T) {
	err := errors.New("initdb not found")
	t.Setenv(EnvRequire, "")
	r := &recorder{TB: t}
	missing(r, err)
	if r.failed != "" || !strings.Contains(r.skipped, "initdb not found") || !strings.Contains(r.skipped, "apt-get install postgresql") {
		t.Errorf("without %s: skipped %q, failed %q; want a skip saying how to install", EnvRequire, r.skipped, r.failed)
	}
	t.Setenv(EnvRequire, "1")
	r = &recorder{TB: t}
	missing(r, err)
	if r.skipped != "" || !strings.Contains(r.failed, "initdb not found") {
		t.Errorf("with %s=1: skipped %q, failed %q; want a failure", EnvRequire, r.skipped, r.failed)
	}
}

// childEnv makes TestWatchdog's child process start a server and wait.
const childEnv = "KEYWARD_PGTEST_CHILD"

// TestWatchdog starts a child process that starts the shared server and
// prints its directory, SIGKILLs it, and checks that the watchdog stops the
// server and removes the directory.
func TestWatchdog(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		NewDatabase(t)
		shared.Lock()
		fmt.Printf("dir=%s\n", shared.srv.dir)
		shared.Unlock()
		time.Sleep(time.Minute)
		return
	}
	if os.Getenv(EnvDSN) != "" {
		t.Skipf("%s is set: no server is started", EnvDSN)
	}
	findBinaries(t)
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchdog$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var dir string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "dir="); ok {
			dir = d
			break
		}
	}
	if dir == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child printed no server directory: %v", sc.Err())
	}
	socket := filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", port))
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("server socket: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still exists 20s after its test process died", dir)
		}
	}
}
