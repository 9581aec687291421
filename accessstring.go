package keyward

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// MinimumEngineVersion values an access string can need (§9.4).
const (
	engineVersion60 = 60 // everything else
	engineVersion62 = 62 // & channel patterns, allchannels, resetchannels
	engineVersion70 = 70 // selectors, clearselectors, %R~/%W~/%RW~, cmd|sub
)

// Key-pattern permissions, as Redis 7's %R~ / %W~ / %RW~ (= ~).
const (
	permRead  = 1
	permWrite = 2
	permAll   = permRead | permWrite
)

// AccessString is a parsed, validated ElastiCache access string (spec
// rbac.md §7): a space-separated list of Redis ACL rules applied left to
// right to a user that starts with no permissions and is off (keys, command
// rules and selectors as after "reset"; channels: see Rules). ElastiCache
// stores and returns a normalised form, not the caller's text (§7.3). The
// normalised form emitted here is Redis 7's ACL LIST description of the
// user without the "user <name>" prefix and without password rules:
//
//	<on|off> <key patterns> <channel patterns> <command rules> <selectors>
//
// Spec open question Q1: between 2021 and 2023 ElastiCache returned the
// Redis 6.0 category-reconstructed form ("on ~app::* -@all +@read" came back
// as "on ~app::* -@all +@read +@hash +@bitmap +@geo -setbit ..."). That
// expansion depends on the engine's command table, changes with every engine
// release and cannot be reproduced without one, so keyward deliberately emits
// the Redis 7 form, in which command rules are kept as written (lower-cased,
// with overridden and no-op rules removed). Every example of §7.3 that is not
// an expansion round-trips exactly, e.g. "on ~* +@all" stays "on ~* +@all".
//
// The grammar is the engine's own (Redis 7.0's ACL SETUSER, src/acl.c): the
// string is split on white space, selectors are grouped as the engine groups
// them (ACLMergeSelectorArguments), and the inside of a selector is split
// with the engine's sdssplitargs, so quotes and \xHH escapes mean there what
// they mean on the node: "(~\"a*\" -@all)" is stored as "(~a* -@all)".
// Outside selectors the engine takes quotes literally, and so does keyward.
// accessstring_engine_test.go checks this against a real redis-server.
//
// Deliberate differences from the engine (all stricter):
//   - password rules (>p <p #h !h nopass resetpass), reset and the
//     sanitize-payload flags are refused: passwords are managed through the
//     API's own parameters (§7.2);
//   - command names are checked against the engine's command table
//     (commands_gen.go, from Redis 7.0's COMMAND LIST): unknown commands and
//     subcommands, module commands (names with a ".": the nodes run without
//     modules), and denied first arguments ("-select|0") are refused as the
//     engine would; an allowed first argument ("+select|0", a form Redis
//     deprecates) may use only letters, digits, "-", "_" and ".";
//   - empty patterns ("~", "&", "%R~") and "%R" without "~" are refused
//     (Redis accepts them, the first three matching only the empty name);
//   - what the engine accepts but cannot read back from the ACL file it
//     saves, or reads back as something else, is refused: a pattern inside
//     a selector that ends with ")" or contains a quote once unquoted, and a
//     key pattern after "%RW~*" (saved as "~*");
//   - what the engine silently ignores is refused: a selector with
//     unbalanced quotes (Redis makes it an empty selector), and a selector
//     opened inside another ("(~a (~b)", where Redis drops "~a");
//   - an unquoted rule with white space, a control character or invalid
//     UTF-8 is refused, as in the rest of the string;
//   - a string with "&pattern" rules but no "resetchannels" is accepted
//     and means exactly those channels, as on an engine whose
//     acl-pubsub-default is resetchannels; an engine configured like
//     ElastiCache (allchannels) refuses "reset &pattern", so Rules adds the
//     resetchannels the engine needs.
//
// The zero value is not useful; use ParseAccessString.
type AccessString struct {
	raw       string // the text parsed, for Append
	on        bool
	root      aclSelector
	selectors []aclSelector
	version   int
}

