package reconcile

import (
	"slices"
	"testing"

	"keyward"
)

func TestWaiters(t *testing.T) {
	sc := keyward.Scope{Account: "000000000000", Region: "us-east-1"}
	cache := func(id string) keyward.Key {
		return keyward.Key{Resource: keyward.ResourceReplicationGroup, Scope: sc, ID: id}
	}
	user := keyward.Key{Resource: keyward.ResourceUser, Scope: sc, ID: "u"}
	group := keyward.Key{Resource: keyward.ResourceUserGroup, Scope: sc, ID: "g"}
	w := newWaiters()

	// Queued once, when the last of its caches reports.
	since := w.now()
	if !w.wait(user, since, []keyward.Key{cache("a"), cache("b")}) {
		t.Fatal("wait refused with no report since")
	}
	if !w.wait(group, since, []keyward.Key{cache("b")}) {
		t.Fatal("wait refused with no report since")
	}
	if got := w.report(cache("a")); len(got) != 0 {
		t.Errorf("after a: ready %v, want none", got)
	}
	if got := w.report(cache("b")); !slices.Contains(got, user) || !slices.Contains(got, group) || len(got) != 2 {
		t.Errorf("after b: ready %v, want the user and the group", got)
	}
	if got := w.report(cache("b")); len(got) != 0 {
		t.Errorf("second report of b: ready %v, want none (waiters are queued once)", got)
	}

	// A report between the read (since) and the registration is not lost.
	since = w.now()
	w.report(cache("c"))
	if w.wait(user, since, []keyward.Key{cache("c")}) {
		t.Error("wait registered although c reported after the read: the report would be lost")
	}

	// Registering again replaces; dropping forgets.
	since = w.now()
	w.wait(user, since, []keyward.Key{cache("d")})
	w.wait(user, since, []keyward.Key{cache("e")})
	if got := w.report(cache("d")); len(got) != 0 {
		t.Errorf("d after re-registration: ready %v, want none", got)
	}
	w.drop(user)
	if got := w.report(cache("e")); len(got) != 0 {
		t.Errorf("e after drop: ready %v, want none", got)
	}
	if len(w.pending) != 0 || len(w.by) != 0 {
		t.Errorf("left over: pending %v, by %v", w.pending, w.by)
	}
}
