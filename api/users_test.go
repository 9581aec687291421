package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"keyward/keywardtest"
	"keyward/server"
)

const (
	pw1 = "correct-horse-battery-1"
	pw2 = "correct-horse-battery-2"
)

var ignoreSDK = cmpopts.IgnoreUnexported(types.User{}, types.Authentication{}, types.UserGroup{}, types.UserGroupPendingChanges{}, types.Tag{})

func userARN(id string) string { return "arn:aws:elasticache:us-east-1:000000000000:user:" + id }

func createUser(t *testing.T, c *elasticache.Client, id, name string, opts ...func(*elasticache.CreateUserInput)) *elasticache.CreateUserOutput {
	t.Helper()
	in := &elasticache.CreateUserInput{
		UserId: aws.String(id), UserName: aws.String(name), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{pw1},
	}
	for _, o := range opts {
		o(in)
	}
	out, err := c.CreateUser(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", id, err)
	}
	return out
}

func noPassword(in *elasticache.CreateUserInput) {
	in.Passwords, in.NoPasswordRequired = nil, aws.Bool(true)
}

func describeUser(t *testing.T, c *elasticache.Client, id string) (types.User, error) {
	t.Helper()
	out, err := c.DescribeUsers(context.Background(), &elasticache.DescribeUsersInput{UserId: aws.String(id)})
	if err != nil {
		return types.User{}, err
	}
	if len(out.Users) != 1 {
		t.Fatalf("DescribeUsers(%s) returned %d users", id, len(out.Users))
	}
	return out.Users[0], nil
}

func waitUserStatus(t *testing.T, c *elasticache.Client, id, status string) {
	t.Helper()
	keywardtest.Eventually(t, 10*time.Second, "user "+id+" "+status, func() bool {
		u, err := describeUser(t, c, id)
		if status == "gone" {
			code, _ := keywardtest.APIError(err)
			return code == "UserNotFound"
		}
		return err == nil && aws.ToString(u.Status) == status
	})
}

func TestDescribeUsers_DefaultUser(t *testing.T) {
	ts := keywardtest.New(t)
	out, err := ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
	if err != nil {
		t.Fatal(err)
	}
	want := []types.User{{
		UserId: aws.String("default"), UserName: aws.String("default"), Status: aws.String("active"),
		Engine: aws.String("redis"), MinimumEngineVersion: aws.String("6.0"), AccessString: aws.String("on ~* +@all"),
		UserGroupIds: []string{}, Authentication: &types.Authentication{Type: types.AuthenticationTypeNoPassword},
		ARN: aws.String(userARN("default")),
	}}
	if diff := cmp.Diff(want, out.Users, ignoreSDK); diff != "" {
		t.Errorf("users mismatch (-want +got):\n%s", diff)
	}
}

