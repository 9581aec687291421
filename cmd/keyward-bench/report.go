package main

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is every run's results, keyed by workload, then by target.
type report struct {
	cfg     *config
	started time.Time
	runs    []map[string]map[string]*result
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// med is the median over runs of f applied to target's result in workload.
func (rp *report) med(wl, target string, f func(*result) float64) float64 {
	var v []float64
	for _, r := range rp.runs {
		if res, ok := r[wl][target]; ok {
			v = append(v, f(res))
		}
	}
	return median(v)
}

func (rp *report) medDur(wl, target string, f func(*result) time.Duration) time.Duration {
	return time.Duration(rp.med(wl, target, func(r *result) float64 { return float64(f(r)) }))
}

// ratios is a/b of f within each run of workload wl.
func (rp *report) ratios(wl, a, b string, f func(*result) float64) []float64 {
	var v []float64
	for _, r := range rp.runs {
		ra, rb := r[wl][a], r[wl][b]
		if ra != nil && rb != nil && f(rb) > 0 {
			v = append(v, f(ra)/f(rb))
		}
	}
	return v
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func fmtKiB(k int64) string { return fmt.Sprintf("%.1f MiB", float64(k)/1024) }

func fmtRatio(v float64) string { return fmt.Sprintf("%.1f×", v) }

// fmtRatio2 is fmtRatio with two decimals, for ratios near 1.
func fmtRatio2(v float64) string { return fmt.Sprintf("%.2f×", v) }

// others are the targets keyward is compared with, in the order given.
func (rp *report) others() []string {
	var out []string
	if !contains(rp.cfg.targets, targetKeyward) {
		return nil
	}
	for _, t := range rp.cfg.targets {
		if t != targetKeyward {
			out = append(out, t)
		}
	}
	return out
}

func perCPU(r *result) float64 {
	if r.serverCPU <= 0 {
		return 0
	}
	return r.opsPerSec() / r.serverCPU
}

func (rp *report) markdown() string {
	cfg := rp.cfg
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	n := len(rp.runs)
	others := rp.others()

	p("# keyward-bench: %s\n\n", strings.Join(cfg.workloads, ", "))
	p("%s · %s/%s, %d CPUs, %s · targets %s · %d clients per target, %s warmup + %s measured · describe reads %d populated users · %d run(s), figures are medians over runs; runs alternate the order of the targets.\n\n",
		rp.started.Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(),
		strings.Join(cfg.targets, ", "), cfg.clients, cfg.warmup, cfg.duration, cfg.populate, n)
	p("Workloads: **lifecycle** is CreateUser → DescribeUsers(UserId) → DeleteUser on a fresh id; **describe** is DescribeUsers(UserId) of one of the populated users, in turn. " +
		"*noop* is the floor: a Go net/http server that decodes the form and writes canned answers of the same shape (`keyward-bench noop`).\n\n")

	// The headline: server CPU per call and throughput, per workload.
	p("## Server CPU per call (median of %d run(s))\n\n", n)
	p("| workload |")
	for _, t := range cfg.targets {
		p(" %s µs/call |", t)
	}
	for _, o := range others {
		p(" keyward/%s |", o)
	}
	p("\n|---|")
	for range len(cfg.targets) + len(others) {
		p("---:|")
	}
	p("\n")
	cpu := (*result).cpuPerCall
	ops := (*result).opsPerSec
	for _, wl := range cfg.workloads {
		p("| %s |", wl)
		for _, t := range cfg.targets {
			p(" %.0f |", rp.med(wl, t, cpu))
		}
		for _, o := range others {
			p(" %s |", fmtRatio2(median(rp.ratios(wl, targetKeyward, o, cpu))))
		}
		p("\n")
	}
	p("\nServer CPU µs per call = the server's user+system CPU during the window ÷ successful calls in it; keyward/X is the median over runs of the ratio within each run (< 1: keyward spends less).\n\n")

	p("## Throughput (median of %d run(s))\n\n", n)
	p("| workload |")
	for _, t := range cfg.targets {
		p(" %s ops/s |", t)
	}
	for _, o := range others {
		p(" keyward/%s |", o)
	}
	p("\n|---|")
	for range len(cfg.targets) + len(others) {
		p("---:|")
	}
	p("\n")
	for _, wl := range cfg.workloads {
		p("| %s |", wl)
		for _, t := range cfg.targets {
			p(" %.0f |", rp.med(wl, t, ops))
		}
		for _, o := range others {
			p(" %s |", fmtRatio2(median(rp.ratios(wl, targetKeyward, o, ops))))
		}
		p("\n")
	}
	p("\nPer run, keyward/X of server CPU per call (and of throughput):\n\n")
	for _, wl := range cfg.workloads {
		for _, o := range others {
			p("- %s, keyward/%s:", wl, o)
			c, t := rp.ratios(wl, targetKeyward, o, cpu), rp.ratios(wl, targetKeyward, o, ops)
			for i := range c {
				p(" %s (%s)", fmtRatio2(c[i]), fmtRatio2(t[i]))
			}
			p("\n")
		}
	}

	for _, wl := range cfg.workloads {
		rp.workloadMarkdown(&b, wl)
	}

	// Errors.
	p("\n## Errors\n\n")
	found := false
	for _, wl := range cfg.workloads {
		for _, t := range cfg.targets {
			codes := map[string]int{}
			var samples []string
			for _, r := range rp.runs {
				if res := r[wl][t]; res != nil {
					for k, v := range res.codes {
						codes[k] += v
					}
					samples = append(samples, res.samples...)
				}
			}
			if len(codes) == 0 {
				continue
			}
			found = true
			p("%s, %s:\n\n", wl, t)
			for _, k := range slices.Sorted(maps.Keys(codes)) {
				p("- %s × %d\n", k, codes[k])
			}
			if len(samples) > maxSamples {
				samples = samples[:maxSamples]
			}
			p("\nFirst messages:\n\n")
			for _, s := range samples {
				p("    %s\n", strings.ReplaceAll(s, "\n", " "))
			}
			p("\n")
		}
	}
	if !found {
		p("None.\n")
	}
	return b.String()
}

// workloadMarkdown writes the detailed tables of one workload.
func (rp *report) workloadMarkdown(b *strings.Builder, wl string) {
	cfg := rp.cfg
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	n := len(rp.runs)
	others := rp.others()
	lifecycle := wl == workloadLifecycle

	p("\n## Workload %s: summary (median of %d run(s))\n\n", wl, n)
	p("| |")
	for _, t := range cfg.targets {
		p(" %s |", t)
	}
	for _, o := range others {
		p(" keyward/%s |", o)
	}
	p("\n|---|")
	for range len(cfg.targets) + len(others) {
		p("---:|")
	}
	p("\n")
	row := func(name string, cell func(t string) string, ratio func(o string) string) {
		p("| %s |", name)
		for _, t := range cfg.targets {
			p(" %s |", cell(t))
		}
		for _, o := range others {
			r := ""
			if ratio != nil {
				r = ratio(o)
			}
			p(" %s |", r)
		}
		p("\n")
	}
	num := func(f func(*result) float64, format string) func(string) string {
		return func(t string) string { return fmt.Sprintf(format, rp.med(wl, t, f)) }
	}
	dur := func(f func(*result) time.Duration) func(string) string {
		return func(t string) string { return fmtDur(rp.medDur(wl, t, f)) }
	}
	kib := func(f func(*result) int64) func(string) string {
		return func(t string) string {
			return fmtKiB(int64(rp.med(wl, t, func(r *result) float64 { return float64(f(r)) })))
		}
	}
	perRun := func(f func(*result) float64) func(string) string {
		return func(o string) string { return fmtRatio2(median(rp.ratios(wl, targetKeyward, o, f))) }
	}
	ofMedians := func(f func(*result) float64) func(string) string {
		return func(o string) string {
			m := rp.med(wl, o, f)
			if m == 0 {
				return ""
			}
			return fmtRatio(rp.med(wl, targetKeyward, f) / m)
		}
	}
	if lifecycle {
		row("lifecycles/s", num((*result).lifecyclesPerSec, "%.0f"), perRun((*result).lifecyclesPerSec))
		row("ops/s (3 per lifecycle)", num((*result).opsPerSec, "%.0f"), perRun((*result).opsPerSec))
	} else {
		row("ops/s", num((*result).opsPerSec, "%.0f"), perRun((*result).opsPerSec))
	}
	row("server CPU µs per call", num((*result).cpuPerCall, "%.0f"), perRun((*result).cpuPerCall))
	row("ops per server CPU-second", num(perCPU, "%.0f"), perRun(perCPU))
	row("failed calls (all runs)", func(t string) string {
		sum := 0
		for _, r := range rp.runs {
			if res := r[wl][t]; res != nil {
				sum += res.errors
			}
		}
		return fmt.Sprint(sum)
	}, nil)
	row("p50, all calls", dur(func(r *result) time.Duration { return r.all.p50 }), ofMedians(func(r *result) float64 { return float64(r.all.p50) }))
	row("p99, all calls", dur(func(r *result) time.Duration { return r.all.p99 }), ofMedians(func(r *result) float64 { return float64(r.all.p99) }))
	row("startup (exec → first answer)", dur(func(r *result) time.Duration { return r.startup }), nil)
	row("RSS after startup", kib(func(r *result) int64 { return r.rssStart }), nil)
	row(fmt.Sprintf("RSS idle (after %s)", cfg.idleWait), kib(func(r *result) int64 { return r.rssIdle }),
		ofMedians(func(r *result) float64 { return float64(r.rssIdle) }))
	row("RSS after load", kib(func(r *result) int64 { return r.rssLoad }),
		ofMedians(func(r *result) float64 { return float64(r.rssLoad) }))
	row("server CPU during load (cores)", num(func(r *result) float64 { return r.serverCPU }, "%.2f"), nil)
	row("benchmark CPU during load (cores)", num(func(r *result) float64 { return r.benchCPU }, "%.2f"), nil)
	row("other processes' CPU during load (cores)", num(func(r *result) float64 { return r.otherCPU }, "%.2f"), nil)
	if lifecycle && contains(cfg.targets, targetKeyward) {
		row("reconciler drain after load", func(t string) string {
			if !cfg.isKeyward(t) {
				return "n/a"
			}
			s := fmtDur(rp.medDur(wl, t, func(r *result) time.Duration { return r.drain }))
			for _, r := range rp.runs {
				if res := r[wl][t]; res != nil && !res.drained {
					s += fmt.Sprintf(" (not drained in %s in some runs)", drainTimeout)
					break
				}
			}
			return s
		}, nil)
	}

	// Latency per operation.
	p("\n### Workload %s: latency per operation (median of %d run(s))\n\n", wl, n)
	p("| operation |")
	for _, t := range cfg.targets {
		p(" %s p50 | %s p99 | %s max |", t, t, t)
	}
	p("\n|---|")
	for range cfg.targets {
		p("---:|---:|---:|")
	}
	p("\n")
	for op := range nOps + 1 {
		name := "all calls"
		get := func(r *result) latency { return r.all }
		if op < nOps {
			if !lifecycle && op != opDescribe {
				continue
			}
			name = opNames[op]
			get = func(r *result) latency { return r.ops[op] }
		}
		p("| %s |", name)
		for _, t := range cfg.targets {
			p(" %s | %s | %s |",
				fmtDur(rp.medDur(wl, t, func(r *result) time.Duration { return get(r).p50 })),
				fmtDur(rp.medDur(wl, t, func(r *result) time.Duration { return get(r).p99 })),
				fmtDur(rp.medDur(wl, t, func(r *result) time.Duration { return get(r).max })))
		}
		p("\n")
	}

	// Every run.
	p("\n### Workload %s: every run\n\n", wl)
	p("| run | target | ops/s | CPU µs/call | p50 | p99 | max | failed calls | startup | RSS start / idle / after load | server CPU | bench CPU | other CPU |\n")
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range rp.runs {
		for _, t := range cfg.targets {
			res := r[wl][t]
			if res == nil {
				continue
			}
			p("| %d | %s | %.0f | %.0f | %s | %s | %s | %d | %s | %s / %s / %s | %.2f | %.2f | %.2f |\n",
				i+1, t, res.opsPerSec(), res.cpuPerCall(), fmtDur(res.all.p50), fmtDur(res.all.p99), fmtDur(res.all.max),
				res.errors, fmtDur(res.startup), fmtKiB(res.rssStart), fmtKiB(res.rssIdle), fmtKiB(res.rssLoad),
				res.serverCPU, res.benchCPU, res.otherCPU)
		}
	}
}
