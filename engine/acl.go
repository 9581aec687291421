package engine

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// AdminUser is the ACL user keyward itself uses on every node (and replicas
// use to sync from their primary). ApplyACL always keeps it intact and
// refuses a tenant user of that name; the API must refuse it as a user name
// (see IsReservedUserName).
const AdminUser = "keyward-admin"

// scratchUser is the user ApplyACL renders desired users through, inside a
// transaction, to compare them with the node's (never visible to clients).
const scratchUser = "keyward-scratch"

// IsReservedUserName reports whether name is reserved for keyward's own ACL
// users ("keyward-admin", "keyward-repl" and "keyward-scratch") and so
// cannot name a tenant user.
func IsReservedUserName(name string) bool {
	return name == AdminUser || name == ReplUser || name == scratchUser
}

// ErrInvalidRules is wrapped by ApplyACL's error when the engine refused a
// user's rules (an unknown command, a malformed rule): retrying cannot
// help until the rules change.
var ErrInvalidRules = errors.New("engine: acl rules rejected by the engine")

// tenantDenials are appended to the rules of every tenant user and inside
// every one of its selectors, so that they win over anything the access
// string grants. They are ElastiCache's restricted commands plus what would
// let a tenant escape its ACL:
//
//   - ACL subcommands that write ACLs (SETUSER, DELUSER, LOAD, SAVE) or
//     reveal other users' password hashes and activity (LIST, GETUSER,
//     LOG, DRYRUN). ElastiCache lets clients run ACL LIST because it strips
//     the hashes; a plain engine does not, so LIST is denied here. WHOAMI,
//     CAT, USERS, GENPASS and HELP stay as the access string says
//     (TestTenantDenials_CoverACLSubcommands fails when an engine grows an
//     ACL subcommand that is in neither list).
//   - CONFIG (would reveal masterauth, the admin secret, and rewrite
//     anything), MODULE and DEBUG (also disabled in the configuration).
//   - SHUTDOWN, REPLICAOF, SLAVEOF, FAILOVER: stopping or re-pointing the
//     node is keyward's job.
//   - SYNC and PSYNC: a replication stream carries every key, whatever the
//     user's key patterns.
//   - BGREWRITEAOF, BGSAVE, SAVE, MIGRATE, MONITOR (MONITOR shows every
//     client's commands).
//   - the CLUSTER subcommands that change a Redis Cluster's membership,
//     slots or replication (MEET, FORGET, ADDSLOTS, SETSLOT, REPLICATE,
//     FAILOVER, RESET...).
//   - CLIENT KILL: the engine cannot limit it to the tenant's own
//     connections, and it would drop keyward's admin connection and the
//     replication link (ElastiCache keeps its management connections out
//     of tenants' reach). CLIENT PAUSE stays as the access string says, as
//     on ElastiCache: keyward recovers a paused node itself.
var tenantDenials = []string{
	"-acl|setuser", "-acl|deluser", "-acl|load", "-acl|save",
	"-acl|list", "-acl|getuser", "-acl|log", "-acl|dryrun",
	"-config", "-module", "-debug",
	"-shutdown", "-replicaof", "-slaveof", "-failover",
	"-sync", "-psync",
	"-bgrewriteaof", "-bgsave", "-save", "-migrate", "-monitor",
	"-client|kill",
	// The cluster's shape (slots, membership, replication) is keyward's
	// in cluster mode too; tenants keep SLOTS, SHARDS, NODES, INFO...
	"-cluster|addslots", "-cluster|addslotsrange", "-cluster|bumpepoch", "-cluster|delslots",
	"-cluster|delslotsrange", "-cluster|failover", "-cluster|flushslots", "-cluster|forget",
	"-cluster|meet", "-cluster|replicate", "-cluster|reset", "-cluster|saveconfig",
	"-cluster|set-config-epoch", "-cluster|setslot",
}

// TenantDenials returns (a copy of) the rules appended to every tenant
// user's rules and selectors; see ApplyACL.
func TenantDenials() []string { return slices.Clone(tenantDenials) }

