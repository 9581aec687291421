// Command keyward-seedbench measures the data plane of the seed page on real
// redis-server nodes: how long after DeleteUser returns the user is refused
// by every node of every replication group its user group is attached to,
// how long CreateReplicationGroup takes to reach "available", and how much
// memory keyward uses while supervising many nodes.
//
// It builds keyward, runs it as a child process on a temporary data
// directory, drives it with aws-sdk-go-v2, probes the nodes with go-redis
// over TLS (verified against keyward's CA), and prints a Markdown report.
// Everything it creates is deleted before it exits.
//
//	go run ./cmd/keyward-seedbench -trials 50
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"
)

func main() {
	trials := flag.Int("trials", 50, "DeleteUser trials")
	groups := flag.Int("groups", 3, "replication groups attached to the user group")
	nodes := flag.Int("nodes", 3, "nodes per replication group")
	rssGroups := flag.Int("rss-groups", 10, "replication groups of -nodes nodes to create for the memory figure")
	flag.Parse()
	if err := run(*trials, *groups, *nodes, *rssGroups); err != nil {
		log.Fatal(err)
	}
}

type bench struct {
	c       *elasticache.Client
	tls     *tls.Config
	cmd     *exec.Cmd
	ctx     context.Context
	created []string
}

func run(trials, groups, nodes, rssGroups int) error {
	dir, err := os.MkdirTemp("", "keyward-seedbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "keyward")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/keyward").CombinedOutput(); err != nil {
		return fmt.Errorf("build: %v\n%s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	b := &bench{ctx: context.Background()}
	b.cmd = exec.Command(bin, "serve", "--listen", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	b.cmd.Stderr = os.Stderr
	if err := b.cmd.Start(); err != nil {
		return err
	}
	defer b.cmd.Process.Kill()
	if err := waitHTTP("http://" + addr + "/healthz"); err != nil {
		return err
	}
	b.c = elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String("http://" + addr), Region: "us-east-1", Retryer: aws.NopRetryer{},
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
	defer b.cleanup()

	// The group: a locked default user and the users under test.
	if err := b.createUser("bench-default", "default", "bench-default-pass-1", "on ~* -@all +ping"); err != nil {
		return err
	}
	if _, err := b.c.CreateUserGroup(b.ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("bench"), Engine: aws.String("redis"), UserIds: []string{"bench-default"}}); err != nil {
		return err
	}
	if err := b.waitGroupActive("bench"); err != nil {
		return err
	}

	// CreateReplicationGroup → available, for the groups under test.
	var createTimes []time.Duration
	var nodeAddrs []string
	for i := range groups {
		id := fmt.Sprintf("bench-rg%d", i)
		d, addrs, err := b.createRG(id, nodes, "bench")
		if err != nil {
			return err
		}
		createTimes = append(createTimes, d)
		nodeAddrs = append(nodeAddrs, addrs...)
	}
	// Attaching caches holds the group in modifying until every node has
	// its users, which may end just after the last group is available.
	if err := b.waitGroupActive("bench"); err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "data", "tls", "ca.pem"))
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	b.tls = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}

	// DeleteUser → AUTH refused on every node.
	var revoke []time.Duration
	for i := range trials {
		user := fmt.Sprintf("victim-%03d", i)
		pw := fmt.Sprintf("victim-password-%03d", i)
		if err := b.createUser(user, user, pw, "on ~* +@all"); err != nil {
			return err
		}
		if _, err := b.c.ModifyUserGroup(b.ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("bench"), UserIdsToAdd: []string{user}}); err != nil {
			return err
		}
		if err := b.waitGroupActive("bench"); err != nil {
			return err
		}
		if err := b.waitAuth(nodeAddrs, user, pw, true); err != nil {
			return err
		}
		start := time.Now()
		if _, err := b.c.DeleteUser(b.ctx, &elasticache.DeleteUserInput{UserId: aws.String(user)}); err != nil {
			return err
		}
		if err := b.waitAuth(nodeAddrs, user, pw, false); err != nil {
			return err
		}
		revoke = append(revoke, time.Since(start))
		if err := b.waitUserGone(user); err != nil {
			return err
		}
	}

	// Memory while supervising many nodes.
	rssIdle := rss(b.cmd.Process.Pid)
	for i := range rssGroups - groups {
		if _, _, err := b.createRG(fmt.Sprintf("bench-extra%d", i), nodes, ""); err != nil {
			return err
		}
	}
	time.Sleep(3 * time.Second) // a few data resyncs
	rssMany := rss(b.cmd.Process.Pid)

	fmt.Printf("## Seed data plane (keyward, SQLite, redis-server %s, TLS)\n\n", redisVersion())
	fmt.Printf("| measure | n | p50 | p99 | max |\n|---|---|---|---|---|\n")
	row("DeleteUser → AUTH refused on all %d nodes (%d groups × %d)", revoke, len(nodeAddrs), groups, nodes)
	row("CreateReplicationGroup (%d nodes, TLS, user group) → available", createTimes, nodes)
	fmt.Printf("\nkeyward RSS: %.1f MiB supervising %d nodes, %.1f MiB supervising %d nodes.\n",
		float64(rssIdle)/1024, groups*nodes, float64(rssMany)/1024, rssGroups*nodes)
	return nil
}

