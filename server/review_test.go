package server_test

// Regression tests of the control-plane findings of the security review
// (../shared/security/review-2026-12.md): F6, F8, F9, F13, F15, F16. Each is
// written from the finding's reproduction, against a real server, through
// the SDK or, where the reproduction is raw HTTP, a raw connection.

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/jackc/pgx/v5"

	"keyward"
	"keyward/internal/pgtest"
	"keyward/keywardtest"
	"keyward/server"
	"keyward/sigv4"
)

// The keys of the tests that configure credentials: keywardtest's client
// signs with the first.
var reviewCreds = []sigv4.Credential{
	{AccessKeyID: "AKIDKEYWARDTEST", SecretAccessKey: "keyward-test-secret", AccountID: "111111111111"},
	{AccessKeyID: "AKIDKEYWARDSECOND", SecretAccessKey: "keyward-second-secret", AccountID: "222222222222"},
	{AccessKeyID: "AKIDKEYWARDTHIRD", SecretAccessKey: "keyward-third-secret", AccountID: "333333333333"},
}

func withCreds(c *server.Config) { c.Credentials = reviewCreds; c.NoEngine = true }

// rawHeaders is the start of a POST whose body is still to come. With
// signed, it carries a well-formed Authorization header for a known key
// (with a made-up signature): everything the server can check before the
// body passes.
func rawHeaders(contentLength int, signed bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST / HTTP/1.1\r\nHost: keyward\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n", contentLength)
	if signed {
		now := time.Now().UTC()
		fmt.Fprintf(&b, "X-Amz-Date: %s\r\n", now.Format("20060102T150405Z"))
		fmt.Fprintf(&b, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDKEYWARDTEST/%s/us-east-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature=%s\r\n",
			now.Format("20060102"), strings.Repeat("ab", 32))
	}
	b.WriteString("\r\n")
	return b.String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readAll reads what the server sends until it closes the connection or
// the deadline passes; closed tells which.
func readAll(c net.Conn, within time.Duration) (got string, closed bool) {
	c.SetReadDeadline(time.Now().Add(within))
	b, err := io.ReadAll(c)
	return string(b), err == nil
}

func TestReviewF6SlowBodiesBeforeSigV4(t *testing.T) {
	ts := keywardtest.New(t, withCreds, func(c *server.Config) {
		c.ReadTimeout = time.Second
		c.MaxConnections = 20
	})

	t.Run("UnsignedRefusedWithoutReadingTheBody", func(t *testing.T) {
		// slow.py body: headers + Content-Length: 100000, then 7 bytes.
		c := dial(t, ts.Addr())
		io.WriteString(c, rawHeaders(100000, false)+"Action=")
		got, closed := readAll(c, 500*time.Millisecond) // well inside ReadTimeout
		if !strings.HasPrefix(got, "HTTP/1.1 403") || !strings.Contains(got, "<Code>MissingAuthenticationToken</Code>") || !closed {
			t.Fatalf("unsigned slow body: closed=%v, got %q; want 403 MissingAuthenticationToken at once, connection closed", closed, got)
		}
	})

	t.Run("SignedSlowBodyCutAtReadTimeout", func(t *testing.T) {
		c := dial(t, ts.Addr())
		io.WriteString(c, rawHeaders(100000, true))
		start := time.Now()
		done := make(chan struct{})
		go func() { // 1 byte every 100 ms, as slow.py does every 5 s
			defer close(done)
			for time.Since(start) < 5*time.Second {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		_, closed := readAll(c, 5*time.Second)
		<-done
		if el := time.Since(start); !closed || el > 3*time.Second {
			t.Fatalf("signed slow body: closed=%v after %v; want the connection closed within the 1s read timeout", closed, el)
		}
	})

	t.Run("ConnectionCap", func(t *testing.T) {
		var held []net.Conn
		for range 20 {
			c := dial(t, ts.Addr())
			io.WriteString(c, "POST / HTTP/1.1\r\n") // an unfinished request holds its connection
			held = append(held, c)
		}
		time.Sleep(100 * time.Millisecond)
		c := dial(t, ts.Addr())
		got, closed := readAll(c, 500*time.Millisecond)
		if !strings.HasPrefix(got, "HTTP/1.1 503") || !strings.Contains(got, "<Code>ServiceUnavailable</Code>") || !closed {
			t.Fatalf("connection over the cap: closed=%v, got %q; want 503 ServiceUnavailable at once", closed, got)
		}
		for _, h := range held {
			h.Close()
		}
		keywardtest.Eventually(t, 5*time.Second, "the API to serve again", func() bool {
			_, err := ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
			return err == nil
		})
	})

	t.Run("BufferedBodyMemory", func(t *testing.T) {
		// slowbig.py: bodies of 1 MiB - 60 bytes of 1 MiB, then a stall.
		// With 2 MiB of body memory, two of them take it all: others wait,
		// then get 503, instead of each costing another megabyte.
		ts := keywardtest.New(t, withCreds, func(c *server.Config) {
			c.ReadTimeout = 20 * time.Second
			c.MaxBodyMemory = 2 << 20
		})
		var stalled []net.Conn
		for range 2 {
			c := dial(t, ts.Addr())
			io.WriteString(c, rawHeaders(1<<20, true))
			c.Write(make([]byte, 1<<20-60))
			stalled = append(stalled, c)
		}
		time.Sleep(200 * time.Millisecond)
		_, err := ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
		keywardtest.WantError(t, err, "ServiceUnavailable", 503)
		for _, c := range stalled {
			c.Close()
		}
		keywardtest.Eventually(t, 5*time.Second, "body memory to be released", func() bool {
			_, err := ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
			return err == nil
		})
	})
}

func createRG(ctx context.Context, c *elasticache.Client, id string, nodes int32, opts ...func(*elasticache.CreateReplicationGroupInput)) error {
	in := &elasticache.CreateReplicationGroupInput{ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("quota"), NumCacheClusters: aws.Int32(nodes)}
	for _, o := range opts {
		o(in)
	}
	_, err := c.CreateReplicationGroup(ctx, in)
	return err
}

func wantQuotaError(t *testing.T, err error, code, msg string) {
	t.Helper()
	keywardtest.WantError(t, err, code, 400)
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("error %v lacks ElastiCache's message %q", err, msg)
	}
}

func TestReviewF8CacheAndNodeQuotas(t *testing.T) {
	ts := keywardtest.New(t, withCreds, func(c *server.Config) {
		c.Quotas = keyward.Quotas{Nodes: 5, ReplicationGroups: 3, ServerlessCaches: 2, AccountNodes: 8}
	})
	ctx := t.Context()
	const (
		nodeMsg       = "would exceed the allowed number of cache nodes per customer."
		clusterMsg    = "would exceed the allowed number of clusters per customer."
		serverlessMsg = "The number of serverless caches exceeds the customer quota."
	)
	a := ts.Client // account 111111111111, us-east-1
	if err := createRG(ctx, a, "rg1", 3); err != nil {
		t.Fatal(err)
	}
	if err := createRG(ctx, a, "rg2", 2); err != nil {
		t.Fatal(err)
	}
	wantQuotaError(t, createRG(ctx, a, "rg3", 1), "NodeQuotaForCustomerExceeded", nodeMsg)

	err := createRG(ctx, a, "sharded", 1, func(in *elasticache.CreateReplicationGroupInput) {
		in.NumCacheClusters, in.NumNodeGroups = nil, aws.Int32(91)
	})
	wantQuotaError(t, err, "NodeGroupsPerReplicationGroupQuotaExceeded", "node groups (shards) in a single replication group")

	for i, want := range []string{"", "", "ServerlessCacheQuotaForCustomerExceededFault"} {
		_, err := a.CreateServerlessCache(ctx, &elasticache.CreateServerlessCacheInput{ServerlessCacheName: aws.String(fmt.Sprintf("sl%d", i)), Engine: aws.String("redis")})
		if want == "" && err != nil {
			t.Fatal(err)
		} else if want != "" {
			wantQuotaError(t, err, want, serverlessMsg)
		}
	}

	// The account now runs 7 node processes; another region adds to them.
	eu := ts.NewClient("eu-west-1", "AKIDKEYWARDTEST", "keyward-test-secret")
	if err := createRG(ctx, eu, "eu1", 1); err != nil {
		t.Fatal(err)
	}
	wantQuotaError(t, createRG(ctx, eu, "eu2", 1), "NodeQuotaForCustomerExceeded", nodeMsg)

	// Another account: its own quotas; the replication-group quota.
	b := ts.NewClient("us-east-1", "AKIDKEYWARDSECOND", "keyward-second-secret")
	for i := range 3 {
		if err := createRG(ctx, b, fmt.Sprintf("b%d", i), 1); err != nil {
			t.Fatal(err)
		}
	}
	wantQuotaError(t, createRG(ctx, b, "b3", 1), "ClusterQuotaForCustomerExceeded", clusterMsg)

	// Concurrent creations cannot pass the quota together (the review's
	// 50 parallel-looking creations all got in).
	c := ts.NewClient("us-east-1", "AKIDKEYWARDTHIRD", "keyward-third-secret")
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Go(func() { errs[i] = createRG(ctx, c, fmt.Sprintf("c%d", i), 1) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if code, _ := keywardtest.APIError(err); code != "ClusterQuotaForCustomerExceeded" && code != "Throttling" {
			t.Errorf("concurrent create: %v", err)
		}
	}
	if ok != 3 {
		t.Errorf("%d of 10 concurrent creations succeeded, want exactly the quota of 3", ok)
	}
}

func TestReviewF9OnlyRealRegions(t *testing.T) {
	const msg = "Credential should be scoped to a valid region, not 'zz-fake-1'. "
	check := func(t *testing.T, c *elasticache.Client) {
		t.Helper()
		_, err := c.CreateUser(t.Context(), &elasticache.CreateUserInput{
			UserId: aws.String("u1"), UserName: aws.String("u1"), Engine: aws.String("redis"), AccessString: aws.String("on ~* +@all"), NoPasswordRequired: aws.Bool(true),
		})
		keywardtest.WantError(t, err, "SignatureDoesNotMatch", 403)
		if !strings.Contains(err.Error(), msg) {
			t.Fatalf("error %v lacks %q", err, msg)
		}
	}
	t.Run("Signed", func(t *testing.T) {
		ts := keywardtest.New(t, withCreds)
		check(t, ts.NewClient("zz-fake-1", "AKIDKEYWARDTEST", "keyward-test-secret"))
		if _, err := ts.NewClient("ap-southeast-2", "AKIDKEYWARDTEST", "keyward-test-secret").DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{}); err != nil {
			t.Fatalf("a real region: %v", err)
		}
	})
	t.Run("Unsigned", func(t *testing.T) {
		// The review's loop: quotas per invented region multiply; now the
		// invented regions are refused and the quota holds.
		ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine = true; c.Quotas.Users = 3 })
		for _, region := range []string{"zz-fake-1", "a", "b"} {
			c := ts.NewClient(region, "test", "test")
			_, err := c.CreateUser(t.Context(), &elasticache.CreateUserInput{
				UserId: aws.String("u1"), UserName: aws.String("u1"), Engine: aws.String("redis"), AccessString: aws.String("on ~* +@all"), NoPasswordRequired: aws.Bool(true),
			})
			keywardtest.WantError(t, err, "SignatureDoesNotMatch", 403)
		}
		check(t, ts.NewClient("zz-fake-1", "test", "test"))
		// No credential scope at all: the configured default region.
		resp, err := http.Post(ts.URL(), "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeUsers&Version=2015-02-02"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("unsigned request without scope: %d", resp.StatusCode)
		}
	})
	t.Run("RegionsFlag", func(t *testing.T) {
		ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine = true; c.Regions = []string{"us-east-1", "xx-lab-1"} })
		if _, err := ts.NewClient("xx-lab-1", "test", "test").DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{}); err != nil {
			t.Fatalf("a configured region: %v", err)
		}
		_, err := ts.NewClient("eu-west-1", "test", "test").DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
		keywardtest.WantError(t, err, "SignatureDoesNotMatch", 403)
		_, err = server.Open(t.Context(), server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(), NoEngine: true, Region: "eu-west-1", Regions: []string{"us-east-1"}})
		if err == nil || !strings.Contains(err.Error(), "eu-west-1") {
			t.Fatalf("Open with a default region not served: %v", err)
		}
	})
}

