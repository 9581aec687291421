package keyward

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// validAccessStrings are accepted access strings with their normalised
// form, MinimumEngineVersion and engine rules. Entries with noEngine set
// are skipped by the redis-server test (the reason says why); entries with
// rawRejected are accepted here although the engine refuses the caller's
// text as written (the normalised form and the rules are still accepted).
var validAccessStrings = []struct {
	in          string
	want        string
	version     string
	rules       []string // nil: not checked in the table (still engine-checked)
	noEngine    string
	rawRejected bool
}{
	// §7.3 examples and the brief's must-hold list.
	{in: "on ~* +@all", want: "on ~* +@all", version: "6.0", rules: []string{"on", "allchannels", "~*", "+@all"}},
	{in: "~objects:* ~items:* ~public:*", want: "off ~objects:* ~items:* ~public:* -@all", version: "6.0",
		rules: []string{"off", "allchannels", "~objects:*", "~items:*", "~public:*", "-@all"}},
	{in: "off +get ~keys*", want: "off ~keys* -@all +get", version: "6.0", rules: []string{"off", "allchannels", "~keys*", "-@all", "+get"}},
	{in: "on ~keys* -@all +get", want: "on ~keys* -@all +get", version: "6.0"},
	{in: "on ~app::* -@all +@read", want: "on ~app::* -@all +@read", version: "6.0"},
	{in: " on ~* +@all", want: "on ~* +@all", version: "6.0"},
	{in: "on allkeys allcommands", want: "on ~* +@all", version: "6.0", rules: []string{"on", "allchannels", "~*", "+@all"}},

	// White space and case.
	{in: "  on   ~*    +@all  ", want: "on ~* +@all", version: "6.0"},
	{in: "on\t~*\n+@all\r\n", want: "on ~* +@all", version: "6.0"},
	{in: "ON ALLKEYS +@ALL", want: "on ~* +@all", version: "6.0"},
	{in: "On ~Foo:* +GET +Config|Get -@DANGEROUS", want: "on ~Foo:* -@all +get +config|get -@dangerous", version: "7.0"},

	// Flag.
	{in: "on off", want: "off -@all", version: "6.0", rules: []string{"off", "allchannels", "-@all"}},
	{in: "off on", want: "on -@all", version: "6.0"},
	{in: "+get", want: "off -@all +get", version: "6.0"},

	// Keys.
	{in: "on ~a ~b resetkeys ~c", want: "on ~c -@all", version: "6.0"},
	{in: "on ~a allkeys", want: "on ~* -@all", version: "6.0"},
	{in: "on ~a ~*", want: "on ~* -@all", version: "6.0"},
	{in: "on ~* resetkeys", want: "on -@all", version: "6.0", rules: []string{"on", "allchannels", "-@all"}},
	{in: "on allkeys resetkeys ~x allkeys", want: "on ~* -@all", version: "6.0"},
	{in: "on ~a ~b ~a", want: "on ~a ~b -@all", version: "6.0"},
	{in: "on ~a ~a %R~a", want: "on ~a -@all", version: "7.0"},
	{in: "on %R~a %W~a", want: "on ~a -@all", version: "7.0"},
	{in: "on %W~a %R~b %R~a", want: "on ~a %R~b -@all", version: "7.0"},
	{in: "on %r~logs:* %W~queue:* %RW~data:* %WR~x %wr~y", want: "on %R~logs:* %W~queue:* ~data:* ~x ~y -@all", version: "7.0",
		rules: []string{"on", "allchannels", "%R~logs:*", "%W~queue:*", "~data:*", "~x", "~y", "-@all"}},
	{in: "on %R~* +@read", want: "on %R~* -@all +@read", version: "7.0"},
	{in: "on %RW~* +@all", want: "on ~* +@all", version: "7.0"},
	{in: "on %R~* %W~*", want: "on ~* -@all", version: "7.0"},
	{in: "on %RW~* %R~*", want: "on ~* -@all", version: "7.0"},
	{in: "on ~a %RW~*", want: "on ~* -@all", version: "7.0"},
	{in: "on ~a*b?c[de] ~x\\y ~a#b ~c>d ~e!f ~g<h +get", want: "on ~a*b?c[de] ~x\\y ~a#b ~c>d ~e!f ~g<h -@all +get", version: "6.0"},
	{in: "on ~ключ:* ~キー +get", want: "on ~ключ:* ~キー -@all +get", version: "6.0"},
	{in: "on ~a) +get", want: "on ~a) -@all +get", version: "6.0"},

	// Channels (6.2).
	{in: "on ~* &news:* &alerts +@all", want: "on ~* &news:* &alerts +@all", version: "6.2",
		rules: []string{"on", "resetchannels", "&news:*", "&alerts", "~*", "+@all"}},
	{in: "on ~* allchannels +@all", want: "on ~* &* +@all", version: "6.2", rules: []string{"on", "allchannels", "~*", "+@all"}},
	{in: "on ~* &* +@all", want: "on ~* &* +@all", version: "6.2"},
	{in: "on ~* resetchannels +@all", want: "on ~* resetchannels +@all", version: "6.2",
		rules: []string{"on", "resetchannels", "~*", "+@all"}},
	{in: "on &a &* +@all", want: "on &* +@all", version: "6.2"},
	{in: "on &a resetchannels &b &b", want: "on &b -@all", version: "6.2", rules: []string{"on", "resetchannels", "&b", "-@all"}},
	{in: "on &a &b &a", want: "on &a &b -@all", version: "6.2"},
	{in: "on allchannels resetchannels", want: "on resetchannels -@all", version: "6.2"},

	// Commands.
	{in: "on ~* +@all -@dangerous -flushall", want: "on ~* +@all -@dangerous -flushall", version: "6.0"},
	{in: "on ~* -@all +@all", want: "on ~* +@all", version: "6.0"},
	{in: "on ~* +@all -@all", want: "on ~* -@all", version: "6.0"},
	{in: "on ~* +@all nocommands +get", want: "on ~* -@all +get", version: "6.0"},
	{in: "on ~* +get +set allcommands", want: "on ~* +@all", version: "6.0"},
	{in: "on ~* +get -get +get", want: "on ~* -@all +get", version: "6.0"},
	{in: "on ~* +get +set -get", want: "on ~* -@all +set -get", version: "6.0"},
	{in: "on ~* -get -@read +@read +get", want: "on ~* -@all +@read +get", version: "6.0"},
	{in: "on ~* +@all +get -set", want: "on ~* +@all -set", version: "6.0"},
	{in: "on ~* -@all -get +set", want: "on ~* -@all +set", version: "6.0"},
	{in: "on ~* +@all -@read +@read", want: "on ~* +@all", version: "6.0"},
	{in: "on ~* +@all -get +set +get", want: "on ~* +@all", version: "6.0"},
	{in: "on ~* -config|set +config|get", want: "on ~* -@all +config|get", version: "7.0"},
	{in: "on ~* +@all -config|set", want: "on ~* +@all -config|set", version: "7.0"},
	{in: "on ~* +config -config|set", want: "on ~* -@all +config -config|set", version: "7.0"},
	{in: "on ~* +select|0 +select|1", want: "on ~* -@all +select|0 +select|1", version: "7.0"},
	{in: "on ~* -@all +@keyspace +@read +@write +@set +@sortedset +@list +@hash +@string +@bitmap +@hyperloglog +@geo +@stream +@pubsub +@admin +@fast +@slow +@blocking +@dangerous +@connection +@transaction +@scripting",
		want: "on ~* -@all +@keyspace +@read +@write +@set +@sortedset +@list +@hash +@string +@bitmap +@hyperloglog +@geo +@stream +@pubsub +@admin +@fast +@slow +@blocking +@dangerous +@connection +@transaction +@scripting", version: "6.0"},
	{in: "on ~* -@all +restore-asking +get", want: "on ~* -@all +restore-asking +get", version: "6.0"},

	// Selectors (7.0).
	{in: "on ~app:* +get (~logs:* +@read)", want: "on ~app:* -@all +get (~logs:* -@all +@read)", version: "7.0",
		rules: []string{"on", "allchannels", "~app:*", "-@all", "+get", "(allchannels ~logs:* -@all +@read)"}},
	{in: "on (~a +get) (%R~b &c +@read)", want: "on -@all (~a -@all +get) (%R~b &c -@all +@read)", version: "7.0",
		rules: []string{"on", "allchannels", "-@all", "(allchannels ~a -@all +get)", "(resetchannels &c %R~b -@all +@read)"}},
	{in: "on ( ~a +get )", want: "on -@all (~a -@all +get)", version: "7.0"},
	{in: "on (~a +get ) ( +set)", want: "on -@all (~a -@all +get) (-@all +set)", version: "7.0"},
	{in: "on ()", want: "on -@all (-@all)", version: "7.0", rules: []string{"on", "allchannels", "-@all", "(allchannels -@all)"}},
	{in: "on (~a) (~a)", want: "on -@all (~a -@all) (~a -@all)", version: "7.0"},
	{in: "on (~a) clearselectors (~b)", want: "on -@all (~b -@all)", version: "7.0"},
	{in: "on ~* +@all clearselectors", want: "on ~* +@all", version: "7.0"},
	{in: "on (ALLKEYS ALLCHANNELS ALLCOMMANDS)", want: "on -@all (~* &* +@all)", version: "7.0",
		rules: []string{"on", "allchannels", "-@all", "(allchannels ~* +@all)"}},
	{in: "on (~a nocommands +get -get)", want: "on -@all (~a -@all)", version: "7.0"},
	{in: "on (~a) ~b", want: "on ~b -@all (~a -@all)", version: "7.0"},
	{in: "on (resetchannels ~a)", want: "on -@all (~a resetchannels -@all)", version: "7.0",
		rules: []string{"on", "allchannels", "-@all", "(resetchannels ~a -@all)"}},
	{in: "on (~a(b +get)", want: "on -@all (~a(b -@all +get)", version: "7.0"},
	{in: "on (~a(b) +get", want: "on -@all +get (~a(b -@all)", version: "7.0"},
	{in: "+@all (+@all -config|set ~x)", want: "off +@all (~x +@all -config|set)", version: "7.0"},

	// Quotes and escapes: the engine unquotes inside selectors only
	// (sdssplitargs), and the stored form says what the node enforces.
	{in: `on ~app:* -@all +get (~"*" -@all +get)`, want: "on ~app:* -@all +get (~* -@all +get)", version: "7.0",
		rules: []string{"on", "allchannels", "~app:*", "-@all", "+get", "(allchannels ~* -@all +get)"}},
	{in: `on (~"ab" -@all +get)`, want: "on -@all (~ab -@all +get)", version: "7.0"},
	{in: `on (~"a\x2ab" +get)`, want: "on -@all (~a*b -@all +get)", version: "7.0"},
	{in: `on (~ab"cd" +get)`, want: "on -@all (~abcd -@all +get)", version: "7.0"},
	{in: `on (~'x:*' '+GET' "%R~y" "&c")`, want: "on -@all (~x:* %R~y &c -@all +get)", version: "7.0"},
	{in: `on ("allkeys" 'allcommands')`, want: "on -@all (~* +@all)", version: "7.0"},
	{in: `on (~a\b +get)`, want: "on -@all (~a\\b -@all +get)", version: "7.0"},
	{in: `on (~"\xc3\xa9:*" +get)`, want: "on -@all (~é:* -@all +get)", version: "7.0"},
	{in: `on (~"a(b" +get)`, want: "on -@all (~a(b -@all +get)", version: "7.0"},
	{in: `on (~a)b +get)`, want: "on -@all (~a)b -@all +get)", version: "7.0"},
	{in: `on ~"ab" ~'c' ~a\x29 &"ch)" +get`, want: `on ~"ab" ~'c' ~a\x29 &"ch)" -@all +get`, version: "6.2"},
}

