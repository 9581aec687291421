package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/aws-sdk-go-v2/service/elasticache/types"
	"github.com/redis/go-redis/v9"

	"keyward/engine"
)

// snapshot is keyward's state as the API shows it.
type snapshot struct {
	users  map[string]types.User
	groups map[string]types.UserGroup
	caches map[string]types.ReplicationGroup
	// stable reports that the groups read before and after the users were
	// the same, so users and groups can be compared with each other.
	stable bool
}

func readSnapshot(ctx context.Context, c *elasticache.Client) (*snapshot, error) {
	s := &snapshot{users: map[string]types.User{}, caches: map[string]types.ReplicationGroup{}}
	g1, err := readGroups(ctx, c)
	if err != nil {
		return nil, err
	}
	up := elasticache.NewDescribeUsersPaginator(c, &elasticache.DescribeUsersInput{MaxRecords: aws.Int32(100)})
	for up.HasMorePages() {
		out, err := up.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeUsers: %w", err)
		}
		for _, u := range out.Users {
			s.users[aws.ToString(u.UserId)] = u
		}
	}
	rp := elasticache.NewDescribeReplicationGroupsPaginator(c, &elasticache.DescribeReplicationGroupsInput{MaxRecords: aws.Int32(100)})
	for rp.HasMorePages() {
		out, err := rp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeReplicationGroups: %w", err)
		}
		for _, rg := range out.ReplicationGroups {
			s.caches[aws.ToString(rg.ReplicationGroupId)] = rg
		}
	}
	g2, err := readGroups(ctx, c)
	if err != nil {
		return nil, err
	}
	s.groups = g2
	s.stable = groupsDigest(g1) == groupsDigest(g2)
	return s, nil
}

func readGroups(ctx context.Context, c *elasticache.Client) (map[string]types.UserGroup, error) {
	out := map[string]types.UserGroup{}
	gp := elasticache.NewDescribeUserGroupsPaginator(c, &elasticache.DescribeUserGroupsInput{MaxRecords: aws.Int32(100)})
	for gp.HasMorePages() {
		page, err := gp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("DescribeUserGroups: %w", err)
		}
		for _, g := range page.UserGroups {
			out[aws.ToString(g.UserGroupId)] = g
		}
	}
	return out, nil
}

func groupsDigest(gs map[string]types.UserGroup) string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(gs)) {
		g := gs[id]
		fmt.Fprintf(&b, "%s %s %v %v;", id, aws.ToString(g.Status), g.UserIds, effMembers(g))
	}
	return b.String()
}

