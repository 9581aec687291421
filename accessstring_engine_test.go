package keyward

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// This file checks the access-string grammar against the engine's own ACL
// parser: a real redis-server (the version keyward's nodes run) gets every
// string of a corpus of tricky access strings, and of a seeded random
// corpus, as ACL SETUSER arguments, then ACL SAVE and ACL LOAD, as a node
// does when it restarts. For each string:
//
//   - keyward accepts it if and only if the engine accepts it and reads it
//     back from its ACL file unchanged, except where keyward refuses on
//     purpose (deliberateRefusals, each with its reason; the fixed corpus
//     lists such strings in engineStricter and checks the engine really
//     accepts them);
//   - for an accepted string, the engine accepts Rules() and reads them back
//     from its ACL file unchanged, and the user they give has the same flags,
//     key patterns, commands and (ElastiCache's) channels as the caller's
//     text on the engine, and as the stored String(); ACL DRYRUN answers the
//     same for a set of probe commands;
//   - what keyward's parsed form says (the patterns String() shows) is what
//     the engine enforces.

// engineCorpus are access strings for the differential test: the review's
// reproductions (F2, F3, F10) and the edge cases of Redis 7.0's parser
// (src/acl.c ACLSetUser, ACLSetSelector, ACLMergeSelectorArguments; the
// selector split is src/sds.c sdssplitargs).
var engineCorpus = []string{
	// F2: module commands.
	"on ~* -@all +json.get", "on ~* -@all +ft.search", "on (~a +json.get)", "on ~* +@all -json.set",
	// F3: a quoted ")" at the end of a selector pattern.
	`on ~app:* -@all +get (~"ab\x29" -@all +get)`, `on (~"ab)" -@all +get)`, `on (%R~'k)' -@all +get)`,
	`on (&"ch)" -@all +get)`, `on (allchannels ~"ab\x29" -@all +get -config -monitor)`,
	// F10: quotes mean something inside a selector.
	`on ~app:* -@all +get (~"*" -@all +get)`, `on (~"app:x" -@all +get)`, `on (~'*')`, `on ("~*" +get)`,
	// Quotes and escapes inside selectors.
	`on (~"a\x2ab" +get)`, `on (~ab"cd" +get)`, `on (~"ab"cd +get)`, `on (~"abc -@all)`, `on (~'abc -@all)`,
	`on (~'a"b' +get)`, `on (~"a'b" +get)`, `on (~"a\"b" +get)`, `on (~'a\'b' +get)`, `on (~"a b" +get)`,
	`on (~"a\tb")`, `on (~"a\nb")`, `on (~"a\x00b")`, `on (~"a\x01b")`, `on (~"a\x7fb")`, `on (~"\xff")`,
	`on (~"\xc3\xa9:*" +get)`, `on (~a\b +get)`, `on (~a\\b +get)`, `on (~"a\\b" +get)`, `on (~"a\qb")`,
	`on (~"a\x4")`, `on (~"a\x" +get)`, `on (~a "" +get)`, `on (~a '' +get)`, `on ("+get" '-@all' "+set")`,
	`on ("allkeys" "allcommands")`, `on ('resetchannels' "&x")`, `on ("on")`, `on ("(~a")`, `on (~"(a" +get)`,
	`on (~"a)b" +get)`, `on (~a)b +get)`, `on (~a(b +get)`, `on ("~a" ~"b")`, `on (~"" +get)`, `on (%"R~a")`,
	`on ("%R~a" '%W~b')`, `on (&'a' &"b")`, `on ( ~"x" )`, `on (~"x")`, `on ("~x")`, `on (~x")`, `on (~x')`,
	// Quotes outside selectors are literal.
	`on ~"ab" +get`, `on ~'*' +get`, `on ~"a b" +get`, `on &"ch)" +get`, `on ~a\x29 +get`, `on "on"`, `on "+get"`,
	`on ~a) +get`, `on ~"ab)" (~c +get)`,
	// Parentheses.
	"on (~a (~b -@all)", "on (~a (~b) -@all)", "on ((~a) +get)", "on () ( ) (  )", "on ( ~a ) (~b )",
	"on (~a) ~b", "on (~a", "on ~a)", "on )", "on (~a))", "on (+get))", "on (~a(b) +get",
	// Key patterns and the all-keys flag.
	"on ~", "on %R~", "on %W~", "on %RW~", "on %R", "on %W", "on %", "on %~a", "on %RR~a", "on %X~a",
	"on %R~a %W~a", "on %RW~* ~a", "on %R~* %W~* ~a", "on %R~* ~a %W~*", "on ~a %RW~*", "on %RW~* %R~*",
	"on %RW~* %RW~*", "on %RW~* ~*", "on ~* %RW~*", "on allkeys %RW~*", "on allkeys ~*", "on ~* allkeys",
	"on ~* ~a", "on allkeys resetkeys ~a", "on ~A ~a", "on (%RW~* ~a)", "on (~a %RW~*)", "on ~a ~a %R~a",
	// Channels.
	"on &", "on &* &a", "on allchannels &a", "on &a &*", "on &a resetchannels", "on resetchannels",
	"on allchannels", "on &a &a", "on (&a) (&*) (resetchannels) ()", "on (&)",
	// Commands.
	"on +get|", "on +|get", "on -", "on +", "on +@", "on -@all +select|0", "on -select|0", "on +select|*",
	"on +select|a\"b", "on +config|get|x", "on -config|", "on +GET +Config|Get", "on +@ALL -@Dangerous",
	"on +@all +select|0 -select", "on +select|0 +select -select", "on -@all +get|x", "on +debug|object",
	"on allcommands nocommands +get", "on +@nosuchcat", "on +nosuchcmd", "on +acl|nosuch",
	// Forbidden by ElastiCache (passwords and reset) and flags.
	"on nopass", "on >password-secret-1", "on resetpass", "reset", "on sanitize-payload", "on skip-sanitize-payload",
	"on (nopass)", "on (reset)", "on (>password-secret-1)",
}

