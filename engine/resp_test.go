package engine

import (
	"bufio"
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// readRaw must take exactly one reply, whatever its shape, so that the
// bytes it returns parse to what readReply reads and the next reply
// starts where it stopped.
func TestReadRaw_OneWholeReply(t *testing.T) {
	replies := []string{
		"+OK\r\n", "-ERR no\r\n", ":42\r\n", "$-1\r\n", "$0\r\n\r\n", "$5\r\nab\r\nc\r\n",
		"*-1\r\n", "*0\r\n", "*3\r\n$4\r\nuser\r\n*2\r\n:1\r\n$-1\r\n+x\r\n",
		"*2\r\n$" + "4096\r\n" + strings.Repeat("y", 4096) + "\r\n$1\r\nz\r\n",
	}
	stream := strings.Join(replies, "") + "+END\r\n"
	br := bufio.NewReader(strings.NewReader(stream))
	var buf []byte
	for _, want := range replies {
		var err error
		if buf, err = readRaw(br, buf[:0]); err != nil {
			t.Fatalf("readRaw %q: %v", want, err)
		}
		if string(buf) != want {
			t.Fatalf("readRaw = %q, want %q", buf, want)
		}
		got, err := readReply(bufio.NewReader(bytes.NewReader(buf)))
		exp, _ := readReply(bufio.NewReader(strings.NewReader(want)))
		if err != nil || !reflect.DeepEqual(got, exp) {
			t.Fatalf("raw bytes parse to %#v, %v; want %#v", got, err, exp)
		}
	}
	if next, err := readReply(br); next != "END" || err != nil {
		t.Fatalf("after the replies: %#v, %v", next, err)
	}
	for _, bad := range []string{"$x\r\n", "*-5\r\n", "?1\r\n", "$3\r\nab"} {
		if _, err := readRaw(bufio.NewReader(strings.NewReader(bad)), nil); err == nil {
			t.Errorf("readRaw(%q): no error", bad)
		}
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"000000000000.us-east-1.rg1-001": true, "a": true, "A_b-c.9": true, strings.Repeat("x", 200): true,
		"": false, strings.Repeat("x", 201): false, ".a": false, "-a": false, "_a": false, "a/b": false,
		"a b": false, "é": false, "a\x00": false,
	} {
		if got := validID(id); got != want {
			t.Errorf("validID(%q) = %v, want %v", id, got, want)
		}
	}
}

// TestReplyEqual: replyEqual agrees with reflect.DeepEqual on every pair
// of replies of the shapes readReply returns.
func TestReplyEqual(t *testing.T) {
	replies := []any{
		nil, "", "on", "off", int64(0), int64(1), respError("ERR x"), respError("on"),
		[]any{}, []any(nil), []any{"on"}, []any{"on", "off"}, []any{"off", "on"}, []any{nil}, []any{[]any{}},
		[]any{"flags", []any{"on", "allkeys"}, "passwords", []any{"abc"}, "commands", "+@all"},
		[]any{"flags", []any{"on", "allkeys"}, "passwords", []any{"abd"}, "commands", "+@all"},
		[]any{"flags", []any{"on", "allkeys"}, "passwords", []any{}, "commands", "+@all"},
		[]any{"flags", []any{"on", "allkeys"}, "passwords", []any(nil), "commands", "+@all"},
		[]any{int64(1), "1"}, []any{"1", int64(1)}, []any{respError("x")}, []any{"x"},
		refusedRules("ERR x"), []string{"on"},
	}
	for _, a := range replies {
		for _, b := range replies {
			if got, want := replyEqual(a, b), reflect.DeepEqual(a, b); got != want {
				t.Errorf("replyEqual(%#v, %#v) = %v, want %v", a, b, got, want)
			}
		}
	}
}

// getUserReply is an ACL GETUSER reply as Redis 7.0 gives it.
func getUserReply() any {
	return []any{
		"flags", []any{"on", "sanitize-payload"},
		"passwords", []any{"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"},
		"commands", "+@all -flushall -flushdb", "keys", "~*", "channels", "&*", "selectors", []any{},
	}
}

func BenchmarkReplyEqual(b *testing.B) {
	x, y := getUserReply(), getUserReply()
	b.Run("replyEqual", func(b *testing.B) {
		for b.Loop() {
			if !replyEqual(x, y) {
				b.Fatal("unequal")
			}
		}
	})
	b.Run("reflect.DeepEqual", func(b *testing.B) {
		for b.Loop() {
			if !reflect.DeepEqual(x, y) {
				b.Fatal("unequal")
			}
		}
	})
}