// ACLUser is a desired ACL user of a node. Rules are applied after
// "reset", each element one ACL SETUSER argument; a selector is one element,
// "(~k* -@all +get)". Password rules belong here too:
//
//	{"on", "#<sha256 hex>", "allchannels", "~*", "+@all"}
//	{"on", "nopass", "allchannels", "~*", "+@all"}
//
// keyward.ParseAccessString(s).Rules() gives the rules of an access string
// (channels stated explicitly); put the password rules after its first
// element or anywhere: their position does not matter.
type ACLUser struct {
	Name  string
	Rules []string
}

// withDenials returns rules followed by the tenant denials, which are also
// added at the end of each selector element.
func withDenials(rules []string) ([]string, error) {
	out := make([]string, 0, len(rules)+len(tenantDenials)+1)
	for _, r := range rules {
		if r == "" || strings.ContainsFunc(r, isSpace) && !strings.HasPrefix(r, "(") {
			return nil, fmt.Errorf("rule %q: each rule must be one non-empty word, or one whole selector \"( … )\"", r)
		}
		if strings.HasPrefix(r, "(") {
			if !strings.HasSuffix(r, ")") {
				return nil, fmt.Errorf("rule %q: a selector must be one element \"( … )\"", r)
			}
			r = strings.TrimSuffix(r, ")") + " " + strings.Join(tenantDenials, " ") + ")"
		}
		out = append(out, r)
	}
	return append(out, tenantDenials...), nil
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

func validUserName(name string) bool {
	return name != "" && !strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == 0x7f })
}

// RulesRefusedError is ApplyACL's error when the engine refused the rules
// of some users (an unknown command, a malformed rule). Those users were
// left off the node, so they cannot log in; every other user was applied.
// Retrying cannot help until their rules change.
type RulesRefusedError struct {
	Node string
	// Users maps each refused user to the reason.
	Users map[string]string
}

func (e *RulesRefusedError) Error() string {
	names := slices.Sorted(maps.Keys(e.Users))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = "user " + n + ": " + e.Users[n]
	}
	return fmt.Sprintf("%s: %s", ErrInvalidRules, strings.Join(parts, "; "))
}

func (e *RulesRefusedError) Unwrap() error { return ErrInvalidRules }

// ApplyACL makes the ACL users of node id exactly users, plus AdminUser and
// ReplUser (always kept as keyward needs them), and returns whether it
// wrote anything.
//
//   - Each user is set with ACL SETUSER <name> reset <rules> <TenantDenials>
//     only if that differs from what the node has (compared by rendering
//     the desired user through a scratch user in a transaction, so the
//     engine's own normalisation decides). Changing an existing user keeps
//     its open connections, as ModifyUser does on ElastiCache.
//   - A user whose rules the engine (or ApplyACL) refuses is left off the
//     node, so it is denied, and reported in a *RulesRefusedError; every
//     other user is still applied. One user's rules never hold back
//     another's change or removal.
//   - Every other user is deleted (which closes its connections; a CLIENT
//     KILL USER precedes the delete for good measure), except "default",
//     which always exists: if users has no "default", it is set to
//     "reset off" (closed). With access control disabled, pass
//     {"default", {"on", "nopass", "allchannels", "~*", "+@all"}}.
//   - The connections of each user named in kill are closed if this call
//     changes that user (e.g. "default" on a default-user swap). A user this
//     call leaves as it was is not killed, so retrying an ApplyACL that
//     already succeeded does not disconnect clients that connected since.
//   - The writes and kills run in one MULTI/EXEC, so clients never see a
//     half-applied state; except that users the previous call on the same
//     admin connection left on the node and users no longer names are
//     deleted first, in a transaction of their own, so that a revocation
//     is one round trip and does not wait for the comparison of every
//     other user. A client may then briefly see a user gone before
//     another's change lands: access only ever narrows early. When the
//     call only removes users (every other user as that previous call
//     applied it), nothing more is sent: drift made by someone else since
//     is repaired by the next call that changes nothing, the periodic
//     resync's.
//
// The Manager remembers the users of the last call: a node that restarts
// starts closed and gets them back before it is reported running.
//
// Returns ErrNodeNotFound, ErrNodeNotRunning (retry later), or a
// *RulesRefusedError (wrapping ErrInvalidRules) when only refused users
// are missing. Calls for one node are serialised.
func (m *Manager) ApplyACL(ctx context.Context, id string, users []ACLUser, kill []string) (changed bool, err error) {
	n, err := m.lookup(id)
	if err != nil {
		return false, fmt.Errorf("engine: apply acl on %s: %w", id, err)
	}
	desired, refused := m.desiredUsers(n, users)
	m.mu.Lock()
	n.want = &aclState{desired: desired, refused: refused, kill: slices.Clone(kill)}
	m.mu.Unlock()
	var rerr *RulesRefusedError
	err = m.withAdminRetry(ctx, n, func(c *respConn) error {
		changed, rerr, err = m.applyState(ctx, n, c, desired, refused, kill)
		return err
	})
	if err != nil {
		return changed, fmt.Errorf("engine: apply acl on %s: %w", id, err)
	}
	if changed {
		m.log.Debug("engine: applied acl", "node", id)
	}
	if rerr != nil {
		return changed, rerr
	}
	return changed, nil
}

