package api_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/google/go-cmp/cmp"

	"keyward/keywardtest"
	"keyward/server"
)

func groupARN(id string) string { return "arn:aws:elasticache:us-east-1:000000000000:usergroup:" + id }

func createGroup(t *testing.T, c *elasticache.Client, id, engine string, users ...string) *elasticache.CreateUserGroupOutput {
	t.Helper()
	out, err := c.CreateUserGroup(context.Background(), &elasticache.CreateUserGroupInput{UserGroupId: aws.String(id), Engine: aws.String(engine), UserIds: users})
	if err != nil {
		t.Fatalf("CreateUserGroup(%s): %v", id, err)
	}
	return out
}

func describeGroup(t *testing.T, c *elasticache.Client, id string) (types.UserGroup, error) {
	t.Helper()
	out, err := c.DescribeUserGroups(context.Background(), &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String(id)})
	if err != nil {
		return types.UserGroup{}, err
	}
	if len(out.UserGroups) != 1 {
		t.Fatalf("DescribeUserGroups(%s) returned %d groups", id, len(out.UserGroups))
	}
	return out.UserGroups[0], nil
}

func waitGroupStatus(t *testing.T, c *elasticache.Client, id, status string) {
	t.Helper()
	keywardtest.Eventually(t, 10*time.Second, "group "+id+" "+status, func() bool {
		g, err := describeGroup(t, c, id)
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "UserGroupNotFound"
		}
		return err == nil && aws.ToString(g.Status) == status
	})
}

func userGroupIDs(t *testing.T, c *elasticache.Client, id string) []string {
	t.Helper()
	u, err := describeUser(t, c, id)
	if err != nil {
		t.Fatalf("DescribeUsers(%s): %v", id, err)
	}
	return u.UserGroupIds
}