// effMembers is the membership a group converges to: UserIds with the
// accepted pending change applied.
func effMembers(g types.UserGroup) []string {
	ids := slices.Clone(g.UserIds)
	if pc := g.PendingChanges; pc != nil {
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(pc.UserIdsToRemove, id) })
		for _, id := range pc.UserIdsToAdd {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func hasPendingGroups(rg types.ReplicationGroup) bool {
	pm := rg.PendingModifiedValues
	return pm != nil && pm.UserGroups != nil && (len(pm.UserGroups.UserGroupIdsToAdd) > 0 || len(pm.UserGroups.UserGroupIdsToRemove) > 0)
}

// effGroups is the user group a replication group converges to.
func effGroups(rg types.ReplicationGroup) []string {
	ids := slices.Clone(rg.UserGroupIds)
	if hasPendingGroups(rg) {
		ug := rg.PendingModifiedValues.UserGroups
		ids = slices.DeleteFunc(ids, func(id string) bool { return slices.Contains(ug.UserGroupIdsToRemove, id) })
		for _, id := range ug.UserGroupIdsToAdd {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// settled reports whether every resource is at rest, with the number of
// those that are not.
func (s *snapshot) settled() (bool, int) {
	n := 0
	for _, u := range s.users {
		if aws.ToString(u.Status) != "active" {
			n++
		}
	}
	for _, g := range s.groups {
		if aws.ToString(g.Status) != "active" || g.PendingChanges != nil && (len(g.PendingChanges.UserIdsToAdd) > 0 || len(g.PendingChanges.UserIdsToRemove) > 0) {
			n++
		}
	}
	for _, rg := range s.caches {
		if aws.ToString(rg.Status) != "available" || hasPendingGroups(rg) {
			n++
		}
	}
	return n == 0, n
}

// Kinds of mismatch between the model and keyward.
const (
	mmLost       = "lost"         // an acknowledged write is not (or wrongly) reflected
	mmHalf       = "half-applied" // an unanswered write is partly applied
	mmPhantom    = "phantom"      // a resource nobody created
	mmMembership = "membership"   // users and groups disagree
	mmStatus     = "status"       // a status outside the allowed ones
	mmAck        = "ack"          // an acknowledgement with the wrong content
)

type mismatch struct{ kind, msg string }

func mm(kind, format string, args ...any) mismatch {
	return mismatch{kind, fmt.Sprintf(format, args...)}
}

func idsEqual(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b) || len(a) == 0 && len(b) == 0
}

func pwCount(u types.User) int {
	if u.Authentication == nil {
		return -1
	}
	return int(aws.ToInt32(u.Authentication.PasswordCount))
}

// compare checks keyward's state against the model. With settled, the
// state must be exactly the model's; otherwise transitions may still be in
// progress, but every acknowledged change must already show (as current or
// pending values). Requires m.mu.
func (m *model) compare(s *snapshot, settled bool) []mismatch {
	var out []mismatch
	for _, id := range slices.Sorted(maps.Keys(m.users)) {
		u := m.users[id]
		su, ok := s.users[id]
		st := aws.ToString(su.Status)
		mmLost := m.lostKind("u:" + id)
		if u.deleted {
			if ok && st != "deleting" {
				out = append(out, mm(mmLost, "user %s: DeleteUser acknowledged, but DescribeUsers shows it %s", id, st))
			}
			if ok && len(su.UserGroupIds) > 0 {
				out = append(out, mm(mmLost, "user %s: DeleteUser acknowledged, but it is still in groups %v", id, su.UserGroupIds))
			}
			continue
		}
		if !ok {
			out = append(out, mm(mmLost, "user %s: acknowledged, but DescribeUsers does not list it", id))
			continue
		}
		if aws.ToString(su.UserName) != u.name || aws.ToString(su.AccessString) != u.access || pwCount(su) != len(u.pws) {
			out = append(out, mm(mmLost, "user %s: want name %s, access %q, %d passwords; keyward has %s, %q, %d",
				id, u.name, u.access, len(u.pws), aws.ToString(su.UserName), aws.ToString(su.AccessString), pwCount(su)))
		}
		if st != "active" && st != "modifying" {
			out = append(out, mm(mmStatus, "user %s: status %s", id, st))
		}
		if settled && !idsEqual(su.UserGroupIds, m.groupsOf(id)) {
			out = append(out, mm(mmLost, "user %s: UserGroupIds %v, want %v", id, su.UserGroupIds, m.groupsOf(id)))
		}
	}
	for id := range s.users {
		if id != "default" && m.users[id] == nil {
			out = append(out, mm(mmPhantom, "user %s exists, but no acknowledged or unanswered CreateUser made it", id))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.groups)) {
		g := m.groups[id]
		sg, ok := s.groups[id]
		st := aws.ToString(sg.Status)
		mmLost := m.lostKind("g:" + id)
		if g.deleted {
			if ok && st != "deleting" {
				out = append(out, mm(mmLost, "group %s: DeleteUserGroup acknowledged, but it is %s", id, st))
			}
			continue
		}
		if !ok {
			out = append(out, mm(mmLost, "group %s: acknowledged, but DescribeUserGroups does not list it", id))
			continue
		}
		if want := g.memberList(); !idsEqual(effMembers(sg), want) {
			out = append(out, mm(mmLost, "group %s: members (with pending changes) %v, want %v", id, effMembers(sg), want))
		}
		if st != "creating" && st != "active" && st != "modifying" {
			out = append(out, mm(mmStatus, "group %s: status %s", id, st))
		}
		if settled && !idsEqual(sg.ReplicationGroups, m.cachesOf(id)) {
			out = append(out, mm(mmLost, "group %s: ReplicationGroups %v, want %v", id, sg.ReplicationGroups, m.cachesOf(id)))
		}
	}
	for id := range s.groups {
		if m.groups[id] == nil {
			out = append(out, mm(mmPhantom, "group %s exists, but no acknowledged or unanswered CreateUserGroup made it", id))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.caches)) {
		c := m.caches[id]
		sc, ok := s.caches[id]
		st := aws.ToString(sc.Status)
		mmLost := m.lostKind("c:" + id)
		if c.deleted {
			if ok && st != "deleting" {
				out = append(out, mm(mmLost, "replication group %s: DeleteReplicationGroup acknowledged, but it is %s", id, st))
			}
			continue
		}
		if !ok {
			out = append(out, mm(mmLost, "replication group %s: acknowledged, but DescribeReplicationGroups does not list it", id))
			continue
		}
		var want []string
		if c.group != "" {
			want = []string{c.group}
		}
		if !idsEqual(effGroups(sc), want) {
			out = append(out, mm(mmLost, "replication group %s: user groups (with pending changes) %v, want %v", id, effGroups(sc), want))
		}
		if st != "creating" && st != "available" && st != "modifying" {
			out = append(out, mm(mmStatus, "replication group %s: status %s", id, st))
		}
		if len(sc.MemberClusters) != c.nodes {
			out = append(out, mm(mmLost, "replication group %s: %d member clusters, want %d", id, len(sc.MemberClusters), c.nodes))
		}
	}
	for id := range s.caches {
		if m.caches[id] == nil {
			out = append(out, mm(mmPhantom, "replication group %s exists, but no acknowledged or unanswered CreateReplicationGroup made it", id))
		}
	}
	if settled || s.stable {
		out = append(out, crossCheck(s)...)
	}
	return out
}

// lostKind is the kind of a mismatch on resource key: half-applied when an
// unanswered operation touched it, lost otherwise.
func (m *model) lostKind(key string) string {
	if m.resolved[key] {
		return mmHalf
	}
	return mmLost
}

// crossCheck checks that both sides of the membership relation agree:
// user.UserGroupIds and group.UserIds.
func crossCheck(s *snapshot) []mismatch {
	var out []mismatch
	for gid, g := range s.groups {
		for _, uid := range g.UserIds {
			u, ok := s.users[uid]
			if !ok {
				out = append(out, mm(mmMembership, "group %s lists user %s, which DescribeUsers does not", gid, uid))
			} else if !slices.Contains(u.UserGroupIds, gid) {
				out = append(out, mm(mmMembership, "group %s lists user %s, whose UserGroupIds %v do not list the group", gid, uid, u.UserGroupIds))
			}
		}
	}
	for uid, u := range s.users {
		for _, gid := range u.UserGroupIds {
			g, ok := s.groups[gid]
			if !ok {
				out = append(out, mm(mmMembership, "user %s lists group %s, which DescribeUserGroups does not", uid, gid))
			} else if !slices.Contains(g.UserIds, uid) {
				out = append(out, mm(mmMembership, "user %s lists group %s, whose UserIds %v do not list the user", uid, gid, g.UserIds))
			}
		}
	}
	return out
}

// nodeAddrs returns the node addresses of a replication group.
func nodeAddrs(rg types.ReplicationGroup) []string {
	var out []string
	for _, ng := range rg.NodeGroups {
		for _, m := range ng.NodeGroupMembers {
			if m.ReadEndpoint != nil && aws.ToInt32(m.ReadEndpoint.Port) != 0 {
				out = append(out, net.JoinHostPort(aws.ToString(m.ReadEndpoint.Address), strconv.Itoa(int(aws.ToInt32(m.ReadEndpoint.Port)))))
			}
		}
	}
	return out
}

// aclResult is the data plane compared with the model.
type aclResult struct {
	nodes          int
	auths          int // AUTH attempts
	staleEntries   int // ACL users on a node that must not be there
	missingEntries int
	staleAuths     int // AUTHs accepted that must be refused
	missingAuths   int // AUTHs refused that must be accepted
	openWrong      int // unauthenticated access wrong (open vs closed)
	probeErrs      []string
	details        []string
}

func (r aclResult) ok() bool {
	return r.staleEntries == 0 && r.missingEntries == 0 && r.staleAuths == 0 && r.missingAuths == 0 && r.openWrong == 0 && len(r.probeErrs) == 0
}

// mismatched reports whether a node was seen to disagree with the model
// (probe errors aside).
func (r aclResult) mismatched() bool {
	return r.staleEntries > 0 || r.missingEntries > 0 || r.staleAuths > 0 || r.missingAuths > 0 || r.openWrong > 0
}

func (r aclResult) summary() string {
	return fmt.Sprintf("%d nodes, %d AUTHs: stale entries %d, missing entries %d, stale AUTHs %d, refused valid AUTHs %d, wrong open/closed %d, probe errors %d",
		r.nodes, r.auths, r.staleEntries, r.missingEntries, r.staleAuths, r.missingAuths, r.openWrong, len(r.probeErrs))
}

type nodeExpect struct {
	cache    string
	addr     string
	hasGroup bool
	names    map[string]bool // ACL users the node must have (besides keyward-admin)
	valid    map[cred]bool
	creds    []cred
}

// expectations returns what each node of each live cache must accept.
// Requires m.mu.
func (m *model) expectations(s *snapshot) []nodeExpect {
	all := m.allCreds()
	var out []nodeExpect
	for _, c := range m.liveCaches() {
		rg, ok := s.caches[c.id]
		if !ok {
			continue
		}
		e := nodeExpect{cache: c.id, hasGroup: c.group != "", names: map[string]bool{"default": true}, valid: map[cred]bool{}}
		if g := m.groups[c.group]; g != nil {
			for uid := range g.members {
				u := m.users[uid]
				e.names[u.name] = true
				for _, p := range u.pws {
					e.valid[cred{user: u.id, name: u.name, pw: p}] = true
				}
			}
		}
		for _, cr := range all {
			if !e.hasGroup && cr.name == "default" {
				continue // open default user: nopass accepts any password
			}
			e.creds = append(e.creds, cr)
		}
		for _, addr := range nodeAddrs(rg) {
			e.addr = addr
			out = append(out, e)
		}
	}
	return out
}

// why explains why a credential must be refused. Requires m.mu.
func (m *model) why(cr cred, cache string) string {
	u := m.users[cr.user]
	switch {
	case u == nil:
		return "never created"
	case u.deleted:
		return "deleted user"
	case !slices.Contains(u.pws, cr.pw):
		return "old password"
	}
	c := m.caches[cache]
	if c.group == "" {
		return "cache has no user group"
	}
	return "not a member of " + c.group
}

// checkACL probes every node of every live cache: its ACL users (as the
// admin user) and an AUTH for every credential ever sent.
func (m *model) checkACL(ctx context.Context, s *snapshot, tlsConf *tls.Config, dataDir string) aclResult {
	m.mu.Lock()
	exps := m.expectations(s)
	m.mu.Unlock()
	var res aclResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, e := range exps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r := probeNode(ctx, e, tlsConf, dataDir)
			mu.Lock()
			defer mu.Unlock()
			res.nodes++
			res.auths += r.auths
			res.staleEntries += r.staleEntries
			res.missingEntries += r.missingEntries
			res.openWrong += r.openWrong
			res.probeErrs = append(res.probeErrs, r.probeErrs...)
			res.details = append(res.details, r.details...)
			for _, cr := range r.stale {
				res.staleAuths++
				m.mu.Lock()
				res.details = append(res.details, fmt.Sprintf("%s %s: AUTH %s (user %s, %s) accepted", e.cache, e.addr, cr.name, cr.user, m.why(cr, e.cache)))
				m.mu.Unlock()
			}
			for _, cr := range r.missing {
				res.missingAuths++
				res.details = append(res.details, fmt.Sprintf("%s %s: AUTH %s (user %s, current member) refused", e.cache, e.addr, cr.name, cr.user))
			}
		}()
	}
	wg.Wait()
	slices.Sort(res.details)
	return res
}

type nodeProbe struct {
	auths, staleEntries, missingEntries, openWrong int
	stale, missing                                 []cred
	probeErrs, details                             []string
}

func nodeClient(addr string, tlsConf *tls.Config, user, pw string) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr: addr, TLSConfig: tlsConf, Username: user, Password: pw,
		Protocol: 2, PoolSize: 1, MaxRetries: -1, DisableIdentity: true,
		DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
	})
}