// aclState is what the last ApplyACL asked of a node.
type aclState struct {
	desired []ACLUser
	refused map[string]string // refused before reaching the engine
	kill    []string
}

// applyState applies desired on c and reports refused users, logging each
// refusal once (while it stays the same).
func (m *Manager) applyState(ctx context.Context, n *node, c *respConn, desired []ACLUser, refused map[string]string, kill []string) (bool, *RulesRefusedError, error) {
	all := maps.Clone(refused)
	if all == nil {
		all = map[string]string{}
	}
	changed, err := applyACL(ctx, c, desired, all, kill)
	if err != nil {
		return changed, nil, err
	}
	if len(all) == 0 {
		n.reported = nil
		return changed, nil, nil
	}
	if !maps.Equal(all, n.reported) {
		for name, why := range all {
			if n.reported[name] != why {
				m.log.Error("engine: user left off the node: the engine refused its rules", "node", n.id, "user", name, "reason", why)
			}
		}
		n.reported = all
	}
	return changed, &RulesRefusedError{Node: n.id, Users: all}, nil
}

// desiredUsers validates users and returns the full SETUSER rules of
// every user the node must have, sorted by name, and the users refused
// (reason by name), which the node must not have.
func (m *Manager) desiredUsers(n *node, users []ACLUser) ([]ACLUser, map[string]string) {
	// The drift resync asks every node every 2 s with the same users: the
	// last result is reused while the users and the node's replication
	// identity are the same (the admin and replication rules hash secrets).
	spec := m.specOf(n.id)
	m.mu.Lock()
	memo := n.desiredMemo
	m.mu.Unlock()
	if memo != nil && memo.replGroup == spec.ReplGroup && memo.cluster == spec.Cluster && sameUsers(memo.in, users) {
		return memo.out, memo.refused
	}
	out, refused := m.planUsers(n.id, spec, users)
	in := make([]ACLUser, len(users))
	for i, u := range users {
		in[i] = ACLUser{u.Name, slices.Clone(u.Rules)}
	}
	m.mu.Lock()
	n.desiredMemo = &desiredMemo{in: in, replGroup: spec.ReplGroup, cluster: spec.Cluster, out: out, refused: refused}
	m.mu.Unlock()
	return out, refused
}

// desiredMemo is the last result of desiredUsers on a node. Neither out
// nor refused is modified once returned (applyState clones refused).
type desiredMemo struct {
	in        []ACLUser
	replGroup string
	cluster   bool
	out       []ACLUser
	refused   map[string]string
}