// aclSelector holds the key, channel and command permissions of the root
// of a user or of one "(...)" selector.
type aclSelector struct {
	allKeys bool         // ~* or allkeys: the engine's all-keys flag (see addKey)
	keys    []keyPattern // without allKeys: in order of first appearance

	channelsUsed bool // any channel rule appeared (printed only then)
	allChannels  bool
	channels     []string

	allCommands bool      // the command list starts from +@all, else -@all
	commands    []cmdRule // after the last +@all/-@all/allcommands/nocommands
}

type keyPattern struct {
	pattern string
	perm    int
}

// cmdRule is one +/- command, subcommand (or first-argument) or category
// rule; target is lower-cased: "get", "config|get", "@read".
type cmdRule struct {
	allow  bool
	target string
}

func (r cmdRule) String() string {
	if r.allow {
		return "+" + r.target
	}
	return "-" + r.target
}

// ParseAccessString validates s and returns its parsed form, or an EINVALID
// *Error (resource user) with a message that can be returned to the caller.
// Leading, trailing and repeated white space is accepted.
func ParseAccessString(s string) (*AccessString, error) {
	a := &AccessString{raw: s, version: engineVersion60}
	if err := a.parse(s); err != nil {
		return nil, err
	}
	if err := a.root.checkSaved(false); err != nil {
		return nil, err
	}
	for i := range a.selectors {
		if err := a.selectors[i].checkSaved(true); err != nil {
			return nil, err
		}
	}
	a.root.normalize()
	for i := range a.selectors {
		a.selectors[i].normalize()
	}
	return a, nil
}

// Append returns the access string with the rules of more applied after
// the existing ones (ModifyUser's AppendAccessString), re-validated as a
// whole. a itself is not changed. An empty or blank more is invalid, as on
// the API (pattern ".*\S.*").
func (a *AccessString) Append(more string) (*AccessString, error) {
	if len(accessTokens(more)) == 0 {
		return nil, Errorf(EINVALID, ResourceUser, "Invalid access string to append: it must contain at least one rule.")
	}
	return ParseAccessString(a.raw + " " + more)
}

// String returns the normalised form that the API returns and stores, e.g.
// "on ~* +@all", "off ~keys* -@all +get" or
// "on ~app:* &news:* -@all +@read (%R~logs:* -@all +get)".
//
// Layout: the flag (the last of on/off; off when neither appears); the key
// patterns after the last resetkeys ("~*" for all keys, identical patterns
// merged into the first one); the channel patterns after the last
// resetchannels, printed only if the string has channel rules ("&*" for all
// channels, "resetchannels" for none); the command rules, starting with
// "+@all" or "-@all" and followed by the rules after the last reset of the
// list, where a rule repeated for the same command or category keeps only
// its last occurrence and leading rules that cannot change anything (such
// as "-get" right after "-@all") are dropped; then each selector, laid out
// the same way inside parentheses, without a flag.
func (a *AccessString) String() string {
	parts := []string{a.flag()}
	parts = a.root.describe(parts)
	for i := range a.selectors {
		parts = append(parts, "("+strings.Join(a.selectors[i].describe(nil), " ")+")")
	}
	return strings.Join(parts, " ")
}

// MinimumEngineVersion returns the lowest engine version that understands
// the rules as written (§9.4): "7.0" if they use selectors, clearselectors,
// %R~/%W~/%RW~ key patterns or the cmd|sub syntax; "6.2" if they use
// channel rules (&pattern, allchannels, resetchannels); "6.0" otherwise.
//
// It is computed from the rules as written (spec §9.4), so a rule that
// normalisation hides still counts: "on %RW~k +get" needs 7.0
// although it is stored as "on ~k -@all +get". A value parsed back from the
// stored string can therefore be lower; keep the value computed when the
// access string was set.
func (a *AccessString) MinimumEngineVersion() string {
	switch a.version {
	case engineVersion70:
		return "7.0"
	case engineVersion62:
		return "6.2"
	}
	return "6.0"
}

