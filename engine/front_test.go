package engine_test

import (
	"net"
	"strconv"
	"syscall"
	"testing"

	"keyward/engine"
)

// TestAnnouncePortAndMovePort: a Cluster node announces AnnouncePort
// (from its start, and live when it changes, and again after a restart),
// and MovePort moves a node to a new port without a restart: the old port
// is free for a front, the node's open connections stay.
func TestAnnouncePortAndMovePort(t *testing.T) {
	dir := t.TempDir()
	restarted, onRestart := restartRecorder()
	m := newManager(t, dir, onRestart)
	tlsConf := m.TLSConfig()
	spec := engine.NodeSpec{ID: "000000000000.us-east-1.ann-0001-001", Engine: "redis", TLS: true, Cluster: true, AnnouncePort: 41001}
	n := ensure(t, m, spec)
	if n.Socket == "" || n.ConfFile == "" {
		t.Fatalf("node has no socket or configuration file: %+v", n)
	}
	admin := adminClient(t, dir, n, tlsConf)
	announced := func() string {
		t.Helper()
		v, err := admin.ConfigGet(t.Context(), "cluster-announce-tls-port").Result()
		if err != nil {
			t.Fatal(err)
		}
		return v["cluster-announce-tls-port"]
	}
	if got := announced(); got != "41001" {
		t.Fatalf("cluster-announce-tls-port = %q, want 41001", got)
	}
	spec.AnnouncePort = 41002
	ensure(t, m, spec)
	if got := announced(); got != "41002" {
		t.Fatalf("after a change: cluster-announce-tls-port = %q, want 41002", got)
	}
	if err := admin.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}

	old := n.Port
	port, err := m.MovePort(t.Context(), spec.ID)
	if err != nil {
		t.Fatal(err)
	}
	if port == old {
		t.Fatalf("MovePort kept port %d", port)
	}
	if err := admin.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("a connection to the old port did not survive the move: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(old))
	if err != nil {
		t.Fatalf("old port %d not free after the move: %v", old, err)
	}
	l.Close()
	moved, _ := m.Node(spec.ID)
	if moved.Port != port {
		t.Fatalf("Node reports port %d, want %d", moved.Port, port)
	}
	if err := adminClient(t, dir, moved, tlsConf).Ping(t.Context()).Err(); err != nil {
		t.Fatalf("new port: %v", err)
	}
	if _, err := m.Do(t.Context(), spec.ID, "PING"); err != nil {
		t.Fatalf("admin channel after the move: %v", err)
	}
	// MovePortTo takes the old port back (a front that stopped had it).
	if err := m.MovePortTo(t.Context(), spec.ID, old); err != nil {
		t.Fatal(err)
	}
	back, _ := m.Node(spec.ID)
	if back.Port != old {
		t.Fatalf("after MovePortTo: port %d, want %d", back.Port, old)
	}
	if err := adminClient(t, dir, back, tlsConf).Ping(t.Context()).Err(); err != nil {
		t.Fatalf("port taken back: %v", err)
	}
	if port, err = m.MovePort(t.Context(), spec.ID); err != nil {
		t.Fatal(err)
	}
	moved, _ = m.Node(spec.ID)
	// A restart keeps both: the new port, the announced one.
	if err := syscall.Kill(moved.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitRestart(t, restarted, spec.ID)
	after, _ := m.Node(spec.ID)
	if after.Port != port {
		t.Fatalf("restarted on port %d, want %d", after.Port, port)
	}
	admin = adminClient(t, dir, after, tlsConf)
	if got := announced(); got != "41002" {
		t.Fatalf("after a restart: cluster-announce-tls-port = %q, want 41002", got)
	}
}
