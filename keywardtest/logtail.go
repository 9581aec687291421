package keywardtest

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// logTailLines is how many of the server's last log lines a failed test
// prints.
const logTailLines = 300

// logTail keeps the last lines written to it: the server's log, printed
// only when the test fails, so that a failure seen once under CI load
// (a retry loop, a pass giving up) can be understood without a rerun.
type logTail struct {
	mu      sync.Mutex
	lines   []string
	next    int  // where the next line goes once lines is full
	dropped bool // earlier lines were overwritten
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range bytes.Lines(p) {
		s := strings.TrimRight(string(line), "\n")
		if len(l.lines) < logTailLines {
			l.lines = append(l.lines, s)
			continue
		}
		l.lines[l.next] = s
		l.next = (l.next + 1) % logTailLines
		l.dropped = true
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	if l.dropped {
		b.WriteString("… (earlier lines dropped)\n")
	}
	for i := range l.lines {
		b.WriteString(l.lines[(l.next+i)%len(l.lines)])
		b.WriteByte('\n')
	}
	return b.String()
}

// testLogger returns the server's logger for t: its lines are kept and
// printed if t fails. Benchmarks discard them, so that formatting log
// lines is not part of what they measure.
func testLogger(t testing.TB) *slog.Logger {
	if _, bench := t.(*testing.B); bench {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tail := &logTail{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keyward's log (last %d lines at most):\n%s", logTailLines, tail)
		}
	})
	return slog.New(slog.NewTextHandler(tail, nil))
}
