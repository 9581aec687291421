package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// runSoak is the soak campaign: N concurrent clients on the mixed workload
// for a while, no faults. It reports throughput, latencies, errors by code
// and keyward's memory (sampled every second), then checks keyward and
// every node against the model.
func runSoak(ctx context.Context, cfg *config) *Report {
	rep := newReport("soak")
	e, err := setup(ctx, cfg, rep, nil, "--log-level", "warn")
	if err != nil {
		rep.violate("setup: %v", err)
		return rep
	}
	defer e.teardown()
	clients := max(cfg.clients, 1)
	m := newModel("s", limits{users: 40, defaults: 4, groups: 8, caches: 3, maxNodes: 2})
	st := newStats()
	w := &workload{m: m, st: st, rep: rep, reads: true, cacheEvery: 500 * time.Millisecond}

	type sample struct {
		at              time.Duration
		rss, fds, calls int
	}
	answered := func() int {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.answered
	}
	var samples []sample
	pid := e.kw.pid()
	var stop atomic.Bool
	var wg sync.WaitGroup
	begin := time.Now()
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		samples = append(samples, sample{0, rssKiB(pid), numFDs(pid), 0})
		for !stop.Load() {
			select {
			case <-t.C:
				samples = append(samples, sample{time.Since(begin), rssKiB(pid), numFDs(pid), answered()})
			case <-ctx.Done():
				return
			}
		}
	}()
	var hcs []interface{ CloseIdleConnections() }
	for i := range clients {
		c, hc := e.client()
		hcs = append(hcs, hc)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.worker(ctx, c, rand.New(rand.NewPCG(cfg.seed, uint64(i))), &stop)
		}()
	}
	progress := time.NewTicker(30 * time.Second)
	deadline := time.After(cfg.duration)
loop:
	for {
		select {
		case <-deadline:
			break loop
		case <-ctx.Done():
			break loop
		case <-progress.C:
			cfg.logf("soak: %v: %d calls acknowledged, RSS %d KiB", time.Since(begin).Round(time.Second), st.totalAcked(), rssKiB(pid))
		}
	}
	progress.Stop()
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(begin)
	<-samplerDone
	for _, hc := range hcs {
		hc.CloseIdleConnections()
	}
	rssIdleAfter := rssKiB(pid)
	cv := e.converge(ctx, m, "after the load", time.Now())

	st.mu.Lock()
	var all []time.Duration
	for _, ds := range st.lat {
		all = append(all, ds...)
	}
	nAnswered := st.answered
	expected, unexpected := sumMap(st.expected), sumMap(st.unexpected)
	expectedCodes, unexpectedCodes := fmtCounts(st.expected), fmtCounts(st.unexpected)
	uncertain, refused, glitches := st.uncertain, st.refused, st.glitches
	st.mu.Unlock()
	if refused > 0 {
		rep.violate("%d calls could not connect to keyward", refused)
	}

	// Memory: median RSS of the first and of the last window (a minute,
	// or a third of shorter runs).
	win := min(time.Minute, elapsed/3)
	var first, last, fdsFirst, fdsLast []int
	for _, s := range samples {
		if s.at <= win {
			first = append(first, s.rss)
			fdsFirst = append(fdsFirst, s.fds)
		}
		if s.at >= elapsed-win {
			last = append(last, s.rss)
			fdsLast = append(fdsLast, s.fds)
		}
	}
	rssFirst, rssLast := medianInt(first), medianInt(last)
	// Throughput of the first and last windows.
	rate := func(from, to time.Duration) float64 {
		var a, b *sample
		for i := range samples {
			if a == nil && samples[i].at >= from {
				a = &samples[i]
			}
			if samples[i].at <= to {
				b = &samples[i]
			}
		}
		if a == nil || b == nil || b.at <= a.at {
			return 0
		}
		return float64(b.calls-a.calls) / (b.at - a.at).Seconds()
	}
	rateFirst, rateLast := rate(0, win), rate(elapsed-win, elapsed)
	growth := 0.0
	if rssFirst > 0 {
		growth = float64(rssLast-rssFirst) / float64(rssFirst)
	}
	if elapsed >= 2*time.Minute && growth > cfg.rssGrowthLimit {
		rep.violate("keyward's median RSS grew %.0f%% from the first to the last minute (%d → %d KiB; limit %.0f%%)", 100*growth, rssFirst, rssLast, 100*cfg.rssGrowthLimit)
	}
	peak := 0
	for _, s := range samples {
		peak = max(peak, s.rss)
	}

	rep.printf("%d concurrent clients on the mixed workload for %v (no faults), then keyward and every node checked against the model. Seed %d.\n\n", clients, elapsed.Round(time.Second), cfg.seed)
	rep.printf("| measure | value |\n|---|---|\n")
	rep.printf("| calls answered | %d (%.0f/s) |\n", nAnswered, float64(nAnswered)/elapsed.Seconds())
	rep.printf("| acknowledged writes | %d (%.0f/s) |\n", st.writesAcked(), float64(st.writesAcked())/elapsed.Seconds())
	rep.printf("| calls/s: first %v / last %v | %.0f / %.0f |\n", win.Round(time.Second), win.Round(time.Second), rateFirst, rateLast)
	rep.printf("| latency, all calls: p50 / p99 / max | %s / %s / %s |\n", fmtDur(quantile(all, 0.5)), fmtDur(quantile(all, 0.99)), fmtDur(quantile(all, 1)))
	rep.printf("| expected refusals | %d (%s) |\n", expected, expectedCodes)
	rep.printf("| **unexpected errors** | **%d** (%s) |\n", unexpected+uncertain-glitches+refused, unexpectedCodes)
	rep.printf("| client-side transport failures (aws-sdk-go-v2#2737; writes resolved against keyward's state) | %d |\n", glitches)
	rep.printf("| keyward RSS: median of first %v / last %v | %.1f / %.1f MiB (%+.1f%%) |\n", win.Round(time.Second), win.Round(time.Second), float64(rssFirst)/1024, float64(rssLast)/1024, 100*growth)
	rep.printf("| keyward RSS: peak / after the load | %.1f / %.1f MiB |\n", float64(peak)/1024, float64(rssIdleAfter)/1024)
	rep.printf("| keyward open files: median of first / last window | %d / %d |\n", medianInt(fdsFirst), medianInt(fdsLast))
	rep.printf("| convergence after the load | %s |\n", fmtDur(cv.took))
	rep.printf("| final check: ACL | %s |\n\n", cv.acl.summary())
	st.opTable(rep)
	if len(st.unexpMsgs) > 0 {
		rep.note("first unexpected errors: %s", firstN(st.unexpMsgs, 5))
	}
	return rep
}
