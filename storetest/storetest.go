// Package storetest holds the behaviour every keyward.Store must show, as
// one conformance suite that each backend runs from a single test:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) keyward.Store { ... })
//	}
//
// The suite uses only the keyward.Store and keyward.Tx contract, never a
// backend's internals, so the SQLite and PostgreSQL stores run the same
// tests. Backend-specific behaviour (migrations, locking, crash recovery)
// is tested in the backend's own package.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"keyward"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Run runs the suite. open is called once per subtest, possibly from
// several subtests at once (they run in parallel), and must return an empty
// store of its own; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) keyward.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s keyward.Store)
	}{
		{"Docs/RoundTrip", testDocsRoundTrip},
		{"Docs/Errors", testDocsErrors},
		{"Docs/UpdateReplaces", testDocsUpdateReplaces},
		{"Docs/DeleteRules", testDocsDeleteRules},
		{"Docs/Query", testDocsQuery},
		{"Docs/Unsettled", testDocsUnsettled},
		{"Concurrency/References", testConcurrentReferences},
		{"Events/FromTransitions", testEventsFromTransitions},
		{"Events/RangeAndRetention", testEventsRangeAndRetention},

		{"CreateUser/OK", testCreateUser},
		{"CreateUser/ErrExists", testCreateUserErrExists},
		{"CreateUser/IgnoresGroupIDs", testCreateUserIgnoresGroupIDs},
		{"FindUserByID/ErrNotFound", testFindUserByIDErrNotFound},
		{"UpdateUser/OK", testUpdateUser},
		{"UpdateUser/ErrNotFound", testUpdateUserErrNotFound},
		{"UpdateUser/KeepsMembership", testUpdateUserKeepsMembership},
		{"DeleteUser/OK", testDeleteUser},
		{"DeleteUser/ErrNotFound", testDeleteUserErrNotFound},
		{"FindUsers/Filter", testFindUsersFilter},
		{"FindUsers/Pagination", testFindUsersPagination},
		{"CountUsers", testCountUsers},

		{"CreateUserGroup/OK", testCreateUserGroup},
		{"CreateUserGroup/ErrExists", testCreateUserGroupErrExists},
		{"CreateUserGroup/ErrUnknownMember", testCreateUserGroupErrUnknownMember},
		{"FindUserGroupByID/ErrNotFound", testFindUserGroupByIDErrNotFound},
		{"UpdateUserGroup/OK", testUpdateUserGroup},
		{"UpdateUserGroup/ErrNotFound", testUpdateUserGroupErrNotFound},
		{"UpdateUserGroup/ErrUnknownMember", testUpdateUserGroupErrUnknownMember},
		{"DeleteUserGroup/OK", testDeleteUserGroup},
		{"DeleteUserGroup/ErrNotFound", testDeleteUserGroupErrNotFound},
		{"FindUserGroups/FilterAndPagination", testFindUserGroups},
		{"CountUserGroups", testCountUserGroups},

		{"Membership/DerivedBothWays", testMembershipDerived},
		{"Membership/CascadeOnUserDelete", testMembershipCascadeUser},
		{"Membership/CascadeOnGroupDelete", testMembershipCascadeGroup},

		{"Tags/Order", testTagsOrder},
		{"Tags/Replace", testTagsReplace},
		{"Tags/PerResource", testTagsPerResource},
		{"Tags/DeletedWithResource", testTagsDeletedWithResource},

		{"CacheGroups/RoundTrip", testCacheGroupsRoundTrip},
		{"CacheGroups/HeldByCache", testCacheGroupsHeldByCache},

		{"Scope/Isolation", testScopeIsolation},
		{"FindUnsettled", testFindUnsettled},

		{"Tx/RollbackOnError", testRollbackOnError},
		{"Tx/DomainErrorIntact", testDomainErrorIntact},
		{"Tx/ReadOwnWrites", testReadOwnWrites},
		{"Tx/ViewIsReadOnly", testViewIsReadOnly},
		{"Copies/Returned", testReturnedCopies},
		{"Copies/PassedIn", testPassedInNotRetained},
		{"Time/RoundTrip", testTimeRoundTrip},

		{"Concurrency/Membership", testConcurrentMembership},

		{"User/LeavingGroups", testUserLeavingGroups},

		{"CreateCache/OK", testCreateCache},
		{"CreateCache/ErrExists", testCreateCacheErrExists},
		{"CreateCache/ErrUnknownGroup", testCreateCacheErrUnknownGroup},
		{"FindCacheByID/ErrNotFound", testFindCacheByIDErrNotFound},
		{"UpdateCache/OK", testUpdateCache},
		{"UpdateCache/ErrNotFound", testUpdateCacheErrNotFound},
		{"UpdateCache/ErrUnknownGroup", testUpdateCacheErrUnknownGroup},
		{"DeleteCache/OK", testDeleteCache},
		{"DeleteCache/ErrNotFound", testDeleteCacheErrNotFound},
		{"FindCaches/FilterAndPagination", testFindCaches},
		{"FindAllCaches", testFindAllCaches},
		{"Attachments/DerivedBothWays", testAttachmentsDerived},
		{"Attachments/RestrictGroupDelete", testAttachmentsRestrictGroupDelete},
		{"Cache/ScopeAndKindIsolation", testCacheIsolation},
		{"Cache/FindUnsettled", testFindUnsettledCaches},
		{"Cache/RollbackOnError", testCacheRollbackOnError},
		{"Cache/Copies", testCacheCopies},
		{"Cache/TimeRoundTrip", testCacheTimeRoundTrip},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// Scopes the tests use; S2 shares S1's account and differs by region, S3
// shares S1's region and differs by account.
var (
	S1 = keyward.Scope{Account: "111111111111", Region: "us-east-1"}
	S2 = keyward.Scope{Account: "111111111111", Region: "eu-west-1"}
	S3 = keyward.Scope{Account: "222222222222", Region: "us-east-1"}
)

// T0 is a time with nanoseconds outside UTC: stores must keep both the
// instant and the nanoseconds.
var T0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("X", 5*3600+30*60))

