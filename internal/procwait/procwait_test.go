package procwait

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A process that is alive is waited for until it exits (here killed by
// the test), and Wait reports its end within a fraction of a second.
func TestWait_ReportsExit(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if f := open(pid); f == nil {
		t.Fatal("pidfd_open failed on this Linux")
	} else {
		f.Close()
	}
	got := make(chan bool, 1)
	go func() {
		got <- Wait(pid, make(chan struct{}), func() bool { return true }, time.Hour)
	}()
	select {
	case <-got:
		t.Fatal("Wait returned while the process runs")
	case <-time.After(100 * time.Millisecond):
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGKILL) // not reaped yet: a zombie counts as exited
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("Wait = false after the process exited")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("exit noticed after %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exit not noticed")
	}
	cmd.Wait()
}

// Closing done ends the wait with false; a process already gone is
// reported at once.
func TestWait_DoneAndGone(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	got := make(chan bool, 1)
	go func() { got <- Wait(cmd.Process.Pid, done, func() bool { return true }, time.Hour) }()
	time.Sleep(50 * time.Millisecond)
	close(done)
	if ok := <-got; ok {
		t.Error("Wait = true after done while the process runs")
	}
	cmd.Process.Kill()
	cmd.Wait() // reaped: the pid no longer exists
	if !Wait(cmd.Process.Pid, make(chan struct{}), func() bool { return false }, time.Millisecond) {
		t.Error("a process already gone was not reported")
	}
}

// Reap returns the child's exit status once it exits, and children being
// waited for hold no OS thread each (cmd.Wait alone blocks one per child
// in waitid).
func TestReap_NoThreadPerChild(t *testing.T) {
	const n = 40
	before := threads(t)
	var cmds []*exec.Cmd
	errs := make(chan error, n)
	for range n {
		cmd := exec.Command("sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
		go func() { errs <- Reap(cmd, cmd.Process.Pid) }()
	}
	time.Sleep(300 * time.Millisecond)
	if grew := threads(t) - before; grew >= n/2 {
		t.Errorf("%d more threads while %d children are waited for", grew, n)
	}
	for _, cmd := range cmds {
		cmd.Process.Kill()
	}
	for range n {
		select {
		case err := <-errs:
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("Reap = %v, want the kill's status", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a killed child was not reaped")
		}
	}
}

func threads(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	t.Fatal("no Threads line")
	return 0
}
