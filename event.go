package keyward

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Events are the log DescribeEvents reads: one document per event, kind
// "event", written in the same transaction as the change it reports, so an
// event exists exactly when its change committed, and survives restarts.
//
// They are fed by the kinds themselves: a Kind with a Changes function
// reports the events of each stored transition (Create, Update, Delete),
// whichever package makes it (api accepting a change, reconcile completing
// it). Callers record events that are no transition of a document (a
// snapshot taken) with Tx.RecordEvent.
//
// Events older than EventRetention are never read (DescribeEvents starts
// at most 14 days back) and are deleted by the leader's reconciler.
//
// An event's id orders events newest first: it starts with the event's
// time inverted (math.MaxInt64 minus Unix nanoseconds, 16 hex digits), so
// the store's id order is DescribeEvents' order and its AfterID is the
// pagination marker and the EndTime bound at once.

// EventSourceType is ElastiCache's SourceType of an event.
type EventSourceType string

// Event source types, as ElastiCache names them.
const (
	SourceCacheCluster            EventSourceType = "cache-cluster"
	SourceCacheParameterGroup     EventSourceType = "cache-parameter-group"
	SourceCacheSecurityGroup      EventSourceType = "cache-security-group"
	SourceCacheSubnetGroup        EventSourceType = "cache-subnet-group"
	SourceReplicationGroup        EventSourceType = "replication-group"
	SourceServerlessCache         EventSourceType = "serverless-cache"
	SourceServerlessCacheSnapshot EventSourceType = "serverless-cache-snapshot"
	SourceUser                    EventSourceType = "user"
	SourceUserGroup               EventSourceType = "user-group"
)

// EventRetention is how long ElastiCache keeps events: 14 days.
const EventRetention = 14 * 24 * time.Hour

// Event is one entry of the event log.
type Event struct {
	Scope      Scope           `json:"scope"`
	ID         string          `json:"id"` // see EventID; set by RecordEvent
	SourceType EventSourceType `json:"source_type"`
	SourceID   string          `json:"source_id"`
	Message    string          `json:"message"`
	Date       time.Time       `json:"date"`
}

// Events is the event log's kind.
var Events = &Kind[Event]{
	Name: "event",
	Key:  func(e *Event) (Scope, string) { return e.Scope, e.ID },
	Index: func(e *Event) []Field {
		return []Field{{Name: "source_type", Value: string(e.SourceType)}, {Name: "source_id", Value: e.SourceID}}
	},
}

// eventTimeKey is the time part of an event id: later times sort first.
func eventTimeKey(t time.Time) string {
	return fmt.Sprintf("%016x", uint64(math.MaxInt64-t.UnixNano()))
}

// EventID returns the id of the seq-th event recorded at t in one
// transaction: events at the same time sort by seq, the last recorded first,
// and a random part keeps ids of concurrent transactions apart.
func EventID(t time.Time, seq int) string {
	return fmt.Sprintf("%s-%04x-%08x", eventTimeKey(t), 0xffff-seq&0xffff, rand.Uint32())
}

// eventsAtOrBefore returns the AfterID that selects events dated at or
// before t: every id of such an event sorts after it ('~' sorts after the
// '-' that follows the time part).
func eventsAtOrBefore(t time.Time) string {
	return fmt.Sprintf("%016x~", uint64(math.MaxInt64-t.UnixNano()-1))
}

// RecordEvent stores events (their IDs are assigned here, in order: the
// last one is the newest at equal dates). A zero Date is now.
func (t Tx) RecordEvent(ctx context.Context, events ...*Event) error {
	for i, e := range events {
		if e.Date.IsZero() {
			e.Date = time.Now().UTC()
		}
		e.ID = EventID(e.Date, i)
		if err := Events.Create(ctx, t, e); err != nil {
			return err
		}
	}
	return nil
}

// FindExpiredEvents returns up to limit events of the scope dated before
// cutoff, newest first.
func (t Tx) FindExpiredEvents(ctx context.Context, s Scope, cutoff time.Time, limit int) ([]*Event, error) {
	return Events.Find(ctx, t, DocQuery{Scope: s, AfterID: eventsAtOrBefore(cutoff.Add(-time.Nanosecond)), Limit: limit})
}

// PruneEvents deletes up to limit events of the scope dated before cutoff
// and returns how many it deleted. Writers never prune (concurrent ones
// would contend for the same old rows): the leader's reconciler does,
// now and then (see reconcile).
func (t Tx) PruneEvents(ctx context.Context, s Scope, cutoff time.Time, limit int) (int, error) {
	old, err := t.FindExpiredEvents(ctx, s, cutoff, limit)
	if err != nil {
		return 0, err
	}
	for _, e := range old {
		if err := Events.Delete(ctx, t, s, e.ID); err != nil {
			return 0, err
		}
	}
	return len(old), nil
}

// EventFilter selects events. Zero fields match everything.
type EventFilter struct {
	SourceType EventSourceType
	SourceID   string
	Start, End time.Time // inclusive bounds; zero: unbounded
	AfterID    string    // pagination: only events after this id (older)
	Limit      int
}

