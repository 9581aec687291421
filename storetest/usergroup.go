package storetest

import (
	"testing"
	"time"

	"keyward"
)

func testCreateUserGroup(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "bob", "alice")
	// Members given unsorted and once twice; stored sorted, once.
	g := NewUserGroup(S1, "g1", "default", "bob", "alice", "bob")
	g.PendingAdd, g.PendingRemove = []string{"carol"}, []string{"bob"}
	g.MinimumEngineVersion = "7.0"
	createGroup(t, s, g)

	want := g.Clone()
	want.UserIDs = []string{"alice", "bob", "default"}
	diff(t, "FindUserGroupByID", want, findGroup(t, s, S1, "g1"))
	diff(t, "FindUserGroups", []*keyward.UserGroup{want}, findGroups(t, s, S1, keyward.UserGroupFilter{}))

	got := findGroup(t, s, S1, "g1")
	if len(got.ReplicationGroups) != 0 || len(got.ServerlessCaches) != 0 || got.Attached() {
		t.Errorf("new group is attached to %q and %q, want nothing", got.ReplicationGroups, got.ServerlessCaches)
	}
}

func testCreateUserGroupErrExists(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "alice")
	createGroup(t, s, NewUserGroup(S1, "g1", "default"))
	err := s.Update(ctx(t), func(tx keyward.Tx) error {
		return tx.CreateUserGroup(ctx(t), NewUserGroup(S1, "g1", "default", "alice"))
	})
	wantError(t, err, keyward.EEXISTS, keyward.ResourceUserGroup, "User group g1 already exists.")
	diff(t, "UserIDs", []string{"default"}, findGroup(t, s, S1, "g1").UserIDs)
}

func testCreateUserGroupErrUnknownMember(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "alice")
	createUsers(t, s, S2, "bob") // bob exists, but in another scope
	for _, members := range [][]string{{"default", "nobody"}, {"default", "bob"}} {
		err := s.Update(ctx(t), func(tx keyward.Tx) error {
			return tx.CreateUserGroup(ctx(t), NewUserGroup(S1, "g1", members...))
		})
		wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User "+members[1]+" not found.")
		if groupExists(t, s, S1, "g1") {
			t.Fatalf("members %q: group created although a member is missing", members)
		}
	}

	// A failed CreateUserGroup stores nothing, even if the caller goes on
	// and commits the transaction.
	update(t, s, func(tx keyward.Tx) error {
		err := tx.CreateUserGroup(ctx(t), NewUserGroup(S1, "g1", "default", "alice", "nobody"))
		wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User nobody not found.")
		return nil
	})
	if groupExists(t, s, S1, "g1") {
		t.Error("a failed CreateUserGroup left its group behind")
	}
	if got := findUser(t, s, S1, "alice").GroupIDs; len(got) != 0 {
		t.Errorf("alice GroupIDs = %q after a failed CreateUserGroup, want none", got)
	}
}

func testFindUserGroupByIDErrNotFound(t *testing.T, s keyward.Store) {
	err := s.View(ctx(t), func(tx keyward.Tx) error {
		_, err := tx.FindUserGroupByID(ctx(t), S1, "g1")
		return err
	})
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group g1 not found.")
}

func testUpdateUserGroup(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "alice", "bob", "carol")
	createGroup(t, s, NewUserGroup(S1, "g1", "default", "alice", "bob"))
	createGroup(t, s, NewUserGroup(S1, "g2", "default", "alice"))

	want := &keyward.UserGroup{
		Scope: S1, ID: "g1", Engine: keyward.EngineValkey, Status: keyward.UserGroupModifying,
		StatusSince: T0.Add(time.Minute + 1), Generation: 5, CreatedAt: T0.Add(-time.Minute),
		UserIDs: []string{"carol", "default"}, PendingAdd: []string{"alice"}, PendingRemove: []string{"carol"},
		MinimumEngineVersion: "7.2",
	}
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateUserGroup(ctx(t), want) })
	diff(t, "updated group", want, findGroup(t, s, S1, "g1"))
	diff(t, "other group", []string{"alice", "default"}, findGroup(t, s, S1, "g2").UserIDs)
	for id, groups := range map[string][]string{"alice": {"g2"}, "bob": nil, "carol": {"g1"}, "default": {"g1", "g2"}} {
		diff(t, id+" GroupIDs", groups, findUser(t, s, S1, id).GroupIDs)
	}

	// An empty membership removes every member.
	want.UserIDs, want.PendingAdd, want.PendingRemove = nil, nil, nil
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateUserGroup(ctx(t), want) })
	diff(t, "emptied group", want, findGroup(t, s, S1, "g1"))
	diff(t, "carol GroupIDs", []string(nil), findUser(t, s, S1, "carol").GroupIDs)
}

