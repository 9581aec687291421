package main

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runCrash is the crash campaign: a mixed workload from several workers,
// keyward killed with SIGKILL at a random point of each round, restarted on
// the same data directory, and checked against the model of acknowledged
// writes; then, once everything settled, every node's ACLs against the
// model.
func runCrash(ctx context.Context, cfg *config) *Report {
	rep := newReport("crash")
	e, err := setup(ctx, cfg, rep, nil, "--log-level", "info")
	if err != nil {
		rep.violate("setup: %v", err)
		return rep
	}
	defer e.teardown()
	workers := max(cfg.clients, 1)
	m := newModel("k", limits{users: 24, defaults: 4, groups: 6, caches: 3, maxNodes: 2})
	st := newStats()
	w := &workload{m: m, st: st, rep: rep, kills: true, think: 20 * time.Millisecond, reads: true}
	rng := rand.New(rand.NewPCG(cfg.seed, 0xc7a54))

	var restarts, convs []time.Duration
	var unanswered, early, auths, nodesChecked int
	var staleEntries, staleAuths, missingEntries, missingAuths int
	kinds := map[string]int{}
	if cfg.rounds <= 0 && cfg.duration <= 0 {
		cfg.rounds = 10
	}
	deadline := time.Now().Add(cfg.duration)
	round := 0
	begin := time.Now()
	for ctx.Err() == nil {
		if cfg.rounds > 0 && round >= cfg.rounds || cfg.duration > 0 && round > 0 && time.Now().After(deadline) {
			break
		}
		round++
		c, hc := e.client()
		var stop atomic.Bool
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.worker(ctx, c, rand.New(rand.NewPCG(cfg.seed, uint64(round*1000+i))), &stop)
			}()
		}
		// The first round builds some state; later ones kill at any point.
		load := 200*time.Millisecond + time.Duration(rng.Int64N(int64(2300*time.Millisecond)))
		if round == 1 {
			load += 1500 * time.Millisecond
		}
		select {
		case <-time.After(load):
		case <-ctx.Done():
		}
		e.kw.kill9()
		stop.Store(true)
		wg.Wait()
		hc.CloseIdleConnections()
		if ctx.Err() != nil {
			break
		}
		d, err := e.kw.start(ctx)
		if err != nil {
			rep.violate("round %d: restart after kill -9: %v", round, err)
			break
		}
		restarts = append(restarts, d)
		cv := e.converge(ctx, m, "round "+itoa(round), time.Now())
		unanswered += cv.unanswered
		for k, v := range cv.mismatches {
			kinds[k] += len(v)
		}
		staleEntries += cv.acl.staleEntries
		staleAuths += cv.acl.staleAuths
		missingEntries += cv.acl.missingEntries
		missingAuths += cv.acl.missingAuths
		auths += cv.acl.auths
		nodesChecked += cv.acl.nodes
		if cv.early {
			early++
		}
		if cv.took > 0 {
			convs = append(convs, cv.took)
		}
		cfg.logf("crash: round %d: killed after %v, restarted in %v, converged in %v (%d unanswered, %d writes acknowledged so far)",
			round, load.Round(time.Millisecond), d.Round(time.Millisecond), cv.took.Round(time.Millisecond), cv.unanswered, st.writesAcked())
		if !cv.converged {
			rep.note("stopped after round %d: keyward did not converge on the model, so later rounds could not be judged", round)
			break
		}
	}
	elapsed := time.Since(begin)

	st.mu.Lock()
	expected, unexpected, refused := sumMap(st.expected), sumMap(st.unexpected), st.refused
	expectedCodes, unexpectedCodes := fmtCounts(st.expected), fmtCounts(st.unexpected)
	st.mu.Unlock()
	m.mu.Lock()
	nCreds := len(m.creds)
	m.mu.Unlock()

	rep.printf("keyward killed with SIGKILL under a mixed workload (%d workers) at a random point of each round, restarted on the same data directory, then checked against the model of acknowledged requests, and every node's ACLs against the model once all statuses settled. Seed %d, %v.\n\n",
		workers, cfg.seed, elapsed.Round(time.Second))
	rep.printf("| measure | value |\n|---|---|\n")
	rep.printf("| rounds (kill -9 + restart) | %d |\n", round)
	rep.printf("| acknowledged writes | %d |\n", st.writesAcked())
	rep.printf("| acknowledged reads | %d |\n", st.totalAcked()-st.writesAcked())
	rep.printf("| expected refusals | %d (%s) |\n", expected, expectedCodes)
	rep.printf("| unexpected errors | %d (%s) |\n", unexpected, unexpectedCodes)
	rep.printf("| calls without an answer (in flight at the kill), resolved | %d |\n", unanswered)
	rep.printf("| calls refused while keyward was down | %d |\n", refused)
	rep.printf("| **acknowledged writes lost** | **%d** |\n", kinds[mmLost])
	rep.printf("| unanswered writes applied in part | %d |\n", kinds[mmHalf])
	rep.printf("| phantom resources / membership disagreements / bad statuses / bad acknowledgements | %d / %d / %d / %d |\n", kinds[mmPhantom], kinds[mmMembership], kinds[mmStatus], kinds[mmAck])
	rep.printf("| **stale ACL entries / stale AUTHs accepted** | **%d / %d** |\n", staleEntries, staleAuths)
	rep.printf("| missing ACL entries / valid AUTHs refused | %d / %d |\n", missingEntries, missingAuths)
	rep.printf("| statuses settled before nodes matched | %d |\n", early)
	rep.printf("| node checks / AUTH probes (credentials known: %d) | %d / %d |\n", nCreds, nodesChecked, auths)
	rep.printf("| restart (exec → /healthz) p50 / max | %s / %s |\n", fmtDur(quantile(restarts, 0.5)), fmtDur(quantile(restarts, 1)))
	rep.printf("| convergence after restart p50 / max (limit %v) | %s / %s |\n\n", cfg.convergeTimeout, fmtDur(quantile(convs, 0.5)), fmtDur(quantile(convs, 1)))
	st.opTable(rep)
	return rep
}

func itoa(i int) string { return strconv.Itoa(i) }
