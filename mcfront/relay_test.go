package mcfront_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"keyward/internal/redistest"
	"keyward/mcfront"
)

// startMemcached runs a real memcached on a free loopback port.
func startMemcached(tb testing.TB) string {
	tb.Helper()
	bin := redistest.Memcached(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			tb.Fatalf("memcached on %s did not start", addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// startFront serves a front for backend with the discovery file in dir.
func startFront(tb testing.TB, backend string, d mcfront.Discovery) (addr, file string) {
	tb.Helper()
	file = filepath.Join(tb.TempDir(), "cluster.json")
	if err := mcfront.WriteDiscovery(file, d); err != nil {
		tb.Fatal(err)
	}
	srv, err := mcfront.NewServer(mcfront.Config{Listen: []string{"127.0.0.1:0"}, Backend: backend, DiscoveryFile: file}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mcfront.Serve(ctx, srv, []net.Listener{l}) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String(), file
}

var twoNodes = mcfront.Discovery{Version: 3, Nodes: []mcfront.Endpoint{
	{Host: "127.10.0.5", IP: "127.10.0.5", Port: 11211},
	{Host: "127.10.0.6", IP: "127.10.0.6", Port: 11211},
}}

const twoNodesBody = "3\n127.10.0.5|127.10.0.5|11211 127.10.0.6|127.10.0.6|11211\n"

func configAnswer(header, body string) string {
	return fmt.Sprintf("%s 0 %d\r\n%s\r\nEND\r\n", header, len(body), body)
}

// exchange writes req (in pieces of size step, 0: at once) and reads until
// the answer has want's length.
func exchange(t *testing.T, addr, req string, step int, wantLen int) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		b := []byte(req)
		for len(b) > 0 {
			n := len(b)
			if step > 0 {
				n = min(step, len(b))
			}
			if _, err := c.Write(b[:n]); err != nil {
				return
			}
			b = b[n:]
			if step > 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	got := make([]byte, wantLen)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", wantLen, err, got)
	}
	// Nothing more: a barrier's reply must not leak.
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if extra, _ := io.ReadAll(c); len(extra) > 0 {
		t.Fatalf("unexpected bytes after the answer: %q", extra)
	}
	return string(got)
}

func TestText_ConfigGetCluster(t *testing.T) {
	addr, _ := startFront(t, startMemcached(t), twoNodes)
	cfg := configAnswer("CONFIG cluster", twoNodesBody)
	legacy := configAnswer("VALUE AmazonElastiCache:cluster", twoNodesBody)
	// A value that reads like the command is data, not a command.
	trap := "config get cluster\r\n"
	cases := []struct {
		name, req, want string
	}{
		{"first command", "config get cluster\r\n", cfg},
		{"legacy form", "get AmazonElastiCache:cluster\r\n", legacy},
		{"bare newline", "config get cluster\n", cfg},
		{"pipelined behind replies", "set a 0 0 1\r\nx\r\nget a\r\nconfig get cluster\r\nget a\r\n",
			"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n" + cfg + "VALUE a 0 1\r\nx\r\nEND\r\n"},
		{"behind noreply", "set b 0 0 1 noreply\r\ny\r\nconfig get cluster\r\nget b\r\n", cfg + "VALUE b 0 1\r\ny\r\nEND\r\n"},
		{"value looks like the command", fmt.Sprintf("set t 0 0 %d\r\n%s\r\nget t\r\n", len(trap), trap),
			fmt.Sprintf("STORED\r\nVALUE t 0 %d\r\n%s\r\nEND\r\n", len(trap), trap)},
		{"meta set value", fmt.Sprintf("ms m %d\r\n%s\r\nmg m v\r\n", len(trap), trap),
			fmt.Sprintf("HD\r\nVA %d\r\n%s\r\n", len(trap), trap)},
		{"twice", "config get cluster\r\nversion\r\nconfig get cluster\r\n", cfg + "VERSION 1.6.18\r\n" + cfg},
		{"other config is memcached's", "config get other\r\n", "ERROR\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{0, 1, 7} {
				if got := exchange(t, addr, tc.req, step, len(tc.want)); got != tc.want {
					t.Fatalf("step %d:\n got %q\nwant %q", step, got, tc.want)
				}
			}
		})
	}
}

func TestText_DiscoveryFollowsFile(t *testing.T) {
	addr, file := startFront(t, startMemcached(t), twoNodes)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	ask := func() (int64, []string) {
		t.Helper()
		fmt.Fprintf(c, "config get cluster\r\n")
		head, _ := r.ReadString('\n')
		var n int
		if _, err := fmt.Sscanf(head, "CONFIG cluster 0 %d\r\n", &n); err != nil {
			t.Fatalf("header %q: %v", head, err)
		}
		body := make([]byte, n+len("\r\nEND\r\n"))
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(body[:n]), "\n")
		v, _ := strconv.ParseInt(lines[0], 10, 64)
		return v, strings.Fields(lines[1])
	}
	if v, nodes := ask(); v != 3 || len(nodes) != 2 {
		t.Fatalf("version %d nodes %v", v, nodes)
	}
	next := mcfront.Discovery{Version: 4, Nodes: twoNodes.Nodes[:1]}
	if err := mcfront.WriteDiscovery(file, next); err != nil {
		t.Fatal(err)
	}
	if v, nodes := ask(); v != 4 || len(nodes) != 1 || nodes[0] != "127.10.0.5|127.10.0.5|11211" {
		t.Fatalf("after the change: version %d nodes %v", v, nodes)
	}
}