func probeNode(ctx context.Context, e nodeExpect, tlsConf *tls.Config, dataDir string) nodeProbe {
	var p nodeProbe
	admin := adminNodeClient(dataDir, e.addr, tlsConf)
	defer admin.Close()
	names, err := admin.Do(ctx, "ACL", "USERS").StringSlice()
	if err != nil {
		p.probeErrs = append(p.probeErrs, fmt.Sprintf("%s %s: ACL USERS: %v", e.cache, e.addr, err))
		return p
	}
	for _, n := range names {
		if !engine.IsReservedUserName(n) && !e.names[n] {
			p.staleEntries++
			p.details = append(p.details, fmt.Sprintf("%s %s: stale ACL user %s", e.cache, e.addr, n))
		}
	}
	for n := range e.names {
		if !slices.Contains(names, n) {
			p.missingEntries++
			p.details = append(p.details, fmt.Sprintf("%s %s: ACL user %s missing", e.cache, e.addr, n))
		}
	}
	// Unauthenticated access: open only without a user group.
	anon := nodeClient(e.addr, tlsConf, "", "")
	err = anon.Ping(ctx).Err()
	anon.Close()
	if err != nil && !strings.Contains(err.Error(), "NOAUTH") {
		p.probeErrs = append(p.probeErrs, fmt.Sprintf("%s %s: PING: %v", e.cache, e.addr, err))
		return p
	}
	if (err == nil) == e.hasGroup {
		p.openWrong++
		p.details = append(p.details, fmt.Sprintf("%s %s: unauthenticated PING answered %v with user group=%v", e.cache, e.addr, err, e.hasGroup))
	}
	accepted, err := authAll(ctx, e.addr, tlsConf, e.creds)
	if err != nil {
		p.probeErrs = append(p.probeErrs, fmt.Sprintf("%s %s: AUTH probes: %v", e.cache, e.addr, err))
		return p
	}
	p.auths = len(e.creds)
	for i, cr := range e.creds {
		switch {
		case accepted[i] && !e.valid[cr]:
			p.stale = append(p.stale, cr)
		case !accepted[i] && e.valid[cr]:
			p.missing = append(p.missing, cr)
		}
	}
	for cr := range e.valid {
		if !slices.Contains(e.creds, cr) {
			p.details = append(p.details, fmt.Sprintf("internal: credential of %s not probed", cr.user))
		}
	}
	return p
}

