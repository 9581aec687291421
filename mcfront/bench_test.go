package mcfront_test

import (
	"fmt"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// BenchmarkRelay compares a get of a 100-byte value straight from memcached
// with the same get through the front (one more loopback hop), side by
// side in one run; run with -count to compare medians.
func BenchmarkRelay(b *testing.B) {
	mc := startMemcached(b)
	front, _ := startFront(b, mc, twoNodes)
	value := make([]byte, 100)
	for _, target := range []struct{ name, addr string }{{"direct", mc}, {"front", front}} {
		c := memcache.New(target.addr)
		c.MaxIdleConns = 64
		if err := c.Set(&memcache.Item{Key: "bench", Value: value}); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("get/%s", target.name), func(b *testing.B) {
			for b.Loop() {
				if _, err := c.Get("bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("get-parallel/%s", target.name), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.Get("bench"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
