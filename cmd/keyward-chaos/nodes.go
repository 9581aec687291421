package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/redis/go-redis/v9"
)

// A node fault, applied before the revoking call (so the node cannot have
// applied it) or right after its acknowledgement (racing the reconciler).
type nodeFault struct {
	name   string
	sig    syscall.Signal
	before bool
	// primary targets a primary node; long pauses past keyward's 10 s
	// timeout for node operations.
	primary, long bool
	// switchAway moves the faulted node's replication group from the
	// member's user group to another one (ModifyReplicationGroup) just
	// before the revocation.
	switchAway bool
}

var nodeFaults = []nodeFault{
	{"kill -9 before", syscall.SIGKILL, true, false, false, false},
	{"SIGSTOP before", syscall.SIGSTOP, true, false, false, false},
	{"SIGTERM (restart) before", syscall.SIGTERM, true, false, false, false},
	{"SIGSTOP after", syscall.SIGSTOP, false, false, false, false},
	{"kill -9 after", syscall.SIGKILL, false, false, false, false},
	{"SIGSTOP 15 s (a primary) before", syscall.SIGSTOP, true, true, true, false},
	{"SIGSTOP (a primary) before, its replication group switched to another user group", syscall.SIGSTOP, true, true, false, true},
}

// Revoking calls: DeleteUser, or removing the member from its group.
var nodeOps = []string{"DeleteUser", "ModifyUserGroup remove"}

type nodesRun struct {
	e     *env
	c     *elasticache.Client
	rep   *Report
	rng   *rand.Rand
	nodes []string          // addresses of every node of every cache
	roles map[string]string // address -> "nrg0 primary"
	stale int               // pauses during which a healthy node still accepted the member
	pause time.Duration
}

// runNodes is the nodes campaign: node processes killed, paused or
// restarted while a member of the group attached to their cache is deleted
// or removed. The user or group must stay deleting/modifying while a node
// that has not dropped the member is paused, complete once it runs again,
// and the member must then be refused by every node.
func runNodes(ctx context.Context, cfg *config) *Report {
	rep := newReport("nodes")
	e, err := setup(ctx, cfg, rep, nil, "--log-level", "info")
	if err != nil {
		rep.violate("setup: %v", err)
		return rep
	}
	defer e.teardown()
	c, hc := e.client()
	defer hc.CloseIdleConnections()
	r := &nodesRun{e: e, c: c, rep: rep, rng: rand.New(rand.NewPCG(cfg.seed, 0x40de5)), pause: 3 * time.Second, roles: map[string]string{}}
	if cfg.rounds > 0 && cfg.rounds <= 2 {
		r.pause = 1500 * time.Millisecond
	}
	if err := r.setupCaches(ctx); err != nil {
		rep.violate("setup: %v", err)
		return rep
	}
	rounds := cfg.rounds
	if rounds == 0 {
		rounds = 2 * len(nodeFaults)
	}
	rep.printf("One user group (a password-protected user named default plus the member under test) attached to 2 TLS replication groups of 2 nodes. Each round adds a fresh member, waits until every node accepts it, applies a fault to one random node (in the last kind, also switches the node's replication group to another user group) and revokes the member (DeleteUser, or ModifyUserGroup removing it). Seed %d.\n\n", cfg.seed)
	rep.printf("| round | fault | revocation | node | status while faulted | other nodes refusing at end of pause | done after fault (after resume) | refused everywhere after done, connections closed |\n|---|---|---|---|---|---|---|---|\n")
	for i := range rounds {
		if ctx.Err() != nil {
			break
		}
		f, op := nodeFaults[i%len(nodeFaults)], nodeOps[(i%len(nodeFaults)+i/len(nodeFaults))%len(nodeOps)]
		if err := r.round(ctx, i+1, f, op); err != nil {
			rep.violate("round %d (%s, %s): %v", i+1, f.name, op, err)
			break
		}
	}
	// Every node runs exactly once: no duplicate or orphan server.
	recs, _ := readNodeRecs(e.kw.dataDir)
	servers := 0
	for _, pid := range procsUnder(e.root) {
		if cmdlineContains(pid, "/nodes/") {
			servers++
		}
	}
	if servers != len(recs) || len(recs) != len(r.nodes) {
		rep.violate("after the rounds: %d node directories, %d server processes, %d nodes expected", len(recs), servers, len(r.nodes))
	}
	if r.stale > 0 {
		rep.note("in %d rounds a healthy node still accepted the revoked member at the end of another node's pause: keyward applies a replication group's ACLs node by node, primary first, so a paused node holds back the nodes after it", r.stale)
	}
	rep.printf("\n%d node directories, %d redis-server processes at the end (%d expected).\n", len(recs), servers, len(r.nodes))
	return rep
}