// FindEvents returns the events f selects, newest first.
func (t Tx) FindEvents(ctx context.Context, s Scope, f EventFilter) ([]*Event, error) {
	q := DocQuery{Scope: s, AfterID: f.AfterID}
	if !f.End.IsZero() && eventsAtOrBefore(f.End) > q.AfterID {
		q.AfterID = eventsAtOrBefore(f.End)
	}
	if f.SourceType != "" {
		q.Where = append(q.Where, Field{Name: "source_type", Value: string(f.SourceType)})
	}
	if f.SourceID != "" {
		q.Where = append(q.Where, Field{Name: "source_id", Value: f.SourceID})
	}
	const batch = 200
	var out []*Event
	for {
		q.Limit = batch
		es, err := Events.Find(ctx, t, q)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			if !f.Start.IsZero() && e.Date.Before(f.Start) {
				return out, nil
			}
			out = append(out, e)
			if f.Limit > 0 && len(out) == f.Limit {
				return out, nil
			}
		}
		if len(es) < batch {
			return out, nil
		}
		q.AfterID = es[len(es)-1].ID
	}
}

// The events of each kind's transitions. Messages are ElastiCache's where
// its documentation gives them (cache clusters, snapshots); the others
// follow the same pattern.

// statusEvents is the shared shape of a kind's transitions: created when a
// value first rests (at once, or leaving creating), modified when a
// modification completes, deleted when the document goes.
func statusEvents(created, modified func() []*Event, wasNew, wasCreating, wasModifying, rests, changed bool) []*Event {
	switch {
	case (wasNew || wasCreating) && rests:
		return created()
	case wasModifying && rests, !wasNew && !wasCreating && rests && changed:
		return modified()
	}
	return nil
}

func event(s Scope, typ EventSourceType, id string, at time.Time, format string, args ...any) *Event {
	return &Event{Scope: s, SourceType: typ, SourceID: id, Date: at.UTC(), Message: fmt.Sprintf(format, args...)}
}

func now() time.Time { return time.Now().UTC() }

// changeTime is when a transition happened: when its new status began if
// it entered one, else now.
func changeTime[T any](old, cur *T, since func(*T) time.Time) time.Time {
	if cur != nil && !since(cur).IsZero() && (old == nil || !since(old).Equal(since(cur))) {
		return since(cur)
	}
	return now()
}

func userChanges(old, cur *User) []*Event {
	v := cur
	if v == nil {
		v = old
	}
	if v.IsBuiltinDefault() {
		return nil
	}
	at := changeTime(old, cur, func(v *User) time.Time { return v.StatusSince })
	one := func(verb string) func() []*Event {
		return func() []*Event { return []*Event{event(v.Scope, SourceUser, v.ID, at, "User %s %s", v.ID, verb)} }
	}
	if cur == nil {
		return one("deleted")()
	}
	return statusEvents(one("created"), one("modified"),
		old == nil, false, old != nil && old.Status == UserModifying,
		cur.Status == UserActive, old != nil && old.Generation != cur.Generation)
}

func userGroupChanges(old, cur *UserGroup) []*Event {
	v := cur
	if v == nil {
		v = old
	}
	at := changeTime(old, cur, func(v *UserGroup) time.Time { return v.StatusSince })
	one := func(verb string) func() []*Event {
		return func() []*Event {
			return []*Event{event(v.Scope, SourceUserGroup, v.ID, at, "User group %s %s", v.ID, verb)}
		}
	}
	if cur == nil {
		return one("deleted")()
	}
	return statusEvents(one("created"), one("modified"),
		old == nil, old != nil && old.Status == UserGroupCreating, old != nil && old.Status == UserGroupModifying,
		cur.Status == UserGroupActive, old != nil && old.Generation != cur.Generation)
}

func cacheChanges(old, cur *Cache) []*Event {
	v := cur
	if v == nil {
		v = old
	}
	at := changeTime(old, cur, func(v *Cache) time.Time { return v.StatusSince })
	typ, noun := SourceReplicationGroup, "Replication group"
	if v.Kind == KindServerless {
		typ, noun = SourceServerlessCache, "Serverless cache"
	}
	own := func(format string) *Event { return event(v.Scope, typ, v.ID, at, format, noun, v.ID) }
	if cur == nil {
		var es []*Event
		if v.Kind == KindReplicationGroup {
			for _, n := range v.Nodes {
				es = append(es, event(v.Scope, SourceCacheCluster, n.ClusterID, at, "Cache cluster deleted"))
			}
		}
		return append(es, own("%s %s deleted"))
	}
	if old != nil && old.Status == CacheCreating && cur.Status == CacheCreateFailed {
		return []*Event{own("Failed to create %s %s")}
	}
	created := func() []*Event {
		var es []*Event
		if v.Kind == KindReplicationGroup {
			for _, n := range v.Nodes {
				es = append(es,
					event(v.Scope, SourceCacheCluster, n.ClusterID, at, "Cache cluster created"),
					event(v.Scope, SourceCacheCluster, n.ClusterID, at, "Added cache node 0001 in availability zone %sa", v.Scope.Region))
			}
		}
		return append(es, own("%s %s created"))
	}
	return append(append(failoverEvents(old, cur), statusEvents(created, func() []*Event { return []*Event{own("%s %s modified")} },
		old == nil, old != nil && old.Status == CacheCreating, old != nil && old.Status == CacheModifying,
		cur.Status == CacheAvailable, old != nil && old.Generation != cur.Generation)...), restartEvents(old, cur)...)
}