func testUpdateUserGroupErrNotFound(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default")
	err := s.Update(ctx(t), func(tx keyward.Tx) error {
		return tx.UpdateUserGroup(ctx(t), NewUserGroup(S1, "g1", "default"))
	})
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group g1 not found.")
	if groupExists(t, s, S1, "g1") {
		t.Error("UpdateUserGroup of a missing group created it")
	}
}

func testUpdateUserGroupErrUnknownMember(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "alice")
	before := NewUserGroup(S1, "g1", "alice", "default")
	createGroup(t, s, before)
	update(t, s, func(tx keyward.Tx) error {
		g := NewUserGroup(S1, "g1", "default", "nobody")
		g.Generation = 2
		err := tx.UpdateUserGroup(ctx(t), g)
		wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User nobody not found.")
		return nil // commit anyway: the failed call must have changed nothing
	})
	diff(t, "group after a failed UpdateUserGroup", before, findGroup(t, s, S1, "g1"))
}

func testDeleteUserGroup(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default")
	createGroup(t, s, NewUserGroup(S1, "g1", "default"))
	createGroup(t, s, NewUserGroup(S1, "g2", "default"))
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUserGroup(ctx(t), S1, "g1") })
	if groupExists(t, s, S1, "g1") {
		t.Error("g1 still exists after DeleteUserGroup")
	}
	diff(t, "remaining groups", []string{"g2"}, ids(findGroups(t, s, S1, keyward.UserGroupFilter{})))
	if !userExists(t, s, S1, "default") {
		t.Error("DeleteUserGroup deleted a member")
	}
}

func testDeleteUserGroupErrNotFound(t *testing.T, s keyward.Store) {
	err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.DeleteUserGroup(ctx(t), S1, "g1") })
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUserGroup, "User group g1 not found.")
}

func testFindUserGroups(t *testing.T, s keyward.Store) {
	update(t, s, func(tx keyward.Tx) error {
		for _, id := range []string{"g3", "g1", "g5", "g2", "g4"} {
			if err := tx.CreateUserGroup(ctx(t), NewUserGroup(S1, id)); err != nil {
				return err
			}
		}
		return tx.CreateUserGroup(ctx(t), NewUserGroup(S2, "g0"))
	})
	for _, tt := range []struct {
		name string
		f    keyward.UserGroupFilter
		want []string
	}{
		{"All", keyward.UserGroupFilter{}, []string{"g1", "g2", "g3", "g4", "g5"}},
		{"ID", keyward.UserGroupFilter{ID: "g4"}, []string{"g4"}},
		{"IDMissing", keyward.UserGroupFilter{ID: "g0"}, []string{}},
		{"AfterID", keyward.UserGroupFilter{AfterID: "g3"}, []string{"g4", "g5"}},
		{"Limit", keyward.UserGroupFilter{Limit: 2}, []string{"g1", "g2"}},
		{"AfterIDAndLimit", keyward.UserGroupFilter{AfterID: "g2", Limit: 2}, []string{"g3", "g4"}},
		{"IDAndAfterID", keyward.UserGroupFilter{ID: "g2", AfterID: "g2"}, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "ids", tt.want, ids(findGroups(t, s, S1, tt.f)))
		})
	}

	var got []string
	for after := ""; ; {
		gs := findGroups(t, s, S1, keyward.UserGroupFilter{AfterID: after, Limit: 2})
		if len(gs) == 0 || len(got) > 5 {
			break
		}
		got = append(got, ids(gs)...)
		after = gs[len(gs)-1].ID
	}
	diff(t, "paged ids", []string{"g1", "g2", "g3", "g4", "g5"}, got)
}

