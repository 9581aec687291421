package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"keyward"
)

// testConcurrentMembership runs many Updates at once that read a shared
// group, add or remove one member and write the group back, plus Updates
// that delete and recreate users (dropping their memberships), while Views
// check that every snapshot's two sides of the membership agree.
//
// Each worker owns its users, so it knows exactly what their memberships
// must be at the end: a lost update (two read-modify-writes of one group
// interleaving) shows as a membership that differs from the owner's record.
// Callbacks decide nothing inside fn, so backends that rerun fn after a
// conflict give the same result.
func testConcurrentMembership(t *testing.T, s keyward.Store) {
	const (
		groups     = 3
		workers    = 6
		usersEach  = 3
		iterations = 12
	)
	groupID := func(g int) string { return fmt.Sprintf("g%d", g) }
	userID := func(w, u int) string { return fmt.Sprintf("w%du%d", w, u) }

	update(t, s, func(tx keyward.Tx) error {
		for w := range workers {
			for u := range usersEach {
				if err := tx.CreateUser(ctx(t), NewUser(S1, userID(w, u))); err != nil {
					return err
				}
			}
		}
		for g := range groups {
			if err := tx.CreateUserGroup(ctx(t), NewUserGroup(S1, groupID(g))); err != nil {
				return err
			}
		}
		return nil
	})

	// want[w] is worker w's record of its users' memberships: (user, group) pairs.
	want := make([]map[[2]string]bool, workers)
	var wg sync.WaitGroup
	for w := range workers {
		want[w] = map[[2]string]bool{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range iterations {
				uid := userID(w, rng.IntN(usersEach))
				if i%6 == 5 {
					err := s.Update(ctx(t), func(tx keyward.Tx) error {
						if err := tx.DeleteUser(ctx(t), S1, uid); err != nil {
							return err
						}
						return tx.CreateUser(ctx(t), NewUser(S1, uid))
					})
					if err != nil {
						t.Errorf("worker %d: recreate %s: %v", w, uid, err)
						return
					}
					for g := range groups {
						delete(want[w], [2]string{uid, groupID(g)})
					}
					continue
				}
				gid := groupID(rng.IntN(groups))
				member := !want[w][[2]string{uid, gid}]
				err := s.Update(ctx(t), func(tx keyward.Tx) error {
					g, err := tx.FindUserGroupByID(ctx(t), S1, gid)
					if err != nil {
						return err
					}
					g.UserIDs = slices.DeleteFunc(g.UserIDs, func(id string) bool { return id == uid })
					if member {
						g.UserIDs = append(g.UserIDs, uid)
						slices.Sort(g.UserIDs)
					}
					g.Generation++
					return tx.UpdateUserGroup(ctx(t), g)
				})
				if err != nil {
					t.Errorf("worker %d: set %s in %s to %v: %v", w, uid, gid, member, err)
					return
				}
				if member {
					want[w][[2]string{uid, gid}] = true
				} else {
					delete(want[w], [2]string{uid, gid})
				}
			}
		})
	}

	// Check snapshots while the workers run.
	done := make(chan struct{})
	var checks sync.WaitGroup
	checks.Go(func() {
		for n := 0; ; n++ {
			select {
			case <-done:
				if n == 0 {
					t.Error("no snapshot was checked")
				}
				return
			default:
			}
			if err := s.View(ctx(t), func(tx keyward.Tx) error {
				byUser, byGroup, err := memberships(t, tx)
				if err != nil {
					return err
				}
				diff(t, "snapshot: membership by user vs by group", byGroup, byUser)
				return nil
			}); err != nil {
				t.Errorf("View: %v", err)
				return
			}
		}
	})
	wg.Wait()
	close(done)
	checks.Wait()

	all := map[[2]string]bool{}
	for _, m := range want {
		for k := range m {
			all[k] = true
		}
	}
	view(t, s, func(tx keyward.Tx) error {
		byUser, byGroup, err := memberships(t, tx)
		if err != nil {
			return err
		}
		diff(t, "membership by user vs by group", byGroup, byUser)
		diff(t, "membership vs the workers' records (lost update?)", all, byGroup)
		return nil
	})
}

// memberships reads the membership relation from both sides.
func memberships(t *testing.T, tx keyward.Tx) (byUser, byGroup map[[2]string]bool, err error) {
	us, err := tx.FindUsers(ctx(t), S1, keyward.UserFilter{})
	if err != nil {
		return nil, nil, err
	}
	gs, err := tx.FindUserGroups(ctx(t), S1, keyward.UserGroupFilter{})
	if err != nil {
		return nil, nil, err
	}
	byUser, byGroup = map[[2]string]bool{}, map[[2]string]bool{}
	for _, u := range us {
		if !slices.IsSorted(u.GroupIDs) {
			t.Errorf("user %s: GroupIDs %q not sorted", u.ID, u.GroupIDs)
		}
		for _, g := range u.GroupIDs {
			byUser[[2]string{u.ID, g}] = true
		}
	}
	for _, g := range gs {
		if !slices.IsSorted(g.UserIDs) {
			t.Errorf("group %s: UserIDs %q not sorted", g.ID, g.UserIDs)
		}
		for _, u := range g.UserIDs {
			byGroup[[2]string{u, g.ID}] = true
		}
	}
	return byUser, byGroup, nil
}