func TestCreateUserGroup(t *testing.T) {
	// The group must still be creating after the five calls below: a delay
	// a loaded machine's slow calls cannot outlast.
	ts := keywardtest.New(t, keywardtest.WithDelay(2*time.Second))
	c := ts.Client
	createUser(t, c, "app", "app")
	createUser(t, c, "iamer", "iamer", func(in *elasticache.CreateUserInput) {
		in.Passwords, in.AuthenticationMode = nil, &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
	})
	out := createGroup(t, c, "Group-1", "REDIS", "default", "APP", "iamer")
	want := types.UserGroup{
		UserGroupId: aws.String("group-1"), Status: aws.String("creating"), Engine: aws.String("redis"),
		UserIds: []string{"app", "default", "iamer"}, MinimumEngineVersion: aws.String("7.0"),
		ReplicationGroups: []string{}, ServerlessCaches: []string{}, ARN: aws.String(groupARN("group-1")),
	}
	got := types.UserGroup{UserGroupId: out.UserGroupId, Status: out.Status, Engine: out.Engine, UserIds: out.UserIds,
		MinimumEngineVersion: out.MinimumEngineVersion, PendingChanges: out.PendingChanges,
		ReplicationGroups: out.ReplicationGroups, ServerlessCaches: out.ServerlessCaches, ARN: out.ARN}
	if diff := cmp.Diff(want, got, ignoreSDK); diff != "" {
		t.Errorf("CreateUserGroup (-want +got):\n%s", diff)
	}
	if g, _ := describeGroup(t, c, "group-1"); aws.ToString(g.Status) != "creating" {
		t.Errorf("status right after create = %s, want creating", aws.ToString(g.Status))
	}
	if got := userGroupIDs(t, c, "app"); !slices.Equal(got, []string{"group-1"}) {
		t.Errorf("app's UserGroupIds = %v", got)
	}
	_, err := c.ModifyUserGroup(t.Context(), &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("group-1"), UserIdsToRemove: []string{"app"}})
	keywardtest.WantError(t, err, "InvalidUserGroupState", 400)
	_, err = c.DeleteUserGroup(t.Context(), &elasticache.DeleteUserGroupInput{UserGroupId: aws.String("group-1")})
	keywardtest.WantError(t, err, "InvalidUserGroupState", 400)
	waitGroupStatus(t, c, "group-1", "active")

	createUser(t, c, "app-twin", "app")
	createUser(t, c, "vkuser", "vkuser", func(in *elasticache.CreateUserInput) { in.Engine = aws.String("valkey") })
	createUser(t, c, "nopw", "nopw", noPassword)
	for _, tt := range []struct {
		name, id, engine, code string
		status                 int
		users                  []string
		msg                    string
	}{
		{"ErrExists", "GROUP-1", "redis", "UserGroupAlreadyExists", 400, []string{"default"}, ""},
		{"ErrNoDefault", "g2", "redis", "DefaultUserRequired", 400, []string{"app"}, "User group needs to contain a user with the user name default."},
		{"ErrNoUsers", "g2", "redis", "DefaultUserRequired", 400, nil, "User group needs to contain a user with the user name default."},
		{"ErrUnknownUser", "g2", "redis", "UserNotFound", 404, []string{"default", "ghost"}, ""},
		{"ErrDuplicateName", "g2", "redis", "DuplicateUserName", 400, []string{"default", "app", "app-twin"}, ""},
		{"ErrValkeyUserInRedisGroup", "g2", "redis", "InvalidParameterValue", 400, []string{"default", "vkuser"}, ""},
		{"ErrNoPasswordInValkeyGroup", "g2", "valkey", "InvalidParameterValue", 400, []string{"nopw"}, ""},
		{"ErrBadID", "2bad", "redis", "InvalidParameterValue", 400, []string{"default"}, ""},
		{"ErrBadEngine", "g2", "memcached", "InvalidParameterValue", 400, []string{"default"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CreateUserGroup(t.Context(), &elasticache.CreateUserGroupInput{UserGroupId: aws.String(tt.id), Engine: aws.String(tt.engine), UserIds: tt.users})
			keywardtest.WantError(t, err, tt.code, tt.status)
			if _, msg := errorMessage(err); tt.msg != "" && msg != tt.msg {
				t.Errorf("message = %q, want %q", msg, tt.msg)
			}
		})
	}
	t.Run("OK valkey without default", func(t *testing.T) {
		out := createGroup(t, c, "vk-group", "valkey", "vkuser", "app")
		if aws.ToString(out.MinimumEngineVersion) != "7.2" {
			t.Errorf("MinimumEngineVersion = %s, want 7.2", aws.ToString(out.MinimumEngineVersion))
		}
	})
}

func TestUserGroup_Quotas(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.Quotas.UserGroups = 1; c.Quotas.UsersPerGroup = 2; c.Quotas.Users = 100 })
	c := ts.Client
	createUser(t, c, "a", "a")
	createUser(t, c, "b", "b")
	_, err := c.CreateUserGroup(t.Context(), &elasticache.CreateUserGroupInput{UserGroupId: aws.String("big"), Engine: aws.String("redis"), UserIds: []string{"default", "a", "b"}})
	keywardtest.WantError(t, err, "UserGroupQuotaExceeded", 400)
	createGroup(t, c, "one", "redis", "default", "a")
	_, err = c.CreateUserGroup(t.Context(), &elasticache.CreateUserGroupInput{UserGroupId: aws.String("two"), Engine: aws.String("redis"), UserIds: []string{"default"}})
	keywardtest.WantError(t, err, "UserGroupQuotaExceeded", 400)
	waitGroupStatus(t, c, "one", "active")
	_, err = c.ModifyUserGroup(t.Context(), &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("one"), UserIdsToAdd: []string{"b"}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
}