func TestCreateUser(t *testing.T) {
	ts := keywardtest.New(t)
	c := ts.Client
	t.Run("OK password", func(t *testing.T) {
		out := createUser(t, c, "Alice-1", "alice", func(in *elasticache.CreateUserInput) {
			in.Engine, in.Passwords, in.AccessString = aws.String("Redis"), []string{pw1, pw2}, aws.String("off +get ~keys*")
		})
		got := types.User{UserId: out.UserId, UserName: out.UserName, Status: out.Status, Engine: out.Engine,
			MinimumEngineVersion: out.MinimumEngineVersion, AccessString: out.AccessString,
			UserGroupIds: out.UserGroupIds, Authentication: out.Authentication, ARN: out.ARN}
		want := types.User{
			UserId: aws.String("alice-1"), UserName: aws.String("alice"), Status: aws.String("active"),
			Engine: aws.String("redis"), MinimumEngineVersion: aws.String("6.0"), AccessString: aws.String("off ~keys* -@all +get"),
			UserGroupIds: []string{}, Authentication: &types.Authentication{Type: types.AuthenticationTypePassword, PasswordCount: aws.Int32(2)},
			ARN: aws.String(userARN("alice-1")),
		}
		if diff := cmp.Diff(want, got, ignoreSDK); diff != "" {
			t.Errorf("CreateUser mismatch (-want +got):\n%s", diff)
		}
		u, err := describeUser(t, c, "ALICE-1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, u, ignoreSDK); diff != "" {
			t.Errorf("DescribeUsers mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("OK no-password", func(t *testing.T) {
		out := createUser(t, c, "bob", "bob", noPassword)
		if got := out.Authentication; got.Type != types.AuthenticationTypeNoPassword || got.PasswordCount != nil {
			t.Errorf("Authentication = %+v, want no-password without PasswordCount", got)
		}
	})
	t.Run("OK AuthenticationMode iam", func(t *testing.T) {
		out := createUser(t, c, "iamuser", "iamuser", func(in *elasticache.CreateUserInput) {
			in.Passwords = nil
			in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
		})
		if out.Authentication.Type != types.AuthenticationTypeIam || aws.ToString(out.MinimumEngineVersion) != "7.0" {
			t.Errorf("got %v %v, want iam 7.0", out.Authentication.Type, aws.ToString(out.MinimumEngineVersion))
		}
	})
	t.Run("OK AuthenticationMode password, Terraform style", func(t *testing.T) {
		out := createUser(t, c, "tf", "tf", func(in *elasticache.CreateUserInput) {
			in.Passwords, in.NoPasswordRequired = nil, aws.Bool(false)
			in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypePassword, Passwords: []string{pw1}}
		})
		if aws.ToInt32(out.Authentication.PasswordCount) != 1 {
			t.Errorf("PasswordCount = %v, want 1", out.Authentication.PasswordCount)
		}
	})
	t.Run("OK valkey", func(t *testing.T) {
		out := createUser(t, c, "vk", "vk", func(in *elasticache.CreateUserInput) { in.Engine = aws.String("VALKEY") })
		if aws.ToString(out.Engine) != "valkey" || aws.ToString(out.MinimumEngineVersion) != "7.2" {
			t.Errorf("got %s %s, want valkey 7.2", aws.ToString(out.Engine), aws.ToString(out.MinimumEngineVersion))
		}
	})

	long := strings.Repeat("x", 129)
	for _, tt := range []struct {
		name, code string
		status     int
		msg        string
		mod        func(*elasticache.CreateUserInput)
	}{
		{"ErrExists", "UserAlreadyExists", 400, "", func(in *elasticache.CreateUserInput) { in.UserId = aws.String("ALICE-1") }},
		{"ErrBadID", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.UserId = aws.String("1abc") }},
		{"ErrBadEngine", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.Engine = aws.String("memcached") }},
		{"ErrShortPassword", "InvalidParameterValue", 400, "Passwords length must be between 16-128 characters.", func(in *elasticache.CreateUserInput) { in.Passwords = []string{"short"} }},
		{"ErrLongPassword", "InvalidParameterValue", 400, "Passwords length must be between 16-128 characters.", func(in *elasticache.CreateUserInput) { in.Passwords = []string{long} }},
		{"ErrPasswordChars", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.Passwords = []string{"abcdefghijklmnop@"} }},
		{"ErrThreePasswords", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.Passwords = []string{pw1, pw2, pw1 + "x"} }},
		{"ErrNoAuth", "InvalidParameterValue", 400, "Input Authentication type: null is not in the allowed list: [password,no-password-required,iam]", func(in *elasticache.CreateUserInput) {
			in.Passwords, in.NoPasswordRequired = nil, aws.Bool(false)
		}},
		{"ErrUnknownAuthType", "InvalidParameterValue", 400, "Input Authentication type: magic is not in the allowed list: [password,no-password-required,iam]", func(in *elasticache.CreateUserInput) {
			in.Passwords, in.AuthenticationMode = nil, &types.AuthenticationMode{Type: "magic"}
		}},
		{"ErrTwoPasswordSources", "InvalidParameterCombination", 400, "Passwords provided via multiple arguments. Use only one argument", func(in *elasticache.CreateUserInput) {
			in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypePassword, Passwords: []string{pw2}}
		}},
		{"ErrNoPasswordWithPasswords", "InvalidParameterCombination", 400, "", func(in *elasticache.CreateUserInput) { in.NoPasswordRequired = aws.Bool(true) }},
		{"ErrNoPasswordWithIAM", "InvalidParameterCombination", 400, "No password required flag is true but provided authentication type is iam", func(in *elasticache.CreateUserInput) {
			in.Passwords, in.NoPasswordRequired = nil, aws.Bool(true)
			in.AuthenticationMode = &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
		}},
		{"ErrModePasswordWithout", "InvalidParameterCombination", 400, "A user with Authentication Mode: password, must have at least one password", func(in *elasticache.CreateUserInput) {
			in.Passwords, in.AuthenticationMode = nil, &types.AuthenticationMode{Type: types.InputAuthenticationTypePassword}
		}},
		{"ErrIAMWithPassword", "InvalidParameterCombination", 400, "Password field is not allowed with authentication type: iam", func(in *elasticache.CreateUserInput) {
			in.Passwords, in.AuthenticationMode = nil, &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam, Passwords: []string{pw1}}
		}},
		{"ErrIAMNameMismatch", "InvalidParameterCombination", 400, "User Id and User name must be same for authentication type: iam", func(in *elasticache.CreateUserInput) {
			in.UserName = aws.String("someone-else")
			in.Passwords, in.AuthenticationMode = nil, &types.AuthenticationMode{Type: types.InputAuthenticationTypeIam}
		}},
		{"ErrValkeyNoPassword", "InvalidParameterCombination", 400, "", func(in *elasticache.CreateUserInput) {
			in.Engine, in.Passwords, in.NoPasswordRequired = aws.String("valkey"), nil, aws.Bool(true)
		}},
		{"ErrAccessStringPassword", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.AccessString = aws.String("on >secretsecret ~* +@all") }},
		{"ErrAccessStringNopass", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.AccessString = aws.String("on nopass ~* +@all") }},
		{"ErrAccessStringReset", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.AccessString = aws.String("reset on ~* +@all") }},
		{"ErrAccessStringUnknown", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.AccessString = aws.String("on ~* +@nosuchcategory") }},
		{"ErrAccessStringUnknownCommand", "InvalidParameterValue", 400, "", func(in *elasticache.CreateUserInput) { in.AccessString = aws.String("on ~* -@all +gett") }},
		{"ErrTagQuota", "TagQuotaPerResourceExceeded", 400, "", func(in *elasticache.CreateUserInput) {
			for i := range 51 {
				in.Tags = append(in.Tags, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := &elasticache.CreateUserInput{
				UserId: aws.String("erruser"), UserName: aws.String("erruser"), Engine: aws.String("redis"),
				AccessString: aws.String("on ~* +@all"), Passwords: []string{pw1},
			}
			tt.mod(in)
			_, err := c.CreateUser(t.Context(), in)
			keywardtest.WantError(t, err, tt.code, tt.status)
			if _, msg := errorMessage(err); tt.msg != "" && msg != tt.msg {
				t.Errorf("message = %q, want %q", msg, tt.msg)
			}
			if _, err := describeUser(t, c, aws.ToString(in.UserId)); tt.name != "ErrExists" && err == nil {
				t.Errorf("failed CreateUser left user %s behind", aws.ToString(in.UserId))
			}
		})
	}
}

