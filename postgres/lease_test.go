package postgres

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"keyward/internal/pgtest"

	"github.com/jackc/pgx/v5"
)

// holderPID returns the backend pid holding lease name in conn's database.
func holderPID(t *testing.T, conn *pgx.Conn, name string) int {
	t.Helper()
	var pid int
	err := conn.QueryRow(t.Context(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid::bigint = $1 AND objid::bigint = $2`,
		int64(uint32(lockSpace)), int64(uint32(lockKey("lease:"+name)))).Scan(&pid)
	if err != nil {
		t.Fatalf("holder of lease %q: %v", name, err)
	}
	return pid
}

func terminate(t *testing.T, conn *pgx.Conn, pid int) {
	t.Helper()
	var ok bool
	if err := conn.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

func TestLease_OneHolder(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s1, s2 := mustOpen(t, dsn), mustOpen(t, dsn)
	ctx := t.Context()

	l1, err := s1.TryAcquireLease(ctx, "reconciler")
	if err != nil {
		t.Fatalf("TryAcquireLease: %v", err)
	}
	if l1.Name() != "reconciler" || l1.Err() != nil {
		t.Errorf("new lease: Name %q, Err %v", l1.Name(), l1.Err())
	}
	// Neither another store nor the same one can take it again.
	for i, s := range []*Store{s2, s1} {
		if l, err := s.TryAcquireLease(ctx, "reconciler"); !errors.Is(err, ErrLeaseHeld) {
			t.Errorf("store %d: second TryAcquireLease = %v, %v; want ErrLeaseHeld", i+1, l, err)
		}
	}
	// Names are independent.
	other, err := s2.TryAcquireLease(ctx, "other")
	if err != nil {
		t.Fatalf("TryAcquireLease of another name: %v", err)
	}
	other.Release()

	// A wait bounded by its context gives up.
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := s2.AcquireLease(short, "reconciler", 50*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("AcquireLease with a short context = %v, want DeadlineExceeded", err)
	}

	// A waiting replica takes the lease once it is released.
	got := make(chan *Lease, 1)
	go func() {
		l, err := s2.AcquireLease(ctx, "reconciler", 50*time.Millisecond)
		if err != nil {
			t.Errorf("AcquireLease: %v", err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("AcquireLease succeeded while another held the lease")
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	l1.Release()
	select {
	case <-l1.Done():
	default:
		t.Error("Done not closed after Release")
	}
	if !errors.Is(l1.Err(), errLeaseReleased) {
		t.Errorf("Err after Release = %v", l1.Err())
	}
	l1.Release() // twice is fine
	var l2 *Lease
	select {
	case l2 = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting AcquireLease did not take the released lease within 5s")
	}
	t.Logf("taken over %v after Release", time.Since(start))
	if l2 != nil {
		l2.Release()
	}
}

// TestLease_Idle holds a lease across several idle checks: the timeouts
// that make its connection ping do not end it.
func TestLease_Idle(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s1, s2 := mustOpen(t, dsn), mustOpen(t, dsn)
	s1.idleCheck = 50 * time.Millisecond
	l, err := s1.TryAcquireLease(t.Context(), "reconciler")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	time.Sleep(500 * time.Millisecond)
	if err := l.Err(); err != nil {
		t.Fatalf("lease ended while idle: %v", err)
	}
	if _, err := s2.TryAcquireLease(t.Context(), "reconciler"); !errors.Is(err, ErrLeaseHeld) {
		t.Errorf("TryAcquireLease of an idle lease = %v, want ErrLeaseHeld", err)
	}
}

// TestLease_ConnectionLost terminates the holder's connection, as a crash of
// the holder, a restart of its connection or a network failure would: the
// holder learns it lost the lease, and another takes it.
func TestLease_ConnectionLost(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s1, s2 := mustOpen(t, dsn), mustOpen(t, dsn)
	conn := connect(t, dsn)
	l1, err := s1.TryAcquireLease(t.Context(), "reconciler")
	if err != nil {
		t.Fatal(err)
	}
	defer l1.Release()
	start := time.Now()
	terminate(t, conn, holderPID(t, conn, "reconciler"))
	waitClosed(t, l1.Done(), "holder's Done after its connection was terminated")
	if err := l1.Err(); err == nil || errors.Is(err, errLeaseReleased) || !strings.Contains(err.Error(), "lost") {
		t.Errorf("Err of a lost lease = %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	l2, err := s2.AcquireLease(ctx, "reconciler", 50*time.Millisecond)
	if err != nil {
		t.Fatalf("AcquireLease after the holder's connection died: %v", err)
	}
	t.Logf("lost and taken over in %v", time.Since(start))
	l2.Release()
}

// leaseChildEnv holds the DSN with which TestLease_ProcessDeath's child
// process takes the lease and waits to be killed.
const leaseChildEnv = "KEYWARD_POSTGRES_LEASE_CHILD"

// TestLease_ProcessDeath runs a child process that takes the lease, SIGKILLs
// it, and checks that a replica waiting in AcquireLease takes over within
// seconds: PostgreSQL releases a session's advisory locks when its
// connection closes, which the kernel does for a dead process.
func TestLease_ProcessDeath(t *testing.T) {
	if dsn := os.Getenv(leaseChildEnv); dsn != "" {
		s := mustOpen(t, dsn)
		if _, err := s.TryAcquireLease(t.Context(), "reconciler"); err != nil {
			t.Fatalf("child: %v", err)
		}
		fmt.Println("acquired")
		time.Sleep(time.Minute)
		return
	}
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s := mustOpen(t, dsn)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLease_ProcessDeath$", "-test.v")
	cmd.Env = append(os.Environ(), leaseChildEnv+"="+dsn)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "acquired" {
	}
	if sc.Err() != nil || sc.Text() != "acquired" {
		t.Fatalf("child did not take the lease: %v", sc.Err())
	}

	got := make(chan *Lease, 1)
	go func() {
		l, err := s.AcquireLease(t.Context(), "reconciler", 100*time.Millisecond)
		if err != nil {
			t.Errorf("AcquireLease: %v", err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("AcquireLease succeeded while the child held the lease")
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	cmd.Process.Kill()
	select {
	case l := <-got:
		t.Logf("taken over %v after the holder was killed", time.Since(start))
		if l != nil {
			l.Release()
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no takeover within 5s of the holder's death")
	}
}