// Rules returns the ACL rules to apply on the engine after "reset" and the
// password rules, i.e. what goes in
//
//	ACL SETUSER <name> reset <passwords> <Rules()...>
//
// on Redis 7 / Valkey; each selector is one element, e.g. "(~a -@all +get)".
//
// Channels: ElastiCache's acl-pubsub-default is allchannels (spec §7.4),
// so a user (or selector) whose access string has no channel rule gets all
// channels there, while plain Redis 7 and Valkey default to resetchannels.
// Rules therefore always states the channel permissions explicitly, right
// after the flag (and first inside each selector): "allchannels" when the
// access string has no channel rule or grants all channels, otherwise
// "resetchannels" followed by the "&pattern"s. String does not show the
// implicit allchannels ("on ~* +@all" has Rules
// ["on", "allchannels", "~*", "+@all"]). Being explicit makes the result
// independent of the engine's acl-pubsub-default: with allchannels there,
// "reset &news" alone would be refused by Redis. Redis 6.0 has no channel
// rules; drop "allchannels" when targeting a 6.0 engine.
func (a *AccessString) Rules() []string {
	rules := []string{a.flag()}
	rules = a.root.rules(rules)
	for i := range a.selectors {
		rules = append(rules, "("+strings.Join(a.selectors[i].rules(nil), " ")+")")
	}
	return rules
}

func (a *AccessString) flag() string {
	if a.on {
		return "on"
	}
	return "off"
}

// describe appends the normalised form of sel (keys, channels, commands).
func (sel *aclSelector) describe(parts []string) []string {
	parts = sel.appendKeys(parts)
	if sel.channelsUsed {
		switch {
		case sel.allChannels:
			parts = append(parts, "&*")
		case len(sel.channels) == 0:
			parts = append(parts, "resetchannels")
		default:
			parts = sel.appendChannels(parts)
		}
	}
	return sel.appendCommands(parts)
}

// rules appends the engine rules of sel, channels first and explicit.
func (sel *aclSelector) rules(parts []string) []string {
	if !sel.channelsUsed || sel.allChannels {
		parts = append(parts, "allchannels")
	} else {
		parts = append(parts, "resetchannels")
		parts = sel.appendChannels(parts)
	}
	parts = sel.appendKeys(parts)
	return sel.appendCommands(parts)
}

func (sel *aclSelector) appendKeys(parts []string) []string {
	if sel.allKeys {
		return append(parts, "~*")
	}
	for _, k := range sel.keys {
		switch k.perm {
		case permRead:
			parts = append(parts, "%R~"+k.pattern)
		case permWrite:
			parts = append(parts, "%W~"+k.pattern)
		default:
			parts = append(parts, "~"+k.pattern)
		}
	}
	return parts
}

func (sel *aclSelector) appendChannels(parts []string) []string {
	for _, c := range sel.channels {
		parts = append(parts, "&"+c)
	}
	return parts
}

func (sel *aclSelector) appendCommands(parts []string) []string {
	if sel.allCommands {
		parts = append(parts, "+@all")
	} else {
		parts = append(parts, "-@all")
	}
	for _, r := range sel.commands {
		parts = append(parts, r.String())
	}
	return parts
}

// normalize removes command rules that cannot matter, which keeps the
// permissions identical (each rule sets the permission of exactly the
// commands its target names, whatever came before):
//   - a rule followed later by a rule for the same target is overridden;
//   - a leading run of rules with the sign of the base (+x after +@all,
//     -x after -@all) changes nothing.
func (sel *aclSelector) normalize() {
	// A "*" pattern with read and write permission (last, see addKey)
	// grants every key, like ~*, which the engine saves it as.
	if n := len(sel.keys); n > 0 && sel.keys[n-1].pattern == "*" && sel.keys[n-1].perm == permAll {
		sel.allKeys, sel.keys = true, nil
	}
	last := make(map[string]int, len(sel.commands))
	for i, r := range sel.commands {
		last[r.target] = i
	}
	kept := sel.commands[:0]
	for i, r := range sel.commands {
		if last[r.target] != i {
			continue
		}
		if len(kept) == 0 && r.allow == sel.allCommands {
			continue
		}
		kept = append(kept, r)
	}
	sel.commands = kept
}

// accessTokens splits s on ASCII white space (what Redis' ACL parser uses).
func accessTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		switch r {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			return true
		}
		return false
	})
}

