package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
)

// op is one planned API call: the resources it touches, the call, what an
// acknowledgement changes in the model (and must say), and how to decide
// whether it was applied when no answer came.
type op struct {
	name string
	keys []string
	call func(ctx context.Context, c *elasticache.Client) (any, error)
	ack  func(out any) []mismatch     // requires m.mu
	pend func(s *snapshot) []mismatch // requires m.mu
	// expect lists error codes that are expected refusals for this call
	// besides the general ones.
	expect []string
}

// workload drives the mixed workload against keyward and keeps the model.
type workload struct {
	m   *model
	st  *stats
	rep *Report
	// kills says that keyward is killed under load, so calls without an
	// answer are expected (and resolved later); otherwise they violate.
	kills bool
	// think is the upper bound of a random pause between a worker's calls.
	think time.Duration
	// reads adds Describe calls to the mix.
	reads bool
	// cacheEvery spaces replication group creations and deletions (each
	// starts or stops redis-server processes) at least this far apart.
	cacheEvery time.Duration
	lastCache  time.Time // guarded by m.mu
}

// cacheTurn reports whether a replication group may be created or deleted
// now, and if so takes the turn. Requires m.mu.
func (w *workload) cacheTurn() bool {
	if w.cacheEvery > 0 && time.Since(w.lastCache) < w.cacheEvery {
		return false
	}
	w.lastCache = time.Now()
	return true
}

// worker runs calls until stop is set or ctx ends.
func (w *workload) worker(ctx context.Context, c *elasticache.Client, rng *rand.Rand, stop *atomic.Bool) {
	for !stop.Load() && ctx.Err() == nil {
		w.m.mu.Lock()
		o := w.plan(rng)
		w.m.mu.Unlock()
		if o == nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		start := time.Now()
		out, err := o.call(ctx, c)
		w.finish(o, out, err, time.Since(start))
		if w.think > 0 {
			time.Sleep(rand.N(w.think))
		}
	}
}

func (w *workload) finish(o *op, out any, err error, d time.Duration) {
	class := w.st.record(o.name, d, err, o.expect...)
	m := w.m
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range o.keys {
		delete(m.busy, k)
	}
	switch class {
	case outAcked:
		if o.ack != nil {
			for _, x := range o.ack(out) {
				w.rep.violate("%s: %s", x.kind, x.msg)
			}
		}
	case outUncertain:
		switch {
		case w.kills:
		case clientGlitch(err):
			// A known client-side race of aws-sdk-go-v2 with net/http
			// (aws/aws-sdk-go-v2#1825, #2737): the client closes its own
			// connection while reading a 200 answer. Counted apart; a
			// write is resolved against keyward's state like any other.
			w.st.mu.Lock()
			w.st.glitches++
			w.st.mu.Unlock()
		default:
			w.rep.violate("%s got no answer: %v", o.name, err)
		}
		if o.pend != nil {
			for _, k := range o.keys {
				m.uncertain[k] = true
			}
			m.pending = append(m.pending, &pendingOp{desc: o.name, keys: o.keys, resolve: o.pend})
		}
	case outUnexpected:
		w.rep.violate("%s: unexpected error: %v", o.name, err)
	}
}

// resolve decides every unanswered operation from s and returns the ones
// applied in part only. Requires m.mu.
func (m *model) resolve(s *snapshot) (n int, out []mismatch) {
	for _, p := range m.pending {
		out = append(out, p.resolve(s)...)
		for _, k := range p.keys {
			delete(m.uncertain, k)
		}
	}
	n = len(m.pending)
	m.pending = nil
	return n, out
}