func binHeader(magic, op byte, key, extras, value []byte, opaque uint32) []byte {
	h := make([]byte, 24, 24+len(extras)+len(key)+len(value))
	h[0], h[1] = magic, op
	binary.BigEndian.PutUint16(h[2:4], uint16(len(key)))
	h[4] = byte(len(extras))
	binary.BigEndian.PutUint32(h[8:12], uint32(len(extras)+len(key)+len(value)))
	binary.BigEndian.PutUint32(h[12:16], opaque)
	h = append(h, extras...)
	h = append(h, key...)
	return append(h, value...)
}

type binReply struct {
	op     byte
	status uint16
	opaque uint32
	extras []byte
	value  []byte
}

func readBin(t *testing.T, r io.Reader) binReply {
	t.Helper()
	h := make([]byte, 24)
	if _, err := io.ReadFull(r, h); err != nil {
		t.Fatal(err)
	}
	if h[0] != 0x81 {
		t.Fatalf("magic %#x", h[0])
	}
	body := make([]byte, binary.BigEndian.Uint32(h[8:12]))
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	ext, key := int(h[4]), int(binary.BigEndian.Uint16(h[2:4]))
	return binReply{op: h[1], status: binary.BigEndian.Uint16(h[6:8]), opaque: binary.BigEndian.Uint32(h[12:16]),
		extras: body[:ext], value: body[ext+key:]}
}

func TestBinary_ConfigGetCluster(t *testing.T) {
	addr, _ := startFront(t, startMemcached(t), twoNodes)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// A set whose value holds a config-get frame, a quiet set (no reply),
	// the config get, a get: replies in order, no NOOP leaking.
	trap := binHeader(0x80, 0x60, []byte("cluster"), nil, nil, 9)
	var req []byte
	req = append(req, binHeader(0x80, 0x01, []byte("k"), make([]byte, 8), trap, 1)...)        // set
	req = append(req, binHeader(0x80, 0x11, []byte("q"), make([]byte, 8), []byte("v"), 2)...) // setq
	req = append(req, binHeader(0x80, 0x60, []byte("cluster"), nil, nil, 3)...)
	req = append(req, binHeader(0x80, 0x00, []byte("k"), nil, nil, 4)...) // get
	for _, b := range req {
		if _, err := c.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	if r := readBin(t, c); r.op != 0x01 || r.status != 0 || r.opaque != 1 {
		t.Fatalf("set: %+v", r)
	}
	if r := readBin(t, c); r.op != 0x60 || r.status != 0 || r.opaque != 3 || len(r.extras) != 4 || string(r.value) != twoNodesBody {
		t.Fatalf("config get: %+v", r)
	}
	if r := readBin(t, c); r.op != 0x00 || r.opaque != 4 || !bytes.Equal(r.value, trap) {
		t.Fatalf("get: %+v", r)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if extra, _ := io.ReadAll(c); len(extra) > 0 {
		t.Fatalf("unexpected bytes: %x", extra)
	}
}

func TestClient_Gomemcache(t *testing.T) {
	addr, _ := startFront(t, startMemcached(t), twoNodes)
	c := memcache.New(addr)
	big := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB: many reads
	for i := range 50 {
		k := fmt.Sprintf("k%d", i)
		v := []byte(k)
		if i == 7 {
			v = big[:1000*1000-100]
		}
		if err := c.Set(&memcache.Item{Key: k, Value: v}); err != nil {
			t.Fatal(err)
		}
		it, err := c.Get(k)
		if err != nil || !bytes.Equal(it.Value, v) {
			t.Fatalf("get %s: %v", k, err)
		}
	}
	m, err := c.GetMulti([]string{"k1", "k2", "k3"})
	if err != nil || len(m) != 3 {
		t.Fatalf("GetMulti: %v %v", m, err)
	}
}

// TestEndpoint_RelaysToFirstLiveNode: a configuration endpoint (no Backend
// of its own) relays to the first listed node that accepts, skipping a
// node whose memcached is down.
func TestEndpoint_RelaysToFirstLiveNode(t *testing.T) {
	live := startMemcached(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close()
	file := filepath.Join(t.TempDir(), "cluster.json")
	d := mcfront.Discovery{Version: 2, Nodes: []mcfront.Endpoint{
		{Host: "127.0.0.1", IP: "127.0.0.1", Port: 1, Backend: dead},
		{Host: "127.0.0.1", IP: "127.0.0.1", Port: 2, Backend: live},
	}}
	if err := mcfront.WriteDiscovery(file, d); err != nil {
		t.Fatal(err)
	}
	srv, err := mcfront.NewServer(mcfront.Config{Listen: []string{"127.0.0.1:0"}, DiscoveryFile: file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	el, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(el)
	t.Cleanup(func() { srv.Close() })
	c := memcache.New(el.Addr().String())
	if err := c.Set(&memcache.Item{Key: "k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if it, err := memcache.New(live).Get("k"); err != nil || string(it.Value) != "v" {
		t.Fatalf("not relayed to the live node: %v", err)
	}
	body := "2\n127.0.0.1|127.0.0.1|1 127.0.0.1|127.0.0.1|2\n"
	want := configAnswer("CONFIG cluster", body)
	if got := exchange(t, el.Addr().String(), "config get cluster\r\n", 0, len(want)); got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}
