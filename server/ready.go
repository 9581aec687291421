package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"keyward"
)

// prober is a store that can show it still durably writes (sqlite.Store,
// postgres.Store). A store without it is ready while it can be read.
type prober interface {
	Probe(ctx context.Context) error
}

// readiness runs the store's write probe every interval, so that /readyz
// says "not ready" while writes fail or are being lost, not only while the
// store cannot be read.
type readiness struct {
	store    keyward.Store
	interval time.Duration
	log      *slog.Logger

	mu     sync.Mutex
	last   error
	at     time.Time // when the last probe finished
	probed bool
}

func newReadiness(store keyward.Store, interval time.Duration, log *slog.Logger) *readiness {
	return &readiness{store: store, interval: interval, log: log}
}

// probe runs the write probe once and records its result.
func (r *readiness) probe(ctx context.Context) {
	p, ok := r.store.(prober)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, max(r.interval, 2*time.Second))
	err := p.Probe(ctx)
	cancel()
	r.mu.Lock()
	was := r.last
	r.last, r.at, r.probed = err, time.Now(), true
	r.mu.Unlock()
	switch {
	case err != nil && (was == nil || was.Error() != err.Error()):
		r.log.Error("server: store write probe failed; not ready", "err", err)
	case err == nil && was != nil:
		r.log.Info("server: store write probe passes again; ready")
	}
}

// run probes every interval until ctx is done (Start ran the first).
func (r *readiness) run(ctx context.Context) {
	if _, ok := r.store.(prober); !ok {
		return
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.probe(ctx)
	}
}

// err is why the server is not ready, or nil. A probe that has not
// finished for three intervals counts as failed: a store that hangs on
// writes is not ready either.
func (r *readiness) err() error {
	if _, ok := r.store.(prober); !ok {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.probed:
		return errors.New("server: store write probe has not run yet")
	case r.last != nil:
		return r.last
	case time.Since(r.at) > 3*r.interval+2*time.Second:
		return fmt.Errorf("server: store write probe has not finished since %s", r.at.Format(time.RFC3339))
	}
	return nil
}
