package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is a target started as a child process in its own process group.
type server struct {
	name    string
	cmd     *exec.Cmd
	url     string
	logPath string
	exited  chan struct{}
	startup time.Duration // exec to first answer
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startServer execs argv with its output in logPath and polls probe (every
// millisecond) until ready reports true, measuring the time from exec.
func startServer(ctx context.Context, name, url, logPath, probe string, ready func(*http.Response) bool, timeout time.Duration, argv ...string) (*server, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group, so that stop reaches children (pyenv shims,
	// reloaders); and killed with us if we die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	s := &server{name: name, cmd: cmd, url: url, logPath: logPath, exited: make(chan struct{})}

	probeClient := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	deadline := t0.Add(timeout)
	for {
		resp, err := probeClient.Get(url + probe)
		if err == nil {
			ok := ready(resp)
			resp.Body.Close()
			if ok {
				s.startup = time.Since(t0)
				return s, nil
			}
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%s exited before answering (%s); log:\n%s", name, cmd.ProcessState, tail(logPath))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("%s did not answer within %s; log:\n%s", name, timeout, tail(logPath))
		}
		time.Sleep(time.Millisecond)
	}
}

// startKeyward starts the keyward binary bin as target.
func startKeyward(ctx context.Context, cfg *config, target, bin, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	dataDir := filepath.Join(dir, "data")
	argv := []string{bin, "serve", "--listen", addr, "--data-dir", dataDir, "--quota-users", strconv.Itoa(cfg.quotaUsers)}
	if cfg.store != "" {
		argv = append(argv, "--store", cfg.store)
	}
	return startServer(ctx, target, "http://"+addr, filepath.Join(dir, target+".log"), "/healthz",
		func(r *http.Response) bool { return r.StatusCode == http.StatusOK }, 30*time.Second, argv...)
}

// startNoop starts this executable's no-op server.
func startNoop(ctx context.Context, cfg *config, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return startServer(ctx, targetNoop, "http://"+addr, filepath.Join(dir, "noop.log"), "/healthz",
		func(r *http.Response) bool { return r.StatusCode == http.StatusOK }, 30*time.Second,
		cfg.noop, "noop", "--listen", addr)
}

func startMoto(ctx context.Context, cfg *config, dir string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return startServer(ctx, targetMoto, fmt.Sprintf("http://127.0.0.1:%d", port), filepath.Join(dir, "moto.log"), "/",
		func(*http.Response) bool { return true }, 60*time.Second,
		cfg.moto, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
}

// stop ends the server's process group: SIGTERM, then SIGKILL after 3 s.
func (s *server) stop() {
	pgid := s.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
	}
	// Whatever is left in the group (also children of an exited leader).
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-s.exited
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// tail returns the last lines of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// procStat is what /proc/PID/stat tells about one process.
type procStat struct {
	ppid       int
	ticks      uint64 // utime + stime, in clock ticks
	childTicks uint64 // cutime + cstime: of exited children waited for
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// comm may hold spaces and parentheses: the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("bad stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is state (field 3); ppid is field 4, utime 14, stime 15,
	// cutime 16, cstime 17.
	if len(f) < 15 {
		return procStat{}, errors.New("short stat")
	}
	ppid, _ := strconv.Atoi(f[1])
	n := func(i int) uint64 {
		v, _ := strconv.ParseUint(f[i], 10, 64)
		return v
	}
	return procStat{ppid: ppid, ticks: n(11) + n(12), childTicks: n(13) + n(14)}, nil
}

// tree returns pid and all its descendants.
func tree(pid int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil {
			children[st.ppid] = append(children[st.ppid], p)
		}
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// rssKiB is the VmRSS of pid and its descendants, in KiB.
func rssKiB(pid int) int64 {
	var sum int64
	for _, p := range tree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				sum += n
			}
		}
	}
	return sum
}

// clockTick is USER_HZ, 100 on every Linux this runs on.
const clockTick = 100

// cpuSeconds is the user+system CPU time of pid and its descendants.
func cpuSeconds(pid int) float64 {
	var ticks uint64
	for _, p := range tree(pid) {
		if st, err := readStat(p); err == nil {
			ticks += st.ticks
		}
	}
	return float64(ticks) / clockTick
}

// selfCPUSeconds is this process's user+system CPU time, counted as the
// servers' is.
func selfCPUSeconds() float64 {
	st, err := readStat(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(st.ticks) / clockTick
}

// allCPUSeconds is the CPU time of every process this machine shows:
// user+system time of each live process plus what it has collected from
// its exited children (cutime+cstime), so that short-lived processes count.
func allCPUSeconds() float64 {
	var ticks uint64
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(p); err == nil {
			ticks += st.ticks + st.childTicks
		}
	}
	return float64(ticks) / clockTick
}
