package storetest

import (
	"testing"
	"time"

	"keyward"
)

func testTagsOrder(t *testing.T, s keyward.Store) {
	r := keyward.ResourceRef{Type: keyward.ARNUser, ID: "alice"}
	createUsers(t, s, S1, "alice")
	if got := findTags(t, s, S1, r); len(got) != 0 {
		t.Errorf("tags of an untagged resource = %v, want none", got)
	}
	want := tagList("zeta", "1", "alpha", "", "mid", "x y,z\"'", "Alpha", "2")
	replaceTags(t, s, S1, r, want)
	diff(t, "tags", want, findTags(t, s, S1, r))
}

func testTagsReplace(t *testing.T, s keyward.Store) {
	r := keyward.ResourceRef{Type: keyward.ARNUser, ID: "alice"}
	createUsers(t, s, S1, "alice")
	replaceTags(t, s, S1, r, tagList("a", "1", "b", "2", "c", "3"))
	merged := keyward.MergeTags(findTags(t, s, S1, r), tagList("d", "4", "a", "9"))
	replaceTags(t, s, S1, r, merged)
	diff(t, "merged tags", tagList("a", "9", "b", "2", "c", "3", "d", "4"), findTags(t, s, S1, r))

	replaceTags(t, s, S1, r, tagList("c", "3"))
	diff(t, "shrunk tags", tagList("c", "3"), findTags(t, s, S1, r))

	replaceTags(t, s, S1, r, []keyward.Tag{})
	diff(t, "tags after an empty replace", []keyward.Tag(nil), findTags(t, s, S1, r))

	replaceTags(t, s, S1, r, tagList("x", "1"))
	replaceTags(t, s, S1, r, nil)
	diff(t, "tags after a nil replace", []keyward.Tag(nil), findTags(t, s, S1, r))
}

func testTagsPerResource(t *testing.T, s keyward.Store) {
	user := keyward.ResourceRef{Type: keyward.ARNUser, ID: "x"}
	group := keyward.ResourceRef{Type: keyward.ARNUserGroup, ID: "x"}
	other := keyward.ResourceRef{Type: keyward.ARNUser, ID: "y"}
	replaceTags(t, s, S1, user, tagList("k", "user"))
	replaceTags(t, s, S1, group, tagList("k", "group"))
	replaceTags(t, s, S1, other, tagList("k", "other"))
	replaceTags(t, s, S2, user, tagList("k", "s2"))
	diff(t, "user tags", tagList("k", "user"), findTags(t, s, S1, user))
	diff(t, "group tags", tagList("k", "group"), findTags(t, s, S1, group))
	diff(t, "other tags", tagList("k", "other"), findTags(t, s, S1, other))
	diff(t, "S2 tags", tagList("k", "s2"), findTags(t, s, S2, user))
	diff(t, "S3 tags", []keyward.Tag(nil), findTags(t, s, S3, user))
}

func testTagsDeletedWithResource(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "x", "y")
	createUsers(t, s, S2, "x")
	createGroup(t, s, NewUserGroup(S1, "x"))
	userX := keyward.ResourceRef{Type: keyward.ARNUser, ID: "x"}
	userY := keyward.ResourceRef{Type: keyward.ARNUser, ID: "y"}
	groupX := keyward.ResourceRef{Type: keyward.ARNUserGroup, ID: "x"}
	for _, sc := range []keyward.Scope{S1, S2} {
		for _, r := range []keyward.ResourceRef{userX, userY, groupX} {
			replaceTags(t, s, sc, r, tagList("k", "v"))
		}
	}

	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUser(ctx(t), S1, "x") })
	diff(t, "deleted user's tags", []keyward.Tag(nil), findTags(t, s, S1, userX))
	diff(t, "other user's tags", tagList("k", "v"), findTags(t, s, S1, userY))
	diff(t, "same-id group's tags", tagList("k", "v"), findTags(t, s, S1, groupX))
	diff(t, "same user in S2's tags", tagList("k", "v"), findTags(t, s, S2, userX))

	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUserGroup(ctx(t), S1, "x") })
	diff(t, "deleted group's tags", []keyward.Tag(nil), findTags(t, s, S1, groupX))
	diff(t, "user y's tags", tagList("k", "v"), findTags(t, s, S1, userY))

	// A resource created again with the same id starts untagged.
	createUsers(t, s, S1, "x")
	diff(t, "recreated user's tags", []keyward.Tag(nil), findTags(t, s, S1, userX))
}