const nodesDefaultPW = "NodesDefault-Pw-0001"

func (r *nodesRun) setupCaches(ctx context.Context) error {
	c := r.c
	if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{
		UserId: aws.String("nd-default"), UserName: aws.String("default"), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* -@all +ping"), Passwords: []string{nodesDefaultPW},
	}); err != nil {
		return err
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("ng"), Engine: aws.String("redis"), UserIds: []string{"nd-default"}}); err != nil {
		return err
	}
	if _, err := c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String("ng2"), Engine: aws.String("redis"), UserIds: []string{"nd-default"}}); err != nil {
		return err
	}
	if err := waitFor(ctx, 20*time.Second, "group ng active", func() (bool, error) { return r.groupActive(ctx) }); err != nil {
		return err
	}
	for _, id := range []string{"nrg0", "nrg1"} {
		if _, err := c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
			ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("chaos nodes"),
			NumCacheClusters: aws.Int32(2), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: []string{"ng"},
		}); err != nil {
			return err
		}
	}
	for _, id := range []string{"nrg0", "nrg1"} {
		err := waitFor(ctx, 30*time.Second, id+" available", func() (bool, error) {
			out, err := c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
			if err != nil {
				return false, err
			}
			rg := out.ReplicationGroups[0]
			if aws.ToString(rg.Status) != "available" {
				return false, nil
			}
			r.nodes = append(r.nodes, nodeAddrs(rg)...)
			for _, m := range rg.NodeGroups[0].NodeGroupMembers {
				a := net.JoinHostPort(aws.ToString(m.ReadEndpoint.Address), strconv.Itoa(int(aws.ToInt32(m.ReadEndpoint.Port))))
				r.roles[a] = id + " " + aws.ToString(m.CurrentRole)
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// switchGroup moves replication group id from user group from to to; with
// wait, it first waits until the replication group is available, and then
// until it is again.
func (r *nodesRun) switchGroup(ctx context.Context, id, to, from string, wait bool) error {
	available := func() (bool, error) {
		out, err := r.c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{ReplicationGroupId: aws.String(id)})
		if err != nil {
			return false, err
		}
		return aws.ToString(out.ReplicationGroups[0].Status) == "available", nil
	}
	if wait {
		if err := waitFor(ctx, 30*time.Second, id+" available", available); err != nil {
			return err
		}
		if err := waitFor(ctx, 30*time.Second, to+" active", func() (bool, error) {
			out, err := r.c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String(to)})
			return err == nil && aws.ToString(out.UserGroups[0].Status) == "active", err
		}); err != nil {
			return err
		}
	}
	if _, err := r.c.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
		ReplicationGroupId: aws.String(id), UserGroupIdsToAdd: []string{to}, UserGroupIdsToRemove: []string{from}, ApplyImmediately: aws.Bool(true),
	}); err != nil {
		return fmt.Errorf("switch %s from %s to %s: %w", id, from, to, err)
	}
	if wait {
		return waitFor(ctx, 30*time.Second, id+" available", available)
	}
	return nil
}

func (r *nodesRun) describe(addr string) string {
	return addr + " (" + r.roles[addr] + ")"
}