// authAll sends AUTH for each credential on one connection and reports
// which were accepted. A refusal is WRONGPASS; anything else is an error.
// AUTHs are pipelined in batches: a server closes an unauthenticated
// connection whose pending input grows too large.
func authAll(ctx context.Context, addr string, tlsConf *tls.Config, creds []cred) ([]bool, error) {
	if len(creds) == 0 {
		return nil, nil
	}
	c := nodeClient(addr, tlsConf, "", "")
	defer c.Close()
	const batch = 200
	out := make([]bool, len(creds))
	for start := 0; start < len(creds); start += batch {
		part := creds[start:min(start+batch, len(creds))]
		cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, cr := range part {
				p.Do(ctx, "AUTH", cr.name, cr.pw)
			}
			return nil
		})
		if len(cmds) != len(part) {
			return nil, fmt.Errorf("%d replies for %d AUTHs", len(cmds), len(part))
		}
		for i, cmd := range cmds {
			err := cmd.Err()
			switch {
			case err == nil:
				out[start+i] = true
			case strings.Contains(err.Error(), "WRONGPASS"):
			default:
				return nil, fmt.Errorf("AUTH %d of %d: %w", start+i+1, len(creds), err)
			}
		}
	}
	return out, nil
}

// authOnce tries one AUTH on a fresh connection: accepted, refused
// (WRONGPASS), or an error (node unreachable).
func authOnce(ctx context.Context, addr string, tlsConf *tls.Config, name, pw string) (bool, error) {
	r, err := authAll(ctx, addr, tlsConf, []cred{{name: name, pw: pw}})
	if err != nil {
		return false, err
	}
	return r[0], nil
}

// adminNodeClient logs in as keyward's admin user on the node at addr with
// that node's own password (derived from the data directory's master
// secret; keyward itself uses the node's private socket).
func adminNodeClient(dataDir, addr string, tlsConf *tls.Config) *redis.Client {
	// Prefer the record whose server is live: a directory being removed
	// may still name the same port.
	id := ""
	recs, _ := readNodeRecs(dataDir)
	for _, r := range recs {
		if r.serves(addr) && (id == "" || r.PID > 0 && cmdlineContains(r.PID, r.Dir)) {
			id = r.ID
		}
	}
	pw, _ := engine.NodeAdminPassword(dataDir, id)
	return nodeClient(addr, tlsConf, engine.AdminUser, pw)
}
