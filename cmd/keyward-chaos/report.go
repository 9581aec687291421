package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/smithy-go"
)

// Report is one campaign's outcome: Markdown text and the invariants it
// found violated (any violation makes the command exit non-zero).
type Report struct {
	Campaign string

	mu         sync.Mutex
	body       strings.Builder
	violations []string
	notes      []string
}

func newReport(name string) *Report { return &Report{Campaign: name} }

// violate records a broken invariant.
func (r *Report) violate(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.violations = append(r.violations, fmt.Sprintf(format, args...))
}

// note records an observation that is not a violation.
func (r *Report) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *Report) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(&r.body, format, args...)
}

// Violations returns a copy of the violations recorded.
func (r *Report) Violations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.violations)
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	verdict := "PASS"
	if len(r.violations) > 0 {
		verdict = fmt.Sprintf("FAIL (%d violations)", len(r.violations))
	}
	fmt.Fprintf(&b, "## Campaign %s: %s\n\n", r.Campaign, verdict)
	b.WriteString(r.body.String())
	if len(r.notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(r.violations) > 0 {
		b.WriteString("\nViolations:\n\n")
		const maxShown = 50
		for i, v := range r.violations {
			if i == maxShown {
				fmt.Fprintf(&b, "- ... and %d more\n", len(r.violations)-maxShown)
				break
			}
			fmt.Fprintf(&b, "- %s\n", v)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// Outcome classes of an API call.
const (
	outAcked      = "acked"
	outExpected   = "expected"   // an expected refusal (e.g. InvalidUserGroupState)
	outUnexpected = "unexpected" // any other API error
	outRefused    = "refused"    // connection refused: never reached keyward
	outUncertain  = "uncertain"  // sent, no answer: may or may not be applied
)

// expectedRefusals are the API errors a concurrent workload provokes by
// design: a resource not yet back to its resting status.
var expectedRefusals = map[string]bool{
	"InvalidUserGroupState":        true,
	"InvalidUserState":             true,
	"InvalidReplicationGroupState": true,
}

// classify returns the outcome class of err and its code.
func classify(err error) (class, code string) {
	if err == nil {
		return outAcked, ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
		if expectedRefusals[code] {
			return outExpected, code
		}
		return outUnexpected, code
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return outRefused, "ConnectionRefused"
	}
	return outUncertain, "NoAnswer"
}

// stats counts calls and keeps their latencies.
type stats struct {
	mu         sync.Mutex
	lat        map[string][]time.Duration // op -> latencies of answered calls
	acked      map[string]int             // op -> acknowledged calls
	expected   map[string]int             // code -> count
	unexpected map[string]int             // "op code" -> count
	refused    int
	uncertain  int
	glitches   int // client-side transport failures (see clientGlitch)
	answered   int
	unexpMsgs  []string
}

func newStats() *stats {
	return &stats{lat: map[string][]time.Duration{}, acked: map[string]int{}, expected: map[string]int{}, unexpected: map[string]int{}}
}

func (s *stats) record(op string, d time.Duration, err error, expect ...string) string {
	class, code := classify(err)
	if class == outUnexpected && slices.Contains(expect, code) {
		class = outExpected
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if class == outAcked || class == outExpected || class == outUnexpected {
		s.answered++
	}
	switch class {
	case outAcked:
		s.acked[op]++
		s.lat[op] = append(s.lat[op], d)
	case outExpected:
		s.expected[code]++
		s.lat[op] = append(s.lat[op], d)
	case outUnexpected:
		s.unexpected[op+" "+code]++
		s.lat[op] = append(s.lat[op], d)
		if len(s.unexpMsgs) < 20 {
			s.unexpMsgs = append(s.unexpMsgs, fmt.Sprintf("%s: %v", op, err))
		}
	case outRefused:
		s.refused++
	case outUncertain:
		s.uncertain++
	}
	return class
}

func (s *stats) totalAcked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.acked {
		n += v
	}
	return n
}

func (s *stats) writesAcked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for op, v := range s.acked {
		if !strings.HasPrefix(op, "Describe") {
			n += v
		}
	}
	return n
}

func sumMap(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// quantile returns the q-quantile of ds (sorted in place).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(q * float64(len(ds)))
	return ds[min(i, len(ds)-1)]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%d µs", d.Microseconds())
}

// opTable renders per-operation counts and latencies.
func (s *stats) opTable(r *Report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.printf("| operation | acknowledged | answered | p50 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n")
	for _, op := range slices.Sorted(maps.Keys(s.lat)) {
		ds := slices.Clone(s.lat[op])
		r.printf("| %s | %d | %d | %s | %s | %s |\n", op, s.acked[op], len(ds),
			fmtDur(quantile(ds, 0.5)), fmtDur(quantile(ds, 0.99)), fmtDur(quantile(ds, 1)))
	}
	r.printf("\n")
}

func medianInt(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
