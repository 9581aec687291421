package storetest

import (
	"testing"
	"time"

	"keyward"
)

func testCreateUser(t *testing.T, s keyward.Store) {
	want := NewUser(S1, "alice")
	want.PasswordHashes = append(want.PasswordHashes, keyward.HashPassword("second-password-0123"))
	createUsers(t, s, S1) // an empty Update is fine
	update(t, s, func(tx keyward.Tx) error { return tx.CreateUser(ctx(t), want) })
	diff(t, "FindUserByID", want, findUser(t, s, S1, "alice"))
	diff(t, "FindUsers", []*keyward.User{want}, findUsers(t, s, S1, keyward.UserFilter{}))
}

func testCreateUserErrExists(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "alice")
	err := s.Update(ctx(t), func(tx keyward.Tx) error {
		u := NewUser(S1, "alice")
		u.Name = "other"
		return tx.CreateUser(ctx(t), u)
	})
	wantError(t, err, keyward.EEXISTS, keyward.ResourceUser, "User alice already exists.")
	if got := findUser(t, s, S1, "alice"); got.Name != "alice" {
		t.Errorf("Name = %q after a failed CreateUser, want alice", got.Name)
	}
}

func testCreateUserIgnoresGroupIDs(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default")
	createGroup(t, s, NewUserGroup(S1, "g1", "default"))
	u := NewUser(S1, "alice")
	u.GroupIDs = []string{"g1", "nosuchgroup"}
	update(t, s, func(tx keyward.Tx) error { return tx.CreateUser(ctx(t), u) })
	if got := findUser(t, s, S1, "alice").GroupIDs; len(got) != 0 {
		t.Errorf("GroupIDs = %q, want none: CreateUser ignores GroupIDs", got)
	}
	diff(t, "UserIDs", []string{"default"}, findGroup(t, s, S1, "g1").UserIDs)
}

func testFindUserByIDErrNotFound(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "alice")
	err := s.View(ctx(t), func(tx keyward.Tx) error {
		_, err := tx.FindUserByID(ctx(t), S1, "bob")
		return err
	})
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User bob not found.")
}

func testUpdateUser(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "alice", "bob")
	want := &keyward.User{
		Scope: S1, ID: "alice", Name: "alice2", Engine: keyward.EngineValkey,
		AccessString: "on ~app:* +get", Auth: keyward.AuthIAM, PasswordHashes: nil,
		MinimumEngineVersion: "7.2", Status: keyward.UserModifying,
		StatusSince: T0.Add(time.Second + 7), Generation: 2, CreatedAt: T0.Add(3),
		LeavingGroups: []string{"g2", "g1"},
	}
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateUser(ctx(t), want) })
	diff(t, "updated user", want, findUser(t, s, S1, "alice"))
	diff(t, "other user", NewUser(S1, "bob"), findUser(t, s, S1, "bob"))
}

func testUpdateUserErrNotFound(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "alice")
	err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.UpdateUser(ctx(t), NewUser(S1, "bob")) })
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User bob not found.")
	if userExists(t, s, S1, "bob") {
		t.Error("UpdateUser of a missing user created it")
	}
}

func testUpdateUserKeepsMembership(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "alice")
	createGroup(t, s, NewUserGroup(S1, "g1", "default", "alice"))
	u := findUser(t, s, S1, "alice")
	u.GroupIDs = nil
	u.Generation++
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateUser(ctx(t), u) })
	diff(t, "GroupIDs", []string{"g1"}, findUser(t, s, S1, "alice").GroupIDs)
	diff(t, "UserIDs", []string{"alice", "default"}, findGroup(t, s, S1, "g1").UserIDs)
}

func testDeleteUser(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "alice", "bob")
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUser(ctx(t), S1, "alice") })
	if userExists(t, s, S1, "alice") {
		t.Error("alice still exists after DeleteUser")
	}
	diff(t, "remaining users", []string{"bob"}, ids(findUsers(t, s, S1, keyward.UserFilter{})))
	err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.DeleteUser(ctx(t), S1, "alice") })
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User alice not found.")
}

func testDeleteUserErrNotFound(t *testing.T, s keyward.Store) {
	err := s.Update(ctx(t), func(tx keyward.Tx) error { return tx.DeleteUser(ctx(t), S1, "nobody") })
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User nobody not found.")
}

