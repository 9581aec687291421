package reconcile

import (
	"fmt"
	"testing"
	"time"

	"keyward"
)

func TestQueue_DedupesAndRequeuesDirty(t *testing.T) {
	q := newQueue()
	k := keyward.Key{Resource: keyward.ResourceUser, ID: "a"}
	q.add(k)
	q.add(k)
	got, _ := q.get()
	if got != k || q.len() != 0 {
		t.Fatalf("got %v, len %d", got, q.len())
	}
	q.add(k) // while processing: marked dirty, not handed out twice
	if q.len() != 0 {
		t.Fatal("a key being processed was queued again")
	}
	q.done(k)
	if q.len() != 1 {
		t.Fatal("a key added while processing was lost")
	}
}

func TestQueue_AddAfterKeepsEarliest(t *testing.T) {
	q := newQueue()
	k := keyward.Key{Resource: keyward.ResourceUser, ID: "a"}
	q.addAfter(k, time.Hour)
	q.addAfter(k, 10*time.Millisecond)
	done := make(chan keyward.Key)
	go func() { got, _ := q.get(); done <- got }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the earlier deadline did not win")
	}
	q.close()
}

func TestQueue_Backoff(t *testing.T) {
	q := newQueue()
	k := keyward.Key{ID: "x"}
	d1, d2 := q.retry(k), q.retry(k)
	if d2 <= d1 {
		t.Errorf("backoff did not grow: %v then %v", d1, d2)
	}
	q.forget(k)
	if d := q.retry(k); d != d1 {
		t.Errorf("after forget, backoff = %v, want %v", d, d1)
	}
	q.close()
}

// F5 (queue half): converge polls and resyncs re-added a failing key at
// once, so its backoff never applied.
func TestReviewF5_PollsRespectBackoff(t *testing.T) {
	q := newQueue()
	q.baseBackoff = 200 * time.Millisecond
	k := keyward.Key{Resource: keyward.ResourceReplicationGroup, ID: "rg"}
	q.add(k)
	got, _ := q.get()
	d := q.retry(got) // the pass failed
	q.done(got)
	start := time.Now()
	stop := time.After(d / 2)
	for polling := true; polling; {
		select {
		case <-stop:
			polling = false
		default:
			q.add(k) // a user or group polling the cache every few ms
			time.Sleep(2 * time.Millisecond)
		}
	}
	got, _ = q.get()
	if waited := time.Since(start); got != k || waited < d*9/10 {
		t.Errorf("key ran again after %v, want its backoff %v", waited, d)
	}
	// An event that may fix the failure still runs it at once.
	q.retry(k)
	q.done(k)
	q.kick(k)
	start = time.Now()
	q.get()
	if waited := time.Since(start); waited > 50*time.Millisecond {
		t.Errorf("kicked key ran after %v", waited)
	}
}

// Kicked keys (accepted changes) are handed out before keys a resync
// queued, also when they were queued by that resync already.
func TestQueue_KickedFirst(t *testing.T) {
	q := newQueue()
	key := func(id string) keyward.Key { return keyward.Key{Resource: keyward.ResourceReplicationGroup, ID: id} }
	for _, id := range []string{"a", "b", "c"} {
		q.add(key(id))
	}
	q.kick(key("c"))
	q.kick(key("d"))
	var got []string
	for range 4 {
		k, _ := q.get()
		got = append(got, k.ID)
		q.done(k)
	}
	if want := "c d a b"; fmt.Sprint(got) != "["+want+"]" {
		t.Errorf("order %v, want [%s]", got, want)
	}
	if q.len() != 0 {
		t.Errorf("len %d after draining", q.len())
	}
}

// takeUrgent hands out the kicked keys that match, each once, marked as
// being processed (so a kick meanwhile re-queues them after done), and
// leaves the others in order.
func TestQueue_TakeUrgent(t *testing.T) {
	q := newQueue()
	rg := func(id string) keyward.Key { return keyward.Key{Resource: keyward.ResourceReplicationGroup, ID: id} }
	user := keyward.Key{Resource: keyward.ResourceUser, ID: "u"}
	q.add(rg("ready")) // queued by a resync, not kicked
	for _, k := range []keyward.Key{rg("a"), user, rg("b"), rg("c")} {
		q.kick(k)
	}
	first, urgent, ok := q.getUrgent()
	if !ok || !urgent || first != rg("a") {
		t.Fatalf("getUrgent = %v, %v, %v; want rg a, urgent", first, urgent, ok)
	}
	got := q.takeUrgent(isCacheKey, 1)
	if len(got) != 1 || got[0] != rg("b") {
		t.Fatalf("takeUrgent(1) = %v, want [b]", got)
	}
	got = q.takeUrgent(isCacheKey, 10)
	if len(got) != 1 || got[0] != rg("c") {
		t.Fatalf("takeUrgent(10) = %v, want [c]", got)
	}
	q.kick(rg("b")) // while processing: again after done, urgently
	if k, urgent, _ := q.getUrgent(); k != user || !urgent {
		t.Fatalf("next = %v (urgent %v), want the user, urgent", k, urgent)
	}
	if k, urgent, _ := q.getUrgent(); k != rg("ready") || urgent {
		t.Fatalf("next = %v (urgent %v), want the resync's key, not urgent", k, urgent)
	}
	q.done(rg("b"))
	if k, urgent, _ := q.getUrgent(); k != rg("b") || !urgent {
		t.Fatalf("after done: %v (urgent %v), want b again, urgent", k, urgent)
	}
	if q.len() != 0 {
		t.Errorf("%d keys left", q.len())
	}
}

// addIdle queues an idle key but leaves a key being processed (or backing
// off) alone: no second pass is run after the one under way.
func TestQueue_AddIdle(t *testing.T) {
	q := newQueue()
	k := keyward.Key{Resource: keyward.ResourceReplicationGroup, ID: "a"}
	q.addIdle(k)
	if q.len() != 1 {
		t.Fatal("an idle key was not queued")
	}
	q.get()
	q.addIdle(k)
	q.done(k)
	if q.len() != 0 {
		t.Fatal("a key under way was queued again")
	}
	q.retry(k)
	q.addIdle(k)
	q.mu.Lock()
	queued := q.queued[k]
	q.mu.Unlock()
	if queued {
		t.Fatal("a key backing off was queued before its retry")
	}
}
