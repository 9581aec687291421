package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// --pprof serves the profiles on a loopback address only.
func TestServePprof(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "localhost", "10.0.0.1:6060"} {
		if err := servePprof(ctx, bad); err == nil {
			t.Errorf("--pprof %q accepted", bad)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := servePprof(ctx, addr); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "HeapInuse") {
		t.Errorf("heap profile: %s %.200q", resp.Status, body)
	}
}