func TestCreateUser_Quota(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.Quotas.Users = 3; c.Quotas.UserGroups = 1; c.Quotas.UsersPerGroup = 2 })
	createUser(t, ts.Client, "u1", "u1")
	createUser(t, ts.Client, "u2", "u2") // with default, 3 users
	_, err := ts.Client.CreateUser(t.Context(), &elasticache.CreateUserInput{
		UserId: aws.String("u3"), UserName: aws.String("u3"), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{pw1},
	})
	keywardtest.WantError(t, err, "UserQuotaExceeded", 400)
	// At the quota, an existing id is still reported as such first.
	_, err = ts.Client.CreateUser(t.Context(), &elasticache.CreateUserInput{
		UserId: aws.String("u1"), UserName: aws.String("u1"), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{pw1},
	})
	keywardtest.WantError(t, err, "UserAlreadyExists", 400)
}

func TestDescribeUsers(t *testing.T) {
	ts := keywardtest.New(t)
	c := ts.Client
	for i := range 45 {
		createUser(t, c, fmt.Sprintf("user-%02d", i), fmt.Sprintf("name%d", i%3))
	}
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := describeUser(t, c, "nobody")
		keywardtest.WantError(t, err, "UserNotFound", 404)
	})
	t.Run("Pagination", func(t *testing.T) {
		var ids []string
		var marker *string
		pages := 0
		for {
			out, err := c.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{MaxRecords: aws.Int32(20), Marker: marker})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, u := range out.Users {
				ids = append(ids, aws.ToString(u.UserId))
			}
			if marker = out.Marker; marker == nil {
				break
			}
		}
		if pages != 3 || len(ids) != 46 || ids[0] != "default" || ids[1] != "user-00" || ids[45] != "user-44" {
			t.Errorf("got %d pages, %d ids (%v)", pages, len(ids), ids)
		}
		// The SDK paginator agrees.
		p := elasticache.NewDescribeUsersPaginator(c, &elasticache.DescribeUsersInput{MaxRecords: aws.Int32(20)})
		n := 0
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			n += len(out.Users)
		}
		if n != 46 {
			t.Errorf("paginator saw %d users, want 46", n)
		}
	})
	t.Run("ErrMaxRecords", func(t *testing.T) {
		for _, n := range []int32{19, 101} {
			_, err := c.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{MaxRecords: aws.Int32(n)})
			keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
		}
	})
	t.Run("ErrMarker", func(t *testing.T) {
		_, err := c.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{Marker: aws.String("garbage!")})
		keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	})
	t.Run("Filters", func(t *testing.T) {
		out, err := c.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{Filters: []types.Filter{
			{Name: aws.String("UserId"), Values: []string{"USER-01", "user-02", "user-03"}},
			{Name: aws.String("UserName"), Values: []string{"name1", "name2"}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range out.Users {
			got = append(got, aws.ToString(u.UserId))
		}
		if diff := cmp.Diff([]string{"user-01", "user-02"}, got); diff != "" {
			t.Errorf("filtered ids (-want +got):\n%s", diff)
		}
		_, err = c.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{Filters: []types.Filter{{Name: aws.String("Color"), Values: []string{"red"}}}})
		keywardtest.WantError(t, err, "InvalidParameterCombination", 400)
	})
	t.Run("Engine", func(t *testing.T) {
		createUser(t, c, "vk1", "vk1", func(in *elasticache.CreateUserInput) { in.Engine = aws.String("valkey") })
		out, err := c.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{Engine: aws.String("valkey")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Users) != 1 || aws.ToString(out.Users[0].UserId) != "vk1" {
			t.Errorf("engine filter returned %d users", len(out.Users))
		}
	})
}

func TestModifyUser(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(300*time.Millisecond))
	c := ts.Client
	createUser(t, c, "mod", "mod", func(in *elasticache.CreateUserInput) { in.Passwords = []string{pw1, pw2} })

	out, err := c.ModifyUser(t.Context(), &elasticache.ModifyUserInput{UserId: aws.String("MOD"), AccessString: aws.String("~objects:* ~items:* ~public:*"), Passwords: []string{pw1}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Status) != "modifying" || aws.ToString(out.AccessString) != "off ~objects:* ~items:* ~public:* -@all" || aws.ToInt32(out.Authentication.PasswordCount) != 1 {
		t.Errorf("ModifyUser answered %s %q count %d", aws.ToString(out.Status), aws.ToString(out.AccessString), aws.ToInt32(out.Authentication.PasswordCount))
	}
	u, _ := describeUser(t, c, "mod")
	if aws.ToString(u.Status) != "modifying" {
		t.Errorf("status right after ModifyUser = %s, want modifying", aws.ToString(u.Status))
	}
	_, err = c.ModifyUser(t.Context(), &elasticache.ModifyUserInput{UserId: aws.String("mod"), AccessString: aws.String("on ~* +@all")})
	keywardtest.WantError(t, err, "InvalidUserState", 400)
	if _, msg := errorMessage(err); msg != "User mod has status modifying. Only active users can be modified." {
		t.Errorf("message = %q", msg)
	}
	_, err = c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("mod")})
	keywardtest.WantError(t, err, "InvalidUserState", 400)
	waitUserStatus(t, c, "mod", "active")

	t.Run("Append", func(t *testing.T) {
		out, err := c.ModifyUser(t.Context(), &elasticache.ModifyUserInput{UserId: aws.String("mod"), AppendAccessString: aws.String("on +get")})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.AccessString); got != "on ~objects:* ~items:* ~public:* -@all +get" {
			t.Errorf("appended access string = %q", got)
		}
		waitUserStatus(t, c, "mod", "active")
	})
	t.Run("SwitchToNoPassword", func(t *testing.T) {
		out, err := c.ModifyUser(t.Context(), &elasticache.ModifyUserInput{UserId: aws.String("mod"), NoPasswordRequired: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Authentication.Type != types.AuthenticationTypeNoPassword || out.Authentication.PasswordCount != nil {
			t.Errorf("Authentication = %+v", out.Authentication)
		}
		waitUserStatus(t, c, "mod", "active")
	})
	for _, tt := range []struct {
		name, code string
		status     int
		in         elasticache.ModifyUserInput
	}{
		{"ErrNotFound", "UserNotFound", 404, elasticache.ModifyUserInput{UserId: aws.String("ghost"), AccessString: aws.String("on")}},
		{"ErrDefault", "InvalidParameterValue", 400, elasticache.ModifyUserInput{UserId: aws.String("default"), AccessString: aws.String("off")}},
		{"ErrNothing", "InvalidParameterCombination", 400, elasticache.ModifyUserInput{UserId: aws.String("mod")}},
		{"ErrBoth", "InvalidParameterCombination", 400, elasticache.ModifyUserInput{UserId: aws.String("mod"), AccessString: aws.String("on"), AppendAccessString: aws.String("+get")}},
		{"ErrBadAccess", "InvalidParameterValue", 400, elasticache.ModifyUserInput{UserId: aws.String("mod"), AccessString: aws.String("on resetpass")}},
		{"ErrShortPassword", "InvalidParameterValue", 400, elasticache.ModifyUserInput{UserId: aws.String("mod"), Passwords: []string{"tiny"}}},
		{"ErrValkeyNoPassword", "InvalidParameterCombination", 400, elasticache.ModifyUserInput{UserId: aws.String("mod"), Engine: aws.String("valkey")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ModifyUser(t.Context(), &tt.in)
			keywardtest.WantError(t, err, tt.code, tt.status)
		})
	}
}

func TestDeleteUser(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(300*time.Millisecond))
	c := ts.Client
	createUser(t, c, "gone", "gone")
	out, err := c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("GONE")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Status) != "deleting" || aws.ToString(out.UserId) != "gone" || aws.ToString(out.ARN) != userARN("gone") {
		t.Errorf("DeleteUser answered %+v", out)
	}
	u, err := describeUser(t, c, "gone")
	if err != nil || aws.ToString(u.Status) != "deleting" {
		t.Fatalf("right after DeleteUser: %v %v, want deleting", aws.ToString(u.Status), err)
	}
	_, err = c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("gone")})
	keywardtest.WantError(t, err, "InvalidUserState", 400)
	waitUserStatus(t, c, "gone", "gone")
	_, err = c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("gone")})
	keywardtest.WantError(t, err, "UserNotFound", 404)
	_, err = c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("default")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	// The id can be reused once the user is gone.
	createUser(t, c, "gone", "gone")
}