// invalidAccessStrings are refused; want is a substring of the message.
var invalidAccessStrings = []struct {
	in   string
	want string
}{
	{"", "at least one rule"},
	{"   ", "at least one rule"},
	{"\t\n\r ", "at least one rule"},

	// Commands the engine would refuse.
	{"on ~* +nosuchcmd", "unknown command"},
	{"on ~* +get -confg", "unknown command"},
	{"on ~* -@all +config|nosuch", "unknown subcommand"},
	{"on ~* +@all -select|0", "first argument"},
	{"on (~a +nosuchcmd)", "unknown command"},
	{"on ~* -@all +json.get", `unknown command "json.get" in "+json.get". Module commands are not available`},
	{"on ~* -@all +FT.SEARCH", `unknown command "ft.search"`},
	{"on (~a +json.get)", "unknown command"},

	// Password material and reset (§7.2).
	{"on >secret-password-123 ~* +@all", "password"},
	{"on <secret-password-123", "password"},
	{"on #0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "password"},
	{"on !0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "password"},
	{"on nopass ~* +@all", "password"},
	{"on NOPASS", "password"},
	{"resetpass", "password"},
	{"reset", `"reset" is not allowed`},
	{"on ~* +@all RESET", `"reset" is not allowed`},
	{"(~a >secret-password-123)", "password"},
	{"(reset)", `"reset" is not allowed`},

	// Unknown rules.
	{"foo", `unknown rule "foo"`},
	{"on ~* +@all bogus", `unknown rule "bogus"`},
	{"allkey", "unknown rule"},
	{"onn", "unknown rule"},
	{"sanitize-payload", "not supported"},
	{"skip-sanitize-payload", "not supported"},
	{"on *", "unknown rule"},
	{"on @read", "unknown rule"},
	{"on get", "unknown rule"},

	// Categories.
	{"+@nosuchcat", `unknown ACL category "@nosuchcat"`},
	{"+@", "unknown ACL category"},
	{"-@reads", "unknown ACL category"},
	{"+@read|x", "unknown ACL category"},
	{"+@all|x", "unknown ACL category"},

	// Command names.
	{"+", "invalid command rule"},
	{"-", "invalid command rule"},
	{"+get!", "invalid command rule"},
	{"+get*", "invalid command rule"},
	{"+get|", "invalid command rule"},
	{"+|get", "invalid command rule"},
	{"+config|get|x", "invalid command rule"},
	{"+ge/t", "invalid command rule"},
	{"+команда", "invalid command rule"},

	// Parentheses.
	{"(", `unmatched "("`},
	{"(~a", `unmatched "("`},
	{"on (~a +get", `unmatched "("`},
	{"on (~a) (+get", `unmatched "("`},
	{")", `unmatched ")"`},
	{"on ~* +get)", `unmatched ")"`},
	{"on ~* (+get))", `unmatched ")"`},
	{"((~a))", "cannot be nested"},
	{"(~a (+get))", "cannot be nested"},
	{"(on)", "not allowed inside a selector"},
	{"(~a OFF)", "not allowed inside a selector"},
	{"(clearselectors)", "not allowed inside a selector"},
	{"(~a))", `must not end with ")"`},
	{"(+get &a))", `must not end with ")"`},
	{"(~a(b) +get)", `unmatched ")"`},
	{"(~a (~b -@all)", "cannot be nested"},

	// Quotes and escapes inside selectors (what the engine would read
	// back differently from its ACL file, or silently ignore).
	{`on ~app:* -@all +get (~"ab\x29" -@all +get)`, `must not end with ")"`},
	{`(~"ab)" -@all +get)`, `must not end with ")"`},
	{`(%R~'k)' -@all +get)`, `must not end with ")"`},
	{`(&"ch)" -@all +get)`, `must not end with ")"`},
	{`(~"abc -@all)`, "unbalanced quotes"},
	{`(~"ab"cd -@all)`, "unbalanced quotes"},
	{`(~'ab'cd -@all)`, "unbalanced quotes"},
	{`(~a\b ~c\"d +get)`, "unbalanced quotes"},
	{`(~'a"b')`, "must not contain a quote"},
	{`(~"a\"b")`, "must not contain a quote"},
	{`(~"a'b")`, "must not contain a quote"},
	{`(~"a b")`, "white space"},
	{`(~"a\tb")`, "white space or a control character"},
	{`(~"a\x00b")`, "white space or a control character"},
	{`(~"a\x01b")`, "white space or a control character"},
	{`(~"\xff")`, "not valid UTF-8"},
	{`(~a "")`, "empty rule"},
	{`("(~a")`, "cannot be nested"},
	{`("on")`, "not allowed inside a selector"},
	{`(~a "+json.get")`, "unknown command"},

	// Patterns.
	{"allkeys ~a", "after ~* (or allkeys)"},
	{"~* %R~a", "after ~* (or allkeys)"},
	{"%RW~* ~a", "could not load a pattern after it"},
	{"%R~* ~a %W~*", "could not load a pattern after it"},
	{"allkeys %RW~*", "after ~* (or allkeys)"},
	{"~* %RW~*", "after ~* (or allkeys)"},
	{"&* &a", "after &* (or allchannels)"},
	{"allchannels &a", "after &* (or allchannels)"},
	{"(allkeys ~a)", "after ~* (or allkeys)"},
	{"~", "empty key pattern"},
	{"%R~", "empty key pattern"},
	{"&", "empty channel pattern"},
	{"%R", "invalid key permission rule"},
	{"%~a", "invalid key permission rule"},
	{"%RR~a", "invalid key permission rule"},
	{"%RWR~a", "invalid key permission rule"},
	{"%X~a", "invalid key permission rule"},
	{"%", "invalid key permission rule"},

	// Characters.
	{"on ~a\x00b", "control character"},
	{"on ~a\x01", "control character"},
	{"on ~a\x7f", "control character"},
	{"on ~\xff", "UTF-8"},
}

func TestParseAccessStringValid(t *testing.T) {
	for _, tc := range validAccessStrings {
		a, err := ParseAccessString(tc.in)
		if err != nil {
			t.Errorf("ParseAccessString(%q): %v", tc.in, err)
			continue
		}
		if got := a.String(); got != tc.want {
			t.Errorf("ParseAccessString(%q).String() = %q, want %q", tc.in, got, tc.want)
		}
		if got := a.MinimumEngineVersion(); got != tc.version {
			t.Errorf("ParseAccessString(%q).MinimumEngineVersion() = %q, want %q", tc.in, got, tc.version)
		}
		if tc.rules != nil {
			if got := a.Rules(); !reflect.DeepEqual(got, tc.rules) {
				t.Errorf("ParseAccessString(%q).Rules() = %q, want %q", tc.in, got, tc.rules)
			}
		}
		// The normalised form is a fixed point.
		b, err := ParseAccessString(tc.want)
		if err != nil {
			t.Errorf("ParseAccessString(%q) (normalised form): %v", tc.want, err)
			continue
		}
		if got := b.String(); got != tc.want {
			t.Errorf("ParseAccessString(%q).String() = %q, not a fixed point", tc.want, got)
		}
		if !reflect.DeepEqual(b.Rules(), a.Rules()) {
			t.Errorf("Rules differ between %q (%q) and its normalised form (%q)", tc.in, a.Rules(), b.Rules())
		}
	}
}

func TestParseAccessStringInvalid(t *testing.T) {
	for _, tc := range invalidAccessStrings {
		a, err := ParseAccessString(tc.in)
		if err == nil {
			t.Errorf("ParseAccessString(%q) = %q, want an error containing %q", tc.in, a.String(), tc.want)
			continue
		}
		checkAccessStringError(t, tc.in, err, tc.want)
	}
}

func checkAccessStringError(t *testing.T, in string, err error, want string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%q: error %T %v is not an *Error", in, err, err)
		return
	}
	if e.Code != EINVALID || e.Resource != ResourceUser {
		t.Errorf("%q: error code/resource = %q/%q, want %q/%q", in, e.Code, e.Resource, EINVALID, ResourceUser)
	}
	if !strings.HasPrefix(e.Message, "Invalid access string") {
		t.Errorf("%q: message %q does not start with \"Invalid access string\"", in, e.Message)
	}
	if !strings.Contains(e.Message, want) {
		t.Errorf("%q: message %q does not contain %q", in, e.Message, want)
	}
	if strings.Contains(e.Message, "secret-password") || strings.Contains(e.Message, "0123456789abcdef") {
		t.Errorf("%q: message %q repeats password material", in, e.Message)
	}
}

func TestAccessStringErrorMessageIsShort(t *testing.T) {
	_, err := ParseAccessString("on " + strings.Repeat("x", 10000))
	if err == nil || len(ErrorMessage(err)) > 200 {
		t.Fatalf("error for a long unknown rule: %v", err)
	}
	if !strings.Contains(ErrorMessage(err), `"`+strings.Repeat("x", 64)+`..."`) {
		t.Errorf("long rule not shortened in %q", ErrorMessage(err))
	}
}

func TestAccessStringMinimumEngineVersion(t *testing.T) {
	for in, want := range map[string]string{
		"on ~* +@all":           "6.0",
		"on ~a -@all +@read":    "6.0",
		"on &chan":              "6.2",
		"on allchannels":        "6.2",
		"on resetchannels":      "6.2",
		"on (~a)":               "7.0",
		"on ()":                 "7.0",
		"on clearselectors":     "7.0",
		"on %R~a":               "7.0",
		"on %W~a":               "7.0",
		"on %RW~a":              "7.0",
		"on +config|get":        "7.0",
		"on -config|set":        "7.0",
		"on &chan +select|0":    "7.0",
		"on &chan (resetkeys)":  "7.0",
		"on %RW~k +get":         "7.0", // stored as "on ~k -@all +get"
		"on ~* +@all -@connect": "",    // invalid
	} {
		a, err := ParseAccessString(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseAccessString(%q) succeeded", in)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAccessString(%q): %v", in, err)
			continue
		}
		if got := a.MinimumEngineVersion(); got != want {
			t.Errorf("ParseAccessString(%q).MinimumEngineVersion() = %q, want %q", in, got, want)
		}
	}
	// The version counts the rules as written, not the normalised form.
	a, _ := ParseAccessString("on %RW~k +get")
	b, _ := ParseAccessString(a.String())
	if a.String() != "on ~k -@all +get" || b.MinimumEngineVersion() != "6.0" {
		t.Errorf("normalised %q has version %q", a.String(), b.MinimumEngineVersion())
	}
}