// engineStricter are corpus strings the engine accepts and reads back, and
// keyward refuses on purpose (see deliberateRefusals).
var engineStricter = map[string]bool{
	"on (~a (~b -@all)": true, `on (~"ab"cd +get)`: true, `on (~"abc -@all)`: true, `on (~'abc -@all)`: true,
	`on (~"a\x01b")`: true, `on (~"a\x7fb")`: true, `on (~"\xff")`: true,
	`on (~x")`: true, `on (~x')`: true,
	"on ~": true, "on %R~": true, "on %W~": true, "on %RW~": true, "on %R": true, "on %W": true, "on &": true,
	"on (&)": true, `on (~"" +get)`: true, "on +select|*": true, "on +select|a\"b": true,
	"on nopass": true, "on >password-secret-1": true, "on resetpass": true, "reset": true,
	"on sanitize-payload": true, "on skip-sanitize-payload": true,
}

// deliberateRefusals are the messages of keyward's refusals of strings the
// engine may accept, with the reason.
var deliberateRefusals = map[string]string{
	"at least one rule":               "the API's AccessString must have a non-blank character (pattern .*\\S.*)",
	"password":                        "passwords are managed through the API, never in the access string (§7.2)",
	`"reset" is not allowed`:          "reset would wipe the managed passwords (§7.2)",
	"is not supported":                "sanitize-payload flags are not part of ElastiCache's grammar",
	"empty key pattern":               "an empty pattern matches only the empty name: almost surely a mistake",
	"empty channel pattern":           "an empty pattern matches only the empty name: almost surely a mistake",
	"invalid key permission rule":     "%R without ~ is an empty pattern on the engine",
	"unbalanced quotes":               "the engine silently makes such a selector empty",
	"cannot be nested":                "the engine silently drops the part before a second \"(\"",
	"white space or a control char":   "control characters cannot be stored or returned in XML",
	"not valid UTF-8":                 "the API's strings are UTF-8",
	"invalid command rule":            "first arguments (a deprecated form) are limited to a plain word",
	"it contains a control character": "control characters cannot be stored or returned in XML",
}

func isDeliberate(err error) bool {
	for m := range deliberateRefusals {
		if strings.Contains(ErrorMessage(err), m) {
			return true
		}
	}
	return false
}

// engineUser is what ACL GETUSER shows of a user: its flags and, for the
// root ([0]) and each selector, keys, channels and commands.
type engineUser struct {
	flags    string
	segments [][3]string
}

func (u engineUser) String() string { return fmt.Sprintf("%s %q", u.flags, u.segments) }

func getUser(t *testing.T, c *respConn, name string) engineUser {
	t.Helper()
	r, err := c.do("ACL", "GETUSER", name)
	if err != nil {
		t.Fatalf("ACL GETUSER: %v", err)
	}
	m := respMap(r)
	var flags []string
	for _, f := range m["flags"].([]any) {
		flags = append(flags, f.(string))
	}
	seg := func(m map[string]any) [3]string {
		return [3]string{m["keys"].(string), m["channels"].(string), m["commands"].(string)}
	}
	u := engineUser{flags: strings.Join(flags, " "), segments: [][3]string{seg(m)}}
	for _, s := range m["selectors"].([]any) {
		u.segments = append(u.segments, seg(respMap(s)))
	}
	return u
}

