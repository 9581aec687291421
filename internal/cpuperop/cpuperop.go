// Package cpuperop reports a benchmark's process CPU time per operation,
// which a shared machine disturbs less than wall time.
package cpuperop

import (
	"syscall"
	"testing"
	"time"
)

// Start begins measuring; the function it returns reports the process's
// CPU (user + system, every goroutine's) since then as "cpu-µs/op".
func Start(b *testing.B) func() {
	t0 := cpu()
	return func() { b.ReportMetric(float64(cpu()-t0)/float64(b.N)/1e3, "cpu-µs/op") }
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
