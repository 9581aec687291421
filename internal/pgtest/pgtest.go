// Package pgtest gives tests a real, throwaway PostgreSQL database.
//
// New starts a server of the test's own; NewDatabase creates a fresh
// database on a server shared by the whole test process, started at first
// use, which is much cheaper when many tests need isolation (CREATE DATABASE
// takes milliseconds, initdb a second or more). Both return a DSN in
// keyword/value form ("host=/tmp/... port=5432 user=postgres dbname=...").
//
// Servers are started from the initdb, pg_ctl and postgres binaries found
// on PATH or under /usr/lib/postgresql/*/bin (newest first) and listen only
// on a unix socket inside their own directory, so concurrent test processes
// never compete for a port. They run with fsync off and minimal WAL: they
// are thrown away. New's server lives in the test's TempDir; the shared
// one in /dev/shm when it can (tmpfs: creating a database there takes a
// few milliseconds, rather than a hundred or more on a virtual disk), else
// in the system's temporary directory.
//
// Running as root. initdb and postgres refuse to run as root, and tests run
// as root in CI. So when the effective user is root, every PostgreSQL
// process runs as an unprivileged account, "postgres" if it exists and
// otherwise "nobody", through exec.Cmd's SysProcAttr.Credential (no
// runuser or su needed), and the server's directory is chowned to it.
// As any other user they simply run as that user.
//
// Cleanup. A server started by New is stopped in t.Cleanup. The shared
// server lives as long as the test process. For both, a small watchdog
// shell, in its own process group, reads a pipe whose write end only the test
// process holds: when the process exits, however it exits (even SIGKILL),
// the pipe closes, and the watchdog stops the server and removes its
// directory. So no server outlives its tests.
//
// KEYWARD_TEST_POSTGRES. If set, it is the DSN of an existing server on
// which the tests may CREATE DATABASE; New and NewDatabase then both return
// a fresh database on it, dropped in t.Cleanup, and start nothing.
//
// Missing binaries skip the test with a message saying how to install them,
// unless KEYWARD_REQUIRE_INTEGRATION=1 (set by scripts/test.sh and CI), in
// which case the test fails, so that a run cannot pass by skipping.
package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable holding the DSN of an existing server to use
// instead of starting one.
const EnvDSN = "KEYWARD_TEST_POSTGRES"

// EnvRequire names the variable that turns a skip for missing binaries into
// a failure when set to "1".
const EnvRequire = "KEYWARD_REQUIRE_INTEGRATION"

// port is the port every server listens on. Servers listen only on a unix
// socket in their own directory, so the port just names the socket file.
const port = 5432

// New returns the DSN of the "postgres" database of a new server of tb's
// own, stopped in tb.Cleanup. With KEYWARD_TEST_POSTGRES set, it returns
// instead the DSN of a new database on that server.
func New(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return newDatabaseOn(tb, dsn)
	}
	bin := findBinaries(tb)
	srv, err := start(tb.Context(), bin, tb.TempDir())
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return srv.dsn("postgres")
}

// shared is the server NewDatabase creates databases on.
var shared struct {
	sync.Mutex
	srv   *server
	admin string // DSN of the server's maintenance database
	err   error  // why the server could not start; later calls fail with it
}

// NewDatabase returns the DSN of a new, empty database on a server shared
// by every test of the process (started by the first call), or on
// KEYWARD_TEST_POSTGRES's server if it is set. The database is dropped in
// tb.Cleanup.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return newDatabaseOn(tb, dsn)
	}
	bin := findBinaries(tb)
	shared.Lock()
	if shared.srv == nil && shared.err == nil {
		// Not tb.Context(): the server outlives tb.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		dir, err := shortTempDir(sharedParent)
		if err == nil {
			shared.srv, err = start(ctx, bin, dir)
		}
		cancel()
		if err != nil {
			shared.err = err
		} else {
			shared.admin = shared.srv.dsn("postgres")
		}
	}
	admin, err := shared.admin, shared.err
	shared.Unlock()
	if err != nil {
		tb.Fatalf("pgtest: shared server: %v", err)
	}
	return newDatabaseOn(tb, admin)
}