func (a *AccessString) parse(s string) error {
	if !utf8.ValidString(s) {
		return invalidAccess("it is not valid UTF-8.")
	}
	for _, r := range s {
		if (r < 0x20 && !strings.ContainsRune("\t\n\r\v\f", r)) || r == 0x7f {
			return invalidAccess("it contains a control character.")
		}
	}
	tokens := accessTokens(s)
	if len(tokens) == 0 {
		return invalidAccess("it must contain at least one rule.")
	}
	args, err := mergeSelectors(tokens)
	if err != nil {
		return err
	}
	for _, arg := range args {
		if len(arg) >= 2 && arg[0] == '(' && arg[len(arg)-1] == ')' {
			if err := a.applySelectorArg(arg); err != nil {
				return err
			}
			continue
		}
		if err := a.applyRoot(arg); err != nil {
			return err
		}
	}
	return nil
}

// mergeSelectors groups white-space separated tokens into ACL SETUSER
// arguments exactly as Redis' ACLMergeSelectorArguments does (for ACL
// SETUSER and when it loads its ACL file): a token that starts with "(" and
// does not end with ")" opens a selector, which the first later token
// ending with ")" closes; quotes play no part here. Redis silently drops the
// part of a selector before a second opening token ("(~a (~b)" is "(~b)"
// there); that is refused instead.
func mergeSelectors(tokens []string) ([]string, error) {
	var (
		args []string
		sel  []string // the open selector's tokens
	)
	for _, tok := range tokens {
		if tok[0] == '(' && tok[len(tok)-1] != ')' {
			if sel != nil {
				return nil, invalidAccess("selectors cannot be nested: %s opens a selector inside the selector starting at %s.", quoteRule(tok), quoteRule(sel[0]))
			}
			sel = []string{tok}
			continue
		}
		if sel != nil {
			sel = append(sel, tok)
			if tok[len(tok)-1] == ')' {
				args = append(args, strings.Join(sel, " "))
				sel = nil
			}
			continue
		}
		args = append(args, tok)
	}
	if sel != nil {
		return nil, invalidAccess("unmatched \"(\" in the selector starting at %s.", quoteRule(sel[0]))
	}
	return args, nil
}

// applyRoot applies one rule outside any selector. Outside selectors the
// engine takes every argument literally: quotes and backslashes are part
// of a pattern there ("~\"a\"" is the key pattern "a" in quotes).
func (a *AccessString) applyRoot(tok string) error {
	switch strings.ToLower(tok) {
	case "on":
		a.on = true
		return nil
	case "off":
		a.on = false
		return nil
	case "clearselectors":
		a.need(engineVersion70)
		a.selectors = nil
		return nil
	}
	ok, err := a.applySelector(&a.root, tok)
	if err != nil || ok {
		return err
	}
	if strings.HasSuffix(tok, ")") {
		return invalidAccess("unmatched \")\" in %s.", quoteRule(tok))
	}
	return unknownRule(tok)
}

// applySelectorArg applies one whole selector "( ... )". Redis splits the
// inside of a selector with sdssplitargs, so quotes and escapes are
// interpreted there ("~\"ab\"" is the key pattern ab, "~\"a\x2a\"" is a*),
// and keyward applies the unquoted rules the same way. What the engine
// would accept but cannot read back from the ACL file it saves, or would
// read back as something else, is refused: see applySelectorRule.
func (a *AccessString) applySelectorArg(arg string) error {
	a.need(engineVersion70)
	words, ok := splitArgs(arg[1 : len(arg)-1])
	if !ok {
		// Redis ignores the whole inside of such a selector (an empty
		// selector, granting nothing): the caller meant something else.
		return invalidAccess("unbalanced quotes in the selector %s: a quote must be closed, and followed by a space or the end of the selector.", quoteRule(arg))
	}
	a.selectors = append(a.selectors, aclSelector{})
	sel := &a.selectors[len(a.selectors)-1]
	for _, w := range words {
		if err := a.applySelectorRule(sel, w, arg); err != nil {
			return err
		}
	}
	return nil
}

