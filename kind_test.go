package keyward

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestKindDecodeCache checks that a read served from the decode cache is
// the value a JSON decode gives, that callers own what they get (changing
// it changes neither the cache nor later reads), and that a changed body
// is decoded afresh.
func TestKindDecodeCache(t *testing.T) {
	now := time.Date(2026, 12, 1, 20, 0, 0, 123, time.UTC)
	u := &User{Scope: DefaultScope, ID: "alice", Name: "alice", Engine: EngineRedis, AccessString: "on ~* +@all",
		Auth: AuthPassword, PasswordHashes: []string{"h1"}, MinimumEngineVersion: "6.0",
		Status: UserActive, StatusSince: now, Generation: 1, CreatedAt: now, LeavingGroups: []string{"g0"}}
	body, err := json.Marshal(u)
	if err != nil {
		t.Fatal(err)
	}
	doc := func(body []byte, group string) *Doc {
		return &Doc{Kind: string(ResourceUser), Scope: u.Scope, ID: u.ID, Body: body,
			Referrers: []Ref{{Relation: relMember, Kind: string(ResourceUserGroup), ID: group}}}
	}
	fresh := func(body []byte, group string) *User {
		v := new(User)
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatal(err)
		}
		v.GroupIDs = []string{group}
		return v
	}
	k := &Kind[User]{Name: ResourceUser, Load: Users.Load, Clone: (*User).Clone}

	first, err := k.decode(doc(body, "g1"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fresh(body, "g1"), first); diff != "" {
		t.Errorf("first read (-decoded +got):\n%s", diff)
	}
	first.Name, first.PasswordHashes[0], first.LeavingGroups[0], first.GroupIDs[0] = "x", "x", "x", "x"

	second, err := k.decode(doc(body, "g2")) // a hit: the same body
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fresh(body, "g2"), second); diff != "" {
		t.Errorf("cached read (-decoded +got):\n%s", diff)
	}

	u.Status = UserDeleting
	changed, _ := json.Marshal(u)
	third, err := k.decode(doc(changed, "g1"))
	if err != nil {
		t.Fatal(err)
	}
	if third.Status != UserDeleting {
		t.Errorf("changed body: status %q, want %q", third.Status, UserDeleting)
	}
	if _, err := k.decode(doc([]byte("{bad"), "g1")); err == nil {
		t.Error("a malformed body decoded without error")
	}
}

func TestIsResourceID(t *testing.T) {
	re := regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*$`)
	for _, id := range []string{"", "a", "Z", "9", "-", "a-", "a--b", "abc-123", "a_b", "a b", "é", "aé", "a\xff", "A9Z", "a.b", "a\n"} {
		if got, want := isResourceID(id), re.MatchString(id); got != want {
			t.Errorf("isResourceID(%q) = %v, want %v", id, got, want)
		}
	}
}