// plan picks the next operation and marks its resources busy. Requires m.mu.
func (w *workload) plan(rng *rand.Rand) *op {
	m := w.m
	nUsers, nDefaults := len(m.liveUsers(false)), len(m.liveUsers(true))
	nGroups, nCaches := len(m.liveGroups()), len(m.liveCaches())
	type choice struct {
		weight int
		plan   func(*rand.Rand) *op
	}
	choices := []choice{
		{cond(nUsers < m.lim.users, 8), w.planCreateUser(false)},
		{cond(nDefaults < m.lim.defaults, 3), w.planCreateUser(true)},
		{6, w.planModifyUser},
		{cond(nUsers > m.lim.users/2, 6, 2), w.planDeleteUser},
		{cond(nGroups < m.lim.groups, 3), w.planCreateGroup},
		{10, w.planModifyGroup},
		{cond(nGroups > 2, 1), w.planDeleteGroup},
		{cond(nCaches < m.lim.caches, 2), w.planCreateCache},
		{cond(m.lim.caches > 0, 4), w.planModifyCache},
		{cond(nCaches > 1, 1), w.planDeleteCache},
		{cond(w.reads, 6), w.planDescribe},
	}
	total := 0
	for _, c := range choices {
		total += c.weight
	}
	for range 10 {
		x := rng.IntN(total)
		for _, c := range choices {
			if x < c.weight {
				if o := c.plan(rng); o != nil {
					for _, k := range o.keys {
						m.busy[k] = true
					}
					return o
				}
				break
			}
			x -= c.weight
		}
	}
	return nil
}

func cond(ok bool, w int, otherwise ...int) int {
	if ok {
		return w
	}
	if len(otherwise) > 0 {
		return otherwise[0]
	}
	return 0
}

func ackStatus(what, got, want string) []mismatch {
	if got != want {
		return []mismatch{mm(mmAck, "%s answered status %q, want %q", what, got, want)}
	}
	return nil
}

func (w *workload) planCreateUser(def bool) func(*rand.Rand) *op {
	return func(rng *rand.Rand) *op {
		m := w.m
		n := m.next()
		id := fmt.Sprintf("%su%d", m.prefix, n)
		name, tmpl := id, pick(rng, accessTemplates)
		if def {
			id = fmt.Sprintf("%sd%d", m.prefix, n)
			name, tmpl = "default", defaultAccessTemplate
		}
		marker := fmt.Sprintf("%sm%d", m.prefix, n)
		access := fmt.Sprintf(tmpl, marker)
		pws := randPasswords(rng)
		u := &mUser{id: id, name: name, pws: pws}
		m.addCreds(u, pws) // even an unanswered password must never work anywhere
		check := func(what, status, gotAccess string, count int) []mismatch {
			var out []mismatch
			if !strings.Contains(gotAccess, markerPattern(marker)) || count != len(pws) {
				out = append(out, mm(mmAck, "%s %s: access %q, %d passwords; sent %q, %d", what, id, gotAccess, count, access, len(pws)))
			}
			return out
		}
		return &op{
			name: "CreateUser", keys: []string{"u:" + id},
			call: func(ctx context.Context, c *elasticache.Client) (any, error) {
				return c.CreateUser(ctx, &elasticache.CreateUserInput{
					UserId: aws.String(id), UserName: aws.String(name), Engine: aws.String("redis"),
					AccessString: aws.String(access), Passwords: pws,
				})
			},
			ack: func(out any) []mismatch {
				o := out.(*elasticache.CreateUserOutput)
				cnt := -1
				if o.Authentication != nil {
					cnt = int(aws.ToInt32(o.Authentication.PasswordCount))
				}
				u.access = aws.ToString(o.AccessString)
				m.addUser(u)
				return append(ackStatus("CreateUser "+id, aws.ToString(o.Status), "active"), check("CreateUser", "", u.access, cnt)...)
			},
			pend: func(s *snapshot) []mismatch {
				su, ok := s.users[id]
				if !ok {
					return nil
				}
				u.access = aws.ToString(su.AccessString)
				m.addUser(u)
				m.resolved["u:"+id] = true
				if aws.ToString(su.UserName) != name {
					return []mismatch{mm(mmHalf, "unanswered CreateUser %s: user name %q", id, aws.ToString(su.UserName))}
				}
				return check("unanswered CreateUser", "", u.access, pwCount(su))
			},
		}
	}
}