// newDatabaseOn creates a uniquely named database through the server of
// admin and returns its DSN; the database is dropped in tb.Cleanup.
func newDatabaseOn(tb testing.TB, admin string) string {
	tb.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "keyward_test_" + strconv.Itoa(os.Getpid()) + "_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(context.Background())
	var version int
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version_num')::int`).Scan(&version); err != nil {
		tb.Fatalf("pgtest: server version: %v", err)
	}
	create, drop := `CREATE DATABASE `+name, `DROP DATABASE IF EXISTS `+name
	if version >= 150000 {
		// Copy the template's files rather than write them all to the WAL
		// (15's default), several times faster for a small template.
		create += ` STRATEGY FILE_COPY`
	}
	if version >= 130000 {
		// End the sessions a test left behind.
		drop += ` WITH (FORCE)`
	}
	// No arguments: pgx sends the simple protocol, outside a transaction,
	// as CREATE and DROP DATABASE need.
	if _, err := conn.Exec(ctx, create); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := adminExec(ctx, admin, drop); err != nil {
			tb.Errorf("pgtest: drop database: %v", err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// adminExec runs one statement, without arguments, on a connection of its
// own.
func adminExec(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// withDatabase returns dsn with its database replaced by name. dsn is a
// URL (postgres://...) or keyword/value settings.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse %s: %w", EnvDSN, err)
		}
		u.Path = "/" + name
		return u.String(), nil
	}
	// In keyword/value form the last setting of a keyword wins.
	return strings.TrimSpace(dsn) + " dbname=" + name, nil
}

// binaries are the PostgreSQL programs a server needs.
type binaries struct{ initdb, pgCtl string }

// findBinaries returns the PostgreSQL binaries, or skips tb (fails it if
// KEYWARD_REQUIRE_INTEGRATION=1) when they are missing.
func findBinaries(tb testing.TB) binaries {
	tb.Helper()
	bin, err := lookBinaries()
	if err != nil {
		missing(tb, err)
	}
	return bin
}

// missing skips tb for err, or fails it if KEYWARD_REQUIRE_INTEGRATION=1.
func missing(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("pgtest: %v, and %s=1", err, EnvRequire)
		return
	}
	tb.Skipf("pgtest: %v: install PostgreSQL (e.g. apt-get install postgresql) or set %s to the DSN of a server; set %s=1 to make this an error", err, EnvDSN, EnvRequire)
}