// applySelectorRule applies one (unquoted) rule inside the selector arg.
func (a *AccessString) applySelectorRule(sel *aclSelector, tok, arg string) error {
	switch {
	case tok == "":
		return invalidAccess("empty rule (\"\" or '') in the selector %s.", quoteRule(arg))
	case !utf8.ValidString(tok):
		return invalidAccess("an escape in the selector %s makes a rule that is not valid UTF-8.", quoteRule(arg))
	case strings.ContainsFunc(tok, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		// White space included: the engine refuses it in patterns, and
		// no command or keyword has any.
		return invalidAccess("an escape or quote in the selector %s makes a rule with white space or a control character.", quoteRule(arg))
	case strings.ContainsRune(tok, ' '):
		return invalidAccess("a quote in the selector %s makes a rule with white space (%s).", quoteRule(arg), quoteRule(tok))
	case tok[0] == '(':
		return invalidAccess("selectors cannot be nested (%s).", quoteRule(tok))
	}
	switch lower := strings.ToLower(tok); lower {
	case "on", "off", "clearselectors":
		return invalidAccess("%q is not allowed inside a selector.", lower)
	}
	ok, err := a.applySelector(sel, tok)
	if err != nil || ok {
		return err
	}
	return unknownRule(tok)
}

// checkSaved refuses the patterns of a selector that the engine accepts
// but cannot read back from the ACL file it saves. The engine saves a
// selector's patterns as they are, and splits the selector again with
// sdssplitargs when it loads the file: a quote would be read as quoting
// (changing the selector, or emptying it), and a ")" at the end would
// close the selector early, so that the line is refused and the node does
// not start. Only the patterns that remain count, as only they are saved.
//
// The key pattern "*" with read and write permission ("%RW~*", or "%R~*"
// and "%W~*") grants all keys, but the engine saves it as "~*", which sets
// the all-keys flag when the file is loaded: a pattern after it then makes
// the line unloadable. That holds for the root too.
func (sel *aclSelector) checkSaved(inSelector bool) error {
	for i, k := range sel.keys {
		if k.pattern == "*" && k.perm == permAll && i < len(sel.keys)-1 {
			return invalidAccess("the key pattern \"*\" with read and write permission (%%RW~*, or %%R~* and %%W~*) is followed by %s, which is not valid: the engine saves it as ~* and could not load a pattern after it from its ACL file; use ~* alone, or resetkeys first.", quoteRule(sel.keys[i+1].pattern))
		}
	}
	if !inSelector {
		return nil
	}
	patterns := slices.Clone(sel.channels)
	for _, k := range sel.keys {
		patterns = append(patterns, k.pattern)
	}
	for _, p := range patterns {
		if strings.ContainsAny(p, "\"'") {
			return invalidAccess("a pattern inside a selector must not contain a quote once unquoted (%s): the engine would read it back differently from its ACL file.", quoteRule(p))
		}
		if strings.HasSuffix(p, ")") {
			return invalidAccess("a pattern inside a selector must not end with \")\" (%s): the engine could not read it back from its ACL file.", quoteRule(p))
		}
	}
	return nil
}

// splitArgs splits s exactly as Redis' sdssplitargs (src/sds.c), which ACL
// SETUSER uses inside a selector: white space separates arguments; "..."
// takes \xHH, \n, \r, \t, \b, \a and \<any> escapes; '...' takes \';
// a closing quote must be followed by white space or the end; quotes may
// start in the middle of an argument (ab"cd" is abcd). ok is false where
// sdssplitargs fails (unbalanced quotes, text right after a closing quote).
func splitArgs(s string) (args []string, ok bool) {
	isSpace := func(c byte) bool {
		return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
	}
	at := func(i int) byte { // C string semantics: 0 past the end
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	p := 0
	for {
		for p < len(s) && isSpace(s[p]) {
			p++
		}
		if p >= len(s) {
			return args, true
		}
		var cur []byte
		inq, insq, done := false, false, false
		for !done {
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)):
					cur = append(cur, unhex(at(p+2))<<4|unhex(at(p+3)))
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					switch e := at(p); e {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, e)
					}
				case c == '"':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					cur = append(cur, '\'')
				case c == '\'':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return nil, false
					}
					done = true
				case c == 0:
					return nil, false
				default:
					cur = append(cur, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					cur = append(cur, c)
				}
			}
			if p < len(s) {
				p++
			}
		}
		args = append(args, string(cur))
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// applySelector applies a key, channel or command rule (or refuses a
// forbidden one). It reports false for a token that is none of these.
func (a *AccessString) applySelector(sel *aclSelector, tok string) (bool, error) {
	switch strings.ToLower(tok) {
	case "allkeys", "~*":
		sel.allKeys, sel.keys = true, nil
		return true, nil
	case "resetkeys":
		sel.allKeys, sel.keys = false, nil
		return true, nil
	case "allchannels":
		a.need(engineVersion62)
		sel.channelsUsed, sel.allChannels, sel.channels = true, true, nil
		return true, nil
	case "resetchannels":
		a.need(engineVersion62)
		sel.channelsUsed, sel.allChannels, sel.channels = true, false, nil
		return true, nil
	case "allcommands":
		sel.allCommands, sel.commands = true, nil
		return true, nil
	case "nocommands":
		sel.allCommands, sel.commands = false, nil
		return true, nil
	case "nopass", "resetpass":
		return true, passwordRule()
	case "reset":
		return true, invalidAccess("\"reset\" is not allowed; an access string always starts from a reset user.")
	case "sanitize-payload", "skip-sanitize-payload":
		return true, invalidAccess("%q is not supported.", strings.ToLower(tok))
	}
	switch tok[0] {
	case '>', '<', '#', '!':
		return true, passwordRule()
	case '~':
		return true, a.addKey(sel, tok, tok[1:], permAll)
	case '%':
		perm, pattern, err := parsePermPrefix(tok)
		if err != nil {
			return true, err
		}
		a.need(engineVersion70)
		return true, a.addKey(sel, tok, pattern, perm)
	case '&':
		return true, a.addChannel(sel, tok)
	case '+', '-':
		return true, a.addCommand(sel, tok)
	}
	return false, nil
}