func row(format string, ds []time.Duration, args ...any) {
	slices.Sort(ds)
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	fmt.Printf("| %s | %d | %v | %v | %v |\n", fmt.Sprintf(format, args...), len(ds),
		q(0.5).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond), ds[len(ds)-1].Round(100*time.Microsecond))
}

func (b *bench) createUser(id, name, pw, access string) error {
	_, err := b.c.CreateUser(b.ctx, &elasticache.CreateUserInput{
		UserId: aws.String(id), UserName: aws.String(name), Engine: aws.String("redis"),
		AccessString: aws.String(access), Passwords: []string{pw},
	})
	return err
}

func (b *bench) createRG(id string, nodes int, group string) (time.Duration, []string, error) {
	in := &elasticache.CreateReplicationGroupInput{
		ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("bench"),
		NumCacheClusters: aws.Int32(int32(nodes)), TransitEncryptionEnabled: aws.Bool(true),
	}
	if group != "" {
		in.UserGroupIds = []string{group}
	}
	start := time.Now()
	if _, err := b.c.CreateReplicationGroup(b.ctx, in); err != nil {
		return 0, nil, err
	}
	b.created = append(b.created, id)
	for {
		out, err := b.c.DescribeReplicationGroups(b.ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil {
			return 0, nil, err
		}
		rg := out.ReplicationGroups[0]
		if aws.ToString(rg.Status) == "available" {
			d := time.Since(start)
			var addrs []string
			for _, m := range rg.NodeGroups[0].NodeGroupMembers {
				addrs = append(addrs, net.JoinHostPort(aws.ToString(m.ReadEndpoint.Address), strconv.Itoa(int(aws.ToInt32(m.ReadEndpoint.Port)))))
			}
			return d, addrs, nil
		}
		if time.Since(start) > time.Minute {
			return 0, nil, fmt.Errorf("%s not available after a minute (%s)", id, aws.ToString(rg.Status))
		}
		time.Sleep(time.Millisecond)
	}
}

// waitAuth polls every node in parallel until AUTH as user succeeds (want)
// or is refused (!want) on all of them.
func (b *bench) waitAuth(addrs []string, user, pw string, want bool) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(addrs))
	for _, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				c := redis.NewClient(&redis.Options{Addr: a, Username: user, Password: pw, TLSConfig: b.tls, Protocol: 2, MaxRetries: -1, DisableIdentity: true, PoolSize: 1})
				err := c.Ping(b.ctx).Err()
				c.Close()
				if (err == nil) == want {
					return
				}
			}
			errs <- fmt.Errorf("node %s: AUTH %s still %v after 30s", a, user, !want)
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func (b *bench) waitGroupActive(id string) error {
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(time.Millisecond) {
		out, err := b.c.DescribeUserGroups(b.ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String(id)})
		if err != nil {
			return err
		}
		if aws.ToString(out.UserGroups[0].Status) == "active" {
			return nil
		}
	}
	return fmt.Errorf("group %s not active after a minute", id)
}

func (b *bench) waitUserGone(id string) error {
	for start := time.Now(); time.Since(start) < time.Minute; time.Sleep(time.Millisecond) {
		_, err := b.c.DescribeUsers(b.ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)})
		if err != nil && strings.Contains(err.Error(), "UserNotFound") {
			return nil
		}
	}
	return fmt.Errorf("user %s not gone after a minute", id)
}

// cleanup deletes every replication group (stopping their nodes) and waits.
func (b *bench) cleanup() {
	for _, id := range b.created {
		b.c.DeleteReplicationGroup(b.ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(id)})
	}
	for _, id := range b.created {
		for start := time.Now(); time.Since(start) < 30*time.Second; time.Sleep(20 * time.Millisecond) {
			if _, err := b.c.DescribeReplicationGroups(b.ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)}); err != nil {
				break
			}
		}
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
}

func rss(pid int) int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return kb
		}
	}
	return 0
}

func redisVersion() string {
	out, _ := exec.Command("redis-server", "--version").Output()
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "v=") {
			return strings.TrimPrefix(f, "v=")
		}
	}
	return "?"
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHTTP(url string) error {
	for start := time.Now(); time.Since(start) < 10*time.Second; time.Sleep(2 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return nil
		}
	}
	return fmt.Errorf("%s did not answer", url)
}