func (r *nodesRun) groupActive(ctx context.Context) (bool, error) {
	out, err := r.c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("ng")})
	if err != nil {
		return false, err
	}
	return aws.ToString(out.UserGroups[0].Status) == "active", nil
}

// waitFor polls cond every 20ms until it is true, fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v", what, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// authEverywhere reports how many nodes accept (name, pw), and the nodes
// that could not be asked.
func (r *nodesRun) authEverywhere(ctx context.Context, name, pw string, timeout time.Duration) (accepted int, down []string) {
	for _, a := range r.nodes {
		actx, cancel := context.WithTimeout(ctx, timeout)
		ok, err := authOnce(actx, a, r.e.tls, name, pw)
		cancel()
		switch {
		case err != nil:
			down = append(down, a)
		case ok:
			accepted++
		}
	}
	return accepted, down
}

// done reports whether the revocation completed: the user gone
// (DeleteUser) or the group active again without it.
func (r *nodesRun) done(ctx context.Context, op, user string) (bool, string, error) {
	if op == "DeleteUser" {
		out, err := r.c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(user)})
		if err != nil {
			if strings.Contains(err.Error(), "UserNotFound") {
				return true, "gone", nil
			}
			return false, "", err
		}
		st := aws.ToString(out.Users[0].Status)
		if st != "deleting" {
			return false, st, fmt.Errorf("deleted user %s shows status %s", user, st)
		}
		return false, st, nil
	}
	out, err := r.c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{UserGroupId: aws.String("ng")})
	if err != nil {
		return false, "", err
	}
	g := out.UserGroups[0]
	st := aws.ToString(g.Status)
	if st == "active" {
		if slices.Contains(g.UserIds, user) {
			return false, st, fmt.Errorf("group ng is active again but still lists %s", user)
		}
		return true, st, nil
	}
	return false, st, nil
}