func TestModifyUserGroup(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(300*time.Millisecond))
	c := ts.Client
	createUser(t, c, "a", "a")
	createUser(t, c, "b", "b")
	createUser(t, c, "b-twin", "b")
	createUser(t, c, "new-default", "default", func(in *elasticache.CreateUserInput) { in.AccessString = aws.String("off +get ~keys*") })
	createGroup(t, c, "grp", "redis", "default", "a")
	waitGroupStatus(t, c, "grp", "active")

	out, err := c.ModifyUserGroup(t.Context(), &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("GRP"), UserIdsToAdd: []string{"B"}, UserIdsToRemove: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Status) != "modifying" || !slices.Equal(out.UserIds, []string{"a", "default"}) ||
		out.PendingChanges == nil || !slices.Equal(out.PendingChanges.UserIdsToAdd, []string{"b"}) || !slices.Equal(out.PendingChanges.UserIdsToRemove, []string{"a"}) {
		t.Errorf("ModifyUserGroup answered status %s ids %v pending %+v", aws.ToString(out.Status), out.UserIds, out.PendingChanges)
	}
	_, err = c.ModifyUserGroup(t.Context(), &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp"), UserIdsToAdd: []string{"a"}})
	keywardtest.WantError(t, err, "InvalidUserGroupState", 400)
	if _, msg := errorMessage(err); msg != "User group grp has status modifying. Only active user groups can be modified." {
		t.Errorf("message = %q", msg)
	}
	waitGroupStatus(t, c, "grp", "active")
	g, _ := describeGroup(t, c, "grp")
	if !slices.Equal(g.UserIds, []string{"b", "default"}) || g.PendingChanges != nil {
		t.Errorf("after modify: ids %v pending %+v", g.UserIds, g.PendingChanges)
	}
	if got := userGroupIDs(t, c, "a"); len(got) != 0 {
		t.Errorf("a's UserGroupIds = %v, want []", got)
	}
	if got := userGroupIDs(t, c, "b"); !slices.Equal(got, []string{"grp"}) {
		t.Errorf("b's UserGroupIds = %v", got)
	}

	for _, tt := range []struct {
		name, code string
		status     int
		in         elasticache.ModifyUserGroupInput
		msg        string
	}{
		{"ErrNotFound", "UserGroupNotFound", 404, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("nope"), UserIdsToAdd: []string{"a"}}, ""},
		{"ErrNotMember", "InvalidParameterValue", 400, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp"), UserIdsToAdd: []string{"a"}, UserIdsToRemove: []string{"new-default"}}, "not a member"},
		{"ErrUnknownUser", "UserNotFound", 404, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp"), UserIdsToAdd: []string{"ghost"}}, ""},
		{"ErrRemoveDefault", "DefaultUserRequired", 400, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp"), UserIdsToRemove: []string{"default"}}, "User group needs to contain a user with the user name default."},
		{"ErrTwoDefaults", "DuplicateUserName", 400, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp"), UserIdsToAdd: []string{"new-default"}}, ""},
		{"ErrDuplicateName", "DuplicateUserName", 400, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp"), UserIdsToAdd: []string{"b-twin"}}, ""},
		{"ErrNothing", "InvalidParameterCombination", 400, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp")}, ""},
		{"ErrAlreadyMember", "InvalidParameterValue", 400, elasticache.ModifyUserGroupInput{UserGroupId: aws.String("grp"), UserIdsToAdd: []string{"b"}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ModifyUserGroup(t.Context(), &tt.in)
			keywardtest.WantError(t, err, tt.code, tt.status)
			if _, msg := errorMessage(err); !strings.Contains(msg, tt.msg) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.msg)
			}
			if g, _ := describeGroup(t, c, "grp"); aws.ToString(g.Status) != "active" || !slices.Equal(g.UserIds, []string{"b", "default"}) {
				t.Errorf("a refused change altered the group: %s %v", aws.ToString(g.Status), g.UserIds)
			}
		})
	}
}

func TestDeleteUserGroup(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(300*time.Millisecond))
	c := ts.Client
	createUser(t, c, "a", "a")
	createGroup(t, c, "doomed", "redis", "default", "a")
	waitGroupStatus(t, c, "doomed", "active")
	out, err := c.DeleteUserGroup(t.Context(), &elasticache.DeleteUserGroupInput{UserGroupId: aws.String("DOOMED")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Status) != "deleting" || !slices.Equal(out.UserIds, []string{"a", "default"}) {
		t.Errorf("DeleteUserGroup answered %s %v", aws.ToString(out.Status), out.UserIds)
	}
	_, err = c.DeleteUserGroup(t.Context(), &elasticache.DeleteUserGroupInput{UserGroupId: aws.String("doomed")})
	keywardtest.WantError(t, err, "InvalidUserGroupState", 400)
	waitGroupStatus(t, c, "doomed", "gone")
	if got := userGroupIDs(t, c, "a"); len(got) != 0 {
		t.Errorf("a's UserGroupIds = %v after its group was deleted", got)
	}
	_, err = c.DeleteUserGroup(t.Context(), &elasticache.DeleteUserGroupInput{UserGroupId: aws.String("doomed")})
	keywardtest.WantError(t, err, "UserGroupNotFound", 404)
}

// TestDeleteUser_Cascade is the seed page: a deleted member leaves every
// group it belongs to, the groups pass through "modifying", and the user
// disappears.
func TestDeleteUser_Cascade(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(300*time.Millisecond))
	c := ts.Client
	createUser(t, c, "member", "member")
	createUser(t, c, "custom-default", "default", func(in *elasticache.CreateUserInput) { in.AccessString = aws.String("off ~* -@all") })
	createGroup(t, c, "g1", "redis", "default", "member")
	createGroup(t, c, "g2", "redis", "custom-default", "member")
	waitGroupStatus(t, c, "g1", "active")
	waitGroupStatus(t, c, "g2", "active")

	_, err := c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("custom-default")})
	keywardtest.WantError(t, err, "DefaultUserAssociatedToUserGroup", 400)
	if _, msg := errorMessage(err); !strings.HasPrefix(msg, "User is associated to user grou") {
		t.Errorf("message = %q", msg)
	}

	out, err := c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("member")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Status) != "deleting" || !slices.Equal(out.UserGroupIds, []string{"g1", "g2"}) {
		t.Errorf("DeleteUser answered %s %v", aws.ToString(out.Status), out.UserGroupIds)
	}
	for _, id := range []string{"g1", "g2"} {
		g, _ := describeGroup(t, c, id)
		if aws.ToString(g.Status) != "modifying" || slices.Contains(g.UserIds, "member") {
			t.Errorf("group %s right after DeleteUser: %s %v", id, aws.ToString(g.Status), g.UserIds)
		}
	}
	_, err = c.ModifyUserGroup(t.Context(), &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("g1"), UserIdsToRemove: []string{"member"}})
	keywardtest.WantError(t, err, "InvalidUserGroupState", 400)
	waitUserStatus(t, c, "member", "gone")
	waitGroupStatus(t, c, "g1", "active")
	waitGroupStatus(t, c, "g2", "active")
	_, err = c.ModifyUserGroup(t.Context(), &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("g1"), UserIdsToRemove: []string{"member"}})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	if _, msg := errorMessage(err); !strings.Contains(msg, "not a member") {
		t.Errorf("message = %q", msg)
	}
	// Outside any group, a default-named user can be deleted.
	createUser(t, c, "spare-default", "default", noPassword)
	if _, err := c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("spare-default")}); err != nil {
		t.Errorf("DeleteUser(spare-default): %v", err)
	}
}