func testScopeIsolation(t *testing.T, s keyward.Store) {
	for _, sc := range []keyward.Scope{S1, S2, S3} {
		createUsers(t, s, sc, "default", "alice") // no EEXISTS across scopes
	}
	createGroup(t, s, NewUserGroup(S1, "g1", "default", "alice"))
	createGroup(t, s, NewUserGroup(S2, "g1", "default"))

	u := findUser(t, s, S2, "alice")
	if u.Scope != S2 {
		t.Errorf("Scope = %v, want %v", u.Scope, S2)
	}
	u.Name, u.Generation = "renamed", 2
	update(t, s, func(tx keyward.Tx) error { return tx.UpdateUser(ctx(t), u) })
	for _, sc := range []keyward.Scope{S1, S3} {
		diff(t, "alice in "+sc.Region+"/"+sc.Account, NewUser(sc, "alice").Name, findUser(t, s, sc, "alice").Name)
	}

	diff(t, "S1 alice GroupIDs", []string{"g1"}, findUser(t, s, S1, "alice").GroupIDs)
	diff(t, "S2 alice GroupIDs", []string(nil), findUser(t, s, S2, "alice").GroupIDs)
	diff(t, "S2 g1 UserIDs", []string{"default"}, findGroup(t, s, S2, "g1").UserIDs)
	if groupExists(t, s, S3, "g1") {
		t.Error("g1 visible in S3")
	}

	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUser(ctx(t), S1, "alice") })
	for _, sc := range []keyward.Scope{S2, S3} {
		if !userExists(t, s, sc, "alice") {
			t.Errorf("deleting alice in S1 deleted her in %v", sc)
		}
	}
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUserGroup(ctx(t), S2, "g1") })
	diff(t, "S1 g1 UserIDs", []string{"default"}, findGroup(t, s, S1, "g1").UserIDs)
	diff(t, "S1 default GroupIDs", []string{"g1"}, findUser(t, s, S1, "default").GroupIDs)

	// A member must exist in the group's own scope.
	createUsers(t, s, S1, "bob")
	err := s.Update(ctx(t), func(tx keyward.Tx) error {
		return tx.CreateUserGroup(ctx(t), NewUserGroup(S3, "g1", "default", "alice", "bob"))
	})
	wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User bob not found.")
}

func testFindUnsettled(t *testing.T, s keyward.Store) {
	view(t, s, func(tx keyward.Tx) error {
		ks, err := tx.FindUnsettled(ctx(t))
		if len(ks) != 0 {
			t.Errorf("FindUnsettled of an empty store = %v", ks)
		}
		return err
	})
	update(t, s, func(tx keyward.Tx) error {
		for _, u := range []struct {
			sc     keyward.Scope
			id     string
			status keyward.UserStatus
		}{
			{S1, "a", keyward.UserActive}, {S1, "b", keyward.UserModifying},
			{S2, "a", keyward.UserDeleting}, {S3, "c", keyward.UserActive},
		} {
			nu := NewUser(u.sc, u.id)
			nu.Status = u.status
			if err := tx.CreateUser(ctx(t), nu); err != nil {
				return err
			}
		}
		for _, g := range []struct {
			sc     keyward.Scope
			id     string
			status keyward.UserGroupStatus
		}{
			{S1, "g1", keyward.UserGroupCreating}, {S1, "g2", keyward.UserGroupActive},
			{S3, "g1", keyward.UserGroupModifying}, {S3, "g3", keyward.UserGroupDeleting},
		} {
			ng := NewUserGroup(g.sc, g.id)
			ng.Status = g.status
			if err := tx.CreateUserGroup(ctx(t), ng); err != nil {
				return err
			}
		}
		return nil
	})
	want := []keyward.Key{
		{Resource: keyward.ResourceUser, Scope: S1, ID: "b"},
		{Resource: keyward.ResourceUser, Scope: S2, ID: "a"},
		{Resource: keyward.ResourceUserGroup, Scope: S1, ID: "g1"},
		{Resource: keyward.ResourceUserGroup, Scope: S3, ID: "g1"},
		{Resource: keyward.ResourceUserGroup, Scope: S3, ID: "g3"},
	}
	var got []keyward.Key
	view(t, s, func(tx keyward.Tx) (err error) {
		got, err = tx.FindUnsettled(ctx(t))
		return err
	})
	diff(t, "FindUnsettled", sortedKeys(want), sortedKeys(got))

	// Settling a resource takes it off the list.
	u := findUser(t, s, S1, "b")
	u.Status = keyward.UserActive
	update(t, s, func(tx keyward.Tx) error {
		if err := tx.UpdateUser(ctx(t), u); err != nil {
			return err
		}
		return tx.DeleteUserGroup(ctx(t), S3, "g3")
	})
	view(t, s, func(tx keyward.Tx) (err error) {
		got, err = tx.FindUnsettled(ctx(t))
		return err
	})
	diff(t, "FindUnsettled after settling", sortedKeys(want[1:4]), sortedKeys(got))
}