func (r *nodesRun) round(ctx context.Context, n int, f nodeFault, op string) error {
	c := r.c
	user := fmt.Sprintf("nv%d", n)
	pw := randPassword(r.rng)
	// The previous round's revocation may leave the group modifying for a
	// moment after the user is gone.
	if err := waitFor(ctx, 20*time.Second, "group ng active", func() (bool, error) { return r.groupActive(ctx) }); err != nil {
		return err
	}
	if _, err := c.CreateUser(ctx, &elasticache.CreateUserInput{
		UserId: aws.String(user), UserName: aws.String(user), Engine: aws.String("redis"),
		AccessString: aws.String("on ~* +@all"), Passwords: []string{pw},
	}); err != nil {
		return err
	}
	if _, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("ng"), UserIdsToAdd: []string{user}}); err != nil {
		return err
	}
	if err := waitFor(ctx, 20*time.Second, "group active after adding "+user, func() (bool, error) { return r.groupActive(ctx) }); err != nil {
		return err
	}
	if err := waitFor(ctx, 10*time.Second, user+" accepted by every node", func() (bool, error) {
		acc, _ := r.authEverywhere(ctx, user, pw, 2*time.Second)
		return acc == len(r.nodes), nil
	}); err != nil {
		return err
	}

	addr := pick(r.rng, r.nodes)
	if f.primary {
		var primaries []string
		for _, a := range r.nodes {
			if strings.HasSuffix(r.roles[a], "primary") {
				primaries = append(primaries, a)
			}
		}
		addr = pick(r.rng, primaries)
	}
	// The member holds a connection to every node: revoking it must
	// close them (DeleteUser and removal delete the ACL user).
	var conns []*redis.Conn
	for _, a := range r.nodes {
		cl := nodeClient(a, r.e.tls, user, pw)
		defer cl.Close()
		conn := cl.Conn()
		defer conn.Close()
		if err := conn.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("connection as %s to %s: %w", user, a, err)
		}
		conns = append(conns, conn)
	}
	node, err := nodeByAddr(r.e.kw.dataDir, addr)
	if err != nil {
		return err
	}
	signal := func() error {
		if f.sig == syscall.SIGSTOP {
			return r.e.pause(node.PID)
		}
		return syscall.Kill(node.PID, f.sig)
	}
	if f.before {
		if err := signal(); err != nil {
			return err
		}
	}
	rgID := strings.Fields(r.roles[addr])[0]
	if f.switchAway {
		if err := r.switchGroup(ctx, rgID, "ng2", "ng", false); err != nil {
			return err
		}
	}
	t0 := time.Now()
	switch op {
	case "DeleteUser":
		out, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(user)})
		if err != nil {
			return err
		}
		if st := aws.ToString(out.Status); st != "deleting" {
			r.rep.violate("round %d: DeleteUser answered %s, want deleting", n, st)
		}
	default:
		out, err := c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String("ng"), UserIdsToRemove: []string{user}})
		if err != nil {
			return err
		}
		if st := aws.ToString(out.Status); st != "modifying" {
			r.rep.violate("round %d: ModifyUserGroup answered %s, want modifying", n, st)
		}
	}
	if !f.before {
		if err := signal(); err != nil {
			return err
		}
	}

	whileFaulted := "n/a"
	othersRefusing := "n/a"
	resumedAt := t0
	if f.sig == syscall.SIGSTOP {
		// While the node is paused the revocation cannot have reached it:
		// done would be a lie (unless the node applied it before the pause).
		statuses := map[string]bool{}
		doneWhilePaused := false
		pause := r.pause
		if f.long {
			pause = 15 * time.Second
		}
		// keyward restarts a node that leaves its commands unanswered
		// for too long (engine.Manager.StuckTimeout, 5 s): from then on the
		// paused process is gone and the revocation may complete.
		var replacedAfter time.Duration
		for end := time.Now().Add(pause); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if replacedAfter == 0 && !pidAlive(node.PID) {
				replacedAfter = time.Since(t0)
				r.rep.note("round %d: keyward restarted the paused node %s after %.1f s", n, r.describe(addr), replacedAfter.Seconds())
			}
			if replacedAfter > 0 {
				d, st, err := r.done(ctx, op, user)
				if err == nil {
					statuses[st+" (node restarted by keyward)"] = true
				}
				if d {
					break
				}
				continue
			}
			d, st, err := r.done(ctx, op, user)
			if err != nil {
				r.rep.violate("round %d: while %s paused: %v", n, addr, err)
			}
			statuses[st] = true
			if d && !doneWhilePaused {
				// Reported done: every node that runs must refuse now.
				for _, a := range r.nodes {
					if a == addr {
						continue
					}
					actx, cancel := context.WithTimeout(ctx, time.Second)
					ok, err := authOnce(actx, a, r.e.tls, user, pw)
					cancel()
					if err == nil && ok {
						r.rep.violate("round %d: %s of %s reported done while the running node %s still accepts it (node %s paused)", n, op, user, r.describe(a), r.describe(addr))
					}
				}
			}
			doneWhilePaused = doneWhilePaused || d
		}
		whileFaulted = strings.Join(slices.Sorted(maps.Keys(statuses)), ", ")
		if doneWhilePaused && f.before {
			r.rep.violate("round %d: %s reported done while node %s (pid %d) was paused before the call: nothing can have revoked %s there", n, op, addr, node.PID, user)
		}
		var others []string
		for _, a := range r.nodes {
			if a != addr {
				others = append(others, a)
			}
		}
		refusing := 0
		var accepting []string
		for _, a := range others {
			actx, cancel := context.WithTimeout(ctx, time.Second)
			ok, err := authOnce(actx, a, r.e.tls, user, pw)
			cancel()
			if err == nil && !ok {
				refusing++
			} else {
				accepting = append(accepting, r.describe(a))
			}
		}
		othersRefusing = fmt.Sprintf("%d/%d", refusing, len(others))
		if len(accepting) > 0 {
			othersRefusing += " (still accepting: " + strings.Join(accepting, ", ") + ")"
			r.stale++
		}
		if err := r.e.resume(node.PID); err != nil && !(replacedAfter > 0 && errors.Is(err, syscall.ESRCH)) {
			return err
		}
		resumedAt = time.Now()
		if replacedAfter > 0 {
			resumedAt = t0.Add(replacedAfter)
			if !f.long {
				r.rep.violate("round %d: keyward restarted node %s during a %v pause, shorter than its stuck timeout", n, r.describe(addr), pause)
			}
		}
	}

	// Wait for completion; the moment it is reported, every node must
	// refuse the member (a node still restarting is asked once it is up).
	var doneAt time.Time
	if err := waitFor(ctx, r.e.cfg.convergeTimeout+10*time.Second, op+" of "+user+" to complete", func() (bool, error) {
		d, st, err := r.done(ctx, op, user)
		if err != nil {
			return false, err
		}
		if f.sig != syscall.SIGSTOP && !d {
			whileFaulted = st
		}
		if d {
			doneAt = time.Now()
		}
		return d, nil
	}); err != nil {
		return err
	}
	refusedAll := "yes"
	for _, a := range r.nodes {
		var ok bool
		err := waitFor(ctx, 10*time.Second, "node "+a+" to answer", func() (bool, error) {
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			acc, err := authOnce(actx, a, r.e.tls, user, pw)
			ok = acc
			return err == nil, nil
		})
		if err != nil {
			r.rep.violate("round %d: %v", n, err)
			refusedAll = "node down"
			continue
		}
		if ok {
			r.rep.violate("round %d: %s of %s reported done, but node %s still accepts it", n, op, user, a)
			refusedAll = "NO"
		}
	}
	// The member's connections are closed (on the faulted node too).
	open := 0
	for i, conn := range conns {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if conn.Ping(actx).Err() == nil {
			open++
			r.rep.violate("round %d: %s's connection to %s survived %s", n, user, r.nodes[i], op)
		}
		cancel()
	}
	if open > 0 {
		refusedAll += fmt.Sprintf("; %d connections survived", open)
	}
	// No trace on any node, and the faulted node runs again.
	for _, a := range r.nodes {
		admin := adminNodeClient(r.e.kw.dataDir, a, r.e.tls)
		names, err := admin.Do(ctx, "ACL", "USERS").StringSlice()
		admin.Close()
		if err != nil {
			r.rep.violate("round %d: ACL USERS on %s: %v", n, a, err)
		} else if slices.Contains(names, user) {
			r.rep.violate("round %d: node %s still has ACL user %s after %s completed", n, a, user, op)
		}
	}
	// A killed or terminated node runs again under a new pid (a SIGTERMed
	// redis-server may take a few seconds to exit).
	if f.sig != syscall.SIGSTOP {
		err := waitFor(ctx, 20*time.Second, "node "+addr+" restarted after "+f.name, func() (bool, error) {
			nn, err := nodeByAddr(r.e.kw.dataDir, addr)
			return err == nil && nn.PID != node.PID && !pidAlive(node.PID), nil
		})
		if err != nil {
			r.rep.violate("round %d: %v", n, err)
		}
	}
	r.rep.printf("| %d | %s | %s | %s | %s | %s | %s (%s) | %s |\n", n, f.name, op, r.describe(addr), whileFaulted, othersRefusing,
		fmtDur(doneAt.Sub(t0)), fmtDur(doneAt.Sub(resumedAt)), refusedAll)
	r.e.cfg.logf("nodes: round %d: %s, %s on %s: done %v after the call", n, f.name, op, addr, doneAt.Sub(t0).Round(time.Millisecond))

	if f.switchAway {
		if err := r.switchGroup(ctx, rgID, "ng", "ng2", true); err != nil {
			return err
		}
	}
	if op != "DeleteUser" {
		if _, err := c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(user)}); err != nil {
			return err
		}
	}
	return waitFor(ctx, 20*time.Second, user+" gone", func() (bool, error) {
		_, err := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(user)})
		return err != nil && strings.Contains(err.Error(), "UserNotFound"), nil
	})
}
