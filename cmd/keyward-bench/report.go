package main

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report is every run's results, keyed by target.
type report struct {
	cfg     *config
	started time.Time
	runs    []map[string]*result
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

// med is the median over runs of f applied to target's result.
func (rp *report) med(target string, f func(*result) float64) float64 {
	var v []float64
	for _, r := range rp.runs {
		if res, ok := r[target]; ok {
			v = append(v, f(res))
		}
	}
	return median(v)
}

func (rp *report) medDur(target string, f func(*result) time.Duration) time.Duration {
	return time.Duration(rp.med(target, func(r *result) float64 { return float64(f(r)) }))
}

// ratios is keyward/moto of f within each run.
func (rp *report) ratios(f func(*result) float64) []float64 {
	var v []float64
	for _, r := range rp.runs {
		k, m := r[targetKeyward], r[targetMoto]
		if k != nil && m != nil && f(m) > 0 {
			v = append(v, f(k)/f(m))
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

func (rp *report) markdown() string {
	cfg := rp.cfg
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	both := contains(cfg.targets, targetKeyward) && contains(cfg.targets, targetMoto)
	n := len(rp.runs)

	p("# keyward-bench: CreateUser → DescribeUsers → DeleteUser\n\n")
	p("%s · %s/%s, %d CPUs, %s · %d clients per target, %s warmup + %s measured · %d run(s), figures are medians over runs; runs alternate which target goes first.\n\n",
		rp.started.Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(),
		cfg.clients, cfg.warmup, cfg.duration, n)

	// Summary: one column per target, plus keyward/moto.
	p("## Summary (median of %d run(s))\n\n", n)
	p("| |")
	for _, t := range cfg.targets {
		p(" %s |", t)
	}
	if both {
		p(" keyward/moto |")
	}
	p("\n|---|")
	for range cfg.targets {
		p("---:|")
	}
	if both {
		p("---:|")
	}
	p("\n")
	row := func(name string, cell func(t string) string, ratio string) {
		p("| %s |", name)
		for _, t := range cfg.targets {
			p(" %s |", cell(t))
		}
		if both {
			p(" %s |", ratio)
		}
		p("\n")
	}
	num := func(f func(*result) float64, format string) func(string) string {
		return func(t string) string { return fmt.Sprintf(format, rp.med(t, f)) }
	}
	dur := func(f func(*result) time.Duration) func(string) string {
		return func(t string) string { return fmtDur(rp.medDur(t, f)) }
	}
	kib := func(f func(*result) int64) func(string) string {
		return func(t string) string {
			return fmtKiB(int64(rp.med(t, func(r *result) float64 { return float64(f(r)) })))
		}
	}
	ratioOfMedians := func(f func(*result) float64) string {
		m := rp.med(targetMoto, f)
		if m == 0 {
			return ""
		}
		return fmtRatio(rp.med(targetKeyward, f) / m)
	}
	lc := (*result).lifecyclesPerSec
	ops := (*result).opsPerSec
	row("lifecycles/s", num(lc, "%.0f"), fmtRatio(median(rp.ratios(lc))))
	row("ops/s (3 per lifecycle)", num(ops, "%.0f"), fmtRatio(median(rp.ratios(ops))))
	perCPU := func(r *result) float64 {
		if r.serverCPU <= 0 {
			return 0
		}
		return r.opsPerSec() / r.serverCPU
	}
	row("ops per server CPU-second", num(perCPU, "%.0f"), fmtRatio(median(rp.ratios(perCPU))))
	row("failed calls (all runs)", func(t string) string {
		sum := 0
		for _, r := range rp.runs {
			if res := r[t]; res != nil {
				sum += res.errors
			}
		}
		return fmt.Sprint(sum)
	}, "")
	row("p50, all calls", dur(func(r *result) time.Duration { return r.all.p50 }), ratioOfMedians(func(r *result) float64 { return float64(r.all.p50) }))
	row("p99, all calls", dur(func(r *result) time.Duration { return r.all.p99 }), ratioOfMedians(func(r *result) float64 { return float64(r.all.p99) }))
	row("startup (exec → first answer)", dur(func(r *result) time.Duration { return r.startup }), "")
	row("RSS after startup", kib(func(r *result) int64 { return r.rssStart }), "")
	row(fmt.Sprintf("RSS idle (after %s)", cfg.idleWait), kib(func(r *result) int64 { return r.rssIdle }),
		ratioOfMedians(func(r *result) float64 { return float64(r.rssIdle) }))
	row("RSS after load", kib(func(r *result) int64 { return r.rssLoad }),
		ratioOfMedians(func(r *result) float64 { return float64(r.rssLoad) }))
	row("server CPU during load (cores)", num(func(r *result) float64 { return r.serverCPU }, "%.2f"), "")
	row("benchmark CPU during load (cores)", num(func(r *result) float64 { return r.benchCPU }, "%.2f"), "")
	row("other processes' CPU during load (cores)", num(func(r *result) float64 { return r.otherCPU }, "%.2f"), "")
	if contains(cfg.targets, targetKeyward) {
		row("reconciler drain after load", func(t string) string {
			if t != targetKeyward {
				return "n/a"
			}
			s := fmtDur(rp.medDur(t, func(r *result) time.Duration { return r.drain }))
			for _, r := range rp.runs {
				if res := r[t]; res != nil && !res.drained {
					s += fmt.Sprintf(" (not drained in %s in some runs)", drainTimeout)
					break
				}
			}
			return s
		}, "")
	}
	if both {
		p("\nkeyward/moto throughput (ops/s) per run:")
		for _, v := range rp.ratios(ops) {
			p(" %s", fmtRatio(v))
		}
		p("; median %s.\n", fmtRatio(median(rp.ratios(ops))))
	}

	// Latency per operation.
	p("\n## Latency per operation (median of %d run(s))\n\n", n)
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
			name = opNames[op]
			get = func(r *result) latency { return r.ops[op] }
		}
		p("| %s |", name)
		for _, t := range cfg.targets {
			p(" %s | %s | %s |",
				fmtDur(rp.medDur(t, func(r *result) time.Duration { return get(r).p50 })),
				fmtDur(rp.medDur(t, func(r *result) time.Duration { return get(r).p99 })),
				fmtDur(rp.medDur(t, func(r *result) time.Duration { return get(r).max })))
		}
		p("\n")
	}

	// Every run.
	p("\n## Every run\n\n")
	p("| run | target | lifecycles/s | ops/s | p50 | p99 | max | failed calls | startup | RSS start / idle / after load | server CPU | bench CPU | other CPU |\n")
	p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, r := range rp.runs {
		for _, t := range cfg.targets {
			res := r[t]
			if res == nil {
				continue
			}
			p("| %d | %s | %.0f | %.0f | %s | %s | %s | %d | %s | %s / %s / %s | %.2f | %.2f | %.2f |\n",
				i+1, t, res.lifecyclesPerSec(), res.opsPerSec(), fmtDur(res.all.p50), fmtDur(res.all.p99), fmtDur(res.all.max),
				res.errors, fmtDur(res.startup), fmtKiB(res.rssStart), fmtKiB(res.rssIdle), fmtKiB(res.rssLoad),
				res.serverCPU, res.benchCPU, res.otherCPU)
		}
	}

	// Errors.
	p("\n## Errors\n\n")
	found := false
	for _, t := range cfg.targets {
		codes := map[string]int{}
		var samples []string
		for _, r := range rp.runs {
			if res := r[t]; res != nil {
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
		p("%s:\n\n", t)
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
	if !found {
		p("None.\n")
	}
	return b.String()
}