// parsePermPrefix splits "%R~p", "%W~p", "%RW~p" (any case, R and W in any
// order, each at most once) into permissions and pattern.
func parsePermPrefix(tok string) (int, string, error) {
	perm := 0
	for i := 1; i < len(tok); i++ {
		switch tok[i] {
		case 'r', 'R':
			if perm&permRead != 0 {
				return 0, "", badPermPrefix(tok)
			}
			perm |= permRead
		case 'w', 'W':
			if perm&permWrite != 0 {
				return 0, "", badPermPrefix(tok)
			}
			perm |= permWrite
		case '~':
			if perm == 0 {
				return 0, "", badPermPrefix(tok)
			}
			return perm, tok[i+1:], nil
		default:
			return 0, "", badPermPrefix(tok)
		}
	}
	return 0, "", badPermPrefix(tok)
}

func badPermPrefix(tok string) error {
	return invalidAccess("invalid key permission rule %s; use %%R~pattern, %%W~pattern or %%RW~pattern.", quoteRule(tok))
}

// addKey adds a key pattern the way Redis' ACLSetSelector does: after ~*
// or allkeys (the all-keys flag) any other pattern is refused; a pattern
// given again gains the new permissions. "%RW~*" is a pattern, not the
// flag (see checkSaved).
func (a *AccessString) addKey(sel *aclSelector, tok, pattern string, perm int) error {
	if sel.allKeys {
		return invalidAccess("adding the key pattern %s after ~* (or allkeys) is not valid and has no effect; use resetkeys first to start from an empty list of patterns.", quoteRule(tok))
	}
	if pattern == "" {
		return invalidAccess("empty key pattern in %s.", quoteRule(tok))
	}
	merged := false
	for i := range sel.keys {
		if sel.keys[i].pattern == pattern {
			sel.keys[i].perm |= perm
			merged = true
			break
		}
	}
	if !merged {
		sel.keys = append(sel.keys, keyPattern{pattern: pattern, perm: perm})
	}
	return nil
}

func (a *AccessString) addChannel(sel *aclSelector, tok string) error {
	a.need(engineVersion62)
	pattern := tok[1:]
	if pattern == "" {
		return invalidAccess("empty channel pattern in %s.", quoteRule(tok))
	}
	sel.channelsUsed = true
	if pattern == "*" {
		sel.allChannels, sel.channels = true, nil
		return nil
	}
	if sel.allChannels {
		return invalidAccess("adding the channel pattern %s after &* (or allchannels) is not valid and has no effect; use resetchannels first to start from an empty list of channels.", quoteRule(tok))
	}
	for _, c := range sel.channels {
		if c == pattern {
			return nil
		}
	}
	sel.channels = append(sel.channels, pattern)
	return nil
}