func (w *workload) planModifyUser(rng *rand.Rand) *op {
	m := w.m
	cands := append(m.freeUsers(false), m.freeUsers(true)...)
	if len(cands) == 0 {
		return nil
	}
	u := pick(rng, cands)
	n := m.next()
	marker := fmt.Sprintf("%sm%d", m.prefix, n)
	tmpl := pick(rng, accessTemplates)
	if u.isDefault() {
		tmpl = defaultAccessTemplate
	}
	access := fmt.Sprintf(tmpl, marker)
	var newPws []string
	if rng.IntN(2) == 0 {
		newPws = randPasswords(rng)
		m.addCreds(u, newPws)
	}
	oldAccess, oldPws := u.access, u.pws
	wantCount := len(oldPws)
	if newPws != nil {
		wantCount = len(newPws)
	}
	apply := func(gotAccess string) {
		u.access = gotAccess
		if newPws != nil {
			u.pws = newPws
		}
	}
	return &op{
		name: "ModifyUser", keys: []string{"u:" + u.id},
		call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			return c.ModifyUser(ctx, &elasticache.ModifyUserInput{UserId: aws.String(u.id), AccessString: aws.String(access), Passwords: newPws})
		},
		ack: func(out any) []mismatch {
			o := out.(*elasticache.ModifyUserOutput)
			got := aws.ToString(o.AccessString)
			apply(got)
			res := ackStatus("ModifyUser "+u.id, aws.ToString(o.Status), "modifying")
			if !strings.Contains(got, markerPattern(marker)) || o.Authentication == nil || int(aws.ToInt32(o.Authentication.PasswordCount)) != wantCount {
				res = append(res, mm(mmAck, "ModifyUser %s answered access %q, passwords %v; sent %q, %d", u.id, got, o.Authentication, access, wantCount))
			}
			return res
		},
		pend: func(s *snapshot) []mismatch {
			m.resolved["u:"+u.id] = true
			su, ok := s.users[u.id]
			if !ok {
				return []mismatch{mm(mmHalf, "user %s vanished after an unanswered ModifyUser", u.id)}
			}
			got := aws.ToString(su.AccessString)
			switch {
			case strings.Contains(got, markerPattern(marker)):
				apply(got)
				if pwCount(su) != wantCount {
					return []mismatch{mm(mmHalf, "unanswered ModifyUser %s: new access string applied with %d passwords, want %d", u.id, pwCount(su), wantCount)}
				}
			case got == oldAccess:
				if pwCount(su) != len(oldPws) {
					return []mismatch{mm(mmHalf, "unanswered ModifyUser %s: old access string kept with %d passwords, want %d", u.id, pwCount(su), len(oldPws))}
				}
			default:
				return []mismatch{mm(mmHalf, "unanswered ModifyUser %s: access %q is neither the old %q nor the new %q", u.id, got, oldAccess, access)}
			}
			return nil
		},
	}
}

func (w *workload) planDeleteUser(rng *rand.Rand) *op {
	m := w.m
	var cands []*mUser
	for _, u := range append(m.freeUsers(false), m.freeUsers(true)...) {
		groups := m.groupsOf(u.id)
		if u.isDefault() && len(groups) > 0 {
			continue // DefaultUserAssociatedToUserGroup
		}
		if !slices.ContainsFunc(groups, func(g string) bool { return !m.free("g:" + g) }) {
			cands = append(cands, u)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	u := pick(rng, cands)
	groups := m.groupsOf(u.id)
	keys := []string{"u:" + u.id}
	for _, g := range groups {
		keys = append(keys, "g:"+g)
	}
	apply := func() {
		m.delUser(u)
		for _, g := range groups {
			delete(m.groups[g].members, u.id)
		}
	}
	var expect []string
	if u.isDefault() {
		// A default user swapped out of a group stays its default until
		// the swap is applied.
		expect = []string{"DefaultUserAssociatedToUserGroup"}
	}
	return &op{
		name: "DeleteUser", keys: keys, expect: expect,
		call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			return c.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(u.id)})
		},
		ack: func(out any) []mismatch {
			apply()
			return ackStatus("DeleteUser "+u.id, aws.ToString(out.(*elasticache.DeleteUserOutput).Status), "deleting")
		},
		pend: func(s *snapshot) []mismatch {
			for _, k := range keys {
				m.resolved[k] = true
			}
			su, ok := s.users[u.id]
			if !ok || aws.ToString(su.Status) == "deleting" {
				apply()
			}
			return nil
		},
	}
}

