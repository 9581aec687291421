package front

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"keyward/iamauth"
	"keyward/sigv4"
)

// chunks reads b in pieces of random sizes, as TLS records arrive.
type chunks struct {
	b   []byte
	rnd *rand.Rand
	max int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.rnd.IntN(c.max))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

func arr(args ...string) string {
	s := "*" + strconv.Itoa(len(args)) + "\r\n"
	for _, a := range args {
		s += "$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n"
	}
	return s
}

// TestRelayStream: whatever the read sizes, the relay forwards every byte
// as sent except verified tokens, which become the user's secret, in AUTH
// and HELLO, as arrays or inline, between big values and odd commands.
func TestRelayStream(t *testing.T) {
	res := iamauth.Resource{Name: "orders", AccountID: "123456789012", Region: "us-east-1"}
	key := []byte("0123456789abcdef0123456789abcdef")
	s := &Server{Resource: res, Key: key, CacheID: "c", Verifier: &iamauth.Verifier{SigV4: sigv4.NewVerifier([]sigv4.Credential{
		{AccessKeyID: "AKIAKEYWARDRELAY0001", SecretAccessKey: "secret", AccountID: res.AccountID}})}}
	tok, err := iamauth.Presign(context.Background(), aws.Credentials{AccessKeyID: "AKIAKEYWARDRELAY0001", SecretAccessKey: "secret"}, res, "alice", 15*time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	secret := Secret(key, "c", "alice")
	big := strings.Repeat("v", 40*7919)
	var in, want strings.Builder
	add := func(sent, forwarded string) { in.WriteString(sent); want.WriteString(forwarded) }
	same := func(sent string) { add(sent, sent) }
	for i := range 40 {
		same(arr("SET", "k"+strconv.Itoa(i), big[:i*7919]))
		same(arr("GET", "k"))
		same(arr("AUTH", "bob", "plain-password"))
		add(arr("AUTH", "alice", tok), arr("AUTH", "alice", secret))
		add(arr("hello", "3", "SETNAME", "x", "AUTH", "alice", tok), arr("hello", "3", "SETNAME", "x", "AUTH", "alice", secret))
		add("AUTH alice "+tok+"\r\n", arr("AUTH", "alice", secret))
		same("PING\r\n")
		same("\r\n")
		same("*0\r\n")
		same("*-1\r\n")
		same(arr("AUTHX", "alice", tok))
		same(arr("AUTH", "alice", tok+"x")) // refused: relayed as sent
		same(arr("AUTH", "alice", strings.Repeat("t", maxAuthArg+1)))
	}
	for seed := range uint64(20) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		var out bytes.Buffer
		r := newRelay(s, &chunks{b: []byte(in.String()), rnd: rnd, max: []int{7, 300, 70000}[seed%3]}, &out, func() {})
		if err := r.run(); err != io.EOF {
			t.Fatalf("seed %d: %v", seed, err)
		}
		if out.String() != want.String() {
			a, b := out.String(), want.String()
			i := 0
			for i < len(a) && i < len(b) && a[i] == b[i] {
				i++
			}
			t.Fatalf("seed %d: output differs at byte %d of %d/%d: got %.80q, want %.80q", seed, i, len(a), len(b), a[i:], b[i:])
		}
	}
	// Malformed input is passed as it is: the node refuses it and closes.
	var out bytes.Buffer
	bad := arr("GET", "k") + "*2\r\nx3\r\nGET\r\n" + arr("AUTH", "alice", tok)
	if err := newRelay(s, strings.NewReader(bad), &out, func() {}).run(); err != io.EOF || out.String() != bad {
		t.Fatalf("malformed input: %v, %q", err, out.String())
	}
}

// BenchmarkRelay is the relay's own cost per unpipelined GET (one command
// per read, one write per command), to a writer that discards.
func BenchmarkRelay(b *testing.B) {
	cmd := []byte(arr("GET", "key:000000012345"))
	src := &repeat{b: cmd, n: b.N}
	r := newRelay(&Server{}, src, io.Discard, func() {})
	b.ReportAllocs()
	b.ResetTimer()
	r.run()
}

type repeat struct {
	b []byte
	n int
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	r.n--
	return copy(p, r.b), nil
}
