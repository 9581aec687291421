package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/keywardtest"
)

// TestMain lets the test binary stand in for the keyward binary: with
// KEYWARD_RUN_MAIN=1 it runs main, so tests can start, kill -9 and restart
// real keyward processes without a separate build step.
func TestMain(m *testing.M) {
	if os.Getenv("KEYWARD_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is a keyward started as a child process.
type process struct {
	cmd  *exec.Cmd
	url  string
	once sync.Once
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startKeyward runs "keyward serve" on dataDir and waits until it answers.
func startKeyward(t *testing.T, addr, dataDir string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", addr, "--data-dir", dataDir}, args...)...)
	cmd.Env = append(append(os.Environ(), "KEYWARD_RUN_MAIN=1"), env...)
	cmd.Stderr = &logWriter{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, url: "http://" + addr}
	t.Cleanup(func() { p.kill() })
	killFrontsAtEnd(t, dataDir)
	keywardtest.Eventually(t, 10*time.Second, "keyward to serve", func() bool {
		resp, err := http.Get(p.url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return p
}

// kill sends SIGKILL and reaps the process; safe to call from several
// goroutines (a timer kills mid-stream while the test also cleans up).
func (p *process) kill() {
	p.once.Do(func() {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	})
}

func (p *process) client() *elasticache.Client {
	return elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String(p.url), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

type logWriter struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := bufio.NewScanner(strings.NewReader(string(p)))
	for s.Scan() {
		w.t.Log(s.Text())
	}
	return len(p), nil
}

func newUser(id string) *elasticache.CreateUserInput {
	return &elasticache.CreateUserInput{
		UserId: aws.String(id), UserName: aws.String(id), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{"restart-password-123"},
	}
}

// TestRestart_KillNine: every acknowledged change survives kill -9, and
// transitions left half-way finish after restart.
func TestRestart_KillNine(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	p := startKeyward(t, addr, dir, nil, "--transition-delay", "1h")
	c := p.client()
	ctx := t.Context()
	for _, id := range []string{"keep", "modify", "remove"} {
		if _, err := c.CreateUser(ctx, newUser(id)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("grp"), Engine: aws.String("redis"), UserIds: []string{"default", "keep"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String("modify"), AccessString: aws.String("on ~app:* +@read")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String("remove")}); err != nil {
		t.Fatal(err)
	}
	// A stream of creates, killed mid-way: every acknowledged one must be there.
	var acked []string
	stop := time.AfterFunc(300*time.Millisecond, p.kill)
	defer stop.Stop()
	for i := 0; ; i++ {
		id := fmt.Sprintf("burst-%04d", i)
		if _, err := c.CreateUser(context.Background(), newUser(id)); err != nil {
			break
		}
		acked = append(acked, id)
	}
	p.kill()
	t.Logf("%d creates acknowledged before kill -9", len(acked))

	p = startKeyward(t, addr, dir, nil)
	c = p.client()
	for _, id := range append([]string{"keep", "modify"}, acked...) {
		if _, err := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)}); err != nil {
			t.Fatalf("acknowledged user %s lost: %v", id, err)
		}
	}
	keywardtest.Eventually(t, 15*time.Second, "pending transitions to finish", func() bool {
		_, err := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("remove")})
		code, _ := keywardtest.APIError(err)
		m, _ := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String("modify")})
		g, _ := c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("grp")})
		return code == "UserNotFound" && m != nil && aws.ToString(m.Users[0].Status) == "active" &&
			aws.ToString(m.Users[0].AccessString) == "on ~app:* -@all +@read" && g != nil && aws.ToString(g.UserGroups[0].Status) == "active"
	})
}

func TestServe_RefusesInsecureListen(t *testing.T) {
	cmd := exec.Command(os.Args[0], "serve", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "KEYWARD_RUN_MAIN=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--insecure") {
		t.Fatalf("serve on 0.0.0.0 without credentials: err=%v output=%s", err, out)
	}
	// With credentials it starts.
	p := startKeyward(t, freeAddr(t), t.TempDir(), []string{"KEYWARD_SECRET_ACCESS_KEY=s3cr3t"}, "--access-key-id", "AKIDREAL", "--account-id", "123456789012")
	_, err = p.client().DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
	keywardtest.WantError(t, err, "InvalidClientTokenId", 403)
}

var frontsReaped sync.Map // data dir -> registered

// killFrontsAtEnd registers (once per data directory) a cleanup that kills
// the node and front processes keyward started there: they outlive keyward
// by design, so a test that does not delete its caches (or fails) would
// otherwise leave them running.
func killFrontsAtEnd(t *testing.T, dataDir string) {
	if _, loaded := frontsReaped.LoadOrStore(dataDir, true); loaded {
		return
	}
	t.Cleanup(func() {
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			b, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(b, []byte(dataDir+"/")) {
				continue
			}
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
}
