package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"keyward"
	"keyward/engine"
)

// oneNode opens a Manager with a single primary.
func oneNode(t *testing.T) (m *engine.Manager, n *engine.Node, dir string) {
	t.Helper()
	dir = t.TempDir()
	m = newManager(t, dir, nil)
	n = ensure(t, m, engine.NodeSpec{ID: "n1", Engine: "redis"})
	return m, n, dir
}

// accessUser builds a tenant user from an ElastiCache access string, as
// the reconciler does.
func accessUser(t testing.TB, name, access string, pwHashes ...string) engine.ACLUser {
	t.Helper()
	a, err := keyward.ParseAccessString(access)
	if err != nil {
		t.Fatal(err)
	}
	rules := a.Rules()
	if len(pwHashes) == 0 {
		rules = append(rules, "nopass")
	}
	for _, h := range pwHashes {
		rules = append(rules, "#"+h)
	}
	return engine.ACLUser{Name: name, Rules: rules}
}

func clientID(t *testing.T, c *redis.Conn) int64 {
	t.Helper()
	id, err := c.ClientID(t.Context()).Result()
	if err != nil {
		t.Fatalf("CLIENT ID: %v", err)
	}
	return id
}

// checkClosed asserts that the server closed c.
func checkClosed(t *testing.T, what string, c *redis.Conn) {
	t.Helper()
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Errorf("%s: connection still open", what)
	} else if strings.HasPrefix(err.Error(), "NOPERM") || strings.HasPrefix(err.Error(), "ERR") {
		t.Errorf("%s: connection open, command refused: %v", what, err)
	}
}

