package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
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
// users ("keyward-admin" and "keyward-scratch") and so cannot name a tenant
// user.
func IsReservedUserName(name string) bool {
	return name == AdminUser || name == scratchUser
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
var tenantDenials = []string{
	"-acl|setuser", "-acl|deluser", "-acl|load", "-acl|save",
	"-acl|list", "-acl|getuser", "-acl|log", "-acl|dryrun",
	"-config", "-module", "-debug",
	"-shutdown", "-replicaof", "-slaveof", "-failover",
	"-sync", "-psync",
	"-bgrewriteaof", "-bgsave", "-save", "-migrate", "-monitor",
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

// ApplyACL makes the ACL users of node id exactly users, plus AdminUser
// (always kept as keyward needs it), and returns whether it wrote anything.
//
//   - Each user is set with ACL SETUSER <name> reset <rules> <TenantDenials>
//     only if that differs from what the node has (compared by rendering
//     the desired user through a scratch user in a transaction, so the
//     engine's own normalisation decides). Changing an existing user keeps
//     its open connections, as ModifyUser does on ElastiCache.
//   - Every other user is deleted (which closes its connections; a CLIENT
//     KILL USER precedes the delete for good measure), except "default",
//     which always exists: if users has no "default", it is set to
//     "reset off" (closed). With access control disabled, pass
//     {"default", {"on", "nopass", "allchannels", "~*", "+@all"}}.
//   - The connections of each user named in kill are closed if this call
//     changes that user (e.g. "default" on a default-user swap). A user this
//     call leaves as it was is not killed, so retrying an ApplyACL that
//     already succeeded does not disconnect clients that connected since.
//   - The writes, kills and ACL SAVE run in one MULTI/EXEC, so clients never
//     see a half-applied state and a restarted node loads the same users.
//
// Returns ErrNodeNotFound, ErrNodeNotRunning (retry later), or an error
// wrapping ErrInvalidRules when the engine refused a user's rules (nothing
// is written then). Calls for one node are serialised.
func (m *Manager) ApplyACL(ctx context.Context, id string, users []ACLUser, kill []string) (changed bool, err error) {
	n, err := m.lookup(id)
	if err != nil {
		return false, fmt.Errorf("engine: apply acl on %s: %w", id, err)
	}
	desired, err := m.desiredUsers(users)
	if err != nil {
		return false, fmt.Errorf("engine: apply acl on %s: %w", id, err)
	}
	err = m.withAdmin(ctx, n, func(c *respConn) error {
		changed, err = applyACL(ctx, c, desired, kill)
		return err
	})
	if err != nil {
		return changed, fmt.Errorf("engine: apply acl on %s: %w", id, err)
	}
	if changed {
		m.log.Debug("engine: applied acl", "node", id)
	}
	return changed, nil
}

// desiredUsers validates users and returns the full SETUSER rules of
// every user the node must have, sorted by name.
func (m *Manager) desiredUsers(users []ACLUser) ([]ACLUser, error) {
	out := make([]ACLUser, 0, len(users)+2)
	seen := make(map[string]bool, len(users))
	for _, u := range users {
		switch {
		case !validUserName(u.Name):
			return nil, fmt.Errorf("invalid user name %q", u.Name)
		case IsReservedUserName(u.Name):
			return nil, fmt.Errorf("user name %q is reserved", u.Name)
		case seen[u.Name]:
			return nil, fmt.Errorf("user %q given twice", u.Name)
		}
		seen[u.Name] = true
		rules, err := withDenials(u.Rules)
		if err != nil {
			return nil, fmt.Errorf("user %s: %w", u.Name, err)
		}
		out = append(out, ACLUser{u.Name, append([]string{"reset"}, rules...)})
	}
	if !seen["default"] {
		out = append(out, ACLUser{"default", []string{"reset", "off"}})
	}
	out = append(out, ACLUser{AdminUser, append([]string{"reset"}, m.adminRules()...)})
	slices.SortFunc(out, func(a, b ACLUser) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func applyACL(ctx context.Context, c *respConn, desired []ACLUser, kill []string) (bool, error) {
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
			cmds = append(cmds,
				append([]string{"ACL", "SETUSER", scratchUser}, u.Rules...),
				[]string{"ACL", "GETUSER", scratchUser})
		}
	}
	if len(render) > 0 {
		cmds = append(cmds, []string{"ACL", "DELUSER", scratchUser})
	}
	replies, err := c.tx(ctx, cmds)
	if err != nil {
		return false, err
	}
	names, err := stringList(replies[0])
	if err != nil {
		return false, fmt.Errorf("acl users: %w", err)
	}
	rendered := make(map[string]any, len(desired))
	for _, u := range desired {
		if v, ok := c.rendered[key(u)]; ok {
			rendered[key(u)] = v
		}
	}
	for j, i := range render {
		u, r := desired[i], replies[1+len(desired)+2*j:]
		if e, ok := r[0].(respError); ok {
			return false, fmt.Errorf("user %s: %w: %v", u.Name, ErrInvalidRules, e)
		}
		if e, ok := r[1].(respError); ok {
			return false, fmt.Errorf("acl getuser: %w", e)
		}
		rendered[key(u)] = r[1]
	}
	c.rendered = rendered // only what is in use, so it stays small
	var set []ACLUser
	want := make(map[string]bool, len(desired))
	for i, u := range desired {
		want[u.Name] = true
		cur := replies[1+i]
		if e, ok := cur.(respError); ok {
			return false, fmt.Errorf("acl getuser %s: %w", u.Name, e)
		}
		if cur == nil || !reflect.DeepEqual(rendered[key(u)], cur) {
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
		return false, nil
	}

	// 2. Write, kill and save in one transaction. CLIENT KILL USER needs an
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
	cmds = append(cmds, []string{"ACL", "SAVE"})
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
	return true, errors.Join(errs...)
}

// ACLList returns the node's ACL LIST, one "user <name> <rules>" line per
// user, AdminUser included.
func (m *Manager) ACLList(ctx context.Context, id string) ([]string, error) {
	n, err := m.lookup(id)
	if err != nil {
		return nil, fmt.Errorf("engine: acl list on %s: %w", id, err)
	}
	var lines []string
	err = m.withAdmin(ctx, n, func(c *respConn) error {
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
