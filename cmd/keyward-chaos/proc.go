package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
)

// buildKeyward builds ./cmd/keyward of the module the working directory is
// in into dir and returns the binary's path. With race, keyward is built
// with the race detector (its reports fail the campaign).
func buildKeyward(ctx context.Context, dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "keyward")
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "keyward/cmd/keyward")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build keyward (run from inside the keyward module): %v\n%s", err, out)
	}
	return bin, nil
}

// kwProc is one keyward serving on a fixed address and data directory; it
// can be killed and started again on the same ones.
type kwProc struct {
	bin     string
	dataDir string
	addr    string
	logPath string
	env     []string
	args    []string // extra serve flags

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

func newKwProc(bin, root string, env []string, args ...string) (*kwProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return &kwProc{
		bin: bin, dataDir: filepath.Join(root, "data"), addr: addr,
		logPath: filepath.Join(root, "keyward.log"), env: env, args: args,
	}, nil
}

func (k *kwProc) url() string { return "http://" + k.addr }

// start runs keyward and waits until GET /healthz answers 200; it returns
// the time from exec to that answer.
func (k *kwProc) start(ctx context.Context) (time.Duration, error) {
	logf, err := os.OpenFile(k.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	args := append([]string{"serve", "--listen", k.addr, "--data-dir", k.dataDir}, k.args...)
	cmd := exec.Command(k.bin, args...)
	cmd.Env = append(os.Environ(), k.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	begin := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return 0, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	k.mu.Lock()
	k.cmd, k.exited = cmd, exited
	k.starts++
	k.mu.Unlock()
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for {
		select {
		case <-exited:
			return 0, fmt.Errorf("keyward exited during start; see %s:\n%s", k.logPath, tailFile(k.logPath, 1500))
		case <-ctx.Done():
			return 0, ctx.Err()
		default:
		}
		if resp, err := hc.Get(k.url() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return time.Since(begin), nil
			}
		}
		if time.Since(begin) > 20*time.Second {
			return 0, fmt.Errorf("keyward did not answer /healthz within 20s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (k *kwProc) pid() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd == nil || k.cmd.Process == nil {
		return 0
	}
	return k.cmd.Process.Pid
}

// started reports whether keyward was ever started.
func (k *kwProc) started() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.starts > 0
}

func (k *kwProc) running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.exited == nil {
		return false
	}
	select {
	case <-k.exited:
		return false
	default:
		return true
	}
}

// kill9 sends SIGKILL and waits until the process is reaped.
func (k *kwProc) kill9() {
	k.mu.Lock()
	cmd, exited := k.cmd, k.exited
	k.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// stop sends SIGTERM and waits up to 15s, then SIGKILL.
func (k *kwProc) stop() {
	k.mu.Lock()
	cmd, exited := k.cmd, k.exited
	k.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	}
}

// client returns an SDK client for keyward with its own HTTP transport (so
// a restarted keyward never sees connections to the dead one), no retries
// and a request timeout.
func (k *kwProc) client(akid, secret string, rt http.RoundTripper) (*elasticache.Client, *http.Client) {
	if rt == nil {
		rt = eagerBody{&http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	}
	hc := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	return elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String(k.url()), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
		HTTPClient:  hc,
	}), hc
}

// eagerBody reads each response body completely before RoundTrip returns.
// It narrows a client-side race of aws-sdk-go-v2 with net/http, in which
// the transport closes its own connection while the SDK still reads a 200
// answer ("use of closed network connection"; aws/aws-sdk-go-v2#2737).
type eagerBody struct{ base http.RoundTripper }

func (t eagerBody) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

func (t eagerBody) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// tlsConfig returns a client configuration that verifies nodes against
// keyward's CA.
func (k *kwProc) tlsConfig() (*tls.Config, error) {
	pem, err := os.ReadFile(filepath.Join(k.dataDir, "tls", "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("tls/ca.pem holds no certificate")
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}, nil
}

func (k *kwProc) adminSecret() (string, error) {
	b, err := os.ReadFile(filepath.Join(k.dataDir, "admin.secret"))
	return strings.TrimSpace(string(b)), err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func tailFile(name string, n int) string {
	b, _ := os.ReadFile(name)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// nodeRec is a node's DATA-DIR/nodes/<id>/node.json, with the port of its
// front (DATA-DIR/fronts/<id>/front.json) when clients reach it through
// one: the endpoints keyward reports are the fronts'.
type nodeRec struct {
	ID        string
	Dir       string
	Host      string // the node's own address ("": 127.0.0.1)
	Port      int
	FrontPort int
	PID       int
}

// serves reports whether clients reach the node at addr (host:port):
// nodes share a port on addresses of their own.
func (r nodeRec) serves(addr string) bool {
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	own := r.Host
	if own == "" {
		own = "127.0.0.1"
	}
	return host == own && (r.Port == port || r.FrontPort != 0 && r.FrontPort == port)
}

func readNodeRecs(dataDir string) ([]nodeRec, error) {
	entries, err := os.ReadDir(filepath.Join(dataDir, "nodes"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var out []nodeRec
	for _, e := range entries {
		dir := filepath.Join(dataDir, "nodes", e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "node.json"))
		if err != nil {
			continue
		}
		var r struct {
			Host string `json:"host"`
			Port int    `json:"port"`
			PID  int    `json:"pid"`
		}
		if json.Unmarshal(b, &r) != nil {
			continue
		}
		rec := nodeRec{ID: e.Name(), Dir: dir, Host: r.Host, Port: r.Port, PID: r.PID}
		if b, err := os.ReadFile(filepath.Join(dataDir, "fronts", e.Name(), "front.json")); err == nil {
			var f struct {
				Port int `json:"port"`
			}
			if json.Unmarshal(b, &f) == nil {
				rec.FrontPort = f.Port
			}
		}
		out = append(out, rec)
	}
	return out, nil
}

// nodeByAddr finds the node serving addr and its live pid, checked against
// the process's command line (which names the node's config file), so a
// reused pid is never signalled.
func nodeByAddr(dataDir, addr string) (nodeRec, error) {
	recs, err := readNodeRecs(dataDir)
	if err != nil {
		return nodeRec{}, err
	}
	for _, r := range recs {
		if !r.serves(addr) {
			continue
		}
		if r.PID > 0 && cmdlineContains(r.PID, r.Dir) {
			return r, nil
		}
		return r, fmt.Errorf("node %s (%s): recorded pid %d is not its server", r.ID, addr, r.PID)
	}
	return nodeRec{}, fmt.Errorf("no node at %s", addr)
}

func cmdlineContains(pid int, s string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || !pidAlive(pid) {
		return false
	}
	return bytes.Contains(bytes.ReplaceAll(b, []byte{0}, []byte{' '}), []byte(s))
}

// pidAlive reports whether pid is a live, non-zombie process.
func pidAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2] != 'Z' && b[i+2] != 'X'
	}
	return true
}

// procsUnder lists live processes whose command line names dir: keyward
// (--data-dir) and every node (its config file is in its process title).
func procsUnder(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if cmdlineContains(pid, dir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killLeftovers kills (process group first) every process still running
// from dir and returns their command lines.
func killLeftovers(dir string) []string {
	var out []string
	for _, pid := range procsUnder(dir) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		out = append(out, fmt.Sprintf("pid %d: %s", pid, strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '})))))
		syscall.Kill(pid, syscall.SIGCONT)
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
			syscall.Kill(-pid, syscall.SIGKILL)
		} else {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && len(procsUnder(dir)) > 0; {
		time.Sleep(20 * time.Millisecond)
	}
	return out
}

// rssKiB reads VmRSS of pid.
func rssKiB(pid int) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}

func numFDs(pid int) int {
	e, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(e)
}

func redisVersion() string {
	out, _ := exec.Command("redis-server", "--version").Output()
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "v="); ok {
			return v
		}
	}
	return "?"
}