func (w *workload) planCreateGroup(rng *rand.Rand) *op {
	m := w.m
	defaults := m.freeUsers(true)
	if len(defaults) == 0 {
		return nil
	}
	members := append([]string{pick(rng, defaults).id}, idsOf(sample(rng, m.freeUsers(false), rng.IntN(5)))...)
	slices.Sort(members)
	n := m.next()
	id := fmt.Sprintf("%sg%d", m.prefix, n)
	keys := []string{"g:" + id}
	for _, u := range members {
		keys = append(keys, "u:"+u)
	}
	apply := func() {
		g := &mGroup{id: id, members: map[string]bool{}}
		for _, u := range members {
			g.members[u] = true
		}
		m.addGroup(g)
	}
	return &op{
		name: "CreateUserGroup", keys: keys,
		call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			return c.CreateUserGroup(ctx, &elasticache.CreateUserGroupInput{UserGroupId: aws.String(id), Engine: aws.String("redis"), UserIds: members})
		},
		ack: func(out any) []mismatch {
			o := out.(*elasticache.CreateUserGroupOutput)
			apply()
			res := ackStatus("CreateUserGroup "+id, aws.ToString(o.Status), "creating")
			if !idsEqual(o.UserIds, members) {
				res = append(res, mm(mmAck, "CreateUserGroup %s answered UserIds %v, sent %v", id, o.UserIds, members))
			}
			return res
		},
		pend: func(s *snapshot) []mismatch {
			for _, k := range keys {
				m.resolved[k] = true
			}
			if _, ok := s.groups[id]; ok {
				apply()
			}
			return nil
		},
	}
}

// idsOf returns the ids of us, nil for none (an empty list would be sent
// as an empty parameter, which the API refuses).
func idsOf(us []*mUser) []string {
	if len(us) == 0 {
		return nil
	}
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.id
	}
	return out
}

func (w *workload) planModifyGroup(rng *rand.Rand) *op {
	m := w.m
	groups := m.freeGroups()
	if len(groups) == 0 {
		return nil
	}
	g := pick(rng, groups)
	var add, remove []string
	if d := m.defaultOf(g); d != nil && rng.IntN(4) == 0 {
		// Swap the default user.
		others := slices.DeleteFunc(m.freeUsers(true), func(u *mUser) bool { return u.id == d.id })
		if len(others) == 0 || !m.free("u:"+d.id) {
			return nil
		}
		add, remove = []string{pick(rng, others).id}, []string{d.id}
	} else {
		var non, mem []*mUser
		for _, u := range m.freeUsers(false) {
			if g.members[u.id] {
				mem = append(mem, u)
			} else {
				non = append(non, u)
			}
		}
		add, remove = idsOf(sample(rng, non, rng.IntN(3))), idsOf(sample(rng, mem, rng.IntN(3)))
		if len(add) == 0 && len(remove) == 0 {
			return nil
		}
	}
	old := g.memberList()
	next := slices.DeleteFunc(slices.Clone(old), func(id string) bool { return slices.Contains(remove, id) })
	next = append(next, add...)
	slices.Sort(next)
	keys := []string{"g:" + g.id}
	for _, u := range slices.Concat(add, remove) {
		keys = append(keys, "u:"+u)
	}
	apply := func() {
		g.members = map[string]bool{}
		for _, u := range next {
			g.members[u] = true
		}
	}
	return &op{
		name: "ModifyUserGroup", keys: keys,
		call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			return c.ModifyUserGroup(ctx, &elasticache.ModifyUserGroupInput{UserGroupId: aws.String(g.id), UserIdsToAdd: add, UserIdsToRemove: remove})
		},
		ack: func(out any) []mismatch {
			o := out.(*elasticache.ModifyUserGroupOutput)
			apply()
			res := ackStatus("ModifyUserGroup "+g.id, aws.ToString(o.Status), "modifying")
			var pa, pr []string
			if o.PendingChanges != nil {
				pa, pr = o.PendingChanges.UserIdsToAdd, o.PendingChanges.UserIdsToRemove
			}
			if !idsEqual(pa, add) || !idsEqual(pr, remove) || !idsEqual(o.UserIds, old) {
				res = append(res, mm(mmAck, "ModifyUserGroup %s answered UserIds %v pending +%v -%v; had %v, sent +%v -%v", g.id, o.UserIds, pa, pr, old, add, remove))
			}
			return res
		},
		pend: func(s *snapshot) []mismatch {
			for _, k := range keys {
				m.resolved[k] = true
			}
			sg, ok := s.groups[g.id]
			if !ok {
				return []mismatch{mm(mmHalf, "group %s vanished after an unanswered ModifyUserGroup", g.id)}
			}
			switch eff := effMembers(sg); {
			case idsEqual(eff, next):
				apply()
			case idsEqual(eff, old):
			default:
				return []mismatch{mm(mmHalf, "unanswered ModifyUserGroup %s: members %v are neither the old %v nor the new %v", g.id, eff, old, next)}
			}
			return nil
		},
	}
}

