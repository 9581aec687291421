package reconcile

import (
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