func TestAccessStringRulesNeverCarryPasswordsOrReset(t *testing.T) {
	for _, tc := range validAccessStrings {
		a, err := ParseAccessString(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		rules := a.Rules()
		if rules[0] != "on" && rules[0] != "off" {
			t.Errorf("%q: Rules() does not start with the flag: %q", tc.in, rules)
		}
		for _, r := range rules {
			for _, f := range strings.Fields(strings.Trim(r, "()")) {
				switch {
				case f == "reset", f == "nopass", f == "resetpass", strings.ContainsAny(f[:1], "><#!"):
					t.Errorf("%q: Rules() contains %q", tc.in, f)
				}
			}
		}
	}
}

func TestAccessStringAppend(t *testing.T) {
	for _, tc := range []struct {
		base, more, want, version string
	}{
		{"on ~* +@all", "-flushall", "on ~* +@all -flushall", "6.0"},
		{"on ~* +@all", "  -flushall   -flushdb ", "on ~* +@all -flushall -flushdb", "6.0"},
		{"~objects:* ~items:* ~public:*", "on +get", "on ~objects:* ~items:* ~public:* -@all +get", "6.0"},
		{"on ~* +@all", "off", "off ~* +@all", "6.0"},
		{"on ~keys* -@all +get", "-get", "on ~keys* -@all", "6.0"},
		{"on ~keys* -@all +get", "~more* +set", "on ~keys* ~more* -@all +get +set", "6.0"},
		{"on ~keys* -@all +get", "resetkeys ~other*", "on ~other* -@all +get", "6.0"},
		{"on ~* +@all", "&news", "on ~* &news +@all", "6.2"},
		{"on ~* &a +@all", "resetchannels", "on ~* resetchannels +@all", "6.2"},
		{"on ~* +@all", "(~b +get)", "on ~* +@all (~b -@all +get)", "7.0"},
		{"on ~* +@all (~b +get)", "clearselectors", "on ~* +@all", "7.0"},
		{"on %RW~k +get", "+set", "on ~k -@all +get +set", "7.0"},
		{"on ~a", "%R~a", "on ~a -@all", "7.0"},
		{"on ~a", "allkeys", "on ~* -@all", "6.0"},
	} {
		base, err := ParseAccessString(tc.base)
		if err != nil {
			t.Fatalf("ParseAccessString(%q): %v", tc.base, err)
		}
		before := base.String()
		got, err := base.Append(tc.more)
		if err != nil {
			t.Errorf("%q.Append(%q): %v", tc.base, tc.more, err)
			continue
		}
		if got.String() != tc.want || got.MinimumEngineVersion() != tc.version {
			t.Errorf("%q.Append(%q) = %q (%s), want %q (%s)", tc.base, tc.more, got.String(), got.MinimumEngineVersion(), tc.want, tc.version)
		}
		if base.String() != before {
			t.Errorf("%q.Append(%q) changed the receiver to %q", tc.base, tc.more, base.String())
		}
		// Appending to the stored (normalised) form gives the same string.
		stored, _ := ParseAccessString(before)
		if again, err := stored.Append(tc.more); err != nil || again.String() != tc.want {
			t.Errorf("%q.Append(%q) = %v, %v; want %q", before, tc.more, again, err, tc.want)
		}
	}

	base, _ := ParseAccessString("on ~* +@all")
	for more, want := range map[string]string{
		"":                         "at least one rule",
		"   ":                      "at least one rule",
		"nopass":                   "password",
		">another-secret-password": "password",
		"reset":                    `"reset" is not allowed`,
		"~a":                       "after ~* (or allkeys)",
		")":                        `unmatched ")"`,
		"(~a":                      `unmatched "("`,
		"+@nosuchcat":              "unknown ACL category",
		"bogus":                    "unknown rule",
	} {
		got, err := base.Append(more)
		if err == nil {
			t.Errorf("Append(%q) = %q, want an error", more, got.String())
			continue
		}
		checkAccessStringError(t, more, err, want)
	}
}

func FuzzParseAccessString(f *testing.F) {
	for _, tc := range validAccessStrings {
		f.Add(tc.in)
	}
	for _, tc := range invalidAccessStrings {
		f.Add(tc.in)
	}
	for _, in := range engineCorpus {
		f.Add(in)
	}
	f.Add("on ~a* %R~b* &c* +@read -@write +config|get (~d +set &e) (allkeys) clearselectors (~f)")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAccessString(s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("ParseAccessString(%q): error %v is not EINVALID", s, err)
			}
			return
		}
		norm := a.String()
		b, err := ParseAccessString(norm)
		if err != nil {
			t.Fatalf("ParseAccessString(%q) = %q, which does not parse: %v", s, norm, err)
		}
		if b.String() != norm {
			t.Fatalf("normalisation not idempotent: %q -> %q -> %q", s, norm, b.String())
		}
		if !reflect.DeepEqual(a.Rules(), b.Rules()) {
			t.Fatalf("Rules differ: %q -> %q, normalised %q -> %q", s, a.Rules(), norm, b.Rules())
		}
		if b.MinimumEngineVersion() > a.MinimumEngineVersion() {
			t.Fatalf("normalised %q needs %s, more than %q (%s)", norm, b.MinimumEngineVersion(), s, a.MinimumEngineVersion())
		}
		// The engine splits a selector with sdssplitargs, when it is set
		// and when its ACL file is loaded: it must read back exactly the
		// rules keyward sends and stores, so no quote, escape or early ")".
		for _, r := range append(a.Rules(), accessTokens(norm)...) {
			if !strings.HasPrefix(r, "(") || !strings.HasSuffix(r, ")") {
				continue
			}
			inner := r[1 : len(r)-1]
			if words, ok := splitArgs(inner); !ok || !reflect.DeepEqual(words, strings.Fields(inner)) && len(words)+len(strings.Fields(inner)) > 0 {
				t.Fatalf("%q: the engine would split the selector %q as %q (ok %v)", s, r, words, ok)
			}
			for _, w := range strings.Fields(inner) {
				if strings.HasSuffix(w, ")") {
					t.Fatalf("%q: the selector %q has %q, which closes it early in the ACL file", s, r, w)
				}
			}
		}
		if c, err := a.Append("off"); err != nil || !strings.HasPrefix(c.String(), "off") {
			t.Fatalf("%q.Append(\"off\") = %v, %v", s, c, err)
		}
	})
}