func (w *workload) planDeleteGroup(rng *rand.Rand) *op {
	m := w.m
	var cands []*mGroup
	for _, g := range m.freeGroups() {
		if len(m.cachesOf(g.id)) > 0 {
			continue
		}
		if !slices.ContainsFunc(g.memberList(), func(u string) bool { return !m.free("u:" + u) }) {
			cands = append(cands, g)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	g := pick(rng, cands)
	keys := []string{"g:" + g.id}
	for _, u := range g.memberList() {
		keys = append(keys, "u:"+u)
	}
	apply := func() {
		m.delGroup(g)
		g.members = map[string]bool{}
	}
	return &op{
		name: "DeleteUserGroup", keys: keys,
		call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			return c.DeleteUserGroup(ctx, &elasticache.DeleteUserGroupInput{UserGroupId: aws.String(g.id)})
		},
		ack: func(out any) []mismatch {
			apply()
			return ackStatus("DeleteUserGroup "+g.id, aws.ToString(out.(*elasticache.DeleteUserGroupOutput).Status), "deleting")
		},
		pend: func(s *snapshot) []mismatch {
			for _, k := range keys {
				m.resolved[k] = true
			}
			sg, ok := s.groups[g.id]
			if !ok || aws.ToString(sg.Status) == "deleting" {
				apply()
			}
			return nil
		},
	}
}

func (w *workload) planCreateCache(rng *rand.Rand) *op {
	m := w.m
	if !w.cacheTurn() {
		return nil
	}
	n := m.next()
	id := fmt.Sprintf("%sc%d", m.prefix, n)
	nodes := 1 + rng.IntN(max(1, m.lim.maxNodes))
	group := ""
	if gs := m.freeGroups(); len(gs) > 0 && rng.IntN(10) < 8 {
		group = pick(rng, gs).id
	}
	keys := []string{"c:" + id}
	var groups []string
	if group != "" {
		keys = append(keys, "g:"+group)
		groups = []string{group}
	}
	apply := func() { m.addCache(&mCache{id: id, nodes: nodes, group: group}) }
	return &op{
		name: "CreateReplicationGroup", keys: keys,
		call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			return c.CreateReplicationGroup(ctx, &elasticache.CreateReplicationGroupInput{
				ReplicationGroupId: aws.String(id), ReplicationGroupDescription: aws.String("chaos"),
				NumCacheClusters: aws.Int32(int32(nodes)), TransitEncryptionEnabled: aws.Bool(true), UserGroupIds: groups,
			})
		},
		ack: func(out any) []mismatch {
			rg := out.(*elasticache.CreateReplicationGroupOutput).ReplicationGroup
			apply()
			res := ackStatus("CreateReplicationGroup "+id, aws.ToString(rg.Status), "creating")
			if !idsEqual(rg.UserGroupIds, groups) {
				res = append(res, mm(mmAck, "CreateReplicationGroup %s answered UserGroupIds %v, sent %v", id, rg.UserGroupIds, groups))
			}
			return res
		},
		pend: func(s *snapshot) []mismatch {
			for _, k := range keys {
				m.resolved[k] = true
			}
			if _, ok := s.caches[id]; ok {
				apply()
			}
			return nil
		},
	}
}

