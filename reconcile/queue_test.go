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
