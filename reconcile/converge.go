package reconcile

import (
	"sync"

	"keyward"
)

// waiters makes the completion of users and user groups event-driven. A
// user or group whose change has not reached every cache yet registers the
// caches it waits for; each cache pass that ends (applied, failed for good,
// deleted) reports its key, and a waiter is queued once, when the last of
// its caches has reported. Nothing polls, and no waiter re-reads the fleet
// each time one cache finishes: a revocation across N caches costs N
// reports and one final check, not N checks of N caches.
//
// A report that lands between a waiter's read of the store and its
// registration would be lost; waiters therefore note the epoch before
// they read, and register only if none of their caches reported since
// (otherwise they are queued at once). The periodic resync of unsettled
// resources remains the backstop, as for any lost notification.
type waiters struct {
	mu      sync.Mutex
	epoch   uint64
	last    map[keyward.Key]uint64               // cache → epoch of its last report
	pending map[keyward.Key]map[keyward.Key]bool // waiter → caches it waits for
	by      map[keyward.Key]map[keyward.Key]bool // cache → waiters
}

func newWaiters() *waiters {
	return &waiters{last: map[keyward.Key]uint64{}, pending: map[keyward.Key]map[keyward.Key]bool{}, by: map[keyward.Key]map[keyward.Key]bool{}}
}

// now returns the current epoch, to take before reading what to wait for.
func (w *waiters) now() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.epoch
}

// wait registers waiter as waiting for caches, replacing what it waited for
// before. It returns false, registering nothing, if one of caches reported
// after epoch since: then the caller must look again now.
func (w *waiters) wait(waiter keyward.Key, since uint64, caches []keyward.Key) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked(waiter)
	for _, k := range caches {
		if w.last[k] > since {
			return false
		}
	}
	if len(caches) == 0 {
		return true
	}
	set := make(map[keyward.Key]bool, len(caches))
	for _, k := range caches {
		set[k] = true
		if w.by[k] == nil {
			w.by[k] = map[keyward.Key]bool{}
		}
		w.by[k][waiter] = true
	}
	w.pending[waiter] = set
	return true
}

// waiting reports whether waiter waits for caches that have not all
// reported yet.
func (w *waiters) waiting(waiter keyward.Key) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending[waiter]) > 0
}

// drop forgets what waiter waited for (it settled or is gone).
func (w *waiters) drop(waiter keyward.Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.dropLocked(waiter)
}

func (w *waiters) dropLocked(waiter keyward.Key) {
	for k := range w.pending[waiter] {
		delete(w.by[k], waiter)
		if len(w.by[k]) == 0 {
			delete(w.by, k)
		}
	}
	delete(w.pending, waiter)
}

// report records that a pass of cache ended and returns the waiters that
// now wait for nothing more.
func (w *waiters) report(cache keyward.Key) []keyward.Key {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.epoch++
	w.last[cache] = w.epoch
	var ready []keyward.Key
	for waiter := range w.by[cache] {
		set := w.pending[waiter]
		delete(set, cache)
		if len(set) == 0 {
			delete(w.pending, waiter)
			ready = append(ready, waiter)
		}
	}
	delete(w.by, cache)
	return ready
}
