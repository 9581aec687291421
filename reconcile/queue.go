package reconcile

import (
	"slices"
	"sync"
	"time"

	"keyward"
)

// queue is a deduplicating work queue of resource keys with delayed adds
// and per-key exponential backoff, in the manner of client-go's rate-limited
// queue but only as large as keyward needs. A key is never handed to two
// workers at once: a key added while it is being processed is queued again
// when the worker calls done.
type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	ready []keyward.Key
	// urgent keys are handed out before ready ones: kicked keys (accepted
	// changes, revocations first among them) do not wait behind a resync
	// of every cache.
	urgent     []keyward.Key
	queued     map[keyward.Key]bool // in ready or urgent
	processing map[keyward.Key]bool
	dirty      map[keyward.Key]bool // added while processing
	// urgentDirty marks dirty keys that were kicked: urgent when re-queued.
	urgentDirty map[keyward.Key]bool
	timers      map[keyward.Key]*time.Timer
	deadline    map[keyward.Key]time.Time
	failures    map[keyward.Key]int
	// notBefore is when a failed key may run again: until then add only
	// leaves it to its retry, so that no poll or resync bypasses the
	// backoff (kick does, for events that may fix the failure).
	notBefore map[keyward.Key]time.Time
	shutdown  bool

	baseBackoff, maxBackoff time.Duration
}

func newQueue() *queue {
	q := &queue{
		queued:      map[keyward.Key]bool{},
		processing:  map[keyward.Key]bool{},
		dirty:       map[keyward.Key]bool{},
		urgentDirty: map[keyward.Key]bool{},
		timers:      map[keyward.Key]*time.Timer{},
		deadline:    map[keyward.Key]time.Time{},
		failures:    map[keyward.Key]int{},
		notBefore:   map[keyward.Key]time.Time{},
		baseBackoff: 5 * time.Millisecond,
		// Polls and resyncs respect the backoff now, so it bounds how late
		// a failure that cleared by itself is noticed: keep it well inside
		// the convergence bound. Events that may clear it (a node back)
		// kick the key at once anyway.
		maxBackoff: 5 * time.Second,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add makes k ready now, unless k is backing off after a failure: then
// its pending retry stays its next run.
func (q *queue) add(k keyward.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Now().Before(q.notBefore[k]) {
		return
	}
	q.addLocked(k)
}

// kick makes k ready now even while it backs off: for events that may
// have fixed its failure (an accepted change, a node that came back). Its
// failure count stays, so a further failure backs off longer.
func (q *queue) kick(k keyward.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.notBefore, k)
	if q.shutdown {
		return
	}
	if q.processing[k] {
		q.dirty[k] = true
		q.urgentDirty[k] = true
		return
	}
	if q.queued[k] {
		i := slices.Index(q.ready, k)
		if i < 0 {
			return // already urgent
		}
		q.ready = slices.Delete(q.ready, i, i+1)
	}
	q.queued[k] = true
	q.urgent = append(q.urgent, k)
	q.cond.Signal()
}

// backoff returns how long k still backs off, 0 if it does not.
func (q *queue) backoff(k keyward.Key) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	return max(time.Until(q.notBefore[k]), 0)
}

func (q *queue) addLocked(k keyward.Key) {
	if q.shutdown {
		return
	}
	if q.processing[k] {
		q.dirty[k] = true
		return
	}
	if q.queued[k] {
		return
	}
	q.queued[k] = true
	q.ready = append(q.ready, k)
	q.cond.Signal()
}

// addAfter makes k ready after d, unless it is already due sooner.
func (q *queue) addAfter(k keyward.Key, d time.Duration) {
	if d <= 0 {
		q.add(k)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	at := time.Now().Add(d)
	if old, ok := q.deadline[k]; ok && !old.After(at) {
		return
	}
	if t := q.timers[k]; t != nil {
		t.Stop()
	}
	q.deadline[k] = at
	q.timers[k] = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		if q.deadline[k].Equal(at) {
			delete(q.deadline, k)
			delete(q.timers, k)
			delete(q.notBefore, k) // the retry itself
			q.addLocked(k)
		}
	})
}

// retry re-adds k after an exponential backoff that grows with each failure.
func (q *queue) retry(k keyward.Key) time.Duration {
	q.mu.Lock()
	n := q.failures[k]
	q.failures[k] = n + 1
	q.mu.Unlock()
	d := q.baseBackoff << min(n, 20)
	if d > q.maxBackoff || d <= 0 {
		d = q.maxBackoff
	}
	q.mu.Lock()
	q.notBefore[k] = time.Now().Add(d)
	q.mu.Unlock()
	q.addAfter(k, d)
	return d
}

// forget clears k's failure count after a success.
func (q *queue) forget(k keyward.Key) {
	q.mu.Lock()
	delete(q.failures, k)
	delete(q.notBefore, k)
	q.mu.Unlock()
}

// get blocks until a key is ready or the queue shuts down.
func (q *queue) get() (keyward.Key, bool) {
	k, _, ok := q.getUrgent()
	return k, ok
}

// getUrgent is get that also reports whether the key was kicked (urgent).
func (q *queue) getUrgent() (k keyward.Key, urgent, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.ready) == 0 && len(q.urgent) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if q.shutdown {
		return keyward.Key{}, false, false
	}
	if len(q.urgent) > 0 {
		k, q.urgent, urgent = q.urgent[0], q.urgent[1:], true
	} else {
		k, q.ready = q.ready[0], q.ready[1:]
	}
	delete(q.queued, k)
	q.processing[k] = true
	return k, urgent, true
}

// takeUrgent hands out, as get does, up to n more urgent keys that match,
// without waiting: a worker that got a kicked cache takes the other caches
// kicked by the same change with it and reaches all their nodes at once
// (see Controller.fanOut), instead of one worker's pass per cache.
func (q *queue) takeUrgent(match func(keyward.Key) bool, n int) []keyward.Key {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []keyward.Key
	rest := q.urgent[:0]
	for _, k := range q.urgent {
		if len(out) < n && match(k) {
			out = append(out, k)
			delete(q.queued, k)
			q.processing[k] = true
			continue
		}
		rest = append(rest, k)
	}
	clear(q.urgent[len(rest):])
	q.urgent = rest
	return out
}

// addIdle is add for a key that is neither queued nor being processed
// (nor backing off); a key being processed is left alone. For checks that
// only make sure someone looks at k: a pass in progress reports when it
// ends, and whoever waits for it checks again then (see waiters), so
// marking it dirty would only run a second, redundant pass.
func (q *queue) addIdle(k keyward.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.processing[k] || time.Now().Before(q.notBefore[k]) {
		return
	}
	q.addLocked(k)
}

// done marks k processed, re-queueing it if it was added meanwhile.
func (q *queue) done(k keyward.Key) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, k)
	urgent := q.urgentDirty[k]
	delete(q.urgentDirty, k)
	if q.dirty[k] {
		delete(q.dirty, k)
		if !time.Now().Before(q.notBefore[k]) {
			q.addLocked(k)
			if urgent && q.queued[k] {
				if i := slices.Index(q.ready, k); i >= 0 {
					q.ready = slices.Delete(q.ready, i, i+1)
					q.urgent = append(q.urgent, k)
				}
			}
		}
	}
}

// len returns the number of keys ready or waiting, for metrics.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ready) + len(q.urgent) + len(q.deadline)
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	for _, t := range q.timers {
		t.Stop()
	}
	q.cond.Broadcast()
}
