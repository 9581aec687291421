// Package procwait waits for a process that is not the caller's child to
// end, without polling: on Linux a pidfd (pidfd_open) becomes readable when
// its process exits, and Go's poller waits for that like for a socket. A
// supervisor that adopted hundreds of processes from an earlier run then
// costs nothing while they live, where a timer per process reading
// /proc/PID/stat every 200 ms cost a good part of its idle CPU.
//
// Where pidfds are not available (an old kernel, another OS) Wait falls
// back to polling the caller's liveness check.
package procwait

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
	"time"
)

// sysPidfdOpen is pidfd_open's number: the same on every Linux
// architecture (syscalls added since 5.1 share one table).
const sysPidfdOpen = 434

// Wait returns true once process pid has exited (it may still be a zombie
// of its parent), or false when done closes first. alive is the fallback
// check, called every interval when pidfds are not available.
func Wait(pid int, done <-chan struct{}, alive func() bool, interval time.Duration) bool {
	if f := open(pid); f != nil {
		return wait(f, done)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return false
		case <-t.C:
			if !alive() {
				return true
			}
		}
	}
}

// open returns a pollable pidfd of pid, or nil.
func open(pid int) *os.File {
	if pid <= 0 {
		return nil
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	if errno != 0 {
		return nil
	}
	// Non-blocking, so that os.NewFile hands it to the poller.
	if err := syscall.SetNonblock(int(fd), true); err != nil {
		syscall.Close(int(fd))
		return nil
	}
	syscall.CloseOnExec(int(fd))
	return os.NewFile(fd, "pidfd")
}

func wait(f *os.File, done <-chan struct{}) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return false
	}
	exited := make(chan bool, 1)
	go func() {
		first := true
		// The poller calls this, waits until the pidfd is readable (the
		// process exited) whenever it returns false, and calls it again.
		err := rc.Read(func(uintptr) bool {
			if first {
				first = false
				return false
			}
			return true
		})
		exited <- err == nil
	}()
	select {
	case ok := <-exited:
		f.Close()
		return ok
	case <-done:
		f.Close() // ends the Read
		<-exited
		return false
	}
}

// Reap waits for cmd's process, a child of the caller, to exit and then
// reaps it with cmd.Wait, returning Wait's error. cmd.Wait alone blocks an
// OS thread in waitid for as long as the child lives: one thread (and its
// stacks) per node kept for nothing; waiting on the pidfd first leaves
// only a parked goroutine, and Wait then returns at once.
func Reap(cmd interface {
	Wait() error
}, pid int) error {
	Wait(pid, nil, func() bool { return alive(pid) }, 200*time.Millisecond)
	return cmd.Wait()
}

// alive reports whether pid runs and is not a zombie, from /proc.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z' && b[i+2] != 'X'
}
