package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"keyward"
	"keyward/internal/pgtest"
	"keyward/storetest"
)

// expectCalls waits for n calls on calls, then checks that no more come
// within quiet.
func expectCalls(t *testing.T, calls <-chan struct{}, n int, quiet time.Duration, what string) {
	t.Helper()
	for i := range n {
		select {
		case <-calls:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: %d calls within 5s, want %d", what, i, n)
		}
	}
	select {
	case <-calls:
		t.Fatalf("%s: more than %d calls", what, n)
	case <-time.After(quiet):
	}
}

func TestListen(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s1, s2 := mustOpen(t, dsn), mustOpen(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := make(chan struct{}, 100)
	done := make(chan error, 1)
	go func() { done <- s1.Listen(ctx, func() { calls <- struct{}{} }) }()
	expectCalls(t, calls, 1, 0, "start")

	update := func(s *Store, fn func(keyward.Tx) error) error { return s.Update(t.Context(), fn) }
	create := func(id string) func(keyward.Tx) error {
		return func(tx keyward.Tx) error { return tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, id)) }
	}

	// A committed write by another replica, and one by this one.
	if err := update(s2, create("alice")); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 0, "committed Update on another store")
	if err := update(s1, create("bob")); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 0, "committed Update on the listening store")

	// A rolled-back write, a View and an Update that only reads notify
	// nothing: of these and one more committed write, one call only (the
	// notifications come in commit order).
	errBoom := errors.New("boom")
	if err := update(s2, func(tx keyward.Tx) error {
		if err := create("carol")(tx); err != nil {
			return err
		}
		return errBoom
	}); err != errBoom {
		t.Fatalf("rolled-back Update = %v", err)
	}
	if err := s2.View(t.Context(), func(tx keyward.Tx) error { _, err := tx.CountUsers(t.Context(), storetest.S1); return err }); err != nil {
		t.Fatal(err)
	}
	if err := update(s2, func(tx keyward.Tx) error { _, err := tx.CountUsers(t.Context(), storetest.S1); return err }); err != nil {
		t.Fatal(err)
	}
	if err := update(s2, create("dave")); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 300*time.Millisecond, "rollback, View, read-only Update, then a committed one")

	// A lost connection: Listen reconnects, calls fn to resynchronise, and
	// hears the next change.
	conn := connect(t, dsn)
	var pid int
	if err := conn.QueryRow(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND query = $1`, `LISTEN `+ChangesChannel).Scan(&pid); err != nil {
		t.Fatalf("listener's backend: %v", err)
	}
	terminate(t, conn, pid)
	expectCalls(t, calls, 1, 0, "reconnection")
	if err := update(s2, create("erin")); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 0, "committed Update after reconnecting")

	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Listen = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Listen did not return within 5s of its context's end")
	}
}

// TestListen_Idle checks that the idle checks of Listen's connection
// neither drop it (a reconnection would call fn) nor lose notifications.
func TestListen_Idle(t *testing.T) {
	t.Parallel()
	dsn := pgtest.NewDatabase(t)
	s1, s2 := mustOpen(t, dsn), mustOpen(t, dsn)
	s1.idleCheck = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	calls := make(chan struct{}, 100)
	go s1.Listen(ctx, func() { calls <- struct{}{} })
	expectCalls(t, calls, 1, 500*time.Millisecond, "start, then idle")
	if err := s2.Update(t.Context(), func(tx keyward.Tx) error {
		return tx.CreateUser(t.Context(), storetest.NewUser(storetest.S1, "alice"))
	}); err != nil {
		t.Fatal(err)
	}
	expectCalls(t, calls, 1, 0, "committed Update after idling")
}

func TestListen_BadConnection(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, pgtest.NewDatabase(t))
	s.config.Database = "no_such_database"
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Listen(ctx, func() { t.Error("fn called without a connection") }); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Listen on a missing database = %v, want an error at once", err)
	}
}
