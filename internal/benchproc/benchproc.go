// Package benchproc holds what the benchmark commands (keyward-seedbench,
// keyward-frontbench) measure the same way: the CPU time of processes, and
// the moment each of a set of connections is closed by its server.
package benchproc

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OnCPU returns the time the threads of pids have run, from
// /proc/PID/task/TID/schedstat (nanoseconds, unlike /proc/PID/stat's ticks).
func OnCPU(pids ...int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
			if f := strings.Fields(string(data)); err == nil && len(f) > 0 {
				ns, _ := strconv.ParseInt(f[0], 10, 64)
				sum += time.Duration(ns)
			}
		}
	}
	return sum
}

// WatchClose reads every connection until its server closes it (or a
// minute passes) and returns a function that waits for all of them and
// returns when each one closed: the caller triggers the closing (a
// revocation) in between and times it without polling.
func WatchClose(conns []net.Conn) (wait func() []time.Time) {
	done := make([]time.Time, len(conns))
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(time.Minute))
			var buf [64]byte
			c.Read(buf[:]) // until the server closes it
			done[i] = time.Now()
		}()
	}
	return func() []time.Time {
		wg.Wait()
		return done
	}
}