func (a *AccessString) addCommand(sel *aclSelector, tok string) error {
	allow := tok[0] == '+'
	name := strings.ToLower(tok[1:])
	if strings.HasPrefix(name, "@") {
		cat := name[1:]
		if cat != "all" && !engineCategories[cat] {
			return invalidAccess("unknown ACL category %s in %s.", quoteRule(name), quoteRule(tok))
		}
		if cat == "all" {
			sel.allCommands, sel.commands = allow, nil
			return nil
		}
		sel.commands = append(sel.commands, cmdRule{allow: allow, target: name})
		return nil
	}
	cmd, sub, hasSub := strings.Cut(name, "|")
	if !plausibleCommandName(cmd) || (hasSub && !plausibleCommandName(sub)) {
		if strings.HasSuffix(tok, ")") {
			return invalidAccess("unmatched \")\" in %s.", quoteRule(tok))
		}
		return invalidAccess("invalid command rule %s; use +command, -command, +command|subcommand or +@category.", quoteRule(tok))
	}
	if err := checkCommand(tok, cmd, sub, hasSub, allow); err != nil {
		return err
	}
	if hasSub {
		a.need(engineVersion70)
	}
	sel.commands = append(sel.commands, cmdRule{allow: allow, target: name})
	return nil
}

// checkCommand refuses what the engine would refuse when the user is
// applied, so that the API answers InvalidParameterValue instead: an unknown
// command, an unknown subcommand of a container command (CONFIG, ACL...),
// and "-command|first-arg" (Redis can allow a first argument, not deny one).
// Module commands (with a ".", such as json.get) are unknown too: keyward's
// nodes run without modules (enable-module-command no), so the engine
// refuses them, and one such user would fail every ACL change of its nodes.
func checkCommand(tok, cmd, sub string, hasSub, allow bool) error {
	if !engineCommands[cmd] {
		if strings.Contains(cmd, ".") {
			return invalidAccess("unknown command %s in %s. Module commands are not available: the engine runs without modules.", quoteRule(cmd), quoteRule(tok))
		}
		return invalidAccess("unknown command %s in %s.", quoteRule(cmd), quoteRule(tok))
	}
	if !hasSub {
		return nil
	}
	if hasSubcommands(cmd) {
		if !engineCommands[cmd+"|"+sub] {
			return invalidAccess("unknown subcommand %s of %s in %s.", quoteRule(sub), quoteRule(cmd), quoteRule(tok))
		}
		return nil
	}
	if !allow {
		return invalidAccess("%s: a first argument can be allowed (+%s|%s) but not denied.", quoteRule(tok), cmd, sub)
	}
	return nil
}

// hasSubcommands reports whether cmd is a container command.
func hasSubcommands(cmd string) bool {
	for name := range engineCommands {
		if strings.HasPrefix(name, cmd+"|") {
			return true
		}
	}
	return false
}

// plausibleCommandName reports whether s looks like a (lower-cased) Redis
// command, subcommand or module command name: letters, digits, - _ and .
func plausibleCommandName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func (a *AccessString) need(v int) {
	if v > a.version {
		a.version = v
	}
}

func invalidAccess(format string, args ...any) error {
	return Errorf(EINVALID, ResourceUser, "Invalid access string: "+format, args...)
}

func unknownRule(tok string) error {
	return invalidAccess("unknown rule %s.", quoteRule(tok))
}

// passwordRule is the error for password material; it never repeats the
// token, which may be a password.
func passwordRule() error {
	return invalidAccess("passwords and password rules (>, <, #, !, nopass, resetpass) are not allowed; use the Passwords, AuthenticationMode or NoPasswordRequired parameters.")
}

// quoteRule quotes a rule for a message, shortened to keep messages small.
func quoteRule(tok string) string {
	const max = 64
	if utf8.RuneCountInString(tok) > max {
		r := []rune(tok)
		tok = string(r[:max]) + "..."
	}
	return `"` + tok + `"`
}