// NewUser returns a user with every field set, as the api package would
// create it.
func NewUser(s keyward.Scope, id string) *keyward.User {
	return &keyward.User{
		Scope: s, ID: id, Name: id, Engine: keyward.EngineRedis,
		AccessString: "on ~* +@all", Auth: keyward.AuthPassword,
		PasswordHashes:       []string{keyward.HashPassword("password-of-" + id + "-0123456789")},
		MinimumEngineVersion: "6.0", Status: keyward.UserActive,
		StatusSince: T0, Generation: 1, CreatedAt: T0.Add(-time.Hour),
	}
}

// NewUserGroup returns a group with every field set and the given members.
func NewUserGroup(s keyward.Scope, id string, userIDs ...string) *keyward.UserGroup {
	return &keyward.UserGroup{
		Scope: s, ID: id, Engine: keyward.EngineRedis, Status: keyward.UserGroupActive,
		StatusSince: T0, Generation: 1, CreatedAt: T0.Add(-time.Minute),
		UserIDs: userIDs, MinimumEngineVersion: "6.0",
	}
}

// cmpOpts treats nil and empty slices alike: a store may return either.
var cmpOpts = []cmp.Option{cmpopts.EquateEmpty()}

func update(t *testing.T, s keyward.Store, fn func(keyward.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s keyward.Store, fn func(keyward.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func createUsers(t *testing.T, s keyward.Store, sc keyward.Scope, ids ...string) {
	t.Helper()
	update(t, s, func(tx keyward.Tx) error {
		for _, id := range ids {
			if err := tx.CreateUser(t.Context(), NewUser(sc, id)); err != nil {
				return err
			}
		}
		return nil
	})
}

func createGroup(t *testing.T, s keyward.Store, g *keyward.UserGroup) {
	t.Helper()
	update(t, s, func(tx keyward.Tx) error { return tx.CreateUserGroup(t.Context(), g) })
}

func findUser(t *testing.T, s keyward.Store, sc keyward.Scope, id string) *keyward.User {
	t.Helper()
	var u *keyward.User
	view(t, s, func(tx keyward.Tx) (err error) {
		u, err = tx.FindUserByID(t.Context(), sc, id)
		return err
	})
	return u
}

func findGroup(t *testing.T, s keyward.Store, sc keyward.Scope, id string) *keyward.UserGroup {
	t.Helper()
	var g *keyward.UserGroup
	view(t, s, func(tx keyward.Tx) (err error) {
		g, err = tx.FindUserGroupByID(t.Context(), sc, id)
		return err
	})
	return g
}

func findUsers(t *testing.T, s keyward.Store, sc keyward.Scope, f keyward.UserFilter) []*keyward.User {
	t.Helper()
	var us []*keyward.User
	view(t, s, func(tx keyward.Tx) (err error) {
		us, err = tx.FindUsers(t.Context(), sc, f)
		return err
	})
	return us
}

func findGroups(t *testing.T, s keyward.Store, sc keyward.Scope, f keyward.UserGroupFilter) []*keyward.UserGroup {
	t.Helper()
	var gs []*keyward.UserGroup
	view(t, s, func(tx keyward.Tx) (err error) {
		gs, err = tx.FindUserGroups(t.Context(), sc, f)
		return err
	})
	return gs
}

func findTags(t *testing.T, s keyward.Store, sc keyward.Scope, r keyward.ResourceRef) []keyward.Tag {
	t.Helper()
	var tags []keyward.Tag
	view(t, s, func(tx keyward.Tx) (err error) {
		tags, err = tx.FindTags(t.Context(), sc, r)
		return err
	})
	return tags
}

func replaceTags(t *testing.T, s keyward.Store, sc keyward.Scope, r keyward.ResourceRef, tags []keyward.Tag) {
	t.Helper()
	update(t, s, func(tx keyward.Tx) error { return tx.ReplaceTags(t.Context(), sc, r, tags) })
}

// userExists reports whether FindUserByID finds the user; any error but
// ENOTFOUND fails the test.
func userExists(t *testing.T, s keyward.Store, sc keyward.Scope, id string) bool {
	t.Helper()
	var found bool
	view(t, s, func(tx keyward.Tx) error {
		_, err := tx.FindUserByID(t.Context(), sc, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		}
		found = err == nil
		return err
	})
	return found
}

func groupExists(t *testing.T, s keyward.Store, sc keyward.Scope, id string) bool {
	t.Helper()
	var found bool
	view(t, s, func(tx keyward.Tx) error {
		_, err := tx.FindUserGroupByID(t.Context(), sc, id)
		if keyward.ErrorCode(err) == keyward.ENOTFOUND {
			return nil
		}
		found = err == nil
		return err
	})
	return found
}

// wantError checks that err is a domain error with the given code,
// resource and public message (message "" skips the message check).
func wantError(t *testing.T, err error, code string, res keyward.Resource, message string) {
	t.Helper()
	var e *keyward.Error
	if got := keyward.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode(%v) = %q, want %q", err, got, code)
	} else if !errors.As(err, &e) {
		t.Fatalf("error %v is not a *keyward.Error", err)
	} else if e.Resource != res {
		t.Errorf("error %v: Resource = %q, want %q", err, e.Resource, res)
	} else if message != "" && e.Message != message {
		t.Errorf("error %v: Message = %q, want %q", err, e.Message, message)
	}
}

// resource is a stored value with an id.
type resource interface {
	*keyward.User | *keyward.UserGroup | *keyward.Cache
}

// ids returns the ids of vs, in order.
func ids[T resource](vs []T) []string {
	out := []string{}
	for _, v := range vs {
		switch v := any(v).(type) {
		case *keyward.User:
			out = append(out, v.ID)
		case *keyward.UserGroup:
			out = append(out, v.ID)
		case *keyward.Cache:
			out = append(out, v.ID)
		}
	}
	return out
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got, cmpOpts...); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, d)
	}
}

// errBoom is a caller's error that Update must return as it is.
var errBoom = errors.New("boom")

func ctx(t *testing.T) context.Context { return t.Context() }

func userIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%02d", i)
	}
	return out
}

func sortedKeys(ks []keyward.Key) []keyward.Key {
	return slices.SortedFunc(slices.Values(ks), func(a, b keyward.Key) int {
		switch {
		case a.String() < b.String():
			return -1
		case a.String() > b.String():
			return 1
		}
		return 0
	})
}

// tagList returns the tags of alternating keys and values.
func tagList(kv ...string) []keyward.Tag {
	tags := make([]keyward.Tag, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, keyward.Tag{Key: kv[i], Value: kv[i+1]})
	}
	return tags
}
