package sigv4

import (
	"context"
	"sync"
)

// Budget is a pool of bytes that requests reserve before reading their
// bodies, so that many slow or stalled bodies cannot together exhaust the
// server's memory. It is safe for concurrent use.
type Budget struct {
	mu   sync.Mutex
	size int64
	left int64
	wake chan struct{} // closed and replaced by a Release while waiting > 0
	// waiting counts the Acquires waiting for wake.
	waiting int
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{size: size, left: size, wake: make(chan struct{})}
}

// Acquire reserves n bytes (at most the budget's size), waiting until they
// are free or ctx is done; it reports whether they were reserved.
func (b *Budget) Acquire(ctx context.Context, n int64) bool {
	n = min(n, b.size)
	for {
		b.mu.Lock()
		if b.left >= n {
			b.left -= n
			b.mu.Unlock()
			return true
		}
		wake := b.wake
		b.waiting++
		b.mu.Unlock()
		select {
		case <-wake:
			b.mu.Lock()
			b.waiting--
			b.mu.Unlock()
		case <-ctx.Done():
			b.mu.Lock()
			b.waiting--
			b.mu.Unlock()
			return false
		}
	}
}

// TryAcquire reserves n bytes (at most the budget's size) if they are
// free now, without waiting; it reports whether they were reserved.
func (b *Budget) TryAcquire(n int64) bool {
	n = min(n, b.size)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left >= n {
		b.left -= n
		return true
	}
	return false
}

// Release returns n bytes reserved by Acquire.
func (b *Budget) Release(n int64) {
	n = min(n, b.size)
	b.mu.Lock()
	b.left += n
	if b.waiting > 0 { // nobody to wake otherwise: spare the channel
		close(b.wake)
		b.wake = make(chan struct{})
	}
	b.mu.Unlock()
}

// Available returns the bytes not reserved now.
func (b *Budget) Available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}