// TestDeleteUser_UngroupedAtOnce: without a transition delay, a user in no
// group is gone as DeleteUser answers (deleting, as ElastiCache answers),
// with its tags. Users in groups are removed by the reconciler, once their
// caches dropped them (TestDeleteUser and the data plane tests).
func TestDeleteUser_UngroupedAtOnce(t *testing.T) {
	ts := keywardtest.New(t)
	c := ts.Client
	createUser(t, c, "alone", "alone", func(in *elasticache.CreateUserInput) {
		in.Tags = []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	})
	out, err := c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("alone")})
	if err != nil || aws.ToString(out.Status) != "deleting" {
		t.Fatalf("DeleteUser: %v %v, want deleting", out, err)
	}
	_, err = describeUser(t, c, "alone")
	keywardtest.WantError(t, err, "UserNotFound", 404)
	_, err = c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("alone")})
	keywardtest.WantError(t, err, "UserNotFound", 404)
	// The id is free again, without the old user's tags.
	createUser(t, c, "alone", "alone")
	tags, err := c.ListTagsForResource(t.Context(), &elasticache.ListTagsForResourceInput{ResourceName: aws.String(userARN("alone"))})
	if err != nil || len(tags.TagList) != 0 {
		t.Fatalf("tags of the new user: %v %v, want none", tags, err)
	}
}