func TestReviewF13StateFilesPrivate(t *testing.T) {
	old := syscall.Umask(0o022) // the review's setting: files 0644 unless keyward narrows them
	defer syscall.Umask(old)
	mode := func(t *testing.T, p string) os.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	createUser := func(t *testing.T, ts *keywardtest.Server) {
		t.Helper()
		_, err := ts.Client.CreateUser(t.Context(), &elasticache.CreateUserInput{
			UserId: aws.String("wr"), UserName: aws.String("wr"), Engine: aws.String("redis"), AccessString: aws.String("on"), Passwords: []string{"WorldReadable000001"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("ExistingDataDir", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data7")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		os.Chmod(dir, 0o755)
		ts := keywardtest.New(t, func(c *server.Config) { c.DataDir = dir; c.NoEngine = true; c.Store = "" })
		createUser(t, ts)
		if m := mode(t, dir); m != 0o700 {
			t.Errorf("data dir mode %v, want 0700", m)
		}
		for _, f := range []string{"state.db", "state.db-wal", "state.db-shm"} {
			if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
				t.Errorf("%s mode %v, want 0600", f, m)
			}
		}
	})
	t.Run("StoreElsewhere", func(t *testing.T) {
		// --store sqlite:<a 0755 dir>/state.db, whose files an older
		// keyward left 0644.
		dir := t.TempDir()
		os.Chmod(dir, 0o755)
		db := filepath.Join(dir, "state.db")
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ts := keywardtest.New(t, func(c *server.Config) { c.Store = "sqlite:" + db; c.NoEngine = true })
		createUser(t, ts)
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			if m := mode(t, f); m != 0o600 {
				t.Errorf("%s mode %v, want 0600", filepath.Base(f), m)
			}
		}
	})
}

func readyz(t *testing.T, ts *keywardtest.Server) int {
	t.Helper()
	resp, err := http.Get(ts.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReviewF15ReadyzTellsTheTruth(t *testing.T) {
	fast := func(c *server.Config) { c.NoEngine = true; c.ReadyInterval = 100 * time.Millisecond }
	t.Run("DeletedWAL", func(t *testing.T) {
		ts := keywardtest.New(t, fast, func(c *server.Config) { c.Store = "" })
		if code := readyz(t, ts); code != 200 {
			t.Fatalf("/readyz = %d before", code)
		}
		if err := os.Remove(filepath.Join(ts.Config.DataDir, "state.db-wal")); err != nil {
			t.Fatal(err)
		}
		keywardtest.Eventually(t, 5*time.Second, "/readyz to answer 503 once the WAL is deleted", func() bool { return readyz(t, ts) == 503 })
	})
	t.Run("WritesFail", func(t *testing.T) {
		// Another process holds the database's write lock: every write
		// fails (SQLITE_BUSY) while reads still work.
		ts := keywardtest.New(t, fast, func(c *server.Config) { c.Store = "" })
		lock := lockDatabase(t, filepath.Join(ts.Config.DataDir, "state.db"))
		keywardtest.Eventually(t, 15*time.Second, "/readyz to answer 503 while writes fail", func() bool { return readyz(t, ts) == 503 })
		lock.Rollback()
		keywardtest.Eventually(t, 15*time.Second, "/readyz to answer 200 again", func() bool { return readyz(t, ts) == 200 })
	})
	t.Run("ImmutableWAL", func(t *testing.T) {
		// The review's chattr +i (root only: chattr has no effect otherwise).
		if os.Geteuid() != 0 {
			t.Log("not root: chattr +i cannot be set; the WritesFail case covers failing writes")
			return
		}
		ts := keywardtest.New(t, fast, func(c *server.Config) { c.Store = "" })
		wal := filepath.Join(ts.Config.DataDir, "state.db-wal")
		if out, err := osexec("chattr", "+i", wal); err != nil {
			t.Fatalf("chattr: %v %s", err, out)
		}
		defer osexec("chattr", "-i", wal)
		keywardtest.Eventually(t, 10*time.Second, "/readyz to answer 503 with an immutable WAL", func() bool { return readyz(t, ts) == 503 })
		osexec("chattr", "-i", wal)
		keywardtest.Eventually(t, 10*time.Second, "/readyz to answer 200 again", func() bool { return readyz(t, ts) == 200 })
	})
}

func TestReviewF15PostgresWriteProbe(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ts := keywardtest.New(t, func(c *server.Config) {
		c.NoEngine, c.NoLead, c.ReadyInterval = true, true, 100*time.Millisecond
		c.Store = "postgres:" + dsn
	})
	if code := readyz(t, ts); code != 200 {
		t.Fatalf("/readyz = %d before", code)
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var name string
	if err := conn.QueryRow(t.Context(), `SELECT current_database()`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	// The database turns read-only (as after a failover to a standby, or
	// an operator's ALTER): reads work, every write fails.
	setReadOnly := func(v string) {
		t.Helper()
		if _, err := conn.Exec(t.Context(), fmt.Sprintf(`ALTER DATABASE %s SET default_transaction_read_only = %s`, pgx.Identifier{name}.Sanitize(), v)); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{}); err != nil {
		t.Fatal(err) // the scope's default user exists before the database turns read-only
	}
	setReadOnly("on")
	// Reads work again once the pool has reconnected; writes fail ...
	keywardtest.Eventually(t, 10*time.Second, "reads on the read-only database", func() bool {
		_, err := ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
		return err == nil
	})
	if _, err := ts.Client.CreateUser(t.Context(), &elasticache.CreateUserInput{
		UserId: aws.String("ro"), UserName: aws.String("ro"), Engine: aws.String("redis"), AccessString: aws.String("on"), NoPasswordRequired: aws.Bool(true),
	}); err == nil {
		t.Fatal("CreateUser succeeded on a read-only database")
	}
	// ... and /readyz says so, for as long as it lasts (the old /readyz
	// failed only while its pool reconnected).
	keywardtest.Eventually(t, 10*time.Second, "/readyz to answer 503 on a read-only database", func() bool { return readyz(t, ts) == 503 })
	for i := range 10 {
		if code := readyz(t, ts); code != 503 {
			t.Fatalf("/readyz = %d on a read-only database (check %d), want 503", code, i)
		}
		time.Sleep(100 * time.Millisecond)
	}
	setReadOnly("off")
	keywardtest.Eventually(t, 10*time.Second, "/readyz to answer 200 again", func() bool { return readyz(t, ts) == 200 })
}

func TestReviewF16TextInputs(t *testing.T) {
	ts := keywardtest.New(t, func(c *server.Config) { c.NoEngine = true })
	post := func(t *testing.T, form string) (int, string) {
		t.Helper()
		resp, err := http.Post(ts.URL(), "application/x-www-form-urlencoded", strings.NewReader(form))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	arn := "arn:aws:elasticache:us-east-1:000000000000:user:default"

	// The review's AddTagsToResource: invalid UTF-8, NUL and '<'.
	code, body := post(t, "Action=AddTagsToResource&Version=2015-02-02&ResourceName="+url.QueryEscape(arn)+"&Tags.Tag.1.Key=bad&Tags.Tag.1.Value=%ff%00%3C")
	if code != 400 || !strings.Contains(body, "<Code>InvalidParameterValue</Code>") {
		t.Fatalf("invalid UTF-8 tag value: %d %s", code, body)
	}
	for _, v := range []string{"a\x00b", "tab\there", "\u0085"} {
		_, err := ts.Client.AddTagsToResource(t.Context(), &elasticache.AddTagsToResourceInput{ResourceName: aws.String(arn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String(v)}}})
		keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	}
	tags, err := ts.Client.ListTagsForResource(t.Context(), &elasticache.ListTagsForResourceInput{ResourceName: aws.String(arn)})
	if err != nil || len(tags.TagList) != 0 {
		t.Fatalf("tags stored despite the refusals: %v %v", tags, err)
	}
	// Every string input, not only tags.
	_, err = ts.Client.CreateUserGroup(t.Context(), &elasticache.CreateUserGroupInput{UserGroupId: aws.String("g\x01"), Engine: aws.String("redis")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	code, body = post(t, "Action=DescribeUsers&Version=2015-02-02&Us%ffer=1")
	if code != 400 || !strings.Contains(body, "<Code>InvalidParameterValue</Code>") {
		t.Fatalf("invalid UTF-8 parameter name: %d %s", code, body)
	}

	// A 900,000-byte UserId: InvalidParameterValue (as the pattern check
	// answers), and a message that quotes a bounded prefix only.
	huge := strings.Repeat("a", 900000)
	for _, action := range []string{"DescribeUsers", "CreateUser", "DeleteUser"} {
		form := "Action=" + action + "&Version=2015-02-02&UserId=" + huge
		if action == "CreateUser" {
			form += "&UserName=x&Engine=redis&AccessString=on&NoPasswordRequired=true"
		}
		code, body := post(t, form)
		if code != 400 || !strings.Contains(body, "<Code>InvalidParameterValue</Code>") || len(body) > 2000 {
			t.Errorf("%s with a 900 KB UserId: %d, %d bytes: %.300s", action, code, len(body), body)
		}
	}
	_, err = ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{UserId: aws.String(strings.Repeat("b", 41))})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
	_, err = ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{UserId: aws.String("1abc")})
	keywardtest.WantError(t, err, "InvalidParameterValue", 400)
}

// lockDatabase takes the write lock of the SQLite database at path on a
// connection of its own, as another process would (SQLite's locks also
// hold between connections of one process), until the returned
// transaction ends.
func lockDatabase(t *testing.T, path string) *sql.Tx {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=exclusive")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	return tx
}

func osexec(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}
