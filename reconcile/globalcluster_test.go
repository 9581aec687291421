package reconcile

import (
	"slices"
	"testing"

	"keyward"
)

// TestReadOnlyPlan: a cluster-mode secondary's users keep their own
// rules, with every write command denied last; the fingerprint differs,
// so that a role change re-applies the ACLs.
func TestReadOnlyPlan(t *testing.T) {
	rg := &keyward.Cache{ID: "rg", ClusterMode: true}
	group := &keyward.UserGroup{ID: "g", Engine: keyward.EngineRedis}
	d, err := Plan(rg, group, []*keyward.User{
		user("u1", "default", keyward.AuthNoPassword, "on ~* +@all"),
		user("u2", "app", keyward.AuthNoPassword, "on ~app:* +@all -flushall"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ro := d
	readOnly(&ro)
	if ro.Fingerprint == d.Fingerprint || ro.DefaultIdentity != d.DefaultIdentity || len(ro.Users) != len(d.Users) {
		t.Fatalf("read-only plan %+v from %+v", ro, d)
	}
	for i, u := range ro.Users {
		if u.Name != d.Users[i].Name || !slices.Equal(u.Rules[:len(u.Rules)-1], d.Users[i].Rules) || u.Rules[len(u.Rules)-1] != "-@write" {
			t.Errorf("user %s: rules %q from %q", u.Name, u.Rules, d.Users[i].Rules)
		}
	}
	if d.Users[0].Rules[len(d.Users[0].Rules)-1] == "-@write" {
		t.Error("readOnly changed the plan it was given")
	}
	if Kill("user:u1", ro) != nil {
		t.Error("a read-only plan closes the default user's connections")
	}
}

// TestLayoutsAgree: links run only between groups with the same node
// groups and slots, neither resharding.
func TestLayoutsAgree(t *testing.T) {
	mk := func(slots ...string) *keyward.Cache {
		c := &keyward.Cache{ClusterMode: true, Status: keyward.CacheAvailable}
		for i, s := range slots {
			c.Shards = append(c.Shards, keyward.Shard{ID: string(rune('1' + i)), Slots: s})
		}
		return c
	}
	a, b := mk("0-8191", "8192-16383"), mk("0-8191", "8192-16383")
	if !layoutsAgree(a, b) {
		t.Error("the same layout disagrees")
	}
	if layoutsAgree(a, mk("0-16383")) || layoutsAgree(a, mk("0-8000", "8001-16383")) {
		t.Error("different layouts agree")
	}
	b.Resharding = &keyward.Resharding{Total: 1}
	if layoutsAgree(a, b) {
		t.Error("a resharding secondary agrees")
	}
	b.Resharding, a.Status = nil, keyward.CacheCreating
	if layoutsAgree(a, b) {
		t.Error("a creating source agrees")
	}
}