// collapseKeys drops, like keyward's normalisation, the key patterns beside
// "~*" (which grants all keys), and "&*" likewise.
func collapseKeys(u engineUser) engineUser {
	out := engineUser{flags: u.flags}
	for _, s := range u.segments {
		for i, all := range []string{"~*", "&*"} {
			if f := strings.Fields(s[i]); len(f) > 1 && containsString(f, all) {
				s[i] = all
			}
		}
		out.segments = append(out.segments, s)
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// engineRun is the engine's verdict on a list of ACL SETUSER arguments.
type engineRun struct {
	err  error      // ACL SETUSER refused them, or the saved file did not load back
	user engineUser // as ACL GETUSER shows it
}

// acl runs ACL SETUSER name reset nopass args..., then ACL SAVE and ACL LOAD,
// and checks that the user read back from the file is the same; it leaves
// the user in place (delete with dropUser).
func acl(t *testing.T, c *respConn, name string, args []string) engineRun {
	t.Helper()
	if err := redisSetUser(t, c, name, args); err != nil {
		return engineRun{err: err}
	}
	before := getUser(t, c, name)
	if r, err := c.do("ACL", "SAVE"); err != nil || r != "OK" {
		t.Fatalf("ACL SAVE: %v %v", r, err)
	}
	r, err := c.do("ACL", "LOAD")
	if err != nil {
		t.Fatalf("ACL LOAD: %v", err)
	}
	if e, ok := r.(respError); ok {
		return engineRun{err: fmt.Errorf("accepted, but ACL LOAD of the saved file fails: %v", e), user: before}
	}
	// Loading "~a ~*" gives "~*": the same keys, so that is no change.
	if after := getUser(t, c, name); !reflect.DeepEqual(collapseKeys(after), collapseKeys(before)) {
		return engineRun{err: fmt.Errorf("accepted, but read back from the ACL file as %v instead of %v", after, before), user: before}
	}
	return engineRun{user: before}
}

func dropUser(t *testing.T, c *respConn, names ...string) {
	t.Helper()
	if _, err := c.do(append([]string{"ACL", "DELUSER"}, names...)...); err != nil {
		t.Fatal(err)
	}
	if r, err := c.do("ACL", "SAVE"); err != nil || r != "OK" {
		t.Fatalf("ACL SAVE: %v %v", r, err)
	}
}

func setPubsub(t *testing.T, c *respConn, v string) {
	t.Helper()
	if r, err := c.do("CONFIG", "SET", "acl-pubsub-default", v); err != nil || r != "OK" {
		t.Fatalf("CONFIG SET acl-pubsub-default %s: %v %v", v, r, err)
	}
}

// elastiCacheChannels returns the channels of each segment of the user the
// engine makes of args with ElastiCache's meaning: a root or selector
// without channel rules has all channels (acl-pubsub-default allchannels),
// one with channel rules exactly those (starting from resetchannels).
// plain is the user from an engine with acl-pubsub-default resetchannels.
func elastiCacheChannels(t *testing.T, c *respConn, args []string, plain engineUser) []string {
	t.Helper()
	setPubsub(t, c, "allchannels")
	defer setPubsub(t, c, "resetchannels")
	out := make([]string, len(plain.segments))
	if err := redisSetUser(t, c, "kw_chan", args); err == nil {
		// Only "&pattern" after reset is refused with allchannels, so
		// this user has no channel pattern without resetchannels.
		for i, s := range getUser(t, c, "kw_chan").segments {
			out[i] = s[1]
		}
		return out
	}
	// Some "&pattern" comes without resetchannels. Segments with channels
	// keep them; an empty one is empty if it mentions channels at all.
	segs := rawSegments(args)
	for i, s := range plain.segments {
		out[i] = s[1]
		if s[1] == "" && i < len(segs) && !strings.Contains(strings.ToLower(segs[i]), "channels") && !strings.Contains(segs[i], "&") {
			out[i] = "&*"
		}
	}
	return out
}

// rawSegments returns the text of the root rules and of each selector of
// args (after the last clearselectors), grouped like the engine does.
func rawSegments(args []string) []string {
	merged, err := mergeSelectors(args)
	if err != nil {
		return nil
	}
	root := []string{}
	var sels []string
	for _, a := range merged {
		switch {
		case strings.HasPrefix(a, "("):
			sels = append(sels, a)
		case strings.EqualFold(a, "clearselectors"):
			sels = nil
		default:
			root = append(root, a)
		}
	}
	return append([]string{strings.Join(root, " ")}, sels...)
}

// modelUser is what keyward's parsed form says, in ACL GETUSER's terms.
func modelUser(a *AccessString) [][2]string {
	seg := func(s *aclSelector) [2]string {
		ch := "&*"
		if s.channelsUsed && !s.allChannels {
			ch = strings.Join(s.appendChannels(nil), " ")
		}
		return [2]string{strings.Join(s.appendKeys(nil), " "), ch}
	}
	out := [][2]string{seg(&a.root)}
	for i := range a.selectors {
		out = append(out, seg(&a.selectors[i]))
	}
	return out
}

// dryRunProbes are commands whose ACL DRYRUN answers must not depend on
// whether the user was made from the caller's text or from keyward's rules.
var dryRunProbes = func() [][]string {
	var out [][]string
	for _, k := range []string{"*", `"*"`, "'*'", "ab", "ab)", "abcd", "a*b", "axb", "a\\b", "app:x", "other:k", "x:1", "é:1", "a(b", "a)b", "c"} {
		out = append(out, []string{"GET", k}, []string{"SET", k, "v"})
	}
	return append(out, []string{"SELECT", "0"}, []string{"SELECT", "1"}, []string{"CONFIG", "GET", "maxmemory"},
		[]string{"DEBUG", "OBJECT", "k"}, []string{"PING"})
}()

func dryRun(t *testing.T, c *respConn, name string) []string {
	t.Helper()
	var out []string
	for _, p := range dryRunProbes {
		r, err := c.do(append([]string{"ACL", "DRYRUN", name}, p...)...)
		if err != nil {
			t.Fatalf("ACL DRYRUN: %v", err)
		}
		out = append(out, fmt.Sprint(r))
	}
	return out
}

// differential checks one access string against the engine and reports
// whether keyward accepted it.
func differential(t *testing.T, c *respConn, in string, strict bool) (accepted bool) {
	t.Helper()
	args := accessTokens(in)
	a, kwErr := ParseAccessString(in)
	raw := acl(t, c, "kw_raw", args)
	defer dropUser(t, c, "kw_raw", "kw_rules", "kw_norm", "kw_chan")

	if kwErr != nil {
		if ErrorCode(kwErr) != EINVALID {
			t.Errorf("%q: error %v is not EINVALID", in, kwErr)
		}
		switch {
		case raw.err != nil:
		case isDeliberate(kwErr):
			if strict && !engineStricter[in] {
				t.Errorf("%q: refused on purpose (%v) but the engine accepts it: add it to engineStricter", in, kwErr)
			}
		default:
			t.Errorf("%q: refused (%v), but the engine accepts it and reads it back as %v", in, kwErr, raw.user)
		}
		if strict && engineStricter[in] && raw.err != nil {
			t.Errorf("%q: in engineStricter, but the engine refuses it too: %v", in, raw.err)
		}
		return false
	}
	if raw.err != nil {
		t.Errorf("%q: accepted as %q, but the engine: %v", in, a.String(), raw.err)
		return true
	}
	if strict && engineStricter[in] {
		t.Errorf("%q: in engineStricter, but accepted as %q", in, a.String())
	}

	// What is applied to nodes: Rules() must load back unchanged.
	rules := acl(t, c, "kw_rules", a.Rules())
	if rules.err != nil {
		t.Errorf("%q: Rules() %q: %v", in, a.Rules(), rules.err)
		return true
	}
	// The stored form, read by the engine.
	norm := acl(t, c, "kw_norm", accessTokens(a.String()))
	if norm.err != nil {
		t.Errorf("%q: the stored %q: %v", in, a.String(), norm.err)
		return true
	}

	rawCh := elastiCacheChannels(t, c, args, raw.user)
	normCh := elastiCacheChannels(t, c, accessTokens(a.String()), norm.user)
	want := collapseKeys(raw.user)
	for i := range want.segments {
		want.segments[i][1] = rawCh[i]
	}
	if got := collapseKeys(rules.user); !reflect.DeepEqual(got, want) {
		t.Errorf("%q: Rules() %q give %v on the engine, the caller's text gives %v", in, a.Rules(), got, want)
	}
	gotNorm := collapseKeys(norm.user)
	for i := range gotNorm.segments {
		gotNorm.segments[i][1] = normCh[i]
	}
	if !reflect.DeepEqual(gotNorm, want) {
		t.Errorf("%q: the stored %q gives %v on the engine, the caller's text gives %v", in, a.String(), gotNorm, want)
	}
	// What keyward says is what the node enforces.
	var enforced [][2]string
	for _, s := range want.segments {
		enforced = append(enforced, [2]string{s[0], s[1]})
	}
	if model := modelUser(a); !reflect.DeepEqual(model, enforced) {
		t.Errorf("%q: keyward says keys/channels %q (%q), the engine enforces %q", in, model, a.String(), enforced)
	}
	if r, n := dryRun(t, c, "kw_raw"), dryRun(t, c, "kw_rules"); !reflect.DeepEqual(r, n) {
		for i := range r {
			if r[i] != n[i] {
				t.Errorf("%q: ACL DRYRUN %q: caller's text %q, Rules() %q", in, dryRunProbes[i], r[i], n[i])
			}
		}
	}
	return true
}

// startACLRedis starts a scratch redis-server with an ACL file, like a node
// (no modules; acl-pubsub-default resetchannels, switched per check).
func startACLRedis(t *testing.T) *respConn {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	c := startRedis(t, "--aclfile", file, "--acl-pubsub-default", "resetchannels")
	if r, err := c.do("ACL", "SAVE"); err != nil || r != "OK" {
		t.Fatalf("ACL SAVE: %v %v", r, err)
	}
	return c
}

// TestAccessStringAgainstEngine runs the fixed corpus, the table of valid
// and invalid strings of accessstring_test.go and a seeded random corpus
// through keyward and the engine (see the top of this file).
func TestAccessStringAgainstEngine(t *testing.T) {
	c := startACLRedis(t)
	for _, in := range engineCorpus {
		differential(t, c, in, true)
	}
	for in := range engineStricter {
		if !containsString(engineCorpus, in) {
			t.Errorf("engineStricter has %q, which is not in engineCorpus", in)
		}
	}
	for _, tc := range validAccessStrings {
		if !differential(t, c, tc.in, false) {
			t.Errorf("%q: table entry refused", tc.in)
		}
	}
	for _, tc := range invalidAccessStrings {
		if differential(t, c, tc.in, false) {
			t.Errorf("%q: table entry accepted", tc.in)
		}
	}
}

// TestAccessStringRandomAgainstEngine is differential fuzzing, bounded and
// seeded: random access strings built from root rules and from selectors of
// quoted, escaped and plain rules.
func TestAccessStringRandomAgainstEngine(t *testing.T) {
	c := startACLRedis(t)
	root := strings.Fields(`on off ~a ~b ~* ~a) ~"a" ~'b' %R~a %W~b %RW~* %R~* %W~* allkeys resetkeys &x &*
		allchannels resetchannels +get -get +set +@read -@write +@all -@all +select|0 -config|set clearselectors`)
	rootOdd := strings.Fields(`+json.get ( ) (~a (~"x ~y) +get) ~ &`)
	inner := strings.Fields(`~a ~* %R~b %RW~* &c &* allkeys resetkeys allchannels resetchannels +get -@all +@all
		+set|x ~"a" ~'a' "~b" '+get' ~"\x2a" ~"a\x2a" ~a"b" ~"\xc3\xa9" ~a\b ~"a\\b" ~"a\qb" ~(a ~a)b
		~"(a" %R~"a" "allkeys" "+@all" "-@all" ~"a\x" ~"a\x4"`)
	innerOdd := strings.Fields(`+json.get ~"a)" ~'b)' &"c)" ~"a\x29" ~"a"b ~"a b" ~'a"b' ~"a'b" ~"a\"b"
		~'a\'b' ~"a\tb" ~"\x01" "" &"" ~"a`)
	rng := rand.New(rand.NewPCG(1, 12))
	pick := func(common, odd []string) string {
		if rng.IntN(8) == 0 {
			return odd[rng.IntN(len(odd))]
		}
		return common[rng.IntN(len(common))]
	}
	accepted, total := 0, 1500
	for i := 0; i < total; i++ {
		var parts []string
		for n := rng.IntN(5); n >= 0; n-- {
			if rng.IntN(3) > 0 {
				parts = append(parts, pick(root, rootOdd))
				continue
			}
			sel := make([]string, rng.IntN(4))
			for j := range sel {
				sel[j] = pick(inner, innerOdd)
			}
			parts = append(parts, "("+strings.Join(sel, " ")+")")
		}
		if differential(t, c, strings.Join(parts, " "), false) {
			accepted++
		}
		if t.Failed() && i > 50 {
			break
		}
	}
	t.Logf("%d of %d random access strings accepted", accepted, total)
	if accepted < total/10 {
		t.Errorf("only %d of %d random access strings were accepted; the test checks little", accepted, total)
	}
}