// planUsers is desiredUsers without the memo.
func (m *Manager) planUsers(id string, spec NodeSpec, users []ACLUser) ([]ACLUser, map[string]string) {
	out := make([]ACLUser, 0, len(users)+3)
	var refused map[string]string
	refuse := func(name, why string) {
		if refused == nil {
			refused = map[string]string{}
		}
		refused[name] = why
	}
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		switch {
		case !validUserName(u.Name):
			refuse(fmt.Sprintf("%q", u.Name), "invalid user name")
			continue
		case IsReservedUserName(u.Name):
			refuse(u.Name, "reserved user name")
			continue
		case seen[u.Name]:
			refuse(u.Name, "user given twice")
			continue
		}
		seen[u.Name] = true
		rules, err := withDenials(u.Rules)
		if err != nil {
			refuse(u.Name, err.Error())
			continue
		}
		out = append(out, ACLUser{u.Name, append([]string{"reset"}, rules...)})
	}
	out = slices.DeleteFunc(out, func(u ACLUser) bool { _, bad := refused[u.Name]; return bad })
	if !seen["default"] {
		out = append(out, ACLUser{"default", []string{"reset", "off"}})
	} else if _, bad := refused["default"]; bad {
		out = append(out, ACLUser{"default", []string{"reset", "off"}})
	}
	out = append(out,
		ACLUser{AdminUser, append([]string{"reset"}, m.adminRules(id)...)},
		ACLUser{ReplUser, append([]string{"reset"}, m.replRules(spec)...)})
	slices.SortFunc(out, func(a, b ACLUser) int { return strings.Compare(a.Name, b.Name) })
	return out, refused
}

// refusedRules is a cached refusal of a rendering.
type refusedRules string

// applyACL makes the node's users desired. Users the engine refuses are
// added to refused (name -> reason) and left off the node.
func applyACL(ctx context.Context, c *respConn, desired []ACLUser, refused map[string]string, kill []string) (bool, error) {
	if c.list != nil && sameUsers(c.last, desired) {
		// Nothing changed on keyward's side: the node is as the last
		// comparison left it unless its ACL LIST says otherwise.
		same, err := listUnchanged(ctx, c)
		if err != nil {
			return false, err
		}
		if same {
			maps.Copy(refused, c.lastRefused)
			return false, nil
		}
	}
	c.setList(nil)
	revoked, drops, err := revokeFirst(ctx, c, desired)
	if err != nil {
		return false, err
	}
	if drops && onlyDrops(c.last, desired) {
		// The change was only removals, now done, and every other user is
		// as the last apply on this connection left it: nothing to
		// compare. Drift made meanwhile by someone else is the periodic
		// resync's to repair (its applies change nothing, so they compare).
		c.last = desired
		for name, why := range c.lastRefused {
			if slices.ContainsFunc(desired, func(d ACLUser) bool { return d.Name == name }) {
				refused[name] = why
			} else {
				delete(c.lastRefused, name)
			}
		}
		return revoked, nil
	}
	before := maps.Clone(refused)
	changed, err := reconcileACL(ctx, c, desired, refused, kill)
	if err == nil {
		c.last, c.lastRefused = desired, map[string]string{}
		for name, why := range refused {
			if _, ok := before[name]; !ok {
				c.lastRefused[name] = why
			}
		}
	}
	return changed || revoked, err
}

// revokeFirst deletes, in a transaction of their own, the users that the
// last apply on c left on the node and desired no longer has: a revocation
// (DeleteUser, a user leaving a group) then takes one round trip and almost
// no work on the node, instead of waiting behind the comparison of every
// user that reconcileACL makes. drops reports that there were such users,
// deleted whether or not they were still there.
func revokeFirst(ctx context.Context, c *respConn, desired []ACLUser) (deleted, drops bool, err error) {
	var cmds [][]string
	for _, u := range c.last {
		if u.Name == "default" || IsReservedUserName(u.Name) || slices.ContainsFunc(desired, func(d ACLUser) bool { return d.Name == u.Name }) {
			continue
		}
		cmds = append(cmds, []string{"CLIENT", "KILL", "USER", u.Name}, []string{"ACL", "DELUSER", u.Name})
	}
	if len(cmds) == 0 {
		return false, false, nil
	}
	replies, err := c.tx(ctx, cmds)
	if err != nil {
		return false, false, err
	}
	// CLIENT KILL USER fails for a user already gone; DELUSER counts.
	for i := 1; i < len(replies); i += 2 {
		if n, ok := replies[i].(int64); ok && n > 0 {
			deleted = true
		}
	}
	return deleted, true, nil
}

// sameUsers reports whether a and b hold the same users with the same rules.
func sameUsers(a, b []ACLUser) bool {
	return slices.EqualFunc(a, b, func(x, y ACLUser) bool { return x.Name == y.Name && slices.Equal(x.Rules, y.Rules) })
}