func TestApplyACL_Connections(t *testing.T) {
	t.Parallel()
	m, n, dir := oneNode(t)
	ctx := t.Context()
	a1, a2 := "alice-first-password-0001", "alice-second-password-002"
	users := func(alicePW string, more ...engine.ACLUser) []engine.ACLUser {
		return append([]engine.ACLUser{
			accessUser(t, "alice", "on ~app:* +@all", keyward.HashPassword(alicePW)),
			accessUser(t, "default", "on ~* +@all"),
		}, more...)
	}
	carol := accessUser(t, "carol", "on ~* +@all", keyward.HashPassword("carol-password-000001"))
	if changed, err := m.ApplyACL(ctx, n.ID, users(a1, carol), nil); err != nil || !changed {
		t.Fatalf("first ApplyACL: %v, %v", changed, err)
	}

	alice := client(t, n.Addr, "alice", a1, nil).Conn()
	defer alice.Close()
	aliceID := clientID(t, alice)
	sub := client(t, n.Addr, "alice", a1, nil).Subscribe(ctx, "news")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	carolConn := client(t, n.Addr, "carol", "carol-password-000001", nil).Conn()
	defer carolConn.Close()
	clientID(t, carolConn)
	def := client(t, n.Addr, "", "", nil).Conn()
	defer def.Close()
	clientID(t, def)

	t.Run("PasswordChangeKeepsConnections", func(t *testing.T) {
		start := time.Now()
		changed, err := m.ApplyACL(ctx, n.ID, users(a2, carol), nil)
		if err != nil || !changed {
			t.Fatalf("ApplyACL: %v, %v", changed, err)
		}
		t.Logf("ApplyACL (one password change): %v", time.Since(start))
		if got := clientID(t, alice); got != aliceID {
			t.Errorf("alice's connection was replaced (client id %d, was %d)", got, aliceID)
		}
		if err := client(t, n.Addr, "alice", a1, nil).Ping(ctx).Err(); err == nil {
			t.Error("old password still accepted")
		}
		if err := client(t, n.Addr, "alice", a2, nil).Ping(ctx).Err(); err != nil {
			t.Errorf("new password: %v", err)
		}
		admin := adminClient(t, dir, n, nil)
		if err := admin.Publish(ctx, "news", "hello").Err(); err != nil {
			t.Fatal(err)
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil || msg.Payload != "hello" {
			t.Errorf("subscriber after password change: %v, %v", msg, err)
		}
	})

	t.Run("UnchangedUserInKillListKeepsConnections", func(t *testing.T) {
		changed, err := m.ApplyACL(ctx, n.ID, users(a2, carol), []string{"alice", "default"})
		if err != nil || changed {
			t.Fatalf("ApplyACL: %v, %v; want no change", changed, err)
		}
		if got := clientID(t, alice); got != aliceID {
			t.Errorf("alice's connection was closed by a no-op apply")
		}
		clientID(t, def)
	})

	t.Run("RemovalClosesConnections", func(t *testing.T) {
		changed, err := m.ApplyACL(ctx, n.ID, users(a2), nil)
		if err != nil || !changed {
			t.Fatalf("ApplyACL: %v, %v", changed, err)
		}
		checkClosed(t, "removed user carol", carolConn)
		if err := client(t, n.Addr, "carol", "carol-password-000001", nil).Ping(ctx).Err(); err == nil {
			t.Error("removed user can still AUTH")
		}
	})

	t.Run("KillListClosesDefaultConnections", func(t *testing.T) {
		// Default-user swap: a new, restricted default; old connections go.
		newDefault := accessUser(t, "default", "on ~public:* -@all +get")
		swapped := []engine.ACLUser{users(a2)[0], newDefault}
		changed, err := m.ApplyACL(ctx, n.ID, swapped, []string{"default"})
		if err != nil || !changed {
			t.Fatalf("ApplyACL: %v, %v", changed, err)
		}
		checkClosed(t, "old default user", def)
		if got := clientID(t, alice); got != aliceID {
			t.Error("alice's connection closed by killing default's")
		}
		// A retry of the same apply does not kill the new connections.
		def2 := client(t, n.Addr, "", "", nil).Conn()
		defer def2.Close()
		if err := def2.Get(ctx, "public:x").Err(); err != redis.Nil {
			t.Fatalf("new default GET public:x: %v", err)
		}
		if changed, err := m.ApplyACL(ctx, n.ID, swapped, []string{"default"}); err != nil || changed {
			t.Fatalf("repeated ApplyACL: %v, %v", changed, err)
		}
		if err := def2.Get(ctx, "public:x").Err(); err != redis.Nil {
			t.Errorf("new default connection after a repeated apply: %v", err)
		}
	})
}

// TestEngine_ConnectionSemantics records what the engine itself does to
// open connections on ACL SETUSER and ACL DELUSER, which ApplyACL relies on.
func TestEngine_ConnectionSemantics(t *testing.T) {
	t.Parallel()
	m, n, dir := oneNode(t)
	ctx := t.Context()
	pw := "dave-password-000000001"
	applyAll(t, m, []engine.ACLUser{accessUser(t, "dave", "on ~* +@all", keyward.HashPassword(pw))}, nil, n.ID)
	admin := adminClient(t, dir, n, nil)

	dave := client(t, n.Addr, "dave", pw, nil).Conn()
	defer dave.Close()
	id := clientID(t, dave)

	// SETUSER ... off: existing connections stay (and keep working).
	if err := admin.Do(ctx, "ACL", "SETUSER", "dave", "off").Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := dave.ClientID(ctx).Result(); err != nil || got != id {
		t.Errorf("after SETUSER off: client id %d, %v; want the connection kept", got, err)
	}
	// SETUSER reset (all permissions gone): still connected, but NOPERM.
	if err := admin.Do(ctx, "ACL", "SETUSER", "dave", "reset").Err(); err != nil {
		t.Fatal(err)
	}
	if err := dave.Ping(ctx).Err(); !isNoPerm(err) {
		t.Errorf("after SETUSER reset: %v, want NOPERM on a live connection", err)
	}
	// DELUSER: the engine closes the user's connections.
	if err := admin.Do(ctx, "ACL", "DELUSER", "dave").Err(); err != nil {
		t.Fatal(err)
	}
	checkClosed(t, "after DELUSER", dave)
}

func TestApplyACL_TenantCannotEscalate(t *testing.T) {
	t.Parallel()
	m, n, dir := oneNode(t)
	ctx := t.Context()
	pw := "tenant-password-0000001"
	users := []engine.ACLUser{
		accessUser(t, "root", "on ~* +@all", keyward.HashPassword(pw)),
		// The selector grants everything; the root only GET on a:*.
		accessUser(t, "sel", "on ~a:* -@all +get (~* &* +@all)", keyward.HashPassword(pw)),
		// Access control disabled: default open, but still a tenant.
		{Name: "default", Rules: []string{"on", "nopass", "allchannels", "~*", "+@all"}},
	}
	applyAll(t, m, users, nil, n.ID)

	denied := [][]any{
		{"ACL", "SETUSER", "root", "on", "+@all"},
		{"ACL", "SETUSER", "evil", "on", "nopass", "~*", "+@all"},
		{"ACL", "DELUSER", "sel"},
		{"ACL", "LIST"},
		{"ACL", "GETUSER", engine.AdminUser},
		{"ACL", "LOG"},
		{"ACL", "SAVE"},
		{"ACL", "LOAD"},
		{"ACL", "DRYRUN", engine.AdminUser, "get", "k"},
		{"CONFIG", "GET", "masterauth"},
		{"CONFIG", "SET", "maxmemory", "1"},
		{"CONFIG", "REWRITE"},
		{"SHUTDOWN", "NOSAVE"},
		{"DEBUG", "SLEEP", "0"},
		{"MODULE", "LIST"},
		{"REPLICAOF", "NO", "ONE"},
		{"SLAVEOF", "NO", "ONE"},
		{"FAILOVER"},
		{"SYNC"},
		{"PSYNC", "?", "-1"},
		{"BGSAVE"},
		{"SAVE"},
		{"BGREWRITEAOF"},
		{"MIGRATE", "127.0.0.1", "1", "k", "0", "1000"},
		{"MONITOR"},
		{"EVAL", "return redis.call('ACL','SETUSER','evil','on','nopass','+@all')", "0"},
		{"EVAL", "return redis.call('CONFIG','GET','masterauth')", "0"},
	}
	allowed := [][]any{
		{"SET", "a:k", "v"},
		{"GET", "a:k"},
		{"ACL", "WHOAMI"},
		{"ACL", "CAT"},
		{"ACL", "USERS"},
		{"CLIENT", "ID"},
	}
	admin := adminClient(t, dir, n, nil)
	for _, tc := range []struct{ user, pass string }{{"root", pw}, {"sel", pw}, {"default", ""}} {
		t.Run(tc.user, func(t *testing.T) {
			// The engine's own verdict, whatever else would refuse first.
			for _, cmd := range denied {
				if cmd[0] == "EVAL" {
					continue
				}
				args := append([]any{"ACL", "DRYRUN", tc.user}, cmd...)
				if res, err := admin.Do(ctx, args...).Text(); err != nil || res == "OK" {
					t.Errorf("ACL DRYRUN %s %v = %q, %v; want a denial", tc.user, cmd, res, err)
				}
			}
			c := client(t, n.Addr, tc.user, tc.pass, nil)
			for _, cmd := range denied {
				// DEBUG is off in the configuration and scripts may not
				// call ACL or CONFIG: those say "not allowed" before the
				// ACL check would say NOPERM.
				err := c.Do(ctx, cmd...).Err()
				if !isNoPerm(err) && (err == nil || !strings.Contains(err.Error(), "not allowed")) {
					t.Errorf("%v: %v, want NOPERM", cmd, err)
				}
			}
			for _, cmd := range allowed {
				if err := c.Do(ctx, cmd...).Err(); err != nil && err != redis.Nil {
					t.Errorf("%v: %v, want it allowed", cmd, err)
				}
			}
			if err := client(t, n.Addr, engine.AdminUser, pw, nil).Ping(ctx).Err(); err == nil {
				t.Error("AUTH as the admin user with a tenant password worked")
			}
		})
	}
	// Nobody gained anything: the node still has exactly these users.
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || changed {
		t.Errorf("ApplyACL after the attempts: %v, %v", changed, err)
	}
}

// TestTenantDenials_CoverACLSubcommands fails when the engine has an ACL
// subcommand that TenantDenials neither denies nor knowingly allows, so a
// new engine version cannot silently give tenants a new ACL write.
func TestTenantDenials_CoverACLSubcommands(t *testing.T) {
	t.Parallel()
	_, n, dir := oneNode(t)
	admin := adminClient(t, dir, n, nil)
	docs, err := admin.Do(t.Context(), "COMMAND", "DOCS", "acl").Result()
	if err != nil {
		t.Fatal(err)
	}
	subs := map[string]bool{}
	re := regexp.MustCompile(`^acl\|[a-z-]+$`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if re.MatchString(v) {
				subs[v] = true
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[any]any:
			for k, e := range v {
				walk(k)
				walk(e)
			}
		}
	}
	walk(docs)
	if len(subs) < 10 {
		t.Fatalf("found only %d ACL subcommands in COMMAND DOCS: %v", len(subs), subs)
	}
	safe := map[string]bool{"acl|whoami": true, "acl|cat": true, "acl|users": true, "acl|genpass": true, "acl|help": true}
	denied := map[string]bool{}
	for _, r := range engine.TenantDenials() {
		denied[strings.TrimPrefix(r, "-")] = true
	}
	for s := range subs {
		if !safe[s] && !denied[s] {
			t.Errorf("ACL subcommand %s is neither denied to tenants nor known to be safe: classify it in tenantDenials", s)
		}
	}
}

func TestApplyACL_RevertsDrift(t *testing.T) {
	t.Parallel()
	m, n, dir := oneNode(t)
	ctx := t.Context()
	users := appUsers()
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || !changed {
		t.Fatalf("first ApplyACL: %v, %v", changed, err)
	}
	start := time.Now()
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || changed {
		t.Fatalf("second ApplyACL: %v, %v; want no change", changed, err)
	}
	t.Logf("ApplyACL (no-op, 2 users): %v", time.Since(start))
	want, err := m.ACLList(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	admin := adminClient(t, dir, n, nil)
	for _, drift := range [][]any{
		{"ACL", "SETUSER", "alice", "~*"},                      // widened keys
		{"ACL", "SETUSER", "bob", ">extra-password-0000001"},   // extra password
		{"ACL", "SETUSER", "mallory", "on", "nopass", "+@all"}, // extra user
		{"ACL", "SETUSER", "default", "on", "nopass", "~*", "+@all"},
		{"ACL", "DELUSER", "alice"},
	} {
		if err := admin.Do(ctx, drift...).Err(); err != nil {
			t.Fatalf("%v: %v", drift, err)
		}
		changed, err := m.ApplyACL(ctx, n.ID, users, nil)
		if err != nil || !changed {
			t.Errorf("after %v: ApplyACL = %v, %v; want changed", drift, changed, err)
		}
		got, err := m.ACLList(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("after %v: ACL LIST\n%s\nwant\n%s", drift, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The ACL file holds keyward's own users only: a node always starts
	// closed and gets its users from the Manager.
	file, err := os.ReadFile(filepath.Join(dir, "nodes", n.ID, "users.acl"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(file), "alice") || !strings.Contains(string(file), "user default reset off") {
		t.Errorf("users.acl:\n%s", file)
	}
}

func TestApplyACL_Errors(t *testing.T) {
	t.Parallel()
	m, n, _ := oneNode(t)
	ctx := t.Context()
	applyAll(t, m, appUsers(), nil, n.ID)
	before, _ := m.ACLList(ctx, n.ID)

	// A refused user is left off the node and reported; the others are
	// applied all the same.
	_, err := m.ApplyACL(ctx, n.ID, append(appUsers(), engine.ACLUser{Name: "x", Rules: []string{"on", "nopass", "+nosuchcommand"}}), nil)
	var rerr *engine.RulesRefusedError
	if !errors.Is(err, engine.ErrInvalidRules) || !errors.As(err, &rerr) || rerr.Users["x"] == "" || len(rerr.Users) != 1 {
		t.Errorf("unknown command: %v, want a RulesRefusedError naming user x", err)
	}
	for _, users := range [][]engine.ACLUser{
		{{Name: engine.AdminUser, Rules: []string{"on", "nopass"}}},
		{{Name: "keyward-scratch", Rules: []string{"on"}}},
		{{Name: "a", Rules: []string{"on"}}, {Name: "a", Rules: []string{"off"}}},
		{{Name: "has space", Rules: []string{"on"}}},
		{{Name: "a", Rules: []string{"on ~*"}}},
		{{Name: "a", Rules: []string{"(~* +get"}}},
		{{Name: "a", Rules: []string{""}}},
	} {
		if _, err := m.ApplyACL(ctx, n.ID, append(appUsers(), users...), nil); !errors.As(err, &rerr) || len(rerr.Users) != 1 {
			t.Errorf("ApplyACL(%v): %v, want one refused user", users, err)
		}
		if after, _ := m.ACLList(ctx, n.ID); !slices.Equal(before, after) {
			t.Errorf("ApplyACL(%v) left the node:\n%s\nwant\n%s", users, strings.Join(after, "\n"), strings.Join(before, "\n"))
		}
	}
	if _, err := m.ApplyACL(ctx, "nope", nil, nil); !errors.Is(err, engine.ErrNodeNotFound) {
		t.Errorf("unknown node: %v", err)
	}
	if _, err := m.ACLList(ctx, "nope"); !errors.Is(err, engine.ErrNodeNotFound) {
		t.Errorf("ACLList unknown node: %v", err)
	}
	if !engine.IsReservedUserName(engine.AdminUser) || engine.IsReservedUserName("default") {
		t.Error("IsReservedUserName")
	}
}

func BenchmarkApplyACL(b *testing.B) {
	dir := b.TempDir()
	m := newManager(b, dir, nil)
	n := ensure(b, m, engine.NodeSpec{ID: "bench", Engine: "redis"})
	ctx := context.Background()
	users := make([]engine.ACLUser, 10)
	for i := range users {
		users[i] = accessUser(b, fmt.Sprintf("user%02d", i), "on ~app:* &chan:* -@all +@read +@write", keyward.HashPassword(fmt.Sprintf("password-%02d-0123456789", i)))
	}
	if _, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil {
		b.Fatal(err)
	}
	b.Run("NoOp", func(b *testing.B) {
		for b.Loop() {
			if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || changed {
				b.Fatal(changed, err)
			}
		}
	})
	b.Run("OneChange", func(b *testing.B) {
		alt := slices.Clone(users)
		i := 0
		for b.Loop() {
			i++
			alt[3] = accessUser(b, "user03", "on ~app:* -@all +@read", keyward.HashPassword(fmt.Sprintf("password-%08d-rotated", i)))
			if changed, err := m.ApplyACL(ctx, n.ID, alt, nil); err != nil || !changed {
				b.Fatal(changed, err)
			}
		}
	})
}

// A revocation on a node whose users keyward applied before is one
// transaction of deletions; what drifted meanwhile is repaired by the next
// apply of the same users (the periodic resync's), which otherwise sends
// one ACL LIST.
func TestApplyACL_RevocationFirst(t *testing.T) {
	t.Parallel()
	m, n, dir := oneNode(t)
	ctx := t.Context()
	carolPW := "carol-password-000000001"
	carol := accessUser(t, "carol", "on ~* +@all", keyward.HashPassword(carolPW))
	users := appUsers()
	applyAll(t, m, append(slices.Clone(users), carol), nil, n.ID)
	conn := client(t, n.Addr, "carol", carolPW, nil).Conn()
	defer conn.Close()
	if err := conn.Ping(ctx).Err(); err != nil {
		t.Fatalf("carol: %v", err)
	}
	admin := adminClient(t, dir, n, nil)
	if err := admin.Do(ctx, "ACL", "SETUSER", "alice", "~*").Err(); err != nil {
		t.Fatal(err)
	}
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || !changed {
		t.Fatalf("revoking carol: ApplyACL = %v, %v; want changed", changed, err)
	}
	checkClosed(t, "carol's connection", conn)
	if err := client(t, n.Addr, "carol", carolPW, nil).Ping(ctx).Err(); err == nil {
		t.Fatal("carol still logs in")
	}
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || !changed {
		t.Fatalf("after drift: ApplyACL = %v, %v; want changed (drift repaired)", changed, err)
	}
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || changed {
		t.Fatalf("at rest: ApplyACL = %v, %v; want no change", changed, err)
	}
	alice := client(t, n.Addr, "alice", alicePW, nil)
	if err := alice.Set(ctx, "other:k", "v", 0).Err(); !isNoPerm(err) {
		t.Errorf("alice SET other:k after the repair: %v; want NOPERM (her keys are app:* again)", err)
	}
	if err := alice.Set(ctx, "app:k", "v", 0).Err(); err != nil {
		t.Errorf("alice SET app:k: %v", err)
	}
}

// A kept admin connection that the node closed is replaced within the same
// ApplyACL: the call succeeds.
func TestApplyACL_StaleAdminConnection(t *testing.T) {
	t.Parallel()
	m, n, dir := oneNode(t)
	ctx := t.Context()
	users := appUsers()
	applyAll(t, m, users, nil, n.ID)
	admin := adminClient(t, dir, n, nil)
	// Closes keyward's admin connection (and this client's, which
	// reconnects).
	admin.Do(ctx, "CLIENT", "KILL", "USER", engine.AdminUser)
	if _, err := m.ApplyACL(ctx, n.ID, users[:len(users)-1], nil); err != nil {
		t.Fatalf("ApplyACL on a closed admin connection: %v", err)
	}
	if _, err := m.ACLList(ctx, n.ID); err != nil {
		t.Fatalf("ACLList: %v", err)
	}
}

// ApplyACL reuses its last plan of a node's users only while the node's
// replication identity stays: a Cluster node moved to another replication
// group (NodeSpec.ReplGroup) gets that group's replication password, even
// though its tenant users did not change.
func TestApplyACL_ReplGroupChangeReplansUsers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := newManager(t, dir, nil)
	ctx := t.Context()
	spec := engine.NodeSpec{ID: "n1", Engine: "redis", Cluster: true, ReplGroup: "g1"}
	n := ensure(t, m, spec)
	users := appUsers()
	applyAll(t, m, users, nil, n.ID)
	admin := adminClient(t, dir, n, nil)
	replHash := func() string {
		t.Helper()
		v, err := admin.Do(ctx, "ACL", "GETUSER", engine.ReplUser).Slice()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(v); i += 2 {
			if v[i] == "passwords" {
				return fmt.Sprint(v[i+1])
			}
		}
		t.Fatalf("ACL GETUSER %s: no passwords in %v", engine.ReplUser, v)
		return ""
	}
	before := replHash()
	spec.ReplGroup = "g2"
	ensure(t, m, spec)
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || !changed {
		t.Fatalf("ApplyACL after the group change = %v, %v; want changed", changed, err)
	}
	if after := replHash(); after == before {
		t.Errorf("%s's password is still g1's (%s) after the move to g2", engine.ReplUser, before)
	}
	if changed, err := m.ApplyACL(ctx, n.ID, users, nil); err != nil || changed {
		t.Fatalf("at rest: ApplyACL = %v, %v; want no change", changed, err)
	}
}
