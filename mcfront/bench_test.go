package mcfront_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// BenchmarkRelay compares gets of a 100-byte value straight from memcached
// and through the front (one more loopback hop), side by side: rounds of
// ops gets on each, alternating, on a noisy machine. It reports the median
// over rounds of each side's ns/op and of the ratio front/direct (run with
// -benchtime 20x: one round per iteration).
func BenchmarkRelay(b *testing.B) {
	mc := startMemcached(b)
	front, _ := startFront(b, mc, twoNodes)
	for _, clients := range []int{1, 8} {
		b.Run(map[int]string{1: "sequential", 8: "8-clients"}[clients], func(b *testing.B) {
			direct, relayed := memcache.New(mc), memcache.New(front)
			direct.MaxIdleConns, relayed.MaxIdleConns = clients, clients
			for _, c := range []*memcache.Client{direct, relayed} {
				if err := c.Set(&memcache.Item{Key: "bench", Value: make([]byte, 100)}); err != nil {
					b.Fatal(err)
				}
			}
			const ops = 2000
			run := func(c *memcache.Client) float64 {
				start := time.Now()
				var wg sync.WaitGroup
				for range clients {
					wg.Go(func() {
						for range ops / clients {
							if _, err := c.Get("bench"); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				return float64(time.Since(start).Nanoseconds()) / ops
			}
			var d, f, ratio []float64
			for i := 0; b.Loop(); i++ {
				// Alternate which side goes first.
				var dn, fn float64
				if i%2 == 0 {
					dn, fn = run(direct), run(relayed)
				} else {
					fn, dn = run(relayed), run(direct)
				}
				d, f, ratio = append(d, dn), append(f, fn), append(ratio, fn/dn)
			}
			b.ReportMetric(median(d), "direct-ns/get")
			b.ReportMetric(median(f), "front-ns/get")
			b.ReportMetric(median(ratio), "front/direct")
		})
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