func TestTags(t *testing.T) {
	ts := keywardtest.New(t, keywardtest.WithDelay(300*time.Millisecond))
	c := ts.Client
	createUser(t, c, "tagged", "tagged", func(in *elasticache.CreateUserInput) {
		in.Tags = []types.Tag{{Key: aws.String("team"), Value: aws.String("core")}, {Key: aws.String("env"), Value: aws.String("dev")}}
	})
	arn := aws.String(userARN("tagged"))
	list := func() []types.Tag {
		out, err := c.ListTagsForResource(t.Context(), &elasticache.ListTagsForResourceInput{ResourceName: arn})
		if err != nil {
			t.Fatal(err)
		}
		return out.TagList
	}
	tag := func(k, v string) types.Tag { return types.Tag{Key: aws.String(k), Value: aws.String(v)} }
	if diff := cmp.Diff([]types.Tag{tag("team", "core"), tag("env", "dev")}, list(), ignoreSDK); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	add, err := c.AddTagsToResource(t.Context(), &elasticache.AddTagsToResourceInput{ResourceName: arn, Tags: []types.Tag{tag("env", "prod"), tag("owner", "me")}})
	if err != nil {
		t.Fatal(err)
	}
	want := []types.Tag{tag("team", "core"), tag("env", "prod"), tag("owner", "me")}
	if diff := cmp.Diff(want, add.TagList, ignoreSDK); diff != "" {
		t.Errorf("AddTags (-want +got):\n%s", diff)
	}
	rm, err := c.RemoveTagsFromResource(t.Context(), &elasticache.RemoveTagsFromResourceInput{ResourceName: arn, TagKeys: []string{"team"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[1:], rm.TagList, ignoreSDK); diff != "" {
		t.Errorf("RemoveTags (-want +got):\n%s", diff)
	}
	_, err = c.RemoveTagsFromResource(t.Context(), &elasticache.RemoveTagsFromResourceInput{ResourceName: arn, TagKeys: []string{"env", "team"}})
	keywardtest.WantError(t, err, "TagNotFound", 404)
	if len(list()) != 2 {
		t.Errorf("a failed RemoveTags removed tags")
	}
	var many []types.Tag
	for i := range 49 {
		many = append(many, tag(fmt.Sprint("k", i), "v"))
	}
	_, err = c.AddTagsToResource(t.Context(), &elasticache.AddTagsToResourceInput{ResourceName: arn, Tags: many})
	keywardtest.WantError(t, err, "TagQuotaPerResourceExceeded", 400)
	_, err = c.ListTagsForResource(t.Context(), &elasticache.ListTagsForResourceInput{ResourceName: aws.String("not-an-arn")})
	keywardtest.WantError(t, err, "InvalidARN", 400)
	_, err = c.ListTagsForResource(t.Context(), &elasticache.ListTagsForResourceInput{ResourceName: aws.String(userARN("nobody"))})
	keywardtest.WantError(t, err, "UserNotFound", 404)

	// Not active: "not available for tagging", as UserNotFound.
	if _, err := c.ModifyUser(t.Context(), &elasticache.ModifyUserInput{UserId: aws.String("tagged"), AccessString: aws.String("on ~* +@read")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.AddTagsToResource(t.Context(), &elasticache.AddTagsToResourceInput{ResourceName: arn, Tags: []types.Tag{tag("a", "b")}})
	keywardtest.WantError(t, err, "UserNotFound", 404)
	if _, msg := errorMessage(err); msg != "tagged is not available for tagging" {
		t.Errorf("message = %q", msg)
	}
	waitUserStatus(t, c, "tagged", "active")
	// Tags go with the user.
	if _, err := c.DeleteUser(t.Context(), &elasticache.DeleteUserInput{UserId: aws.String("tagged")}); err != nil {
		t.Fatal(err)
	}
	waitUserStatus(t, c, "tagged", "gone")
	createUser(t, c, "tagged", "tagged")
	if n := len(list()); n != 0 {
		t.Errorf("recreated user has %d tags, want 0", n)
	}
}

func TestScopes(t *testing.T) {
	ts := keywardtest.New(t)
	eu := ts.NewClient("eu-west-1", "AKIDOTHER", "other-secret")
	createUser(t, eu, "euuser", "euuser")
	u, err := describeUser(t, eu, "euuser")
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(u.ARN); got != "arn:aws:elasticache:eu-west-1:000000000000:user:euuser" {
		t.Errorf("ARN = %s", got)
	}
	_, err = describeUser(t, ts.Client, "euuser")
	keywardtest.WantError(t, err, "UserNotFound", 404)
}