func lookBinaries() (binaries, error) {
	// A directory holding both, PATH first, then Debian's versioned dirs.
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if p, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versioned, func(a, b string) int { // newest first: 16 > 9
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	dirs = append(dirs, versioned...)
	for _, d := range dirs {
		bin := binaries{initdb: filepath.Join(d, "initdb"), pgCtl: filepath.Join(d, "pg_ctl")}
		if isExecutable(bin.initdb) && isExecutable(bin.pgCtl) && isExecutable(filepath.Join(d, "postgres")) {
			return bin, nil
		}
	}
	return binaries{}, errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or under /usr/lib/postgresql/*/bin")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// server is one running PostgreSQL server.
type server struct {
	bin      binaries
	dir      string // holds data/, the socket and the log
	cred     *syscall.Credential
	watchdog *exec.Cmd
	wdPipe   *os.File // write end of the watchdog's stdin

	stopOnce sync.Once
	stopErr  error
}

// maxSocketDir keeps the socket path ("<dir>/.s.PGSQL.5432") within the
// 107 bytes a unix socket address holds.
const maxSocketDir = 90

// sharedParent is where the shared server lives when it can: in memory.
// CREATE DATABASE copies a template of some 8 MB, which takes 100 ms and
// more on a virtual disk even with fsync off, and a few ms in tmpfs.
const sharedParent = "/dev/shm"

// shortTempDir makes a directory for a server, under parent if it is a
// writable directory, else under the system's temporary directory, and in
// any case one whose socket path fits.
func shortTempDir(parent string) (string, error) {
	if parent != "" {
		if dir, err := os.MkdirTemp(parent, "keyward-pgtest-"); err == nil {
			return dir, nil
		}
	}
	parent = os.TempDir()
	if len(parent) > maxSocketDir-30 {
		parent = "/tmp"
	}
	return os.MkdirTemp(parent, "keyward-pgtest-")
}

// start initialises a cluster in dir and starts a server on it. dir may be
// a test's TempDir; if its path is too long for a socket, a shorter
// directory is used instead.
func start(ctx context.Context, bin binaries, dir string) (_ *server, err error) {
	if len(dir) > maxSocketDir {
		if dir, err = shortTempDir(""); err != nil {
			return nil, err
		}
	}
	s := &server{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		if s.cred, err = unprivileged(); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
		// The account must reach dir through its parents, which a test's
		// TempDir creates 0700: let others traverse (not list) them.
		for p := filepath.Dir(dir); p != "/" && p != "."; p = filepath.Dir(p) {
			fi, err := os.Stat(p)
			if err != nil {
				return nil, err
			}
			if fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(p, fi.Mode().Perm()|0o011); err != nil {
					return nil, err
				}
			}
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := s.run(ctx, bin.initdb, "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf(`
# pgtest: a throwaway server on a unix socket only, durability off,
# as little WAL as possible.
listen_addresses = ''
unix_socket_directories = '%s'
port = %d
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
wal_init_zero = off
max_wal_size = 256MB
`, dir, port)
	f, err := os.OpenFile(filepath.Join(data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := s.startWatchdog(); err != nil {
		return nil, err
	}
	log := filepath.Join(dir, "postgres.log")
	if out, err := s.run(ctx, bin.pgCtl, "start", "-D", data, "-l", log, "-w", "-t", "60"); err != nil {
		logText, _ := os.ReadFile(log)
		s.stop()
		return nil, fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, logText)
	}
	return s, nil
}

// unprivileged returns the credential of the account the server runs as
// when the tests run as root.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		// Groups empty: drop root's supplementary groups.
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, errors.New("running as root, and neither user postgres nor nobody exists to run PostgreSQL as (initdb refuses root)")
}

// command returns cmd to run as the server's account, in its directory,
// with no PG* variables that could point it elsewhere.
func (s *server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = s.dir
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=")
	})
	cmd.Env = append(cmd.Env, "LC_ALL=C", "HOME="+s.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	// pg_ctl leaves the server running with its output in the log file;
	// should anything keep our pipes open, don't wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (s *server) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := s.command(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// startWatchdog starts the shell that stops the server and removes its
// directory once its stdin, a pipe only this process writes, is closed:
// when the test process exits without stopping the server.
func (s *server) startWatchdog() error {
	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err != nil {
		return err
	}
	const script = `read _; "$1" stop -D "$2/data" -m immediate -w >/dev/null 2>&1; rm -rf "$2"`
	cmd := s.command(context.Background(), "/bin/sh", "-c", script, "pgtest-watchdog", s.bin.pgCtl, s.dir)
	cmd.Stdin = r
	// Its own process group, so that a ^C to go test does not kill it
	// before it has cleaned up.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("start watchdog: %w", err)
	}
	r.Close()
	s.watchdog, s.wdPipe = cmd, w
	return nil
}

// dsn returns the DSN of database db on the server.
func (s *server) dsn(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", quote(s.dir), port, db)
}

// quote quotes a value for a keyword/value DSN.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// stop stops the server and its watchdog. It leaves the directory, which is
// a test's TempDir or removed by the caller.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := s.run(ctx, s.bin.pgCtl, "stop", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w"); err != nil {
			s.stopErr = fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
		}
		if s.watchdog != nil {
			// Killed, not released: its clean-up would race the test's
			// own removal of TempDir.
			s.watchdog.Process.Kill()
			s.watchdog.Wait()
			s.wdPipe.Close()
		}
	})
	return s.stopErr
}