func (w *workload) planModifyCache(rng *rand.Rand) *op {
	m := w.m
	var cands []*mCache
	for _, c := range m.liveCaches() {
		if m.free("c:"+c.id) && (c.group == "" || m.free("g:"+c.group)) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	c := pick(rng, cands)
	others := slices.DeleteFunc(m.freeGroups(), func(g *mGroup) bool { return g.id == c.group })
	var add, remove []string
	next := ""
	switch {
	case c.group == "" && len(others) == 0:
		return nil
	case c.group == "":
		next = pick(rng, others).id
		add = []string{next}
	case len(others) == 0 || rng.IntN(3) == 0:
		remove = []string{c.group}
	default:
		next = pick(rng, others).id
		add, remove = []string{next}, []string{c.group}
	}
	old := c.group
	keys := []string{"c:" + c.id}
	for _, g := range slices.Concat(add, remove) {
		keys = append(keys, "g:"+g)
	}
	want := func(g string) []string {
		if g == "" {
			return nil
		}
		return []string{g}
	}
	return &op{
		name: "ModifyReplicationGroup", keys: keys,
		call: func(ctx context.Context, cl *elasticache.Client) (any, error) {
			return cl.ModifyReplicationGroup(ctx, &elasticache.ModifyReplicationGroupInput{
				ReplicationGroupId: aws.String(c.id), UserGroupIdsToAdd: add, UserGroupIdsToRemove: remove, ApplyImmediately: aws.Bool(true),
			})
		},
		ack: func(out any) []mismatch {
			rg := out.(*elasticache.ModifyReplicationGroupOutput).ReplicationGroup
			c.group = next
			res := ackStatus("ModifyReplicationGroup "+c.id, aws.ToString(rg.Status), "modifying")
			if !idsEqual(effGroups(*rg), want(next)) {
				res = append(res, mm(mmAck, "ModifyReplicationGroup %s answered groups %v pending %+v; sent +%v -%v", c.id, rg.UserGroupIds, rg.PendingModifiedValues, add, remove))
			}
			return res
		},
		pend: func(s *snapshot) []mismatch {
			for _, k := range keys {
				m.resolved[k] = true
			}
			sc, ok := s.caches[c.id]
			if !ok {
				return []mismatch{mm(mmHalf, "replication group %s vanished after an unanswered ModifyReplicationGroup", c.id)}
			}
			switch eff := effGroups(sc); {
			case idsEqual(eff, want(next)):
				c.group = next
			case idsEqual(eff, want(old)):
			default:
				return []mismatch{mm(mmHalf, "unanswered ModifyReplicationGroup %s: groups %v are neither %v nor %v", c.id, eff, old, next)}
			}
			return nil
		},
	}
}

func (w *workload) planDeleteCache(rng *rand.Rand) *op {
	m := w.m
	var cands []*mCache
	for _, c := range m.liveCaches() {
		if m.free("c:" + c.id) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 || !w.cacheTurn() {
		return nil
	}
	c := pick(rng, cands)
	return &op{
		name: "DeleteReplicationGroup", keys: []string{"c:" + c.id},
		call: func(ctx context.Context, cl *elasticache.Client) (any, error) {
			return cl.DeleteReplicationGroup(ctx, &elasticache.DeleteReplicationGroupInput{ReplicationGroupId: aws.String(c.id)})
		},
		ack: func(out any) []mismatch {
			m.delCache(c)
			return ackStatus("DeleteReplicationGroup "+c.id, aws.ToString(out.(*elasticache.DeleteReplicationGroupOutput).ReplicationGroup.Status), "deleting")
		},
		pend: func(s *snapshot) []mismatch {
			m.resolved["c:"+c.id] = true
			sc, ok := s.caches[c.id]
			if !ok || aws.ToString(sc.Status) == "deleting" {
				m.delCache(c)
			}
			return nil
		},
	}
}

// planDescribe is a read; it changes nothing and touches nothing.
func (w *workload) planDescribe(rng *rand.Rand) *op {
	m := w.m
	switch rng.IntN(3) {
	case 0:
		us := m.liveUsers(false)
		if len(us) == 0 {
			return nil
		}
		id := pick(rng, us).id
		return &op{name: "DescribeUsers", call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			out, err := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)})
			return out, tolerateNotFound(err, "UserNotFound")
		}}
	case 1:
		return &op{name: "DescribeUserGroups", call: func(ctx context.Context, c *elasticache.Client) (any, error) {
			return c.DescribeUserGroups(ctx, &elasticache.DescribeUserGroupsInput{MaxRecords: aws.Int32(50)})
		}}
	}
	return &op{name: "DescribeReplicationGroups", call: func(ctx context.Context, c *elasticache.Client) (any, error) {
		return c.DescribeReplicationGroups(ctx, &elasticache.DescribeReplicationGroupsInput{MaxRecords: aws.Int32(50)})
	}}
}

func clientGlitch(err error) bool {
	return err != nil && strings.Contains(err.Error(), "deserialization failed") && strings.Contains(err.Error(), "use of closed network connection")
}

// tolerateNotFound turns a not-found answer into success: a read racing a
// deletion finishing is fine.
func tolerateNotFound(err error, code string) error {
	if c, _ := classify(err); c == outUnexpected && strings.Contains(err.Error(), code) {
		return nil
	}
	return err
}
