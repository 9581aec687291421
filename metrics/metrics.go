// Package metrics keeps keyward's operational counters and writes them in
// the Prometheus text exposition format. It is deliberately small: a few
// counters and one histogram, no registry and no dependencies.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Buckets are the upper bounds, in seconds, of the request latency histogram.
var Buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

// Registry holds the request metrics and the gauges sampled at scrape time.
type Registry struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // {action, code} → count
	hist     map[string]*histogram
	gauges   []gauge
}

type histogram struct {
	counts []uint64 // per bucket, cumulative at write time
	sum    float64
	n      uint64
}

type gauge struct {
	name, help string
	fn         func() []Sample
}

// Sample is one value of a gauge with its labels ("k", "v", ...).
type Sample struct {
	Labels []string
	Value  float64
}

// New returns an empty Registry.
func New() *Registry {
	return &Registry{requests: map[[2]string]uint64{}, hist: map[string]*histogram{}}
}

// ObserveRequest records one API request; its signature fits
// awsquery.Options.Observe. code is "" for success.
func (r *Registry) ObserveRequest(action string, status int, code string, d time.Duration) {
	if code == "" {
		code = "OK"
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[[2]string{action, code}]++
	h := r.hist[action]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(Buckets))}
		r.hist[action] = h
	}
	s := d.Seconds()
	for i, b := range Buckets {
		if s <= b {
			h.counts[i]++
		}
	}
	h.sum += s
	h.n++
}

// Gauge registers a gauge whose samples fn returns at each scrape.
func (r *Registry) Gauge(name, help string, fn func() []Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gauges = append(r.gauges, gauge{name, help, fn})
}

// WriteTo writes every metric in the Prometheus text format.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	r.mu.Lock()
	b.WriteString("# HELP keyward_requests_total API requests by action and result code.\n# TYPE keyward_requests_total counter\n")
	keys := make([][2]string, 0, len(r.requests))
	for k := range r.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) })
	for _, k := range keys {
		fmt.Fprintf(&b, "keyward_requests_total{action=%q,code=%q} %d\n", k[0], k[1], r.requests[k])
	}
	b.WriteString("# HELP keyward_request_duration_seconds API request latency by action.\n# TYPE keyward_request_duration_seconds histogram\n")
	actions := make([]string, 0, len(r.hist))
	for a := range r.hist {
		actions = append(actions, a)
	}
	slices.Sort(actions)
	for _, a := range actions {
		h := r.hist[a]
		for i, le := range Buckets {
			fmt.Fprintf(&b, "keyward_request_duration_seconds_bucket{action=%q,le=\"%g\"} %d\n", a, le, h.counts[i])
		}
		fmt.Fprintf(&b, "keyward_request_duration_seconds_bucket{action=%q,le=\"+Inf\"} %d\n", a, h.n)
		fmt.Fprintf(&b, "keyward_request_duration_seconds_sum{action=%q} %g\n", a, h.sum)
		fmt.Fprintf(&b, "keyward_request_duration_seconds_count{action=%q} %d\n", a, h.n)
	}
	gauges := slices.Clone(r.gauges)
	r.mu.Unlock()
	for _, g := range gauges {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", g.name, g.help, g.name)
		for _, s := range g.fn() {
			var labels []string
			for i := 0; i+1 < len(s.Labels); i += 2 {
				labels = append(labels, fmt.Sprintf("%s=%q", s.Labels[i], s.Labels[i+1]))
			}
			if len(labels) > 0 {
				fmt.Fprintf(&b, "%s{%s} %g\n", g.name, strings.Join(labels, ","), s.Value)
			} else {
				fmt.Fprintf(&b, "%s %g\n", g.name, s.Value)
			}
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Handler serves the metrics.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		r.WriteTo(w)
	})
}