// listUnchanged reports whether the node's ACL LIST is still c.list. The
// periodic resync asks every node every 2 s, so the reply is compared as
// the bytes the node sent with the last reply that matched (parsed only
// the first time after a comparison, or when it differs): no parsing and
// no allocation per check at rest.
func listUnchanged(ctx context.Context, c *respConn) (bool, error) {
	raw, err := c.raw(ctx, "ACL", "LIST")
	if err != nil {
		return false, err
	}
	if len(c.listRaw) > 0 && bytes.Equal(raw, c.listRaw) {
		return true, nil
	}
	v, err := readReply(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		return false, err
	}
	if e, ok := v.(respError); ok {
		return false, e
	}
	lines, err := stringList(v)
	if err != nil || !slices.Equal(lines, c.list) {
		return false, err
	}
	c.listRaw = append(c.listRaw[:0], raw...)
	return true, nil
}

// onlyDrops reports whether every user of desired is in last with the
// same rules (both are sorted by name).
func onlyDrops(last, desired []ACLUser) bool {
	i := 0
	for _, d := range desired {
		for i < len(last) && last[i].Name < d.Name {
			i++
		}
		if i == len(last) || last[i].Name != d.Name || !slices.Equal(last[i].Rules, d.Rules) {
			return false
		}
	}
	return true
}

// reconcileACL makes the node's users desired (see applyACL).
func reconcileACL(ctx context.Context, c *respConn, desired []ACLUser, refused map[string]string, kill []string) (bool, error) {
	// 1. Observe, in one transaction: the user list, each desired user as
	// the node has it, and the engine's rendering of each desired user not
	// rendered before on this connection (through the scratch user, which
	// the transaction deletes again, so no client ever sees it). Renderings
	// are cached per connection, i.e. per server process: ACL GETUSER is
	// what costs (about 0.1 ms per user on Redis 7.0), and a no-op apply
	// then describes each user once instead of twice.
	key := func(u ACLUser) string { return strings.Join(u.Rules, "\x00") }
	cmds := [][]string{{"ACL", "USERS"}}
	for _, u := range desired {
		cmds = append(cmds, []string{"ACL", "GETUSER", u.Name})
	}
	var render []int // indexes in desired
	for i, u := range desired {
		if _, ok := c.rendered[key(u)]; !ok {
			render = append(render, i)
			cmds = append(cmds, renderCmds(u)...)
		}
	}
	if len(render) > 0 {
		cmds = append(cmds, []string{"ACL", "DELUSER", scratchUser})
	}
	cmds = append(cmds, []string{"ACL", "LIST"}) // the state observed, for applyACL's next check
	replies, err := c.tx(ctx, cmds)
	if err != nil {
		return false, err
	}
	names, err := stringList(replies[0])
	if err != nil {
		return false, fmt.Errorf("acl users: %w", err)
	}
	rendered := make(map[string]any, len(desired))
	fresh := make(map[string]bool, len(render))
	for _, u := range desired {
		if v, ok := c.rendered[key(u)]; ok {
			rendered[key(u)] = v
		}
	}
	for j, i := range render {
		v, err := renderResult(replies[1+len(desired)+2*j:])
		if err != nil {
			return false, err
		}
		rendered[key(desired[i])] = v
		fresh[key(desired[i])] = true
	}
	cur := make([]any, len(desired))
	for i, u := range desired {
		if e, ok := replies[1+i].(respError); ok {
			return false, fmt.Errorf("acl getuser %s: %w", u.Name, e)
		}
		cur[i] = replies[1+i]
	}

	// 2. A cached rendering that disagrees with the node may be stale:
	// confirm it with a fresh one, read with the node's user in the same
	// transaction, before writing anything.
	var confirm []int
	for i, u := range desired {
		v := rendered[key(u)]
		if _, bad := v.(refusedRules); !bad && !fresh[key(u)] && cur[i] != nil && !replyEqual(v, cur[i]) {
			confirm = append(confirm, i)
		}
	}
	if len(confirm) > 0 {
		cmds = cmds[:0]
		for _, i := range confirm {
			cmds = append(cmds, renderCmds(desired[i])...)
			cmds = append(cmds, []string{"ACL", "GETUSER", desired[i].Name})
		}
		cmds = append(cmds, []string{"ACL", "DELUSER", scratchUser})
		replies, err := c.tx(ctx, cmds)
		if err != nil {
			return false, err
		}
		for j, i := range confirm {
			r := replies[3*j:]
			v, err := renderResult(r)
			if err != nil {
				return false, err
			}
			rendered[key(desired[i])] = v
			if e, ok := r[2].(respError); ok {
				return false, fmt.Errorf("acl getuser %s: %w", desired[i].Name, e)
			}
			cur[i] = r[2]
		}
	}
	c.rendered = rendered // only what is in use, so it stays small
	for i, u := range desired {
		if why, bad := rendered[key(u)].(refusedRules); bad && u.Name == "default" {
			// The default user always exists: a refused one is closed.
			refused[u.Name] = string(why)
			next := slices.Clone(desired)
			next[i] = ACLUser{"default", []string{"reset", "off"}}
			return reconcileACL(ctx, c, next, refused, kill)
		}
	}

	var set []ACLUser
	want := make(map[string]bool, len(desired))
	for i, u := range desired {
		if why, bad := rendered[key(u)].(refusedRules); bad {
			refused[u.Name] = string(why)
			continue
		}
		want[u.Name] = true
		if cur[i] == nil || !replyEqual(rendered[key(u)], cur[i]) {
			set = append(set, u)
		}
	}
	var del []string
	for _, name := range names {
		if !want[name] && name != scratchUser {
			del = append(del, name)
		}
	}
	if len(set) == 0 && len(del) == 0 {
		c.setList(replies[len(replies)-1])
		return false, nil
	}

	// 3. Write and kill in one transaction. CLIENT KILL USER needs an
	// existing user: kill after SETUSER, before DELUSER.
	cmds = cmds[:0]
	for _, u := range set {
		cmds = append(cmds, append([]string{"ACL", "SETUSER", u.Name}, u.Rules...))
	}
	for _, u := range set {
		if slices.Contains(kill, u.Name) && !IsReservedUserName(u.Name) {
			cmds = append(cmds, []string{"CLIENT", "KILL", "USER", u.Name})
		}
	}
	for _, name := range del {
		cmds = append(cmds, []string{"CLIENT", "KILL", "USER", name}, []string{"ACL", "DELUSER", name})
	}
	cmds = append(cmds, []string{"ACL", "LIST"})
	replies, err = c.tx(ctx, cmds)
	if err != nil {
		return false, err
	}
	var errs []error
	for i, r := range replies {
		if e, ok := r.(respError); ok {
			errs = append(errs, fmt.Errorf("%s: %w", strings.Join(cmds[i][:min(3, len(cmds[i]))], " "), e))
		}
	}
	if len(errs) == 0 {
		c.setList(replies[len(replies)-1])
	}
	return true, errors.Join(errs...)
}

