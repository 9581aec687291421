package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"keyward"
)

// TestView_PointsFollowCommits: Views, answered from memory, never answer
// for a database that has changed since: not after an Update of the
// store, nor after a commit by another connection to the file (here a
// second Store, as another process would), which a View finds by the
// WAL-index change counter.
func TestView_PointsFollowCommits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, other := mustOpen(t, path), mustOpen(t, path)
	ctx := t.Context()
	sc := keyward.DefaultScope
	if err := s.Update(ctx, func(tx keyward.Tx) error { return tx.CreateUser(ctx, benchUser(sc, "u1")) }); err != nil {
		t.Fatal(err)
	}
	// Several Views at once.
	readAll := func(want func(*keyward.User) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				errs <- s.View(ctx, func(tx keyward.Tx) error {
					u, err := tx.FindUserByID(ctx, sc, "u1")
					if err != nil {
						return err
					}
					time.Sleep(time.Millisecond) // hold the connection
					return want(u)
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	readAll(func(u *keyward.User) error { return nil })

	rename := func(st *Store, name string) {
		t.Helper()
		err := st.Update(ctx, func(tx keyward.Tx) error {
			u, err := tx.FindUserByID(ctx, sc, "u1")
			if err != nil {
				return err
			}
			u.Name, u.Generation = name, u.Generation+1
			return tx.UpdateUser(ctx, u)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	named := func(name string) func(*keyward.User) error {
		return func(u *keyward.User) error {
			if u.Name != name {
				return fmt.Errorf("name %q, want %q", u.Name, name)
			}
			return nil
		}
	}
	rename(s, "by-the-store")
	readAll(named("by-the-store"))
	rename(other, "by-another-connection")
	readAll(named("by-another-connection"))

	// A reference written elsewhere changes the derived GroupIDs too.
	now := time.Now().UTC()
	g := &keyward.UserGroup{Scope: sc, ID: "g1", Engine: keyward.EngineRedis, Status: keyward.UserGroupActive, StatusSince: now, Generation: 1, CreatedAt: now, UserIDs: []string{"u1"}}
	if err := other.Update(ctx, func(tx keyward.Tx) error { return tx.CreateUserGroup(ctx, g) }); err != nil {
		t.Fatal(err)
	}
	readAll(func(u *keyward.User) error {
		if len(u.GroupIDs) != 1 || u.GroupIDs[0] != "g1" {
			return fmt.Errorf("groups %v", u.GroupIDs)
		}
		return nil
	})
}

// TestView_PointsOneSnapshot: a View that reads a document twice, with
// commits going on, sees one state of it (the generation does not move
// within a View), and Views after an Update see it.
func TestView_PointsOneSnapshot(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := context.Background()
	sc := keyward.DefaultScope
	for _, id := range []string{"u1", "u2"} {
		if err := s.Update(ctx, func(tx keyward.Tx) error { return tx.CreateUser(ctx, benchUser(sc, id)) }); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var writer, wg sync.WaitGroup
	writer.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			// Both users move together, in one transaction.
			err := s.Update(ctx, func(tx keyward.Tx) error {
				for _, id := range []string{"u1", "u2"} {
					u, err := tx.FindUserByID(ctx, sc, id)
					if err != nil {
						return err
					}
					u.Generation++
					if err := tx.UpdateUser(ctx, u); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for range 300 {
				err := s.View(ctx, func(tx keyward.Tx) error {
					a, err := tx.FindUserByID(ctx, sc, "u1")
					if err != nil {
						return err
					}
					b, err := tx.FindUserByID(ctx, sc, "u2")
					if err != nil {
						return err
					}
					us, err := tx.FindUsers(ctx, sc, keyward.UserFilter{})
					if err != nil {
						return err
					}
					a2, err := tx.FindUserByID(ctx, sc, "u1")
					if err != nil {
						return err
					}
					if a.Generation != b.Generation || a2.Generation != a.Generation || len(us) != 2 || us[0].Generation != a.Generation {
						return fmt.Errorf("generations %d %d %d in one View", a.Generation, b.Generation, a2.Generation)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	writer.Wait()
	var last int64
	if err := s.Update(ctx, func(tx keyward.Tx) error {
		u, err := tx.FindUserByID(ctx, sc, "u1")
		last = u.Generation
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(tx keyward.Tx) error {
		u, err := tx.FindUserByID(ctx, sc, "u1")
		if err == nil && u.Generation != last {
			err = fmt.Errorf("generation %d after the last Update's %d", u.Generation, last)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestView_RebuiltUnderView: a View that reads, then sees the index
// rebuilt (another connection committed, and the store's writer read it
// from the database), would mix two states; it runs fn again instead, on
// one snapshot. A View that began before another connection's commit
// reads one state all along; a View that begins after it sees it.
func TestView_RebuiltUnderView(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, other := mustOpen(t, path), mustOpen(t, path)
	ctx := t.Context()
	sc := keyward.DefaultScope
	for _, id := range []string{"u1", "u2"} {
		if err := s.Update(ctx, func(tx keyward.Tx) error { return tx.CreateUser(ctx, benchUser(sc, id)) }); err != nil {
			t.Fatal(err)
		}
	}
	bump := func() {
		t.Helper()
		err := other.Update(ctx, func(tx keyward.Tx) error {
			for _, id := range []string{"u1", "u2"} {
				u, err := tx.FindUserByID(ctx, sc, id)
				if err != nil {
					return err
				}
				u.Generation++
				if err := tx.UpdateUser(ctx, u); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	gen := func(tx keyward.Tx, id string) (int64, error) {
		u, err := tx.FindUserByID(ctx, sc, id)
		if err != nil {
			return 0, err
		}
		return u.Generation, nil
	}
	view := func(mid func(runs int)) (runs int, g1, g2 int64) {
		t.Helper()
		err := s.View(ctx, func(tx keyward.Tx) error {
			runs++
			var err error
			if g1, err = gen(tx, "u1"); err != nil {
				return err
			}
			mid(runs)
			g2, err = gen(tx, "u2")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return runs, g1, g2
	}
	// Another connection commits under the View: it still reads its own
	// snapshot.
	if runs, g1, g2 := view(func(runs int) {
		if runs == 1 {
			bump()
		}
	}); runs != 1 || g1 != 1 || g2 != 1 {
		t.Errorf("commit under a View: %d runs, generations %d and %d, want 1 run and 1, 1", runs, g1, g2)
	}
	// ... and the store rebuilds its index under the View: fn runs again,
	// on the new state.
	if runs, g1, g2 := view(func(runs int) {
		if runs == 1 {
			bump()
			if err := s.Update(ctx, func(keyward.Tx) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
	}); runs != 2 || g1 != 3 || g2 != 3 {
		t.Errorf("index rebuilt under a View: %d runs, generations %d and %d, want 2 runs and 3, 3", runs, g1, g2)
	}
	// A View after another connection's commit sees it.
	bump()
	if runs, g1, g2 := view(func(int) {}); runs != 1 || g1 != 4 || g2 != 4 {
		t.Errorf("after a commit of another connection: %d runs, generations %d and %d, want 1 run and 4, 4", runs, g1, g2)
	}
}
