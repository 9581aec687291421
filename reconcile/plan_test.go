package reconcile

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"keyward"
)

func user(id, name string, auth keyward.AuthType, access string, hashes ...string) *keyward.User {
	return &keyward.User{ID: id, Name: name, Auth: auth, AccessString: access, PasswordHashes: hashes, Engine: keyward.EngineRedis}
}

func TestPlan(t *testing.T) {
	rg := &keyward.Cache{ID: "rg"}
	group := &keyward.UserGroup{ID: "g", Engine: keyward.EngineRedis}
	for _, tt := range []struct {
		name     string
		cache    *keyward.Cache
		group    *keyward.UserGroup
		members  []*keyward.User
		want     []ACLUser
		identity string
	}{
		{"open without group or token", rg, nil, nil,
			[]ACLUser{{"default", []string{"on", "nopass", "allchannels", "~*", "+@all"}}}, "open"},
		{"token", &keyward.Cache{AuthTokenHashes: []string{"h1", "h2"}}, nil, nil,
			[]ACLUser{{"default", []string{"on", "#h1", "#h2", "allchannels", "~*", "+@all"}}}, "token"},
		{"first token by rotate keeps access open", &keyward.Cache{AuthTokenHashes: []string{"h1"}, AuthTokenOptional: true}, nil, nil,
			[]ACLUser{{"default", []string{"on", "#h1", "nopass", "allchannels", "~*", "+@all"}}}, "token"},
		{"group members by user name, sorted", rg, group, []*keyward.User{
			user("zed", "zed", keyward.AuthPassword, "on ~app:* -@all +get", "aa", "bb"),
			user("custom-default", "default", keyward.AuthNoPassword, "off ~* -@all"),
			user("iam", "iam", keyward.AuthIAM, "on ~* +@all"),
		}, []ACLUser{
			{"default", []string{"nopass", "off", "allchannels", "~*", "-@all"}},
			{"iam", []string{"on", "allchannels", "~*", "+@all"}},
			{"zed", []string{"#aa", "#bb", "on", "allchannels", "~app:*", "-@all", "+get"}},
		}, "user:custom-default"},
		{"valkey group without default closes it", rg, &keyward.UserGroup{Engine: keyward.EngineValkey}, []*keyward.User{
			user("v", "v", keyward.AuthPassword, "on ~* +@all", "cc"),
		}, []ACLUser{{"v", []string{"#cc", "on", "allchannels", "~*", "+@all"}}}, "closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Plan(tt.cache, tt.group, tt.members)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, d.Users); diff != "" {
				t.Errorf("users (-want +got):\n%s", diff)
			}
			if d.DefaultIdentity != tt.identity {
				t.Errorf("identity = %q, want %q", d.DefaultIdentity, tt.identity)
			}
			again, _ := Plan(tt.cache, tt.group, slices.Clone(tt.members))
			if again.Fingerprint != d.Fingerprint {
				t.Error("Plan is not deterministic")
			}
		})
	}
}

func TestPlan_FingerprintChangesWithPasswords(t *testing.T) {
	g := &keyward.UserGroup{Engine: keyward.EngineRedis}
	a, _ := Plan(&keyward.Cache{}, g, []*keyward.User{user("d", "default", keyward.AuthPassword, "on ~* +@all", "h1")})
	b, _ := Plan(&keyward.Cache{}, g, []*keyward.User{user("d", "default", keyward.AuthPassword, "on ~* +@all", "h2")})
	if a.Fingerprint == b.Fingerprint {
		t.Error("a password change must change the fingerprint")
	}
}

func TestKill(t *testing.T) {
	d := Desired{DefaultIdentity: "user:new"}
	for _, tt := range []struct {
		applied string
		want    []string
	}{
		{"", nil},                         // never applied: nothing to close
		{"user:new", nil},                 // same default user
		{"user:old", []string{"default"}}, // swap
		{"open", []string{"default"}},     // access control turned on
	} {
		if got := Kill(tt.applied, d); !slices.Equal(got, tt.want) {
			t.Errorf("Kill(%q) = %v, want %v", tt.applied, got, tt.want)
		}
	}
}

func TestEffectiveMembers(t *testing.T) {
	g := &keyward.UserGroup{UserIDs: []string{"a", "b", "default"}, PendingAdd: []string{"c"}, PendingRemove: []string{"a"}}
	if got := EffectiveMembers(g); !slices.Equal(got, []string{"b", "c", "default"}) {
		t.Errorf("EffectiveMembers = %v", got)
	}
	if !slices.Equal(g.UserIDs, []string{"a", "b", "default"}) {
		t.Error("EffectiveMembers changed the group")
	}
}

// TestPlanIAM: IAM users get the hash of their internal secret only when
// the cache has fronts (iamHash gives one), never "nopass".
func TestPlanIAM(t *testing.T) {
	g := &keyward.UserGroup{ID: "g"}
	members := []*keyward.User{
		user("app", "app", keyward.AuthIAM, "on ~app:* +get"),
		user("pw", "pw", keyward.AuthPassword, "on ~* +@all", "h1"),
	}
	rulesOf := func(d Desired, name string) []string {
		for _, u := range d.Users {
			if u.Name == name {
				return u.Rules
			}
		}
		t.Fatalf("no user %s in %+v", name, d.Users)
		return nil
	}
	without, err := Plan(&keyward.Cache{}, g, members)
	if err != nil {
		t.Fatal(err)
	}
	with, err := PlanIAM(&keyward.Cache{}, g, members, func(u string) string { return "iamhash-" + u })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rulesOf(without, "app") {
		if strings.HasPrefix(r, "#") || r == "nopass" {
			t.Errorf("IAM user without fronts has password rule %q", r)
		}
	}
	if rules := rulesOf(with, "app"); !slices.Contains(rules, "#iamhash-app") || slices.Contains(rules, "nopass") {
		t.Errorf("IAM user with fronts: %v, want #iamhash-app and no nopass", rules)
	}
	if !slices.Equal(rulesOf(with, "pw"), rulesOf(without, "pw")) {
		t.Errorf("password user changed by iamHash: %v vs %v", rulesOf(with, "pw"), rulesOf(without, "pw"))
	}
	if with.Fingerprint == without.Fingerprint {
		t.Error("same fingerprint with and without the IAM secret")
	}
}