func testRollbackOnError(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "bob")
	createGroup(t, s, NewUserGroup(S1, "g1", "default"))
	replaceTags(t, s, S1, keyward.ResourceRef{Type: keyward.ARNUser, ID: "bob"}, tagList("k", "v"))

	err := s.Update(ctx(t), func(tx keyward.Tx) error {
		if err := tx.CreateUser(ctx(t), NewUser(S1, "alice")); err != nil {
			return err
		}
		g := NewUserGroup(S1, "g1", "default", "alice", "bob")
		g.Generation = 2
		if err := tx.UpdateUserGroup(ctx(t), g); err != nil {
			return err
		}
		if err := tx.CreateUserGroup(ctx(t), NewUserGroup(S1, "g2", "alice")); err != nil {
			return err
		}
		if err := tx.ReplaceTags(ctx(t), S1, keyward.ResourceRef{Type: keyward.ARNUser, ID: "bob"}, nil); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx(t), S1, "bob"); err != nil {
			return err
		}
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("Update = %v, want the callback's error as it is", err)
	}
	if userExists(t, s, S1, "alice") {
		t.Error("alice exists after a rolled-back Update")
	}
	if !userExists(t, s, S1, "bob") {
		t.Error("bob is gone after a rolled-back Update")
	}
	if groupExists(t, s, S1, "g2") {
		t.Error("g2 exists after a rolled-back Update")
	}
	diff(t, "g1 after rollback", NewUserGroup(S1, "g1", "default"), findGroup(t, s, S1, "g1"))
	diff(t, "bob's tags after rollback", tagList("k", "v"), findTags(t, s, S1, keyward.ResourceRef{Type: keyward.ARNUser, ID: "bob"}))
}

func testDomainErrorIntact(t *testing.T, s keyward.Store) {
	want := keyward.Errorf(keyward.ESTATE, keyward.ResourceUser, "User alice is not active.")
	for name, run := range map[string]func(func(keyward.Tx) error) error{
		"Update": func(fn func(keyward.Tx) error) error { return s.Update(ctx(t), fn) },
		"View":   func(fn func(keyward.Tx) error) error { return s.View(ctx(t), fn) },
	} {
		if err := run(func(keyward.Tx) error { return want }); err != want {
			t.Errorf("%s = %#v, want the callback's *keyward.Error unchanged", name, err)
		}
		// A store's own domain error passed through the callback, too.
		err := run(func(tx keyward.Tx) error {
			_, err := tx.FindUserByID(ctx(t), S1, "nobody")
			return err
		})
		wantError(t, err, keyward.ENOTFOUND, keyward.ResourceUser, "User nobody not found.")
	}
}

func testReadOwnWrites(t *testing.T, s keyward.Store) {
	update(t, s, func(tx keyward.Tx) error {
		for _, id := range []string{"default", "alice"} {
			if err := tx.CreateUser(ctx(t), NewUser(S1, id)); err != nil {
				return err
			}
		}
		if err := tx.CreateUserGroup(ctx(t), NewUserGroup(S1, "g1", "default", "alice")); err != nil {
			return err
		}
		u, err := tx.FindUserByID(ctx(t), S1, "alice")
		if err != nil {
			return err
		}
		diff(t, "GroupIDs inside the transaction", []string{"g1"}, u.GroupIDs)
		if n, err := tx.CountUsers(ctx(t), S1); err != nil {
			return err
		} else if n != 2 {
			t.Errorf("CountUsers inside the transaction = %d, want 2", n)
		}
		if err := tx.DeleteUser(ctx(t), S1, "alice"); err != nil {
			return err
		}
		g, err := tx.FindUserGroupByID(ctx(t), S1, "g1")
		if err != nil {
			return err
		}
		diff(t, "UserIDs inside the transaction", []string{"default"}, g.UserIDs)
		return nil
	})
}

func testViewIsReadOnly(t *testing.T, s keyward.Store) {
	err := s.View(ctx(t), func(tx keyward.Tx) error {
		return tx.CreateUser(ctx(t), NewUser(S1, "alice"))
	})
	if err == nil {
		t.Error("CreateUser inside View succeeded")
	}
	if userExists(t, s, S1, "alice") {
		t.Error("a write inside View was stored")
	}
}

