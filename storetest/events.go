package storetest

import (
	"fmt"
	"testing"
	"time"

	"keyward"
)

// The event log: the kinds' transitions write it, reads are newest first
// with time bounds and pages, and recording prunes beyond retention.

func findEvents(t *testing.T, s keyward.Store, sc keyward.Scope, f keyward.EventFilter) []string {
	t.Helper()
	var out []string
	if err := s.View(ctx(t), func(tx keyward.Tx) error {
		es, err := tx.FindEvents(ctx(t), sc, f)
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s/%s: %s", e.SourceType, e.SourceID, e.Message))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func testEventsFromTransitions(t *testing.T, s keyward.Store) {
	u := NewUser(S1, "alice")
	u.StatusSince = time.Now() // within retention of the deletion's event
	update(t, s, func(tx keyward.Tx) error { return tx.CreateUser(ctx(t), u) })
	update(t, s, func(tx keyward.Tx) error { return tx.DeleteUser(ctx(t), S1, "alice") })
	diff(t, "events", []string{"user/alice: User alice deleted", "user/alice: User alice created"}, findEvents(t, s, S1, keyward.EventFilter{}))
	diff(t, "other scope", []string(nil), findEvents(t, s, S2, keyward.EventFilter{}))
}

func testEventsRangeAndRetention(t *testing.T, s keyward.Store) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration, id string) *keyward.Event {
		return &keyward.Event{Scope: S1, SourceType: keyward.SourceUser, SourceID: id, Message: id, Date: base.Add(d)}
	}
	update(t, s, func(tx keyward.Tx) error {
		return tx.RecordEvent(ctx(t), at(0, "a"), at(time.Hour, "b"), at(time.Hour, "c"), at(2*time.Hour, "d"))
	})
	diff(t, "all", []string{"user/d: d", "user/c: c", "user/b: b", "user/a: a"}, findEvents(t, s, S1, keyward.EventFilter{}))
	diff(t, "bounds inclusive", []string{"user/c: c", "user/b: b"}, findEvents(t, s, S1, keyward.EventFilter{Start: base.Add(time.Hour), End: base.Add(time.Hour)}))
	diff(t, "by id", []string{"user/b: b"}, findEvents(t, s, S1, keyward.EventFilter{SourceID: "b"}))
	diff(t, "limit", []string{"user/d: d", "user/c: c"}, findEvents(t, s, S1, keyward.EventFilter{Limit: 2}))
	// 14 days and an hour after b: a and b and c fall out, d stays; at
	// most limit at a time, newest first as everywhere.
	update(t, s, func(tx keyward.Tx) error {
		return tx.RecordEvent(ctx(t), at(keyward.EventRetention+time.Hour+time.Nanosecond, "e"))
	})
	cutoff := base.Add(time.Hour + time.Nanosecond)
	var n1, n2 int
	update(t, s, func(tx keyward.Tx) (err error) { n1, err = tx.PruneEvents(ctx(t), S1, cutoff, 2); return err })
	diff(t, "pruned two", []string{"user/e: e", "user/d: d", "user/a: a"}, findEvents(t, s, S1, keyward.EventFilter{}))
	update(t, s, func(tx keyward.Tx) (err error) { n2, err = tx.PruneEvents(ctx(t), S1, cutoff, 2); return err })
	diff(t, "pruned", []string{"user/e: e", "user/d: d"}, findEvents(t, s, S1, keyward.EventFilter{}))
	diff(t, "counts", []int{2, 1}, []int{n1, n2})
}