func testCountUserGroups(t *testing.T, s keyward.Store) {
	count := func(sc keyward.Scope) int {
		var n int
		view(t, s, func(tx keyward.Tx) (err error) {
			n, err = tx.CountUserGroups(ctx(t), sc)
			return err
		})
		return n
	}
	if n := count(S1); n != 0 {
		t.Errorf("CountUserGroups of an empty store = %d, want 0", n)
	}
	createGroup(t, s, NewUserGroup(S1, "g1"))
	g := NewUserGroup(S1, "g2")
	g.Status = keyward.UserGroupCreating
	createGroup(t, s, g)
	createGroup(t, s, NewUserGroup(S3, "g1"))
	if n := count(S1); n != 2 {
		t.Errorf("CountUserGroups(S1) = %d, want 2", n)
	}
	if n := count(S3); n != 1 {
		t.Errorf("CountUserGroups(S3) = %d, want 1", n)
	}
}

func testMembershipDerived(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "u1", "u2", "u3", "u4")
	createGroup(t, s, NewUserGroup(S1, "gb", "default", "u2", "u1"))
	createGroup(t, s, NewUserGroup(S1, "ga", "u3", "u2"))
	createGroup(t, s, NewUserGroup(S1, "gc"))

	wantUsers := map[string][]string{"default": {"gb"}, "u1": {"gb"}, "u2": {"ga", "gb"}, "u3": {"ga"}, "u4": nil}
	wantGroups := map[string][]string{"ga": {"u2", "u3"}, "gb": {"default", "u1", "u2"}, "gc": nil}
	for id, want := range wantUsers {
		diff(t, id+" GroupIDs (FindUserByID)", want, findUser(t, s, S1, id).GroupIDs)
	}
	for _, u := range findUsers(t, s, S1, keyward.UserFilter{}) {
		diff(t, u.ID+" GroupIDs (FindUsers)", wantUsers[u.ID], u.GroupIDs)
	}
	for id, want := range wantGroups {
		diff(t, id+" UserIDs (FindUserGroupByID)", want, findGroup(t, s, S1, id).UserIDs)
	}
	for _, g := range findGroups(t, s, S1, keyward.UserGroupFilter{}) {
		diff(t, g.ID+" UserIDs (FindUserGroups)", wantGroups[g.ID], g.UserIDs)
	}
}

func testMembershipCascadeUser(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "u1", "u2")
	createGroup(t, s, NewUserGroup(S1, "g1", "default", "u1", "u2"))
	createGroup(t, s, NewUserGroup(S1, "g2", "u2"))
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUser(ctx(t), S1, "u2") })
	diff(t, "g1 UserIDs", []string{"default", "u1"}, findGroup(t, s, S1, "g1").UserIDs)
	diff(t, "g2 UserIDs", []string(nil), findGroup(t, s, S1, "g2").UserIDs)

	// A new user with the old id starts with no memberships.
	createUsers(t, s, S1, "u2")
	diff(t, "recreated u2 GroupIDs", []string(nil), findUser(t, s, S1, "u2").GroupIDs)
	diff(t, "g1 UserIDs after recreate", []string{"default", "u1"}, findGroup(t, s, S1, "g1").UserIDs)
}

func testMembershipCascadeGroup(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "u1")
	createGroup(t, s, NewUserGroup(S1, "g1", "default", "u1"))
	createGroup(t, s, NewUserGroup(S1, "g2", "default"))
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUserGroup(ctx(t), S1, "g1") })
	diff(t, "default GroupIDs", []string{"g2"}, findUser(t, s, S1, "default").GroupIDs)
	diff(t, "u1 GroupIDs", []string(nil), findUser(t, s, S1, "u1").GroupIDs)

	createGroup(t, s, NewUserGroup(S1, "g1"))
	diff(t, "recreated g1 UserIDs", []string(nil), findGroup(t, s, S1, "g1").UserIDs)
}