// TestTerraformSequence replays what the Terraform provider does, with its
// waiters: users, a group, a default-user swap, then teardown.
func TestTerraformSequence(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(100*time.Millisecond))
	c := ts.Client
	ctx := t.Context()
	for _, id := range []string{"tf-app", "tf-default"} {
		name := id
		if id == "tf-default" {
			name = "default"
		}
		_, err := c.CreateUser(ctx, &elasticache.CreateUserInput{
			UserId: aws.String(id), UserName: aws.String(name), Engine: aws.String("redis"),
			AccessString: aws.String("on ~* +@all"), NoPasswordRequired: aws.Bool(false),
			AuthenticationMode: &types.AuthenticationMode{Type: types.InputAuthenticationTypePassword, Passwords: []string{pw1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		waitUserStatus(t, c, id, "active") // Terraform's create waiter: creating → active
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("tf-group"), Engine: aws.String("redis"), UserIds: []string{"default", "tf-app"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupStatus(t, c, "tf-group", "active")
	if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("tf-group"), UserIdsToAdd: []string{"tf-default"}, UserIdsToRemove: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	waitGroupStatus(t, c, "tf-group", "active")
	if g, _ := describeGroup(t, c, "tf-group"); !slices.Equal(g.UserIds, []string{"tf-app", "tf-default"}) {
		t.Errorf("after swap: %v", g.UserIds)
	}
	if _, err := c.DeleteUserGroup(ctx, &elasticache.DeleteUserGroupInput{UserGroupId: aws.String("tf-group")}); err != nil {
		t.Fatal(err)
	}
	waitGroupStatus(t, c, "tf-group", "gone")
	for _, id := range []string{"tf-app", "tf-default"} {
		if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		waitUserStatus(t, c, id, "gone")
		// Terraform treats UserNotFound on delete as success.
		_, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(id)})
		keywardtest.WantError(t, err, "UserNotFound", 404)
	}
}

// TestMembership_Concurrent hammers groups with adds, removes and user
// deletions from many clients; afterwards both sides of membership agree
// exactly and every group still satisfies its rules.
func TestMembership_Concurrent(t *testing.T) {
	ts := keywardtest.New(t)
	c := ts.Client
	const nUsers, nGroups, workers, ops = 24, 4, 8, 40
	for i := range nUsers {
		createUser(t, c, fmt.Sprintf("u%02d", i), fmt.Sprintf("u%02d", i))
	}
	for g := range nGroups {
		createGroup(t, c, fmt.Sprintf("g%d", g), "redis", "default")
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 42))
			for range ops {
				g := aws.String(fmt.Sprintf("g%d", r.IntN(nGroups)))
				u := fmt.Sprintf("u%02d", r.IntN(nUsers))
				switch r.IntN(5) {
				case 0, 1:
					c.ModifyUserGroup(context.Background(), &elasticache.ModifyUserGroupInput{UserGroupId: g, UserIdsToAdd: []string{u}})
				case 2, 3:
					c.ModifyUserGroup(context.Background(), &elasticache.ModifyUserGroupInput{UserGroupId: g, UserIdsToRemove: []string{u}})
				case 4:
					c.DeleteUser(context.Background(), &elasticache.DeleteUserInput{UserId: aws.String(u)})
				}
			}
		}()
	}
	wg.Wait()
	// Let every transition settle.
	keywardtest.Eventually(t, 20*time.Second, "everything settled", func() bool {
		users, _ := c.DescribeUsers(context.Background(), &elasticache.DescribeUsersInput{})
		groups, _ := c.DescribeUserGroups(context.Background(), &elasticache.DescribeUserGroupsInput{})
		for _, u := range users.Users {
			if aws.ToString(u.Status) != "active" {
				return false
			}
		}
		for _, g := range groups.UserGroups {
			if aws.ToString(g.Status) != "active" {
				return false
			}
		}
		return true
	})
	users, err := c.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := c.DescribeUserGroups(t.Context(), &elasticache.DescribeUserGroupsInput{})
	if err != nil {
		t.Fatal(err)
	}
	fromUsers, fromGroups := map[string][]string{}, map[string][]string{}
	for _, u := range users.Users {
		for _, g := range u.UserGroupIds {
			fromUsers[g] = append(fromUsers[g], aws.ToString(u.UserId))
		}
	}
	for _, g := range groups.UserGroups {
		ids := slices.Clone(g.UserIds)
		sort.Strings(ids)
		fromGroups[aws.ToString(g.UserGroupId)] = ids
		if !slices.Contains(ids, "default") {
			t.Errorf("group %s lost its default user: %v", aws.ToString(g.UserGroupId), ids)
		}
		for _, id := range ids {
			if _, err := describeUser(t, c, id); err != nil {
				t.Errorf("group %s lists %s, which does not exist: %v", aws.ToString(g.UserGroupId), id, err)
			}
		}
	}
	for g := range fromUsers {
		sort.Strings(fromUsers[g])
	}
	for g, ids := range fromGroups {
		if len(ids) == 0 {
			delete(fromGroups, g)
		}
	}
	if diff := cmp.Diff(fromGroups, fromUsers); diff != "" {
		t.Errorf("membership sides disagree (groups -, users +):\n%s", diff)
	}
}
