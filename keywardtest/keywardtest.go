// Package keywardtest runs a whole keyward in-process for tests, the way
// net/http/httptest runs a server: real SQLite state in a temporary
// directory, the real reconciler and HTTP stack, and an aws-sdk-go-v2
// ElastiCache client pointed at it. The server's log is kept and printed
// when the test fails (logtail.go).
package keywardtest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/smithy-go"

	"keyward/internal/pgtest"
	"keyward/server"
)

// Server is a running in-process keyward.
type Server struct {
	*server.Server
	watchdog *os.File // see reapNodes
	// Client is an SDK client for the default test region, without retries
	// so that error tests see the first answer.
	Client *elasticache.Client
}

// StoreEnv names the environment variable that picks the store of every
// test server: unset or "sqlite" for SQLite in t.TempDir(), "postgres" for a
// fresh database on a throwaway PostgreSQL server (internal/pgtest), so the
// same API suites run against both stores.
const StoreEnv = "KEYWARD_TEST_STORE"

// NodeAddresses returns a loopback range of 252 addresses chosen from
// dataDir, for a keyward under test: tests running at the same time (other
// packages, other checkouts) then rarely meet on an address, and a
// keyward restarted on the same directory gets the same range.
func NodeAddresses(dataDir string) string {
	h := fnv.New32a()
	h.Write([]byte(dataDir))
	v := h.Sum32()
	return fmt.Sprintf("127.%d.%d.0/24", 20+v%200, (v>>8)%256)
}

// New starts a keyward on a free loopback port with state in t.TempDir()
// (or PostgreSQL, see StoreEnv). Each option may adjust the configuration.
func New(t testing.TB, opts ...func(*server.Config)) *Server {
	t.Helper()
	cfg := server.Config{
		Listen:  "127.0.0.1:0",
		DataDir: t.TempDir(),
		Logger:  testLogger(t),
		// A test binary cannot run "keyward front": fronts run in-process.
		FrontsInProcess: true,
	}
	switch store := os.Getenv(StoreEnv); store {
	case "", "sqlite":
	case "postgres":
		cfg.Store = "postgres:" + pgtest.NewDatabase(t)
		cfg.LeasePoll = 50 * time.Millisecond
	default:
		t.Fatalf("keywardtest: %s=%q: want sqlite or postgres", StoreEnv, store)
	}
	cfg.NodeAddresses = NodeAddresses(cfg.DataDir)
	for _, o := range opts {
		o(&cfg)
	}
	// Registered first, so that it runs after the server's own cleanup.
	watchdog := reapNodes(t, cfg.DataDir)
	s, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("keywardtest: open: %v", err)
	}
	s.Start()
	t.Cleanup(func() { s.CloseAndStopNodes() })
	if cfg.Store != "" && !cfg.NoLead {
		// Wait for the leader lease, so tests see a running data plane.
		Eventually(t, 10*time.Second, "keyward to lead", s.Leading)
	}
	ts := &Server{Server: s, watchdog: watchdog}
	ts.Client = ts.NewClient("us-east-1", "AKIDKEYWARDTEST", "keyward-test-secret")
	return ts
}

// reapNodes starts a watchdog that kills every node under dataDir once this
// test process is gone, however it ends: nodes outlive keyward by design, so
// a test binary that panics (and runs no cleanups) would otherwise leave them
// running. The watchdog waits for the end of a pipe whose write end only this
// process holds; the returned file must stay referenced until the cleanup.
func reapNodes(t testing.TB, dataDir string) *os.File {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("keywardtest: watchdog: %v", err)
	}
	cmd := exec.Command("sh", "-c", `read _; pkill -KILL -f -- "$0/(nodes|memcached)/" || true`, dataDir)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("keywardtest: watchdog: %v", err)
	}
	r.Close()
	t.Cleanup(func() {
		w.Close()
		cmd.Wait()
	})
	return w
}

// WithDelay sets the transition delay, so intermediate statuses are observable.
func WithDelay(d time.Duration) func(*server.Config) {
	return func(c *server.Config) { c.TransitionDelay = d }
}

// WithDataResync sets how often the reconciler re-applies every cache to
// its nodes: a long one shows that a change reaches the nodes by its own
// events, not by the periodic drift repair.
func WithDataResync(d time.Duration) func(*server.Config) {
	return func(c *server.Config) { c.DataResync = d }
}

// NewClient returns an SDK client for region signing with the given keys.
func (s *Server) NewClient(region, accessKey, secret string) *elasticache.Client {
	return elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String(s.URL()),
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(accessKey, secret, ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   HTTPClient(),
	})
}

// APIError returns the error code and HTTP status of an SDK error, or
// ("", 0) when err carries none.
func APIError(err error) (code string, status int) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

// WantError fails the test unless err is an API error with code and status.
func WantError(t testing.TB, err error, code string, status int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s (%d)", code, status)
	}
	if gotCode, gotStatus := APIError(err); gotCode != code || gotStatus != status {
		t.Fatalf("got error %s (%d), want %s (%d): %v", gotCode, gotStatus, code, status, err)
	}
}

// Eventually polls cond every 10ms until it returns true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
