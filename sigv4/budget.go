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
	wake chan struct{} // closed and replaced on every Release
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
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return false
		}
	}
}

// Release returns n bytes reserved by Acquire.
func (b *Budget) Release(n int64) {
	n = min(n, b.size)
	b.mu.Lock()
	b.left += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// Available returns the bytes not reserved now.
func (b *Budget) Available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}