// TestAccessStringOnRedis applies every valid table entry to a real
// redis-server (skipped when none is on PATH unless
// KEYWARD_REQUIRE_INTEGRATION=1) and checks that:
//   - ACL SETUSER u reset nopass <Rules()...> is accepted, with the same
//     result whatever the engine's acl-pubsub-default is;
//   - the caller's text and String() give the same user on the engine
//     (normalisation keeps the permissions);
//   - on an engine configured like ElastiCache (acl-pubsub-default
//     allchannels), String() gives the same user as Rules();
//   - ACL GETUSER shows the flag, key patterns and channels Rules() asked for.
func TestAccessStringOnRedis(t *testing.T) {
	c := startRedis(t)
	setPubsubDefault := func(v string) {
		t.Helper()
		if r, err := c.do("CONFIG", "SET", "acl-pubsub-default", v); err != nil || r != "OK" {
			t.Fatalf("CONFIG SET acl-pubsub-default %s: %v %v", v, r, err)
		}
	}
	setUser := func(name string, rules []string) error { return redisSetUser(t, c, name, rules) }
	describe := func(name string) string { return redisDescribe(t, c, name) }

	for _, tc := range validAccessStrings {
		if tc.noEngine != "" {
			continue
		}
		a, err := ParseAccessString(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		rules := a.Rules()

		setPubsubDefault("resetchannels")
		if err := setUser("kw_rules", rules); err != nil {
			t.Errorf("%q: ACL SETUSER kw_rules reset nopass %q: %v", tc.in, rules, err)
			continue
		}
		want := describe("kw_rules")
		checkGetUser(t, c, tc.in, a)

		err = setUser("kw_raw", accessTokens(tc.in))
		switch {
		case tc.rawRejected && err == nil:
			t.Errorf("%q: the engine accepted the caller's text; drop rawRejected", tc.in)
		case !tc.rawRejected && err != nil:
			t.Errorf("%q: the engine refused the caller's text: %v", tc.in, err)
		}
		if err := setUser("kw_norm", accessTokens(a.String())); err != nil {
			t.Errorf("%q: the engine refused the normalised %q: %v", tc.in, a.String(), err)
		} else if !tc.rawRejected {
			if raw, norm := dropPatternsBesideAllKeys(describe("kw_raw")), describe("kw_norm"); raw != norm {
				t.Errorf("%q: normalisation to %q changed the user on the engine: %q vs %q", tc.in, a.String(), raw, norm)
			}
		}

		setPubsubDefault("allchannels")
		if err := setUser("kw_rules", rules); err != nil {
			t.Errorf("%q: with acl-pubsub-default allchannels, ACL SETUSER kw_rules %q: %v", tc.in, rules, err)
		} else if got := describe("kw_rules"); got != want {
			t.Errorf("%q: Rules() depend on acl-pubsub-default: %q vs %q", tc.in, got, want)
		}
		if !hasChannelPatterns(a) {
			// Like ElastiCache: the stored string on an allchannels engine.
			if err := setUser("kw_norm", accessTokens(a.String())); err != nil {
				t.Errorf("%q: with acl-pubsub-default allchannels the engine refused %q: %v", tc.in, a.String(), err)
			} else if got := describe("kw_norm"); got != want {
				t.Errorf("%q: %q on an allchannels engine gives %q, Rules() give %q", tc.in, a.String(), got, want)
			}
		}
	}
	setPubsubDefault("resetchannels")
}

// TestAccessStringRandomOnRedis compares keyward with the engine on random
// combinations of rules: whatever both accept must give the same user from
// the caller's text and from String(), and Rules() must be accepted.
// keyward is stricter than the engine in places (see accessstring.go), so
// only "keyward accepts, the engine refuses" is an error.

func TestAccessStringRandomOnRedis(t *testing.T) {
	c := startRedis(t)
	vocabulary := strings.Fields(`on off ~a ~b ~* %R~a %W~b %RW~c %r~d %R~* %W~* allkeys resetkeys
		&x &y &* allchannels resetchannels +get -get +set -set +@read -@read +@write -@write
		+@all -@all allcommands nocommands +config -config +config|get -config|get +select|0
		+@dangerous -flushall clearselectors (~s) (%R~t) (&z) () (+get) (-@all) (+@all)`)
	vocabulary = append(vocabulary, "(~s +get)", "(%R~t &z -@all +@read)", "(allkeys -config|set +@all)")
	rng := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for i := 0; i < 2000; i++ {
		tokens := make([]string, 1+rng.IntN(10))
		for j := range tokens {
			tokens[j] = vocabulary[rng.IntN(len(vocabulary))]
		}
		in := strings.Join(tokens, " ")
		a, err := ParseAccessString(in)
		rawErr := redisSetUser(t, c, "kw_raw", tokens)
		if err != nil {
			continue
		}
		if rawErr != nil {
			t.Errorf("%q: accepted as %q but the engine refuses it: %v", in, a.String(), rawErr)
			continue
		}
		accepted++
		if err := redisSetUser(t, c, "kw_norm", accessTokens(a.String())); err != nil {
			t.Errorf("%q: the engine refuses the normalised %q: %v", in, a.String(), err)
			continue
		}
		// keyward folds "%R~* %W~*" into "~*" and drops the other patterns,
		// which then grant nothing more; the engine keeps them.
		if raw, norm := dropPatternsBesideAllKeys(redisDescribe(t, c, "kw_raw")), redisDescribe(t, c, "kw_norm"); raw != norm {
			t.Errorf("%q: normalisation to %q changed the user on the engine: %q vs %q", in, a.String(), raw, norm)
		}
		if err := redisSetUser(t, c, "kw_rules", a.Rules()); err != nil {
			t.Errorf("%q: the engine refuses Rules() %q: %v", in, a.Rules(), err)
		}
	}
	t.Logf("%d of 2000 random access strings accepted", accepted)
	if accepted < 200 {
		t.Errorf("only %d random access strings were accepted; the test checks little", accepted)
	}
}

// dropPatternsBesideAllKeys removes, from the root and from each selector of
// an ACL LIST description, the key patterns that accompany "~*".
func dropPatternsBesideAllKeys(desc string) string {
	desc = strings.NewReplacer("(", "( ", ")", " )").Replace(desc)
	var out, segment []string
	flush := func() {
		all := false
		for _, f := range segment {
			all = all || f == "~*"
		}
		for _, f := range segment {
			if all && f != "~*" && (strings.HasPrefix(f, "~") || strings.HasPrefix(f, "%")) {
				continue
			}
			out = append(out, f)
		}
		segment = nil
	}
	for _, f := range strings.Fields(desc) {
		if f == "(" || f == ")" {
			flush()
			out = append(out, f)
			continue
		}
		segment = append(segment, f)
	}
	flush()
	return strings.NewReplacer("( ", "(", " )", ")").Replace(strings.Join(out, " "))
}

// redisSetUser runs ACL SETUSER name reset nopass rules... and returns the
// engine's error reply, if any.
func redisSetUser(t *testing.T, c *respConn, name string, rules []string) error {
	t.Helper()
	args := append([]string{"ACL", "SETUSER", name, "reset", "nopass"}, rules...)
	r, err := c.do(args...)
	if err != nil {
		t.Fatalf("ACL SETUSER: %v", err)
	}
	if e, ok := r.(respError); ok {
		return e
	}
	return nil
}

// redisDescribe returns the ACL LIST line of user name without the
// "user <name>" prefix, nopass and sanitize-payload.
func redisDescribe(t *testing.T, c *respConn, name string) string {
	t.Helper()
	r, err := c.do("ACL", "LIST")
	if err != nil {
		t.Fatalf("ACL LIST: %v", err)
	}
	lines, _ := r.([]any)
	for _, l := range lines {
		s, _ := l.(string)
		if rest, ok := strings.CutPrefix(s, "user "+name+" "); ok {
			var out []string
			for _, f := range strings.Fields(rest) {
				if f != "nopass" && f != "sanitize-payload" {
					out = append(out, f)
				}
			}
			return strings.Join(out, " ")
		}
	}
	t.Fatalf("user %s not in ACL LIST %q", name, lines)
	return ""
}

// hasChannelPatterns reports whether String() of a holds "&pattern" rules
// that an engine with acl-pubsub-default allchannels would refuse after reset.
func hasChannelPatterns(a *AccessString) bool {
	if len(a.root.channels) > 0 {
		return true
	}
	for _, s := range a.selectors {
		if len(s.channels) > 0 {
			return true
		}
	}
	return false
}

// checkGetUser compares ACL GETUSER kw_rules with what Rules() asked for.
func checkGetUser(t *testing.T, c *respConn, in string, a *AccessString) {
	t.Helper()
	r, err := c.do("ACL", "GETUSER", "kw_rules")
	if err != nil {
		t.Fatalf("ACL GETUSER: %v", err)
	}
	fields := respMap(r)
	flags, _ := fields["flags"].([]any)
	if !containsAny(flags, a.flag()) {
		t.Errorf("%q: ACL GETUSER flags %q, want %q", in, flags, a.flag())
	}
	if got, want := fields["keys"], strings.Join(a.root.appendKeys(nil), " "); got != want {
		t.Errorf("%q: ACL GETUSER keys %q, want %q", in, got, want)
	}
	wantChannels := "&*"
	if a.root.channelsUsed && !a.root.allChannels {
		wantChannels = strings.Join(a.root.appendChannels(nil), " ")
	}
	if got := fields["channels"]; got != wantChannels {
		t.Errorf("%q: ACL GETUSER channels %q, want %q", in, got, wantChannels)
	}
	if got, _ := fields["commands"].(string); !strings.HasPrefix(got, a.root.appendCommands(nil)[0]) {
		t.Errorf("%q: ACL GETUSER commands %q, want them to start with %q", in, got, a.root.appendCommands(nil)[0])
	}
	sels, _ := fields["selectors"].([]any)
	if len(sels) != len(a.selectors) {
		t.Errorf("%q: ACL GETUSER has %d selectors, want %d", in, len(sels), len(a.selectors))
		return
	}
	for i, s := range sels {
		sf := respMap(s)
		if got, want := sf["keys"], strings.Join(a.selectors[i].appendKeys(nil), " "); got != want {
			t.Errorf("%q: ACL GETUSER selector %d keys %q, want %q", in, i, got, want)
		}
	}
}

func respMap(r any) map[string]any {
	m := map[string]any{}
	arr, _ := r.([]any)
	for i := 0; i+1 < len(arr); i += 2 {
		if k, ok := arr[i].(string); ok {
			m[k] = arr[i+1]
		}
	}
	return m
}

func containsAny(list []any, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// startRedis starts a throw-away redis-server on a free port and returns a
// connection to it; the server is killed when the test ends.
func startRedis(t *testing.T, extra ...string) *respConn {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("KEYWARD_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("redis-server not found and KEYWARD_REQUIRE_INTEGRATION=1: %v", err)
		}
		t.Skip("redis-server not on PATH; set KEYWARD_REQUIRE_INTEGRATION=1 to make this an error")
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c, err := tryStartRedis(t, path, extra...)
		if err == nil {
			return c
		}
		lastErr = err
	}
	t.Fatalf("starting redis-server: %v", lastErr)
	return nil
}

func tryStartRedis(t *testing.T, path string, extra ...string) (*respConn, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	out := &lockedWriter{}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir()}, extra...)
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Kill()
		<-done
	}

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return nil, fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c := &respConn{conn: conn, r: bufio.NewReader(conn)}
			if r, err := c.do("PING"); err == nil && r == "PONG" {
				t.Cleanup(func() { conn.Close(); stop() })
				return c, nil
			}
			conn.Close()
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("redis-server on port %d not answering: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedWriter collects the server's output; exec copies into it from a
// goroutine of its own.
type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// respConn is a minimal RESP2 client, enough for ACL and CONFIG commands.
type respConn struct {
	conn net.Conn
	r    *bufio.Reader
}

// respError is an error reply ("-ERR ...").
type respError string

func (e respError) Error() string { return string(e) }

func (c *respConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c.conn, b.String()); err != nil {
		return nil, err
	}
	return c.read()
}

func (c *respConn) read() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("empty RESP line")
	}
	switch body := line[1:]; line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = c.read(); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unexpected RESP line %q", line)
}