// renderCmds renders u through the scratch user: SETUSER, then GETUSER.
func renderCmds(u ACLUser) [][]string {
	return [][]string{
		append([]string{"ACL", "SETUSER", scratchUser}, u.Rules...),
		{"ACL", "GETUSER", scratchUser},
	}
}

// renderResult reads the replies of renderCmds: the rendering, or the
// engine's refusal of the rules.
func renderResult(r []any) (any, error) {
	if e, ok := r[0].(respError); ok {
		return refusedRules(e), nil
	}
	if e, ok := r[1].(respError); ok {
		return nil, fmt.Errorf("acl getuser: %w", e)
	}
	return r[1], nil
}

// ACLList returns the node's ACL LIST, one "user <name> <rules>" line per
// user, AdminUser included.
func (m *Manager) ACLList(ctx context.Context, id string) ([]string, error) {
	n, err := m.lookup(id)
	if err != nil {
		return nil, fmt.Errorf("engine: acl list on %s: %w", id, err)
	}
	var lines []string
	err = m.withAdminRetry(ctx, n, func(c *respConn) error {
		r, err := c.do(ctx, "ACL", "LIST")
		if err != nil {
			return err
		}
		lines, err = stringList(r)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("engine: acl list on %s: %w", id, err)
	}
	return lines, nil
}

func stringList(v any) ([]string, error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want an array, got %T", v)
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("want strings, got %T", e)
		}
		out[i] = s
	}
	return out, nil
}