func testReturnedCopies(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default", "alice")
	createGroup(t, s, NewUserGroup(S1, "g1", "default", "alice"))
	tags := tagList("a", "1", "b", "2")
	r := keyward.ResourceRef{Type: keyward.ARNUser, ID: "alice"}
	replaceTags(t, s, S1, r, tags)
	wantUser, wantGroup := findUser(t, s, S1, "alice").Clone(), findGroup(t, s, S1, "g1").Clone()

	update(t, s, func(tx keyward.Tx) error {
		u, err := tx.FindUserByID(ctx(t), S1, "alice")
		if err != nil {
			return err
		}
		u.Name, u.PasswordHashes[0], u.GroupIDs[0] = "mallory", "x", "y"
		u.GroupIDs = append(u.GroupIDs, "z")
		us, err := tx.FindUsers(ctx(t), S1, keyward.UserFilter{})
		if err != nil {
			return err
		}
		us[1].ID, us[1].PasswordHashes[0] = "eve", "x"
		g, err := tx.FindUserGroupByID(ctx(t), S1, "g1")
		if err != nil {
			return err
		}
		g.UserIDs[0], g.Status = "x", keyward.UserGroupDeleting
		g.UserIDs = append(g.UserIDs, "y")
		tg, err := tx.FindTags(ctx(t), S1, r)
		if err != nil {
			return err
		}
		tg[0].Value = "changed"
		// Reading again inside the same transaction sees the stored values.
		u2, err := tx.FindUserByID(ctx(t), S1, "alice")
		if err != nil {
			return err
		}
		diff(t, "user re-read in the transaction", wantUser, u2)
		return nil
	})
	diff(t, "user", wantUser, findUser(t, s, S1, "alice"))
	diff(t, "group", wantGroup, findGroup(t, s, S1, "g1"))
	diff(t, "tags", tags, findTags(t, s, S1, r))
}

func testPassedInNotRetained(t *testing.T, s keyward.Store) {
	createUsers(t, s, S1, "default")
	u := NewUser(S1, "alice")
	g := NewUserGroup(S1, "g1", "alice", "default")
	g.PendingAdd = []string{"bob"}
	tags := tagList("a", "1")
	r := keyward.ResourceRef{Type: keyward.ARNUserGroup, ID: "g1"}
	wantUser, wantGroup := u.Clone(), g.Clone()
	wantUser.GroupIDs = []string{"g1"}
	update(t, s, func(tx keyward.Tx) error {
		if err := tx.CreateUser(ctx(t), u); err != nil {
			return err
		}
		if err := tx.CreateUserGroup(ctx(t), g); err != nil {
			return err
		}
		if err := tx.ReplaceTags(ctx(t), S1, r, tags); err != nil {
			return err
		}
		u.Name, u.PasswordHashes[0] = "mallory", "x"
		g.UserIDs[0], g.PendingAdd[0] = "x", "y"
		tags[0].Value = "changed"
		return nil
	})
	u.Name, g.Generation = "mallory2", 9
	diff(t, "user", wantUser, findUser(t, s, S1, "alice"))
	diff(t, "group", wantGroup, findGroup(t, s, S1, "g1"))
	diff(t, "tags", tagList("a", "1"), findTags(t, s, S1, r))
}

func testTimeRoundTrip(t *testing.T, s keyward.Store) {
	// Nanoseconds must survive: a PostgreSQL timestamptz keeps only
	// microseconds, so a backend stores times as integers or text.
	times := []time.Time{
		T0,
		time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(2030, 1, 1, 0, 0, 0, 1, time.FixedZone("Y", -8*3600)),
		time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Now(), // carries a monotonic reading, which is not part of the instant
	}
	for i, tm := range times {
		u := NewUser(S1, "u"+string(rune('a'+i)))
		u.StatusSince, u.CreatedAt = tm, tm.Add(-time.Nanosecond)
		g := NewUserGroup(S1, "g"+string(rune('a'+i)))
		g.StatusSince, g.CreatedAt = tm, tm.Add(time.Nanosecond)
		update(t, s, func(tx keyward.Tx) error {
			if err := tx.CreateUser(ctx(t), u); err != nil {
				return err
			}
			return tx.CreateUserGroup(ctx(t), g)
		})
		gu, gg := findUser(t, s, S1, u.ID), findGroup(t, s, S1, g.ID)
		for _, c := range []struct {
			what      string
			got, want time.Time
		}{
			{"user StatusSince", gu.StatusSince, u.StatusSince},
			{"user CreatedAt", gu.CreatedAt, u.CreatedAt},
			{"group StatusSince", gg.StatusSince, g.StatusSince},
			{"group CreatedAt", gg.CreatedAt, g.CreatedAt},
		} {
			if !c.got.Equal(c.want) {
				t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
			}
		}
	}
}