func testFindUsersFilter(t *testing.T, s keyward.Store) {
	update(t, s, func(tx keyward.Tx) error {
		for _, u := range []*keyward.User{
			{ID: "u1", Name: "app", Engine: keyward.EngineRedis},
			{ID: "u2", Name: "app", Engine: keyward.EngineValkey},
			{ID: "u3", Name: "ops", Engine: keyward.EngineRedis},
			{ID: "u4", Name: "ops", Engine: keyward.EngineValkey},
			{ID: "u5", Name: "app", Engine: keyward.EngineRedis},
		} {
			full := NewUser(S1, u.ID)
			full.Name, full.Engine = u.Name, u.Engine
			if err := tx.CreateUser(ctx(t), full); err != nil {
				return err
			}
		}
		// Noise in other scopes that no filter may return.
		for _, sc := range []keyward.Scope{S2, S3} {
			if err := tx.CreateUser(ctx(t), NewUser(sc, "u0")); err != nil {
				return err
			}
		}
		return nil
	})
	for _, tt := range []struct {
		name string
		f    keyward.UserFilter
		want []string
	}{
		{"All", keyward.UserFilter{}, []string{"u1", "u2", "u3", "u4", "u5"}},
		{"ID", keyward.UserFilter{ID: "u3"}, []string{"u3"}},
		{"IDMissing", keyward.UserFilter{ID: "u9"}, []string{}},
		{"Engine", keyward.UserFilter{Engine: keyward.EngineValkey}, []string{"u2", "u4"}},
		{"Name", keyward.UserFilter{Name: "app"}, []string{"u1", "u2", "u5"}},
		{"EngineAndName", keyward.UserFilter{Engine: keyward.EngineRedis, Name: "app"}, []string{"u1", "u5"}},
		{"IDAndEngineMismatch", keyward.UserFilter{ID: "u1", Engine: keyward.EngineValkey}, []string{}},
		{"AfterID", keyward.UserFilter{AfterID: "u2"}, []string{"u3", "u4", "u5"}},
		{"AfterIDNotStored", keyward.UserFilter{AfterID: "u25"}, []string{"u3", "u4", "u5"}},
		{"Limit", keyward.UserFilter{Limit: 2}, []string{"u1", "u2"}},
		{"LimitAboveCount", keyward.UserFilter{Limit: 10}, []string{"u1", "u2", "u3", "u4", "u5"}},
		{"AfterIDAndLimit", keyward.UserFilter{AfterID: "u1", Limit: 2}, []string{"u2", "u3"}},
		{"NameAfterIDLimit", keyward.UserFilter{Name: "app", AfterID: "u1", Limit: 1}, []string{"u2"}},
		{"AfterLast", keyward.UserFilter{AfterID: "u5"}, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			diff(t, "ids", tt.want, ids(findUsers(t, s, S1, tt.f)))
		})
	}
}

func testFindUsersPagination(t *testing.T, s keyward.Store) {
	all := userIDs(11)
	// Create in an order that is not the id order.
	createUsers(t, s, S1, append(all[5:], all[:5]...)...)
	var got []string
	after := ""
	for page := 0; ; page++ {
		if page > len(all) {
			t.Fatal("pagination does not end")
		}
		us := findUsers(t, s, S1, keyward.UserFilter{AfterID: after, Limit: 3})
		if len(us) > 3 {
			t.Fatalf("page of %d users, want at most 3", len(us))
		}
		if len(us) == 0 {
			break
		}
		got = append(got, ids(us)...)
		after = us[len(us)-1].ID
	}
	diff(t, "paged ids", all, got)
}

func testCountUsers(t *testing.T, s keyward.Store) {
	count := func(sc keyward.Scope) int {
		var n int
		view(t, s, func(tx keyward.Tx) (err error) {
			n, err = tx.CountUsers(ctx(t), sc)
			return err
		})
		return n
	}
	if n := count(S1); n != 0 {
		t.Errorf("CountUsers of an empty store = %d, want 0", n)
	}
	createUsers(t, s, S1, "a", "b", "c")
	createUsers(t, s, S2, "a")
	u := NewUser(S1, "d")
	u.Status = keyward.UserDeleting
	update(t, s, func(tx keyward.Tx) error { return tx.CreateUser(ctx(t), u) })
	if n := count(S1); n != 4 {
		t.Errorf("CountUsers(S1) = %d, want 4 (any status counts)", n)
	}
	if n := count(S2); n != 1 {
		t.Errorf("CountUsers(S2) = %d, want 1", n)
	}
	if n := count(S3); n != 0 {
		t.Errorf("CountUsers(S3) = %d, want 0", n)
	}
}
